//! `weir check --conformance`: run the plugin through the source contract's
//! generic checks (`weir::conformance`) and print the report.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use weir::conformance::{self, DEFAULT_MAX_PAGES, Options};
use weir::runtime::{Plugin, PluginRuntime, PushEvent};

use super::super::key_value;

#[derive(Debug, Args)]
pub(super) struct ConformanceArgs {
    /// Also run the plugin through the source contract's checks (a whole
    /// cycle in one burst and again one page per burst, repeated cursors,
    /// cursors, entities, errors, logs, push) and print a report; exits
    /// non-zero when a check fails. Calls the source for real: a source of
    /// a live API reads it (twice).
    #[arg(long = "conformance")]
    pub(super) enabled: bool,

    /// With --conformance: the most pages of a cycle to read before the
    /// check gives up on the cycle ending.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_PAGES, requires = "enabled")]
    max_pages: usize,

    /// With --conformance: a file whose bytes are the body of the event
    /// pushed to a plugin that exports push [default: `{}`].
    #[arg(long, value_name = "FILE", requires = "enabled")]
    push_body: Option<PathBuf>,

    /// With --conformance: a header of the pushed event (repeatable)
    /// [default: `content-type=application/json`].
    #[arg(long = "push-header", value_name = "NAME=VALUE", value_parser = key_value, requires = "enabled")]
    push_headers: Vec<(String, String)>,
}

impl ConformanceArgs {
    fn options(&self) -> anyhow::Result<Options> {
        let mut options = Options {
            max_pages: self.max_pages,
            ..Options::default()
        };
        if let Some(path) = &self.push_body {
            options.push_event.body = std::fs::read(path)
                .with_context(|| format!("cannot read the push body {}", path.display()))?;
        }
        if !self.push_headers.is_empty() {
            options.push_event = PushEvent {
                headers: self.push_headers.clone(),
                ..options.push_event
            };
        }
        Ok(options)
    }
}

/// Run the checks on `plugin`, print the report, and exit non-zero when a
/// check failed.
pub(super) async fn report(
    runtime: &PluginRuntime,
    plugin: &Plugin,
    args: &ConformanceArgs,
) -> anyhow::Result<ExitCode> {
    let options = args.options()?;
    println!("conformance:");
    let report = conformance::check(runtime, plugin, &options).await;
    println!("{report}");
    Ok(if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
