//! Test plugin `panicking`: `next` panics, which traps the instance.

use weir_guest::{Error, Page, Source};

struct Panicking;

impl Source for Panicking {
    type Context = ();
    type Cursor = ();

    fn provider_name() -> String {
        "panicking".into()
    }

    fn open() -> Result<(), Error> {
        Ok(())
    }

    fn next(_: &mut (), _: Option<()>) -> Result<Page<()>, Error> {
        panic!("boom: the plugin panicked on purpose");
    }
}

weir_guest::export_source!(Panicking);
