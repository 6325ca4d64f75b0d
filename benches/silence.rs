//! The silence benchmark: how long a caller waits after their last word,
//! with and without speculative turns, against a model with a set latency.
//!
//! Run it through `scripts/bench-silence.sh` (see docs/performance.md). It
//! starts the real server in this process on loopback (the LLM agent, the
//! built-in calendar in a temporary directory) and a fake OpenAI-compatible
//! model that answers every completion after `--model-ms` (800). Callers
//! speak in real time, `--wps` (2.5) words a second: while a word is being
//! said nothing happens; `--lag-ms` (100) after each word Twilio posts a
//! partial result whose stable text is every word so far; `--endpoint-ms`
//! (1000) after the last word Twilio posts the final `SpeechResult`. When
//! the answer is a holding phrase, the caller hears it (its words at the
//! same pace) before Twilio follows the redirect to `/voice/continue`.
//!
//! Three kinds of turn, each its own model script:
//! - `question`: one completion ("What time do you open on Monday?");
//! - `availability`: `check_availability`, then the answer (two completions);
//! - `booking`: `book_appointment`, then the answer (two completions; the
//!   booking itself waits for the final words).
//!
//! Per turn it records the silence after the last word (until the first
//! TwiML answer: the reply or a holding phrase) and the time to the real
//! answer (until the TwiML with the reply), both also less the endpointing.
//! Options: --calls N (8, in parallel, each says all three kinds)
//! --rounds R (3) --model-ms --endpoint-ms --wps --lag-ms --out DIR (results)

use std::{
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use chrono::{Datelike, Duration as Days, Utc, Weekday};
use serde_json::{Value, json};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate, matchers::method};

#[derive(Clone)]
struct Args {
    calls: usize,
    rounds: usize,
    model_ms: u64,
    endpoint_ms: u64,
    wps: f64,
    lag_ms: u64,
    out: PathBuf,
}

fn args() -> Args {
    let mut a = Args {
        calls: 8,
        rounds: 3,
        model_ms: 800,
        endpoint_ms: 1000,
        wps: 2.5,
        lag_ms: 100,
        out: PathBuf::from("results"),
    };
    let raw: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < raw.len() {
        let value = raw.get(i + 1).cloned().unwrap_or_default();
        match raw[i].as_str() {
            "--calls" => a.calls = value.parse().unwrap(),
            "--rounds" => a.rounds = value.parse().unwrap(),
            "--model-ms" => a.model_ms = value.parse().unwrap(),
            "--endpoint-ms" => a.endpoint_ms = value.parse().unwrap(),
            "--wps" => a.wps = value.parse().unwrap(),
            "--lag-ms" => a.lag_ms = value.parse().unwrap(),
            "--out" => a.out = PathBuf::from(value),
            // cargo bench passes --bench; ignore what is not ours.
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    a
}

/// A kind of caller turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Question,
    Availability,
    Booking,
}

impl Kind {
    const ALL: [Self; 3] = [Self::Question, Self::Availability, Self::Booking];

    fn name(self) -> &'static str {
        match self {
            Self::Question => "question (1 completion)",
            Self::Availability => "availability (tool + 2 completions)",
            Self::Booking => "booking (side effect + 2 completions)",
        }
    }

    /// What the caller says on call `call`, round `round`.
    fn words(self, day: &str, call: usize, round: usize) -> String {
        match self {
            Self::Question => format!("What time do you open on {day}?"),
            Self::Availability => format!("Do you have anything free on {day}?"),
            Self::Booking => format!(
                "Please book me on {day} at {} o'clock, my name is Ada Lovelace {call}{round}.",
                9 + (call + round * 3) % 8
            ),
        }
    }
}

/// The fake model: a set latency per completion; its script follows the
/// caller's words (a tool call first for the tool turns, then the answer).
struct FakeModel {
    latency: Duration,
    date: String,
    /// Requests received, by the kind of turn they were for.
    requests: Arc<[AtomicUsize; 3]>,
}

fn completion(message: Value, finish: &str) -> Value {
    json!({"id": "c", "object": "chat.completion", "created": 0, "model": "fake",
           "choices": [{"index": 0, "finish_reason": finish, "message": message}]})
}

