//! `frontdesk check`: the configuration as a table of variables (secrets
//! masked) with its warnings, and with `--online` a probe of each outside
//! service — Twilio (fetch the account), the LLM (list the models), the
//! calendar (read it), PostgreSQL (read the schema version) — every failure
//! with what to do about it.
//!
//! Probes only read; nothing is booked, called or sent. `PUBLIC_URL` cannot
//! be checked from here (reaching it from this machine proves nothing about
//! reaching it from Twilio), so the report says how to check it by hand.

use std::{fmt::Write as _, time::Duration};

use chrono::Utc;
use serde::Deserialize;

use crate::{
    api_token,
    config::{AgentKind, CallMode, Config, LogFormat, Secret},
    twilio::client::{TwilioClient, TwilioError},
};

/// How long each probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// A secret as `set (****wxyz)`: enough to tell two apart, not to use one.
pub fn mask(secret: &Secret) -> String {
    let s = secret.expose();
    let tail: String = s
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    if s.chars().count() >= 16 {
        format!("set (****{tail})")
    } else {
        "set (****)".into()
    }
}

fn opt(value: Option<&str>) -> String {
    value.map_or_else(|| "(unset)".to_owned(), str::to_owned)
}

fn secret(value: Option<&Secret>) -> String {
    value.map_or_else(|| "(unset)".to_owned(), mask)
}

/// `DATABASE_URL` with its password (and any query string) hidden.
fn database_url(url: &Secret) -> String {
    match url::Url::parse(url.expose()) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("****"));
            }
            u.set_query(None);
            u.to_string()
        }
        Err(_) => mask(url),
    }
}

/// The settings in effect, by variable name.
pub fn settings(config: &Config) -> Vec<(&'static str, String)> {
    let c = config;
    let api_token = match &c.api_token {
        Some(t) => mask(t),
        None => format!(
            "(unset: {} is used, generated at the first start)",
            api_token::path(&c.data_dir).display()
        ),
    };
    vec![
        ("SERVER_HOST", c.host.to_string()),
        ("SERVER_PORT", c.port.to_string()),
        ("PUBLIC_URL", c.public_url.as_str().to_owned()),
        ("API_TOKEN", api_token),
        ("TWILIO_ACCOUNT_SID", opt(c.twilio.account_sid.as_deref())),
        ("TWILIO_AUTH_TOKEN", secret(c.twilio.auth_token.as_ref())),
        ("TWILIO_PHONE_NUMBER", opt(c.twilio.phone_number.as_deref())),
        ("TWILIO_API_BASE_URL", c.twilio.api_base_url.clone()),
        (
            "TWILIO_VALIDATE_SIGNATURES",
            c.twilio.validate_signatures.to_string(),
        ),
        (
            "AGENT",
            match c.agent {
                AgentKind::Llm => "llm".into(),
                AgentKind::Rules => "rules (built-in)".into(),
            },
        ),
        ("OPENAI_API_KEY", secret(c.openai.api_key.as_ref())),
        ("OPENAI_BASE_URL", c.openai.base_url.clone()),
        ("OPENAI_MODEL", c.openai.model.clone()),
        (
            "USE_MOCK_CALENDAR",
            if c.calendar.use_builtin {
                "true (built-in calendar)".into()
            } else {
                "false (Google Calendar)".into()
            },
        ),
        ("GOOGLE_CALENDAR_ID", c.calendar.google_calendar_id.clone()),
        (
            "GOOGLE_APPLICATION_CREDENTIALS",
            opt(c
                .calendar
                .google_credentials
                .as_deref()
                .and_then(|p| p.to_str())),
        ),
        ("BUSINESS_NAME", c.business.name.clone()),
        ("BUSINESS_TIMEZONE", c.business.timezone.name().to_owned()),
        (
            "BUSINESS_HOURS",
            format!(
                "{}-{}",
                c.business.opens.format("%H:%M"),
                c.business.closes.format("%H:%M")
            ),
        ),
        (
            "APPOINTMENT_MINUTES",
            c.business.appointment_minutes.to_string(),
        ),
        ("DATA_DIR", c.data_dir.display().to_string()),
        (
            "DATABASE_URL",
            c.database_url
                .as_ref()
                .map_or_else(|| "(unset: SQLite under DATA_DIR)".to_owned(), database_url),
        ),
        (
            "CALL_MODE",
            match c.call_mode {
                CallMode::Gather => "gather".into(),
                CallMode::Stream => "stream".into(),
            },
        ),
        ("DEEPGRAM_API_KEY", secret(c.deepgram.api_key.as_ref())),
        ("SPEECH_LANGUAGE", c.voice.speech_language.clone()),
        ("TTS_VOICE", c.voice.tts_voice.clone()),
        (
            "SILENCE_THRESHOLD_SECONDS",
            c.voice.silence_threshold_seconds.to_string(),
        ),
        (
            "HOLD_AFTER_MS",
            c.voice.first_wait().as_millis().to_string(),
        ),
        (
            "TURN_BUDGET_MS",
            c.voice.turn_budget.as_millis().to_string(),
        ),
        ("SPECULATIVE_TURNS", c.voice.speculative_turns.to_string()),
        (
            "SESSION_IDLE_TIMEOUT_SECONDS",
            c.sessions.idle_timeout.as_secs().to_string(),
        ),
        ("MAX_REQUEST_BYTES", c.max_request_bytes.to_string()),
        (
            "LOG_FORMAT",
            match c.log_format {
                LogFormat::Text => "text".into(),
                LogFormat::Json => "json".into(),
            },
        ),
    ]
}

