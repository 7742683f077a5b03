//! The tracking view, fed by integration events: which campaigns are active, which partners
//! take part in which campaign, which partners are barred.
//!
//! [`apply`] is idempotent on the event id (the event's row in the applied events is
//! inserted in the same transaction as its effect) and insensitive to order across
//! deliveries: every fact keeps the aggregate sequence of the event that set it and only a
//! later event replaces it (see the migrations `20261122100001_create_tracking_schema.sql`).
//! The logic is written once; only the statements differ per backend (`ViewStatements`).

use contract::v1::{CampaignEvent, CloudEvent, IntegrationEvent, PartnerEvent};
use sqlx::{PgConnection, SqliteConnection};
use store::Database;

use crate::storage::sql;

/// What applying an event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// First delivery: the view changed (if the event matters to it).
    Applied,
    /// Applied before: nothing changed.
    Duplicate,
}

/// Applies one integration event, exactly once, in one transaction (on SQLite, one write
/// through this process's writer turn).
#[tracing::instrument(skip_all, fields(event_id = %event.id, event_type = %event.event_type, subject = %event.subject))]
pub async fn apply(
    database: &Database,
    subscription: &str,
    event: &CloudEvent<IntegrationEvent>,
) -> Result<Applied, sqlx::Error> {
    match database {
        Database::Postgres(pool) => {
            let mut transaction = pool.begin().await?;
            let applied = apply_in(&mut *transaction, subscription, event).await?;
            transaction.commit().await?;
            Ok(applied)
        }
        Database::Sqlite(db) => {
            let mut write = db.begin_write().await?;
            let applied = apply_in(&mut *write, subscription, event).await?;
            write.commit().await?;
            Ok(applied)
        }
    }
}

/// The logic of [`apply`], the same on both backends: claim the event id; a duplicate
/// only counts as one; a first delivery changes the view and the counters.
async fn apply_in(
    connection: &mut impl ViewStatements,
    subscription: &str,
    event: &CloudEvent<IntegrationEvent>,
) -> Result<Applied, sqlx::Error> {
    if !connection.claim(event).await? {
        connection.count_duplicate(subscription).await?;
        tracing::debug!("duplicate ignored");
        return Ok(Applied::Duplicate);
    }
    change_view(connection, &event.data, event.aggregatesequence).await?;
    connection.count_applied(subscription, event).await?;
    Ok(Applied::Applied)
}

async fn change_view(
    connection: &mut impl ViewStatements,
    event: &IntegrationEvent,
    sequence: i64,
) -> Result<(), sqlx::Error> {
    match event {
        IntegrationEvent::Campaign(event) => {
            let campaign_id = event.campaign_id();
            let status = match event {
                CampaignEvent::Created(_) => Some("draft"),
                CampaignEvent::Activated(_) | CampaignEvent::Resumed(_) => Some("active"),
                CampaignEvent::Paused(_) => Some("paused"),
                CampaignEvent::Completed(_) => Some("completed"),
                CampaignEvent::Cancelled(_) => Some("cancelled"),
                CampaignEvent::ParticipantAdded(added) => {
                    return connection
                        .set_participant(campaign_id, &added.partner_id, true, sequence)
                        .await
                }
                CampaignEvent::ParticipantRemoved(removed) => {
                    return connection
                        .set_participant(campaign_id, &removed.partner_id, false, sequence)
                        .await
                }
                // Budget and schedule do not decide what may be tracked.
                CampaignEvent::BudgetChanged(_) | CampaignEvent::Rescheduled(_) => None,
            };
            if let Some(status) = status {
                connection
                    .set_campaign_status(campaign_id, status, sequence)
                    .await?;
            }
        }
        IntegrationEvent::Partner(event) => {
            let status = match event {
                PartnerEvent::Registered(_) | PartnerEvent::Reinstated(_) => Some("active"),
                PartnerEvent::Suspended(_) => Some("suspended"),
                PartnerEvent::Deactivated(_) => Some("deactivated"),
                PartnerEvent::ProfileUpdated(_) => None,
            };
            if let Some(status) = status {
                connection
                    .set_partner_status(event.partner_id(), status, sequence)
                    .await?;
            }
        }
    }
    Ok(())
}

/// The statements that apply an event, on one backend's connection inside a transaction:
/// the same statements with each backend's SQL and types.
trait ViewStatements {
    /// Inserts the event's row in the applied events: `false` if it was there already.
    async fn claim(&mut self, event: &CloudEvent<IntegrationEvent>) -> Result<bool, sqlx::Error>;
    async fn count_duplicate(&mut self, subscription: &str) -> Result<(), sqlx::Error>;
    async fn count_applied(
        &mut self,
        subscription: &str,
        event: &CloudEvent<IntegrationEvent>,
    ) -> Result<(), sqlx::Error>;
    async fn set_campaign_status(
        &mut self,
        campaign_id: &str,
        status: &str,
        sequence: i64,
    ) -> Result<(), sqlx::Error>;
    async fn set_participant(
        &mut self,
        campaign_id: &str,
        partner_id: &str,
        taking_part: bool,
        sequence: i64,
    ) -> Result<(), sqlx::Error>;
    async fn set_partner_status(
        &mut self,
        partner_id: &str,
        status: &str,
        sequence: i64,
    ) -> Result<(), sqlx::Error>;
}

