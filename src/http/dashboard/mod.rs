//! `GET /dashboard`: a page for people watching their receptionist work.
//!
//! The page, its script and its style sheet are compiled into the binary
//! (`include_str!`): no CDN, no build step, nothing fetched from elsewhere,
//! and a Content-Security-Policy that allows only this origin's files, so
//! nothing a caller says can run as script even if it slipped through (the
//! script itself only ever writes text nodes).
//!
//! The live part is `GET /dashboard/events`, a server-sent event stream:
//! first a `snapshot` of every live call with its transcript, then each
//! change as the session store publishes it (`call`, `said`, `ended`). A
//! watcher that falls behind gets a fresh snapshot instead of the events
//! it missed. Everything else the page shows comes from the JSON API
//! (`/sessions`, `/session/{sid}`, `/appointments`, `/messages`,
//! `/make-call`) with the same authentication.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use futures_util::stream;
use poem::{
    Request, Response, handler,
    http::{StatusCode, header},
    web::{
        Data, Form,
        sse::{Event, SSE},
    },
};
use serde::{Deserialize, Serialize};

use super::auth;
use crate::{
    ledger::LedgerEntry,
    session::{
        LiveEvent, Session, Turn,
        feed::{Watched, Watcher},
    },
    state::AppState,
    twilio::webhook::CallSid,
};

const PAGE: &str = include_str!("page.html");
const LOGIN: &str = include_str!("login.html");
const SCRIPT: &str = include_str!("app.js");
const STYLE: &str = include_str!("app.css");

/// Only this origin's script and style; no frames, no plugins.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                   connect-src 'self'; img-src 'self'; form-action 'self'; \
                   frame-ancestors 'none'; base-uri 'none'";

/// How often an idle event stream sends a comment, so proxies keep it open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

fn html(status: StatusCode, body: String) -> Response {
    Response::builder()
        .status(status)
        .content_type("text/html; charset=utf-8")
        .header(header::CONTENT_SECURITY_POLICY, CSP)
        .header(header::CACHE_CONTROL, "no-store")
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .header(header::REFERRER_POLICY, "no-referrer")
        .body(body)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    Response::builder()
        .content_type(content_type)
        .header(header::CACHE_CONTROL, "no-cache")
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .body(body)
}

/// The dashboard page.
pub fn page() -> Response {
    html(StatusCode::OK, PAGE.to_owned())
}

/// The page's script (no data in it).
#[handler]
pub fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

/// The page's style sheet (no data in it).
#[handler]
pub fn style() -> Response {
    asset("text/css; charset=utf-8", STYLE)
}

/// A live call as the page shows it.
#[derive(Debug, Serialize)]
struct LiveCall {
    call_sid: CallSid,
    direction: &'static str,
    from: Option<String>,
    to: Option<String>,
    status: &'static str,
    started_at: DateTime<Utc>,
    conversation_history: Vec<Turn>,
    ledger: Vec<LedgerEntry>,
}

impl From<&Session> for LiveCall {
    fn from(s: &Session) -> Self {
        Self {
            call_sid: s.call_sid.clone(),
            direction: s.direction.as_str(),
            from: s.from.clone(),
            to: s.to.clone(),
            status: s.status.as_str(),
            started_at: s.started_at,
            conversation_history: s.conversation_history.clone(),
            ledger: s.ledger.clone(),
        }
    }
}

/// Every live call, and the business's today (the page shows its
/// appointments by the business's days, not the browser's).
#[derive(Debug, Serialize)]
struct Snapshot {
    today: NaiveDate,
    timezone: &'static str,
    calls: Vec<LiveCall>,
}

async fn snapshot(state: &AppState) -> Event {
    let scheduler = &state.tools.scheduler();
    let mut calls = state.sessions.map_live(|s| LiveCall::from(s)).await;
    calls.sort_by_key(|c| c.started_at);
    let snapshot = Snapshot {
        today: scheduler.today((state.clock)()),
        timezone: scheduler.timezone.name(),
        calls,
    };
    json_event("snapshot", &snapshot)
}

fn json_event(kind: &'static str, value: &impl Serialize) -> Event {
    // These types always serialise.
    let data = serde_json::to_string(value).unwrap_or_default();
    Event::message(data).event_type(kind)
}

fn live_event(event: &LiveEvent) -> Event {
    json_event(event.kind(), event)
}

/// `GET /dashboard/events`: the live feed as server-sent events.
#[handler]
pub async fn events(state: Data<&AppState>) -> SSE {
    // Watch first, then take the snapshot: an event in between is sent
    // twice at worst, and the page places transcript entries by index.
    let watcher = state.sessions.watch();
    let state = state.0.clone();
    let first = snapshot(&state).await;
    let rest = stream::unfold(
        (state, watcher),
        |(state, mut watcher): (AppState, Watcher)| async move {
            let event = match watcher.next().await? {
                Watched::Event(e) => live_event(&e),
                Watched::Lagged => snapshot(&state).await,
            };
            Some((event, (state, watcher)))
        },
    );
    SSE::new(futures_util::StreamExt::chain(stream::iter([first]), rest)).keep_alive(KEEP_ALIVE)
}

/// The login form, with a line saying what went wrong (fixed text only).
fn login_page(status: StatusCode, error: &str) -> Response {
    html(status, LOGIN.replace("{{error}}", error))
}

/// `GET /dashboard`: the page with the API token (the login cookie or a
/// bearer header), otherwise only the login form.
#[handler]
pub fn dashboard(req: &Request, state: Data<&AppState>) -> Response {
    match auth::verify(state.api_token.secret(), req.headers()) {
        Ok(()) => page(),
        Err(_) => login_page(StatusCode::UNAUTHORIZED, ""),
    }
}

/// The login form's fields.
#[derive(Debug, Deserialize)]
pub struct Login {
    token: String,
}

/// Whether the browser reached us over HTTPS (directly or through a proxy
/// such as ngrok), so the cookie can be `Secure`.
fn over_https(req: &Request) -> bool {
    req.uri().scheme_str() == Some("https")
        || req
            .headers()
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

fn to_dashboard(cookie: String) -> Response {
    Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(header::LOCATION, "/dashboard")
        .header(header::SET_COOKIE, cookie)
        .header(header::CACHE_CONTROL, "no-store")
        .finish()
}

/// `POST /dashboard/login`: the right token sets the login cookie
/// (`HttpOnly`, `SameSite=Strict`) and goes to the dashboard.
#[handler]
pub fn login(req: &Request, state: Data<&AppState>, Form(form): Form<Login>) -> Response {
    let token = form.token.trim();
    if auth::check(state.api_token.secret(), token.as_bytes()).is_err() {
        tracing::warn!("dashboard login with a wrong token");
        return login_page(StatusCode::UNAUTHORIZED, "That is not the API token.");
    }
    let secure = if over_https(req) { "; Secure" } else { "" };
    to_dashboard(format!(
        "{}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        auth::COOKIE,
        auth::cookie_value(token),
        30 * 24 * 3600,
    ))
}

/// `POST /dashboard/logout`: clears the login cookie.
#[handler]
pub fn logout() -> Response {
    to_dashboard(format!(
        "{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0",
        auth::COOKIE
    ))
}
