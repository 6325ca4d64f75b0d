//! A phone line into the real server, played from this process.
//!
//! [`Line::open`] starts the server in-process on `127.0.0.1:0` with the
//! given configuration and clock, then plays Twilio over loopback HTTP: a
//! call starts with `POST /voice/inbound`, each caller turn is a
//! `POST /voice/process-speech`, and `<Redirect>`s to `/voice/continue`
//! (a slow turn's holding answer) are followed as Twilio follows them. What
//! the caller would hear is read from the `<Say>`s of the TwiML. So a
//! rehearsed call goes through exactly the webhooks, turn runner, agent,
//! tools and calendar of a real one; only the wire to Twilio is replaced.

use std::sync::atomic::{AtomicU64, Ordering};

use quick_xml::{Reader, events::Event};
use tokio::{sync::oneshot, task::JoinHandle};

use crate::{
    clock::Clock,
    config::Config,
    startup::{self, Application, StartupError},
    state::AppState,
};

/// Why a rehearsed call could not go on.
#[derive(Debug, thiserror::Error)]
pub enum LineError {
    /// The server did not start.
    #[error("the receptionist could not start: {0}")]
    Startup(#[from] StartupError),
    /// A webhook could not be sent or its answer read.
    #[error("webhook {path}: {source}")]
    Http {
        /// The webhook.
        path: String,
        /// Why.
        #[source]
        source: reqwest::Error,
    },
    /// A webhook answered something other than TwiML.
    #[error("webhook {path} answered HTTP {status}: {body}")]
    Status {
        /// The webhook.
        path: String,
        /// The status.
        status: u16,
        /// The body.
        body: String,
    },
    /// The TwiML could not be read.
    #[error("webhook {path} answered malformed TwiML ({reason})")]
    Twiml {
        /// The webhook.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// Redirects went on and on.
    #[error("the turn was still not answered after {0} redirects")]
    TooManyRedirects(usize),
}

/// What the caller heard in answer to one turn.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Heard {
    /// The spoken texts, in order (holding phrases included).
    pub says: Vec<String>,
    /// The call is over: the answer listens no more (hang-up or hand-over).
    pub ended: bool,
}

impl Heard {
    /// Everything said, as one line.
    pub fn text(&self) -> String {
        self.says.join(" ")
    }
}

/// What a TwiML document asks of Twilio, as far as a caller can tell.
#[derive(Debug, Default, PartialEq, Eq)]
struct Answer {
    says: Vec<String>,
    listens: bool,
    redirect: Option<String>,
}

/// Reads `<Say>` texts, whether a `<Gather>` listens, and a `<Redirect>`.
fn read_twiml(xml: &str) -> Result<Answer, String> {
    let mut reader = Reader::from_str(xml);
    let mut answer = Answer::default();
    let mut open: Option<Vec<u8>> = None;
    loop {
        match reader.read_event().map_err(|e| e.to_string())? {
            Event::Start(e) => {
                let name = e.name().as_ref().to_vec();
                if name == b"Gather" {
                    answer.listens = true;
                }
                if name == b"Say" {
                    answer.says.push(String::new());
                }
                open = Some(name);
            }
            Event::Empty(e) if e.name().as_ref() == b"Gather" => answer.listens = true,
            Event::Text(t) => {
                let text = t.unescape().map_err(|e| e.to_string())?;
                match open.as_deref() {
                    Some(b"Say") => {
                        if let Some(last) = answer.says.last_mut() {
                            last.push_str(&text);
                        }
                    }
                    Some(b"Redirect") => answer.redirect = Some(text.trim().to_owned()),
                    _ => {}
                }
            }
            Event::End(_) => open = None,
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(answer)
}

/// The path (and query) of an absolute URL, to replay it on loopback.
fn path_of(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => match u.query() {
            Some(q) => format!("{}?{q}", u.path()),
            None => u.path().to_owned(),
        },
        Err(_) => url.to_owned(),
    }
}

/// How many `<Redirect>`s one turn may take (Twilio's own limit is higher,
/// the server's hold limit lower).
const MAX_REDIRECTS: usize = 20;

static NEXT_CALL: AtomicU64 = AtomicU64::new(1);

/// A running in-process server and a client that plays Twilio to it.
pub struct Line {
    base: String,
    client: reqwest::Client,
    state: AppState,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
}

/// One call on a [`Line`].
#[derive(Debug, Clone)]
pub struct Call {
    sid: String,
    from: Option<String>,
    ended: bool,
}

impl Call {
    /// Whether the receptionist has ended the call.
    pub fn ended(&self) -> bool {
        self.ended
    }
}

impl Line {
    /// Starts the server for `config` (bound to `127.0.0.1:0`, webhook
    /// signatures off, calls in Gather mode) with `clock` as its time.
    pub async fn open(mut config: Config, clock: Clock) -> Result<Self, LineError> {
        config.host = std::net::IpAddr::from([127, 0, 0, 1]);
        config.port = 0;
        config.twilio.validate_signatures = false;
        config.call_mode = crate::config::CallMode::Gather;
        let state = startup::build_state(config, clock).await?;
        let app = Application::build_with_state(state.clone()).await?;
        let base = format!("http://127.0.0.1:{}", app.port());
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until(async {
            let _ = rx.await;
        }));
        Ok(Self {
            base,
            // No idle keep-alive connections: they would hold up the
            // graceful shutdown of `close`.
            client: reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .build()
                .map_err(|source| LineError::Http {
                    path: "/".into(),
                    source,
                })?,
            state,
            shutdown: Some(tx),
            server: Some(server),
        })
    }

    /// The server's shared state.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> Result<Answer, LineError> {
        let http = |source| LineError::Http {
            path: path.to_owned(),
            source,
        };
        let resp = self
            .client
            .post(format!("{}{path}", self.base))
            .form(form)
            .send()
            .await
            .map_err(http)?;
        let status = resp.status().as_u16();
        let body = resp.text().await.map_err(http)?;
        if status != 200 {
            return Err(LineError::Status {
                path: path.to_owned(),
                status,
                body,
            });
        }
        read_twiml(&body).map_err(|reason| LineError::Twiml {
            path: path.to_owned(),
            reason,
        })
    }

