//! Test plugin `looping`: `next` spins forever, so the host must interrupt it.

use weir_guest::{Error, Page, Source};

struct Looping;

impl Source for Looping {
    type Context = ();
    type Cursor = ();

    fn provider_name() -> String {
        "looping".into()
    }

    fn open() -> Result<(), Error> {
        Ok(())
    }

    fn next(_: &mut (), _: Option<()>) -> Result<Page<()>, Error> {
        let mut spins = 0u64;
        loop {
            // `black_box` keeps the optimiser from proving the loop useless.
            spins = std::hint::black_box(spins.wrapping_add(1));
        }
    }
}

weir_guest::export_source!(Looping);
