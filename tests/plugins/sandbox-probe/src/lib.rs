//! Test plugin `sandbox-probe`: in `next`, tries what a sandboxed source must
//! not be able to do, and returns one page with one `Component` per attempt,
//! named `probe-<what>`, whose description says what happened: `refused: …`
//! or `ALLOWED: …`.
//!
//! - `file`: read `/etc/passwd`, then list `/` and `.`;
//! - `env`: read `HOME` and `PATH`, and count the environment variables and
//!   the arguments;
//! - `tcp`: open a TCP connection to config `tcp-address` (default
//!   `127.0.0.1:80`);
//! - `http`: GET config `url` (default `http://example.com/`) through
//!   `wasi:http`.

use weir_guest::http::{HttpError, Request};
use weir_guest::{Entity, Error, Page, Source, config};

struct Probe;

impl Source for Probe {
    type Context = ();
    type Cursor = u32;

    fn provider_name() -> String {
        "sandbox-probe".into()
    }

    fn open() -> Result<(), Error> {
        Ok(())
    }

    fn next(_: &mut (), _: Option<u32>) -> Result<Page<u32>, Error> {
        let probes = [
            ("file", file()),
            ("env", env()),
            ("tcp", tcp()),
            ("http", http()),
        ];
        let entities = probes
            .into_iter()
            .map(|(what, outcome)| {
                let description = match outcome {
                    Ok(allowed) => format!("ALLOWED: {allowed}"),
                    Err(refused) => format!("refused: {refused}"),
                };
                Entity::builder("Component", format!("probe-{what}"))
                    .description(description)
                    .spec("type", "probe")
                    .spec("lifecycle", "test")
                    .spec("owner", "weir")
                    .managed_by("url:https://weir.invalid/probe")
                    .build()
            })
            .collect();
        Ok(Page::last(entities))
    }
}

weir_guest::export_source!(Probe);

fn file() -> Result<String, String> {
    if let Ok(text) = std::fs::read_to_string("/etc/passwd") {
        return Ok(format!("read /etc/passwd ({} bytes)", text.len()));
    }
    for dir in ["/", "."] {
        if let Ok(entries) = std::fs::read_dir(dir) {
            return Ok(format!("listed {dir} ({} entries)", entries.count()));
        }
    }
    std::fs::read_to_string("/etc/passwd").map_err(|e| e.to_string())
}

fn env() -> Result<String, String> {
    for name in ["HOME", "PATH"] {
        if let Ok(value) = std::env::var(name) {
            return Ok(format!("{name}={value}"));
        }
    }
    let (vars, args) = (std::env::vars().count(), std::env::args().count());
    if vars + args > 0 {
        return Ok(format!("{vars} variables, {args} arguments"));
    }
    Err("no environment variables and no arguments".into())
}

fn tcp() -> Result<String, String> {
    let address = config::get("tcp-address").unwrap_or_else(|| "127.0.0.1:80".into());
    std::net::TcpStream::connect(&address)
        .map(|_| format!("connected to {address}"))
        .map_err(|e| format!("{address}: {e}"))
}

fn http() -> Result<String, String> {
    let url = config::get("url").unwrap_or_else(|| "http://example.com/".into());
    match Request::get(&url).send() {
        Ok(response) => Ok(format!("{url}: HTTP {}", response.status)),
        Err(error @ HttpError::Denied(_)) => Err(format!("denied: {error}")),
        Err(error) => Err(format!("other error: {error}")),
    }
}
