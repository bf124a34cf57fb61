//! Writes the C SDK's bindings: `gen-bindings WIT_DIR OUT_DIR` generates the
//! `weir-bindings` and `weir-push-bindings` worlds of `WIT_DIR/sdk.wit` into
//! `OUT_DIR` exactly as `wit-bindgen c --world W WIT_DIR` 0.63.0 would, except
//! that the push world's copy of the shared `weir:source/types` interface is
//! renamed to `weir_push_types`, so both sets link into one module without
//! clashing symbols.

use std::path::Path;

use anyhow::{Context, Result, bail};
use wit_bindgen_core::Files;
use wit_bindgen_core::wit_parser::Resolve;

/// The worlds to generate, and the interfaces renamed in each.
const WORLDS: [(&str, &[(&str, &str)]); 2] = [
    ("weir-bindings", &[]),
    (
        "weir-push-bindings",
        &[("weir:source/types@0.1.1", "weir_push_types")],
    ),
];

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [wit_dir, out_dir] = args.as_slice() else {
        bail!("usage: gen-bindings WIT_DIR OUT_DIR");
    };
    let mut resolve = Resolve::default();
    let (package, _) = resolve
        .push_path(wit_dir)
        .with_context(|| format!("reading the WIT in {wit_dir}"))?;
    std::fs::create_dir_all(out_dir).with_context(|| format!("creating {out_dir}"))?;
    for (world_name, renames) in WORLDS {
        let world = resolve.select_world(&[package], Some(world_name))?;
        let mut opts = wit_bindgen_c::Opts::default();
        opts.rename = renames
            .iter()
            .map(|(from, to)| (from.to_string(), to.to_string()))
            .collect();
        let mut files = Files::default();
        opts.build()
            .generate(&mut resolve, world, &mut files)
            .with_context(|| format!("generating world {world_name}"))?;
        for (name, contents) in files.iter() {
            let path = Path::new(out_dir).join(name);
            std::fs::write(&path, contents)
                .with_context(|| format!("writing {}", path.display()))?;
        }
    }
    Ok(())
}
