//! Test databases: a SQLite file in a temporary directory, and a uniquely
//! named database on the PostgreSQL server that `WEIR_TEST_POSTGRES_URL`
//! names (CI sets it, and there the PostgreSQL tests must run, so a missing
//! URL under `CI` fails instead of skipping).
//!
//! A PostgreSQL database is dropped by [`TestDb::drop_database`], or, if the
//! test panicked before that, when the [`TestDb`] is dropped.

use std::path::Path;

/// The environment variable naming the PostgreSQL server for tests (a URL
/// with a database to connect to for `CREATE DATABASE`, e.g.
/// `postgres://postgres@127.0.0.1:5432/postgres`).
pub const POSTGRES_URL_VAR: &str = "WEIR_TEST_POSTGRES_URL";

/// A database of one backend, removed when dropped.
pub enum TestDb {
    /// Holds the directory of the database file until the test ends.
    Sqlite { dir: tempfile::TempDir },
    Postgres {
        admin_url: String,
        name: String,
        /// Set once the database was dropped.
        dropped: bool,
    },
}

impl TestDb {
    /// A fresh database of every backend available: SQLite, and PostgreSQL
    /// when `WEIR_TEST_POSTGRES_URL` is set. Each with its URL.
    pub async fn all() -> Vec<(TestDb, String)> {
        let mut dbs = vec![TestDb::sqlite()];
        dbs.extend(TestDb::postgres().await);
        dbs
    }

    /// A fresh SQLite database file (`weir.db`) in a new temporary directory.
    pub fn sqlite() -> (TestDb, String) {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let url = format!("sqlite://{}", dir.path().join("weir.db").display());
        (TestDb::Sqlite { dir }, url)
    }

    /// A fresh PostgreSQL database, or `None` when `WEIR_TEST_POSTGRES_URL`
    /// is not set (outside CI; under `CI` that is a failure).
    pub async fn postgres() -> Option<(TestDb, String)> {
        match std::env::var(POSTGRES_URL_VAR) {
            Ok(admin_url) => {
                let name = format!("weir_test_{}", unique_suffix());
                admin(&admin_url, &format!("CREATE DATABASE {name}")).await;
                let url = replace_database(&admin_url, &name);
                Some((
                    TestDb::Postgres {
                        admin_url,
                        name,
                        dropped: false,
                    },
                    url,
                ))
            }
            Err(_) if std::env::var_os("CI").is_some() => {
                panic!("{POSTGRES_URL_VAR} is not set: in CI the PostgreSQL tests must run")
            }
            Err(_) => {
                eprintln!("{POSTGRES_URL_VAR} not set: testing SQLite only");
                None
            }
        }
    }

    /// `sqlite` or `postgres`, for messages.
    pub fn backend(&self) -> &'static str {
        match self {
            TestDb::Sqlite { .. } => "sqlite",
            TestDb::Postgres { .. } => "postgres",
        }
    }

    /// The SQLite database's directory (a place for other files of the test).
    pub fn dir(&self) -> Option<&Path> {
        match self {
            TestDb::Sqlite { dir } => Some(dir.path()),
            TestDb::Postgres { .. } => None,
        }
    }

    /// Take the PostgreSQL database down for its clients: new connections are
    /// refused and every open one is terminated, until
    /// [`TestDb::allow_connections`]. (SQLite has no server to take down.)
    pub async fn deny_connections(&self) {
        if let TestDb::Postgres {
            admin_url, name, ..
        } = self
        {
            admin(
                admin_url,
                &format!("ALTER DATABASE {name} WITH ALLOW_CONNECTIONS false"),
            )
            .await;
            admin(
                admin_url,
                &format!(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE datname = '{name}' AND pid <> pg_backend_pid()"
                ),
            )
            .await;
        }
    }

    /// Let clients connect to the PostgreSQL database again.
    pub async fn allow_connections(&self) {
        if let TestDb::Postgres {
            admin_url, name, ..
        } = self
        {
            admin(
                admin_url,
                &format!("ALTER DATABASE {name} WITH ALLOW_CONNECTIONS true"),
            )
            .await;
        }
    }

    /// Drop the PostgreSQL database (closing whatever connections remain);
    /// for SQLite, remove the directory.
    pub async fn drop_database(mut self) {
        if let TestDb::Postgres {
            admin_url,
            name,
            dropped,
        } = &mut self
        {
            admin(admin_url, &drop_statement(name)).await;
            *dropped = true;
        }
    }
}

impl Drop for TestDb {
    /// A test that panicked before [`TestDb::drop_database`] still removes
    /// its PostgreSQL database (from a thread of its own: this may run on
    /// an async runtime's thread).
    fn drop(&mut self) {
        if let TestDb::Postgres {
            admin_url,
            name,
            dropped: false,
        } = self
        {
            let admin_url = admin_url.clone();
            let statement = drop_statement(name);
            let dropped = std::thread::spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime to drop the test database")
                    .block_on(admin(&admin_url, &statement));
            })
            .join();
            if dropped.is_err() {
                eprintln!("could not drop a test database");
            }
        }
    }
}

fn drop_statement(name: &str) -> String {
    format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")
}

/// Run one statement on the server's admin database.
pub async fn admin(url: &str, statement: &str) {
    use sqlx::Connection;
    let mut connection = sqlx::PgConnection::connect(url)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to PostgreSQL at {url}: {e}"));
    sqlx::raw_sql(sqlx::AssertSqlSafe(statement.to_owned()))
        .execute(&mut connection)
        .await
        .unwrap_or_else(|e| panic!("{statement}: {e}"));
    let _ = connection.close().await;
}

/// On PostgreSQL, wait until no other session on `url`'s database is running
/// a statement. A client killed just after sending `COMMIT` may still have it
/// carried out by the server; once its session is idle or gone, what it
/// wrote is settled. SQLite needs no wait: a killed process commits nothing.
pub async fn settle_after_kill(url: &str) {
    use sqlx::Connection;
    if !url.starts_with("postgres") {
        return;
    }
    let mut connection = sqlx::PgConnection::connect(url)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to PostgreSQL at {url}: {e}"));
    for _ in 0..500 {
        let running: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND backend_type = 'client backend' AND pid <> pg_backend_pid() \
             AND state = 'active'",
        )
        .fetch_one(&mut connection)
        .await
        .unwrap_or_else(|e| panic!("reading the sessions on {url}: {e}"));
        if running == 0 {
            let _ = connection.close().await;
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("a killed client's session on {url} was still running after 10 s");
}

/// `url` with its database name replaced by `name`.
pub fn replace_database(url: &str, name: &str) -> String {
    let (base, rest) = url
        .rsplit_once('/')
        .expect("a PostgreSQL URL with a database");
    match rest.split_once('?') {
        Some((_, query)) => format!("{base}/{name}?{query}"),
        None => format!("{base}/{name}"),
    }
}

/// Unique across the processes and tests of one machine.
fn unique_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{SystemTime, UNIX_EPOCH};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_nanos();
    format!(
        "{}_{}_{}",
        std::process::id(),
        nanos % 1_000_000_000_000,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_name_is_replaced_keeping_the_query() {
        assert_eq!(
            replace_database("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(
            replace_database("postgres://u@h/db?sslmode=disable", "t2"),
            "postgres://u@h/t2?sslmode=disable"
        );
    }
}
