//! PostgreSQL (`DATABASE_URL`): the connection pool, the schema and its
//! migrations, and what a failure means.
//!
//! When `DATABASE_URL` is set, the appointments of the built-in calendar,
//! the call log, the messages and the reminders live in one PostgreSQL
//! database, in the schema [`SCHEMA`], so several instances behind a load
//! balancer share them. The stores themselves (`calendar::postgres`,
//! `session::archive`, `messages`, `reminders`) own their SQL; this module
//! only hands out connections.
//!
//! Guarantees every store relies on:
//! - **Bounded waits.** Every operation runs under [`QUERY_TIMEOUT`] (waiting
//!   for a connection included), well inside Twilio's 15 s per webhook; a
//!   server that does not answer is [`PgError::Timeout`], never a hang.
//! - **Typed failures.** A server that is down, restarting or unreachable is
//!   [`PgError::Unavailable`] (a REST route answers 503, the caller hears an
//!   apology); anything else the server refuses is [`PgError::Query`].
//! - **Reconnection.** Pooled connections that the server closed (a restart)
//!   are dropped when next taken and replaced by new ones, so service
//!   resumes by itself once the server is back.
//! - **Durability.** Every write is committed (the server's
//!   `synchronous_commit`) before the store returns, so an acknowledged
//!   booking, message or ended call is on the server before anyone hears of
//!   it.
//! - **One schema version.** [`Postgres::connect`] creates or migrates the
//!   schema under an advisory lock, idempotently: instances starting
//!   together apply each migration once, recorded in
//!   `frontdesk.schema_version`.
//!
//! TLS: `sslmode=require` in the URL connects through rustls and checks the
//! server's certificate against the system's trusted roots (stricter than
//! libpq's `require`, which does not check it); `disable` or `prefer` (the
//! default) connect without TLS.

use std::{future::Future, sync::Arc, time::Duration};

use deadpool_postgres::{
    Manager, ManagerConfig, Object, Pool, PoolError, RecyclingMethod, Runtime,
};
use tokio_postgres::{
    NoTls,
    config::SslMode,
    error::{DbError, SqlState},
};

/// The PostgreSQL schema (namespace) every table lives in.
pub const SCHEMA: &str = "frontdesk";

/// The longest any one store operation may take, waiting for a connection
/// included: well under Twilio's 15 s per webhook, so a caller still hears
/// an apology in time when the database does not answer.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(3);

/// How many connections one instance keeps at most.
const POOL_SIZE: usize = 16;

/// What a PostgreSQL operation can fail with.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PgError {
    /// The server is down, restarting, refusing connections or unreachable.
    #[error("PostgreSQL is unavailable: {0}")]
    Unavailable(String),
    /// The server did not answer within [`QUERY_TIMEOUT`].
    #[error("PostgreSQL did not answer within {} s", QUERY_TIMEOUT.as_secs())]
    Timeout,
    /// The server refused a statement.
    #[error("PostgreSQL: {}", describe(.0))]
    Query(#[source] Arc<tokio_postgres::Error>),
    /// `DATABASE_URL` cannot be used as it is.
    #[error("DATABASE_URL: {0}")]
    Config(String),
}

impl PgError {
    /// Whether the database as a whole is out of reach (a 503, not a 500).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable(_) | Self::Timeout)
    }

    /// The server's error, when it refused a statement.
    pub fn db_error(&self) -> Option<&DbError> {
        match self {
            Self::Query(e) => e.as_db_error(),
            _ => None,
        }
    }

    /// Whether the server refused a statement with `state`.
    pub fn is(&self, state: &SqlState) -> bool {
        self.db_error().is_some_and(|e| e.code() == state)
    }
}

/// The server's own words for an error (its code and message), which the
/// client error's `Display` leaves out.
fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => e.to_string(),
    }
}

impl From<tokio_postgres::Error> for PgError {
    fn from(e: tokio_postgres::Error) -> Self {
        let lost = match e.as_db_error() {
            // No answer from a server at all: I/O, a closed connection, TLS.
            None => true,
            // Connection exceptions, operator intervention (shutdown, restart),
            // insufficient resources (too many connections, disk full).
            Some(db) => ["08", "57", "53"]
                .iter()
                .any(|class| db.code().code().starts_with(class)),
        };
        if lost || e.is_closed() {
            Self::Unavailable(e.to_string())
        } else {
            Self::Query(Arc::new(e))
        }
    }
}

