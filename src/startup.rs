//! Binding the listener and serving until shutdown.
//!
//! [`Application::build`] binds first and reports the real port, so tests
//! bind port 0; [`Application::run_until`] serves until the given future
//! completes, then lets in-flight webhooks finish. Ctrl-C, SIGTERM and
//! tests share this one path.

use std::{
    future::Future,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use poem::{
    Server,
    listener::{Acceptor, Listener, TcpAcceptor, TcpListener},
};

use crate::{
    agent::{SharedAgent, llm::LlmAgent, rules::RulesAgent, tools::Tools},
    api_token::{self, TokenError},
    calendar::{
        CalendarError, Scheduler, SharedCalendar, google::GoogleCalendar, local::LocalCalendar,
        metered::Metered, postgres::PgCalendar,
    },
    clock::{Clock, system_clock},
    config::{AgentKind, Config},
    messages::{MessageBook, MessageError},
    metrics::Metrics,
    postgres::{PgError, Postgres},
    reminders::{ReminderBook, ReminderError, Reminders},
    session::{Archive, ArchiveError, LiveCalls, MemoryCalls, RedisCalls, SessionStore},
    shared::{Shared, SharedError},
    state::AppState,
    texts::Texter,
    turns::{TurnLocks, TurnRunner},
    twilio::client::TwilioClient,
};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The port could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// `DATA_DIR` cannot be created or written.
    #[error(
        "DATA_DIR {}: cannot {action}: {source}; make it writable by this user or point DATA_DIR elsewhere",
        .dir.display()
    )]
    DataDir {
        /// The directory.
        dir: PathBuf,
        /// What failed ("create the directory", "write there").
        action: &'static str,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The call log could not be opened.
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    /// The calendar could not be opened.
    #[error("calendar: {0}")]
    Calendar(#[from] CalendarError),
    /// The message book could not be opened.
    #[error(transparent)]
    Messages(#[from] MessageError),
    /// The reminder book could not be opened.
    #[error(transparent)]
    Reminders(#[from] ReminderError),
    /// The API token could not be read or stored.
    #[error(transparent)]
    ApiToken(#[from] TokenError),
    /// `REDIS_URL` is set but Redis does not answer.
    #[error("REDIS_URL: {0}; start Redis or unset REDIS_URL to keep live calls in this process")]
    Redis(#[from] SharedError),
    /// `DATABASE_URL` is set but the database cannot be reached or migrated.
    #[error("database (DATABASE_URL): {0}")]
    Database(#[from] PgError),
}

/// A bound, not yet serving, server.
pub struct Application {
    acceptor: TcpAcceptor,
    port: u16,
    state: AppState,
}

/// Opens the configured calendar: the built-in one (in `db` when
/// `DATABASE_URL` is set, else SQLite under `DATA_DIR`) or Google's.
pub(crate) async fn open_calendar(
    config: &Config,
    db: Option<&Postgres>,
) -> Result<SharedCalendar, CalendarError> {
    if config.calendar.use_builtin {
        return Ok(match db {
            Some(db) => Arc::new(PgCalendar::new(db.clone())),
            None => Arc::new(LocalCalendar::open(&config.data_dir)?),
        });
    }
    let credentials = config
        .calendar
        .google_credentials
        .as_deref()
        .ok_or_else(|| {
            CalendarError::Unavailable("GOOGLE_APPLICATION_CREDENTIALS is not set".into())
        })?;
    std::fs::create_dir_all(&config.data_dir).map_err(|e| {
        CalendarError::Unavailable(format!("DATA_DIR {}: {e}", config.data_dir.display()))
    })?;
    let google = GoogleCalendar::connect(
        credentials,
        &config.calendar.google_calendar_id,
        config.business.timezone.name(),
        config.calendar.google_base_url.as_deref(),
        &config.data_dir.join("google-token.json"),
    )
    .await?;
    Ok(Arc::new(google))
}

/// Creates `DATA_DIR` and checks that files can be written there, so a
/// problem is reported with the variable's name and the operating system's
/// reason rather than as a database error.
pub fn prepare_data_dir(dir: &Path) -> Result<(), StartupError> {
    let failed = |action| {
        move |source| StartupError::DataDir {
            dir: dir.to_owned(),
            action,
            source,
        }
    };
    std::fs::create_dir_all(dir).map_err(failed("create the directory"))?;
    let probe = dir.join(".frontdesk-write-test");
    std::fs::write(&probe, b"").map_err(failed("write there"))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// Where live calls and their turns are kept: in this process, or in Redis
/// (`REDIS_URL`) for several instances.
async fn live_stores(config: &Config) -> Result<(Box<dyn LiveCalls>, TurnRunner), StartupError> {
    let Some(url) = &config.sessions.redis_url else {
        return Ok((Box::new(MemoryCalls::default()), TurnRunner::default()));
    };
    let shared = Shared::connect(url).await?;
    // A turn never runs past its deadline; its lock outlives it a little.
    let lock_ttl = config.voice.turn_deadline() + Duration::from_secs(5);
    tracing::info!("live calls are kept in Redis, shared with other instances");
    Ok((
        Box::new(RedisCalls::new(shared.clone())),
        TurnRunner::shared(TurnLocks::new(shared, lock_ttl)),
    ))
}

/// The durable stores, chosen once from the configuration: PostgreSQL
/// when `DATABASE_URL` is set (connected and migrated here), else SQLite
/// under `DATA_DIR`. Nothing after start-up knows which.
struct Stores {
    db: Option<Postgres>,
    archive: Archive,
    messages: MessageBook,
}

impl Stores {
    async fn open(config: &Config) -> Result<Self, StartupError> {
        Ok(match &config.database_url {
            Some(url) => {
                let db = Postgres::connect(url.expose()).await?;
                if config.calendar.use_builtin {
                    tracing::info!("appointments, call log, messages and reminders in PostgreSQL");
                } else {
                    tracing::info!("call log, messages and reminders in PostgreSQL");
                }
                Self {
                    archive: Archive::postgres(db.clone()),
                    messages: MessageBook::postgres(db.clone()),
                    db: Some(db),
                }
            }
            None => Self {
                archive: Archive::open(&config.data_dir)?,
                messages: MessageBook::open(&config.data_dir)?,
                db: None,
            },
        })
    }

    fn reminder_book(&self, config: &Config) -> Result<ReminderBook, StartupError> {
        Ok(match &self.db {
            Some(db) => ReminderBook::postgres(db.clone()),
            None => ReminderBook::open(&config.data_dir)?,
        })
    }
}

/// Builds the shared state from the configuration.
pub async fn build_state(config: Config, clock: Clock) -> Result<AppState, StartupError> {
    prepare_data_dir(&config.data_dir)?;
    let api_token = api_token::load_or_create(config.api_token.as_ref(), &config.data_dir)?;
    let metrics = Arc::new(Metrics::new(config.agent));
    let stores = Stores::open(&config).await?;
    let (live, turns) = live_stores(&config).await?;
    let sessions = Arc::new(
        SessionStore::with_live(stores.archive.clone(), live)
            .with_metrics(Arc::clone(&metrics))
            .with_clock(Arc::clone(&clock)),
    );
    let calendar: SharedCalendar = Arc::new(Metered::new(
        open_calendar(&config, stores.db.as_ref()).await?,
        Arc::clone(&metrics),
    ));
    let messages = stores.messages.clone();
    let twilio = Arc::new(TwilioClient::new(&config.twilio).with_metrics(Arc::clone(&metrics)));
    let texter = config.duties.sms_confirmations.then(|| {
        Arc::new(Texter::new(
            Arc::clone(&twilio),
            Arc::clone(&sessions),
            config.business.name.clone(),
            Arc::clone(&clock),
        ))
    });
    let scheduler = Scheduler::new(calendar, &config.business);
    let reminders = match config.duties.reminder_lead {
        Some(lead) => Some(Arc::new(Reminders {
            book: stores.reminder_book(&config)?,
            lead: chrono::Duration::from_std(lead).unwrap_or_default(),
            channel: config.duties.reminder_channel,
            scheduler: scheduler.clone(),
            twilio: Arc::clone(&twilio),
            sessions: Arc::clone(&sessions),
            business: config.business.name.clone(),
            call_urls: (
                config.public_url.join("/voice/outbound"),
                config.public_url.join("/voice/status"),
            ),
            metrics: Arc::clone(&metrics),
        })),
        None => None,
    };
    let tools = Tools::new(scheduler, messages.clone())
        .with_transfer(config.duties.transfer_number.clone())
        .with_texts(texter)
        .with_reminders(reminders.clone());
    let agent: SharedAgent = match config.agent {
        AgentKind::Llm => Arc::new(LlmAgent::new(
            &config.openai,
            config.business.clone(),
            tools.clone(),
        )),
        AgentKind::Rules => Arc::new(RulesAgent::new(
            config.business.name.clone(),
            config.business.timezone,
            tools.clone(),
        )),
    };
    Ok(AppState {
        messages,
        reminders,
        turns: Arc::new(turns),
        bridges: Arc::default(),
        tools,
        twilio,
        config: Arc::new(config),
        sessions,
        agent,
        clock,
        api_token: Arc::new(api_token),
        metrics,
    })
}

impl Application {
    /// Opens storage and binds `SERVER_HOST:SERVER_PORT`.
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        let state = build_state(config, system_clock()).await?;
        Self::build_with_state(state).await
    }

    /// Binds for a prepared state (tests swap parts of it).
    pub async fn build_with_state(state: AppState) -> Result<Self, StartupError> {
        let addr = format!("{}:{}", state.config.host, state.config.port);
        let acceptor = TcpListener::bind(addr.clone())
            .into_acceptor()
            .await
            .map_err(|source| StartupError::Bind {
                addr: addr.clone(),
                source,
            })?;
        let port = acceptor
            .local_addr()
            .first()
            .and_then(|a| a.as_socket_addr().map(|s| s.port()))
            .unwrap_or(state.config.port);
        Ok(Self {
            acceptor,
            port,
            state,
        })
    }

    /// The port actually bound.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The shared state.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` completes; in-flight requests get 10 s to finish.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send) -> std::io::Result<()> {
        let state = self.state;
        let sweeper = tokio::spawn(sweep_idle_sessions(state.clone()));
        let reminding = state
            .reminders
            .clone()
            .map(|r| tokio::spawn(r.run(Arc::clone(&state.clock))));
        let sessions = Arc::clone(&state.sessions);
        let shutdown = async move {
            shutdown.await;
            // Open dashboard streams end now rather than at the grace limit.
            sessions.close_watchers();
        };
        let result = Server::new_with_acceptor(self.acceptor)
            .run_with_graceful_shutdown(
                crate::http::app(state.clone()),
                shutdown,
                Some(Duration::from_secs(10)),
            )
            .await;
        sweeper.abort();
        if let Some(r) = reminding {
            r.abort();
        }
        // Calls still in progress go to the log; a webhook after a restart resumes them.
        state.sessions.suspend_all().await;
        result
    }
}

/// Moves calls that never reported their end to the call log.
async fn sweep_idle_sessions(state: AppState) {
    let idle = state.config.sessions.idle_timeout;
    let mut tick =
        tokio::time::interval((idle / 4).clamp(Duration::from_secs(1), Duration::from_secs(60)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let ended = state.sessions.expire_idle(idle).await;
        state.turns.retain_live(&state.sessions).await;
        if ended > 0 {
            tracing::info!(ended, "idle sessions moved to the call log");
        }
    }
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_data_dir_that_cannot_be_created_is_named_with_the_reason() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("a-file");
        std::fs::write(&file, "").unwrap();
        let err = prepare_data_dir(&file.join("data"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("DATA_DIR "), "{err}");
        assert!(err.contains("a-file/data"), "{err}");
        assert!(err.contains("cannot create the directory"), "{err}");
        assert!(err.to_lowercase().contains("not a directory"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn a_read_only_data_dir_is_named_with_permission_denied() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o500)).unwrap();
        if std::fs::write(tmp.path().join("probe"), "").is_ok() {
            return; // running as root: permissions are not enforced
        }
        let err = prepare_data_dir(tmp.path()).unwrap_err().to_string();
        assert!(
            err.contains("DATA_DIR") && err.contains("cannot write there"),
            "{err}"
        );
        assert!(err.to_lowercase().contains("permission denied"), "{err}");
    }

    #[test]
    fn a_usable_data_dir_is_created_and_left_clean() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("new");
        prepare_data_dir(&dir).unwrap();
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    }
}