impl Respond for FakeModel {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
        let messages = body["messages"].as_array().cloned().unwrap_or_default();
        let last = messages.last().cloned().unwrap_or_default();
        let said = messages
            .iter()
            .rev()
            .find(|m| m["role"] == "user")
            .and_then(|m| m["content"].as_str())
            .unwrap_or_default()
            .to_lowercase();
        let kind = if said.contains("free") {
            Kind::Availability
        } else if said.contains("book") {
            Kind::Booking
        } else {
            Kind::Question
        };
        self.requests[kind as usize].fetch_add(1, Ordering::Relaxed);
        let answer = if last["role"] == "tool" {
            completion(
                json!({"role": "assistant", "content": "All done. Anything else?"}),
                "stop",
            )
        } else if said.contains("free") {
            completion(
                json!({"role": "assistant", "content": null, "tool_calls": [{"id": "call_a",
                       "type": "function", "function": {"name": "check_availability",
                       "arguments": json!({"date": self.date}).to_string()}}]}),
                "tool_calls",
            )
        } else if said.contains("book") {
            let hour: u32 = said
                .split(" at ")
                .nth(1)
                .and_then(|t| t.split_whitespace().next())
                .and_then(|h| h.parse().ok())
                .unwrap_or(10);
            let start = format!("{}T{hour:02}:00", self.date);
            completion(
                json!({"role": "assistant", "content": null, "tool_calls": [{"id": "call_b",
                       "type": "function", "function": {"name": "book_appointment",
                       "arguments": json!({"start": start, "name": "Ada Lovelace"}).to_string()}}]}),
                "tool_calls",
            )
        } else {
            completion(
                json!({"role": "assistant", "content": "We open at 9 AM."}),
                "stop",
            )
        };
        ResponseTemplate::new(200)
            .set_body_json(answer)
            .set_delay(self.latency)
    }
}

/// One measured turn.
#[derive(Debug, Clone, Copy)]
struct Measured {
    kind: Kind,
    /// From the last word to the first TwiML answer.
    silence: Duration,
    /// From the last word to the TwiML with the reply.
    answer: Duration,
    held: bool,
}

struct Server {
    base: String,
    shutdown: tokio::sync::oneshot::Sender<()>,
    handle: tokio::task::JoinHandle<std::io::Result<()>>,
    _dir: tempfile::TempDir,
}

async fn start_server(model: &MockServer, speculative: bool) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let base_url = format!("{}/v1", model.uri());
    let vars: Vec<(&str, String)> = vec![
        ("SERVER_HOST", "127.0.0.1".into()),
        ("SERVER_PORT", "0".into()),
        ("PUBLIC_URL", "https://frontdesk.example.com".into()),
        ("DATA_DIR", dir.path().display().to_string()),
        ("OPENAI_API_KEY", "sk-bench".into()),
        ("OPENAI_BASE_URL", base_url),
        ("OPENAI_MODEL", "fake".into()),
        ("LOG_FORMAT", "text".into()),
        ("SPECULATIVE_TURNS", speculative.to_string()),
    ];
    let config = frontdesk::config::Config::from_lookup(move |name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    })
    .expect("the bench configuration is valid");
    let state = frontdesk::startup::build_state(config, frontdesk::clock::system_clock())
        .await
        .unwrap();
    let app = frontdesk::startup::Application::build_with_state(state)
        .await
        .unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    let (shutdown, rx) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(app.run_until(async {
        let _ = rx.await;
    }));
    Server {
        base,
        shutdown,
        handle,
        _dir: dir,
    }
}

async fn post(client: &reqwest::Client, base: &str, path: &str, form: &[(&str, &str)]) -> String {
    let resp = client
        .post(format!("{base}{path}"))
        .form(form)
        .send()
        .await
        .expect("the server answers");
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    assert!(status.is_success(), "{path}: {status} {text}");
    text
}

/// The words of a `<Say>` in a holding answer.
fn said(twiml: &str) -> String {
    twiml
        .split("<Say")
        .nth(1)
        .and_then(|s| s.split('>').nth(1))
        .and_then(|s| s.split("</Say").next())
        .unwrap_or_default()
        .to_owned()
}

/// One caller, speaking every kind of turn `rounds` times in real time.
async fn caller(a: Args, base: String, day: String, call: usize) -> Vec<Measured> {
    let client = reqwest::Client::new();
    let sid = format!("CA{:032x}", 0xbe_0000 + call);
    let from = format!("+1415555{:04}", call);
    post(
        &client,
        &base,
        "/voice/inbound",
        &[("CallSid", &sid), ("From", &from), ("To", "+14155550199")],
    )
    .await;
    let word = Duration::from_secs_f64(1.0 / a.wps);
    let mut out = Vec::new();
    for round in 0..a.rounds {
        for kind in Kind::ALL {
            let text = kind.words(&day, call, round);
            let words: Vec<&str> = text.split_whitespace().collect();
            let began = Instant::now();
            for (i, _) in words.iter().enumerate() {
                let spoken = word * (i as u32 + 1);
                let heard = spoken + Duration::from_millis(a.lag_ms);
                tokio::time::sleep_until((began + heard).into()).await;
                // Stable text as the recogniser gives it: no final punctuation yet.
                let stable = words[..=i].join(" ");
                let stable = stable.trim_end_matches(['.', '?', '!']);
                let seq = i.to_string();
                post(
                    &client,
                    &base,
                    "/voice/partial-speech",
                    &[
                        ("CallSid", sid.as_str()),
                        ("SequenceNumber", seq.as_str()),
                        ("StableSpeechResult", stable),
                        ("UnstableSpeechResult", stable),
                        ("Stability", "0.9"),
                    ],
                )
                .await;
            }
            let last_word = began + word * words.len() as u32;
            tokio::time::sleep_until((last_word + Duration::from_millis(a.endpoint_ms)).into())
                .await;
            let mut twiml = post(
                &client,
                &base,
                "/voice/process-speech",
                &[
                    ("CallSid", sid.as_str()),
                    ("SpeechResult", text.as_str()),
                    ("Confidence", "0.93"),
                ],
            )
            .await;
            let silence = last_word.elapsed();
            let mut held = false;
            while twiml.contains("<Redirect") {
                held = true;
                // The caller hears the holding phrase; then Twilio follows the redirect.
                let phrase_words = said(&twiml).split_whitespace().count().max(1) as u32;
                tokio::time::sleep(word * phrase_words).await;
                twiml = post(
                    &client,
                    &base,
                    "/voice/continue",
                    &[("CallSid", sid.as_str())],
                )
                .await;
            }
            let answer = last_word.elapsed();
            out.push(Measured {
                kind,
                silence,
                answer,
                held,
            });
            // The caller listens to the reply before speaking again.
            tokio::time::sleep(Duration::from_millis(800)).await;
        }
    }
    post(
        &client,
        &base,
        "/voice/status",
        &[("CallSid", sid.as_str()), ("CallStatus", "completed")],
    )
    .await;
    out
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    v[(v.len() - 1) / 2]
}

