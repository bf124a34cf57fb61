//! A real `weir serve`, run as an operator runs it: a folder with its
//! `weir.toml` and plugins folder, the process started on a free loopback
//! port with its log captured, HTTP requests to it, and its end (SIGKILL,
//! SIGTERM, or killed when the test drops it).

use std::fs::File;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::guests;

/// How long a wait polls before it fails.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(60);
pub(crate) const POLL: Duration = Duration::from_millis(20);

/// Compiled plugins, shared by the test processes and the in-process runs.
pub(crate) fn cache_dir() -> PathBuf {
    std::env::temp_dir().join("weir-serve-test-cache")
}

/// A folder with `weir.toml`, the plugins folder (holding `synthetic.wasm`)
/// and the logs of every `weir serve` started from it.
pub(crate) struct Setup {
    dir: tempfile::TempDir,
    url: String,
    started: std::cell::Cell<usize>,
    /// Environment variables every `weir serve` of this folder gets.
    env: Vec<(String, String)>,
}

impl Setup {
    /// A folder with `config` and `synthetic.wasm` in its plugins folder.
    pub(crate) fn new(url: &str, config: &str) -> Setup {
        let setup = Setup::empty(url, config);
        setup.add_plugin("synthetic.wasm", guests::SYNTHETIC);
        setup
    }

    /// A folder with `config` and an empty plugins folder.
    pub(crate) fn empty(url: &str, config: &str) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("plugins")).unwrap();
        std::fs::write(dir.path().join("weir.toml"), config).unwrap();
        Setup {
            dir,
            url: url.to_owned(),
            started: std::cell::Cell::new(0),
            env: Vec::new(),
        }
    }

    /// A folder with `config`, an empty plugins folder and a SQLite
    /// catalog of its own.
    pub(crate) fn sqlite(config: &str) -> Setup {
        let mut setup = Setup::empty("", config);
        setup.url = format!("sqlite://{}", setup.dir.path().join("weir.db").display());
        setup
    }

    /// The catalog database's URL.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// Copy the component at `path` into the plugins folder as `name`.
    pub(crate) fn add_plugin(&self, name: &str, path: &str) {
        std::fs::copy(path, self.plugins().join(name)).unwrap();
    }

    /// Write `text` into the plugins folder as `name` (a manifest, say).
    pub(crate) fn write_plugin_file(&self, name: &str, text: &str) {
        std::fs::write(self.plugins().join(name), text).unwrap();
    }

    pub(crate) fn plugins(&self) -> PathBuf {
        self.dir.path().join("plugins")
    }

    /// Give every `weir serve` started from here `name=value`.
    pub(crate) fn with_env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Start `weir serve` on this folder's config and plugins, listening on
    /// a free port.
    pub(crate) fn spawn(&self) -> Serve {
        let number = self.started.get() + 1;
        self.started.set(number);
        let port = free_port();
        let log_path = self.dir.path().join(format!("serve-{number}.log"));
        let log = File::create(&log_path).unwrap();
        let dir = self.dir.path();
        let child = Command::new(env!("CARGO_BIN_EXE_weir"))
            .arg("serve")
            .arg("--config")
            .arg(dir.join("weir.toml"))
            .arg("--database")
            .arg(&self.url)
            .arg("--plugins")
            .arg(dir.join("plugins"))
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--cache-dir")
            .arg(cache_dir())
            .current_dir(dir)
            .env("WEIR_LOG", "info")
            .env_remove("WEIR_DATABASE_URL")
            .env_remove("WEIR_PLUGINS")
            .env_remove("WEIR_LISTEN")
            .env_remove("WEIR_CACHE_DIR")
            .env_remove("WEIR_ADMIN_TOKEN")
            .env_remove("WEIR_READ_TOKEN")
            .envs(self.env.iter().map(|(name, value)| (name, value)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start weir serve");
        Serve {
            child,
            port,
            number,
            log: log_path,
        }
    }

    /// Every log in full, joined.
    pub(crate) fn all_logs(&self) -> String {
        (1..=self.started.get())
            .map(|number| {
                let path = self.dir.path().join(format!("serve-{number}.log"));
                std::fs::read_to_string(&path).unwrap_or_default()
            })
            .collect()
    }

    /// The end of every log, for failure messages.
    pub(crate) fn logs(&self) -> String {
        let mut all = String::new();
        for number in 1..=self.started.get() {
            let path = self.dir.path().join(format!("serve-{number}.log"));
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = lines[lines.len().saturating_sub(15)..].join("\n");
            all.push_str(&format!(
                "--- weir serve #{number} (last 15 lines)\n{tail}\n"
            ));
        }
        all
    }
}

/// A running `weir serve`; killed if the test ends without stopping it.
pub(crate) struct Serve {
    child: Child,
    pub(crate) port: u16,
    number: usize,
    pub(crate) log: PathBuf,
}

impl Serve {
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL, as `kill -9`.
    pub(crate) fn kill9(mut self) {
        self.child.kill().expect("SIGKILL weir serve");
        self.child.wait().unwrap();
    }

    /// SIGTERM, and wait for the process to exit.
    pub(crate) async fn terminate(mut self) -> ExitStatus {
        let sent = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM {}", self.pid());
        self.wait_exit().await
    }

    /// Wait for the process to exit on its own.
    pub(crate) async fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "weir serve #{} did not exit within {TIMEOUT:?}:\n{}",
                self.number,
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// Fail if the process has exited.
    pub(crate) fn assert_running(&mut self, setup: &Setup) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!(
                "weir serve #{} exited early ({status}):\n{}",
                self.number,
                setup.logs()
            );
        }
    }

    /// Wait until the health route answers `{"healthy": true}`.
    pub(crate) async fn wait_healthy(&mut self, setup: &Setup) {
        let deadline = Instant::now() + TIMEOUT;
        let mut last = None;
        loop {
            self.assert_running(setup);
            let port = self.port;
            let answer = get(port, "/api/catalog/incremental/health").await;
            if let Some((200, body)) = &answer
                && serde_json::from_str::<serde_json::Value>(body).ok()
                    == Some(serde_json::json!({"healthy": true}))
            {
                return;
            }
            last = answer.or(last);
            assert!(
                Instant::now() < deadline,
                "weir serve #{} was not healthy within {TIMEOUT:?}; last answer {last:?}\n{}",
                self.number,
                setup.logs()
            );
            tokio::time::sleep(POLL).await;
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `GET path` of the `weir serve` on `port`: the status code and the body,
/// or `None` when nothing answers (yet).
pub(crate) async fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || request(port, "GET", &path, &[], b""))
        .await
        .unwrap()
}