impl From<PoolError> for PgError {
    fn from(e: PoolError) -> Self {
        match e {
            PoolError::Backend(e) => Self::Unavailable(e.to_string()),
            PoolError::Timeout(_) => Self::Timeout,
            other => Self::Unavailable(other.to_string()),
        }
    }
}

/// A pool of connections to the configured database.
#[derive(Clone)]
pub struct Postgres {
    pool: Pool,
}

impl std::fmt::Debug for Postgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Postgres").finish_non_exhaustive()
    }
}

impl Postgres {
    /// Connects to `url` and creates or migrates the schema. Fails when the
    /// server cannot be reached within [`QUERY_TIMEOUT`] or refuses the
    /// migration, so a misconfigured instance does not start.
    pub async fn connect(url: &str) -> Result<Self, PgError> {
        let db = Self::pool(url)?;
        db.migrate().await?;
        Ok(db)
    }

    /// A pool for `url` without touching the server (connections are made
    /// when first needed).
    pub fn pool(url: &str) -> Result<Self, PgError> {
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e: tokio_postgres::Error| PgError::Config(e.to_string()))?;
        config.connect_timeout(QUERY_TIMEOUT);
        config.keepalives(true);
        config.keepalives_idle(Duration::from_secs(30));
        if config.get_application_name().is_none() {
            config.application_name("frontdesk");
        }
        let manager_config = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let manager = match config.get_ssl_mode() {
            SslMode::Require => Manager::from_config(config, tls()?, manager_config),
            _ => Manager::from_config(config, NoTls, manager_config),
        };
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(QUERY_TIMEOUT))
            .create_timeout(Some(QUERY_TIMEOUT))
            .recycle_timeout(Some(QUERY_TIMEOUT))
            .build()
            .map_err(|e| PgError::Config(e.to_string()))?;
        Ok(Self { pool })
    }

    /// A connection from the pool (a new one when the pooled ones were
    /// closed by the server).
    pub async fn client(&self) -> Result<Object, PgError> {
        Ok(self.pool.get().await?)
    }

    /// Runs `op` under [`QUERY_TIMEOUT`].
    pub async fn timed<T>(
        &self,
        op: impl Future<Output = Result<T, PgError>>,
    ) -> Result<T, PgError> {
        tokio::time::timeout(QUERY_TIMEOUT, op)
            .await
            .unwrap_or(Err(PgError::Timeout))
    }

    /// Creates the schema or brings it to the latest version. Idempotent,
    /// and safe when several instances start at once (they queue on an
    /// advisory lock; each migration runs once, in its own transaction with
    /// its version row).
    pub async fn migrate(&self) -> Result<(), PgError> {
        self.timed(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
                .await?;
            tx.batch_execute(&format!(
                "CREATE SCHEMA IF NOT EXISTS {SCHEMA};
                 CREATE TABLE IF NOT EXISTS {SCHEMA}.schema_version (
                     version    integer PRIMARY KEY,
                     applied_at timestamptz NOT NULL DEFAULT now()
                 );"
            ))
            .await?;
            let current: i32 = tx
                .query_one(
                    &format!("SELECT coalesce(max(version), 0) FROM {SCHEMA}.schema_version"),
                    &[],
                )
                .await?
                .get(0);
            for (version, sql) in MIGRATIONS.iter().enumerate() {
                let version = i32::try_from(version + 1).unwrap_or(i32::MAX);
                if version <= current {
                    continue;
                }
                tx.batch_execute(sql).await?;
                tx.execute(
                    &format!("INSERT INTO {SCHEMA}.schema_version (version) VALUES ($1)"),
                    &[&version],
                )
                .await?;
                tracing::info!(version, "database schema migrated");
            }
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    /// The schema version the database is at.
    pub async fn schema_version(&self) -> Result<i32, PgError> {
        self.timed(async {
            let client = self.client().await?;
            let row = client
                .query_one(
                    &format!("SELECT coalesce(max(version), 0) FROM {SCHEMA}.schema_version"),
                    &[],
                )
                .await?;
            Ok(row.get(0))
        })
        .await
    }
}

/// The advisory lock migrations take ("frontdesk" in ASCII, shortened).
const MIGRATION_LOCK: i64 = 0x66_726f_6e74_6465;

/// The migrations, in order; version N is `MIGRATIONS[N - 1]`. Never edit
/// one that has shipped: add the next.
const MIGRATIONS: &[&str] = &[
    // 1: appointments, the call log, messages and reminders.
    "CREATE TABLE frontdesk.appointments (
         id         text PRIMARY KEY,
         start_at   timestamptz NOT NULL,
         end_at     timestamptz NOT NULL,
         name       text NOT NULL,
         phone      text,
         email      text,
         reason     text,
         created_at timestamptz NOT NULL DEFAULT now(),
         cancelled  boolean NOT NULL DEFAULT false,
         CONSTRAINT appointments_start_before_end CHECK (start_at < end_at),
         -- No two live appointments overlap: enforced by the database for
         -- every instance at once. Cancelled ones are ignored.
         CONSTRAINT appointments_no_overlap
             EXCLUDE USING gist (tstzrange(start_at, end_at, '[)') WITH &&)
             WHERE (NOT cancelled)
     );
     CREATE INDEX appointments_start ON frontdesk.appointments (start_at) WHERE NOT cancelled;

     CREATE TABLE frontdesk.call_log (
         call_sid    text PRIMARY KEY,
         started_at  timestamptz NOT NULL,
         ended_at    timestamptz NOT NULL,
         from_number text,
         to_number   text,
         record      text NOT NULL
     );
     CREATE INDEX call_log_ended_at ON frontdesk.call_log (ended_at DESC);

     CREATE TABLE frontdesk.messages (
         id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
         taken_at        timestamptz NOT NULL,
         call_sid        text NOT NULL,
         caller_number   text,
         name            text NOT NULL,
         message         text NOT NULL,
         callback_number text
     );
     CREATE INDEX messages_taken_at ON frontdesk.messages (taken_at DESC, id DESC);

     CREATE TABLE frontdesk.reminders (
         appointment_id text PRIMARY KEY,
         phone          text NOT NULL,
         start_at       timestamptz NOT NULL,
         due_at         timestamptz NOT NULL,
         sent_at        timestamptz
     );
     CREATE INDEX reminders_due ON frontdesk.reminders (due_at) WHERE sent_at IS NULL;",
];

