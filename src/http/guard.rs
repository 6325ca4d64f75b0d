//! Request guards that run before any handler parses a body.
//!
//! [`BodyLimit`] buffers every request body up to `MAX_REQUEST_BYTES` and
//! refuses larger ones with 413, whether or not a `Content-Length` was sent.
//! [`TwilioSignature`] then checks `X-Twilio-Signature` on every `/voice/*`
//! request, over the public URL (`PUBLIC_URL` + path + raw query, since a
//! proxy or tunnel changes what the server itself sees) and the form's
//! parameters. A request that fails gets 403 and reaches no handler, so it
//! changes nothing.

use std::sync::Arc;

use poem::{
    Endpoint, IntoResponse, Middleware, Request, Response, Result,
    http::{Method, StatusCode, header},
};

use crate::{config::Secret, twilio::signature};

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

fn too_large(limit: usize) -> Response {
    (
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("request body larger than {limit} bytes"),
    )
        .into_response()
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
                    return Ok((
                        StatusCode::BAD_REQUEST,
                        format!("could not read the body: {e}"),
                    )
                        .into_response());
                }
            }
        }
        Ok(self.inner.call(req).await?.into_response())
    }
}

/// Checks Twilio's signature on `/voice/*` when signatures are on.
pub struct TwilioSignature {
    /// The auth token (the HMAC key); `None` turns the check off.
    pub auth_token: Option<Secret>,
    /// Validates URLs under `PUBLIC_URL`.
    pub validator: Arc<signature::Validator>,
}

impl<E: Endpoint> Middleware<E> for TwilioSignature {
    type Output = TwilioSignatureEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        TwilioSignatureEndpoint {
            inner,
            auth_token: self.auth_token.clone(),
            validator: Arc::clone(&self.validator),
        }
    }
}

/// See [`TwilioSignature`].
pub struct TwilioSignatureEndpoint<E> {
    inner: E,
    auth_token: Option<Secret>,
    validator: Arc<signature::Validator>,
}

impl<E: Endpoint> Endpoint for TwilioSignatureEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> Result<Self::Output> {
        let Some(token) = &self.auth_token else {
            return Ok(self.inner.call(req).await?.into_response());
        };
        if !req.uri().path().starts_with("/voice/") {
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
            self.validator
                .is_valid(token.expose(), path_and_query, &params, sig)
        });
        if !valid {
            tracing::warn!(
                path = req.uri().path(),
                "refused a webhook with a missing or wrong X-Twilio-Signature"
            );
            return Ok((
                StatusCode::FORBIDDEN,
                "X-Twilio-Signature is missing or does not match this request",
            )
                .into_response());
        }
        req.set_body(body);
        Ok(self.inner.call(req).await?.into_response())
    }
}
