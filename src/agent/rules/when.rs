//! Understanding when a caller means: "tomorrow at 2 pm", "next Tuesday at
//! 10", "Tuesday the 8th", "the 3rd of February", "in two days", "a week
//! from Monday", "Friday morning", "first thing", "after lunch", "half past
//! four".
//!
//! No date-parsing crate handles spoken, transcribed English with a
//! business's conventions (an hour without AM/PM during office hours is
//! 1–7 PM, 8–11 AM), so this is a small parser over the words of
//! [`super::words::normalize`], relative to the caller's "today" in the
//! business's time zone. When a caller says two days or times ("make it 11,
//! sorry, 11:30"), the last one counts. A day that could mean two dates
//! ("next Friday" on a Monday) is not guessed: both are returned in
//! [`When::choices`] for the receptionist to ask about; a weekday that does
//! not match the date said ("Tuesday the 9th" when the 9th is a Wednesday)
//! sets [`When::unclear_day`].

use chrono::{Datelike, Duration, NaiveDate, NaiveTime, Weekday};

use super::words::{self, number, ordinal_value};

/// A part of the day the caller named instead of a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Period {
    /// Before noon.
    Morning,
    /// Noon on.
    Afternoon,
    /// Late in the day ("evening", "tonight").
    Evening,
    /// "first thing": the earliest time.
    FirstThing,
    /// "end of the day", "last thing": the latest time.
    EndOfDay,
    /// "lunchtime", "around lunch".
    Lunch,
    /// "after lunch".
    AfterLunch,
    /// "late morning".
    LateMorning,
    /// "early afternoon".
    EarlyAfternoon,
    /// "late afternoon".
    LateAfternoon,
    /// "after 3", "any time after 2".
    After(NaiveTime),
    /// "before 11".
    Before(NaiveTime),
}

fn hm(h: u32, m: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, m, 0).unwrap_or(NaiveTime::MIN)
}

impl Period {
    /// Whether `t` falls in this part of the day.
    pub fn contains(self, t: NaiveTime) -> bool {
        let (from, to) = match self {
            Self::Morning => (hm(0, 0), hm(12, 0)),
            Self::Afternoon => (hm(12, 0), hm(23, 59)),
            Self::Evening => (hm(15, 0), hm(23, 59)),
            Self::FirstThing | Self::EndOfDay => (hm(0, 0), hm(23, 59)),
            Self::Lunch => (hm(11, 30), hm(13, 30)),
            Self::AfterLunch => (hm(13, 0), hm(23, 59)),
            Self::LateMorning => (hm(10, 0), hm(12, 0)),
            Self::EarlyAfternoon => (hm(12, 0), hm(15, 0)),
            Self::LateAfternoon => (hm(15, 0), hm(23, 59)),
            Self::After(t0) => (t0, hm(23, 59)),
            Self::Before(t1) => (hm(0, 0), t1),
        };
        t >= from && (t < to || to == hm(23, 59))
    }

    /// The one time this part of the day means, among free `times` (sorted):
    /// the earliest for "first thing", the latest for "end of the day".
    pub fn exact<T: Copy>(self, times: &[T]) -> Option<T> {
        match self {
            Self::FirstThing => times.first().copied(),
            Self::EndOfDay => times.last().copied(),
            _ => None,
        }
    }

    /// The latest times suit it better than the earliest.
    pub fn prefers_late(self) -> bool {
        matches!(self, Self::Evening | Self::EndOfDay | Self::LateAfternoon)
    }

    /// " in the morning", " after 3 PM".
    pub fn words(self) -> String {
        match self {
            Self::Morning => " in the morning".into(),
            Self::Afternoon => " in the afternoon".into(),
            Self::Evening => " later in the day".into(),
            Self::FirstThing => " first thing".into(),
            Self::EndOfDay => " at the end of the day".into(),
            Self::Lunch => " around lunchtime".into(),
            Self::AfterLunch => " after lunch".into(),
            Self::LateMorning => " late in the morning".into(),
            Self::EarlyAfternoon => " early in the afternoon".into(),
            Self::LateAfternoon => " late in the afternoon".into(),
            Self::After(t) => format!(" after {}", crate::agent::speech::time(t)),
            Self::Before(t) => format!(" before {}", crate::agent::speech::time(t)),
        }
    }
}

