//! The listener: HTTP/1.1 connections accepted and served under bounds that
//! slow or greedy clients cannot stretch. At most `max_connections` are open
//! at once (one more is answered `503` and closed); a client must send a
//! request's head within `header_timeout` (which also closes a kept-alive
//! connection left idle that long); and a shutdown waits at most
//! `shutdown_timeout` for the requests in flight before closing what
//! remains, so one slow client cannot hold the process up.
//!
//! The connections run on a tokio runtime of their own (`weir-http`
//! threads): however many requests are waiting their turn (thousands of
//! long polls woken by one commit), the engine's tasks, on the main
//! runtime, never queue behind them; the operating system shares the CPU
//! between the two sets of threads.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tracing::{debug, info, warn};

/// The bounds of the listener.
#[derive(Debug, Clone, Copy)]
pub struct ListenerLimits {
    /// Connections open at once.
    pub max_connections: usize,
    /// How long a client may take to send a request's head, and how long a
    /// kept-alive connection may stay idle.
    pub header_timeout: Duration,
    /// How long a shutdown waits for the requests in flight.
    pub shutdown_timeout: Duration,
}

/// What a connection past the cap is told before it is closed.
fn too_many_connections() -> String {
    let body = r#"{"error":{"name":"ServiceUnavailableError","message":"too many connections are open; try again shortly"},"response":{"statusCode":503}}"#;
    format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n\
         Retry-After: 1\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// Serve `router` on `listener`, on a runtime of its own, until `shutdown`
/// completes; then stop accepting, give the requests in flight
/// `shutdown_timeout`, close what remains, and return.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ListenerLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .thread_name("weir-http")
        .enable_all()
        .build()?;
    // Registered with the new runtime's reactor, not the caller's.
    let listener = listener.into_std()?;
    let served = runtime
        .spawn(accept_loop(listener, router, limits, shutdown))
        .await;
    // Connections still open past the shutdown bound are dropped with it.
    runtime.shutdown_background();
    served.map_err(std::io::Error::other)?
}

/// Accept and serve connections until `shutdown`, then wait at most
/// `shutdown_timeout` for those open.
async fn accept_loop(
    listener: std::net::TcpListener,
    router: Router,
    limits: ListenerLimits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let listener = TcpListener::from_std(listener)?;
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of descriptors, say: back off a little, go on.
                    warn!("cannot accept a connection: {error}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
            debug!(%peer, "refusing a connection: {} are open", limits.max_connections);
            tokio::spawn(refuse(stream));
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(router.clone());
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                debug!(%peer, "connection ended: {error}");
            }
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.shutdown_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        info!(
            "{:?} after the shutdown began, requests were still open: they are closed",
            limits.shutdown_timeout
        );
    }
    Ok(())
}

/// Tell a connection past the cap to come back, and close it.
async fn refuse(mut stream: TcpStream) {
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = stream.write_all(too_many_connections().as_bytes()).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refusal_is_a_whole_http_answer() {
        let text = too_many_connections();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let length: usize = head
            .lines()
            .find_map(|line| line.strip_prefix("Content-Length: "))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(body.len(), length);
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(json["response"]["statusCode"], 503);
    }
}
