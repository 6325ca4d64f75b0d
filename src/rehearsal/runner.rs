//! `frontdesk test`: each conversation as its own call on a fresh built-in
//! calendar, with the clock at its `today`, then its expectations checked
//! against the calendar and what was heard.
//!
//! The report is one line per conversation, `PASS name` or
//! `FAIL name — why`, the failing ones with the whole call, then
//! `N passed, M failed`.

use std::{io::Write, path::Path, sync::Arc};

use chrono::{DateTime, Duration, LocalResult, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use futures_util::StreamExt;

use super::{
    line::{Heard, Line},
    script::{Conversation, Script, format_local},
};
use crate::{
    calendar::{Calendar, Details, local::LocalCalendar},
    config::Config,
    state::Clock,
};

/// How many conversations run at once (each is its own server).
const AT_ONCE: usize = 4;

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
/// business and voice, on a fresh built-in calendar in `data_dir`, with no
/// Twilio credentials (a rehearsal places no calls and sends no texts).
pub fn rehearsal_config(config: &Config, data_dir: &Path) -> Config {
    let mut c = config.clone();
    c.data_dir = data_dir.to_owned();
    c.calendar.use_builtin = true;
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

/// Plays one conversation and checks it.
pub async fn run_conversation(config: &Config, c: &Conversation) -> Verdict {
    let mut verdict = Verdict {
        name: c.name.clone(),
        problems: Vec::new(),
        call: Vec::new(),
    };
    if let Err(problem) = play(config, c, &mut verdict).await {
        verdict.problems.push(problem);
    }
    verdict
}

async fn play(config: &Config, c: &Conversation, verdict: &mut Verdict) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| format!("no temporary directory: {e}"))?;
    let config = rehearsal_config(config, dir.path());
    let tz = config.business.timezone;
    let now = match c.today {
        Some(today) => to_utc(tz, today).ok_or_else(|| {
            format!(
                "today {} does not exist in {tz} (clock change)",
                format_local(today)
            )
        })?,
        None => Utc::now(),
    };
    let calendar =
        LocalCalendar::open(dir.path()).map_err(|e| format!("cannot open the calendar: {e}"))?;
    let minutes = Duration::minutes(i64::from(config.business.appointment_minutes));
    for b in &c.booked_before {
        let start = to_utc(tz, b.start)
            .ok_or_else(|| format!("booked_before {}: no such local time", format_local(b.start)))?;
        let who = Details {
            name: b.name.clone(),
            phone: b.phone.clone(),
            ..Details::default()
        };
        calendar
            .book_if_free(start, start + minutes, who)
            .await
            .map_err(|e| {
                format!(
                    "booked_before {} at {}: {e}",
                    b.name,
                    format_local(b.start)
                )
            })?;
    }
    let clock: Clock = Arc::new(move || now);
    let line = Line::open(config, clock)
        .await
        .map_err(|e| e.to_string())?;
    let result = converse(&line, c, verdict).await;
    line.close().await;
    let ended = result?;

    let booked = calendar
        .list(
            Utc.with_ymd_and_hms(1970, 1, 1, 0, 0, 0).single().unwrap_or_default(),
            now + Duration::days(3660),
        )
        .await
        .map_err(|e| format!("cannot read the calendar after the call: {e}"))?;
    let booked: Vec<(String, NaiveDateTime)> = booked
        .into_iter()
        .map(|a| (a.name, a.start.with_timezone(&tz).naive_local()))
        .collect();
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
            verdict
                .problems
                .push(format!("expected {unwanted} not to be booked; {}", listing()));
        }
    }
    let replies: Vec<String> = verdict
        .call
        .iter()
        .filter(|(caller, _)| !caller)
        .map(|(_, text)| text.to_lowercase())
        .collect();
    for words in &c.expect_heard {
        let words_lower = words.to_lowercase();
        if !replies.iter().any(|r| r.contains(&words_lower)) {
            verdict
                .problems
                .push(format!("expected to hear {words:?}"));
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
    Ok(())
}

/// Says each line; returns whether the receptionist ended the call.
async fn converse(line: &Line, c: &Conversation, verdict: &mut Verdict) -> Result<bool, String> {
    let heard = |verdict: &mut Verdict, h: &Heard| verdict.call.push((false, h.text()));
    let (mut call, greeting) = line.call(c.caller.as_deref()).await.map_err(|e| e.to_string())?;
    heard(verdict, &greeting);
    for (i, words) in c.says.iter().enumerate() {
        if call.ended() {
            return Err(format!(
                "the receptionist hung up before the caller said line {} ({words:?})",
                i + 1
            ));
        }
        verdict.call.push((true, words.clone()));
        let h = line.say(&mut call, words).await.map_err(|e| e.to_string())?;
        heard(verdict, &h);
    }
    let ended = call.ended();
    if !ended {
        line.hang_up(&mut call).await.map_err(|e| e.to_string())?;
    }
    Ok(ended)
}

/// Runs every conversation of `scripts`, writing one report line each as
/// they finish (in file order), then the totals.
pub async fn run_scripts(
    config: &Config,
    scripts: &[Script],
    out: &mut dyn Write,
) -> std::io::Result<Summary> {
    let all = scripts.iter().flat_map(|s| s.conversations.iter());
    let mut verdicts =
        futures_util::stream::iter(all.map(|c| run_conversation(config, c))).buffered(AT_ONCE);
    let mut summary = Summary::default();
    while let Some(v) = verdicts.next().await {
        if v.passed() {
            summary.passed += 1;
        } else {
            summary.failed += 1;
        }
        writeln!(out, "{}", v.line())?;
    }
    writeln!(out, "{summary}")?;
    Ok(summary)
}

/// Loads every file, stopping at the first that cannot be used.
pub fn load_all(paths: &[std::path::PathBuf]) -> Result<Vec<Script>, super::script::ScriptError> {
    paths.iter().map(|p| Script::load(p)).collect()
}
