//! The one typed configuration, read once at start.
//!
//! Every setting comes from an environment variable (a `.env` file in the
//! working directory is read too, without overriding the real environment).
//! [`Config::from_lookup`] validates everything at once and reports each
//! problem with the variable it concerns, so a user fixes a broken setup in
//! one go. No other module reads `std::env`.
//!
//! Secrets are wrapped in [`Secret`], whose `Debug` output never shows them.

use std::{fmt, net::IpAddr, path::PathBuf, time::Duration};

use chrono::NaiveTime;
use chrono_tz::Tz;
use url::Url;

use crate::twilio::number::PhoneNumber;

/// A value that must never appear in logs or `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that needs it (signing, auth).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Which agent answers the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentKind {
    /// An OpenAI-compatible LLM with the calendar tools.
    Llm,
    /// The built-in rules agent (works offline).
    Rules,
}

/// How a call's audio is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallMode {
    /// TwiML request/response with `<Gather input="speech">`.
    Gather,
    /// Media Streams bridged to Deepgram's Voice Agent.
    Stream,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Readable lines (colours only on a terminal).
    Text,
    /// One JSON object a line, for log collectors.
    Json,
}

/// The base URL Twilio reaches, without a trailing slash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl(String);

impl PublicUrl {
    /// Validates a base URL: `http` or `https`, a host, no query or fragment.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let url = Url::parse(raw.trim()).map_err(|e| format!("not a URL ({e})"))?;
        if url.scheme() != "http" && url.scheme() != "https" {
            return Err(format!(
                "must start with http:// or https://, got {}://",
                url.scheme()
            ));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err("has no host".into());
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err("must not have a query string or fragment".into());
        }
        Ok(Self(url.as_str().trim_end_matches('/').to_owned()))
    }

    /// The base URL as text, without a trailing slash.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the host is this machine (`localhost`, a loopback or
    /// unspecified address): Twilio cannot reach such a URL, and signatures
    /// computed over it never match what Twilio signed.
    pub fn is_local(&self) -> bool {
        let Ok(url) = Url::parse(&self.0) else {
            return false;
        };
        match url.host() {
            Some(url::Host::Domain(d)) => {
                d.eq_ignore_ascii_case("localhost")
                    || d.to_ascii_lowercase().ends_with(".localhost")
            }
            Some(url::Host::Ipv4(ip)) => ip.is_loopback() || ip.is_unspecified(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback() || ip.is_unspecified(),
            None => false,
        }
    }

    /// The absolute URL of `path` (which starts with `/`) under this base.
    pub fn join(&self, path: &str) -> String {
        format!("{}{path}", self.0)
    }

    /// The WebSocket (`wss://` or `ws://`) form of [`PublicUrl::join`].
    pub fn websocket(&self, path: &str) -> String {
        let base = self
            .0
            .strip_prefix("https://")
            .map(|rest| format!("wss://{rest}"))
            .or_else(|| {
                self.0
                    .strip_prefix("http://")
                    .map(|rest| format!("ws://{rest}"))
            })
            .unwrap_or_else(|| self.0.clone());
        format!("{base}{path}")
    }
}

/// Twilio credentials and webhook security.
#[derive(Debug, Clone)]
pub struct TwilioConfig {
    /// `TWILIO_ACCOUNT_SID` (unset by default).
    pub account_sid: Option<String>,
    /// `TWILIO_AUTH_TOKEN` (unset by default); also the key of webhook signatures.
    pub auth_token: Option<Secret>,
    /// `TWILIO_PHONE_NUMBER`: caller ID for outbound calls (unset by default).
    pub phone_number: Option<String>,
    /// `TWILIO_API_BASE_URL` (default `https://api.twilio.com`).
    pub api_base_url: String,
    /// `TWILIO_VALIDATE_SIGNATURES` (default: `true` when the auth token is set).
    pub validate_signatures: bool,
}

/// The OpenAI-compatible chat-completions server.
#[derive(Debug, Clone)]
pub struct OpenAiConfig {
    /// `OPENAI_API_KEY` (unset by default).
    pub api_key: Option<Secret>,
    /// `OPENAI_BASE_URL` (default `https://api.openai.com/v1`).
    pub base_url: String,
    /// `OPENAI_MODEL` (default `gpt-4o-mini`).
    pub model: String,
}