/// One HTTP/1.1 request on a fresh connection, read to its end.
pub(crate) fn request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Option<(u16, String)> {
    exchange(port, method, path, headers, body).map(|answer| (answer.status, answer.body))
}

/// An answer, with its headers (names in lower case).
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: String,
}

impl Answer {
    /// The value of header `name` (lower case), if present.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(found, _)| found == name)
            .map(|(_, value)| value.as_str())
    }

    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|error| panic!("not JSON ({error}): {}", self.body))
    }
}

/// [`request`], with the answer's headers: a `Host` header of the caller's
/// replaces the usual one.
pub(crate) fn exchange(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Option<Answer> {
    use std::io::{Read, Write};
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(1)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("host"))
    {
        head.push_str(&format!("Host: 127.0.0.1:{port}\r\n"));
    }
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).ok()?;
    stream.write_all(body).ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).ok()?;
    let response = String::from_utf8_lossy(&response);
    let (head, body) = response.split_once("\r\n\r\n")?;
    let mut lines = head.lines();
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    Some(Answer {
        status,
        headers,
        body: body.to_owned(),
    })
}

/// [`exchange`] off the async threads.
pub(crate) async fn send(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Option<Answer> {
    let (method, path, body) = (method.to_owned(), path.to_owned(), body.to_vec());
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        exchange(port, &method, &path, &headers, &body)
    })
    .await
    .unwrap()
}
