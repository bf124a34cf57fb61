//! `weir bench`: figures for `BENCHMARKS.md`. Run from a release build.

mod engine;
mod http;
mod languages;
mod runtime;
mod store;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};

/// Measure Weir's speed and memory (build with `--release` first).
#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    what: What,
}

#[derive(Debug, Subcommand)]
enum What {
    Runtime(runtime::RuntimeBenchArgs),
    Store(store::StoreBenchArgs),
    Engine(engine::EngineBenchArgs),
    Http(http::HttpBenchArgs),
    Languages(languages::LanguagesBenchArgs),
}

pub async fn bench(args: BenchArgs) -> anyhow::Result<ExitCode> {
    if cfg!(debug_assertions) {
        eprintln!(
            "warning: this is a debug build of weir; figures are meaningful only from --release"
        );
    }
    match args.what {
        What::Runtime(args) => runtime::bench(args).await?,
        What::Store(args) => store::bench(args).await?,
        What::Engine(args) => engine::bench(args).await?,
        What::Http(args) => http::bench(args).await?,
        What::Languages(args) => languages::bench(args).await?,
    }
    Ok(ExitCode::SUCCESS)
}

/// The `synthetic` example source every benchmark pulls from.
#[derive(Debug, Args)]
struct SyntheticPlugin {
    /// The `synthetic` example source, built with
    /// `cargo build --target wasm32-wasip2 --release -p synthetic`.
    #[arg(
        long = "plugin",
        value_name = "FILE",
        default_value = "target/wasm32-wasip2/release/synthetic.wasm"
    )]
    path: PathBuf,
}

impl SyntheticPlugin {
    async fn read(&self) -> anyhow::Result<Vec<u8>> {
        let bytes = tokio::fs::read(&self.path).await.with_context(|| {
            format!("{}: cannot read the synthetic plugin", self.path.display())
        })?;
        println!("plugin: {} ({} bytes)", self.path.display(), bytes.len());
        Ok(bytes)
    }
}
