//! Turning times and dates into words a caller hears naturally.

use chrono::{Datelike, NaiveDate, NaiveTime, Timelike};

/// `1st`, `2nd`, `3rd`, `4th`, `11th`, `22nd`, …
pub fn ordinal(n: u32) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// `9 AM`, `2:30 PM`, `12 PM` (noon).
pub fn time(t: NaiveTime) -> String {
    let (pm, hour12) = t.hour12();
    let period = if pm { "PM" } else { "AM" };
    if t.minute() == 0 {
        format!("{hour12} {period}")
    } else {
        format!("{hour12}:{:02} {period}", t.minute())
    }
}

/// `Tuesday, December 3rd`.
pub fn date(d: NaiveDate) -> String {
    format!(
        "{}, {} {}",
        d.format("%A"),
        d.format("%B"),
        ordinal(d.day())
    )
}

/// `Tuesday, December 3rd at 2:30 PM`.
pub fn date_time(d: NaiveDate, t: NaiveTime) -> String {
    format!("{} at {}", date(d), time(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinals() {
        let got: Vec<String> = [1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 31]
            .map(ordinal)
            .to_vec();
        assert_eq!(
            got,
            [
                "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "23rd", "31st"
            ]
        );
    }

    #[test]
    fn times_and_dates_read_naturally() {
        let t = |h, m| NaiveTime::from_hms_opt(h, m, 0).unwrap();
        assert_eq!(time(t(9, 0)), "9 AM");
        assert_eq!(time(t(14, 30)), "2:30 PM");
        assert_eq!(time(t(12, 0)), "12 PM");
        assert_eq!(time(t(0, 5)), "12:05 AM");
        let d = NaiveDate::from_ymd_opt(2024, 12, 3).unwrap();
        assert_eq!(date_time(d, t(14, 30)), "Tuesday, December 3rd at 2:30 PM");
    }
}
