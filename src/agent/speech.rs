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

/// A phone number read digit by digit in groups: `+14155550100` →
/// `4 1 5, 5 5 5, 0 1 0 0` (a North American number without its 1),
/// others in groups of three.
pub fn digits(number: &str) -> String {
    let mut d: Vec<char> = number.chars().filter(char::is_ascii_digit).collect();
    if d.len() == 11 && d[0] == '1' && number.trim_start().starts_with('+') {
        d.remove(0);
    }
    let groups: Vec<&[char]> = if d.len() == 10 {
        vec![&d[..3], &d[3..6], &d[6..]]
    } else {
        d.chunks(3).collect()
    };
    groups
        .iter()
        .map(|g| g.iter().map(char::to_string).collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Turns model output into text a voice can say: no SSML or other
/// markup tags, markdown, emoji, links or list markers; lines joined into
/// sentences.
pub fn speakable(text: &str) -> String {
    let text = strip_markdown_links(&strip_tags(text));
    let mut sentences: Vec<String> = Vec::new();
    for line in text.lines() {
        let mut line = line.trim();
        // List markers and headings.
        line = line
            .trim_start_matches(['#', '>', '-', '*', '•'])
            .trim_start();
        if let Some(rest) = line
            .split_once(['.', ')'])
            .filter(|(n, _)| !n.is_empty() && n.len() <= 2 && n.chars().all(|c| c.is_ascii_digit()))
            .map(|(_, rest)| rest.trim_start())
        {
            line = rest;
        }
        let words: Vec<&str> = line
            .split_whitespace()
            .filter(|w| {
                let w = w.trim_matches(|c: char| "()[]<>.,;:".contains(c));
                !(w.starts_with("http://") || w.starts_with("https://") || w.starts_with("www."))
            })
            .collect();
        let mut clean: String = words
            .join(" ")
            .chars()
            .filter(|c| !matches!(c, '*' | '_' | '`' | '#' | '~' | '|') && !is_emoji(*c))
            .collect();
        clean = clean.replace(['[', ']'], "");
        let clean = clean.split_whitespace().collect::<Vec<_>>().join(" ");
        if clean.is_empty() {
            continue;
        }
        let clean = clean.strip_suffix([':', ',', ';']).unwrap_or(&clean);
        let ends = clean.ends_with(['.', '!', '?']);
        sentences.push(if ends {
            clean.to_owned()
        } else {
            format!("{clean}.")
        });
    }
    sentences.join(" ")
}

/// The text up to its last complete sentence (for an answer that was cut
/// off); empty when not even one sentence is complete.
pub fn whole_sentences(text: &str) -> &str {
    let text = text.trim_end();
    let mut ends = text.char_indices().filter(|&(i, c)| {
        matches!(c, '.' | '!' | '?')
            && text[i + 1..]
                .chars()
                .next()
                .is_none_or(|n| n.is_whitespace() || matches!(n, '"' | '\'' | ')'))
    });
    ends.next_back().map_or("", |(i, _)| &text[..=i])
}

/// `<break time="1s"/>`, `<speak>`, `</prosody>` and the like → a space.
/// A `<` that does not open a tag (`3 < 5`) stays.
fn strip_tags(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('<') {
        let after = &rest[open + 1..];
        let opens_tag = after
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || matches!(c, '/' | '!' | '?'));
        match after.find('>').filter(|_| opens_tag) {
            Some(close) => {
                out.push_str(&rest[..open]);
                out.push(' ');
                rest = &after[close + 1..];
            }
            None => {
                out.push_str(&rest[..=open]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// `[label](target)` → `label`.
fn strip_markdown_links(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        let after = &rest[open + 1..];
        let link = after.find("](").and_then(|mid| {
            let target = &after[mid + 2..];
            target.find(')').map(|close| (mid, mid + 2 + close + 1))
        });
        match link {
            Some((mid, end)) => {
                out.push_str(&rest[..open]);
                out.push_str(&after[..mid]);
                rest = &after[end..];
            }
            None => {
                out.push_str(&rest[..=open]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn is_emoji(c: char) -> bool {
    matches!(c as u32,
        0x1F000..=0x1FAFF | 0x2600..=0x27BF | 0x2B00..=0x2BFF | 0xFE0F | 0x200D)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_output_becomes_speakable() {
        assert_eq!(
            speakable(
                "**Sure!** Here are the free times:\n- 9 AM\n- 9:30 AM\n\nSee https://example.com/book 🙂"
            ),
            "Sure! Here are the free times. 9 AM. 9:30 AM. See."
        );
        assert_eq!(
            speakable("1. Call us\n2. Visit [our site](https://x.y)"),
            "Call us. Visit our site."
        );
        assert_eq!(
            speakable("# Hello\nHow can I `help`?"),
            "Hello. How can I help?"
        );
        assert_eq!(speakable("Plain sentence."), "Plain sentence.");
        assert_eq!(speakable("  \n "), "");
    }

    #[test]
    fn markup_tags_are_not_read_out() {
        assert_eq!(
            speakable("<speak>Sure.<break time=\"1s\"/> Let me check.</speak>"),
            "Sure. Let me check."
        );
        assert_eq!(
            speakable("<Say>Hi</Say><Hangup/> <prosody rate=\"slow\">there</prosody>"),
            "Hi there."
        );
        assert_eq!(speakable("Is 3 < 5? Yes."), "Is 3 < 5? Yes.");
    }

    #[test]
    fn a_cut_off_answer_keeps_its_whole_sentences() {
        assert_eq!(
            whole_sentences("Tuesday at 3 is free. I can also do Wednesday at"),
            "Tuesday at 3 is free."
        );
        assert_eq!(
            whole_sentences("Sure! Is 2:30 PM ok? Or"),
            "Sure! Is 2:30 PM ok?"
        );
        assert_eq!(whole_sentences("I can book you for"), "");
        assert_eq!(whole_sentences("Done."), "Done.");
    }

    #[test]
    fn phone_numbers_are_read_digit_by_digit() {
        assert_eq!(digits("+14155550100"), "4 1 5, 5 5 5, 0 1 0 0");
        assert_eq!(digits("415-555-0100"), "4 1 5, 5 5 5, 0 1 0 0");
        assert_eq!(digits("+447911123456"), "4 4 7, 9 1 1, 1 2 3, 4 5 6");
    }

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
