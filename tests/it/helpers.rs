//! Spawning the real server on a loopback port, and talking to it as Twilio.

use std::{collections::HashMap, path::PathBuf, sync::Arc};

use frontdesk::{
    config::Config,
    startup::{self, Application},
    state::AppState,
    twilio::signature,
};
use quick_xml::{Reader, events::Event};
use tokio::{sync::oneshot, task::JoinHandle};

/// The public URL the test server believes Twilio uses.
pub const PUBLIC_URL: &str = "https://frontdesk.example.com";

/// A running server.
pub struct TestApp {
    pub base: String,
    /// Sends the API token with every request.
    pub client: reqwest::Client,
    /// Sends no token (for the 401 cases).
    pub bare_client: reqwest::Client,
    /// The API token the server accepts.
    pub api_token: String,
    pub auth_token: Option<String>,
    pub state: AppState,
    pub data_dir: PathBuf,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<std::io::Result<()>>>,
    _tmp: Option<Arc<tempfile::TempDir>>,
}

/// A fixed "now": Sunday 2026-11-22, 10 AM in New York (15:00 UTC).
pub fn sunday_morning() -> frontdesk::clock::Clock {
    std::sync::Arc::new(|| {
        use chrono::TimeZone;
        chrono::Utc
            .with_ymd_and_hms(2026, 11, 22, 15, 0, 0)
            .unwrap()
    })
}

/// A call id made from a number.
pub fn sid(n: u32) -> String {
    format!("CA{n:032x}")
}

