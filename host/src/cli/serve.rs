//! `weir serve`: the long-running host. It reads the config, opens the
//! store (one process per SQLite file, enforced by a lock file; any number
//! of replicas on PostgreSQL), loads every plugin in the plugins folder and
//! watches it (`weir::plugins`), runs the engine and the HTTP API, and shuts
//! down cleanly on SIGINT or SIGTERM.

use std::fs::{File, TryLockError};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Args;
use tracing::{error, info, warn};
use weir::config::Config;
use weir::engine::{Supervisor, SupervisorOptions};
use weir::plugins::{FolderOptions, PluginsFolder, plugin_files};
use weir::store::Catalog;

use super::CacheArgs;

/// Run every source in the plugins folder, forever, in bursts, and serve
/// the HTTP API. Settings come from `weir.toml` (or `--config`); the flags
/// and WEIR_* environment variables override it.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The config file [default: weir.toml in the working directory, if any].
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,

    /// The catalog database (`sqlite://FILE` or `postgres://…`).
    #[arg(long, value_name = "URL")]
    database: Option<String>,

    /// The folder of source plugins (`*.wasm`).
    #[arg(long, value_name = "DIR")]
    plugins: Option<PathBuf>,

    /// The HTTP listen address.
    #[arg(long, value_name = "ADDR")]
    listen: Option<std::net::SocketAddr>,

    /// How long a plugin file (or its manifest) must stay unchanged before
    /// it is loaded [default: 500ms].
    #[arg(long, value_name = "DURATION")]
    debounce: Option<humantime::Duration>,

    /// How often the plugins folder is read again besides its change
    /// notifications [default: 5s].
    #[arg(long, value_name = "DURATION")]
    rescan: Option<humantime::Duration>,

    #[command(flatten)]
    cache: CacheArgs,
}

pub async fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let mut config = Config::load(args.config.as_deref(), |name| std::env::var(name).ok())?;
    if let Some(database) = args.database {
        config.database = database;
    }
    if let Some(plugins) = args.plugins {
        config.plugins = plugins;
    }
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    // Before anything else: never expose the admin routes without a token.
    weir::http::check_exposure(config.listen, &config.http).map_err(anyhow::Error::msg)?;
    let _lock = lock_sqlite_file(&config.database)?;
    let store = Catalog::open_with(&config.database, &config.store).await?;
    if config.database.starts_with("sqlite:") {
        // This process owns the file: any lease in it is a dead process's.
        store.release_all_leases().await?;
    }
    let runtime = Arc::new(args.cache.runtime()?);
    warn_unused_sections(&config);
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let engine = Arc::new(Supervisor::start(
        store,
        Vec::new(),
        SupervisorOptions {
            max_concurrent_bursts: config.max_concurrent_bursts,
            ..SupervisorOptions::default()
        },
    ));
    // The plugins already in the folder load before the API answers; the
    // folder's task then owns loading and unloading.
    let mut folder_options = FolderOptions::new(config.plugins.clone());
    if let Some(debounce) = args.debounce {
        folder_options.debounce = debounce.into();
    }
    if let Some(rescan) = args.rescan {
        folder_options.rescan = rescan.into();
    }
    let http = config.http.clone();
    let mut folder = PluginsFolder::new(
        folder_options,
        config.clone(),
        Arc::clone(&runtime),
        Arc::clone(&engine),
        http.push.clone(),
    );
    engine.hold_expiry(true);
    folder.scan().await;
    engine.hold_expiry(false);
    if engine.sources().is_empty() {
        info!(
            "no plugins in {}: copy source components (*.wasm) there; they load as they arrive",
            config.plugins.display()
        );
    }
    let (folder_stop, folder_stopped) = tokio::sync::watch::channel(false);
    let folder_task = tokio::spawn(folder.run(folder_stopped));
    info!(
        listen = %config.listen,
        database = %redact(&config.database),
        plugins = %config.plugins.display(),
        "weir serve is running"
    );
    // On a signal, long polls answer at once so the shutdown need not wait.
    let (closing, closed) = tokio::sync::watch::channel(false);
    let limits = http.listener_limits();
    let router = weir::http::router_closing(Arc::clone(&engine), http, closed);
    weir::http::serve(listener, router, limits, async move {
        shutdown_signal().await;
        let _ = closing.send(true);
    })
    .await
    .context("serving HTTP")?;
    info!("shutting down");
    let _ = folder_stop.send(true);
    if let Err(error) = folder_task.await {
        warn!("the plugins folder's task failed: {error}");
    }
    engine.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

/// A `[sources.NAME]` section without a `NAME.wasm` in the folder (yet).
fn warn_unused_sections(config: &Config) {
    let files = match plugin_files(&config.plugins) {
        Ok(files) => files.plugins,
        Err(error) => {
            warn!("{error}");
            return;
        }
    };
    for name in config.section_names() {
        if !files
            .iter()
            .any(|file| file.file_stem().is_some_and(|stem| stem == name))
        {
            warn!(
                "[sources.{name}] is configured but {} has no {name}.wasm (yet)",
                config.plugins.display()
            );
        }
    }
}

/// With SQLite, one process owns the database file: hold an exclusive lock
/// on `FILE.lock` for the life of the process, or refuse to start.
fn lock_sqlite_file(url: &str) -> anyhow::Result<Option<File>> {
    let Some(path) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    else {
        return Ok(None);
    };
    let path = path.split('?').next().unwrap_or(path);
    if path.is_empty() || path == ":memory:" {
        return Ok(None);
    }
    let lock_path = PathBuf::from(format!("{path}.lock"));
    let file = File::create(&lock_path)
        .with_context(|| format!("cannot create the lock file {}", lock_path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(TryLockError::WouldBlock) => bail!(
            "{path} is in use by another weir process (it holds {}): with SQLite one process \
             owns the database; stop the other process, or use PostgreSQL to run several replicas",
            lock_path.display()
        ),
        Err(TryLockError::Error(error)) => {
            Err(error).with_context(|| format!("cannot lock {}", lock_path.display()))
        }
    }
}

/// SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(error) => {
                    error!("cannot listen for SIGTERM: {error}");
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}

/// A database URL without its password, for logs.
fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_not_logged() {
        assert_eq!(
            redact("postgres://weir:hunter2@db:5432/catalog"),
            "postgres://weir:***@db:5432/catalog"
        );
        assert_eq!(redact("sqlite://weir.db"), "sqlite://weir.db");
    }

    #[test]
    fn a_second_lock_on_one_sqlite_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/weir.db", dir.path().display());
        let first = lock_sqlite_file(&url).unwrap();
        assert!(first.is_some());
        let second = lock_sqlite_file(&url).unwrap_err().to_string();
        assert!(
            second.contains("in use by another weir process"),
            "{second}"
        );
        drop(first);
        assert!(lock_sqlite_file(&url).unwrap().is_some());
        assert!(lock_sqlite_file("postgres://x@y/z").unwrap().is_none());
    }
}
