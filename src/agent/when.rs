//! Understanding when a caller means: "tomorrow at 2 pm", "next Tuesday at
//! 10", "on the 14th at 3:30", "Friday morning", "half past four".
//!
//! No date-parsing crate handles spoken, transcribed English with a
//! business's conventions (an hour without AM/PM during office hours is
//! 1–7 PM, 8–11 AM), so this is a small parser over words, relative to the
//! caller's "today" in the business's time zone.

use chrono::{Datelike, Duration, NaiveDate, NaiveTime, Weekday};

/// Part of a day the caller named without a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Period {
    /// Before noon.
    Morning,
    /// Noon on.
    Afternoon,
}

impl Period {
    /// Whether `t` falls in this part of the day.
    pub fn contains(self, t: NaiveTime) -> bool {
        let noon = NaiveTime::from_hms_opt(12, 0, 0).expect("noon");
        match self {
            Self::Morning => t < noon,
            Self::Afternoon => t >= noon,
        }
    }
}

/// What a caller said about a date and time; any part may be missing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct When {
    /// The day.
    pub date: Option<NaiveDate>,
    /// The time of day.
    pub time: Option<NaiveTime>,
    /// Morning or afternoon, when no time was given.
    pub period: Option<Period>,
}

impl When {
    /// Whether anything was understood.
    pub fn is_empty(&self) -> bool {
        self.date.is_none() && self.time.is_none() && self.period.is_none()
    }
}

/// Lower-case words, with `p.m.` → `pm`, `2pm` → `2 pm`, `3:30pm` → `3:30 pm`.
fn tokens(text: &str) -> Vec<String> {
    let lower = text
        .to_lowercase()
        .replace("p.m.", " pm ")
        .replace("a.m.", " am ")
        .replace("p. m.", " pm ")
        .replace("a. m.", " am ")
        .replace(['’', '`'], "'")
        .replace("o'clock", " oclock ");
    let cleaned: String = lower
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == ':' || c == '\'' {
                c
            } else {
                ' '
            }
        })
        .collect();
    let mut out = Vec::new();
    for word in cleaned.split_whitespace() {
        let word = word.trim_matches(|c| c == '\'' || c == ':');
        // Split a number glued to am/pm.
        let split = ["am", "pm"].iter().find_map(|suffix| {
            word.strip_suffix(suffix)
                .filter(|head| {
                    !head.is_empty() && head.chars().all(|c| c.is_ascii_digit() || c == ':')
                })
                .map(|head| (head.to_owned(), (*suffix).to_owned()))
        });
        match split {
            Some((head, suffix)) => {
                out.push(head);
                out.push(suffix);
            }
            None if !word.is_empty() => out.push(word.to_owned()),
            None => {}
        }
    }
    // "p m" / "a m" as two tokens.
    let mut merged: Vec<String> = Vec::with_capacity(out.len());
    for w in out {
        if (w == "m") && merged.last().is_some_and(|p| p == "p" || p == "a") {
            let p = merged.pop().expect("checked");
            merged.push(format!("{p}m"));
        } else {
            merged.push(w);
        }
    }
    merged
}

fn word_number(w: &str) -> Option<u32> {
    Some(match w {
        "one" => 1,
        "two" => 2,
        "three" => 3,
        "four" => 4,
        "five" => 5,
        "six" => 6,
        "seven" => 7,
        "eight" => 8,
        "nine" => 9,
        "ten" => 10,
        "eleven" => 11,
        "twelve" => 12,
        "fifteen" => 15,
        "thirty" => 30,
        "forty" => 40,
        "fourty" => 40,
        "forty-five" => 45,
        "fifty" => 50,
        _ => return None,
    })
}

fn number(w: &str) -> Option<u32> {
    w.parse::<u32>().ok().or_else(|| word_number(w))
}

fn ordinal_day(w: &str) -> Option<u32> {
    let digits = ["st", "nd", "rd", "th"]
        .iter()
        .find_map(|s| w.strip_suffix(s))
        .filter(|d| !d.is_empty() && d.chars().all(|c| c.is_ascii_digit()))?;
    let n: u32 = digits.parse().ok()?;
    (1..=31).contains(&n).then_some(n)
}

