//! The pure part of the source: the generated tree and the walk over it.
//!
//! The walk has three phases: every organisation, then the projects of each
//! organisation, then the components of each project. Each page is one "list"
//! call (the organisations, one organisation's projects, or one project's
//! components) from an offset, so the cursor says which list and where in it.

use serde::{Deserialize, Serialize};
use serde_json::json;
use weir_guest::{Entity, Page};

const LOCATION: &str = "url:https://hierarchy.example.com";

/// The shape of the generated tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tree {
    pub organizations: u32,
    /// Projects in each organisation.
    pub projects: u32,
    /// Components in each project.
    pub components: u32,
    /// Items per list call, at least 1.
    pub page_size: u32,
}

impl Default for Tree {
    fn default() -> Self {
        Tree {
            organizations: 3,
            projects: 4,
            components: 25,
            page_size: 50,
        }
    }
}

/// Where the next page starts: a list and an offset into it. Indexes are
/// 0-based; names are 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "kebab-case")]
pub enum Cursor {
    Organizations { offset: u32 },
    Projects { org: u32, offset: u32 },
    Components { org: u32, project: u32, offset: u32 },
}

impl Cursor {
    const START: Cursor = Cursor::Organizations { offset: 0 };

    fn offset(self) -> u32 {
        match self {
            Cursor::Organizations { offset }
            | Cursor::Projects { offset, .. }
            | Cursor::Components { offset, .. } => offset,
        }
    }

    fn with_offset(self, offset: u32) -> Cursor {
        match self {
            Cursor::Organizations { .. } => Cursor::Organizations { offset },
            Cursor::Projects { org, .. } => Cursor::Projects { org, offset },
            Cursor::Components { org, project, .. } => Cursor::Components {
                org,
                project,
                offset,
            },
        }
    }
}

impl Tree {
    /// The page at `cursor` (`None`: the start of the walk).
    pub fn page(&self, cursor: Option<Cursor>) -> Page<Cursor> {
        let Some(at) = self.settle(cursor.unwrap_or(Cursor::START)) else {
            return Page::last(Vec::new());
        };
        let end = at
            .offset()
            .saturating_add(self.page_size)
            .min(self.list_len(at));
        let entities = (at.offset()..end)
            .map(|offset| self.entity(at.with_offset(offset)))
            .collect();
        match self.settle(at.with_offset(end)) {
            Some(next) => Page::more(entities, next),
            None => Page::last(entities),
        }
    }

    /// The first position at or after `at` that holds an item, skipping
    /// finished and empty lists; `None` once the walk is over.
    fn settle(&self, mut at: Cursor) -> Option<Cursor> {
        loop {
            at = match at {
                Cursor::Organizations { offset } if offset >= self.organizations => {
                    Cursor::Projects { org: 0, offset: 0 }
                }
                Cursor::Projects { org, .. } if org >= self.organizations => Cursor::Components {
                    org: 0,
                    project: 0,
                    offset: 0,
                },
                Cursor::Projects { org, offset } if offset >= self.projects => Cursor::Projects {
                    org: org + 1,
                    offset: 0,
                },
                Cursor::Components { org, .. } if org >= self.organizations => return None,
                Cursor::Components { org, project, .. } if project >= self.projects => {
                    Cursor::Components {
                        org: org + 1,
                        project: 0,
                        offset: 0,
                    }
                }
                Cursor::Components {
                    org,
                    project,
                    offset,
                } if offset >= self.components => Cursor::Components {
                    org,
                    project: project + 1,
                    offset: 0,
                },
                settled => return Some(settled),
            };
        }
    }

    /// How many items the list that `at` points into holds.
    fn list_len(&self, at: Cursor) -> u32 {
        match at {
            Cursor::Organizations { .. } => self.organizations,
            Cursor::Projects { .. } => self.projects,
            Cursor::Components { .. } => self.components,
        }
    }

    /// The item at `at`.
    fn entity(&self, at: Cursor) -> Entity {
        match at {
            Cursor::Organizations { offset } => organization(offset),
            Cursor::Projects { org, offset } => project(org, offset),
            Cursor::Components {
                org,
                project,
                offset,
            } => component(org, project, offset),
        }
    }
}

fn org_name(org: u32) -> String {
    format!("org-{:02}", org + 1)
}

fn project_name(org: u32, project: u32) -> String {
    format!("{}-project-{:02}", org_name(org), project + 1)
}

fn component_name(org: u32, project: u32, component: u32) -> String {
    format!(
        "{}-component-{:03}",
        project_name(org, project),
        component + 1
    )
}

fn organization(org: u32) -> Entity {
    let name = org_name(org);
    Entity::builder("Group", &name)
        .description(format!("Organisation {}", org + 1))
        .managed_by(format!("{LOCATION}/orgs/{name}"))
        .spec("type", "organization")
        .spec("children", json!([]))
        .build()
}

fn project(org: u32, project: u32) -> Entity {
    let name = project_name(org, project);
    Entity::builder("System", &name)
        .description(format!(
            "Project {} of organisation {}",
            project + 1,
            org + 1
        ))
        .managed_by(format!("{LOCATION}/orgs/{}/projects/{name}", org_name(org)))
        .spec("owner", format!("group:default/{}", org_name(org)))
        .build()
}