/// What a caller said about a date and time; any part may be missing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct When {
    /// The day.
    pub date: Option<NaiveDate>,
    /// The time of day.
    pub time: Option<NaiveTime>,
    /// A part of the day, when no time was given.
    pub period: Option<Period>,
    /// The day could be either of these ("next Friday"): ask.
    pub choices: Vec<NaiveDate>,
    /// Day words that do not make one date ("Tuesday the 9th" when the
    /// 9th is a Wednesday, "February 30th"): ask, never guess.
    pub unclear_day: bool,
    /// A bare weekday was said, without "this" or "next" (so "the Monday
    /// one" can match a Monday, and "Wednesday" while talking about next
    /// week means next week's).
    pub weekday: Option<Weekday>,
    /// An hour without AM or PM was read by office hours.
    pub guessed_meridiem: bool,
}

impl When {
    /// Whether anything was understood.
    pub fn is_empty(&self) -> bool {
        self.date.is_none()
            && self.time.is_none()
            && self.period.is_none()
            && self.choices.is_empty()
            && !self.unclear_day
    }

    /// Whether a day (or a question about one) was said.
    pub fn has_day(&self) -> bool {
        self.date.is_some() || !self.choices.is_empty() || self.unclear_day
    }
}

/// `january` → 1.
pub fn month(w: &str) -> Option<u32> {
    Some(match w {
        "january" | "jan" => 1,
        "february" | "feb" => 2,
        "march" => 3,
        "april" | "apr" => 4,
        "may" => 5,
        "june" => 6,
        "july" => 7,
        "august" | "aug" => 8,
        "september" | "sept" | "sep" => 9,
        "october" | "oct" => 10,
        "november" | "nov" => 11,
        "december" | "dec" => 12,
        _ => return None,
    })
}

/// `monday` → Monday.
pub fn weekday(w: &str) -> Option<Weekday> {
    Some(match w {
        "monday" | "mondays" => Weekday::Mon,
        "tuesday" | "tuesdays" | "tues" => Weekday::Tue,
        "wednesday" | "wednesdays" => Weekday::Wed,
        "thursday" | "thursdays" | "thurs" => Weekday::Thu,
        "friday" | "fridays" => Weekday::Fri,
        "saturday" | "saturdays" => Weekday::Sat,
        "sunday" | "sundays" => Weekday::Sun,
        _ => return None,
    })
}

/// The first `wd` on or after `from`.
fn on_or_after(from: NaiveDate, wd: Weekday) -> NaiveDate {
    let ahead = (7 + wd.num_days_from_monday() - from.weekday().num_days_from_monday()) % 7;
    from + Duration::days(i64::from(ahead))
}

/// Monday of the week after `today`'s.
fn next_monday(today: NaiveDate) -> NaiveDate {
    on_or_after(today + Duration::days(1), Weekday::Mon)
}

/// The next `day`-of-month on or after `today`.
fn next_day_of_month(today: NaiveDate, day: u32) -> Option<NaiveDate> {
    let (mut year, mut month) = (today.year(), today.month());
    for _ in 0..13 {
        if let Some(d) = NaiveDate::from_ymd_opt(year, month, day)
            && d >= today
        {
            return Some(d);
        }
        (year, month) = if month == 12 {
            (year + 1, 1)
        } else {
            (year, month + 1)
        };
    }
    None
}

/// `month`/`day` on or after `today` (this year, else next); a date only
/// weeks past stays this year's (the caller is told it has passed rather
/// than booked a year ahead).
fn next_month_day(today: NaiveDate, month: u32, day: u32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(today.year(), month, day)
        .filter(|d| *d >= today - Duration::days(60))
        .or_else(|| NaiveDate::from_ymd_opt(today.year() + 1, month, day))
}

/// The `day` of the month after `today`'s.
fn next_month(today: NaiveDate, day: u32) -> Option<NaiveDate> {
    let (y, m) = if today.month() == 12 {
        (today.year() + 1, 1)
    } else {
        (today.year(), today.month() + 1)
    };
    NaiveDate::from_ymd_opt(y, m, day)
}

