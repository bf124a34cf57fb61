//! Subcommands and the arguments they share.

mod bench;
mod check;
mod new;
mod run;
mod serve;
mod validate;

use std::fmt;
use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use weir::runtime::{
    DEFAULT_REQUEST_TIMEOUT, HostRule, Limits, OutboundGrant, PluginRuntime, RuntimeOptions,
    SourceSettings,
};

/// Weir: runs catalog data sources as sandboxed WebAssembly components.
#[derive(Debug, Parser)]
#[command(name = "weir", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,

    /// How log lines are written to stderr.
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, with the source name as a field.
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    Serve(serve::ServeArgs),
    Run(run::RunArgs),
    Check(check::CheckArgs),
    Bench(bench::BenchArgs),
    Validate(validate::ValidateArgs),
    New(new::NewArgs),
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => serve::serve(args).await,
        Command::Run(args) => run::run(args).await,
        Command::Check(args) => check::check(args).await,
        Command::Bench(args) => bench::bench(args).await,
        Command::Validate(args) => validate::validate_files(&args).await,
        Command::New(args) => new::new(&args),
    }
}

/// How a source is configured on the command line.
#[derive(Debug, Args)]
struct SourceArgs {
    /// A config value for the source (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = key_value)]
    config: Vec<(String, String)>,

    /// A secret for the source (repeatable); never printed.
    #[arg(long = "secret", value_name = "KEY=VALUE", value_parser = key_value)]
    secrets: Vec<(String, String)>,

    /// A host the source may send HTTP requests to (repeatable): `HOST`,
    /// `HOST:PORT`, `SCHEME://HOST[:PORT]` or `*.DOMAIN`. None by default.
    #[arg(long = "allow-host", value_name = "HOST", value_parser = host_rule)]
    allow_hosts: Vec<HostRule>,

    /// Let granted hosts be (or resolve to) loopback, private or link-local addresses.
    #[arg(long)]
    allow_private_networks: bool,

    /// The longest one outbound HTTP request may take.
    #[arg(long, value_name = "DURATION", default_value_t = DurationArg(DEFAULT_REQUEST_TIMEOUT))]
    request_timeout: DurationArg,

    #[command(flatten)]
    limits: LimitArgs,

    #[command(flatten)]
    cache: CacheArgs,
}

impl SourceArgs {
    fn settings(&self) -> SourceSettings {
        SourceSettings {
            config: self.config.iter().cloned().collect(),
            secrets: self.secrets.iter().cloned().collect(),
            limits: self.limits.limits(),
            outbound: OutboundGrant {
                hosts: self.allow_hosts.clone(),
                allow_private: self.allow_private_networks,
                request_timeout: self.request_timeout.0,
                ..OutboundGrant::default()
            },
        }
    }
}

/// The per-call and per-page budgets; the defaults are [`Limits::default`]'s.
#[derive(Debug, Args)]
struct LimitArgs {
    /// CPU budget per guest call, in fuel units (about one per instruction).
    #[arg(long, value_name = "UNITS", default_value_t = Limits::default().fuel)]
    fuel: u64,

    /// Wall-clock budget per guest call, e.g. `500ms`, `30s`, `2m`.
    #[arg(long, value_name = "DURATION", default_value_t = DurationArg(Limits::default().deadline))]
    deadline: DurationArg,

    /// Largest memory the plugin may grow to, e.g. `64MiB`.
    #[arg(long, value_name = "SIZE", default_value_t = SizeArg(Limits::default().max_memory_bytes))]
    max_memory: SizeArg,

    /// Most entities one page may carry.
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_entities_per_page)]
    max_entities_per_page: usize,

    /// Most bytes one page may carry (entity JSON, location keys and cursor).
    #[arg(long, value_name = "SIZE", default_value_t = SizeArg(Limits::default().max_page_bytes))]
    max_page_bytes: SizeArg,

    /// Largest cursor, in bytes of JSON.
    #[arg(long, value_name = "SIZE", default_value_t = SizeArg(Limits::default().max_cursor_bytes))]
    max_cursor_bytes: SizeArg,

    /// Largest entity, in bytes of JSON (a larger one is refused on its own).
    #[arg(long, value_name = "SIZE", default_value_t = SizeArg(Limits::default().max_entity_bytes))]
    max_entity_bytes: SizeArg,
}

