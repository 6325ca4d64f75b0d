//! `GET /messages`: the messages the receptionist took for the business.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use poem::web::Data;
use poem_openapi::{Object, OpenApi, Tags, param::Query, payload::Json, types::Example};

use super::{
    appointments::{example_from, example_to},
    error::{ErrorBody, ListError},
    example_call_sid,
};
use crate::{http::auth::ApiAuth, messages::Message, state::AppState};

#[derive(Tags)]
enum ApiTags {
    /// Messages taken for the business.
    Messages,
}

/// One message.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none, example)]
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
#[oai(example)]
pub struct MessageList {
    /// Newest first.
    pub messages: Vec<MessageView>,
}

impl Example for MessageView {
    fn example() -> Self {
        Self {
            id: 1,
            taken_at: "2026-11-24T15:02:00Z"
                .parse()
                .expect("a valid example time"),
            call_sid: example_call_sid(),
            caller_number: Some("+14155550100".into()),
            name: "Ada Lovelace".into(),
            message: "Please call back about moving Thursday's cleaning.".into(),
            callback_number: Some("+14155550100".into()),
        }
    }
}

impl Example for MessageList {
    fn example() -> Self {
        Self {
            messages: vec![MessageView::example()],
        }
    }
}

fn example_limit() -> Option<u32> {
    Some(20)
}

/// Message routes.
pub struct MessagesApi;

#[OpenApi(tag = "ApiTags::Messages")]
impl MessagesApi {
    /// Messages taken between two days, inclusive, newest first.
    ///
    /// Days are local dates in the business's zone.
    #[oai(path = "/messages", method = "get")]
    async fn list(
        &self,
        _auth: ApiAuth,
        state: Data<&AppState>,
        /// First day, `YYYY-MM-DD` (default: no lower bound).
        #[oai(example = "example_from")]
        from: Query<Option<NaiveDate>>,
        /// Last day, `YYYY-MM-DD`, not before `from` (default: no upper bound).
        #[oai(example = "example_to")]
        to: Query<Option<NaiveDate>>,
        /// At most this many, 1 to 1000 (default 100).
        #[oai(
            example = "example_limit",
            validator(minimum(value = "1"), maximum(value = "1000"))
        )]
        limit: Query<Option<u32>>,
    ) -> Result<Json<MessageList>, ListError> {
        let s = state.tools.scheduler();
        let (first, last) = (from.0, to.0);
        if let (Some(a), Some(b)) = (first, last)
            && b < a
        {
            return Err(ListError::BadRequest(ErrorBody::json(
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
                last.map(|d| bound(d.succ_opt().unwrap_or(d))),
                limit,
            )
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "message book read failed");
                if e.is_unavailable() {
                    ListError::Unavailable(ErrorBody::unavailable(
                        "the messages are unavailable right now",
                    ))
                } else {
                    ListError::Internal(ErrorBody::json("the messages could not be read"))
                }
            })?;
        Ok(Json(MessageList {
            messages: found.into_iter().map(MessageView::from).collect(),
        }))
    }
}