fn ordinal_word(w: &str) -> Option<u32> {
    Some(match w {
        "first" => 1,
        "second" => 2,
        "third" => 3,
        "fourth" => 4,
        "fifth" => 5,
        "sixth" => 6,
        "seventh" => 7,
        "eighth" => 8,
        "ninth" => 9,
        "tenth" => 10,
        "eleventh" => 11,
        "twelfth" => 12,
        "thirteenth" => 13,
        "fourteenth" => 14,
        "fifteenth" => 15,
        "sixteenth" => 16,
        "seventeenth" => 17,
        "eighteenth" => 18,
        "nineteenth" => 19,
        "twentieth" => 20,
        "thirtieth" => 30,
        _ => return None,
    })
}

fn month(w: &str) -> Option<u32> {
    let months = [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];
    let short = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    months
        .iter()
        .position(|m| *m == w)
        .or_else(|| short.iter().position(|m| *m == w))
        .or_else(|| (w == "sept").then_some(8))
        .map(|i| i as u32 + 1)
}

fn weekday(w: &str) -> Option<Weekday> {
    Some(match w {
        "monday" | "mon" => Weekday::Mon,
        "tuesday" | "tues" | "tue" => Weekday::Tue,
        "wednesday" | "wed" => Weekday::Wed,
        "thursday" | "thurs" | "thu" => Weekday::Thu,
        "friday" | "fri" => Weekday::Fri,
        "saturday" | "sat" => Weekday::Sat,
        "sunday" | "sun" => Weekday::Sun,
        _ => return None,
    })
}

/// The next `day`-of-month on or after `today`.
fn next_day_of_month(today: NaiveDate, day: u32) -> Option<NaiveDate> {
    let mut year = today.year();
    let mut month = today.month();
    for _ in 0..13 {
        if let Some(d) = NaiveDate::from_ymd_opt(year, month, day)
            && d >= today
        {
            return Some(d);
        }
        month += 1;
        if month > 12 {
            month = 1;
            year += 1;
        }
    }
    None
}

/// The date `month`/`day` on or after `today` (this year, else next).
fn next_month_day(today: NaiveDate, month: u32, day: u32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(today.year(), month, day)
        .filter(|d| *d >= today)
        .or_else(|| NaiveDate::from_ymd_opt(today.year() + 1, month, day))
}

fn parse_date(t: &[String], today: NaiveDate) -> Option<NaiveDate> {
    let joined = t.join(" ");
    if joined.contains("day after tomorrow") {
        return Some(today + Duration::days(2));
    }
    for (i, w) in t.iter().enumerate() {
        match w.as_str() {
            "today" | "tonight" => return Some(today),
            "tomorrow" | "tmrw" => return Some(today + Duration::days(1)),
            _ => {}
        }
        if let Some(wd) = weekday(w) {
            let mut d = today + Duration::days(1);
            while d.weekday() != wd {
                d += Duration::days(1);
            }
            // "next week Tuesday" / "Tuesday next week".
            let next_week = t.get(i + 1).is_some_and(|n| n == "next")
                && t.get(i + 2).is_some_and(|n| n == "week");
            if next_week && d - today < Duration::days(7) && d.iso_week() == today.iso_week() {
                d += Duration::days(7);
            }
            return Some(d);
        }
        if let Some(m) = month(w) {
            // "december 3rd", "december 3", "dec the 3rd"
            let mut j = i + 1;
            if t.get(j).is_some_and(|n| n == "the") {
                j += 1;
            }
            if let Some(day) = t.get(j).and_then(|n| {
                ordinal_day(n)
                    .or_else(|| ordinal_word(n))
                    .or_else(|| n.parse().ok())
            }) && (1..=31).contains(&day)
            {
                return next_month_day(today, m, day);
            }
            // "the 3rd of december"
            if i >= 2
                && t[i - 1] == "of"
                && let Some(day) = ordinal_day(&t[i - 2]).or_else(|| ordinal_word(&t[i - 2]))
            {
                return next_month_day(today, m, day);
            }
        }
    }
    // "the 14th", "on the 14th", "14th" (not followed by "of <month>", handled above).
    for (i, w) in t.iter().enumerate() {
        let day = ordinal_day(w).or_else(|| {
            // Spelled ordinals need "the" before them ("the third"), to avoid "first one".
            (i > 0 && t[i - 1] == "the")
                .then(|| ordinal_word(w))
                .flatten()
                .filter(|_| t.get(i + 1).is_none_or(|n| n != "one"))
        });
        if let Some(day) = day {
            return next_day_of_month(today, day);
        }
    }
    if joined.contains("next week") {
        let mut d = today + Duration::days(1);
        while d.weekday() != Weekday::Mon {
            d += Duration::days(1);
        }
        return Some(d);
    }
    None
}

