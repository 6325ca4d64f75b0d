//! `frontdesk test`: each conversation as its own call on a fresh built-in
//! calendar, with the clock at its `today`, then its expectations checked
//! against the calendar and what was heard.
//!
//! The report is one line per conversation, `PASS name` or
//! `FAIL name — why`, the failing ones with the whole call, then
//! `N passed, M failed`.

use std::{
    io::Write,
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicI64, AtomicUsize, Ordering},
    },
};

use chrono::{DateTime, Duration, LocalResult, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

use super::{
    line::{Heard, Line},
    script::{Conversation, Script, format_local},
};
use crate::{
    calendar::{Calendar, Details, local::LocalCalendar},
    clock::Clock,
    config::Config,
};

/// How many conversations run at once (each is its own server).
const AT_ONCE: usize = 16;

/// The outcome of one conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The conversation's name.
    pub name: String,
    /// What did not hold; empty when it passed.
    pub problems: Vec<String>,
    /// Who said what: `(true, …)` for the caller, `(false, …)` for the receptionist.
    pub call: Vec<(bool, String)>,
}

impl Verdict {
    /// Whether every expectation held.
    pub fn passed(&self) -> bool {
        self.problems.is_empty()
    }

    /// The report line: `PASS name`, or `FAIL name — why` with the call.
    pub fn line(&self) -> String {
        if self.passed() {
            return format!("PASS {}", self.name);
        }
        let call: Vec<String> = self
            .call
            .iter()
            .map(|(caller, text)| {
                let who = if *caller { "caller" } else { "receptionist" };
                format!("{who}: {text:?}")
            })
            .collect();
        format!(
            "FAIL {} — {} — {}",
            self.name,
            self.problems.join("; "),
            call.join(" | ")
        )
    }
}

/// The totals of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Conversations whose expectations all held.
    pub passed: usize,
    /// The others.
    pub failed: usize,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} passed, {} failed", self.passed, self.failed)
    }
}

/// The configuration one rehearsed call runs with: `config`'s agent,
/// business and voice, on a fresh built-in calendar in `data_dir` (never the
/// shared `DATABASE_URL`), with no Twilio credentials (a rehearsal places no
/// calls and sends no texts).
pub fn rehearsal_config(config: &Config, data_dir: &Path) -> Config {
    let mut c = config.clone();
    c.data_dir = data_dir.to_owned();
    c.calendar.use_builtin = true;
    c.database_url = None;
    without_twilio_credentials(&mut c);
    c
}

/// Drops what would let a rehearsal reach Twilio's REST API.
pub(crate) fn without_twilio_credentials(config: &mut Config) {
    config.twilio.account_sid = None;
    config.twilio.auth_token = None;
    config.twilio.validate_signatures = false;
}

fn to_utc(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => Some(t.with_timezone(&Utc)),
        LocalResult::None => None,
    }
}

/// A server for rehearsals: conversations play on it one after another,
/// each on the emptied calendar with the clock set to its `today`.
/// (Starting a server per conversation would cost more than the call.)
struct Stage {
    line: Line,
    calendar: LocalCalendar,
    clock: Arc<AtomicI64>,
    timezone: Tz,
    minutes: Duration,
    _dir: tempfile::TempDir,
}

impl Stage {
    async fn open(config: &Config) -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| format!("no temporary directory: {e}"))?;
        let config = rehearsal_config(config, dir.path());
        let calendar = LocalCalendar::open(dir.path())
            .map_err(|e| format!("cannot open the calendar: {e}"))?;
        let clock = Arc::new(AtomicI64::new(Utc::now().timestamp_millis()));
        let reading = Arc::clone(&clock);
        let now: Clock = Arc::new(move || {
            DateTime::from_timestamp_millis(reading.load(Ordering::Relaxed)).unwrap_or_default()
        });
        let timezone = config.business.timezone;
        let minutes = Duration::minutes(i64::from(config.business.appointment_minutes));
        let line = Line::open(config, now).await.map_err(|e| e.to_string())?;
        Ok(Self {
            line,
            calendar,
            clock,
            timezone,
            minutes,
            _dir: dir,
        })
    }

    async fn all_booked(&self) -> Result<Vec<crate::calendar::Appointment>, String> {
        let from = DateTime::<Utc>::MIN_UTC;
        let to = DateTime::<Utc>::MAX_UTC;
        self.calendar
            .list(from, to)
            .await
            .map_err(|e| format!("cannot read the calendar: {e}"))
    }

    /// Plays `c` and checks it.
    async fn play(&self, c: &Conversation) -> Verdict {
        let mut verdict = Verdict {
            name: c.name.clone(),
            problems: Vec::new(),
            call: Vec::new(),
        };
        if let Err(problem) = self.try_play(c, &mut verdict).await {
            verdict.problems.push(problem);
        }
        verdict
    }

    async fn try_play(&self, c: &Conversation, verdict: &mut Verdict) -> Result<(), String> {
        let tz = self.timezone;
        let now = match c.today {
            Some(today) => to_utc(tz, today).ok_or_else(|| {
                format!(
                    "today {} does not exist in {tz} (clock change)",
                    format_local(today)
                )
            })?,
            None => Utc::now(),
        };
        self.clock.store(now.timestamp_millis(), Ordering::Relaxed);
        // A fresh, empty calendar: what the last conversation left goes.
        for a in self.all_booked().await? {
            self.calendar
                .cancel(&a.id)
                .await
                .map_err(|e| format!("cannot empty the calendar: {e}"))?;
        }
        for b in &c.booked_before {
            let start = to_utc(tz, b.start).ok_or_else(|| {
                format!(
                    "booked_before {}: no such local time",
                    format_local(b.start)
                )
            })?;
            let who = Details {
                name: b.name.clone(),
                phone: b.phone.clone(),
                ..Details::default()
            };
            self.calendar
                .book_if_free(start, start + self.minutes, who)
                .await
                .map_err(|e| {
                    format!("booked_before {} at {}: {e}", b.name, format_local(b.start))
                })?;
        }
        let ended = converse(&self.line, c, verdict).await?;
        let booked: Vec<(String, NaiveDateTime)> = self
            .all_booked()
            .await?
            .into_iter()
            .map(|a| (a.name, a.start.with_timezone(&tz).naive_local()))
            .collect();
        check(c, &booked, ended, verdict);
        Ok(())
    }
}

