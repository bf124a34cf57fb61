//! `weir check`: load and type-check a plugin without running a cycle, and
//! show the settings it would run with under `weir serve`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use weir::config::{Config, SourceConfig};
use weir::runtime::SourceSettings;

use super::SourceArgs;

/// Load and validate a plugin: print its provider name, the contract version
/// it implements, the interfaces it imports, and the settings `weir serve`
/// would give it: its manifest (`NAME.toml` beside `NAME.wasm`) under the
/// config's `[sources.NAME]`, with the outbound grant both allow. Exits
/// non-zero, naming the cause, when the file is not a usable Weir source or
/// its manifest is invalid.
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
    Ok(ExitCode::SUCCESS)
}

/// The settings `weir serve` would use, when the plugin has a manifest or
/// the config a section for it; `None` leaves the command-line settings.
fn effective_settings(args: &CheckArgs) -> anyhow::Result<Option<SourceConfig>> {
    let Some(stem) = args.plugin.file_stem().and_then(|stem| stem.to_str()) else {
        return Ok(None);
    };
    let env = |name: &str| std::env::var(name).ok();
    let config = Config::load(args.config_file.as_deref(), env)?;
    let manifest_path = args.plugin.with_extension("toml");
    let manifest = read_manifest(&manifest_path)?;
    if manifest.is_none() && !config.sources.contains_key(stem) {
        return Ok(None);
    }
    let source = config.source_with_manifest(
        stem,
        manifest
            .as_deref()
            .map(|text| (manifest_path.as_path(), text)),
        env,
    )?;
    println!(
        "settings:  {}{}",
        if manifest.is_some() {
            format!("manifest {}", manifest_path.display())
        } else {
            "no manifest".to_owned()
        },
        if config.sources.contains_key(stem) {
            format!(", overridden by [sources.{stem}]")
        } else {
            String::new()
        }
    );
    Ok(Some(source))
}

fn read_manifest(path: &Path) -> anyhow::Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error).with_context(|| format!("cannot read {}", path.display())),
    }
}

fn print_settings(source: &SourceConfig) {
    let SourceSettings {
        config,
        secrets,
        limits,
        outbound,
    } = &source.settings;
    let options = &source.options;
    println!("effective settings:");
    println!("  priority:        {}", options.priority);
    println!(
        "  bursts:          {} long, {} apart",
        humantime::format_duration(options.burst_length),
        humantime::format_duration(options.burst_interval)
    );
    println!(
        "  limits:          {} fuel, {} deadline, {} bytes of memory",
        limits.fuel,
        humantime::format_duration(limits.deadline),
        limits.max_memory_bytes
    );
    println!(
        "  config keys:     {}",
        list(config.keys().map(String::as_str))
    );
    println!(
        "  secrets:         {}",
        list(secrets.keys().map(String::as_str))
    );
    let hosts: Vec<String> = outbound.hosts.iter().map(ToString::to_string).collect();
    println!(
        "  outbound HTTP:   {}{}",
        list(hosts.iter().map(String::as_str)),
        if outbound.hosts.is_empty() {
            String::new()
        } else {
            format!(
                " (private networks {}; request timeout {})",
                if outbound.allow_private {
                    "allowed"
                } else {
                    "blocked"
                },
                humantime::format_duration(outbound.request_timeout)
            )
        }
    );
}

fn list<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let items: Vec<&str> = items.collect();
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(", ")
    }
}