/// Where appointments live.
#[derive(Debug, Clone)]
pub struct CalendarConfig {
    /// `USE_MOCK_CALENDAR` (default `true`): the built-in calendar under `DATA_DIR`.
    pub use_builtin: bool,
    /// `GOOGLE_CALENDAR_ID` (default `primary`).
    pub google_calendar_id: String,
    /// `GOOGLE_APPLICATION_CREDENTIALS`: a service-account key or OAuth client file.
    pub google_credentials: Option<PathBuf>,
    /// `GOOGLE_CALENDAR_BASE_URL`: overrides Google's API address (a local fake in tests).
    pub google_base_url: Option<String>,
}

/// The business the receptionist answers for.
#[derive(Debug, Clone)]
pub struct BusinessConfig {
    /// `BUSINESS_NAME` (default `our office`).
    pub name: String,
    /// `BUSINESS_TIMEZONE` (default `UTC`).
    pub timezone: Tz,
    /// `BUSINESS_HOURS` opening time (default `09:00`).
    pub opens: NaiveTime,
    /// `BUSINESS_HOURS` closing time (default `17:00`).
    pub closes: NaiveTime,
    /// `APPOINTMENT_MINUTES` (default `30`).
    pub appointment_minutes: u32,
    /// `BOOKING_HORIZON_DAYS` (default `90`): the latest day, counted from
    /// today, that can be booked.
    pub booking_horizon_days: u32,
}

/// What the caller hears and how speech is captured.
#[derive(Debug, Clone)]
pub struct VoiceConfig {
    /// `GREETING_MESSAGE`: the first thing a caller hears when no `initial_message` was given.
    pub greeting: String,
    /// `SILENCE_THRESHOLD_SECONDS` (default `4`): `<Gather timeout>`.
    pub silence_threshold_seconds: u32,
    /// `MAX_SILENT_TURNS` (default `3`): silent turns in a row before hanging up.
    pub max_silent_turns: u32,
    /// `SPEECH_LANGUAGE` (default `en-US`).
    pub speech_language: String,
    /// `TTS_VOICE` (default `Polly.Joanna`).
    pub tts_voice: String,
    /// `VOICEMAIL_MESSAGE`: left on an answering machine.
    pub voicemail_message: String,
    /// `TURN_BUDGET_MS` (default `4000`): how long a webhook waits for the
    /// agent before the caller hears a holding phrase.
    pub turn_budget: Duration,
    /// `MAX_HOLDS` (default `3`): holding phrases for one turn before an apology.
    pub max_holds: u32,
    /// `HOLD_AFTER_MS` (default `250`): how long the webhook with the
    /// caller's final words waits for the reply before a short holding
    /// phrase; never more than `TURN_BUDGET_MS`.
    pub hold_after: Duration,
    /// `SPECULATIVE_TURNS` (default `true`): start the agent's work on
    /// Twilio's partial results while the caller is still talking.
    pub speculative_turns: bool,
}

impl VoiceConfig {
    /// How long the webhook with the caller's words waits before a holding
    /// phrase: `HOLD_AFTER_MS`, at most `TURN_BUDGET_MS`.
    pub fn first_wait(&self) -> Duration {
        self.hold_after.min(self.turn_budget)
    }

    /// How long `/voice/continue` waits: two and a half budgets, at most 11 s,
    /// well inside Twilio's 15 s.
    pub fn continue_wait(&self) -> Duration {
        (self.turn_budget * 5 / 2).min(Duration::from_secs(11))
    }

    /// The one deadline of a caller turn: the first wait plus every hold's
    /// wait, less a margin so that the last webhook still waiting hears the
    /// turn's own answer (its reply, or its one apology). The turn runner
    /// gives the agent exactly this long; model retries fit inside it.
    pub fn turn_deadline(&self) -> Duration {
        let waited = self.first_wait() + self.continue_wait() * self.max_holds;
        let last_wait = if self.max_holds == 0 {
            self.first_wait()
        } else {
            self.continue_wait()
        };
        let margin = (self.turn_budget / 4)
            .min(Duration::from_millis(500))
            .min(last_wait / 4);
        waited.saturating_sub(margin)
    }
}