/// Checks what `c` expects against the calendar and the call.
fn check(c: &Conversation, booked: &[(String, NaiveDateTime)], ended: bool, verdict: &mut Verdict) {
    let listing = || {
        if booked.is_empty() {
            "the calendar is empty".to_owned()
        } else {
            let all: Vec<String> = booked
                .iter()
                .map(|(n, s)| format!("{n} at {}", format_local(*s)))
                .collect();
            format!("the calendar has {}", all.join(", "))
        }
    };
    for want in &c.expect_booked {
        if !booked.iter().any(|(n, s)| want.matches(n, *s)) {
            verdict
                .problems
                .push(format!("expected {want} to be booked; {}", listing()));
        }
    }
    for unwanted in &c.expect_not_booked {
        if booked.iter().any(|(n, s)| unwanted.matches(n, *s)) {
            verdict.problems.push(format!(
                "expected {unwanted} not to be booked; {}",
                listing()
            ));
        }
    }
    let replies: Vec<String> = verdict
        .call
        .iter()
        .filter(|(caller, _)| !caller)
        .map(|(_, text)| text.to_lowercase())
        .collect();
    for words in &c.expect_heard {
        let lower = words.to_lowercase();
        if !replies.iter().any(|r| r.contains(&lower)) {
            verdict.problems.push(format!("expected to hear {words:?}"));
        }
    }
    if let Some(want) = c.expect_ends_call
        && want != ended
    {
        verdict.problems.push(if want {
            "expected the receptionist to end the call; it did not".into()
        } else {
            "the receptionist ended the call".into()
        });
    }
}

/// Plays one conversation on its own server and checks it.
pub async fn run_conversation(config: &Config, c: &Conversation) -> Verdict {
    match Stage::open(config).await {
        Ok(stage) => {
            let v = stage.play(c).await;
            stage.line.close().await;
            v
        }
        Err(problem) => Verdict {
            name: c.name.clone(),
            problems: vec![problem],
            call: Vec::new(),
        },
    }
}

/// Says each line; returns whether the receptionist ended the call.
async fn converse(line: &Line, c: &Conversation, verdict: &mut Verdict) -> Result<bool, String> {
    let heard = |verdict: &mut Verdict, h: &Heard| verdict.call.push((false, h.text()));
    let (mut call, greeting) = line
        .call(c.caller.as_deref())
        .await
        .map_err(|e| e.to_string())?;
    heard(verdict, &greeting);
    for (i, words) in c.says.iter().enumerate() {
        if call.ended() {
            return Err(format!(
                "the receptionist hung up before the caller said line {} ({words:?})",
                i + 1
            ));
        }
        verdict.call.push((true, words.clone()));
        let h = line
            .say(&mut call, words)
            .await
            .map_err(|e| e.to_string())?;
        heard(verdict, &h);
    }
    let ended = call.ended();
    if !ended {
        line.hang_up(&mut call).await.map_err(|e| e.to_string())?;
    }
    Ok(ended)
}

/// Runs every conversation of `scripts`, writing one report line each
/// (in file order) as soon as it and those before it are done, then the
/// totals. A few servers play conversations side by side.
pub async fn run_scripts(
    config: &Config,
    scripts: &[Script],
    out: &mut dyn Write,
) -> std::io::Result<Summary> {
    let all: Vec<&Conversation> = scripts.iter().flat_map(|s| &s.conversations).collect();
    let next = AtomicUsize::new(0);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(usize, Verdict)>();
    let stages = AT_ONCE.min(all.len());
    let worker = |tx: tokio::sync::mpsc::UnboundedSender<(usize, Verdict)>| {
        let (all, next) = (&all, &next);
        async move {
            let stage = Stage::open(config).await;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(c) = all.get(i) else { break };
                let verdict = match &stage {
                    Ok(stage) => stage.play(c).await,
                    Err(problem) => Verdict {
                        name: c.name.clone(),
                        problems: vec![problem.clone()],
                        call: Vec::new(),
                    },
                };
                if tx.send((i, verdict)).is_err() {
                    break;
                }
            }
            if let Ok(stage) = stage {
                stage.line.close().await;
            }
        }
    };
    let workers = futures_util::future::join_all((0..stages).map(|_| worker(tx.clone())));
    drop(tx);
    let mut summary = Summary::default();
    let report = async {
        let mut pending = std::collections::BTreeMap::new();
        let mut printed = 0;
        while let Some((i, v)) = rx.recv().await {
            pending.insert(i, v);
            while let Some(v) = pending.remove(&printed) {
                if v.passed() {
                    summary.passed += 1;
                } else {
                    summary.failed += 1;
                }
                writeln!(out, "{}", v.line())?;
                printed += 1;
            }
        }
        writeln!(out, "{summary}")?;
        Ok::<(), std::io::Error>(())
    };
    let ((), written) = tokio::join!(
        async {
            workers.await;
        },
        report
    );
    written?;
    Ok(summary)
}

/// Loads every file, stopping at the first that cannot be used.
pub fn load_all(paths: &[std::path::PathBuf]) -> Result<Vec<Script>, super::script::ScriptError> {
    paths.iter().map(|p| Script::load(p)).collect()
}
