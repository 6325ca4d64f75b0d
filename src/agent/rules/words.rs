//! What the caller said, cleaned of recognition noise, as words.
//!
//! Twilio's speech recognition writes what it hears: no or odd punctuation,
//! numbers as words or digits ("two thirty", "2 30", "2:30"), "p m" and
//! "p.m.", homophones of numbers next to times ("to pm", "at for thirty"),
//! fillers ("um", "uh"). [`normalize`] turns all of that into one form the
//! rest of the understanding reads: lower case, single spaces, numbers as
//! digits, ordinals as `3rd`, `am`/`pm`/`oclock` as words of their own,
//! fillers gone. It is one pass over the text plus one over its words; the
//! word tables are `match`es, compiled once.

/// Lower-cases and keeps letters, digits, apostrophes and single spaces.
/// (The light form, for matching fixed phrases.)
pub fn simplify(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars().flat_map(char::to_lowercase) {
        let c = match c {
            '\u{2019}' | '`' => '\'',
            c if c.is_alphanumeric() || c == '\'' => c,
            _ => ' ',
        };
        if c != ' ' || !out.ends_with(' ') {
            out.push(c);
        }
    }
    out.trim().to_owned()
}

/// Whether `phrase` occurs in `text` on word boundaries (both normalised).
pub fn has_phrase(text: &str, phrase: &str) -> bool {
    // Compare bytes at each word start: cheaper than a substring search per
    // phrase, and the agent checks many short phrases on short texts. Word
    // boundaries are ASCII spaces, so byte comparison is exact for UTF-8.
    let (t, p) = (text.as_bytes(), phrase.as_bytes());
    let Some(&first) = p.first() else {
        return false;
    };
    let mut i = 0;
    while t.len() - i >= p.len() {
        let end = i + p.len();
        if t[i] == first && &t[i..end] == p && t.get(end).is_none_or(|&b| b == b' ') {
            return true;
        }
        match t[i..].iter().position(|&b| b == b' ') {
            Some(k) => i += k + 1,
            None => return false,
        }
    }
    false
}

/// Whether any of `phrases` occurs in `text`.
///
/// The agent asks this with lists of dozens of phrases against a text of a
/// few words, so the first bytes of the text's words are gathered once and
/// a phrase is only searched for when its first byte starts some word.
pub fn any(text: &str, phrases: &[&str]) -> bool {
    let starts = WordStarts::of(text);
    phrases
        .iter()
        .any(|p| p.as_bytes().first().is_some_and(|&b| starts.has(b)) && has_phrase(text, p))
}

/// The set of bytes that begin a word of a text (a 256-bit set).
struct WordStarts([u64; 4]);

impl WordStarts {
    fn of(text: &str) -> Self {
        let mut set = [0u64; 4];
        let mut at_start = true;
        for &b in text.as_bytes() {
            if at_start && b != b' ' {
                set[usize::from(b >> 6)] |= 1 << (b & 63);
            }
            at_start = b == b' ';
        }
        Self(set)
    }

    fn has(&self, b: u8) -> bool {
        self.0[usize::from(b >> 6)] & (1 << (b & 63)) != 0
    }
}

/// Where `phrase` starts in `words` (word index), if it occurs.
pub fn find(words: &[&str], phrase: &[&str]) -> Option<usize> {
    if phrase.is_empty() || words.len() < phrase.len() {
        return None;
    }
    (0..=words.len() - phrase.len()).find(|&i| words[i..i + phrase.len()] == *phrase)
}

fn unit(w: &str) -> Option<u32> {
    Some(match w {
        "zero" => 0,
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
        "thirteen" => 13,
        "fourteen" => 14,
        "fifteen" => 15,
        "sixteen" => 16,
        "seventeen" => 17,
        "eighteen" => 18,
        "nineteen" => 19,
        _ => return None,
    })
}

fn tens(w: &str) -> Option<u32> {
    Some(match w {
        "twenty" => 20,
        "thirty" => 30,
        "forty" | "fourty" => 40,
        "fifty" => 50,
        _ => return None,
    })
}

