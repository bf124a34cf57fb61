//! Test plugin `open-transient`: set-up always fails with a transient error.

use weir_guest::{Error, Page, Source};

struct SetupTransient;

impl Source for SetupTransient {
    type Context = ();
    type Cursor = ();

    fn provider_name() -> String {
        "open-transient".into()
    }

    fn open() -> Result<(), Error> {
        Err(Error::transient("upstream unavailable: try again later"))
    }

    fn next(_: &mut (), _: Option<()>) -> Result<Page<()>, Error> {
        Ok(Page::last(Vec::new()))
    }
}

weir_guest::export_source!(SetupTransient);
