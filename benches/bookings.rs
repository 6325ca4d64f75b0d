//! The booking benchmark: the storage work of a booking turn — the
//! availability read (`busy`) and the atomic `book_if_free` — on the
//! built-in calendar's two backends, SQLite under a temporary `DATA_DIR`
//! and, when `DATABASE_URL` is set, PostgreSQL.
//!
//!     cargo bench --locked --bench bookings
//!     DATABASE_URL=postgres://…/scratch cargo bench --locked --bench bookings
//!
//! Point `DATABASE_URL` at a scratch database: the schema is created if
//! needed, and the appointments it books (all in the year 2100) are deleted
//! at the end. Two runs per backend and concurrency: *free* (each booking
//! takes its own slot, so every one commits) and *race* (all workers try
//! the same slot each round; exactly one wins, the others get `Conflict`).
//!
//! Options: --ops N (2000 bookings per run) --conns 1,16 --rounds N (200)

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use chrono::{DateTime, TimeZone, Utc};
use frontdesk::{
    calendar::{
        CalendarError, Details, SharedCalendar, local::LocalCalendar, postgres::PgCalendar,
    },
    postgres::Postgres,
};

struct Args {
    ops: usize,
    conns: Vec<usize>,
    rounds: usize,
}

fn args() -> Args {
    let mut a = Args {
        ops: 2000,
        conns: vec![1, 16],
        rounds: 200,
    };
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < raw.len() {
        let value = raw.get(i + 1).cloned().unwrap_or_default();
        match raw[i].as_str() {
            "--ops" => a.ops = value.parse().expect("--ops needs a number"),
            "--rounds" => a.rounds = value.parse().expect("--rounds needs a number"),
            "--conns" => {
                a.conns = value
                    .split(',')
                    .map(|c| c.parse().expect("--conns needs numbers"))
                    .collect();
            }
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

/// The `n`th half-hour slot from 2100-01-04 00:00 UTC.
fn slot(n: usize) -> (DateTime<Utc>, DateTime<Utc>) {
    let base = Utc.with_ymd_and_hms(2100, 1, 4, 0, 0, 0).unwrap();
    let start = base + chrono::Duration::minutes(30 * n as i64);
    (start, start + chrono::Duration::minutes(30))
}

fn who(n: usize) -> Details {
    Details {
        name: format!("Bench Caller {n}"),
        phone: Some(format!("+1415555{:04}", n % 10_000)),
        email: None,
        reason: Some("benchmark".into()),
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

struct Run {
    ops_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    won: usize,
}

/// `ops` bookings, each on its own slot after `first`, with `conns` workers;
/// one op is the availability read of its day plus the booking.
async fn free(cal: &SharedCalendar, first: usize, ops: usize, conns: usize) -> Run {
    let next = Arc::new(AtomicUsize::new(0));
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(ops)));
    let started = Instant::now();
    let workers: Vec<_> = (0..conns)
        .map(|_| {
            let (cal, next, latencies) =
                (Arc::clone(cal), Arc::clone(&next), Arc::clone(&latencies));
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= ops {
                        break;
                    }
                    let (s, e) = slot(first + i);
                    let t = Instant::now();
                    cal.busy(
                        s - chrono::Duration::hours(12),
                        e + chrono::Duration::hours(12),
                    )
                    .await
                    .expect("busy");
                    cal.book_if_free(s, e, who(i))
                        .await
                        .expect("a free slot books");
                    latencies.lock().unwrap().push(t.elapsed());
                }
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    let elapsed = started.elapsed();
    let mut l = std::mem::take(&mut *latencies.lock().unwrap());
    l.sort();
    Run {
        ops_per_sec: ops as f64 / elapsed.as_secs_f64(),
        p50_ms: percentile(&l, 0.5),
        p99_ms: percentile(&l, 0.99),
        won: ops,
    }
}

/// `rounds` rounds in which `conns` workers all try to book one slot.
async fn race(cal: &SharedCalendar, first: usize, rounds: usize, conns: usize) -> Run {
    let mut latencies = Vec::with_capacity(rounds * conns);
    let mut won = 0;
    let started = Instant::now();
    for r in 0..rounds {
        let (s, e) = slot(first + r);
        let attempts: Vec<_> = (0..conns)
            .map(|c| {
                let cal = Arc::clone(cal);
                tokio::spawn(async move {
                    let t = Instant::now();
                    let result = cal.book_if_free(s, e, who(c)).await;
                    (t.elapsed(), result)
                })
            })
            .collect();
        let mut winners = 0;
        for a in attempts {
            let (took, result) = a.await.unwrap();
            latencies.push(took);
            match result {
                Ok(_) => winners += 1,
                Err(CalendarError::Conflict) => {}
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(winners, 1, "exactly one booking per contested slot");
        won += winners;
    }
    let elapsed = started.elapsed();
    latencies.sort();
    Run {
        ops_per_sec: (rounds * conns) as f64 / elapsed.as_secs_f64(),
        p50_ms: percentile(&latencies, 0.5),
        p99_ms: percentile(&latencies, 0.99),
        won,
    }
}

async fn bench(name: &str, cal: SharedCalendar, a: &Args, rows: &mut Vec<String>) {
    let mut first = 0;
    for &conns in &a.conns {
        let f = free(&cal, first, a.ops, conns).await;
        first += a.ops;
        rows.push(format!(
            "| {name} | free | {conns} | {:.0} | {:.2} | {:.2} | {} |",
            f.ops_per_sec, f.p50_ms, f.p99_ms, f.won
        ));
        let r = race(&cal, first, a.rounds, conns).await;
        first += a.rounds;
        rows.push(format!(
            "| {name} | race | {conns} | {:.0} | {:.2} | {:.2} | {} |",
            r.ops_per_sec, r.p50_ms, r.p99_ms, r.won
        ));
    }
}

fn main() {
    let a = args();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    rt.block_on(async {
        let mut rows = vec![
            "| backend | run | workers | ops/s | p50 ms | p99 ms | booked |".to_owned(),
            "|---|---|---|---|---|---|---|".to_owned(),
        ];
        let dir = tempfile::tempdir().expect("a temporary DATA_DIR");
        let sqlite: SharedCalendar =
            Arc::new(LocalCalendar::open(dir.path()).expect("the SQLite calendar"));
        bench("SQLite", sqlite, &a, &mut rows).await;

        match std::env::var("DATABASE_URL") {
            Ok(url) if !url.is_empty() => {
                let db = Postgres::connect(&url).await.expect("DATABASE_URL");
                let clean = || async {
                    let client = db.client().await.expect("a connection");
                    client
                        .execute(
                            "DELETE FROM frontdesk.appointments WHERE start_at >= '2100-01-01'",
                            &[],
                        )
                        .await
                        .expect("clean up");
                };
                // Before (an interrupted run leaves its bookings) and after.
                clean().await;
                bench("PostgreSQL", Arc::new(PgCalendar::new(db.clone())), &a, &mut rows)
                    .await;
                clean().await;
            }
            _ => eprintln!("DATABASE_URL is unset: PostgreSQL not measured"),
        }
        println!(
            "\nBookings ({} per free run, {} contested rounds): one free op = busy() of the day + book_if_free(); \
             one race op = one book_if_free() attempt.\n",
            a.ops, a.rounds
        );
        for r in rows {
            println!("{r}");
        }
    });
}