fn component(org: u32, project: u32, component: u32) -> Entity {
    let name = component_name(org, project, component);
    let location = format!(
        "{LOCATION}/orgs/{}/projects/{}/components/{name}",
        org_name(org),
        project_name(org, project)
    );
    Entity::builder("Component", &name)
        .description(format!(
            "Component {} of project {}",
            component + 1,
            project + 1
        ))
        .managed_by(location)
        .spec("type", "service")
        .spec("lifecycle", "production")
        .spec("owner", format!("group:default/{}", org_name(org)))
        .spec(
            "system",
            format!("system:default/{}", project_name(org, project)),
        )
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// `kind:name` of each entity, in order.
    fn refs(page: &Page<Cursor>) -> Vec<String> {
        page.entities
            .iter()
            .map(|entity| {
                let value: Value = serde_json::from_str(entity.json()).unwrap();
                format!(
                    "{}:{}",
                    value["kind"].as_str().unwrap(),
                    value["metadata"]["name"].as_str().unwrap()
                )
            })
            .collect()
    }

    /// Every page from `cursor` to the end, each cursor taken through its JSON
    /// text as the host stores it.
    fn walk(tree: &Tree, mut cursor: Option<Cursor>) -> Vec<Page<Cursor>> {
        let mut pages = Vec::new();
        loop {
            let page = tree.page(cursor);
            cursor = page.next.map(|next| {
                let text = serde_json::to_string(&next).unwrap();
                serde_json::from_str(&text).unwrap()
            });
            pages.push(page);
            if cursor.is_none() {
                return pages;
            }
        }
    }

    fn expected(tree: &Tree) -> Vec<String> {
        let (orgs, projects, components) = (tree.organizations, tree.projects, tree.components);
        let groups = (0..orgs).map(|o| format!("Group:{}", org_name(o)));
        let systems = (0..orgs)
            .flat_map(|o| (0..projects).map(move |p| format!("System:{}", project_name(o, p))));
        let leaves = (0..orgs).flat_map(|o| {
            (0..projects).flat_map(move |p| {
                (0..components).map(move |c| format!("Component:{}", component_name(o, p, c)))
            })
        });
        groups.chain(systems).chain(leaves).collect()
    }

    fn shapes() -> Vec<Tree> {
        let tree = |organizations, projects, components, page_size| Tree {
            organizations,
            projects,
            components,
            page_size,
        };
        vec![
            Tree::default(),
            tree(3, 4, 25, 1),
            tree(2, 3, 7, 3),
            tree(5, 2, 10, 10),
            tree(1, 1, 1, 50),
            tree(0, 4, 25, 50),
            tree(3, 0, 25, 50),
            tree(3, 4, 0, 50),
        ]
    }

    #[test]
    fn a_walk_yields_every_entity_exactly_once() {
        for tree in shapes() {
            let walked: Vec<String> = walk(&tree, None).iter().flat_map(refs).collect();
            assert_eq!(walked, expected(&tree), "{tree:?}");
        }
    }

    #[test]
    fn resuming_from_any_cursor_yields_the_same_remaining_sequence() {
        for tree in shapes() {
            let pages = walk(&tree, None);
            for (i, page) in pages.iter().enumerate() {
                let Some(cursor) = page.next else { continue };
                let rest: Vec<String> = pages[i + 1..].iter().flat_map(refs).collect();
                let resumed: Vec<String> =
                    walk(&tree, Some(cursor)).iter().flat_map(refs).collect();
                assert_eq!(resumed, rest, "{tree:?} from {cursor:?}");
            }
        }
    }

    #[test]
    fn pages_are_single_lists_and_never_empty_unless_the_tree_is() {
        let tree = Tree::default();
        let pages = walk(&tree, None);
        let sizes: Vec<usize> = pages.iter().map(|page| page.entities.len()).collect();
        // 3 organisations; 4 projects for each of 3; 25 components for each of 12.
        assert_eq!(sizes, [vec![3], vec![4; 3], vec![25; 12]].concat());
        let empty = Tree {
            organizations: 0,
            ..tree
        };
        let pages = walk(&empty, None);
        assert_eq!(pages.len(), 1);
        assert!(pages[0].entities.is_empty());
    }

    #[test]
    fn the_cursor_names_the_phase_and_position() {
        let cursor = Cursor::Components {
            org: 1,
            project: 2,
            offset: 40,
        };
        let text = serde_json::to_string(&cursor).unwrap();
        assert_eq!(
            text,
            r#"{"phase":"components","org":1,"project":2,"offset":40}"#
        );
    }

    #[test]
    fn components_point_at_their_owner_and_system() {
        let at = Cursor::Components {
            org: 1,
            project: 2,
            offset: 3,
        };
        let value: Value = serde_json::from_str(Tree::default().entity(at).json()).unwrap();
        assert_eq!(value["metadata"]["name"], "org-02-project-03-component-004");
        assert_eq!(value["spec"]["type"], "service");
        assert_eq!(value["spec"]["lifecycle"], "production");
        assert_eq!(value["spec"]["owner"], "group:default/org-02");
        assert_eq!(value["spec"]["system"], "system:default/org-02-project-03");
        let annotations = &value["metadata"]["annotations"];
        assert!(
            annotations[weir_guest::ANNOTATION_LOCATION]
                .as_str()
                .unwrap()
                .starts_with(LOCATION)
        );
    }

    #[test]
    fn a_cursor_from_a_bigger_tree_ends_the_walk_cleanly() {
        let cursor = Cursor::Components {
            org: 9,
            project: 0,
            offset: 0,
        };
        let page = Tree::default().page(Some(cursor));
        assert!(page.entities.is_empty());
        assert!(page.next.is_none());
    }
}
