//! Twilio's REST API: placing calls and controlling live ones.
//!
//! One `reqwest` client is built at start and reused (connection pooling,
//! rustls). Every request has a timeout. Twilio's error body (`code`,
//! `message`, `more_info`, `status`) becomes [`TwilioError::Api`] with those
//! fields kept, so the HTTP layer can pass them on with a plain hint.

use std::{sync::Arc, time::Duration};

use serde::Deserialize;

use super::number::PhoneNumber;
use crate::{
    config::{Secret, TwilioConfig},
    metrics::{Delivery, Metrics, TwilioOp},
};

/// How long one REST request may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// What went wrong talking to Twilio.
#[derive(Debug, thiserror::Error)]
pub enum TwilioError {
    /// Credentials are not configured; names the missing variables.
    #[error("Twilio is not configured: set {}", .missing.join(", "))]
    NotConfigured {
        /// The missing variables.
        missing: Vec<&'static str>,
    },
    /// Twilio answered with an error.
    #[error("Twilio error {}: {message}", code.map_or_else(|| status.to_string(), |c| c.to_string()))]
    Api {
        /// HTTP status Twilio answered with.
        status: u16,
        /// Twilio's error code (e.g. 21219).
        code: Option<i64>,
        /// Twilio's message.
        message: String,
        /// Twilio's documentation link.
        more_info: Option<String>,
    },
    /// Twilio did not answer in time.
    #[error("Twilio did not answer in time")]
    Timeout,
    /// Twilio could not be reached, or answered something unreadable.
    #[error("Twilio is unreachable: {0}")]
    Unavailable(String),
}

impl TwilioError {
    /// A plain-words hint for the common error codes.
    pub fn hint(&self) -> Option<&'static str> {
        let Self::Api { code, status, .. } = self else {
            return match self {
                Self::NotConfigured { .. } => Some(
                    "Put your Twilio credentials in the environment or .env (see .env.example).",
                ),
                _ => None,
            };
        };
        Some(match code {
            Some(21219) => {
                "Trial accounts can only call verified numbers: verify this number in the Twilio Console \
                 (Phone Numbers > Verified Caller IDs) or upgrade the account."
            }
            Some(21211) => {
                "The 'To' number is not a valid phone number: use E.164, like +14155551234."
            }
            Some(21212) | Some(21210) => {
                "The 'From' number must be one of your Twilio numbers or a verified caller ID (check TWILIO_PHONE_NUMBER)."
            }
            Some(21214) => "That number cannot be reached.",
            Some(21215) => {
                "Your account is not allowed to call that country: enable it under Voice > Settings > Geo permissions."
            }
            Some(20003) => {
                "Twilio refused the credentials: check TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN."
            }
            Some(20404) => "Twilio does not know that call (or account).",
            Some(21606) => "TWILIO_PHONE_NUMBER cannot send text messages.",
            Some(21608) => {
                "Trial accounts can only text verified numbers: verify the number in the Twilio Console or upgrade."
            }
            Some(21610) => "The recipient replied STOP: Twilio will not text them any more.",
            Some(21614) => "That number is not a mobile number and cannot receive texts.",
            Some(20429) => "Too many requests to Twilio; try again in a moment.",
            _ if *status == 401 => {
                "Twilio refused the credentials: check TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN."
            }
            _ => return None,
        })
    }
}

/// The fields of Twilio's Call resource that frontdesk uses.
#[derive(Debug, Clone, Deserialize)]
pub struct CallResource {
    /// `CA…`.
    pub sid: String,
    /// `queued`, `ringing`, …
    #[serde(default)]
    pub status: Option<String>,
    /// The called number.
    #[serde(default)]
    pub to: Option<String>,
    /// The caller ID used.
    #[serde(default)]
    pub from: Option<String>,
}

/// The fields of Twilio's Message resource that frontdesk uses.
#[derive(Debug, Clone, Deserialize)]
pub struct MessageResource {
    /// `SM…`.
    pub sid: String,
    /// `queued`, `accepted`, …
    #[serde(default)]
    pub status: Option<String>,
}

