//! Conversation tests: the suite in `tests/conversations/*.toml` runs
//! through the same runner as `frontdesk test`, and the runner and the
//! `frontdesk test` / `frontdesk chat` commands are checked themselves.

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use chrono::{Datelike, Duration, TimeZone, Utc, Weekday};
use frontdesk::{
    calendar::{Calendar, local::LocalCalendar},
    rehearsal::{runner, script::Script},
};

use crate::helpers;

fn suite_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conversations");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_conversation_in_the_suite_passes() {
    let files = suite_files();
    assert!(!files.is_empty(), "no conversation files");
    let scripts = runner::load_all(&files).unwrap_or_else(|e| panic!("{e}"));
    let tmp = tempfile::tempdir().unwrap();
    let config = helpers::config(tmp.path(), &[("AGENT", "rules")]);
    let mut out = Vec::new();
    let summary = runner::run_scripts(&config, &scripts, &mut out)
        .await
        .unwrap();
    let report = String::from_utf8(out).unwrap();
    let failing: Vec<&str> = report.lines().filter(|l| l.starts_with("FAIL")).collect();
    assert_eq!(summary.failed, 0, "{summary}:\n{}", failing.join("\n"));
    assert!(summary.passed >= 1);
}

const TWO: &str = r#"
[[conversation]]
name = "books tomorrow at 2"
today = "2026-11-30T09:00"
caller = "+15551230001"
says = ["Can I come in tomorrow at 2 pm? My name is Ada Lovelace.", "Yes, please."]
expect_booked = [{ name = "Ada Lovelace", start = "2026-12-01T14:00" }]
expect_heard = ["all set"]
expect_ends_call = false

[[conversation]]
name = "expects the wrong time"
today = "2026-11-30T09:00"
caller = "+15551230002"
booked_before = [{ name = "Alan Turing", start = "2026-12-01T14:00", phone = "+15551230009" }]
says = ["Can I come in tomorrow at 2 pm? My name is Grace Hopper.", "bye"]
expect_booked = [{ name = "Grace Hopper", start = "2026-12-01T14:00" }]
expect_heard = ["already taken", "purple"]
expect_ends_call = true
"#;

#[tokio::test]
async fn a_failing_conversation_is_reported_with_why_and_the_call() {
    let script = Script::parse(Path::new("two.toml"), TWO).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let config = helpers::config(tmp.path(), &[("AGENT", "rules")]);
    let mut out = Vec::new();
    let summary = runner::run_scripts(&config, &[script], &mut out)
        .await
        .unwrap();
    let report = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = report.lines().collect();
    assert_eq!(lines.len(), 3, "{report}");
    assert_eq!(lines[0], "PASS books tomorrow at 2");
    assert!(
        lines[1].starts_with("FAIL expects the wrong time — expected Grace Hopper at 2026-12-01T14:00 to be booked; the calendar has Alan Turing at 2026-12-01T14:00"),
        "{report}"
    );
    assert!(lines[1].contains("expected to hear \"purple\""), "{report}");
    assert!(!lines[1].contains("\"already taken\""), "heard: {report}");
    assert!(
        lines[1].contains("caller: \"Can I come in tomorrow at 2 pm? My name is Grace Hopper.\""),
        "{report}"
    );
    assert_eq!(lines[2], "1 passed, 1 failed");
    assert_eq!((summary.passed, summary.failed), (1, 1));
}

/// The `frontdesk` binary with a clean environment and a fresh data directory.
fn frontdesk(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_frontdesk"));
    cmd.env_clear()
        .current_dir(dir)
        .env("DATA_DIR", dir.join("data"))
        .env("AGENT", "rules")
        .env("BUSINESS_NAME", "Acme Dental")
        .env("RUST_LOG", "error");
    cmd
}

#[test]
fn frontdesk_test_exits_non_zero_when_a_conversation_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("two.toml");
    std::fs::write(&file, TWO).unwrap();
    let out = frontdesk(tmp.path())
        .args(["test"])
        .arg(&file)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("PASS books tomorrow at 2"), "{stdout}");
    assert!(
        stdout.contains("FAIL expects the wrong time — "),
        "{stdout}"
    );
    assert!(stdout.ends_with("1 passed, 1 failed\n"), "{stdout}");

    let passing = tmp.path().join("one.toml");
    std::fs::write(
        &passing,
        TWO.split("\n[[conversation]]\nname = \"expects")
            .next()
            .unwrap(),
    )
    .unwrap();
    let out = frontdesk(tmp.path())
        .args(["test"])
        .arg(&passing)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.ends_with("1 passed, 0 failed\n"), "{stdout}");
}

#[test]
fn frontdesk_test_names_the_file_and_conversation_of_a_mistake() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("typo.toml");
    std::fs::write(
        &file,
        "[[conversation]]\nname = \"fine\"\nsays = [\"hi\"]\n\n[[conversation]]\nname = \"typo\"\nsays = [\"hi\"]\nexpect_bokked = []\n",
    )
    .unwrap();
    let out = frontdesk(tmp.path())
        .args(["test"])
        .arg(&file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("typo.toml: conversation 2 (\"typo\")"),
        "{stderr}"
    );
    assert!(stderr.contains("expect_bokked"), "{stderr}");
    assert!(out.stdout.is_empty(), "nothing runs when a file is wrong");
}

/// A weekday at least two days ahead, as a caller says it ("December 3rd").
fn a_weekday_ahead() -> chrono::NaiveDate {
    let mut d = Utc::now().date_naive() + Duration::days(2);
    while matches!(d.weekday(), Weekday::Sat | Weekday::Sun) {
        d += Duration::days(1);
    }
    d
}

#[test]
fn frontdesk_chat_talks_over_a_pipe_and_books_in_the_configured_calendar() {
    let tmp = tempfile::tempdir().unwrap();
    let day = a_weekday_ahead();
    let said = format!(
        "I'd like an appointment on {} {} at 10 am, my name is Ada Lovelace",
        day.format("%B"),
        frontdesk::agent::speech::ordinal(day.day())
    );
    let mut child = frontdesk(tmp.path())
        .args(["chat", "--from", "+15551230001"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "{said}\nyes\nthat's all, bye").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].contains("Acme Dental"), "greeting first: {stdout}");
    assert!(
        stdout.contains("for Ada Lovelace. Shall I book it?"),
        "{stdout}"
    );
    assert!(stdout.contains("You're all set, Ada Lovelace"), "{stdout}");
    assert!(
        stdout.trim_end().ends_with("(the receptionist hung up)"),
        "{stdout}"
    );

    let rt = tokio::runtime::Runtime::new().unwrap();
    let booked = rt.block_on(async {
        let calendar = LocalCalendar::open(&tmp.path().join("data")).unwrap();
        calendar
            .list(
                Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0).unwrap(),
                Utc.with_ymd_and_hms(2100, 1, 1, 0, 0, 0).unwrap(),
            )
            .await
            .unwrap()
    });
    assert_eq!(booked.len(), 1, "{booked:?}");
    assert_eq!(booked[0].name, "Ada Lovelace");
    assert_eq!(booked[0].phone.as_deref(), Some("+15551230001"));
    assert_eq!(
        booked[0].start,
        Utc.from_utc_datetime(&day.and_hms_opt(10, 0, 0).unwrap())
    );
}
