//! The turn benchmark: Gather turns per second, latency, server CPU per
//! turn, and memory per live call, against the real release server.
//!
//! Run it through `scripts/bench.sh` (see docs/performance.md). It starts
//! `target/release/frontdesk` on loopback with signatures on, creates live
//! calls through the real webhooks, then drives `/voice/process-speech` with
//! correctly signed Twilio-shaped form posts spread over those calls. A
//! response only counts when it is a 200 with well-formed TwiML containing
//! the expected reply. It runs once with the built-in agent and once with
//! the LLM agent pointed at a fake OpenAI-compatible server (this same
//! binary in another process, so its CPU is measured apart).
//!
//! Options: --calls N (1000) --secs S (20) --single-secs S (10) --conns C (50)
//! --memory-calls N (10000) --soak-secs S (0 = off) --out DIR (results)
//! --modes rules,llm,redis (none: skip the throughput runs; `redis` is the
//! built-in agent with `REDIS_URL` pointing at a `redis-server` the bench
//! starts on loopback, whose CPU is measured apart)

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, body::Incoming};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};

const TOKEN: &str = "bench-auth-token";
const UTTERANCE: &str = "What time is it?";
const FAKE_REPLY: &str = "It is a lovely day at the office.";

#[derive(Clone)]
struct Args {
    calls: usize,
    secs: u64,
    single_secs: u64,
    conns: usize,
    memory_calls: usize,
    soak_secs: u64,
    out: PathBuf,
    modes: Vec<String>,
}

