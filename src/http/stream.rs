//! `GET /twilio/stream`: the Media Streams WebSocket, handed to the bridge.
//!
//! Twilio signs the upgrade request too; `guard::TwilioSignature` checks it
//! (against the stream's public `wss://` URL) before this handler runs, as
//! it does for the webhooks.

use poem::{
    IntoResponse, Response, handler,
    web::{Data, websocket::WebSocket},
};

use crate::{bridge, state::AppState};

/// Upgrades to the Media Streams socket and runs the call's bridge on it.
#[handler]
pub fn upgrade(ws: WebSocket, state: Data<&AppState>) -> Response {
    let state = state.0.clone();
    ws.on_upgrade(move |socket| bridge::run(state, socket))
        .into_response()
}