/// One day mention.
#[derive(Debug, Clone, PartialEq)]
enum Day {
    Date(NaiveDate),
    /// A weekday (or "this/next <weekday>"), with its date(s); `true`:
    /// said bare, without "this" or "next".
    Weekday(Weekday, Vec<NaiveDate>, bool),
    /// A day of the month without a month ("the 8th").
    OfMonth(NaiveDate),
    Unclear,
}

/// Whether the word at `i` is a day of the month ("the 14th", "on the
/// third", "14th of"), not "the first one" or "first thing".
fn day_of_month_at(t: &[&str], i: usize) -> Option<u32> {
    let n = ordinal_value(t[i]).filter(|n| (1..=31).contains(n))?;
    let prev = i.checked_sub(1).map(|j| t[j]);
    let next = t.get(i + 1).copied();
    if matches!(
        next,
        Some("one" | "ones" | "thing" | "option" | "time" | "choice" | "appointment" | "slot")
    ) {
        return None;
    }
    let cued = matches!(prev, Some("the" | "on" | "for" | "by"))
        || prev.and_then(weekday).is_some()
        || matches!(next, Some("of" | "at"))
        || (n > 3 && next.is_none_or(|w| !words::is_unit(w)));
    cued.then_some(n)
}

/// How many days `a`/`N` `days`/`weeks` at `t[i..]` make, and the words used.
fn span_at(t: &[&str], i: usize) -> Option<(i64, usize)> {
    let n = match t.get(i).copied()? {
        "a" | "one" => 1,
        w => i64::from(number(w).filter(|n| (1..=60).contains(n))?),
    };
    match t.get(i + 1).copied()? {
        "day" | "days" => Some((n, 2)),
        "week" | "weeks" => Some((n * 7, 2)),
        _ => None,
    }
}

/// The day `t[i]` names on its own (today, tomorrow, a weekday), for "a
/// week from <it>".
fn base_day(t: &[&str], i: usize, today: NaiveDate) -> Option<NaiveDate> {
    match t.get(i).copied()? {
        "today" | "now" => Some(today),
        "tomorrow" => Some(today + Duration::days(1)),
        w => weekday(w).map(|wd| on_or_after(today + Duration::days(1), wd)),
    }
}

