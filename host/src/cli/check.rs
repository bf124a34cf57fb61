//! `weir check`: load and type-check a plugin without running a cycle.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::SourceArgs;

/// Load and validate a plugin: print its provider name, the contract version
/// it implements and the interfaces it imports. Exits non-zero, naming the
/// cause, when the file is not a usable Weir source.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The plugin's `.wasm` file.
    plugin: PathBuf,

    #[command(flatten)]
    source: SourceArgs,
}

pub async fn check(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let runtime = args.source.cache.runtime()?;
    let plugin = runtime.load(&args.plugin, args.source.settings()).await?;
    let contract = plugin.contract();
    println!("file:      {}", plugin.file().display());
    println!("provider:  {}", plugin.provider_name());
    println!("contract:  weir:source@{}", contract.version);
    println!("build:     {}", plugin.build());
    println!(
        "push:      {}",
        if plugin.supports_push() {
            "yes (exports weir:source/push: takes pushed events)"
        } else {
            "no (pull only)"
        }
    );
    println!(
        "compiled:  {}",
        if contract.from_cache {
            "taken from the cache"
        } else {
            "now"
        }
    );
    println!("imports:");
    for import in &contract.imports {
        println!("  {import}");
    }
    Ok(ExitCode::SUCCESS)
}
