//! A local fake of the Google endpoints frontdesk uses: the OAuth token
//! endpoint, freeBusy.query and events list/insert/get/patch/delete.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use poem::{
    EndpointExt, IntoResponse, Request, Response, Route, Server, handler,
    http::StatusCode,
    listener::{Acceptor, Listener, TcpListener},
    web::{Data, Json, Path, Query},
};
use serde::Deserialize;
use serde_json::{Value, json};

pub const ACCESS_TOKEN: &str = "fake-access-token";

#[derive(Default)]
pub struct FakeState {
    pub events: Vec<Value>,
    pub next_id: u32,
    /// Requests seen: method, path, body.
    pub requests: Vec<(String, String, Value)>,
    /// Answer every calendar request with this status.
    pub fail_with: Option<u16>,
    /// Answer freeBusy with a per-calendar error.
    pub freebusy_error: Option<String>,
    pub tokens_issued: u32,
    /// Answer freeBusy this much later (a slow calendar).
    pub freebusy_delay: Option<std::time::Duration>,
}

#[derive(Clone)]
pub struct FakeGoogle {
    pub base: String,
    pub state: Arc<Mutex<FakeState>>,
}

type Shared = Arc<Mutex<FakeState>>;

fn parse_time(v: &Value) -> Option<DateTime<Utc>> {
    v.as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
}

fn overlaps(e: &Value, from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> bool {
    let (Some(s), Some(t)) = (
        parse_time(&e["start"]["dateTime"]),
        parse_time(&e["end"]["dateTime"]),
    ) else {
        return false;
    };
    from.is_none_or(|f| t > f) && to.is_none_or(|x| s < x)
}

fn authorized(req: &Request) -> bool {
    req.headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == format!("Bearer {ACCESS_TOKEN}"))
}

fn google_error(code: u16, message: &str) -> Response {
    (
        StatusCode::from_u16(code).unwrap(),
        Json(json!({"error": {"code": code, "message": message, "errors": [{"reason": "backendError"}]}})),
    )
        .into_response()
}

/// Records the request and returns an error response if one is due.
fn gate(req: &Request, state: &Shared, body: &Value) -> Option<Response> {
    let mut s = state.lock().unwrap();
    s.requests.push((
        req.method().to_string(),
        req.uri().path().to_owned(),
        body.clone(),
    ));
    if !authorized(req) {
        return Some(google_error(
            401,
            "Request had invalid authentication credentials.",
        ));
    }
    s.fail_with.map(|code| google_error(code, "Backend Error"))
}

#[handler]
fn token(state: Data<&Shared>) -> Json<Value> {
    state.lock().unwrap().tokens_issued += 1;
    Json(json!({"access_token": ACCESS_TOKEN, "token_type": "Bearer", "expires_in": 3600}))
}

#[handler]
async fn freebusy(req: &Request, state: Data<&Shared>, Json(body): Json<Value>) -> Response {
    let delay = state.lock().unwrap().freebusy_delay;
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    if let Some(r) = gate(req, &state, &body) {
        return r;
    }
    let s = state.lock().unwrap();
    let (from, to) = (parse_time(&body["timeMin"]), parse_time(&body["timeMax"]));
    let mut calendars = serde_json::Map::new();
    for item in body["items"].as_array().cloned().unwrap_or_default() {
        let id = item["id"].as_str().unwrap_or_default().to_owned();
        let entry = match &s.freebusy_error {
            Some(reason) => json!({"busy": [], "errors": [{"domain": "global", "reason": reason}]}),
            None => json!({"busy": s.events.iter()
                .filter(|e| e["status"] != "cancelled" && overlaps(e, from, to))
                .map(|e| json!({"start": e["start"]["dateTime"], "end": e["end"]["dateTime"]}))
                .collect::<Vec<_>>()}),
        };
        calendars.insert(id, entry);
    }
    Json(json!({"kind": "calendar#freeBusy", "timeMin": body["timeMin"], "timeMax": body["timeMax"], "calendars": calendars}))
        .into_response()
}