/// The settings as an aligned table, then the warnings.
pub fn report(config: &Config) -> String {
    let rows = settings(config);
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let mut out = String::from("The configuration is valid. Settings in effect:\n\n");
    for (name, value) in rows {
        let _ = writeln!(out, "  {name:<width$}  {value}");
    }
    let warnings = config.warnings();
    if !warnings.is_empty() {
        out.push_str("\nWarnings:\n");
        for w in warnings {
            let _ = writeln!(out, "  ! {w}");
        }
    }
    out
}

/// The result of one probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It works; what was found.
    Ok(String),
    /// It does not; what went wrong and what to do.
    Failed {
        /// What went wrong.
        problem: String,
        /// What to do about it.
        fix: String,
    },
    /// Not checked, and why.
    Skipped(String),
}

/// One outside service, probed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// The service.
    pub name: &'static str,
    /// What happened.
    pub outcome: Outcome,
}

impl Probe {
    fn failed(name: &'static str, problem: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            name,
            outcome: Outcome::Failed {
                problem: problem.into(),
                fix: fix.into(),
            },
        }
    }
}

/// Tries each configured outside service.
pub async fn online(config: &Config) -> Vec<Probe> {
    vec![
        twilio(config).await,
        llm(config).await,
        calendar(config).await,
        database(config).await,
        Probe {
            name: "PUBLIC_URL",
            outcome: Outcome::Skipped(format!(
                "cannot be checked from this machine: open {}/health from another network \
                 (e.g. a phone off Wi-Fi); it must answer {{\"status\":\"ok\"}}",
                config.public_url.as_str()
            )),
        },
    ]
}

/// Reads the schema version from `DATABASE_URL` (nothing is created).
async fn database(config: &Config) -> Probe {
    const NAME: &str = "database";
    let Some(url) = &config.database_url else {
        return Probe {
            name: NAME,
            outcome: Outcome::Skipped(
                "DATABASE_URL is unset: SQLite under DATA_DIR (one instance)".into(),
            ),
        };
    };
    let fix = "check DATABASE_URL's host, port, user, password and database, and that the \
               server accepts connections from this machine";
    let db = match crate::postgres::Postgres::pool(url.expose()) {
        Ok(db) => db,
        Err(e) => return Probe::failed(NAME, e.to_string(), fix),
    };
    match db.schema_version().await {
        Ok(version) => Probe {
            name: NAME,
            outcome: Outcome::Ok(format!(
                "PostgreSQL reachable, schema {} at version {version}",
                crate::postgres::SCHEMA
            )),
        },
        Err(e)
            if e.is(&tokio_postgres::error::SqlState::UNDEFINED_TABLE)
                || e.is(&tokio_postgres::error::SqlState::INVALID_SCHEMA_NAME) =>
        {
            Probe {
                name: NAME,
                outcome: Outcome::Ok(format!(
                    "PostgreSQL reachable; the schema {} is created at the first start",
                    crate::postgres::SCHEMA
                )),
            }
        }
        Err(e) => Probe::failed(NAME, e.to_string(), fix),
    }
}

