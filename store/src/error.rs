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
    ///
    /// Besides a connection that cannot be had, Postgres says so itself on a connection
    /// it is closing: when it shuts down or restarts it ends every session with
    /// `57P01 admin_shutdown` (or `57P02 crash_shutdown`), and while starting it refuses
    /// with `57P03 cannot_connect_now`; `08…` are connection exceptions and `53300` too
    /// many connections. A pooled connection learns of a restart only when it is next
    /// used, so these are what the first requests after a restart meet (the fault soak,
    /// `bench -- soak`, saw them answered 500 before they were counted here).
    pub fn is_unreachable(error: &sqlx::Error) -> bool {
        match error {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_) => true,
            sqlx::Error::Database(error) => error
                .code()
                .is_some_and(|code| code.starts_with("08") || code.starts_with("57P") || code == "53300"),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;
    use std::error::Error as StdError;

    /// A database error with only a SQLSTATE, as the server sends it.
    #[derive(Debug)]
    struct Sqlstate(&'static str);

    impl std::fmt::Display for Sqlstate {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "SQLSTATE {}", self.0)
        }
    }

    impl StdError for Sqlstate {}

    impl sqlx::error::DatabaseError for Sqlstate {
        fn message(&self) -> &str {
            self.0
        }
        fn code(&self) -> Option<Cow<'_, str>> {
            Some(Cow::Borrowed(self.0))
        }
        fn as_error(&self) -> &(dyn StdError + Send + Sync + 'static) {
            self
        }
        fn as_error_mut(&mut self) -> &mut (dyn StdError + Send + Sync + 'static) {
            self
        }
        fn into_error(self: Box<Self>) -> Box<dyn StdError + Send + Sync + 'static> {
            self
        }
        fn kind(&self) -> sqlx::error::ErrorKind {
            sqlx::error::ErrorKind::Other
        }
    }

    fn database_error(code: &'static str) -> sqlx::Error {
        sqlx::Error::Database(Box::new(Sqlstate(code)))
    }

    #[test]
    fn a_server_shutting_down_or_starting_is_unreachable() {
        for code in ["57P01", "57P02", "57P03", "08006", "53300"] {
            assert!(StoreError::is_unreachable(&database_error(code)), "{code}");
        }
        assert!(StoreError::is_unreachable(&sqlx::Error::PoolTimedOut));
    }

    #[test]
    fn errors_about_the_statement_or_the_data_are_not() {
        // unique violation, undefined column, serialization failure
        for code in ["23505", "42703", "40001"] {
            assert!(!StoreError::is_unreachable(&database_error(code)), "{code}");
        }
        assert!(!StoreError::is_unreachable(&sqlx::Error::RowNotFound));
    }
}
