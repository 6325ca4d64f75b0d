//! How the built-in agent says lists of times and appointments.

use chrono::{NaiveDate, NaiveDateTime};

use crate::agent::speech;

/// `Tuesday, December 3rd at 2:30 PM`.
pub fn spoken(t: NaiveDateTime) -> String {
    speech::date_time(t.date(), t.time())
}

/// "a, b or c" (`joiner`: "or" or "and").
pub fn join(words: &[String], joiner: &str) -> String {
    match words {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} {joiner} {last}", init.join(", ")),
    }
}

/// "9 AM, 9:30 AM or 10 AM", each with its day when `with_day`.
pub fn list_times(times: &[NaiveDateTime], with_day: bool, joiner: &str) -> String {
    let words: Vec<String> = times
        .iter()
        .map(|t| {
            if with_day {
                spoken(*t)
            } else {
                speech::time(t.time())
            }
        })
        .collect();
    join(&words, joiner)
}

/// Alternatives: just the times when they are all on `day`, the day once
/// when they share another one, else each with its day.
pub fn list_alternatives(times: &[NaiveDateTime], day: Option<NaiveDate>) -> String {
    let Some(first) = times.first() else {
        return String::new();
    };
    if !times.iter().all(|t| t.date() == first.date()) {
        return list_times(times, true, "or");
    }
    if day == Some(first.date()) {
        list_times(times, false, "or")
    } else {
        format!(
            "{} at {}",
            speech::date(first.date()),
            list_times(times, false, "or")
        )
    }
}

/// Up to `n` times spread over `times` (first, middle, last).
pub fn spread(times: &[NaiveDateTime], n: usize) -> Vec<NaiveDateTime> {
    if times.len() <= n {
        return times.to_vec();
    }
    (0..n)
        .map(|i| times[i * (times.len() - 1) / (n - 1)])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_read_naturally() {
        let at = |d: u32, h: u32| {
            NaiveDate::from_ymd_opt(2026, 12, d)
                .unwrap()
                .and_hms_opt(h, 0, 0)
                .unwrap()
        };
        let same = [at(1, 9), at(1, 10), at(1, 11)];
        assert_eq!(
            list_alternatives(&same, Some(same[0].date())),
            "9 AM, 10 AM or 11 AM"
        );
        assert_eq!(
            list_alternatives(&same, None),
            "Tuesday, December 1st at 9 AM, 10 AM or 11 AM"
        );
        assert_eq!(
            list_alternatives(&[at(1, 9), at(2, 9)], None),
            "Tuesday, December 1st at 9 AM or Wednesday, December 2nd at 9 AM"
        );
        let many: Vec<NaiveDateTime> = (9..17).map(|h| at(1, h)).collect();
        assert_eq!(spread(&many, 3), vec![at(1, 9), at(1, 12), at(1, 16)]);
    }
}