/// The TLS connector for `sslmode=require`: rustls with the system's roots.
fn tls() -> Result<tokio_postgres_rustls::MakeRustlsConnect, PgError> {
    let mut roots = rustls::RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    for cert in found.certs {
        // A certificate the store cannot parse is skipped, as browsers do.
        let _ = roots.add(cert);
    }
    if roots.is_empty() {
        return Err(PgError::Config(
            "sslmode=require: no trusted root certificates found on this system".into(),
        ));
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| PgError::Config(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_that_is_not_postgres_is_a_config_error() {
        let e = Postgres::pool("mysql://nope").unwrap_err();
        assert!(matches!(e, PgError::Config(_)), "{e:?}");
    }

    #[tokio::test]
    async fn a_refused_connection_is_unavailable() {
        // A port nothing listens on: bind one, then free it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let db = Postgres::pool(&format!("postgres://nobody@127.0.0.1:{port}/none")).unwrap();
        let e = db.migrate().await.unwrap_err();
        assert!(matches!(e, PgError::Unavailable(_)), "{e:?}");
        assert!(e.is_unavailable());
    }

    #[test]
    fn migrations_only_touch_the_frontdesk_schema() {
        for sql in MIGRATIONS {
            for line in sql.lines() {
                let l = line.trim_start();
                if l.starts_with("CREATE TABLE") || l.starts_with("CREATE INDEX") {
                    assert!(l.contains(&format!("{SCHEMA}.")), "{l}");
                }
            }
        }
    }
}
