//! `AppState`: everything a handler reaches, shared by reference.
//!
//! Handlers hold no state of their own. The state is cheap to clone (all
//! `Arc`s) and every part is safe to use from many requests at once: the
//! session store is a concurrent map, the agent is `Send + Sync`.

use std::sync::Arc;

use crate::{
    agent::{SharedAgent, tools::Tools},
    api_token::ApiToken,
    bridge::Bridges,
    clock::Clock,
    config::Config,
    messages::MessageBook,
    metrics::Metrics,
    reminders::Reminders,
    session::SessionStore,
    turns::TurnRunner,
    twilio::client::TwilioClient,
};

/// Shared state of the running server.
#[derive(Clone)]
pub struct AppState {
    /// The configuration.
    pub config: Arc<Config>,
    /// Live sessions and the call log.
    pub sessions: Arc<SessionStore>,
    /// The calendar tools (and, through them, the scheduling rules).
    pub tools: Tools,
    /// Messages taken for the business.
    pub messages: MessageBook,
    /// Appointment reminders (`REMINDER_LEAD_MINUTES`), when on.
    pub reminders: Option<Arc<Reminders>>,
    /// Who answers the caller.
    pub agent: SharedAgent,
    /// Twilio's REST API.
    pub twilio: Arc<TwilioClient>,
    /// The running turn of each call.
    pub turns: Arc<TurnRunner>,
    /// Live media-stream bridges.
    pub bridges: Arc<Bridges>,
    /// What time it is.
    pub clock: Clock,
    /// The bearer token of the data routes.
    pub api_token: Arc<ApiToken>,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
}