impl LimitArgs {
    fn limits(&self) -> Limits {
        Limits {
            fuel: self.fuel,
            deadline: self.deadline.0,
            max_memory_bytes: self.max_memory.0,
            max_entities_per_page: self.max_entities_per_page,
            max_page_bytes: self.max_page_bytes.0,
            max_cursor_bytes: self.max_cursor_bytes.0,
            max_entity_bytes: self.max_entity_bytes.0,
        }
    }
}

/// A duration on the command line: `500ms`, `30s`, `2m`, `1d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DurationArg(pub(crate) Duration);

impl FromStr for DurationArg {
    type Err = humantime::DurationError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        humantime::parse_duration(text).map(DurationArg)
    }
}

impl fmt::Display for DurationArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

/// A size on the command line: a number of bytes, or `64KiB`, `512MiB`, `1GiB`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SizeArg(usize);

impl FromStr for SizeArg {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> anyhow::Result<Self> {
        byte_size(text).map(SizeArg)
    }
}

/// The largest binary unit that divides the size exactly, as the defaults
/// are written (`512MiB`, `64KiB`).
impl fmt::Display for SizeArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let units = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
        match units
            .iter()
            .find(|(unit, _)| self.0 >= *unit && self.0.is_multiple_of(*unit))
        {
            Some((unit, name)) => write!(f, "{}{name}", self.0 / unit),
            None => write!(f, "{}", self.0),
        }
    }
}

#[derive(Debug, Args)]
struct CacheArgs {
    /// Where compiled plugins are cached [default: $XDG_CACHE_HOME/weir or ~/.cache/weir].
    #[arg(long, value_name = "DIR", env = "WEIR_CACHE_DIR")]
    cache_dir: Option<PathBuf>,

    /// Compile the plugin on every load instead of using the cache.
    #[arg(long, conflicts_with = "cache_dir")]
    no_cache: bool,
}

impl CacheArgs {
    fn runtime(&self) -> anyhow::Result<PluginRuntime> {
        let cache_dir = if self.no_cache {
            None
        } else {
            self.cache_dir.clone().or_else(default_cache_dir)
        };
        Ok(PluginRuntime::new(RuntimeOptions {
            cache_dir,
            ..RuntimeOptions::default()
        })?)
    }
}

fn default_cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))?;
    Some(base.join("weir"))
}

fn host_rule(text: &str) -> Result<HostRule, String> {
    HostRule::parse(text)
}

fn key_value(text: &str) -> anyhow::Result<(String, String)> {
    let Some((key, value)) = text.split_once('=') else {
        bail!("expected KEY=VALUE, got {text:?}");
    };
    if key.is_empty() {
        bail!("the key is empty in {text:?}");
    }
    Ok((key.to_owned(), value.to_owned()))
}

fn byte_size(text: &str) -> anyhow::Result<usize> {
    let size: bytesize::ByteSize = text
        .parse()
        .map_err(|error| anyhow::anyhow!("{error}"))
        .with_context(|| format!("{text:?} is not a size such as 65536, 64KiB or 512MiB"))?;
    usize::try_from(size.as_u64()).context("size too large for this machine")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_values_split_at_the_first_equals() {
        assert_eq!(key_value("a=b=c").unwrap(), ("a".into(), "b=c".into()));
        assert_eq!(
            key_value("empty=").unwrap(),
            ("empty".into(), String::new())
        );
        assert!(key_value("novalue").is_err());
        assert!(key_value("=x").is_err());
    }

    #[test]
    fn sizes_take_binary_suffixes() {
        assert_eq!(byte_size("65536").unwrap(), 65536);
        assert_eq!(byte_size("64KiB").unwrap(), 64 << 10);
        assert_eq!(byte_size("512MiB").unwrap(), 512 << 20);
        assert!(byte_size("lots").is_err());
    }

    #[test]
    fn cli_defaults_match_the_library_defaults() {
        let cli = Cli::parse_from(["weir", "run", "p.wasm"]);
        let Command::Run(args) = cli.command else {
            panic!("parsed as another command");
        };
        assert_eq!(args.source.limits.limits(), Limits::default());
        assert_eq!(args.source.request_timeout.0, DEFAULT_REQUEST_TIMEOUT);
    }

    #[test]
    fn sizes_print_in_the_largest_exact_unit_and_parse_back() {
        for (size, text) in [(512 << 20, "512MiB"), (64 << 10, "64KiB"), (1000, "1000")] {
            assert_eq!(SizeArg(size).to_string(), text);
            assert_eq!(text.parse::<SizeArg>().unwrap(), SizeArg(size));
        }
    }
}
