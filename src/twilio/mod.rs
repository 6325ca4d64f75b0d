//! Twilio: the REST client, webhook signatures and the typed webhook forms.
//!
//! Nothing here knows HTTP servers; the `http` module feeds requests in.

pub mod client;
pub mod number;
pub mod signature;
pub mod webhook;
