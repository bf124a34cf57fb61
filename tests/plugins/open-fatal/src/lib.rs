//! Test plugin `open-fatal`: set-up always fails with a fatal error.

use weir_guest::{Error, Page, Source};

struct SetupFatal;

impl Source for SetupFatal {
    type Context = ();
    type Cursor = ();

    fn provider_name() -> String {
        "open-fatal".into()
    }

    fn open() -> Result<(), Error> {
        Err(Error::fatal("bad credentials: token rejected"))
    }

    fn next(_: &mut (), _: Option<()>) -> Result<Page<()>, Error> {
        Ok(Page::last(Vec::new()))
    }
}

weir_guest::export_source!(SetupFatal);
