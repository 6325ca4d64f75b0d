//! The JSON REST API (system status, calls, sessions, appointments),
//! described by the OpenAPI document. Each group owns its routes; the one
//! error shape and the documented error outcomes live in [`error`].
//!
//! Every operation that reads or changes data takes [`crate::http::auth::ApiAuth`]
//! first, so it needs the API token.

pub mod appointments;
pub mod calls;
pub mod error;
pub mod messages;
pub mod metrics;
pub mod sessions;
pub mod system;

pub use error::ErrorBody;

use poem_openapi::types::{ParseError, ParseFromJSON, ParseResult};

/// A call id as an example (for the OpenAPI document).
pub fn example_call_sid() -> String {
    "CA0123456789abcdef0123456789abcdef".into()
}

/// Reads an optional JSON field that may be left out but not sent as
/// `null`: the schema says its type, and `null` is not of it.
pub fn not_null<T: ParseFromJSON>(value: Option<serde_json::Value>) -> ParseResult<Option<T>> {
    match value {
        None => Ok(None),
        Some(serde_json::Value::Null) => Err(ParseError::custom(
            "null is not allowed here: leave the field out instead",
        )),
        Some(v) => T::parse_from_json(Some(v))
            .map(Some)
            .map_err(ParseError::propagate),
    }
}