/// The configuration tests start from, plus `vars`.
pub fn config(data_dir: &std::path::Path, vars: &[(&str, &str)]) -> Config {
    let mut map: HashMap<String, String> = [
        ("SERVER_HOST", "127.0.0.1"),
        ("SERVER_PORT", "0"),
        ("PUBLIC_URL", PUBLIC_URL),
        ("BUSINESS_NAME", "Acme Dental"),
        // Holds come after TURN_BUDGET_MS, as they did before the short
        // first wait: a loaded test machine must not turn a quick reply
        // into a hold. The hold tests set their own.
        ("HOLD_AFTER_MS", "4000"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    map.insert("DATA_DIR".into(), data_dir.display().to_string());
    for (k, v) in vars {
        map.insert((*k).to_owned(), (*v).to_owned());
    }
    Config::from_lookup(move |name| map.get(name).cloned()).expect("test config is valid")
}

/// Builds a test server: `TestApp::builder().env(..).clock(..).spawn()`.
///
/// The configuration starts from [`config`] (loopback, port 0,
/// [`PUBLIC_URL`], a fresh data directory unless one is given); the clock
/// is the system's unless set; `state` may swap parts of the built state
/// (a slower Twilio client, a fake agent) before the server starts.
#[derive(Default)]
pub struct TestAppBuilder {
    vars: Vec<(String, String)>,
    clock: Option<frontdesk::clock::Clock>,
    data_dir: Option<PathBuf>,
    edit: Option<StateEdit>,
}

/// A change to the built state before the server starts.
type StateEdit = Box<dyn FnOnce(&mut AppState) + Send>;

impl TestAppBuilder {
    /// Sets one variable.
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.vars.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sets several variables.
    pub fn envs(mut self, vars: &[(&str, &str)]) -> Self {
        for (k, v) in vars {
            self = self.env(k, v);
        }
        self
    }

    /// Fixes "now".
    pub fn clock(mut self, clock: frontdesk::clock::Clock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Uses an existing data directory (for restarts); the caller keeps it.
    pub fn data_dir(mut self, dir: &std::path::Path) -> Self {
        self.data_dir = Some(dir.to_path_buf());
        self
    }

    /// Changes the built state before the server starts.
    pub fn state(mut self, edit: impl FnOnce(&mut AppState) + Send + 'static) -> Self {
        self.edit = Some(Box::new(edit));
        self
    }

    /// Builds the state and starts the server.
    pub async fn spawn(self) -> TestApp {
        let (tmp, data_dir) = match self.data_dir {
            Some(dir) => (None, dir),
            None => {
                let tmp = Arc::new(tempfile::tempdir().unwrap());
                let dir = tmp.path().to_path_buf();
                (Some(tmp), dir)
            }
        };
        let vars: Vec<(&str, &str)> = self
            .vars
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let config = config(&data_dir, &vars);
        let clock = self.clock.unwrap_or_else(frontdesk::clock::system_clock);
        let mut state = startup::build_state(config, clock).await.unwrap();
        if let Some(edit) = self.edit {
            edit(&mut state);
        }
        let mut app = spawn_with_state(state, data_dir).await;
        app._tmp = tmp;
        app
    }
}

impl TestApp {
    /// A builder for a test server.
    pub fn builder() -> TestAppBuilder {
        TestAppBuilder::default()
    }
}

/// Spawns the app with a fresh data directory.
pub async fn spawn_app(vars: &[(&str, &str)]) -> TestApp {
    TestApp::builder().envs(vars).spawn().await
}

/// Spawns the app on an existing data directory (for restarts).
pub async fn spawn_app_in(data_dir: PathBuf, vars: &[(&str, &str)]) -> TestApp {
    TestApp::builder()
        .data_dir(&data_dir)
        .envs(vars)
        .spawn()
        .await
}

/// Spawns the app with a prepared state.
pub async fn spawn_with_state(state: AppState, data_dir: PathBuf) -> TestApp {
    let auth_token = state
        .config
        .twilio
        .auth_token
        .as_ref()
        .map(|t| t.expose().to_owned());
    let api_token = state.api_token.secret().expose().to_owned();
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {api_token}").parse().unwrap(),
    );
    let client = reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap();
    let app = Application::build_with_state(state.clone()).await.unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    let (tx, rx) = oneshot::channel::<()>();
    let handle = tokio::spawn(app.run_until(async {
        let _ = rx.await;
    }));
    TestApp {
        base,
        client,
        bare_client: reqwest::Client::new(),
        api_token,
        auth_token,
        state,
        data_dir,
        shutdown: Some(tx),
        handle: Some(handle),
        _tmp: None,
    }
}

impl TestApp {
    /// Stops the server and waits for it.
    pub async fn stop(mut self) -> Option<Arc<tempfile::TempDir>> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            h.await.unwrap().unwrap();
        }
        self._tmp.take()
    }

    /// Stops the server at once, as a crash would: no graceful shutdown, no
    /// call moved to the log.
    pub fn kill(mut self) {
        if let Some(h) = self.handle.take() {
            h.abort();
        }
    }

    /// Posts a form to a webhook, signed as Twilio would when a token is set.
    pub async fn webhook(&self, path: &str, params: &[(&str, &str)]) -> reqwest::Response {
        let mut req = self
            .client
            .post(format!("{}{path}", self.base))
            .form(params);
        if let Some(token) = &self.auth_token {
            let url = format!("{PUBLIC_URL}{path}");
            req = req.header(
                "X-Twilio-Signature",
                signature::sign(token, &url, params.iter().copied()),
            );
        }
        req.send().await.unwrap()
    }

    /// Posts a webhook and returns its TwiML, asserting 200, text/xml and well-formed XML.
    pub async fn twiml(&self, path: &str, params: &[(&str, &str)]) -> String {
        let resp = self.webhook(path, params).await;
        assert_eq!(resp.status(), 200, "{path}");
        let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(ct.starts_with("text/xml"), "content type {ct}");
        let body = resp.text().await.unwrap();
        assert_well_formed(&body);
        body
    }

    /// One caller turn.
    pub async fn say(&self, call_sid: &str, words: &str) -> String {
        self.twiml(
            "/voice/process-speech",
            &[
                ("CallSid", call_sid),
                ("SpeechResult", words),
                ("Confidence", "0.91"),
            ],
        )
        .await
    }

    /// GET a JSON resource.
    pub async fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        let resp = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(serde_json::Value::Null))
    }
}

/// Asserts a TwiML document is well-formed XML with a `<Response>` root, and
/// returns the text of its `<Say>` elements.
pub fn assert_well_formed(xml: &str) -> Vec<String> {
    let mut reader = Reader::from_str(xml);
    let mut depth = 0i32;
    let mut root = None;
    let mut says = Vec::new();
    let mut in_say = false;
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => {
                if depth == 0 {
                    root = Some(String::from_utf8_lossy(e.name().as_ref()).into_owned());
                }
                in_say = e.name().as_ref() == b"Say";
                if in_say {
                    says.push(String::new());
                }
                depth += 1;
            }
            Ok(Event::Empty(e)) => {
                if depth == 0 {
                    root = Some(String::from_utf8_lossy(e.name().as_ref()).into_owned());
                }
            }
            Ok(Event::End(_)) => {
                depth -= 1;
                in_say = false;
            }
            Ok(Event::Text(t)) if in_say => {
                let text = t.unescape().expect("text unescapes");
                says.last_mut().unwrap().push_str(&text);
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => panic!("TwiML is not well-formed ({e}): {xml}"),
        }
    }
    assert_eq!(depth, 0, "unbalanced TwiML: {xml}");
    assert_eq!(root.as_deref(), Some("Response"), "{xml}");
    says
}

/// The spoken text of a TwiML answer.
pub fn spoken(xml: &str) -> String {
    assert_well_formed(xml).join(" ")
}