#[derive(Deserialize)]
struct ListQuery {
    #[serde(rename = "timeMin")]
    time_min: Option<String>,
    #[serde(rename = "timeMax")]
    time_max: Option<String>,
}

#[handler]
fn list_events(req: &Request, state: Data<&Shared>, Query(q): Query<ListQuery>) -> Response {
    if let Some(r) = gate(req, &state, &Value::Null) {
        return r;
    }
    let s = state.lock().unwrap();
    let from = q.time_min.as_deref().and_then(|t| parse_time(&json!(t)));
    let to = q.time_max.as_deref().and_then(|t| parse_time(&json!(t)));
    let mut items: Vec<Value> = s
        .events
        .iter()
        .filter(|e| e["status"] != "cancelled" && overlaps(e, from, to))
        .cloned()
        .collect();
    items.sort_by_key(|e| {
        e["start"]["dateTime"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    });
    Json(json!({"kind": "calendar#events", "items": items})).into_response()
}

#[handler]
fn insert_event(req: &Request, state: Data<&Shared>, Json(body): Json<Value>) -> Response {
    if let Some(r) = gate(req, &state, &body) {
        return r;
    }
    let mut s = state.lock().unwrap();
    s.next_id += 1;
    let mut event = body;
    event["id"] = json!(format!("evt{:04}", s.next_id));
    event["status"] = json!("confirmed");
    event["created"] = json!(Utc::now().to_rfc3339());
    s.events.push(event.clone());
    Json(event).into_response()
}

#[handler]
async fn one_event(
    req: &Request,
    state: Data<&Shared>,
    Path((_cal, id)): Path<(String, String)>,
    body: poem::Body,
) -> Response {
    let bytes = body.into_vec().await.unwrap_or_default();
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if let Some(r) = gate(req, &state, &body) {
        return r;
    }
    let mut s = state.lock().unwrap();
    let Some(pos) = s
        .events
        .iter()
        .position(|e| e["id"] == id.as_str() && e["status"] != "cancelled")
    else {
        return google_error(404, "Not Found");
    };
    match req.method().as_str() {
        "GET" => Json(s.events[pos].clone()).into_response(),
        "PATCH" => {
            if let Some(patch) = body.as_object() {
                for (k, v) in patch {
                    s.events[pos][k] = v.clone();
                }
            }
            Json(s.events[pos].clone()).into_response()
        }
        "DELETE" => {
            s.events[pos]["status"] = json!("cancelled");
            StatusCode::NO_CONTENT.into_response()
        }
        _ => StatusCode::METHOD_NOT_ALLOWED.into_response(),
    }
}

impl FakeGoogle {
    pub async fn start() -> Self {
        let state: Shared = Arc::new(Mutex::new(FakeState::default()));
        let app = Route::new()
            .at("/token", poem::post(token))
            .at("/calendar/v3/freeBusy", poem::post(freebusy))
            .at(
                "/calendar/v3/calendars/:cal/events",
                poem::get(list_events).post(insert_event),
            )
            .at(
                "/calendar/v3/calendars/:cal/events/:id",
                poem::get(one_event).patch(one_event).delete(one_event),
            )
            .data(state.clone());
        let acceptor = TcpListener::bind("127.0.0.1:0")
            .into_acceptor()
            .await
            .unwrap();
        let port = acceptor.local_addr()[0].as_socket_addr().unwrap().port();
        tokio::spawn(Server::new_with_acceptor(acceptor).run(app));
        Self {
            base: format!("http://127.0.0.1:{port}"),
            state,
        }
    }

    /// A service-account key file whose token endpoint is this fake.
    pub fn credentials(&self, dir: &std::path::Path) -> std::path::PathBuf {
        let fixture = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/google_service_account.json"
        ))
        .unwrap();
        let path = dir.join("service-account.json");
        std::fs::write(
            &path,
            fixture.replace("TOKEN_URI_PLACEHOLDER", &format!("{}/token", self.base)),
        )
        .unwrap();
        path
    }

    pub fn calendar_url(&self) -> String {
        format!("{}/calendar/v3/", self.base)
    }
}
