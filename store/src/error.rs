//! Infrastructure errors of the store, and the one place that tells database errors
//! apart ([`DbFault::of`]). The domain's rule violations are not here: they are the
//! aggregates' own `Error` types, carried by
//! [`CommandError::Domain`](crate::CommandError::Domain).

/// Something went wrong below the domain: the database, a stored event that no
/// longer deserialises, a migration. Never caused by a client's input; the API logs
/// it and answers with an opaque 500 or 503.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// The database could not be reached (down, or no connection free in time).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("event store error: {0}")]
    EventStore(String),
}

impl StoreError {
    /// Whether the database could not be reached (the API answers 503, not 500).
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Unavailable(_) => true,
            StoreError::Database(error) => DbFault::of(error) == DbFault::Unavailable,
            _ => false,
        }
    }
}

/// Whose fault a database error is, which decides what its caller does: wait and
/// retry, lose a race, or give up on the data. Every layer (the event log's append,
/// the projectors, the tracking consumers, the API's status codes) asks this one
/// function, so a SQLSTATE or a SQLite result code is interpreted in one place
/// (each backend's codes in its own folder: `postgres/mod.rs`, `sqlite/mod.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbFault {
    /// The database cannot be reached right now (down, restarting, no connection free
    /// in time, its write lock held too long): the same statement may succeed later.
    Unavailable,
    /// A unique key refused the row: somebody else wrote it first. `constraint` names
    /// what: the constraint on Postgres (`events_pkey`), the `table.column` list on
    /// SQLite (`events.aggregate_type, events.aggregate_id, events.sequence`).
    Conflict { constraint: String },
    /// The database refused the data itself (a value it cannot store, a NOT NULL or
    /// CHECK violated, a value of the wrong type): retrying cannot help. For a
    /// consumer of events, the event's fault.
    Data,
    /// Anything else: a statement's bug, a missing table after a bad deploy, a lost
    /// connection mid-transaction.
    Other,
}

impl DbFault {
    pub fn of(error: &sqlx::Error) -> DbFault {
        match error {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_) => DbFault::Unavailable,
            sqlx::Error::Database(error) => crate::postgres::fault_of(error.as_ref())
                .or_else(|| crate::sqlite::fault_of(error.as_ref()))
                .unwrap_or(DbFault::Other),
            sqlx::Error::Decode(_) | sqlx::Error::ColumnDecode { .. } => DbFault::Data,
            _ => DbFault::Other,
        }
    }

    /// Whether the data is at fault (refused, or conflicting with a row already
    /// there): for a consumer, the event it applies cannot be applied as it is.
    pub fn is_the_datas(&self) -> bool {
        matches!(self, DbFault::Data | DbFault::Conflict { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::Connection;
    use test_support::TestDb;

    /// The error of the last statement, after the others, on one connection.
    async fn postgres_error(connection: &mut sqlx::PgConnection, statements: &[&str]) -> sqlx::Error {
        let (failing, setup) = statements.split_last().unwrap();
        for statement in setup {
            sqlx::query(statement).execute(&mut *connection).await.unwrap();
        }
        sqlx::query(failing).execute(connection).await.unwrap_err()
    }

    async fn sqlite_error(statements: &[&str]) -> sqlx::Error {
        let mut connection = sqlx::SqliteConnection::connect("sqlite::memory:").await.unwrap();
        let (failing, setup) = statements.split_last().unwrap();
        for statement in setup {
            sqlx::query(statement).execute(&mut connection).await.unwrap();
        }
        sqlx::query(failing).execute(&mut connection).await.unwrap_err()
    }

    #[tokio::test]
    async fn postgres_errors_are_told_apart_by_sqlstate_on_postgres() {
        let test = TestDb::postgres().await;
        let mut connection = sqlx::PgConnection::connect(&test.url).await.unwrap();
        let table = "CREATE TABLE t (k text CONSTRAINT t_key PRIMARY KEY, n integer NOT NULL CHECK (n > 0))";
        let fault = DbFault::of(
            &postgres_error(
                &mut connection,
                &[
                    table,
                    "INSERT INTO t VALUES ('a', 1)",
                    "INSERT INTO t VALUES ('a', 2)",
                ],
            )
            .await,
        );
        assert_eq!(
            fault,
            DbFault::Conflict {
                constraint: "t_key".into()
            }
        );
        for refused in [
            "INSERT INTO t VALUES ('b', NULL)",
            "INSERT INTO t VALUES ('b', 0)",
            "INSERT INTO t VALUES ('b', 'x')",
        ] {
            let error = postgres_error(&mut connection, &[refused]).await;
            assert_eq!(DbFault::of(&error), DbFault::Data, "{refused}: {error}");
        }
        for broken in ["INSERT INTO nowhere VALUES (1)", "SELEKT 1"] {
            let error = postgres_error(&mut connection, &[broken]).await;
            assert_eq!(DbFault::of(&error), DbFault::Other, "{broken}: {error}");
        }
        // A server that ends the session (as on a restart: 57P01 admin_shutdown).
        let error = postgres_error(
            &mut connection,
            &["SELECT pg_terminate_backend(pg_backend_pid())"],
        )
        .await;
        assert_eq!(DbFault::of(&error), DbFault::Unavailable, "{error}");
        assert_eq!(DbFault::of(&sqlx::Error::PoolTimedOut), DbFault::Unavailable);
    }

    #[tokio::test]
    async fn sqlite_errors_are_told_apart_by_result_code() {
        let table = "CREATE TABLE t (x text NOT NULL UNIQUE CHECK (x <> 'bad')) STRICT";
        for refused in [
            "INSERT INTO t VALUES (NULL)",
            "INSERT INTO t VALUES ('bad')",
            "INSERT INTO t VALUES (x'00ff')", // a blob in a STRICT text column
        ] {
            let error = sqlite_error(&[table, refused]).await;
            assert_eq!(DbFault::of(&error), DbFault::Data, "{refused}: {error}");
        }
        let duplicate =
            sqlite_error(&[table, "INSERT INTO t VALUES ('a')", "INSERT INTO t VALUES ('a')"]).await;
        assert_eq!(
            DbFault::of(&duplicate),
            DbFault::Conflict {
                constraint: "t.x".into()
            }
        );
        assert!(DbFault::of(&duplicate).is_the_datas());

        let missing_table = sqlite_error(&["INSERT INTO nowhere VALUES (1)"]).await;
        assert_eq!(DbFault::of(&missing_table), DbFault::Other, "{missing_table}");
        let read_only = sqlite_error(&[table, "PRAGMA query_only = ON", "INSERT INTO t VALUES ('a')"]).await;
        assert!(!DbFault::of(&read_only).is_the_datas(), "{read_only}");
    }
}