fn ordinal_unit(w: &str) -> Option<u32> {
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

/// `3rd`, `21st`.
pub fn ordinal_text(n: u32) -> String {
    crate::agent::speech::ordinal(n)
}

/// The number of a digit ordinal: `3rd` → 3.
pub fn ordinal_value(w: &str) -> Option<u32> {
    let digits = ["st", "nd", "rd", "th"]
        .iter()
        .find_map(|s| w.strip_suffix(s))
        .filter(|d| !d.is_empty() && d.len() <= 2 && d.bytes().all(|c| c.is_ascii_digit()))?;
    digits.parse().ok()
}

/// A plain number: `12` → 12.
pub fn number(w: &str) -> Option<u32> {
    if w.is_empty() || w.len() > 4 || !w.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    w.parse().ok()
}

fn is_filler(w: &str) -> bool {
    matches!(
        w,
        "um" | "umm" | "uhm" | "uh" | "uhh" | "er" | "erm" | "hmm" | "hm" | "ah" | "eh" | "mm"
    )
}

/// Words that follow a number when it counts something, not a time.
pub fn is_unit(w: &str) -> bool {
    matches!(
        w,
        "minutes"
            | "minute"
            | "mins"
            | "min"
            | "hours"
            | "hour"
            | "hrs"
            | "days"
            | "day"
            | "weeks"
            | "week"
            | "months"
            | "month"
            | "people"
            | "persons"
            | "person"
            | "of"
            | "kids"
            | "children"
            | "patients"
            | "appointments"
            | "times"
            | "slots"
    )
}

/// The first pass: characters. Lower case; `p.m.`, `p. m.` → ` pm `;
/// `9.30` → `9:30`; `2pm` → `2 pm`; punctuation → spaces; `'` kept inside
/// words, `:` between digits.
fn characters(text: &str) -> String {
    let lower: Vec<char> = text
        .chars()
        .flat_map(char::to_lowercase)
        .map(|c| {
            if matches!(c, '\u{2019}' | '`') {
                '\''
            } else {
                c
            }
        })
        .collect();
    let mut out = String::with_capacity(lower.len() + 8);
    let push_space = |out: &mut String| {
        if !out.ends_with(' ') && !out.is_empty() {
            out.push(' ');
        }
    };
    let mut i = 0;
    while i < lower.len() {
        let c = lower[i];
        let prev = i.checked_sub(1).map(|j| lower[j]);
        let next = lower.get(i + 1).copied();
        // a.m. / p.m. / a. m. / p m
        if (c == 'a' || c == 'p') && !prev.is_some_and(char::is_alphanumeric) {
            let mut j = i + 1;
            if lower.get(j) == Some(&'.') {
                j += 1;
            }
            while lower.get(j) == Some(&' ') {
                j += 1;
            }
            let dotted_or_spaced = j > i + 1;
            if dotted_or_spaced
                && lower.get(j) == Some(&'m')
                && !lower.get(j + 1).is_some_and(|c| c.is_alphanumeric())
            {
                push_space(&mut out);
                out.push(c);
                out.push('m');
                out.push(' ');
                i = j + 1;
                if lower.get(i) == Some(&'.') {
                    i += 1;
                }
                continue;
            }
        }
        if c.is_ascii_digit() {
            out.push(c);
            // 2pm, 10am, 3:30pm: split the suffix off.
            if let Some(n) = next
                && n.is_alphabetic()
            {
                let rest: String = lower[i + 1..]
                    .iter()
                    .take_while(|c| c.is_alphanumeric())
                    .collect();
                if matches!(rest.as_str(), "am" | "pm" | "ish") {
                    out.push(' ');
                }
            }
            i += 1;
            continue;
        }
        if (c == ':' || c == '.')
            && prev.is_some_and(|p| p.is_ascii_digit())
            && next.is_some_and(|n| n.is_ascii_digit())
            && lower.get(i + 2).is_some_and(|n| n.is_ascii_digit())
        {
            out.push(':');
            i += 1;
            continue;
        }
        let inner_apostrophe = c == '\''
            && prev.is_some_and(char::is_alphanumeric)
            && next.is_some_and(char::is_alphanumeric);
        if c.is_alphanumeric() || inner_apostrophe {
            out.push(c);
        } else {
            push_space(&mut out);
        }
        i += 1;
    }
    out
}

/// What the caller said, in the one form the understanding reads (see the
/// module docs).
pub fn normalize(text: &str) -> String {
    let chars = characters(text);
    let raw: Vec<&str> = chars.split(' ').filter(|w| !w.is_empty()).collect();
    let mut words: Vec<String> = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let w = raw[i];
        let next = raw.get(i + 1).copied();
        // Agreement noises first, before "uh" is dropped.
        if (w == "uh" && next == Some("huh"))
            || (w == "mm" && next == Some("hmm"))
            || (w == "mhm" || w == "mmhmm")
        {
            words.push("yes".into());
            i += if w == "mhm" || w == "mmhmm" { 1 } else { 2 };
            continue;
        }
        if is_filler(w) || (w == "you" && next == Some("know") && i > 0) {
            i += if w == "you" { 2 } else { 1 };
            continue;
        }
        if w == "o" && next == Some("clock") {
            words.push("oclock".into());
            i += 2;
            continue;
        }
        if w == "o'clock" || w == "oclock" {
            words.push("oclock".into());
            i += 1;
            continue;
        }
        if let Some(t) = tens(w) {
            if let Some(u) = next.and_then(unit).filter(|u| (1..=9).contains(u)) {
                words.push((t + u).to_string());
                i += 2;
            } else if let Some(u) = next.and_then(ordinal_unit).filter(|u| (1..=9).contains(u)) {
                words.push(ordinal_text(t + u));
                i += 2;
            } else {
                words.push(t.to_string());
                i += 1;
            }
            continue;
        }
        if let Some(u) = unit(w) {
            // "one" is a number only next to a time ("at one", "one thirty",
            // "one pm"); otherwise "the first one", "this one".
            let as_number = w != "one"
                || words.last().is_some_and(|p| {
                    matches!(
                        p.as_str(),
                        "at" | "around"
                            | "about"
                            | "by"
                            | "till"
                            | "until"
                            | "after"
                            | "before"
                            | "from"
                            | "past"
                            | "to"
                    )
                })
                || next.is_some_and(|n| {
                    matches!(
                        n,
                        "am" | "pm"
                            | "oclock"
                            | "o'clock"
                            | "o"
                            | "thirty"
                            | "fifteen"
                            | "forty"
                            | "fifty"
                            | "oh"
                            | "p"
                            | "a"
                    ) || number(n).is_some()
                });
            words.push(if as_number {
                u.to_string()
            } else {
                w.to_owned()
            });
            i += 1;
            continue;
        }
        if let Some(o) = ordinal_unit(w) {
            words.push(ordinal_text(o));
            i += 1;
            continue;
        }
        if (w == "oh" || w == "o")
            && words
                .last()
                .and_then(|p| number(p))
                .is_some_and(|h| (1..=12).contains(&h))
            && let Some(m) = next
                .and_then(|n| unit(n).or_else(|| number(n)))
                .filter(|m| *m <= 9)
        {
            words.push(format!("0{m}"));
            i += 2;
            continue;
        }
        if w == "couple" && words.last().is_some_and(|p| p == "a") {
            words.pop();
            words.push("2".into());
            i += 1;
            if raw.get(i) == Some(&"of") {
                i += 1;
            }
            continue;
        }
        words.push(w.to_owned());
        i += 1;
    }
    homophones(&mut words);
    words.join(" ")
}