fn parse_days(t: &[&str], today: NaiveDate) -> Vec<(usize, Day)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < t.len() {
        let w = t[i];
        let prev = i.checked_sub(1).map(|j| t[j]);
        let next = t.get(i + 1).copied();
        // "in 2 days", "in a week", "2 weeks from now", "a week from monday".
        if w == "in"
            && let Some((days, used)) = span_at(t, i + 1)
            && !matches!(t.get(i + 1 + used).copied(), Some("from" | "after"))
        {
            out.push((i, Day::Date(today + Duration::days(days))));
            i += 1 + used;
            continue;
        }
        if let Some((days, used)) = span_at(t, i)
            && matches!(t.get(i + used).copied(), Some("from" | "after"))
        {
            let base = base_day(t, i + used + 1, today);
            if let Some(base) = base {
                out.push((i, Day::Date(base + Duration::days(days))));
                i += used + 2;
                continue;
            }
        }
        if let Some((days, used)) = span_at(t, i)
            && t.get(i + used).is_some_and(|n| *n == "today")
        {
            out.push((i, Day::Date(today + Duration::days(days))));
            i += used + 1;
            continue;
        }
        match w {
            "today" | "tonight" => {
                out.push((i, Day::Date(today)));
                i += 1;
                continue;
            }
            "this"
                if matches!(next, Some("morning" | "afternoon" | "evening"))
                    && !matches!(t.get(i + 2).copied(), Some("on" | "at")) =>
            {
                out.push((i, Day::Date(today)));
                i += 2;
                continue;
            }
            "tomorrow" | "tmrw" | "tomorrow's" => {
                let after = prev == Some("after") && i >= 2 && t[i - 2] == "day";
                let d = if after { 2 } else { 1 };
                out.push((i, Day::Date(today + Duration::days(d))));
                i += 1;
                continue;
            }
            "week" if prev == Some("next") && next.and_then(weekday).is_none() => {
                // "next week" alone: the first day of next week; "end of next week": Friday.
                let end = i >= 3 && t[i - 2] == "of" && t[i - 3] == "end";
                let monday = next_monday(today);
                let d = if end {
                    monday + Duration::days(4)
                } else {
                    monday
                };
                let followed_by_day = t[i + 1..].iter().take(2).any(|w| weekday(w).is_some());
                if !followed_by_day {
                    out.push((i, Day::Date(d)));
                }
                i += 1;
                continue;
            }
            "week" if prev == Some("the") && i >= 3 && t[i - 2] == "of" && t[i - 3] == "end" => {
                out.push((i, Day::Date(on_or_after(today, Weekday::Fri))));
                i += 1;
                continue;
            }
            _ => {}
        }
        if let Some(wd) = weekday(w) {
            let coming = on_or_after(today + Duration::days(1), wd);
            let this_week_later = coming.iso_week() == today.iso_week();
            let back = |k: usize| i.checked_sub(k).map(|j| t[j]);
            let next_week = (prev == Some("week") && back(2) == Some("next"))
                || (matches!(prev, Some("on" | "the"))
                    && back(2) == Some("week")
                    && back(3) == Some("next"))
                || (next == Some("next") && t.get(i + 2) == Some(&"week"))
                || (next == Some("after") && t.get(i + 2) == Some(&"next"));
            let dates = if next_week {
                let d = if next == Some("after") {
                    coming + Duration::days(7)
                } else {
                    on_or_after(next_monday(today), wd)
                };
                vec![d]
            } else if prev == Some("this") {
                vec![on_or_after(today, wd)]
            } else if prev == Some("next") && this_week_later {
                vec![coming, coming + Duration::days(7)]
            } else {
                vec![coming]
            };
            let bare = !next_week && !matches!(prev, Some("this" | "next"));
            out.push((i, Day::Weekday(wd, dates, bare)));
            i += if next_week && next == Some("next") {
                3
            } else {
                1
            };
            continue;
        }
        if let Some(m) = month(w) {
            // "december 3rd", "december 3", "dec the 3rd", "may the 4th"
            let mut j = i + 1;
            if t.get(j) == Some(&"the") {
                j += 1;
            }
            let day = t.get(j).and_then(|n| {
                ordinal_value(n).or_else(|| {
                    number(n).filter(|_| {
                        // "december 3 at 2" yes; "may 2 people" no.
                        !t.get(j + 1).is_some_and(|x| words::is_unit(x))
                    })
                })
            });
            if w == "may" && day.is_none() {
                i += 1;
                continue;
            }
            if let Some(day) = day.filter(|d| (1..=31).contains(d)) {
                let d = next_month_day(today, m, day);
                out.push((i, d.map_or(Day::Unclear, Day::OfMonth)));
                i = j + 1;
                continue;
            }
            // "the 3rd of december"
            if i >= 2
                && t[i - 1] == "of"
                && let Some(day) = ordinal_value(t[i - 2])
            {
                out.retain(|(p, _)| *p != i - 2);
                let d = next_month_day(today, m, day);
                out.push((i - 2, d.map_or(Day::Unclear, Day::OfMonth)));
            }
            i += 1;
            continue;
        }
        // "the first Tuesday in January", "the 2nd Monday of next month"
        if let Some(n) = ordinal_value(w).filter(|n| (1..=5).contains(n))
            && let Some(wd) = next.and_then(weekday)
            && matches!(t.get(i + 2).copied(), Some("in" | "of"))
        {
            let (first, used) = match (t.get(i + 3).copied(), t.get(i + 4).copied()) {
                (Some("next"), Some("month")) => (next_month(today, 1), 5),
                (Some("this"), Some("month")) => {
                    (NaiveDate::from_ymd_opt(today.year(), today.month(), 1), 5)
                }
                (Some(m), _) => (
                    month(m).and_then(|m| {
                        next_month_day(today, m, 1)
                            .or_else(|| NaiveDate::from_ymd_opt(today.year(), m, 1))
                    }),
                    4,
                ),
                _ => (None, 3),
            };
            if let Some(first) = first {
                // The month of "today" itself counts from its 1st.
                let first = if first > today {
                    first
                } else {
                    NaiveDate::from_ymd_opt(first.year(), first.month(), 1).unwrap_or(first)
                };
                let d = on_or_after(first, wd) + Duration::days(7 * i64::from(n - 1));
                let ok = d.month() == first.month() && d >= today;
                out.push((i, if ok { Day::Date(d) } else { Day::Unclear }));
                i += used;
                continue;
            }
        }
        if let Some(day) = day_of_month_at(t, i) {
            // "the 15th of next month", "the 3rd of this month"
            let of_next = next == Some("of")
                && t.get(i + 2) == Some(&"next")
                && t.get(i + 3) == Some(&"month");
            let of_this = next == Some("of")
                && t.get(i + 2) == Some(&"this")
                && t.get(i + 3) == Some(&"month");
            let d = if of_next {
                next_month(today, day)
            } else if of_this {
                NaiveDate::from_ymd_opt(today.year(), today.month(), day)
            } else {
                next_day_of_month(today, day)
            };
            out.push((i, d.map_or(Day::Unclear, Day::OfMonth)));
            i += if of_next || of_this { 4 } else { 1 };
            continue;
        }
        i += 1;
    }
    out
}

