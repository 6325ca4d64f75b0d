//! One contract for every built-in `Calendar` backend: SQLite under
//! `DATA_DIR` and PostgreSQL (`DATABASE_URL`) must answer the same way —
//! bookings, overlaps refused as `Conflict`, moves, cancellations that free
//! the time, listings in order, and exactly one winner when many race for
//! one slot, also across two instances (two connection pools).

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use frontdesk::{
    calendar::{
        CalendarError, Details, SharedCalendar, local::LocalCalendar, postgres::PgCalendar,
    },
    postgres::Postgres,
};

use crate::postgres::database;

/// Monday 2030-01-07 at `h`:`m` UTC.
fn at(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 1, 7, h, m, 0).unwrap()
}

fn who(name: &str) -> Details {
    Details {
        name: name.into(),
        phone: Some("+14155550100".into()),
        email: Some(format!("{}@example.com", name.to_lowercase())),
        reason: Some("cleaning".into()),
    }
}

/// The contract, run against `cal`; `other` is a second handle on the same
/// store (another instance), for the race.
async fn contract(cal: SharedCalendar, other: SharedCalendar) {
    // A booking reads back exactly.
    let ada = cal
        .book_if_free(at(9, 0), at(10, 0), who("Ada"))
        .await
        .unwrap();
    assert_eq!((ada.start, ada.end), (at(9, 0), at(10, 0)));
    assert_eq!(ada.name, "Ada");
    assert_eq!(ada.email.as_deref(), Some("ada@example.com"));
    assert_eq!(cal.get(&ada.id).await.unwrap(), Some(ada.clone()));
    assert_eq!(other.get(&ada.id).await.unwrap(), Some(ada.clone()));
    assert_eq!(cal.get("apt-unknown").await.unwrap(), None);

    // Overlaps are refused, in every shape; touching ends are not overlaps.
    for (s, e) in [
        (at(9, 0), at(10, 0)),
        (at(9, 30), at(10, 30)),
        (at(8, 30), at(9, 15)),
        (at(9, 15), at(9, 45)),
        (at(8, 0), at(11, 0)),
    ] {
        let r = other.book_if_free(s, e, who("Bob")).await;
        assert!(matches!(r, Err(CalendarError::Conflict)), "{s}-{e}: {r:?}");
    }
    let bob = other
        .book_if_free(at(10, 0), at(10, 30), who("Bob"))
        .await
        .unwrap();
    let cy = cal
        .book_if_free(at(8, 30), at(9, 0), who("Cy"))
        .await
        .unwrap();

    // Busy intervals and listings: overlapping the window, earliest first.
    let busy = cal.busy(at(8, 45), at(10, 15)).await.unwrap();
    let spans: Vec<_> = busy.iter().map(|b| (b.start, b.end)).collect();
    assert_eq!(
        spans,
        [
            (at(8, 30), at(9, 0)),
            (at(9, 0), at(10, 0)),
            (at(10, 0), at(10, 30))
        ]
    );
    let listed = other.list(at(8, 45), at(12, 0)).await.unwrap();
    let names: Vec<&str> = listed.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["Ada", "Bob"], "listed by start within the window");

    // Moves: not onto someone else, but over its own old time.
    let clash = cal.move_if_free(&ada.id, at(10, 0), at(11, 0)).await;
    assert!(matches!(clash, Err(CalendarError::Conflict)), "{clash:?}");
    let moved = cal
        .move_if_free(&ada.id, at(9, 0), at(9, 45))
        .await
        .unwrap();
    assert_eq!(
        (moved.start, moved.end, moved.name.as_str()),
        (at(9, 0), at(9, 45), "Ada")
    );
    let moved = other
        .move_if_free(&ada.id, at(11, 0), at(12, 0))
        .await
        .unwrap();
    assert_eq!(moved.start, at(11, 0));
    assert!(matches!(
        cal.move_if_free("apt-unknown", at(13, 0), at(14, 0)).await,
        Err(CalendarError::NotFound)
    ));

    // Cancelling frees the time; a cancelled one is gone and cannot be
    // cancelled or moved again.
    let gone = cal.cancel(&bob.id).await.unwrap();
    assert_eq!(gone.name, "Bob");
    assert_eq!(other.get(&bob.id).await.unwrap(), None);
    assert!(matches!(
        other.cancel(&bob.id).await,
        Err(CalendarError::NotFound)
    ));
    assert!(matches!(
        cal.move_if_free(&bob.id, at(15, 0), at(16, 0)).await,
        Err(CalendarError::NotFound)
    ));
    other
        .book_if_free(at(10, 0), at(10, 30), who("Dee"))
        .await
        .unwrap();
    cal.cancel(&cy.id).await.unwrap();

    // Ten callers on each of two instances race for one slot, ten times
    // over: each time exactly one wins, and every other one is told the
    // time is taken (never an error, never a wait for a deadlock).
    for round in 0..10u32 {
        let (s, e) = (
            at(12, 0) + chrono::Duration::days(i64::from(round)),
            at(13, 0) + chrono::Duration::days(i64::from(round)),
        );
        let tasks: Vec<_> = (0..20)
            .map(|i| {
                let cal = if i % 2 == 0 {
                    Arc::clone(&cal)
                } else {
                    Arc::clone(&other)
                };
                tokio::spawn(
                    async move { cal.book_if_free(s, e, who(&format!("Caller{i}"))).await },
                )
            })
            .collect();
        let mut won = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(_) => won += 1,
                Err(CalendarError::Conflict) => {}
                Err(e) => panic!("round {round}: {e}"),
            }
        }
        assert_eq!(won, 1, "round {round}");
    }
    let day = cal.list(at(0, 0), at(23, 0)).await.unwrap();
    let names: Vec<&str> = day.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names.len(), 3, "{names:?}");
    assert_eq!(&names[..2], ["Dee", "Ada"]);
    assert!(names[2].starts_with("Caller"));
    let won = cal
        .list(at(0, 0), at(0, 0) + chrono::Duration::days(10))
        .await
        .unwrap();
    assert_eq!(won.len(), 12, "Dee, Ada and one caller a day");
}

#[tokio::test]
async fn the_sqlite_calendar_keeps_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let a: SharedCalendar = Arc::new(LocalCalendar::open(dir.path()).unwrap());
    let b: SharedCalendar = Arc::new(LocalCalendar::open(dir.path()).unwrap());
    contract(a, b).await;
}

#[tokio::test]
async fn the_postgres_calendar_keeps_the_contract_across_two_pools() {
    let Some(url) = database().await else { return };
    let a: SharedCalendar = Arc::new(PgCalendar::new(Postgres::connect(&url).await.unwrap()));
    let b: SharedCalendar = Arc::new(PgCalendar::new(Postgres::connect(&url).await.unwrap()));
    contract(a, b).await;
}