/// Deepgram Voice Agent (stream mode).
#[derive(Debug, Clone)]
pub struct DeepgramConfig {
    /// `DEEPGRAM_API_KEY` (unset by default).
    pub api_key: Option<Secret>,
    /// `DEEPGRAM_AGENT_URL` (default `wss://agent.deepgram.com/v1/agent/converse`).
    pub agent_url: String,
    /// `DEEPGRAM_LISTEN_MODEL` (default `nova-3`).
    pub listen_model: String,
    /// `DEEPGRAM_THINK_PROVIDER` (default `open_ai`).
    pub think_provider: String,
    /// `DEEPGRAM_THINK_MODEL` (default `gpt-4o-mini`).
    pub think_model: String,
    /// `DEEPGRAM_SPEAK_MODEL` (default `aura-2-thalia-en`).
    pub speak_model: String,
}

/// Session lifetime.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// `SESSION_IDLE_TIMEOUT_SECONDS` (default `900`): a call with no webhook for
    /// this long is taken as ended and moved to the call log.
    pub idle_timeout: Duration,
    /// `REDIS_URL` (unset by default): live calls, turn locks and running
    /// turns in Redis, shared by every instance behind a load balancer.
    /// Unset: in this process's memory. May carry a password, so it is a
    /// [`Secret`].
    pub redis_url: Option<Secret>,
}

/// A receptionist's other duties: handing the caller to a person, texting
/// confirmations.
#[derive(Debug, Clone)]
pub struct DutiesConfig {
    /// `TRANSFER_NUMBER` (unset by default): where callers who ask for a
    /// person are connected.
    pub transfer_number: Option<PhoneNumber>,
    /// `SMS_CONFIRMATIONS` (default: `true` when the Twilio credentials are
    /// set): text the caller after a booking, move or cancellation.
    pub sms_confirmations: bool,
    /// `REMINDER_LEAD_MINUTES` (unset: no reminders): how long before an
    /// appointment its reminder goes out.
    pub reminder_lead: Option<Duration>,
    /// `REMINDER_CHANNEL` (default `sms`): `sms` or `call`.
    pub reminder_channel: ReminderChannel,
}

/// How reminders reach the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReminderChannel {
    /// A text message.
    Sms,
    /// An outbound call that lets them keep, move or cancel.
    Call,
}

/// Everything frontdesk is configured with.
#[derive(Debug, Clone)]
pub struct Config {
    /// `SERVER_HOST` (default `0.0.0.0`).
    pub host: IpAddr,
    /// `SERVER_PORT` (default `8000`).
    pub port: u16,
    /// `PUBLIC_URL` (default `http://localhost:<SERVER_PORT>`).
    pub public_url: PublicUrl,
    /// Twilio settings.
    pub twilio: TwilioConfig,
    /// LLM settings.
    pub openai: OpenAiConfig,
    /// `AGENT` (default `auto`), resolved: `llm` when `OPENAI_API_KEY` is set.
    pub agent: AgentKind,
    /// Calendar settings.
    pub calendar: CalendarConfig,
    /// Business settings.
    pub business: BusinessConfig,
    /// `DATA_DIR` (default `./data`).
    pub data_dir: PathBuf,
    /// Voice settings.
    pub voice: VoiceConfig,
    /// `CALL_MODE` (default `gather`).
    pub call_mode: CallMode,
    /// Deepgram settings.
    pub deepgram: DeepgramConfig,
    /// Session settings.
    pub sessions: SessionConfig,
    /// Transfers and text confirmations.
    pub duties: DutiesConfig,
    /// `MAX_REQUEST_BYTES` (default `65536`): larger request bodies are refused with 413.
    pub max_request_bytes: usize,
    /// `API_TOKEN`: the bearer token of the data routes (unset by default:
    /// one is generated and kept in `DATA_DIR/api-token`).
    pub api_token: Option<Secret>,
    /// `LOG_FORMAT` (default `text`).
    pub log_format: LogFormat,
    /// `DATABASE_URL` (unset by default): a `postgres://` URL; appointments,
    /// the call log, messages and reminders then live in PostgreSQL, shared
    /// by every instance, instead of SQLite under `DATA_DIR`. A secret: it
    /// usually carries a password.
    pub database_url: Option<Secret>,
}

/// Every problem found in the configuration, each naming its variable.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n  - {}", .problems.join("\n  - "))]
pub struct ConfigError {
    /// One line per problem, starting with the variable's name.
    pub problems: Vec<String>,
}

