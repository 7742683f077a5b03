//! What differs between the storage backends, and nothing else: a connection of
//! either backend ([`ViewConnection`]), a write transaction of either
//! ([`WriteTransaction`]), and statements written in both dialects ([`Sql`]).
//!
//! The projection logic (folds, batching, checkpoints, poison handling, rebuilds,
//! queries) is written once against these; only the statement text and the way
//! parameters are bound differ per backend.

use sqlx::{Connection, PgConnection, Postgres, Sqlite, SqliteConnection, Transaction};
use store::database::{Database, SqliteWrite};
use store::reader::{self, LogCursor, RecordedEvent};

/// One statement in each backend's dialect: `sql/postgres/NAME` and `sql/sqlite/NAME`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sql {
    pub postgres: &'static str,
    pub sqlite: &'static str,
}

/// The [`Sql`] pair of a file name, both halves embedded at compile time (a statement
/// missing in one dialect does not build).
macro_rules! sql {
    ($file:literal) => {
        $crate::backend::Sql {
            postgres: include_str!(concat!("../sql/postgres/", $file)),
            sqlite: include_str!(concat!("../sql/sqlite/", $file)),
        }
    };
}
pub(crate) use sql;

/// A connection to the database of either backend, borrowed for a few statements:
/// what a [`crate::Projection`] applies a batch through, inside the caller's
/// transaction.
pub enum ViewConnection<'c> {
    Postgres(&'c mut PgConnection),
    Sqlite(&'c mut SqliteConnection),
}

impl ViewConnection<'_> {
    /// The same connection, borrowed again for one more call (the enum holds a
    /// `&mut`, which a call would otherwise consume).
    pub fn reborrow(&mut self) -> ViewConnection<'_> {
        match self {
            ViewConnection::Postgres(conn) => ViewConnection::Postgres(conn),
            ViewConnection::Sqlite(conn) => ViewConnection::Sqlite(conn),
        }
    }

    /// A nested transaction (a savepoint): a failed statement can be undone without
    /// losing what the enclosing transaction did.
    pub(crate) async fn savepoint(&mut self) -> Result<Savepoint<'_>, sqlx::Error> {
        Ok(match self {
            ViewConnection::Postgres(conn) => Savepoint::Postgres(Connection::begin(&mut **conn).await?),
            ViewConnection::Sqlite(conn) => Savepoint::Sqlite(Connection::begin(&mut **conn).await?),
        })
    }

    /// The next `limit` events of the log after `cursor`, read on this connection (so
    /// inside its transaction: a rebuild's final catch-up sees exactly what it swaps).
    pub(crate) async fn read_log(
        &mut self,
        cursor: LogCursor,
        limit: i64,
    ) -> Result<Vec<RecordedEvent>, sqlx::Error> {
        match self {
            ViewConnection::Postgres(conn) => reader::read_after_pg(&mut **conn, cursor, limit).await,
            ViewConnection::Sqlite(conn) => reader::read_after_sqlite(conn, cursor, limit).await,
        }
    }

    /// Runs a statement whose only parameter is a list of ids (`{table}` replaced):
    /// a `text[]` on Postgres, a JSON array on SQLite (read with `json_each`).
    pub(crate) async fn execute_with_ids(
        &mut self,
        sql: Sql,
        table: &str,
        ids: &[&str],
    ) -> Result<(), sqlx::Error> {
        match self {
            ViewConnection::Postgres(conn) => {
                sqlx::query(&sql.postgres.replace("{table}", table))
                    .bind(ids)
                    .execute(&mut **conn)
                    .await?;
            }
            ViewConnection::Sqlite(conn) => {
                sqlx::query(&sql.sqlite.replace("{table}", table))
                    .bind(json_text(&ids)?)
                    .execute(&mut **conn)
                    .await?;
            }
        }
        Ok(())
    }
}