/// "to pm" → "2 pm", "at for thirty" → "at 4 30": numbers the recogniser
/// wrote as their homophones, next to a time.
fn homophones(words: &mut [String]) {
    for i in 0..words.len() {
        let value = match words[i].as_str() {
            "to" | "too" => "2",
            "for" => "4",
            "ate" => "8",
            _ => continue,
        };
        let prev = i.checked_sub(1).map(|j| words[j].as_str());
        let next = words.get(i + 1).map(String::as_str);
        let after = words.get(i + 2).map(String::as_str);
        let meridiem = |w: Option<&str>| matches!(w, Some("am" | "pm" | "oclock"));
        let minutes = next
            .and_then(number)
            .is_some_and(|m| matches!(m, 15 | 30 | 45))
            && !after.is_some_and(is_unit);
        let prev_is_number = prev.and_then(number).is_some();
        let prev_is_time_word = matches!(prev, Some("quarter" | "half" | "minutes" | "past"));
        let homophone = meridiem(next)
            || (minutes && !prev_is_number && !prev_is_time_word)
            || (prev == Some("at") && value != "8" && next.is_none_or(|n| n != "the"));
        if homophone {
            words[i] = value.to_owned();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognition_noise_becomes_one_form() {
        let cases = [
            ("Two p m tomorrow", "2 pm tomorrow"),
            ("at 2 P.M.", "at 2 pm"),
            ("3:30pm", "3:30 pm"),
            ("10am please", "10 am please"),
            ("to pm", "2 pm"),
            ("at for thirty", "at 4 30"),
            ("for thirty in the afternoon", "4 30 in the afternoon"),
            ("3 30 in the afternoon", "3 30 in the afternoon"),
            ("um I'd uh like a appointment", "i'd like a appointment"),
            ("uh huh", "yes"),
            ("twenty-third of January", "23rd of january"),
            ("the twenty first", "the 21st"),
            ("nine oh five", "9 05"),
            ("ten o'clock", "10 oclock"),
            ("quarter to five", "quarter to 5"),
            ("book for 30 minutes", "book for 30 minutes"),
            ("in a couple of days", "in 2 days"),
            ("That’s ALL, thanks!!", "that's all thanks"),
            ("9.30 tomorrow", "9:30 tomorrow"),
            ("the 3rd, at 11.", "the 3rd at 11"),
            ("forty five", "45"),
            ("the first one", "the 1st one"),
            ("at one thirty", "at 1 30"),
        ];
        for (raw, want) in cases {
            assert_eq!(normalize(raw), want, "{raw}");
        }
    }

    #[test]
    fn phrases_match_whole_words_only() {
        assert!(has_phrase("thanks that's all", "that's all"));
        assert!(has_phrase("bye", "bye"));
        assert!(has_phrase("ok bye now", "bye"));
        assert!(!has_phrase("goodbye", "bye"));
        assert!(!has_phrase("byes", "bye"));
        assert!(!has_phrase("a bypass", "by"));
        assert!(!has_phrase("", "bye"));
        assert!(!has_phrase("bye", ""));
        assert!(has_phrase("café au lait", "au lait"));
        assert!(any("café au lait", &["tea", "au lait"]));
        assert!(any("ok bye now", &["now"]));
        assert!(!any("ok bye now", &["goodbye", "ow", ""]));
        assert!(!any("", &["bye"]));
        assert!(any("é bien", &["é"]));
    }

    #[test]
    fn simplify_keeps_words_and_apostrophes() {
        assert_eq!(simplify("  That’s ALL, thanks!! "), "that's all thanks");
    }
}
