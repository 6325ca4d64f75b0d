//! frontdesk: an AI receptionist on a Twilio phone number.
//!
//! A guided tour, from the wire inwards:
//!
//! - [`http`]: the route table. Twilio's voice webhooks ([`http::voice`])
//!   answer TwiML; the JSON API ([`http::api`]) shows sessions; guards check
//!   body size, `X-Twilio-Signature` and the API token ([`http::auth`])
//!   before any handler runs.
//! - [`twiml`]: the typed TwiML builder every webhook answer goes through.
//! - [`twilio`]: Twilio's signature algorithm and typed webhook forms.
//! - [`session`]: live calls (in this process, or in Redis behind the
//!   [`session::LiveCalls`] seam), ended calls in a persisted log.
//! - [`turns`]: each caller turn runs in the background within Twilio's clock
//!   (a short, fitting holding phrase and a redirect when slow; retries never
//!   run twice; with Redis, its lock and outcome are shared so any instance
//!   can answer), possibly started early on Twilio's partial results
//!   ([`turns::speculation`]; side effects wait for the final words through
//!   [`agent::gate`]).
//! - [`shared`]: the Redis connection instances share (`REDIS_URL`).
//! - [`agent`]: the [`agent::Agent`] seam, the built-in rules agent, the LLM
//!   agent, and the calendar tools both use.
//! - [`calendar`]: availability rules over the built-in or Google calendar.
//! - [`messages`]: messages taken for the business, kept durably.
//! - [`postgres`]: with `DATABASE_URL`, the pool and schema that hold the
//!   appointments, call log, messages and reminders shared by several
//!   instances (SQLite under `DATA_DIR` otherwise; each store chooses its
//!   backend once at start).
//! - [`texts`]: SMS confirmations of bookings, moves and cancellations.
//! - [`reminders`]: each appointment's reminder, once, at its lead time.
//! - [`cli`]: the `frontdesk call` command, a client of `/make-call`;
//!   [`check`]: `frontdesk check`, the settings table and the online probes.
//! - [`rehearsal`]: `frontdesk chat` and `frontdesk test`, calls played
//!   against the in-process server without a phone.
//! - [`bridge`]: streaming mode, Twilio Media Streams bridged to Deepgram's
//!   Voice Agent with the same calendar tools.
//! - [`ledger`]: each turn's latencies (arrival, agent, model, tools, hold,
//!   reply), kept in the call's session.
//! - [`metrics`]: the Prometheus registry and what is counted, served at `/metrics`.
//! - [`config`]: the one typed configuration, read once at start;
//!   [`api_token`]: where the REST API's bearer token comes from.
//! - [`startup`] and [`state`]: binding, serving, shutting down; the shared state.
//! - [`logging`]: log lines as text or JSON, on standard error.

pub mod agent;
pub mod api_token;
pub mod bridge;
pub mod calendar;
pub mod check;
pub mod cli;
pub mod clock;
pub mod config;
pub mod http;
pub mod ledger;
pub mod logging;
pub mod messages;
pub mod metrics;
pub mod postgres;
pub mod rehearsal;
pub mod reminders;
pub mod session;
pub mod shared;
pub mod startup;
pub mod state;
pub mod texts;
pub mod turns;
pub mod twilio;
pub mod twiml;
