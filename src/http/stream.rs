//! `GET /twilio/stream`: the Media Streams WebSocket, handed to the bridge.
//!
//! Twilio signs the upgrade request too (`x-twilio-signature`, no body
//! parameters). When signature checks are on, the signature must match the
//! stream's public URL in its `wss://` form (or the `https://` form of the
//! same address); otherwise the upgrade is refused with 403.

use poem::{
    IntoResponse, Request, Response, handler,
    http::StatusCode,
    web::{Data, websocket::WebSocket},
};

use crate::{bridge, state::AppState, twilio::signature};

/// Upgrades to the Media Streams socket and runs the call's bridge on it.
#[handler]
pub fn upgrade(req: &Request, ws: WebSocket, state: Data<&AppState>) -> Response {
    let config = &state.config;
    if config.twilio.validate_signatures
        && let Some(token) = &config.twilio.auth_token
    {
        let path = req
            .uri()
            .path_and_query()
            .map_or_else(|| req.uri().path(), |pq| pq.as_str());
        let given = req
            .headers()
            .get("x-twilio-signature")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let wss = config.public_url.websocket(path);
        let https = config.public_url.join(path);
        let valid = [wss, https]
            .iter()
            .any(|url| signature::is_valid(token.expose(), url, &[], given));
        if !valid {
            tracing::warn!("refused a media stream with a missing or wrong X-Twilio-Signature");
            return (
                StatusCode::FORBIDDEN,
                "X-Twilio-Signature is missing or does not match",
            )
                .into_response();
        }
    }
    let state = state.0.clone();
    ws.on_upgrade(move |socket| bridge::run(state, socket))
        .into_response()
}
