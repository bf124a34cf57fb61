//! `weir check`: load and type-check a plugin without running a cycle, and
//! show the settings it would run with under `weir serve`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use weir::config::{Config, SourceConfig};

use super::SourceArgs;

mod conformance;

/// Load and validate a plugin: print its provider name, the contract version
/// it implements, the interfaces it imports, and the settings `weir serve`
/// would give it: for each, what its manifest (`NAME.toml` beside
/// `NAME.wasm`) asks, what the config's `[sources.NAME]` grants, and what
/// the source gets. Exits non-zero, naming the cause, when the file is not
/// a usable Weir source or its manifest is invalid.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The plugin's `.wasm` file.
    plugin: PathBuf,

    /// The config file whose `[sources.NAME]` applies [default: weir.toml
    /// in the working directory, if any].
    #[arg(long = "config", id = "config_file", value_name = "PATH")]
    config_file: Option<PathBuf>,

    #[command(flatten)]
    source: SourceArgs,

    #[command(flatten)]
    conformance: conformance::ConformanceArgs,
}

pub async fn check(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let effective = effective_settings(&args)?;
    let runtime = args.source.cache.runtime()?;
    let settings = match &effective {
        Some(source) => source.settings.clone(),
        None => args.source.settings(),
    };
    let plugin = runtime.load(&args.plugin, settings).await?;
    let contract = plugin.contract();
    println!("file:      {}", plugin.file().display());
    println!("provider:  {}", plugin.provider_name());
    if let Some(source) = &effective
        && plugin.provider_name() != source.provider_name
    {
        println!(
            "identity:  `weir serve` refuses this file: a plugin named {} runs only as \
             provider `{}` (rename the file `{}.wasm`, or map it with providerName)",
            args.plugin
                .file_name()
                .map_or_else(String::new, |name| name.to_string_lossy().into_owned()),
            source.provider_name,
            plugin.provider_name()
        );
    }
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
    if let Some(source) = &effective {
        print_settings(source);
    }
    if args.conformance.enabled {
        return conformance::report(&runtime, &plugin, &args.conformance).await;
    }
    Ok(ExitCode::SUCCESS)
}

/// The settings `weir serve` would use, when the plugin has a manifest or
/// the config a section for it; `None` leaves the command-line settings.
fn effective_settings(args: &CheckArgs) -> anyhow::Result<Option<SourceConfig>> {
    let Some(stem) = args.plugin.file_stem().and_then(|stem| stem.to_str()) else {
        return Ok(None);
    };
    let config = Config::load(args.config_file.as_deref(), |name| std::env::var(name).ok())?;
    let manifest_path = args.plugin.with_extension("toml");
    let manifest = read_manifest(&manifest_path)?;
    if manifest.is_none() && !config.has_section(stem) {
        return Ok(None);
    }
    let source = config.source_with_manifest(
        stem,
        manifest
            .as_deref()
            .map(|text| (manifest_path.as_path(), text)),
    )?;
    println!(
        "settings:  {}{}",
        if manifest.is_some() {
            format!(
                "manifest {} (what the plugin asks)",
                manifest_path.display()
            )
        } else {
            "no manifest".to_owned()
        },
        if config.has_section(stem) {
            format!(", within [sources.{stem}] (what the operator grants)")
        } else {
            ", within the operator's defaults (no [sources.".to_owned() + stem + "])"
        }
    );
    Ok(Some(source))
}

fn read_manifest(path: &Path) -> anyhow::Result<Option<String>> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => {
            bail!(
                "{} is a symbolic link: `weir serve` refuses a manifest (and its plugin) that is \
                 not a regular file",
                path.display()
            )
        }
        Ok(_) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => {
            return Err(error).with_context(|| format!("cannot read {}", path.display()));
        }
    }
    std::fs::read_to_string(path)
        .map(Some)
        .with_context(|| format!("cannot read {}", path.display()))
}

/// Each setting: what the manifest asked, what the operator granted, and
/// what the source gets; then the secrets asked for and not granted.
fn print_settings(source: &SourceConfig) {
    let headers = ["setting", "manifest asks", "operator grants", "source gets"];
    let rows: Vec<[&str; 4]> = source
        .grants
        .iter()
        .map(|grant| {
            [
                grant.key.as_str(),
                grant.asked.as_deref().unwrap_or("-"),
                grant.granted.as_str(),
                grant.effective.as_str(),
            ]
        })
        .collect();
    let mut widths = headers.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&headers).chain(&rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:width$}"))
            .collect();
        println!("  {}", cells.join("  ").trim_end());
    }
    if !source.missing_secrets.is_empty() {
        println!(
            "missing secrets: {} (the manifest asks for them; the operator grants none in \
             [sources.NAME.secrets], so the source reads none)",
            source.missing_secrets.join(", ")
        );
    }
}
