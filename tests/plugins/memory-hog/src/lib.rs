//! Test plugin `memory-hog`: `next` allocates and fills memory without bound,
//! so the host's memory limit must stop it.

use weir_guest::{Error, Page, Source};

const MIB: usize = 1 << 20;

struct MemoryHog;

impl Source for MemoryHog {
    type Context = ();
    type Cursor = ();

    fn provider_name() -> String {
        "memory-hog".into()
    }

    fn open() -> Result<(), Error> {
        Ok(())
    }

    fn next(_: &mut (), _: Option<()>) -> Result<Page<()>, Error> {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            // Filled with a non-zero byte so every page is really touched.
            hoard.push(vec![0xa5; MIB]);
            std::hint::black_box(&mut hoard);
        }
    }
}

weir_guest::export_source!(MemoryHog);