/// JSON text of a value, for a SQLite parameter read with the JSON functions.
pub(crate) fn json_text(value: &impl serde::Serialize) -> Result<String, sqlx::Error> {
    serde_json::to_string(value).map_err(|error| sqlx::Error::Encode(Box::new(error)))
}

/// A nested transaction of either backend (see [`ViewConnection::savepoint`]).
pub(crate) enum Savepoint<'c> {
    Postgres(Transaction<'c, Postgres>),
    Sqlite(Transaction<'c, Sqlite>),
}

impl Savepoint<'_> {
    pub(crate) fn connection(&mut self) -> ViewConnection<'_> {
        match self {
            Savepoint::Postgres(tx) => ViewConnection::Postgres(tx),
            Savepoint::Sqlite(tx) => ViewConnection::Sqlite(tx),
        }
    }

    pub(crate) async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            Savepoint::Postgres(tx) => tx.commit().await,
            Savepoint::Sqlite(tx) => tx.commit().await,
        }
    }

    pub(crate) async fn rollback(self) -> Result<(), sqlx::Error> {
        match self {
            Savepoint::Postgres(tx) => tx.rollback().await,
            Savepoint::Sqlite(tx) => tx.rollback().await,
        }
    }
}

/// A transaction that writes, on either backend. On SQLite it is taken through
/// [`store::database::SqliteDb::begin_write`], the one way any SQLite write starts (it
/// queues this process's writers, then takes SQLite's write lock at `BEGIN`). Dropped
/// without [`WriteTransaction::commit`], it rolls back.
pub(crate) enum WriteTransaction {
    Postgres(Transaction<'static, Postgres>),
    Sqlite(SqliteWrite),
}

impl WriteTransaction {
    pub(crate) async fn begin(db: &Database) -> Result<WriteTransaction, sqlx::Error> {
        Ok(match db {
            Database::Postgres(pool) => {
                WriteTransaction::Postgres(pool.begin_with(include_str!("../sql/postgres/begin.sql")).await?)
            }
            Database::Sqlite(sqlite) => WriteTransaction::Sqlite(sqlite.begin_write().await?),
        })
    }

    pub(crate) fn connection(&mut self) -> ViewConnection<'_> {
        match self {
            WriteTransaction::Postgres(tx) => ViewConnection::Postgres(tx),
            WriteTransaction::Sqlite(tx) => ViewConnection::Sqlite(tx),
        }
    }

    pub(crate) async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            WriteTransaction::Postgres(tx) => tx.commit().await,
            WriteTransaction::Sqlite(tx) => tx.commit().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_support::TestDb;

    async fn setting(connection: &mut sqlx::PgConnection, name: &str) -> String {
        sqlx::query_scalar(&format!("SHOW {name}"))
            .fetch_one(connection)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_projector_transaction_commits_without_waiting_for_the_disk_and_leaves_its_connection_as_it_was_on_postgres(
    ) {
        // Arrange: one connection, so the transaction and what follows share it.
        let test = TestDb::postgres().await;
        let pool = store::connect_lazy(test.url.parse().unwrap(), 1);
        let db = Database::from(pool.clone());

        for commit in [true, false] {
            // Act
            let mut transaction = WriteTransaction::begin(&db).await.unwrap();
            let WriteTransaction::Postgres(tx) = &mut transaction else {
                unreachable!("a Postgres database begins Postgres transactions")
            };
            let inside = (
                setting(tx, "synchronous_commit").await,
                setting(tx, "enable_seqscan").await,
            );
            if commit {
                transaction.commit().await.unwrap();
            } else {
                drop(transaction);
            }
            let mut after = pool.acquire().await.unwrap();
            let outside = (
                setting(&mut after, "synchronous_commit").await,
                setting(&mut after, "enable_seqscan").await,
            );

            // Assert: both settings hold for the batch only; the commands' appends on
            // the same pooled connection still commit durably.
            assert_eq!(inside, ("off".to_owned(), "off".to_owned()));
            assert_eq!(
                outside,
                ("on".to_owned(), "on".to_owned()),
                "after commit={commit}"
            );
        }
    }
}
