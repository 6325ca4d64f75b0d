//! Request guards that run before any handler parses a body.
//!
//! [`BodyLimit`] buffers every request body up to `MAX_REQUEST_BYTES` and
//! refuses larger ones with 413, whether or not a `Content-Length` was sent.
//! [`TwilioSignature`] then checks `X-Twilio-Signature` on every `/voice/*`
//! request and on the `/twilio/stream` WebSocket upgrade, over the public URL
//! (`PUBLIC_URL` + path + raw query, since a proxy or tunnel changes what the
//! server itself sees) and the form's parameters. A request that fails gets
//! 403 and reaches no handler, so it changes nothing. Both answer with the
//! API's JSON error.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
};

use poem::{
    Endpoint, IntoResponse, Middleware, Request, Response, Result,
    http::{Method, StatusCode, header},
};

use super::api::ErrorBody;
use crate::{
    config::{Config, Secret},
    twilio::signature,
};

/// Buffers request bodies up to a limit.
pub struct BodyLimit(pub usize);

impl<E: Endpoint> Middleware<E> for BodyLimit {
    type Output = BodyLimitEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        BodyLimitEndpoint {
            inner,
            limit: self.0,
        }
    }
}

/// See [`BodyLimit`].
pub struct BodyLimitEndpoint<E> {
    inner: E,
    limit: usize,
}

/// 413, and `Connection: close`: the rest of the body is not read, so the
/// connection cannot carry another request (the client opens a new one).
fn too_large(limit: usize) -> Response {
    let mut resp = ErrorBody {
        error: format!("request body larger than {limit} bytes"),
        hint: Some("MAX_REQUEST_BYTES sets the limit".into()),
        ..ErrorBody::default()
    }
    .into_response(StatusCode::PAYLOAD_TOO_LARGE);
    resp.headers_mut().insert(
        header::CONNECTION,
        header::HeaderValue::from_static("close"),
    );
    resp
}

impl<E: Endpoint> Endpoint for BodyLimitEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> Result<Self::Output> {
        if matches!(*req.method(), Method::POST | Method::PUT | Method::PATCH) {
            let declared = req
                .headers()
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            if declared.is_some_and(|n| n > self.limit as u64) {
                return Ok(too_large(self.limit));
            }
            match req.take_body().into_bytes_limit(self.limit).await {
                Ok(bytes) => req.set_body(bytes),
                Err(poem::error::ReadBodyError::PayloadTooLarge) => {
                    return Ok(too_large(self.limit));
                }
                Err(e) => {
                    return Ok(ErrorBody::new(format!("could not read the body: {e}"))
                        .into_response(StatusCode::BAD_REQUEST));
                }
            }
        }
        Ok(self.inner.call(req).await?.into_response())
    }
}

/// Checks Twilio's signature on every `/voice/*` webhook and on the
/// `/twilio/stream` WebSocket upgrade, when signatures are on.
///
/// A webhook is signed over its public URL and form parameters; the upgrade
/// over the stream's public URL in its `wss://` form (or the `https://` form
/// of the same address) with no parameters. A refusal is logged at warn once
/// per call, with the URL the signature was checked against and the fix.
#[derive(Clone)]
pub struct TwilioSignature {
    /// The auth token (the HMAC key); `None` turns the check off.
    auth_token: Option<Secret>,
    /// Validates URLs under `PUBLIC_URL`.
    https: Arc<signature::Validator>,
    /// Validates URLs under the `wss://` form of `PUBLIC_URL`.
    wss: Arc<signature::Validator>,
    /// `PUBLIC_URL`, for the warning.
    public_url: Arc<str>,
    /// Calls whose refusal was logged already.
    warned: Arc<Mutex<HashSet<String>>>,
}

/// At most this many calls are remembered as warned about; then the memory
/// starts again (a flood of forged requests cannot grow it).
const WARNED_CALLS: usize = 1024;

impl TwilioSignature {
    /// The guard for `config` (off unless signatures are on).
    pub fn new(config: &Config) -> Self {
        let public = &config.public_url;
        Self {
            auth_token: config
                .twilio
                .validate_signatures
                .then(|| config.twilio.auth_token.clone())
                .flatten(),
            https: Arc::new(signature::Validator::new(public.as_str())),
            wss: Arc::new(signature::Validator::new(&public.websocket(""))),
            public_url: public.as_str().into(),
            warned: Arc::default(),
        }
    }

    /// Whether this request is one Twilio signs.
    fn guards(req: &Request) -> bool {
        let path = req.uri().path();
        path.starts_with("/voice/") || path == "/twilio/stream"
    }

    /// Whether this is the first refusal for `key` (a call, or a path when
    /// the request names no call) since the memory last started again.
    fn first_refusal(&self, key: &str) -> bool {
        let mut warned = self.warned.lock().unwrap_or_else(|e| e.into_inner());
        if warned.len() >= WARNED_CALLS {
            warned.clear();
        }
        warned.insert(key.to_owned())
    }