/// Hour words that may start a time without "at" or am/pm.
const TIME_LEAD: &[&str] = &[
    "at", "around", "about", "by", "it", "say", "try", "or", "maybe", "for", "than",
];

fn hour_minute(
    h: u32,
    m: u32,
    meridiem: Option<&str>,
    period: Option<Period>,
) -> Option<NaiveTime> {
    if m > 59 {
        return None;
    }
    let hour = match (h, meridiem) {
        (0..=11, Some("pm")) => h + 12,
        (12, Some("am")) => 0,
        (1..=12, Some(_)) => h,
        (13..=23, None) => h,
        (0, None) => 0,
        (1..=12, None) => match period {
            Some(Period::Morning) => h % 12,
            Some(Period::Afternoon) if h < 12 => h + 12,
            Some(Period::Afternoon) => 12,
            // Office hours: 1-7 means afternoon, 8-11 morning, 12 noon.
            None if (1..=7).contains(&h) => h + 12,
            None => h,
        },
        _ => return None,
    };
    NaiveTime::from_hms_opt(hour, m, 0)
}

fn parse_period(t: &[String]) -> Option<Period> {
    if t.iter().any(|w| w == "morning") {
        Some(Period::Morning)
    } else if t
        .iter()
        .any(|w| w == "afternoon" || w == "evening" || w == "tonight")
    {
        Some(Period::Afternoon)
    } else {
        None
    }
}

fn parse_time(t: &[String], period: Option<Period>) -> Option<NaiveTime> {
    if t.iter().any(|w| w == "noon" || w == "midday") {
        return NaiveTime::from_hms_opt(12, 0, 0);
    }
    let meridiem_at = |i: usize| -> Option<&str> {
        t.get(i)
            .map(String::as_str)
            .filter(|w| *w == "am" || *w == "pm")
    };
    for (i, w) in t.iter().enumerate() {
        // half past four / quarter past three / quarter to five
        if (w == "half" || w == "quarter")
            && t.get(i + 1)
                .is_some_and(|n| n == "past" || n == "to" || n == "after")
            && let Some(h) = t
                .get(i + 2)
                .and_then(|n| number(n))
                .filter(|h| (1..=12).contains(h))
        {
            let mer = meridiem_at(i + 3);
            let (h, m) = match (w.as_str(), t[i + 1].as_str()) {
                ("half", _) => (h, 30),
                ("quarter", "to") => (if h == 1 { 12 } else { h - 1 }, 45),
                _ => (h, 15),
            };
            return hour_minute(h, m, mer, period);
        }
        // 3:30, 15:00
        if let Some((h, m)) = w.split_once(':')
            && let (Ok(h), Ok(m)) = (h.parse::<u32>(), m.parse::<u32>())
        {
            return hour_minute(h, m, meridiem_at(i + 1), period);
        }
        let Some(h) = number(w).filter(|h| (0..=23).contains(h)) else {
            continue;
        };
        if word_number(w).is_some_and(|n| n > 12) {
            continue;
        }
        // "2 30 pm", "two thirty", "ten fifteen", "four forty five"
        let minutes = t.get(i + 1).and_then(|n| {
            let m = number(n)?;
            if n.len() == 2 && n.chars().all(|c| c.is_ascii_digit()) && m < 60 {
                return Some((m, 1));
            }
            match m {
                15 | 30 | 45 => Some((m, 1)),
                40 | 50 => {
                    let extra = t
                        .get(i + 2)
                        .and_then(|x| word_number(x))
                        .filter(|x| *x < 10);
                    Some((m + extra.unwrap_or(0), if extra.is_some() { 2 } else { 1 }))
                }
                _ => None,
            }
        });
        let (m, used) = minutes.unwrap_or((0, 0));
        let mer = meridiem_at(i + 1 + used);
        let oclock = t.get(i + 1 + used).is_some_and(|n| n == "oclock");
        let counts_something = t.get(i + 1 + used).is_some_and(|n| {
            [
                "people", "persons", "person", "minutes", "minute", "hours", "hour", "days",
                "weeks", "of", "kids", "children",
            ]
            .contains(&n.as_str())
        });
        if counts_something {
            continue;
        }
        let led = i > 0 && TIME_LEAD.contains(&t[i - 1].as_str());
        let alone = t.len() <= 2 && h <= 12;
        // A bare number only counts as a time with a cue, so "2 people" or
        // "the 14th" are not read as times.
        if mer.is_some() || oclock || used > 0 || led || alone {
            return hour_minute(h, m, mer, period);
        }
    }
    None
}