fn args() -> Args {
    let mut a = Args {
        calls: 1000,
        secs: 20,
        single_secs: 10,
        conns: 50,
        memory_calls: 10_000,
        soak_secs: 0,
        out: PathBuf::from("results"),
        modes: vec!["rules".into(), "llm".into()],
    };
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < raw.len() {
        let value = raw.get(i + 1).cloned().unwrap_or_default();
        let num = || {
            value
                .parse::<u64>()
                .unwrap_or_else(|_| panic!("{} needs a number", raw[i]))
        };
        match raw[i].as_str() {
            "--calls" => a.calls = num() as usize,
            "--secs" => a.secs = num(),
            "--single-secs" => a.single_secs = num(),
            "--conns" => a.conns = num() as usize,
            "--memory-calls" => a.memory_calls = num() as usize,
            "--soak-secs" => a.soak_secs = num(),
            "--out" => a.out = PathBuf::from(&value),
            "--modes" => a.modes = value.split(',').map(str::to_owned).collect(),
            // cargo bench passes --bench; ignore it and anything unknown.
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    a
}

// ---------------------------------------------------------------- processes

/// CPU time (user + system) of a process, from /proc (Linux clock ticks of 1/100 s).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // Fields 14 and 15 of stat are utime and stime; after the ')' they are 12 and 13 (0-based 11, 12).
    (ticks(11) + ticks(12)) / 100.0
}

/// (current, peak) resident memory in bytes.
fn rss(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
            * 1024
    };
    (kb("VmRSS:"), kb("VmHWM:"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Server {
    child: Child,
    port: u16,
    _data: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn server_binary() -> PathBuf {
    let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
    Path::new(&target).join("release").join("frontdesk")
}

/// A `redis-server` on loopback for the `redis` mode; stopped on drop.
struct RedisServer {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_redis() -> RedisServer {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .arg("--dir")
        .arg(dir.path())
        .stdout(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot start redis-server: {e} (apt-get install redis-server)")
        });
    let redis = RedisServer {
        child,
        port,
        _dir: dir,
    };
    for _ in 0..200 {
        if TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return redis;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("redis-server did not start");
}

async fn start_server(llm_base: Option<&str>, redis: Option<u16>) -> Server {
    let port = free_port();
    let data = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(server_binary());
    cmd.env_clear()
        .env("SERVER_HOST", "127.0.0.1")
        .env("SERVER_PORT", port.to_string())
        .env("PUBLIC_URL", format!("http://127.0.0.1:{port}"))
        .env("TWILIO_AUTH_TOKEN", TOKEN)
        .env("DATA_DIR", data.path())
        .env("BUSINESS_NAME", "Bench Dental")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    match llm_base {
        Some(base) => cmd
            .env("OPENAI_API_KEY", "bench")
            .env("OPENAI_BASE_URL", base)
            .env("AGENT", "llm"),
        None => cmd.env("AGENT", "rules"),
    };
    if let Some(port) = redis {
        cmd.env("REDIS_URL", format!("redis://127.0.0.1:{port}/"));
    }
    let child = cmd.spawn().unwrap_or_else(|e| {
        panic!(
            "cannot start {}: {e} (run scripts/bench.sh)",
            server_binary().display()
        )
    });
    let server = Server {
        child,
        port,
        _data: data,
    };
    for _ in 0..200 {
        if TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the server did not start");
}

/// Starts this binary as the fake OpenAI-compatible server; returns it and its port.
fn start_fake_openai() -> (Child, u16) {
    let port = free_port();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .arg("--fake-openai")
        .arg(port.to_string())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return (child, port);
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("the fake OpenAI server did not start");
}

/// The fake OpenAI-compatible server: answers every request at once.
fn run_fake_openai(port: u16) {
    let body = Bytes::from(
        json!({"id": "c", "object": "chat.completion", "created": 0, "model": "fake",
               "choices": [{"index": 0, "finish_reason": "stop",
                            "message": {"role": "assistant", "content": FAKE_REPLY}}]})
        .to_string(),
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let body = body.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let body = body.clone();
                    async move {
                        // Read the request fully, as a real server would.
                        let _ = req.into_body().collect().await;
                        Ok::<_, hyper::Error>(
                            Response::builder()
                                .header("content-type", "application/json")
                                .body(Full::new(body))
                                .unwrap(),
                        )
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
}

// ---------------------------------------------------------------- load

/// A prepared, signed webhook request.
#[derive(Clone)]
struct Prepared {
    path: &'static str,
    body: Bytes,
    signature: String,
}

fn sid(n: usize) -> String {
    format!("CA{n:032x}")
}

fn prepare(port: u16, path: &'static str, params: &[(&str, &str)]) -> Prepared {
    let url = format!("http://127.0.0.1:{port}{path}");
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    Prepared {
        path,
        body: Bytes::from(body),
        signature: frontdesk::twilio::signature::sign(TOKEN, &url, params.iter().copied()),
    }
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn connect(port: u16) -> Sender {
    let stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    sender
}

/// Sends one request; returns the status and body.
async fn send(sender: &mut Sender, port: u16, p: &Prepared) -> Result<(u16, Bytes), String> {
    sender.ready().await.map_err(|e| e.to_string())?;
    let req = Request::post(p.path)
        .header("host", format!("127.0.0.1:{port}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-twilio-signature", &p.signature)
        .body(Full::new(p.body.clone()))
        .unwrap();
    let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok((status, body))
}

/// Whether an answer is a well-formed TwiML document containing `expected`.
fn valid_twiml(body: &[u8], expected: &str) -> bool {
    let Ok(text) = std::str::from_utf8(body) else {
        return false;
    };
    if !text.contains(expected) {
        return false;
    }
    let mut reader = quick_xml::Reader::from_str(text);
    let mut depth = 0i32;
    loop {
        match reader.read_event() {
            Ok(quick_xml::events::Event::Start(_)) => depth += 1,
            Ok(quick_xml::events::Event::End(_)) => depth -= 1,
            Ok(quick_xml::events::Event::Eof) => return depth == 0,
            Ok(_) => {}
            Err(_) => return false,
        }
    }
}

#[derive(Default)]
struct LoadResult {
    ok: u64,
    errors: u64,
    non_2xx: u64,
    invalid: u64,
    latencies_us: Vec<u32>,
    elapsed: Duration,
}

/// Drives `requests` (round robin) over `conns` connections for `secs`.
async fn drive(
    port: u16,
    requests: Arc<Vec<Prepared>>,
    expected: &'static str,
    conns: usize,
    secs: u64,
) -> LoadResult {
    let next = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let (requests, next) = (Arc::clone(&requests), Arc::clone(&next));
        tasks.push(tokio::spawn(async move {
            let mut r = LoadResult::default();
            let mut sender = connect(port).await;
            while Instant::now() < deadline {
                let p = &requests[next.fetch_add(1, Ordering::Relaxed) % requests.len()];
                let t = Instant::now();
                match send(&mut sender, port, p).await {
                    Ok((200, body)) => {
                        r.latencies_us
                            .push(t.elapsed().as_micros().min(u32::MAX as u128) as u32);
                        if valid_twiml(&body, expected) {
                            r.ok += 1;
                        } else {
                            r.invalid += 1;
                        }
                    }
                    Ok(_) => r.non_2xx += 1,
                    Err(_) => {
                        r.errors += 1;
                        sender = connect(port).await;
                    }
                }
            }
            r
        }));
    }
    let mut total = LoadResult::default();
    for t in tasks {
        let r = t.await.unwrap();
        total.ok += r.ok;
        total.errors += r.errors;
        total.non_2xx += r.non_2xx;
        total.invalid += r.invalid;
        total.latencies_us.extend(r.latencies_us);
    }
    total.elapsed = started.elapsed();
    total.latencies_us.sort_unstable();
    total
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[i]) / 1000.0
}

/// Creates `n` live calls through `/voice/inbound`, `conns` at a time.
async fn create_calls(port: u16, from: usize, n: usize, conns: usize) {
    let inbound: Arc<Vec<Prepared>> = Arc::new(
        (from..from + n)
            .map(|i| {
                let s = sid(i);
                prepare(
                    port,
                    "/voice/inbound",
                    &[
                        ("CallSid", &s),
                        ("From", "+14155550100"),
                        ("To", "+14155550199"),
                        ("CallStatus", "ringing"),
                    ],
                )
            })
            .collect(),
    );
    run_each(port, inbound, conns, "<Gather").await;
}

/// Sends every request once, `conns` at a time; panics on any failure.
async fn run_each(port: u16, requests: Arc<Vec<Prepared>>, conns: usize, expected: &'static str) {
    let next = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..conns.min(requests.len()).max(1) {
        let (requests, next, failures) = (
            Arc::clone(&requests),
            Arc::clone(&next),
            Arc::clone(&failures),
        );
        tasks.push(tokio::spawn(async move {
            let mut sender = connect(port).await;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(p) = requests.get(i) else { break };
                match send(&mut sender, port, p).await {
                    Ok((200, body)) if valid_twiml(&body, expected) => {}
                    Ok((204, _)) => {}
                    _ => {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(
        failures.load(Ordering::Relaxed),
        0,
        "set-up requests failed"
    );
}

fn turn_requests(port: u16, from: usize, n: usize) -> Arc<Vec<Prepared>> {
    Arc::new(
        (from..from + n)
            .map(|i| {
                let s = sid(i);
                prepare(
                    port,
                    "/voice/process-speech",
                    &[
                        ("CallSid", &s),
                        ("SpeechResult", UTTERANCE),
                        ("Confidence", "0.93"),
                    ],
                )
            })
            .collect(),
    )
}

// ---------------------------------------------------------------- scenarios

fn mb(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

async fn throughput(args: &Args, mode: &str, report: &mut BTreeMap<String, Value>) {
    let fake = (mode == "llm").then(start_fake_openai);
    let base = fake
        .as_ref()
        .map(|(_, port)| format!("http://127.0.0.1:{port}/v1"));
    let redis = if mode == "redis" {
        Some(start_redis().await)
    } else {
        None
    };
    let server = start_server(base.as_deref(), redis.as_ref().map(|r| r.port)).await;
    let pid = server.child.id();
    let (rss_idle, _) = rss(pid);
    create_calls(server.port, 0, args.calls, 50).await;
    let (rss_calls, _) = rss(pid);
    let expected: &'static str = if mode == "llm" {
        FAKE_REPLY
    } else {
        "It&apos;s "
    };
    let requests = turn_requests(server.port, 0, args.calls);

    for (label, conns, secs) in [("c50", args.conns, args.secs), ("c1", 1, args.single_secs)] {
        let cpu0 = cpu_seconds(pid);
        let fake_cpu0 = fake.as_ref().map_or(0.0, |(c, _)| cpu_seconds(c.id()));
        let redis_cpu0 = redis.as_ref().map_or(0.0, |r| cpu_seconds(r.child.id()));
        let r = drive(server.port, Arc::clone(&requests), expected, conns, secs).await;
        let cpu = cpu_seconds(pid) - cpu0;
        let fake_cpu = fake.as_ref().map_or(0.0, |(c, _)| cpu_seconds(c.id())) - fake_cpu0;
        let redis_cpu = redis.as_ref().map_or(0.0, |r| cpu_seconds(r.child.id())) - redis_cpu0;
        let (rss_now, peak) = rss(pid);
        let secs_f = r.elapsed.as_secs_f64();
        let turns = r.ok as f64 / secs_f;
        let row = json!({
            "mode": mode, "connections": conns, "seconds": secs_f,
            "turns": r.ok, "turns_per_sec": turns,
            "p50_ms": percentile(&r.latencies_us, 0.50), "p90_ms": percentile(&r.latencies_us, 0.90),
            "p99_ms": percentile(&r.latencies_us, 0.99), "max_ms": percentile(&r.latencies_us, 1.0),
            "server_cpu_s": cpu, "server_cpu_ms_per_turn": if r.ok > 0 { cpu * 1000.0 / r.ok as f64 } else { 0.0 },
            "server_cores_used": cpu / secs_f,
            "fake_llm_cpu_s": fake_cpu, "fake_llm_cores_used": fake_cpu / secs_f,
            "redis_cpu_s": redis_cpu, "redis_cores_used": redis_cpu / secs_f,
            "errors": r.errors, "non_2xx": r.non_2xx, "invalid_twiml": r.invalid,
            "rss_idle_mb": mb(rss_idle), "rss_with_calls_mb": mb(rss_calls), "rss_mb": mb(rss_now), "peak_rss_mb": mb(peak),
            "live_calls": args.calls,
        });
        eprintln!(
            "{mode}/{label}: {turns:.0} turns/s, p99 {:.2} ms, {:.4} ms CPU/turn, peak RSS {:.1} MB",
            percentile(&r.latencies_us, 0.99),
            row["server_cpu_ms_per_turn"].as_f64().unwrap(),
            mb(peak)
        );
        report.insert(format!("{mode}_{label}"), row);
    }
    if let Some((mut c, _)) = fake {
        let _ = c.kill();
        let _ = c.wait();
    }
}

async fn memory(args: &Args, report: &mut BTreeMap<String, Value>) {
    let server = start_server(None, None).await;
    let pid = server.child.id();
    let (idle, _) = rss(pid);
    let n = args.memory_calls;
    create_calls(server.port, 0, n, 50).await;
    let turns = turn_requests(server.port, 0, n);
    for _ in 0..10 {
        run_each(server.port, Arc::clone(&turns), 50, "It&apos;s ").await;
    }
    let (live, peak) = rss(pid);
    let per_call = (live.saturating_sub(idle)) as f64 / n as f64;
    eprintln!(
        "memory: {n} live calls x 10 turns: RSS {:.1} MB (idle {:.1} MB), {:.0} bytes per call",
        mb(live),
        mb(idle),
        per_call
    );
    report.insert(
        "memory".into(),
        json!({"live_calls": n, "turns_per_call": 10, "rss_idle_mb": mb(idle), "rss_mb": mb(live), "peak_rss_mb": mb(peak),
               "bytes_per_call": per_call, "projected_rss_1000_calls_mb": mb(idle) + per_call * 1000.0 / (1024.0 * 1024.0)}),
    );
}

/// Calls start, talk and end continuously; RSS is sampled over time.
async fn soak(args: &Args, report: &mut BTreeMap<String, Value>) {
    let server = start_server(None, None).await;
    let pid = server.child.id();
    let port = server.port;
    let deadline = Instant::now() + Duration::from_secs(args.soak_secs);
    let counter = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..20 {
        let counter = Arc::clone(&counter);
        workers.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                create_calls(port, n + 10_000_000, 1, 1).await;
                let turn = turn_requests(port, n + 10_000_000, 1);
                for _ in 0..10 {
                    run_each(port, Arc::clone(&turn), 1, "It&apos;s ").await;
                }
                let s = sid(n + 10_000_000);
                let end = Arc::new(vec![prepare(
                    port,
                    "/voice/status",
                    &[
                        ("CallSid", &s),
                        ("CallStatus", "completed"),
                        ("CallDuration", "30"),
                    ],
                )]);
                run_each(port, end, 1, "").await;
            }
        }));
    }
    let mut samples = Vec::new();
    let started = Instant::now();
    while Instant::now() < deadline {
        tokio::time::sleep(
            Duration::from_secs(10).min(deadline.saturating_duration_since(Instant::now())),
        )
        .await;
        let (now, _) = rss(pid);
        let calls = counter.load(Ordering::Relaxed);
        eprintln!(
            "soak {:>4.0}s: {calls} calls, RSS {:.1} MB",
            started.elapsed().as_secs_f64(),
            mb(now)
        );
        samples.push(json!({"seconds": started.elapsed().as_secs_f64(), "calls_started": calls, "rss_mb": mb(now)}));
    }
    for w in workers {
        let _ = w.await;
    }
    report.insert(
        "soak".into(),
        json!({"seconds": args.soak_secs, "samples": samples}),
    );
}

fn markdown(report: &BTreeMap<String, Value>, cores: usize) -> String {
    let mut md = format!(
        "# frontdesk benchmark\n\nMachine: {cores} cores (shared by the server, the load generator and the fake LLM).\n\n"
    );
    md.push_str("| run | conns | turns/s | p50 ms | p90 ms | p99 ms | server CPU ms/turn | server cores | fake LLM cores | Redis cores | peak RSS MB | errors | non-2xx | invalid |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (name, r) in report {
        if r.get("turns_per_sec").is_none() {
            continue;
        }
        let f = |k: &str| r[k].as_f64().unwrap_or(0.0);
        md.push_str(&format!(
            "| {name} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.4} | {:.2} | {:.2} | {:.2} | {:.1} | {} | {} | {} |\n",
            r["connections"], f("turns_per_sec"), f("p50_ms"), f("p90_ms"), f("p99_ms"), f("server_cpu_ms_per_turn"),
            f("server_cores_used"), f("fake_llm_cores_used"), f("redis_cores_used"), f("peak_rss_mb"), r["errors"], r["non_2xx"], r["invalid_twiml"]
        ));
    }
    if let Some(m) = report.get("memory") {
        md.push_str(&format!(
            "\nMemory: {} live calls with 10 turns each: RSS {:.1} MB (idle {:.1} MB), {:.0} bytes per call; projected for 1,000 calls: {:.1} MB.\n",
            m["live_calls"], m["rss_mb"].as_f64().unwrap_or(0.0), m["rss_idle_mb"].as_f64().unwrap_or(0.0),
            m["bytes_per_call"].as_f64().unwrap_or(0.0), m["projected_rss_1000_calls_mb"].as_f64().unwrap_or(0.0)
        ));
    }
    if let Some(s) = report.get("soak") {
        md.push_str("\nSoak (calls starting and ending continuously):\n\n| seconds | calls started | RSS MB |\n|---|---|---|\n");
        for x in s["samples"].as_array().into_iter().flatten() {
            md.push_str(&format!(
                "| {:.0} | {} | {:.1} |\n",
                x["seconds"].as_f64().unwrap_or(0.0),
                x["calls_started"],
                x["rss_mb"].as_f64().unwrap_or(0.0)
            ));
        }
    }
    md
}

fn main() {
    let raw: Vec<String> = std::env::args().collect();
    if raw.get(1).map(String::as_str) == Some("--fake-openai") {
        run_fake_openai(raw[2].parse().unwrap());
        return;
    }
    let args = args();
    // One thread for the load generator, so the server keeps the other core.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let report = rt.block_on(async {
        let mut report = BTreeMap::new();
        for mode in args
            .modes
            .iter()
            .filter(|m| matches!(m.as_str(), "rules" | "llm" | "redis"))
        {
            throughput(&args, mode, &mut report).await;
        }
        if args.memory_calls > 0 {
            memory(&args, &mut report).await;
        }
        if args.soak_secs > 0 {
            soak(&args, &mut report).await;
        }
        report
    });
    std::fs::create_dir_all(&args.out).unwrap();
    let stamp = chrono::Utc::now().format("%Y%m%d-%H%M%S");
    let md = markdown(&report, cores);
    let json_path = args.out.join(format!("bench-{stamp}.json"));
    let md_path = args.out.join(format!("bench-{stamp}.md"));
    std::fs::write(
        &json_path,
        serde_json::to_string_pretty(&json!({"cores": cores, "results": report})).unwrap(),
    )
    .unwrap();
    std::fs::write(&md_path, &md).unwrap();
    println!(
        "{md}\nwritten: {} and {}",
        md_path.display(),
        json_path.display()
    );
}