fn max(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::NAN, f64::max)
}

/// The next weekday after today (UTC), as `YYYY-MM-DD` and its name.
fn next_weekday() -> (String, String) {
    let mut day = Utc::now().date_naive() + Days::days(1);
    while matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
        day += Days::days(1);
    }
    (
        day.format("%Y-%m-%d").to_string(),
        day.format("%A").to_string(),
    )
}

async fn run(a: &Args, speculative: bool) -> (Vec<Measured>, [usize; 3]) {
    let model = MockServer::start().await;
    let requests: Arc<[AtomicUsize; 3]> = Arc::new(Default::default());
    let (date, day) = next_weekday();
    Mock::given(method("POST"))
        .respond_with(FakeModel {
            latency: Duration::from_millis(a.model_ms),
            date,
            requests: Arc::clone(&requests),
        })
        .mount(&model)
        .await;
    let server = start_server(&model, speculative).await;
    let callers: Vec<_> = (0..a.calls)
        .map(|c| tokio::spawn(caller(a.clone(), server.base.clone(), day.clone(), c)))
        .collect();
    let mut all = Vec::new();
    for c in callers {
        all.extend(c.await.unwrap());
    }
    let _ = server.shutdown.send(());
    let _ = server.handle.await;
    (
        all,
        std::array::from_fn(|k| requests[k].load(Ordering::Relaxed)),
    )
}

fn main() {
    let a = args();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let endpoint = a.endpoint_ms as f64 / 1000.0;
    let mut md = format!(
        "# frontdesk silence benchmark\n\n{} callers in parallel, {} rounds of each kind of turn; \
         model {} ms per completion; {} words/s; partial results {} ms after each word; \
         endpointing {} ms. Seconds; \"beyond\" = less the endpointing.\n\n\
         | speculation | turn | n | median silence beyond endpointing | max | median time to answer beyond endpointing | max | held | model requests per turn |\n\
         |---|---|---|---|---|---|---|---|---|\n",
        a.calls, a.rounds, a.model_ms, a.wps, a.lag_ms, a.endpoint_ms
    );
    let mut json_out = Vec::new();
    for speculative in [false, true] {
        let (all, requests) = rt.block_on(run(&a, speculative));
        for kind in Kind::ALL {
            let these: Vec<&Measured> = all.iter().filter(|m| m.kind == kind).collect();
            let per_turn = requests[kind as usize] as f64 / these.len().max(1) as f64;
            let silence: Vec<f64> = these
                .iter()
                .map(|m| m.silence.as_secs_f64() - endpoint)
                .collect();
            let answer: Vec<f64> = these
                .iter()
                .map(|m| m.answer.as_secs_f64() - endpoint)
                .collect();
            let held = these.iter().filter(|m| m.held).count();
            let row = format!(
                "| {} | {} | {} | {:.3} | {:.3} | {:.3} | {:.3} | {}/{} | {:.2} |\n",
                if speculative { "on" } else { "off" },
                kind.name(),
                these.len(),
                median(silence.clone()),
                max(&silence),
                median(answer.clone()),
                max(&answer),
                held,
                these.len(),
                per_turn,
            );
            print!("{row}");
            md.push_str(&row);
            json_out.push(json!({
                "speculative": speculative, "kind": kind.name(), "turns": these.len(),
                "median_silence_beyond_endpointing_s": median(silence.clone()),
                "max_silence_beyond_endpointing_s": max(&silence),
                "median_answer_beyond_endpointing_s": median(answer.clone()),
                "max_answer_beyond_endpointing_s": max(&answer),
                "held": held, "model_requests_per_turn": per_turn,
            }));
        }
    }
    std::fs::create_dir_all(&a.out).unwrap();
    std::fs::write(a.out.join("silence.md"), &md).unwrap();
    std::fs::write(
        a.out.join("silence.json"),
        serde_json::to_string_pretty(&json_out).unwrap(),
    )
    .unwrap();
    println!("\n{md}");
}
