//! Infrastructure errors of the store. The domain's rule violations are not here:
//! they are the aggregates' own `Error` types, carried by
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
    /// Whether a database error means "the database cannot be reached right now".
    pub fn is_unreachable(error: &sqlx::Error) -> bool {
        matches!(
            error,
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::Tls(_)
        )
    }
}
