//! `GET /messages`: the messages the receptionist took for the business.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use poem::web::Data;
use poem_openapi::{Object, OpenApi, Tags, param::Query, payload::Json};

use super::{ApiError, ErrorBody, appointments::parse_day};
use crate::{messages::Message, state::AppState};

#[derive(Tags)]
enum ApiTags {
    /// Messages taken for the business.
    Messages,
}

/// One message.
#[derive(Debug, Object)]
pub struct MessageView {
    /// The message's id.
    pub id: i64,
    /// When it was taken.
    pub taken_at: DateTime<Utc>,
    /// The call it was taken on.
    pub call_sid: String,
    /// The number the caller called from (absent when withheld).
    pub caller_number: Option<String>,
    /// Who it is from.
    pub name: String,
    /// What they want.
    pub message: String,
    /// Where to call them back.
    pub callback_number: Option<String>,
}

impl From<Message> for MessageView {
    fn from(m: Message) -> Self {
        Self {
            id: m.id,
            taken_at: m.taken_at,
            call_sid: m.call_sid,
            caller_number: m.caller_number,
            name: m.name,
            message: m.message,
            callback_number: m.callback_number,
        }
    }
}

/// Messages, newest first.
#[derive(Debug, Object)]
pub struct MessageList {
    /// Newest first.
    pub messages: Vec<MessageView>,
}

/// Message routes.
pub struct MessagesApi;

#[OpenApi(tag = "ApiTags::Messages")]
impl MessagesApi {
    /// Messages taken from `from` to `to` inclusive (local dates in the
    /// business's zone), newest first.
    #[oai(path = "/messages", method = "get")]
    async fn list(
        &self,
        state: Data<&AppState>,
        /// First day, `YYYY-MM-DD` (default: no lower bound).
        from: Query<Option<String>>,
        /// Last day, `YYYY-MM-DD` (default: no upper bound).
        to: Query<Option<String>>,
        /// At most this many (default 100, at most 1000).
        limit: Query<Option<u32>>,
    ) -> Result<Json<MessageList>, ApiError> {
        let s = state.tools.scheduler();
        let first = parse_day("from", from.0.as_deref())?;
        let last = parse_day("to", to.0.as_deref())?;
        if let (Some(a), Some(b)) = (first, last)
            && b < a
        {
            return Err(ApiError::BadRequest(ErrorBody::new(
                "to must not be before from",
            )));
        }
        let bound = |d: NaiveDate| {
            s.to_utc(d.and_time(NaiveTime::MIN))
                .unwrap_or_else(|| d.and_time(NaiveTime::MIN).and_utc())
        };
        let limit = limit.0.unwrap_or(100).clamp(1, 1000);
        let found = state
            .messages
            .list(
                first.map(bound),
                last.map(|d| bound(d + Duration::days(1))),
                limit,
            )
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "message book read failed");
                ApiError::Internal(ErrorBody::new("the messages could not be read"))
            })?;
        Ok(Json(MessageList {
            messages: found.into_iter().map(MessageView::from).collect(),
        }))
    }
}