/// Parses what the caller said, relative to `today`.
pub fn parse(text: &str, today: NaiveDate) -> When {
    let t = tokens(text);
    let period = parse_period(&t);
    let time = parse_time(&t, period);
    When {
        date: parse_date(&t, today),
        time,
        period: if time.is_some() { None } else { period },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Sunday 2026-11-22.
    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 22).unwrap()
    }

    fn d(m: u32, day: u32) -> Option<NaiveDate> {
        NaiveDate::from_ymd_opt(if m >= 11 { 2026 } else { 2027 }, m, day)
    }

    fn t(h: u32, m: u32) -> Option<NaiveTime> {
        NaiveTime::from_hms_opt(h, m, 0)
    }

    #[test]
    fn everyday_phrasings() {
        let cases: &[(&str, Option<NaiveDate>, Option<NaiveTime>)] = &[
            ("tomorrow at 2 pm", d(11, 23), t(14, 0)),
            ("Tomorrow at 2 p.m.", d(11, 23), t(14, 0)),
            ("tomorrow at 2pm please", d(11, 23), t(14, 0)),
            ("next Tuesday at 10", d(11, 24), t(10, 0)),
            ("on the 14th at 3:30", d(12, 14), t(15, 30)),
            ("on the 30th at 9:15 am", d(11, 30), t(9, 15)),
            ("half past four", None, t(16, 30)),
            ("quarter past three on Wednesday", d(11, 25), t(15, 15)),
            ("quarter to five", None, t(16, 45)),
            ("December 3rd at 2", d(12, 3), t(14, 0)),
            ("the 3rd of December at 11", d(12, 3), t(11, 0)),
            ("can I come in on Friday at noon", d(11, 27), t(12, 0)),
            ("Monday at 10 o'clock", d(11, 23), t(10, 0)),
            ("two thirty", None, t(14, 30)),
            ("at ten fifteen tomorrow", d(11, 23), t(10, 15)),
            ("3 30 p m on Thursday", d(11, 26), t(15, 30)),
            ("the day after tomorrow at 9", d(11, 24), t(9, 0)),
            ("January 5th at 4", d(1, 5), t(16, 0)),
            ("today at 4:45", d(11, 22), t(16, 45)),
            ("no, make it 3", None, t(15, 0)),
            ("how about 11", None, t(11, 0)),
            ("3", None, t(15, 0)),
            ("at 8 in the morning on Monday", d(11, 23), t(8, 0)),
            ("Tuesday afternoon at 2", d(11, 24), t(14, 0)),
            ("I'd like an appointment for 2 people", None, None),
            ("my name is Ada Lovelace", None, None),
        ];
        for (text, date, time) in cases {
            let w = parse(text, today());
            assert_eq!((w.date, w.time), (*date, *time), "{text}");
        }
    }

    #[test]
    fn parts_of_the_day_without_a_time() {
        let w = parse("Friday morning", today());
        assert_eq!(w.date, d(11, 27));
        assert_eq!(w.time, None);
        assert_eq!(w.period, Some(Period::Morning));
        let w = parse("sometime Thursday afternoon", today());
        assert_eq!((w.date, w.period), (d(11, 26), Some(Period::Afternoon)));
        assert!(parse("hello there", today()).is_empty());
    }

    #[test]
    fn ordinals_roll_into_next_month_when_past() {
        assert_eq!(parse("the 5th", today()).date, d(12, 5));
        assert_eq!(parse("the 25th", today()).date, d(11, 25));
        assert_eq!(parse("on the twenty", today()).date, None);
        assert_eq!(parse("the third", today()).date, d(12, 3));
        assert_eq!(parse("the first one", today()).date, None);
    }
}