/// Reads variables through a lookup function and collects the problems.
struct Reader<F> {
    lookup: F,
    problems: Vec<String>,
}

impl<F: Fn(&str) -> Option<String>> Reader<F> {
    /// The trimmed value, `None` when unset or empty.
    fn raw(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    fn string(&self, name: &str, default: &str) -> String {
        self.raw(name).unwrap_or_else(|| default.to_owned())
    }

    /// Parses a value with `parse`; a failure is recorded and `default` used.
    fn parsed<T>(
        &mut self,
        name: &str,
        default: T,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> T {
        match self.raw(name) {
            None => default,
            Some(raw) => match parse(&raw) {
                Ok(v) => v,
                Err(why) => {
                    self.problems.push(format!("{name}={raw:?}: {why}"));
                    default
                }
            },
        }
    }

    fn bool(&mut self, name: &str, default: bool) -> bool {
        self.parsed(name, default, parse_bool)
    }

    fn number<T: std::str::FromStr + PartialOrd + Copy + fmt::Display>(
        &mut self,
        name: &str,
        default: T,
        min: T,
        max: T,
    ) -> T {
        self.parsed(name, default, |raw| match raw.parse::<T>() {
            Ok(v) if v >= min && v <= max => Ok(v),
            _ => Err(format!("must be a whole number from {min} to {max}")),
        })
    }
}

fn parse_bool(raw: &str) -> Result<bool, String> {
    match raw.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err("must be true or false".into()),
    }
}

fn parse_redis_url(raw: &str) -> Result<Option<Secret>, String> {
    match url::Url::parse(raw) {
        Ok(u) if matches!(u.scheme(), "redis" | "rediss") && u.host().is_some() => {
            Ok(Some(Secret::new(raw.to_owned())))
        }
        _ => Err("must look like redis://host:6379 or rediss://user:password@host:6380/0".into()),
    }
}

fn parse_http_base(raw: &str) -> Result<String, String> {
    PublicUrl::parse(raw).map(|u| u.as_str().to_owned())
}

/// Parses `HH:MM-HH:MM` into an opening and closing time.
pub fn parse_business_hours(raw: &str) -> Result<(NaiveTime, NaiveTime), String> {
    let (open, close) = raw.split_once('-').ok_or("must look like 09:00-17:00")?;
    let time = |s: &str| {
        NaiveTime::parse_from_str(s.trim(), "%H:%M")
            .map_err(|_| format!("{:?} is not a time like 09:00", s.trim()))
    };
    let (open, close) = (time(open)?, time(close)?);
    if open >= close {
        return Err("the opening time must come before the closing time".into());
    }
    Ok((open, close))
}

/// Checks a `DATABASE_URL`: a `postgres://` (or `postgresql://`) URL that
/// the PostgreSQL client accepts. The reason never includes the URL.
fn parse_database_url(raw: &str) -> Result<(), String> {
    let lower = raw.to_ascii_lowercase();
    if !(lower.starts_with("postgres://") || lower.starts_with("postgresql://")) {
        return Err(
            "must be a postgres:// URL, e.g. postgres://frontdesk:secret@db.example.com/frontdesk"
                .into(),
        );
    }
    raw.parse::<tokio_postgres::Config>()
        .map(|_| ())
        .map_err(|e| format!("not a usable PostgreSQL URL ({e})"))
}

/// The greeting when `GREETING_MESSAGE` is unset.
fn default_greeting(business: &str) -> String {
    format!("Hello, thanks for calling {business}. How can I help you today?")
}

impl Config {
    /// Reads `.env` (if present) and the environment, then validates.
    pub fn from_env() -> Result<Self, ConfigError> {
        // A missing .env is normal; a malformed one is worth knowing about.
        if let Err(e) = dotenvy::dotenv()
            && !e.not_found()
        {
            return Err(ConfigError {
                problems: vec![format!(".env: {e}")],
            });
        }
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Builds and validates a configuration from any variable lookup.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut r = Reader {
            lookup,
            problems: Vec::new(),
        };

        let host = r.parsed("SERVER_HOST", IpAddr::from([0, 0, 0, 0]), |raw| {
            raw.parse()
                .map_err(|_| "must be an IP address such as 0.0.0.0 or 127.0.0.1".into())
        });
        let port = r.number("SERVER_PORT", 8000u16, 0, u16::MAX);
        let public_url = r.parsed(
            "PUBLIC_URL",
            PublicUrl(format!("http://localhost:{port}")),
            PublicUrl::parse,
        );

        let auth_token = r.raw("TWILIO_AUTH_TOKEN").map(Secret::new);
        let validate_signatures = r.bool("TWILIO_VALIDATE_SIGNATURES", auth_token.is_some());
        if validate_signatures && auth_token.is_none() {
            r.problems.push(
                "TWILIO_VALIDATE_SIGNATURES=true: needs TWILIO_AUTH_TOKEN, the key Twilio signs webhooks with".into(),
            );
        }
        let twilio = TwilioConfig {
            account_sid: r.raw("TWILIO_ACCOUNT_SID"),
            auth_token,
            phone_number: r.raw("TWILIO_PHONE_NUMBER"),
            api_base_url: r.parsed(
                "TWILIO_API_BASE_URL",
                "https://api.twilio.com".into(),
                parse_http_base,
            ),
            validate_signatures,
        };

        let openai = OpenAiConfig {
            api_key: r.raw("OPENAI_API_KEY").map(Secret::new),
            base_url: r.parsed(
                "OPENAI_BASE_URL",
                "https://api.openai.com/v1".into(),
                parse_http_base,
            ),
            model: r.string("OPENAI_MODEL", "gpt-4o-mini"),
        };
        let has_key = openai.api_key.is_some();
        let agent = r.parsed("AGENT", None, |raw| {
            match raw.to_ascii_lowercase().as_str() {
                "auto" => Ok(None),
                "llm" => Ok(Some(AgentKind::Llm)),
                "rules" => Ok(Some(AgentKind::Rules)),
                _ => Err("must be auto, llm or rules".into()),
            }
        });
        let agent = match agent {
            Some(AgentKind::Llm) if !has_key => {
                r.problems
                    .push("AGENT=llm: needs OPENAI_API_KEY (or use AGENT=rules)".into());
                AgentKind::Rules
            }
            Some(kind) => kind,
            None if has_key => AgentKind::Llm,
            None => AgentKind::Rules,
        };

        let calendar = CalendarConfig {
            use_builtin: r.bool("USE_MOCK_CALENDAR", true),
            google_calendar_id: r.string("GOOGLE_CALENDAR_ID", "primary"),
            google_credentials: r.raw("GOOGLE_APPLICATION_CREDENTIALS").map(PathBuf::from),
            google_base_url: r
                .raw("GOOGLE_CALENDAR_BASE_URL")
                .map(|raw| parse_http_base(&raw).map_err(|e| (raw, e)))
                .transpose()
                .unwrap_or_else(|(raw, e)| {
                    r.problems
                        .push(format!("GOOGLE_CALENDAR_BASE_URL={raw:?}: {e}"));
                    None
                }),
        };
        if !calendar.use_builtin && calendar.google_credentials.is_none() {
            r.problems.push(
                "USE_MOCK_CALENDAR=false: Google Calendar needs GOOGLE_APPLICATION_CREDENTIALS (a service-account key file)".into(),
            );
        }

        let name = r.string("BUSINESS_NAME", "our office");
        let timezone = r.parsed("BUSINESS_TIMEZONE", Tz::UTC, |raw| {
            raw.parse::<Tz>()
                .map_err(|_| "must be an IANA time zone such as America/New_York".into())
        });
        let default_hours = (
            NaiveTime::from_hms_opt(9, 0, 0).expect("valid time"),
            NaiveTime::from_hms_opt(17, 0, 0).expect("valid time"),
        );
        let (opens, closes) = r.parsed("BUSINESS_HOURS", default_hours, parse_business_hours);
        let appointment_minutes = r.number("APPOINTMENT_MINUTES", 30u32, 5, 480);
        let booking_horizon_days = r.number("BOOKING_HORIZON_DAYS", 90u32, 1, 730);
        let greeting = r
            .raw("GREETING_MESSAGE")
            .unwrap_or_else(|| default_greeting(&name));
        let business = BusinessConfig {
            name,
            timezone,
            opens,
            closes,
            appointment_minutes,
            booking_horizon_days,
        };

        let data_dir = PathBuf::from(r.string("DATA_DIR", "./data"));

        let voice = VoiceConfig {
            greeting,
            silence_threshold_seconds: r.number("SILENCE_THRESHOLD_SECONDS", 4u32, 1, 60),
            max_silent_turns: r.number("MAX_SILENT_TURNS", 3u32, 1, 20),
            speech_language: r.parsed("SPEECH_LANGUAGE", "en-US".into(), |raw| {
                let ok =
                    raw.len() <= 35 && raw.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
                if ok {
                    Ok(raw.to_owned())
                } else {
                    Err("must be a language tag such as en-US".into())
                }
            }),
            tts_voice: r.string("TTS_VOICE", "Polly.Joanna"),
            voicemail_message: r.raw("VOICEMAIL_MESSAGE").unwrap_or_else(|| {
                format!(
                    "Hello, this is {} calling. Please call us back at your convenience. Goodbye.",
                    business.name
                )
            }),
            turn_budget: Duration::from_millis(r.number("TURN_BUDGET_MS", 4000u64, 100, 10_000)),
            max_holds: r.number("MAX_HOLDS", 3u32, 0, 10),
            hold_after: Duration::from_millis(r.number("HOLD_AFTER_MS", 250u64, 0, 10_000)),
            speculative_turns: r.bool("SPECULATIVE_TURNS", true),
        };

        let call_mode = r.parsed("CALL_MODE", CallMode::Gather, |raw| {
            match raw.to_ascii_lowercase().as_str() {
                "gather" => Ok(CallMode::Gather),
                "stream" => Ok(CallMode::Stream),
                _ => Err("must be gather or stream".into()),
            }
        });
        let deepgram = DeepgramConfig {
            api_key: r.raw("DEEPGRAM_API_KEY").map(Secret::new),
            agent_url: r.parsed(
                "DEEPGRAM_AGENT_URL",
                "wss://agent.deepgram.com/v1/agent/converse".into(),
                |raw| match Url::parse(raw) {
                    Ok(u) if u.scheme() == "wss" || u.scheme() == "ws" => Ok(raw.to_owned()),
                    _ => Err("must be a wss:// URL".into()),
                },
            ),
            listen_model: r.string("DEEPGRAM_LISTEN_MODEL", "nova-3"),
            think_provider: r.string("DEEPGRAM_THINK_PROVIDER", "open_ai"),
            think_model: r.string("DEEPGRAM_THINK_MODEL", "gpt-4o-mini"),
            speak_model: r.string("DEEPGRAM_SPEAK_MODEL", "aura-2-thalia-en"),
        };
        if call_mode == CallMode::Stream && deepgram.api_key.is_none() {
            r.problems
                .push("CALL_MODE=stream: needs DEEPGRAM_API_KEY".into());
        }

        let sessions = SessionConfig {
            idle_timeout: Duration::from_secs(r.number(
                "SESSION_IDLE_TIMEOUT_SECONDS",
                900u64,
                1,
                86_400,
            )),
            redis_url: r.parsed("REDIS_URL", None, parse_redis_url),
        };
        let max_request_bytes = r.number("MAX_REQUEST_BYTES", 65_536usize, 1024, 16 << 20);
        let twilio_ready = twilio.account_sid.is_some()
            && twilio.auth_token.is_some()
            && twilio.phone_number.is_some();
        let duties = DutiesConfig {
            transfer_number: r.parsed("TRANSFER_NUMBER", None, |raw| {
                PhoneNumber::parse(raw).map(Some)
            }),
            sms_confirmations: r.parsed("SMS_CONFIRMATIONS", twilio_ready, parse_bool),
            reminder_lead: r.raw("REMINDER_LEAD_MINUTES").is_some().then(|| {
                Duration::from_secs(60 * r.number("REMINDER_LEAD_MINUTES", 0u64, 1, 20_160))
            }),
            reminder_channel: r.parsed("REMINDER_CHANNEL", ReminderChannel::Sms, |raw| {
                match raw.to_ascii_lowercase().as_str() {
                    "sms" => Ok(ReminderChannel::Sms),
                    "call" => Ok(ReminderChannel::Call),
                    _ => Err("must be sms or call".into()),
                }
            }),
        };
        let api_token = r.parsed("API_TOKEN", None, |raw| {
            if !crate::api_token::is_well_formed(raw) {
                Err("must be printable ASCII without spaces (it is sent as `Authorization: Bearer <API_TOKEN>`)".into())
            } else if raw.len() < 16 {
                Err("must be at least 16 characters; unset it to have a random one generated".into())
            } else {
                Ok(Some(Secret::new(raw)))
            }
        });
        let log_format = r.parsed("LOG_FORMAT", LogFormat::Text, |raw| {
            match raw.to_ascii_lowercase().as_str() {
                "text" => Ok(LogFormat::Text),
                "json" => Ok(LogFormat::Json),
                _ => Err("must be text or json".into()),
            }
        });

        let database_url = r.raw("DATABASE_URL").and_then(|raw| {
            // The URL usually carries a password: a problem never repeats it.
            match parse_database_url(&raw) {
                Ok(()) => Some(Secret::new(raw)),
                Err(why) => {
                    r.problems.push(format!("DATABASE_URL: {why}"));
                    None
                }
            }
        });

        if !r.problems.is_empty() {
            return Err(ConfigError {
                problems: r.problems,
            });
        }
        Ok(Self {
            host,
            port,
            public_url,
            twilio,
            openai,
            agent,
            calendar,
            business,
            data_dir,
            voice,
            call_mode,
            deepgram,
            sessions,
            duties,
            max_request_bytes,
            api_token,
            log_format,
            database_url,
        })
    }

