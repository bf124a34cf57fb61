//! Building batched statements: multi-row VALUES lists and IN lists, written
//! with numbered placeholders (`$1`, `$2`, …) and turned into SQLite's
//! anonymous `?` for SQLite, whose lookup of numbered parameters by name is
//! quadratic in their count (thousands per batch).

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AssertSqlSafe};

/// Rows per statement: well within SQLite's 32,766 and PostgreSQL's 65,535
/// bind parameters for the widest row here (10 columns).
pub(crate) const BATCH_ROWS: usize = 1000;

/// `($1,$2,$3),($4,$5,$6)` for `rows` rows of `columns` values, numbering
/// from `first`.
pub(crate) fn values_rows(rows: usize, columns: usize, first: usize) -> String {
    let mut sql = String::with_capacity(rows * columns * 5);
    for row in 0..rows {
        if row > 0 {
            sql.push(',');
        }
        sql.push('(');
        for column in 0..columns {
            if column > 0 {
                sql.push(',');
            }
            sql.push('$');
            sql.push_str(&(first + row * columns + column).to_string());
        }
        sql.push(')');
    }
    sql
}

/// `$2,$3,$4` for an IN list of `count` values numbered from `first`.
pub(crate) fn in_list(count: usize, first: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The statement for `connection`'s backend. Every batched statement binds
/// its parameters once each, in the order of their numbers, so for SQLite
/// `$N` can become `?`. The text is built from fixed fragments and
/// placeholders only, never from data.
pub(crate) fn statement(connection: &AnyConnection, sql: String) -> AssertSqlSafe<String> {
    if connection.backend_name() == "SQLite" {
        AssertSqlSafe(positional(&sql))
    } else {
        AssertSqlSafe(sql)
    }
}

/// Run `sql` with its `{keys}` replaced by an IN list of `keys`, numbered
/// after `$1` = `first` when there is one. `keys` must be at most
/// [`BATCH_ROWS`] long.
pub(crate) async fn fetch_with_keys<'k>(
    connection: &mut AnyConnection,
    sql: &str,
    first: Option<&'k str>,
    keys: impl ExactSizeIterator<Item = &'k str>,
) -> Result<Vec<AnyRow>, sqlx::Error> {
    let start = if first.is_some() { 2 } else { 1 };
    let sql = sql.replace("{keys}", &in_list(keys.len(), start));
    let mut query = sqlx::query(statement(connection, sql));
    if let Some(first) = first {
        query = query.bind(first);
    }
    for key in keys {
        query = query.bind(key);
    }
    query.fetch_all(connection).await
}

/// `$1`, `$2`, … → `?`.
fn positional(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            while chars.peek().is_some_and(char::is_ascii_digit) {
                chars.next();
            }
            out.push('?');
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_across_rows() {
        assert_eq!(values_rows(2, 3, 1), "($1,$2,$3),($4,$5,$6)");
        assert_eq!(values_rows(1, 2, 4), "($4,$5)");
        assert_eq!(in_list(3, 2), "$2,$3,$4");
    }

    #[test]
    fn numbered_placeholders_become_positional() {
        assert_eq!(
            positional("SELECT a FROM t WHERE s = $1 AND r IN ($2,$3) AND x = 'a$b'"),
            "SELECT a FROM t WHERE s = ? AND r IN (?,?) AND x = 'a$b'"
        );
    }
}
