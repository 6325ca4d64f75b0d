//! The caller's name, introduced every common way: "my name is Ada
//! Lovelace", "this is Grace", "it's under Hopper", "Alan Turing here",
//! "call me Kate"; and, right after the receptionist asked for it, "it's
//! Maria Gonzalez", "I'm Ada", "sure, Ada Lovelace" or just "Ada Lovelace".
//! A reply like "sure" or "yes please" is never taken for a name.

/// Words that are never (part of) a name in a caller's sentence.
fn is_common_word(w: &str) -> bool {
    matches!(
        w,
        "a" | "about"
            | "absolutely"
            | "actually"
            | "after"
            | "afternoon"
            | "again"
            | "all"
            | "also"
            | "am"
            | "an"
            | "and"
            | "any"
            | "anything"
            | "appointment"
            | "are"
            | "as"
            | "at"
            | "available"
            | "back"
            | "be"
            | "because"
            | "been"
            | "before"
            | "book"
            | "booked"
            | "booking"
            | "but"
            | "by"
            | "bye"
            | "call"
            | "calling"
            | "can"
            | "can't"
            | "cancel"
            | "check"
            | "come"
            | "confirm"
            | "correct"
            | "could"
            | "day"
            | "did"
            | "do"
            | "does"
            | "don't"
            | "done"
            | "evening"
            | "fine"
            | "for"
            | "free"
            | "from"
            | "get"
            | "go"
            | "going"
            | "good"
            | "goodbye"
            | "got"
            | "great"
            | "had"
            | "happy"
            | "has"
            | "have"
            | "having"
            | "he"
            | "hello"
            | "her"
            | "here"
            | "hey"
            | "hi"
            | "him"
            | "his"
            | "hoping"
            | "how"
            | "i"
            | "i'd"
            | "i'll"
            | "i'm"
            | "i've"
            | "if"
            | "im"
            | "in"
            | "is"
            | "it"
            | "it's"
            | "its"
            | "just"
            | "know"
            | "later"
            | "like"
            | "looking"
            | "make"
            | "may"
            | "maybe"
            | "me"
            | "mine"
            | "morning"
            | "move"
            | "my"
            | "name"
            | "name's"
            | "need"
            | "next"
            | "no"
            | "nope"
            | "not"
            | "now"
            | "of"
            | "oh"
            | "ok"
            | "okay"
            | "on"
            | "one"
            | "or"
            | "our"
            | "perfect"
            | "please"
            | "pm"
            | "really"
            | "reschedule"
            | "right"
            | "same"
            | "schedule"
            | "see"
            | "she"
            | "should"
            | "so"
            | "sorry"
            | "soon"
            | "speaking"
            | "still"
            | "sure"
            | "thank"
            | "thanks"
            | "that"
            | "that's"
            | "the"
            | "their"
            | "them"
            | "then"
            | "there"
            | "these"
            | "they"
            | "this"
            | "time"
            | "to"
            | "today"
            | "tomorrow"
            | "tonight"
            | "too"
            | "trying"
            | "uh"
            | "um"
            | "under"
            | "up"
            | "us"
            | "very"
            | "wait"
            | "want"
            | "wanted"
            | "was"
            | "we"
            | "week"
            | "well"
            | "what"
            | "when"
            | "where"
            | "which"
            | "who"
            | "will"
            | "with"
            | "work"
            | "works"
            | "would"
            | "yeah"
            | "yep"
            | "yes"
            | "yup"
            | "you"
            | "your"
            | "monday"
            | "tuesday"
            | "wednesday"
            | "thursday"
            | "friday"
            | "saturday"
            | "sunday"
            | "january"
            | "february"
            | "march"
            | "september"
            | "october"
            | "november"
            | "december"
            | "noon"
            | "oclock"
            | "dentist"
            | "doctor"
            | "afraid"
            | "sounds"
            | "thing"
            | "wondering"
            | "new"
            | "patient"
            | "again's"
            | "again."
            | "cool"
            | "alright"
            | "awesome"
            | "course"
            | "definitely"
            | "exactly"
            | "indeed"
            | "lovely"
            | "wonderful"
            | "excellent"
            | "sir"
            | "ma'am"
            | "there's"
            | "let"
            | "let's"
            | "put"
            | "down"
            | "anyway"
            | "booking's"
            | "fit"
            | "office"
            | "help"
            | "ask"
            | "question"
            | "quick"
            | "first"
            | "last"
            | "full"
            | "only"
            | "other"
            | "own"
            | "cleaning"
            | "checkup"
            | "consultation"
            | "filling"
            | "visit"
            | "exam"
            | "haircut"
            | "sharp"
            | "ish"
            | "instead"
            | "earlier"
            | "lunch"
            | "lunchtime"
            | "end"
            | "early"
            | "late"
            | "mid"
            | "midday"
            | "week's"
            | "diary"
            | "hang"
            | "hold"
            | "son"
            | "daughter"
            | "wife"
            | "husband"
            | "kid"
            | "mom"
            | "dad"
            | "mother"
            | "father"
            | "urgent"
            | "important"
            | "taken"
            | "free's"
            | "everything"
            | "nothing"
            | "something"
            | "someone"
            | "anyone"
    )
}