    /// Posts a webhook of `call` and follows redirects to the final answer.
    async fn turn(
        &self,
        call: &mut Call,
        path: &str,
        extra: &[(&str, &str)],
    ) -> Result<Heard, LineError> {
        let (sid, from) = (call.sid.clone(), call.from.clone());
        let mut form: Vec<(&str, &str)> = vec![
            ("CallSid", &sid),
            ("AccountSid", "AC00000000000000000000000000000000"),
            ("To", "+15550000000"),
            ("Direction", "inbound"),
            ("CallStatus", "in-progress"),
        ];
        if let Some(from) = &from {
            form.push(("From", from));
        }
        form.extend_from_slice(extra);
        let mut answer = self.post(path, &form).await?;
        let mut heard = Heard::default();
        for _ in 0..MAX_REDIRECTS {
            heard.says.append(&mut answer.says);
            let Some(next) = answer.redirect.take() else {
                heard.ended = !answer.listens;
                call.ended = heard.ended;
                return Ok(heard);
            };
            answer = self
                .post(&path_of(&next), &form[..form.len() - extra.len()])
                .await?;
        }
        Err(LineError::TooManyRedirects(MAX_REDIRECTS))
    }

    /// Calls in from `from` (`None`: a withheld number); returns the call
    /// and the greeting.
    pub async fn call(&self, from: Option<&str>) -> Result<(Call, Heard), LineError> {
        let n = NEXT_CALL.fetch_add(1, Ordering::Relaxed);
        let mut call = Call {
            sid: format!("CA{:016x}{n:016x}", std::process::id()),
            from: from.map(str::to_owned),
            ended: false,
        };
        let heard = self.turn(&mut call, "/voice/inbound", &[]).await?;
        Ok((call, heard))
    }

    /// The caller says `words` (`""`: silence); returns what they hear.
    pub async fn say(&self, call: &mut Call, words: &str) -> Result<Heard, LineError> {
        let mut extra = vec![("SpeechResult", words)];
        if !words.trim().is_empty() {
            extra.push(("Confidence", "0.92"));
        }
        self.turn(call, "/voice/process-speech", &extra).await
    }

    /// Twilio's `completed` status callback: the call goes to the call log.
    pub async fn hang_up(&self, call: &mut Call) -> Result<(), LineError> {
        let (sid, from) = (call.sid.clone(), call.from.clone());
        let mut form: Vec<(&str, &str)> = vec![
            ("CallSid", &sid),
            ("CallStatus", "completed"),
            ("Direction", "inbound"),
        ];
        if let Some(from) = &from {
            form.push(("From", from));
        }
        let path = "/voice/status";
        let resp = self
            .client
            .post(format!("{}{path}", self.base))
            .form(&form)
            .send()
            .await
            .map_err(|source| LineError::Http {
                path: path.into(),
                source,
            })?;
        call.ended = true;
        if !resp.status().is_success() {
            return Err(LineError::Status {
                path: path.into(),
                status: resp.status().as_u16(),
                body: resp.text().await.unwrap_or_default(),
            });
        }
        Ok(())
    }

    /// Stops the server, letting in-flight requests finish.
    pub async fn close(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take()
            && let Ok(Err(e)) = server.await
        {
            tracing::warn!(error = %e, "the rehearsal server stopped with an error");
        }
    }
}

impl Drop for Line {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twiml_is_read_as_a_caller_hears_it() {
        let a = read_twiml(
            r#"<?xml version="1.0" encoding="UTF-8"?><Response><Gather input="speech" action="https://x.example/voice/process-speech"><Say voice="Polly.Joanna">Hello &amp; welcome.</Say></Gather></Response>"#,
        )
        .unwrap();
        assert_eq!(a.says, ["Hello & welcome."]);
        assert!(a.listens && a.redirect.is_none());
        let a = read_twiml(
            "<Response><Say>One moment, please.</Say><Redirect>https://x.example/voice/continue</Redirect></Response>",
        )
        .unwrap();
        assert_eq!(
            a.redirect.as_deref(),
            Some("https://x.example/voice/continue")
        );
        assert!(!a.listens);
        let a = read_twiml("<Response><Say>Bye.</Say><Hangup/></Response>").unwrap();
        assert_eq!((a.says.len(), a.listens), (1, false));
        assert!(read_twiml("<Response><Say>x</Response>").is_err());
    }

    #[test]
    fn redirects_are_replayed_on_loopback() {
        assert_eq!(
            path_of("https://x.example/voice/continue"),
            "/voice/continue"
        );
        assert_eq!(path_of("https://x.example/a/b?c=d"), "/a/b?c=d");
    }
}