/// Implements [`ViewStatements`] for a backend: its connection type, its SQL directory, and
/// how it binds an event id (Postgres `uuid`, SQLite hyphenated text).
macro_rules! view_statements {
    ($connection:ty, $backend:tt, $event_id:expr) => {
        impl ViewStatements for $connection {
            async fn claim(&mut self, event: &CloudEvent<IntegrationEvent>) -> Result<bool, sqlx::Error> {
                let inserted = sqlx::query(sql!($backend, "record_applied_event"))
                    .bind($event_id(event.id))
                    .bind(&event.event_type)
                    .bind(&event.subject)
                    .execute(&mut *self)
                    .await?
                    .rows_affected();
                Ok(inserted == 1)
            }

            async fn count_duplicate(&mut self, subscription: &str) -> Result<(), sqlx::Error> {
                sqlx::query(sql!($backend, "count_duplicate"))
                    .bind(subscription)
                    .execute(&mut *self)
                    .await?;
                Ok(())
            }

            async fn count_applied(
                &mut self,
                subscription: &str,
                event: &CloudEvent<IntegrationEvent>,
            ) -> Result<(), sqlx::Error> {
                sqlx::query(sql!($backend, "count_applied_event"))
                    .bind(subscription)
                    .bind($event_id(event.id))
                    .bind(&event.event_type)
                    .bind(&event.subject)
                    .execute(&mut *self)
                    .await?;
                Ok(())
            }

            async fn set_campaign_status(
                &mut self,
                campaign_id: &str,
                status: &str,
                sequence: i64,
            ) -> Result<(), sqlx::Error> {
                sqlx::query(sql!($backend, "set_campaign_status"))
                    .bind(campaign_id)
                    .bind(status)
                    .bind(sequence)
                    .execute(&mut *self)
                    .await?;
                Ok(())
            }

            async fn set_participant(
                &mut self,
                campaign_id: &str,
                partner_id: &str,
                taking_part: bool,
                sequence: i64,
            ) -> Result<(), sqlx::Error> {
                sqlx::query(sql!($backend, "set_participant"))
                    .bind(campaign_id)
                    .bind(partner_id)
                    .bind(taking_part)
                    .bind(sequence)
                    .execute(&mut *self)
                    .await?;
                Ok(())
            }

            async fn set_partner_status(
                &mut self,
                partner_id: &str,
                status: &str,
                sequence: i64,
            ) -> Result<(), sqlx::Error> {
                sqlx::query(sql!($backend, "set_partner_status"))
                    .bind(partner_id)
                    .bind(status)
                    .bind(sequence)
                    .execute(&mut *self)
                    .await?;
                Ok(())
            }
        }
    };
}

view_statements!(PgConnection, postgres, |id: uuid::Uuid| id);
view_statements!(SqliteConnection, sqlite, |id: uuid::Uuid| id.hyphenated());

/// Whether a database error is the event's own fault (a value it carries that the
/// database refuses, a constraint it breaks): retrying cannot help, so the message goes
/// the redeliver-then-dead-letter way. Every other error (connection lost, server
/// restarting or read-only during a failover, permissions, a missing table after a
/// bad deploy, a lock timeout, a full disk) is the database's, and the event is retried
/// until it goes through: dead-lettering a good event would leave the view wrong for
/// good.
pub fn is_caused_by_the_event(error: &sqlx::Error) -> bool {
    let sqlx::Error::Database(error) = error else {
        return false;
    };
    if error.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        // Extended result codes: the primary code is the low byte. 18 TOOBIG,
        // 19 CONSTRAINT, 20 MISMATCH (a value of the wrong type). Not 25 RANGE: that is
        // a parameter-binding bug of ours, not the event's data.
        return error
            .code()
            .and_then(|code| code.parse::<i32>().ok())
            .is_some_and(|code| matches!(code & 0xff, 18..=20));
    }
    // Postgres SQLSTATE: 22 data exception, 23 integrity constraint violation.
    error
        .code()
        .is_some_and(|code| code.starts_with("22") || code.starts_with("23"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The error the last statement gives on a new in-memory SQLite database, after the
    /// others (one connection: `PRAGMA`s hold for it).
    async fn sqlite_error(statements: &[&str]) -> sqlx::Error {
        use sqlx::Connection;
        let mut connection = sqlx::SqliteConnection::connect("sqlite::memory:").await.unwrap();
        let (failing, setup) = statements.split_last().unwrap();
        for statement in setup {
            sqlx::query(statement).execute(&mut connection).await.unwrap();
        }
        sqlx::query(failing).execute(&mut connection).await.unwrap_err()
    }

    #[tokio::test]
    async fn on_sqlite_broken_constraints_are_the_events_fault_and_the_rest_the_databases() {
        let table = "CREATE TABLE t (x text NOT NULL UNIQUE CHECK (x <> 'bad')) STRICT";
        for refused in [
            "INSERT INTO t VALUES (NULL)",
            "INSERT INTO t VALUES ('bad')",
            "INSERT INTO t VALUES (x'00ff')", // a blob in a STRICT text column
        ] {
            let error = sqlite_error(&[table, refused]).await;
            assert!(is_caused_by_the_event(&error), "{refused}: {error}");
        }
        let duplicate =
            sqlite_error(&[table, "INSERT INTO t VALUES ('a')", "INSERT INTO t VALUES ('a')"]).await;
        assert!(is_caused_by_the_event(&duplicate), "{duplicate}");

        let missing_table = sqlite_error(&["INSERT INTO nowhere VALUES (1)"]).await;
        assert!(!is_caused_by_the_event(&missing_table), "{missing_table}");
        let read_only = sqlite_error(&[table, "PRAGMA query_only = ON", "INSERT INTO t VALUES ('a')"]).await;
        assert!(!is_caused_by_the_event(&read_only), "{read_only}");
        assert!(!is_caused_by_the_event(&sqlx::Error::PoolTimedOut));
    }
}