/// The probes as lines; `true` when none failed.
pub fn render(probes: &[Probe]) -> (String, bool) {
    let mut out = String::from("\nOnline checks:\n\n");
    let mut ok = true;
    for p in probes {
        match &p.outcome {
            Outcome::Ok(what) => {
                let _ = writeln!(out, "  ok      {}: {what}", p.name);
            }
            Outcome::Skipped(why) => {
                let _ = writeln!(out, "  skipped {}: {why}", p.name);
            }
            Outcome::Failed { problem, fix } => {
                ok = false;
                let _ = writeln!(out, "  FAILED  {}: {problem}\n          fix: {fix}", p.name);
            }
        }
    }
    (out, ok)
}

async fn twilio(config: &Config) -> Probe {
    const NAME: &str = "Twilio";
    let client = TwilioClient::with_timeout(&config.twilio, PROBE_TIMEOUT);
    match client.fetch_account().await {
        Ok(account) => {
            let name = account.friendly_name.unwrap_or_else(|| "(no name)".into());
            let kind = account.kind.unwrap_or_else(|| "unknown type".into());
            let status = account.status.unwrap_or_else(|| "unknown status".into());
            if status != "active" {
                return Probe::failed(
                    NAME,
                    format!("the account {name:?} is {status}"),
                    "reactivate it in the Twilio Console",
                );
            }
            let mut what = format!("account {name:?} ({kind}, {status})");
            if kind.eq_ignore_ascii_case("trial") {
                what.push_str("; a trial account calls only verified numbers");
            }
            Probe {
                name: NAME,
                outcome: Outcome::Ok(what),
            }
        }
        Err(TwilioError::NotConfigured { missing }) => Probe {
            name: NAME,
            outcome: Outcome::Skipped(format!(
                "{} unset: callers can still call in, but placing calls (/make-call) needs them",
                missing.join(", ")
            )),
        },
        Err(e) => {
            let fix = e.hint().map_or_else(
                || match &e {
                    TwilioError::Timeout | TwilioError::Unavailable(_) => format!(
                        "check the network and TWILIO_API_BASE_URL ({})",
                        config.twilio.api_base_url
                    ),
                    _ => "check TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN in the Twilio Console \
                          (Account info)"
                        .into(),
                },
                str::to_owned,
            );
            Probe::failed(NAME, e.to_string(), fix)
        }
    }
}

#[derive(Deserialize)]
struct Models {
    #[serde(default)]
    data: Vec<Model>,
}

#[derive(Deserialize)]
struct Model {
    id: String,
}

async fn llm(config: &Config) -> Probe {
    const NAME: &str = "LLM";
    let openai = &config.openai;
    let Some(key) = &openai.api_key else {
        return Probe {
            name: NAME,
            outcome: Outcome::Skipped(
                "OPENAI_API_KEY unset: the built-in rules agent answers".into(),
            ),
        };
    };
    let url = format!("{}/models", openai.base_url.trim_end_matches('/'));
    let client = match reqwest::Client::builder().timeout(PROBE_TIMEOUT).build() {
        Ok(c) => c,
        Err(e) => return Probe::failed(NAME, format!("no HTTP client: {e}"), "report this bug"),
    };
    let resp = match client.get(&url).bearer_auth(key.expose()).send().await {
        Ok(r) => r,
        Err(e) => {
            return Probe::failed(
                NAME,
                format!("cannot reach {url}: {}", e.without_url()),
                "check the network and OPENAI_BASE_URL (it usually ends in /v1)",
            );
        }
    };
    let status = resp.status();
    if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
        return Probe::failed(
            NAME,
            format!("{url} refused the key (HTTP {})", status.as_u16()),
            "check OPENAI_API_KEY",
        );
    }
    if !status.is_success() {
        return Probe::failed(
            NAME,
            format!("{url} answered HTTP {}", status.as_u16()),
            "OPENAI_BASE_URL must be an OpenAI-compatible API (it usually ends in /v1)",
        );
    }
    let models: Models = match resp.json().await {
        Ok(m) => m,
        Err(_) => {
            return Probe::failed(
                NAME,
                format!("{url} did not answer a model list"),
                "OPENAI_BASE_URL must be an OpenAI-compatible API (it usually ends in /v1)",
            );
        }
    };
    if models.data.is_empty() || models.data.iter().any(|m| m.id == openai.model) {
        Probe {
            name: NAME,
            outcome: Outcome::Ok(format!(
                "{} answers with the key; model {}",
                openai.base_url, openai.model
            )),
        }
    } else {
        let offered: Vec<&str> = models.data.iter().take(8).map(|m| m.id.as_str()).collect();
        Probe::failed(
            NAME,
            format!("the server does not offer OPENAI_MODEL={}", openai.model),
            format!("set OPENAI_MODEL to one it offers: {}", offered.join(", ")),
        )
    }
}

