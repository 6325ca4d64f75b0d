//! The `frontdesk call` command: places a call through a running server's
//! `POST /make-call` and reports the result (or the error) in plain words.

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use crate::config::Secret;

/// The body sent to `/make-call`.
#[derive(Debug, Clone, Serialize)]
pub struct CallRequest {
    /// Who to call.
    pub to_number: String,
    /// The caller ID.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_number: Option<String>,
    /// The first thing said.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub initial_message: Option<String>,
    /// Answering-machine detection.
    pub machine_detection: bool,
}

/// Places the call with the API token; `Ok` holds the line to print (the
/// call SID first).
pub async fn place_call(
    server: &str,
    api_token: &Secret,
    request: &CallRequest,
) -> Result<String, String> {
    let url = format!("{}/make-call", server.trim_end_matches('/'));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
    let resp = client
        .post(&url)
        .bearer_auth(api_token.expose())
        .json(request)
        .send()
        .await
        .map_err(|e| {
            format!("cannot reach frontdesk at {server}: {e} (is `frontdesk serve` running?)")
        })?;
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    if status.is_success() {
        let field = |k: &str| body[k].as_str().unwrap_or("?").to_owned();
        return Ok(format!(
            "{}  ({} → {}, {})",
            field("call_sid"),
            field("from"),
            field("to"),
            field("status")
        ));
    }
    Err(describe_error(status.as_u16(), &body))
}

/// A readable account of an error answer from `/make-call`.
pub fn describe_error(status: u16, body: &Value) -> String {
    let mut out = format!(
        "the call was not placed (HTTP {status}): {}",
        body["error"].as_str().unwrap_or("no details")
    );
    if let Some(code) = body["code"].as_i64() {
        out.push_str(&format!(
            "\n  Twilio error {code}: {}",
            body["message"].as_str().unwrap_or_default()
        ));
    }
    if let Some(hint) = body["hint"].as_str() {
        out.push_str(&format!("\n  hint: {hint}"));
    }
    if let Some(more) = body["more_info"].as_str() {
        out.push_str(&format!("\n  more: {more}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twilio_errors_read_plainly() {
        let body = serde_json::json!({
            "error": "Twilio error 21219: The number is unverified.",
            "code": 21219,
            "message": "The number is unverified.",
            "hint": "verify it",
            "more_info": "https://www.twilio.com/docs/errors/21219"
        });
        let text = describe_error(400, &body);
        assert!(text.contains("HTTP 400"));
        assert!(text.contains("Twilio error 21219: The number is unverified."));
        assert!(text.contains("hint: verify it"));
    }
}