    /// Settings that are valid but probably not what the user wants, each
    /// with the fix; start-up logs them and `frontdesk check` prints them.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.twilio.validate_signatures && self.public_url.is_local() {
            out.push(format!(
                "PUBLIC_URL={} is this machine, but Twilio signs the public address it calls: \
                 every webhook will be refused (403). Set PUBLIC_URL to your ngrok URL or public \
                 host, e.g. https://abcd-1234.ngrok-free.app",
                self.public_url.as_str()
            ));
        }
        if !self.twilio.validate_signatures && self.twilio.auth_token.is_some() {
            out.push(
                "TWILIO_VALIDATE_SIGNATURES=false: anyone who finds the webhook URLs can play \
                 Twilio; turn it back on before going live"
                    .into(),
            );
        }
        out
    }

    /// The built-in defaults, as `frontdesk` runs with no configuration.
    pub fn defaults() -> Self {
        Self::from_lookup(|_| None).expect("the defaults are valid")
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_lookup(move |name| map.get(name).cloned())
    }

    #[test]
    fn defaults_need_no_configuration() {
        let c = Config::defaults();
        assert_eq!(c.port, 8000);
        assert_eq!(c.public_url.as_str(), "http://localhost:8000");
        assert_eq!(c.agent, AgentKind::Rules);
        assert!(!c.twilio.validate_signatures);
        assert!(c.calendar.use_builtin);
        assert_eq!(c.business.timezone, Tz::UTC);
        assert_eq!(c.voice.silence_threshold_seconds, 4);
        assert_eq!(c.voice.tts_voice, "Polly.Joanna");
        assert_eq!(c.call_mode, CallMode::Gather);
        assert_eq!(c.log_format, LogFormat::Text);
        assert!(c.warnings().is_empty());
    }

    #[test]
    fn public_url_follows_server_port_unless_set() {
        let c = config(&[("SERVER_PORT", "18080")]).unwrap();
        assert_eq!(c.public_url.as_str(), "http://localhost:18080");
        let c = config(&[
            ("SERVER_PORT", "18080"),
            ("PUBLIC_URL", "https://x.example"),
        ])
        .unwrap();
        assert_eq!(c.public_url.as_str(), "https://x.example");
    }

    #[test]
    fn a_local_public_url_with_signatures_on_is_warned_about() {
        for local in [
            "http://localhost:8000",
            "http://127.0.0.1:8000",
            "http://[::1]:8000",
            "http://0.0.0.0",
        ] {
            let c = config(&[("TWILIO_AUTH_TOKEN", "t"), ("PUBLIC_URL", local)]).unwrap();
            let w = c.warnings();
            assert!(
                w.len() == 1 && w[0].starts_with("PUBLIC_URL="),
                "{local}: {w:?}"
            );
        }
        let c = config(&[
            ("TWILIO_AUTH_TOKEN", "t"),
            ("PUBLIC_URL", "https://a.ngrok-free.app"),
        ])
        .unwrap();
        assert!(c.warnings().is_empty());
        let c = config(&[("PUBLIC_URL", "http://localhost:8000")]).unwrap();
        assert!(
            c.warnings().is_empty(),
            "no signatures, nothing to warn about"
        );
    }

    #[test]
    fn log_format_is_text_or_json() {
        assert_eq!(
            config(&[("LOG_FORMAT", "Json")]).unwrap().log_format,
            LogFormat::Json
        );
        assert!(config(&[("LOG_FORMAT", "xml")]).is_err());
    }

    #[test]
    fn auth_token_turns_signature_checks_on_unless_told_otherwise() {
        let c = config(&[("TWILIO_AUTH_TOKEN", "t")]).unwrap();
        assert!(c.twilio.validate_signatures);
        let c = config(&[
            ("TWILIO_AUTH_TOKEN", "t"),
            ("TWILIO_VALIDATE_SIGNATURES", "false"),
        ])
        .unwrap();
        assert!(!c.twilio.validate_signatures);
    }

    #[test]
    fn an_api_key_selects_the_llm_agent_in_auto_mode() {
        assert_eq!(
            config(&[("OPENAI_API_KEY", "k")]).unwrap().agent,
            AgentKind::Llm
        );
        let c = config(&[("OPENAI_API_KEY", "k"), ("AGENT", "rules")]).unwrap();
        assert_eq!(c.agent, AgentKind::Rules);
    }

    #[test]
    fn every_problem_is_reported_with_its_variable() {
        let err = config(&[
            ("SERVER_PORT", "eighty"),
            ("PUBLIC_URL", "ftp://x"),
            ("BUSINESS_TIMEZONE", "Mars/Olympus"),
            ("BUSINESS_HOURS", "17:00-09:00"),
            ("AGENT", "llm"),
            ("TWILIO_VALIDATE_SIGNATURES", "maybe"),
        ])
        .unwrap_err();
        let text = err.to_string();
        for var in [
            "SERVER_PORT",
            "PUBLIC_URL",
            "BUSINESS_TIMEZONE",
            "BUSINESS_HOURS",
            "AGENT=llm",
            "TWILIO_VALIDATE_SIGNATURES",
        ] {
            assert!(text.contains(var), "{var} missing from: {text}");
        }
        assert_eq!(err.problems.len(), 6, "{text}");
    }

    #[test]
    fn public_url_loses_its_trailing_slash_and_joins_paths() {
        let u = PublicUrl::parse("https://abc.ngrok.app/").unwrap();
        assert_eq!(
            u.join("/voice/inbound"),
            "https://abc.ngrok.app/voice/inbound"
        );
        assert_eq!(
            u.websocket("/twilio/stream"),
            "wss://abc.ngrok.app/twilio/stream"
        );
        assert!(PublicUrl::parse("https://x.example/?a=1").is_err());
    }

    #[test]
    fn a_database_url_must_be_postgres_and_is_never_repeated_in_errors() {
        let ok = config(&[(
            "DATABASE_URL",
            "postgres://frontdesk:hunter22@db.example.com:5432/frontdesk?sslmode=require",
        )])
        .unwrap();
        assert!(ok.database_url.is_some());
        assert!(!format!("{ok:?}").contains("hunter22"));
        assert!(config(&[]).unwrap().database_url.is_none());
        for bad in [
            "mysql://root:hunter22@localhost/db",
            "postgres://u:hunter22@localhost/db?sslmode=sometimes",
        ] {
            let err = config(&[("DATABASE_URL", bad)]).unwrap_err().to_string();
            assert!(err.contains("DATABASE_URL: "), "{err}");
            assert!(!err.contains("hunter22"), "{err}");
        }
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let c = config(&[
            ("TWILIO_AUTH_TOKEN", "supersecret"),
            ("OPENAI_API_KEY", "sk-abc"),
        ])
        .unwrap();
        let text = format!("{c:?}");
        assert!(!text.contains("supersecret") && !text.contains("sk-abc"));
    }

    #[test]
    fn business_hours_parse() {
        let (o, c) = parse_business_hours("08:30-18:00").unwrap();
        assert_eq!(o, NaiveTime::from_hms_opt(8, 30, 0).unwrap());
        assert_eq!(c, NaiveTime::from_hms_opt(18, 0, 0).unwrap());
        assert!(parse_business_hours("9-5").is_err());
    }
}