/// The last day said, with a weekday and a date said together checked
/// against each other ("Tuesday the 8th", "Monday, December 7th").
fn pick_day(mentions: &[(usize, Day)], w: &mut When) {
    let Some((pos, last)) = mentions.last() else {
        return;
    };
    let before = mentions.len().checked_sub(2).map(|k| &mentions[k]);
    // Only a date of the calendar is checked against a weekday said with
    // it; "tomorrow, no, Wednesday" is a correction.
    let date_of = |d: &Day| match d {
        Day::OfMonth(d) => Some(*d),
        _ => None,
    };
    match (before, last) {
        // A weekday just before a date: they must agree.
        (Some((p, Day::Weekday(wd, _, _))), d) if pos - p <= 3 && date_of(d).is_some() => {
            let date = date_of(d).expect("checked");
            if date.weekday() == *wd {
                w.date = Some(date);
            } else {
                w.unclear_day = true;
            }
        }
        // A date just before a weekday ("the 8th, a Tuesday").
        (Some((p, d)), Day::Weekday(wd, _, _)) if pos - p <= 3 && date_of(d).is_some() => {
            let date = date_of(d).expect("checked");
            if date.weekday() == *wd {
                w.date = Some(date);
            } else {
                w.unclear_day = true;
            }
        }
        (_, Day::Date(d) | Day::OfMonth(d)) => w.date = Some(*d),
        (_, Day::Weekday(wd, dates, bare)) => {
            if *bare {
                w.weekday = Some(*wd);
            }
            match dates.as_slice() {
                [one] => w.date = Some(*one),
                _ => w.choices.clone_from(dates),
            }
        }
        (_, Day::Unclear) => w.unclear_day = true,
    }
}

/// Words that may come right before an hour said without AM/PM.
const TIME_LEAD: &[&str] = &[
    "at", "around", "about", "by", "it", "say", "try", "or", "maybe", "for", "than", "til", "till",
    "until", "from", "is", "instead", "then", "do", "sorry", "mean", "rather", "be", "make", "no",
    "after", "before", "wait", "meant", "have", "got", "get", "like",
];

/// Words that may come right after an hour said without AM/PM.
const TIME_TAIL: &[&str] = &[
    "works", "work", "is", "would", "instead", "then", "please", "ish", "sounds", "sharp", "if",
    "fine", "ok", "okay", "on", "tomorrow", "today", "in", "this", "next", "one",
];

fn hour_minute(
    h: u32,
    m: u32,
    meridiem: Option<&str>,
    period: Option<Period>,
) -> Option<(NaiveTime, bool)> {
    if m > 59 {
        return None;
    }
    let mut guessed = false;
    let hour = match (h, meridiem) {
        (0..=11, Some("pm")) => h + 12,
        (12, Some("am")) => 0,
        (1..=12, Some(_)) => h,
        (13..=23, _) => h,
        (0, None) => 0,
        (1..=12, None) => match period {
            Some(Period::Morning | Period::FirstThing | Period::LateMorning) => h % 12,
            Some(
                Period::Afternoon
                | Period::Evening
                | Period::AfterLunch
                | Period::EarlyAfternoon
                | Period::LateAfternoon
                | Period::EndOfDay,
            ) if h < 12 => h + 12,
            _ => {
                guessed = true;
                // Office hours: 1-7 means afternoon, 8-11 morning, 12 noon.
                if (1..=7).contains(&h) { h + 12 } else { h }
            }
        },
        _ => return None,
    };
    NaiveTime::from_hms_opt(hour, m, 0).map(|t| (t, guessed))
}