/// The fields of Twilio's Account resource that `frontdesk check` shows.
#[derive(Debug, Clone, Deserialize)]
pub struct Account {
    /// The account's name.
    #[serde(default)]
    pub friendly_name: Option<String>,
    /// `active`, `suspended` or `closed`.
    #[serde(default)]
    pub status: Option<String>,
    /// `Trial` or `Full`.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
}

/// A call to place.
#[derive(Debug, Clone)]
pub struct NewCall {
    /// Who to call.
    pub to: PhoneNumber,
    /// The caller ID.
    pub from: PhoneNumber,
    /// TwiML URL fetched when the call connects.
    pub url: String,
    /// Where Twilio reports status changes.
    pub status_callback: String,
    /// Ask for answering-machine detection (wait for the beep).
    pub machine_detection: bool,
}

#[derive(Deserialize)]
struct ErrorBody {
    code: Option<i64>,
    message: Option<String>,
    more_info: Option<String>,
    // RFC 9457 bodies from newer APIs.
    detail: Option<String>,
    title: Option<String>,
}

/// The Twilio REST client.
pub struct TwilioClient {
    http: reqwest::Client,
    base_url: String,
    account_sid: Option<String>,
    auth_token: Option<Secret>,
    /// `TWILIO_PHONE_NUMBER`.
    pub phone_number: Option<String>,
    /// Where failed requests are counted.
    metrics: Option<Arc<Metrics>>,
}

impl TwilioClient {
    /// A client for the configured account (credentials may be missing;
    /// calls then fail with [`TwilioError::NotConfigured`]).
    pub fn new(config: &TwilioConfig) -> Self {
        Self::with_timeout(config, REQUEST_TIMEOUT)
    }

    /// A client whose requests give up after `timeout`.
    pub fn with_timeout(config: &TwilioConfig, timeout: Duration) -> Self {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("frontdesk/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("a TLS client can be built");
        Self {
            http,
            base_url: config.api_base_url.clone(),
            account_sid: config.account_sid.clone(),
            auth_token: config.auth_token.clone(),
            phone_number: config.phone_number.clone(),
            metrics: None,
        }
    }

    /// Counts failed requests in `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// The credentials, or which variables are missing (the caller ID too
    /// when `need_from`).
    pub fn credentials(&self, need_from: bool) -> Result<(&str, &Secret), TwilioError> {
        let mut missing = Vec::new();
        if self.account_sid.is_none() {
            missing.push("TWILIO_ACCOUNT_SID");
        }
        if self.auth_token.is_none() {
            missing.push("TWILIO_AUTH_TOKEN");
        }
        if need_from && self.phone_number.is_none() {
            missing.push("TWILIO_PHONE_NUMBER");
        }
        match (&self.account_sid, &self.auth_token) {
            (Some(sid), Some(token)) if missing.is_empty() => Ok((sid, token)),
            _ => Err(TwilioError::NotConfigured { missing }),
        }
    }

    async fn post<T: serde::de::DeserializeOwned>(
        &self,
        op: TwilioOp,
        path: &str,
        form: &[(&str, &str)],
    ) -> Result<T, TwilioError> {
        let result = self.post_form(path, form).await;
        if let Some(metrics) = &self.metrics {
            if op == TwilioOp::SendSms {
                metrics.sms(match result {
                    Ok(_) => Delivery::Sent,
                    Err(_) => Delivery::Failed,
                });
            }
            if result
                .as_ref()
                .is_err_and(|e| !matches!(e, TwilioError::NotConfigured { .. }))
            {
                metrics.twilio_error(op);
            }
        }
        result
    }

    async fn post_form<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        form: &[(&str, &str)],
    ) -> Result<T, TwilioError> {
        let (sid, token) = self.credentials(false)?;
        let url = format!("{}/2010-04-01/Accounts/{sid}{path}", self.base_url);
        let req = self
            .http
            .post(url)
            .basic_auth(sid, Some(token.expose()))
            .form(form);
        Self::send(req).await
    }