/// A word that could be part of a name.
fn name_like(w: &str) -> bool {
    w.len() >= 2
        && !is_common_word(w)
        && w.chars()
            .all(|c| c.is_alphabetic() || c == '\'' || c == '-')
}

fn title_case(word: &str) -> String {
    let mut out = String::with_capacity(word.len());
    let mut upper = true;
    for c in word.chars() {
        if upper {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        upper = c == '-';
    }
    out
}

/// Up to three name words from the start of `words`.
fn take_name(words: &[&str]) -> Option<String> {
    let name: Vec<String> = words
        .iter()
        .take_while(|w| name_like(w))
        .take(3)
        .map(|w| title_case(w))
        .collect();
    (!name.is_empty()).then(|| name.join(" "))
}

/// Phrases after which a name follows, wherever they are said.
const CUES: &[&[&str]] = &[
    &["my", "name", "is"],
    &["my", "name's"],
    &["the", "name", "is"],
    &["the", "name's"],
    &["name", "is"],
    &["name's"],
    &["names"],
    &["this", "is"],
    &["call", "me"],
    &["under", "the", "name"],
    &["under", "the", "name", "of"],
    &["it's", "under"],
    &["put", "it", "under"],
    &["book", "it", "under"],
    &["put", "me", "down", "as"],
    &["it's", "for"],
    &["appointment", "is", "for"],
    &["under"],
    &["name", "of"],
    &["it's"],
    &["its"],
];

/// Phrases after which a name follows when the name was just asked for.
const ASKED_CUES: &[&[&str]] = &[&["it", "is"], &["i'm"], &["i", "am"], &["im"]];

/// Words that end a day or time ("at 10", "Friday", "pm").
fn is_time_word(w: &str) -> bool {
    w.bytes().next().is_some_and(|b| b.is_ascii_digit())
        || matches!(
            w,
            "am" | "pm"
                | "oclock"
                | "noon"
                | "today"
                | "tomorrow"
                | "morning"
                | "afternoon"
                | "monday"
                | "tuesday"
                | "wednesday"
                | "thursday"
                | "friday"
                | "please"
        )
}

/// Lead-ins a caller puts before a bare name when asked ("sure, Ada").
fn is_lead_in(w: &str) -> bool {
    matches!(
        w,
        "yes"
            | "yeah"
            | "yep"
            | "sure"
            | "ok"
            | "okay"
            | "oh"
            | "so"
            | "well"
            | "right"
            | "and"
            | "hi"
            | "alright"
            | "of"
            | "course"
    )
}

/// The name in `words` (normalised), if the caller gave one. `asked`: the
/// receptionist just asked for it.
pub fn name(words: &[&str], asked: bool) -> Option<String> {
    for i in 0..words.len() {
        for cue in CUES.iter().chain(if asked { ASKED_CUES } else { &[] }) {
            if words[i..].starts_with(cue)
                && let Some(name) = take_name(&words[i + cue.len()..])
            {
                return Some(name);
            }
        }
    }
    // "I'm Ada Lovelace and I'd like ..." (not "I'm calling", "I'm free").
    for i in 0..words.len() {
        if matches!(words[i], "i'm" | "im")
            && let Some(next) = words.get(i + 1)
            && !next.ends_with("ing")
            && let Some(name) = take_name(&words[i + 1..])
        {
            return Some(name);
        }
    }
    // "first name John last name Doe"
    if let Some(i) = words.windows(2).position(|p| p == ["1st", "name"])
        && let Some(first) = words.get(i + 2).filter(|w| name_like(w))
    {
        let last = words
            .windows(2)
            .position(|p| p == ["last", "name"] || p == ["surname", "is"])
            .and_then(|j| words.get(j + 2))
            .filter(|w| name_like(w));
        let both: Vec<&str> = std::iter::once(*first).chain(last.copied()).collect();
        return take_name(&both);
    }
    // "I am Raj Kumar"
    if let Some(i) = words.windows(2).position(|p| p == ["i", "am"])
        && let Some(next) = words.get(i + 2)
        && !next.ends_with("ing")
        && let Some(name) = take_name(&words[i + 2..])
    {
        return Some(name);
    }
    // "Friday at 11 for Maria Gonzalez" (two words at least: "for Ada"
    // could be anything).
    for i in 0..words.len() {
        let rest = &words[(i + 1).min(words.len())..];
        let run = rest.iter().take_while(|w| name_like(w)).count();
        let ends = rest
            .get(run)
            .is_none_or(|w| matches!(*w, "please" | "thanks" | "thank"));
        if words[i] == "for" && (run >= 2 || (run == 1 && ends)) {
            return take_name(rest);
        }
    }
    // "Friday at 10 Mark Hughes": a name said straight after the time.
    if let Some(start) = words.iter().rposition(|w| !name_like(w)).map(|i| i + 1)
        && (2..=3).contains(&(words.len() - start))
        && start > 0
        && is_time_word(words[start - 1])
    {
        return take_name(&words[start..]);
    }
    // "Ada Lovelace here", "Alan speaking".
    if let Some(at) = words
        .iter()
        .position(|w| *w == "here" || *w == "speaking")
        .filter(|at| (1..=3).contains(at))
        && words[..at].iter().all(|w| name_like(w))
    {
        return take_name(&words[..at]);
    }
    if asked {
        let rest: Vec<&str> = words
            .iter()
            .copied()
            .skip_while(|w| is_lead_in(w))
            .filter(|w| !matches!(*w, "please" | "thanks" | "thank" | "you"))
            .collect();
        if (1..=4).contains(&rest.len()) && rest.iter().all(|w| name_like(w)) {
            return take_name(&rest);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::rules::words::normalize;

    fn got(text: &str, asked: bool) -> Option<String> {
        let n = normalize(text);
        let w: Vec<&str> = n.split(' ').collect();
        name(&w, asked)
    }

    #[test]
    fn names_are_picked_up_from_everyday_phrasing() {
        let cases = [
            ("my name is ada lovelace", false, Some("Ada Lovelace")),
            (
                "Hi, this is Grace Hopper calling",
                false,
                Some("Grace Hopper"),
            ),
            ("name's Alan", false, Some("Alan")),
            ("It's Katherine Johnson", true, Some("Katherine Johnson")),
            ("Ada Lovelace", true, Some("Ada Lovelace")),
            ("Ada Lovelace", false, None),
            ("this is great", false, None),
            ("yes", true, None),
            ("sure", true, None),
            ("yes please", true, None),
            ("sure, it's Maria Gonzalez", true, Some("Maria Gonzalez")),
            ("yeah Maria Gonzalez", true, Some("Maria Gonzalez")),
            (
                "I'm Ada Lovelace and I'd like to book",
                false,
                Some("Ada Lovelace"),
            ),
            ("I'm calling to book", false, None),
            ("I'm free on Monday", false, None),
            (
                "Alan Turing here, I need an appointment",
                false,
                Some("Alan Turing"),
            ),
            ("put it under Hopper", false, Some("Hopper")),
            ("the name is john smith", false, Some("John Smith")),
            ("it's for tomorrow", true, None),
            ("Mary-Jane O'Neil please", true, Some("Mary Jane O'neil")),
            ("tomorrow at 2", true, None),
            (
                "friday at 11 for maria gonzalez",
                false,
                Some("Maria Gonzalez"),
            ),
            ("friday at 10 mark hughes", false, Some("Mark Hughes")),
            ("wednesday at 4 under tom baker", false, Some("Tom Baker")),
            (
                "can i get wednesday the 9th at 10 30 lucy gray",
                false,
                Some("Lucy Gray"),
            ),
            ("tomorrow at 2 sounds great", false, None),
            ("book for tomorrow", false, None),
            (
                "friday mid morning please, i'm polly wright",
                false,
                Some("Polly Wright"),
            ),
            ("i'm really sorry", false, None),
            ("tomorrow at 3 for luke", false, Some("Luke")),
            (
                "the 8th at 10 please for vastra please",
                false,
                Some("Vastra"),
            ),
            ("a table for two", false, None),
            ("an appointment for a cleaning", false, None),
            (
                "this friday at half ten please name of nyssa",
                false,
                Some("Nyssa"),
            ),
            ("first name john last name doe", true, Some("John Doe")),
            (
                "i am raj kumar i want to book the 9th at 12",
                false,
                Some("Raj Kumar"),
            ),
            (
                "tomorrow at 10 please my name is april jones",
                false,
                Some("April Jones"),
            ),
        ];
        for (text, asked, want) in cases {
            assert_eq!(got(text, asked).as_deref(), want, "{text}");
        }
    }
}