fn parse_period(t: &[&str]) -> Option<Period> {
    let text_has = |p: &[&str]| words::find(t, p).is_some();
    if text_has(&["1st", "thing"])
        || text_has(&["as", "early", "as", "possible"])
        || (text_has(&["earliest"]) && !text_has(&["earliest", "one"]))
    {
        return Some(Period::FirstThing);
    }
    if text_has(&["end", "of", "the", "day"])
        || text_has(&["last", "thing"])
        || text_has(&["end", "of", "day"])
        || text_has(&["close", "of", "business"])
    {
        return Some(Period::EndOfDay);
    }
    if text_has(&["after", "lunch"]) {
        return Some(Period::AfterLunch);
    }
    if text_has(&["before", "lunch"]) {
        return Some(Period::Morning);
    }
    if text_has(&["lunchtime"])
        || text_has(&["lunch", "time"])
        || text_has(&["over", "lunch"])
        || text_has(&["around", "lunch"])
        || text_has(&["at", "lunch"])
    {
        return Some(Period::Lunch);
    }
    if text_has(&["late", "morning"]) {
        return Some(Period::LateMorning);
    }
    if text_has(&["early", "afternoon"]) {
        return Some(Period::EarlyAfternoon);
    }
    if text_has(&["late", "afternoon"]) || text_has(&["later", "in", "the", "afternoon"]) {
        return Some(Period::LateAfternoon);
    }
    let greeting = |part: &str| text_has(&["good", part]);
    if t.iter().any(|w| *w == "morning" || *w == "mornings") && !greeting("morning") {
        return Some(Period::Morning);
    }
    if t.iter().any(|w| *w == "afternoon" || *w == "afternoons") && !greeting("afternoon") {
        return Some(Period::Afternoon);
    }
    if (t
        .iter()
        .any(|w| matches!(*w, "evening" | "evenings" | "tonight"))
        && !greeting("evening"))
        || text_has(&["after", "work"])
    {
        return Some(Period::Evening);
    }
    None
}

/// One time said: where, what, whether AM/PM was guessed.
fn times(t: &[&str], period: Option<Period>) -> Vec<(usize, NaiveTime, bool)> {
    let mut out = Vec::new();
    let meridiem_at =
        |i: usize| -> Option<&str> { t.get(i).copied().filter(|w| *w == "am" || *w == "pm") };
    let mut i = 0;
    while i < t.len() {
        let w = t[i];
        if w == "noon" || w == "midday" {
            out.push((i, hm(12, 0), false));
            i += 1;
            continue;
        }
        // half past four, quarter past three, quarter to five, half four
        if (w == "half" || w == "quarter")
            && let Some((h, used)) = t
                .get(i + 1)
                .filter(|n| matches!(**n, "past" | "to" | "after" | "of" | "til"))
                .and_then(|_| t.get(i + 2).and_then(|n| number(n)).map(|h| (h, 3)))
                .or_else(|| {
                    (w == "half")
                        .then(|| t.get(i + 1).and_then(|n| number(n)).map(|h| (h, 2)))
                        .flatten()
                })
            && (1..=12).contains(&h)
        {
            let rel = if used == 3 { t[i + 1] } else { "past" };
            let (h, m) = match (w, rel) {
                ("half", _) => (h, 30),
                ("quarter", "to" | "of" | "til") => (if h == 1 { 12 } else { h - 1 }, 45),
                _ => (h, 15),
            };
            if let Some((time, g)) = hour_minute(h, m, meridiem_at(i + used), period) {
                out.push((i, time, g));
            }
            i += used;
            continue;
        }
        // 3:30, 15:00
        if let Some((h, m)) = w.split_once(':')
            && let (Some(h), Some(m)) = (number(h), number(m))
        {
            if let Some((time, g)) = hour_minute(h, m, meridiem_at(i + 1), period) {
                out.push((i, time, g));
            }
            i += 1;
            continue;
        }
        let Some(h) = number(w).filter(|h| *h <= 23) else {
            i += 1;
            continue;
        };
        // "2 30 pm", "10 15", "4 45", "9 05"
        let minutes = t.get(i + 1).and_then(|n| {
            let m = number(n)?;
            (n.len() == 2 && m < 60 && !t.get(i + 2).is_some_and(|x| words::is_unit(x)))
                .then_some(m)
        });
        let used = usize::from(minutes.is_some());
        let m = minutes.unwrap_or(0);
        let after = t.get(i + 1 + used).copied();
        let mer = meridiem_at(i + 1 + used);
        if after.is_some_and(words::is_unit) {
            i += 1;
            continue;
        }
        let oclock = after == Some("oclock") || after == Some("ish");
        let prev = i.checked_sub(1).map(|j| t[j]);
        // Not a time: the day after a month ("december 3"), or part of an
        // ordinal phrase.
        if prev.and_then(month).is_some() && mer.is_none() && !oclock {
            i += 1;
            continue;
        }
        if prev == Some("not") {
            i += 1 + used;
            continue;
        }
        let led = prev.is_some_and(|p| TIME_LEAD.contains(&p));
        let tailed = after.is_some_and(|a| TIME_TAIL.contains(&a));
        let alone = t.len() <= 2 && h <= 12;
        if mer.is_some() || oclock || used > 0 || led || tailed || alone {
            if let Some((time, g)) = hour_minute(h, m, mer, period) {
                out.push((i, time, g));
            }
            i += 1 + used;
            continue;
        }
        i += 1;
    }
    out
}