    /// Sends a request and reads Twilio's answer, or its error.
    async fn send<T: serde::de::DeserializeOwned>(
        req: reqwest::RequestBuilder,
    ) -> Result<T, TwilioError> {
        let unreachable = |e: reqwest::Error| {
            if e.is_timeout() {
                TwilioError::Timeout
            } else {
                TwilioError::Unavailable(without_url(&e))
            }
        };
        let resp = req.send().await.map_err(unreachable)?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(unreachable)?;
        if status.is_success() {
            return serde_json::from_slice(&body)
                .map_err(|e| TwilioError::Unavailable(format!("unreadable answer: {e}")));
        }
        let parsed: Option<ErrorBody> = serde_json::from_slice(&body).ok();
        let (code, message, more_info) = match parsed {
            Some(b) => (
                b.code,
                b.message
                    .or(b.detail)
                    .or(b.title)
                    .unwrap_or_else(|| status.to_string()),
                b.more_info,
            ),
            None => (None, format!("HTTP {status}"), None),
        };
        Err(TwilioError::Api {
            status: status.as_u16(),
            code,
            message,
            more_info,
        })
    }

    /// Fetches the account the credentials belong to (`GET
    /// /2010-04-01/Accounts/{sid}.json`): a cheap check of the credentials.
    pub async fn fetch_account(&self) -> Result<Account, TwilioError> {
        let (sid, token) = self.credentials(false)?;
        let url = format!("{}/2010-04-01/Accounts/{sid}.json", self.base_url);
        let req = self.http.get(url).basic_auth(sid, Some(token.expose()));
        Self::send(req).await
    }

    /// Places a call (`POST …/Calls.json`).
    pub async fn create_call(&self, call: &NewCall) -> Result<CallResource, TwilioError> {
        let mut form: Vec<(&str, &str)> = vec![
            ("To", call.to.as_str()),
            ("From", call.from.as_str()),
            ("Url", &call.url),
            ("Method", "POST"),
            ("StatusCallback", &call.status_callback),
            ("StatusCallbackMethod", "POST"),
            ("StatusCallbackEvent", "initiated"),
            ("StatusCallbackEvent", "ringing"),
            ("StatusCallbackEvent", "answered"),
            ("StatusCallbackEvent", "completed"),
        ];
        if call.machine_detection {
            form.push(("MachineDetection", "DetectMessageEnd"));
        }
        self.post(TwilioOp::CreateCall, "/Calls.json", &form).await
    }

    /// Hangs up a live call (`Status=completed`).
    pub async fn hang_up(&self, call_sid: &str) -> Result<CallResource, TwilioError> {
        self.post(
            TwilioOp::HangUp,
            &format!("/Calls/{call_sid}.json"),
            &[("Status", "completed")],
        )
        .await
    }

    /// Sends a text message from `TWILIO_PHONE_NUMBER` (`POST …/Messages.json`).
    pub async fn send_sms(
        &self,
        to: &PhoneNumber,
        body: &str,
    ) -> Result<MessageResource, TwilioError> {
        self.credentials(true)?;
        let from = self.phone_number.as_deref().unwrap_or_default();
        self.post(
            TwilioOp::SendSms,
            "/Messages.json",
            &[("To", to.as_str()), ("From", from), ("Body", body)],
        )
        .await
    }

    /// Makes a live call fetch new TwiML from `url` now.
    pub async fn redirect(&self, call_sid: &str, url: &str) -> Result<CallResource, TwilioError> {
        self.post(
            TwilioOp::Redirect,
            &format!("/Calls/{call_sid}.json"),
            &[("Url", url), ("Method", "POST")],
        )
        .await
    }
}

/// A reqwest error without its URL (which carries the account id).
fn without_url(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text.replace(url.as_str(), "Twilio");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_errors_have_plain_hints() {
        let api = |code| TwilioError::Api {
            status: 400,
            code: Some(code),
            message: "m".into(),
            more_info: None,
        };
        assert!(api(21219).hint().unwrap().contains("verify"));
        assert!(api(21211).hint().unwrap().contains("E.164"));
        assert!(api(20003).hint().unwrap().contains("TWILIO_AUTH_TOKEN"));
        assert!(api(99999).hint().is_none());
        let missing = TwilioError::NotConfigured {
            missing: vec!["TWILIO_ACCOUNT_SID", "TWILIO_PHONE_NUMBER"],
        };
        assert_eq!(
            missing.to_string(),
            "Twilio is not configured: set TWILIO_ACCOUNT_SID, TWILIO_PHONE_NUMBER"
        );
    }
}