async fn calendar(config: &Config) -> Probe {
    const NAME: &str = "calendar";
    if config.calendar.use_builtin {
        return match crate::startup::prepare_data_dir(&config.data_dir) {
            Ok(()) => Probe {
                name: NAME,
                outcome: Outcome::Ok(format!(
                    "built-in, under DATA_DIR {} (writable)",
                    config.data_dir.display()
                )),
            },
            Err(e) => Probe::failed(
                NAME,
                e.to_string(),
                "make DATA_DIR writable by this user or point it elsewhere",
            ),
        };
    }
    let fix = "check GOOGLE_APPLICATION_CREDENTIALS (a service-account key file) and share the \
               calendar GOOGLE_CALENDAR_ID with the service account's email (Make changes to events)";
    let calendar = match tokio::time::timeout(
        PROBE_TIMEOUT,
        crate::startup::open_calendar(config, None),
    )
    .await
    {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => return Probe::failed(NAME, e.to_string(), fix),
        Err(_) => return Probe::failed(NAME, "Google did not answer in time", fix),
    };
    let now = Utc::now();
    match tokio::time::timeout(
        PROBE_TIMEOUT,
        calendar.list(now, now + chrono::Duration::days(7)),
    )
    .await
    {
        Ok(Ok(found)) => Probe {
            name: NAME,
            outcome: Outcome::Ok(format!(
                "Google Calendar {} readable ({} appointments in the next 7 days)",
                config.calendar.google_calendar_id,
                found.len()
            )),
        },
        Ok(Err(e)) => Probe::failed(NAME, e.to_string(), fix),
        Err(_) => Probe::failed(NAME, "Google did not answer in time", fix),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked_in_the_table() {
        let config = Config::from_lookup(|name| match name {
            "TWILIO_AUTH_TOKEN" => Some("0123456789abcdef0123456789abwxyz".into()),
            "OPENAI_API_KEY" => Some("sk-very-secret-key-1234".into()),
            "API_TOKEN" => Some("an-api-token-of-some-length".into()),
            "TWILIO_ACCOUNT_SID" => Some("AC0123".into()),
            "DATABASE_URL" => Some(
                "postgres://frontdesk:pg-pass-word@db.example.com:5432/desk?sslmode=require".into(),
            ),
            _ => None,
        })
        .unwrap();
        let text = report(&config);
        for secret in [
            "0123456789abcdef0123456789abwxyz",
            "sk-very-secret-key",
            "an-api-token-of-some",
            "pg-pass-word",
        ] {
            assert!(!text.contains(secret), "{secret} leaked:\n{text}");
        }
        assert!(text.contains("TWILIO_AUTH_TOKEN"), "{text}");
        assert!(text.contains("set (****wxyz)"), "{text}");
        assert!(text.contains("AC0123"), "{text}");
        assert!(
            text.contains("postgres://frontdesk:****@db.example.com:5432/desk"),
            "{text}"
        );
        assert!(
            !text.contains("auth_token") && !text.contains("Secret("),
            "{text}"
        );
        // Signatures are on and PUBLIC_URL is local: warned, with the fix.
        assert!(
            text.contains("Warnings:") && text.contains("ngrok"),
            "{text}"
        );
    }

    #[test]
    fn short_secrets_show_nothing_of_themselves() {
        assert_eq!(mask(&Secret::new("abc")), "set (****)");
    }
}