/// "after 3", "before 11", "later than 2": a bound rather than a time
/// (`true`: after).
fn bound(t: &[&str], at: usize) -> Option<bool> {
    let prev = at.checked_sub(1).map(|j| t[j])?;
    let before_prev = at.checked_sub(2).map(|j| t[j]);
    match (before_prev, prev) {
        (_, "after") => Some(true),
        (_, "before") => Some(false),
        (Some("later"), "than") => Some(true),
        (Some("earlier"), "than") => Some(false),
        _ => None,
    }
}

/// Parses the words of [`super::words::normalize`], relative to `today`.
pub fn parse_words(t: &[&str], today: NaiveDate) -> When {
    let mut w = When::default();
    let mentions = parse_days(t, today);
    pick_day(&mentions, &mut w);
    let period = parse_period(t);
    let found = times(t, period);
    match found.last() {
        Some(&(at, time, guessed)) => match bound(t, at) {
            Some(true) => w.period = Some(Period::After(time)),
            Some(false) => w.period = Some(Period::Before(time)),
            None => {
                w.time = Some(time);
                w.guessed_meridiem = guessed;
            }
        },
        None => w.period = period,
    }
    w
}

/// Parses what the caller said, relative to `today`.
pub fn parse(text: &str, today: NaiveDate) -> When {
    let norm = words::normalize(text);
    let t: Vec<&str> = norm.split(' ').filter(|w| !w.is_empty()).collect();
    parse_words(&t, today)
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
            ("November 20th", NaiveDate::from_ymd_opt(2026, 11, 20), None),
            ("today at 4:45", d(11, 22), t(16, 45)),
            ("no, make it 3", None, t(15, 0)),
            ("how about 11", None, t(11, 0)),
            ("3", None, t(15, 0)),
            ("at 8 in the morning on Monday", d(11, 23), t(8, 0)),
            ("Tuesday afternoon at 2", d(11, 24), t(14, 0)),
            ("I'd like an appointment for 2 people", None, None),
            ("my name is Ada Lovelace", None, None),
            // Recognition noise.
            ("tomorrow at two p m", d(11, 23), t(14, 0)),
            ("tomorrow at to pm", d(11, 23), t(14, 0)),
            ("thursday at for thirty", d(11, 26), t(16, 30)),
            ("3 30 in the afternoon on friday", d(11, 27), t(15, 30)),
            ("um tomorrow uh at ten", d(11, 23), t(10, 0)),
            ("nine oh five on monday", d(11, 23), t(9, 5)),
            // Corrections in one breath: the last one counts.
            ("make it 11, sorry, 11:30", None, t(11, 30)),
            ("tomorrow, no wait, Wednesday at 10", d(11, 25), t(10, 0)),
            // Weekday plus date, month names, ordinals.
            ("Tuesday the 8th at 10", d(12, 8), t(10, 0)),
            ("Thursday, the 17th", d(12, 17), None),
            ("January 12th", d(1, 12), None),
            ("the 3rd of February at 9", d(2, 3), t(9, 0)),
            ("on the twenty third at eleven", d(11, 23), t(11, 0)),
            ("Monday, December 7th at 1 PM", d(12, 7), t(13, 0)),
            ("december the fifth", d(12, 5), None),
            ("the 15th of next month", d(12, 15), None),
            // Offsets.
            ("in two days at 2 pm", d(11, 24), t(14, 0)),
            ("in a week", d(11, 29), None),
            ("a week from Monday at 10", d(11, 30), t(10, 0)),
            ("a week from today", d(11, 29), None),
            ("two weeks from tomorrow", d(12, 7), None),
            ("this Friday at 10", d(11, 27), t(10, 0)),
            ("Tuesday next week", d(11, 24), None),
            ("next week on Wednesday", d(11, 25), None),
            ("Friday after next", d(12, 4), None),
            ("the first tuesday in january at 3", d(1, 5), t(15, 0)),
            ("good morning, friday at two thirty", d(11, 27), t(14, 30)),
            (
                "could i come in a week from monday at 11",
                d(11, 30),
                t(11, 0),
            ),
            ("next week on wednesday at 1 pm", d(11, 25), t(13, 0)),
            ("do you have 10", None, t(10, 0)),
            ("the first monday of next month", d(12, 7), None),
            ("wednesday at 2 no wait 3", d(11, 25), t(15, 0)),
            ("oh sorry 3 not 2", None, t(15, 0)),
            (
                "i need a appointment for to thirty on wednesday",
                d(11, 25),
                t(14, 30),
            ),
            ("twelve noon tomorrow", d(11, 23), t(12, 0)),
            ("jan 5 at 10 am for priya patel please", d(1, 5), t(10, 0)),
            ("friday december 11 at 9 in the morning", d(12, 11), t(9, 0)),
            ("hi uh one thirty thursday", d(11, 26), t(13, 30)),
            ("10 works", None, t(10, 0)),
            ("how about 3 instead", None, t(15, 0)),
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
        let cases = [
            ("first thing Monday", Period::FirstThing),
            ("end of the day on Tuesday", Period::EndOfDay),
            ("after lunch", Period::AfterLunch),
            ("late afternoon", Period::LateAfternoon),
            ("any time after 3", Period::After(t(15, 0).unwrap())),
            ("before 11", Period::Before(t(11, 0).unwrap())),
            ("in the evening", Period::Evening),
        ];
        for (text, want) in cases {
            assert_eq!(parse(text, today()).period, Some(want), "{text}");
            assert_eq!(parse(text, today()).time, None, "{text}");
        }
    }

    #[test]
    fn ordinals_roll_into_next_month_when_past() {
        assert_eq!(parse("the 5th", today()).date, d(12, 5));
        assert_eq!(parse("the 25th", today()).date, d(11, 25));
        assert_eq!(parse("on the twenty", today()).date, None);
        assert_eq!(parse("the third", today()).date, d(12, 3));
        assert_eq!(parse("the first one", today()).date, None);
        assert_eq!(parse("the second one", today()).date, None);
    }

    #[test]
    fn days_that_could_mean_two_dates_are_not_guessed() {
        // Monday 2026-11-30: "next Friday" is the 4th or the 11th.
        let monday = NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
        let w = parse("next Friday at 10", monday);
        assert_eq!(w.date, None);
        assert_eq!(w.choices, vec![d(12, 4).unwrap(), d(12, 11).unwrap()]);
        // On a Friday, next Monday can only be the coming one.
        let friday = NaiveDate::from_ymd_opt(2026, 12, 4).unwrap();
        assert_eq!(parse("next Monday", friday).date, d(12, 7));
        // A weekday that does not match the date.
        let w = parse("Wednesday the 8th", monday);
        assert!(w.unclear_day, "{w:?}");
        assert_eq!(w.date, None);
        assert!(parse("February 30th", monday).unclear_day);
    }
}
