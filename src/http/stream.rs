//! `GET /twilio/stream`: the Media Streams WebSocket, handed to the bridge.
//!
//! Twilio signs the upgrade request too; `guard::TwilioSignature` checks it
//! (against the stream's public `wss://` URL) before this handler runs, as
//! it does for the webhooks.

use std::sync::Arc;

use poem::{
    IntoResponse, Response, handler,
    web::{Data, websocket::WebSocket},
};

use crate::{bridge, state::AppState};

/// Upgrades to the Media Streams socket and runs the call's bridge on it.
#[handler]
pub fn upgrade(ws: WebSocket, state: Data<&AppState>) -> Response {
    let deps = bridge::Deps {
        config: Arc::clone(&state.config),
        sessions: Arc::clone(&state.sessions),
        tools: state.tools.clone(),
        twilio: Arc::clone(&state.twilio),
        clock: Arc::clone(&state.clock),
        bridges: Arc::clone(&state.bridges),
    };
    ws.on_upgrade(move |socket| bridge::run(deps, socket))
        .into_response()
}
