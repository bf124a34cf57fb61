//! `hierarchy`: a Weir source that walks a three-level tree the way a source
//! walks an API such as OpenChoreo's: organisations, then the projects of each
//! organisation, then the components of each project. Organisations become
//! `Group`s, projects `System`s and components `Component`s.
//!
//! The tree is generated from config: `organizations` (3),
//! `projects-per-organization` (4), `components-per-project` (25); each page is
//! one "list" call of at most `page-size` (50) items.

mod tree;

use tree::{Cursor, Tree};
use weir_guest::{Error, Page, Source, config};

struct Hierarchy;

impl Source for Hierarchy {
    type Context = Tree;
    type Cursor = Cursor;

    fn provider_name() -> String {
        "hierarchy".into()
    }

    fn open() -> Result<Tree, Error> {
        tree_from_config()
    }

    fn next(tree: &mut Tree, cursor: Option<Cursor>) -> Result<Page<Cursor>, Error> {
        Ok(tree.page(cursor))
    }
}

weir_guest::export_source!(Hierarchy);

/// The tree as the operator configured it, defaults for the rest.
fn tree_from_config() -> Result<Tree, Error> {
    let defaults = Tree::default();
    let tree = Tree {
        organizations: config::get_or("organizations", defaults.organizations)?,
        projects: config::get_or("projects-per-organization", defaults.projects)?,
        components: config::get_or("components-per-project", defaults.components)?,
        page_size: config::get_or("page-size", defaults.page_size)?,
    };
    if tree.page_size == 0 {
        return Err(Error::fatal(
            "config `page-size`: cannot use \"0\": must be at least 1",
        ));
    }
    Ok(tree)
}