    /// The URL a signature for this path was checked against.
    fn checked_url(&self, path_and_query: &str) -> String {
        if path_and_query.starts_with("/twilio/stream") {
            format!(
                "{}{path_and_query}",
                self.public_url.replacen("http", "ws", 1)
            )
        } else {
            format!("{}{path_and_query}", self.public_url)
        }
    }

    /// Logs a refusal at warn, once per call, with the URL and the fix.
    fn warn_once(&self, path_and_query: &str, call: Option<&str>, signed: bool) {
        let path = path_and_query.split('?').next().unwrap_or_default();
        if !self.first_refusal(call.unwrap_or(path)) {
            return;
        }
        let url = self.checked_url(path_and_query);
        let call_sid = call.unwrap_or("-");
        if signed {
            tracing::warn!(
                call_sid,
                %url,
                public_url = %self.public_url,
                "refused a request whose X-Twilio-Signature does not match the URL it was checked \
                 against: PUBLIC_URL must be exactly the address Twilio calls (the one in the \
                 Twilio Console, e.g. your ngrok URL), and TWILIO_AUTH_TOKEN the account's \
                 current auth token"
            );
        } else {
            tracing::warn!(
                call_sid,
                %url,
                "refused a request without X-Twilio-Signature: it did not come from Twilio. \
                 To try webhooks by hand, set TWILIO_VALIDATE_SIGNATURES=false"
            );
        }
    }
}

impl<E: Endpoint> Middleware<E> for TwilioSignature {
    type Output = TwilioSignatureEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        TwilioSignatureEndpoint {
            inner,
            guard: self.clone(),
        }
    }
}

/// See [`TwilioSignature`].
pub struct TwilioSignatureEndpoint<E> {
    inner: E,
    guard: TwilioSignature,
}

impl<E: Endpoint> Endpoint for TwilioSignatureEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> Result<Self::Output> {
        let guard = &self.guard;
        let Some(token) = &guard.auth_token else {
            return Ok(self.inner.call(req).await?.into_response());
        };
        if !TwilioSignature::guards(&req) {
            return Ok(self.inner.call(req).await?.into_response());
        }
        let given = req
            .headers()
            .get("x-twilio-signature")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        // BodyLimit has buffered the body already; taking it is cheap.
        let body = req.take_body().into_bytes().await.unwrap_or_default();
        let is_form = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        // Values are borrowed from the body unless they need decoding.
        let pairs: Vec<_> = if is_form && *req.method() == Method::POST {
            form_urlencoded::parse(&body).collect()
        } else {
            Vec::new()
        };
        let params: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (&**k, &**v)).collect();
        // The URL Twilio signed: the public base plus the raw path and query
        // (a proxy or tunnel changes what this server itself sees).
        let path_and_query = req
            .uri()
            .path_and_query()
            .map_or_else(|| req.uri().path(), |pq| pq.as_str());
        let valid = given.as_deref().is_some_and(|sig| {
            let token = token.expose();
            if req.uri().path() == "/twilio/stream" {
                // Both forms are always computed, so timing does not tell which matched.
                let wss = guard.wss.is_valid(token, path_and_query, &[], sig);
                let https = guard.https.is_valid(token, path_and_query, &[], sig);
                wss | https
            } else {
                guard.https.is_valid(token, path_and_query, &params, sig)
            }
        });
        if !valid {
            let call = params
                .iter()
                .find(|(k, _)| *k == "CallSid")
                .map(|(_, v)| *v);
            guard.warn_once(path_and_query, call, given.is_some());
            return Ok(ErrorBody {
                error: "X-Twilio-Signature is missing or does not match this request".into(),
                hint: Some(
                    "PUBLIC_URL must be exactly the address Twilio calls; the server log names \
                     the URL the signature was checked against"
                        .into(),
                ),
                ..ErrorBody::default()
            }
            .into_response(StatusCode::FORBIDDEN));
        }
        drop(pairs);
        req.set_body(body);
        Ok(self.inner.call(req).await?.into_response())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard() -> TwilioSignature {
        let config = Config::from_lookup(|name| match name {
            "TWILIO_AUTH_TOKEN" => Some("token".into()),
            "PUBLIC_URL" => Some("https://abc.ngrok.app".into()),
            _ => None,
        })
        .unwrap();
        TwilioSignature::new(&config)
    }

    #[test]
    fn a_refusal_is_reported_once_per_call() {
        let g = guard();
        assert!(g.first_refusal("CA1"));
        assert!(!g.first_refusal("CA1"));
        assert!(g.first_refusal("CA2"));
        // The memory is bounded: it starts again rather than grow.
        for n in 0..WARNED_CALLS * 2 {
            g.first_refusal(&format!("CA{n:032}"));
        }
        assert!(g.warned.lock().unwrap().len() <= WARNED_CALLS);
    }

    #[test]
    fn the_report_names_the_public_url_the_signature_was_checked_against() {
        let g = guard();
        assert_eq!(
            g.checked_url("/voice/inbound?x=1"),
            "https://abc.ngrok.app/voice/inbound?x=1"
        );
        assert_eq!(
            g.checked_url("/twilio/stream"),
            "wss://abc.ngrok.app/twilio/stream"
        );
    }
}
