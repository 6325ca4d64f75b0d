//! The caller's words as speculation compares them: normalised, and judged
//! whether they already read like a whole request.
//!
//! Twilio's partial and final transcripts of one utterance differ in ways
//! that do not change what was asked: case, punctuation ("2 p.m." / "2 PM"),
//! and fillers ("um", "uh", a leading "so" or "like"). [`normalise`] removes
//! exactly those, so a speculation started on the partial text is kept
//! when the final text says the same, and dropped when it says anything
//! else.

/// Fillers dropped wherever they stand.
const FILLERS: &[&str] = &[
    "um", "umm", "uh", "uhh", "uhm", "er", "erm", "ah", "hmm", "hm", "mm", "mhm",
];

/// Words dropped only at the start of an utterance ("so, can I …").
const LEADING_FILLERS: &[&str] = &["like", "so", "well", "oh", "okay", "ok"];

/// Words after which a request is not finished ("book me for tomorrow
/// and", "do you have", "can I book"): conjunctions, prepositions,
/// articles, pronouns and auxiliaries that need what follows.
const TRAILING_CONNECTIVES: &[&str] = &[
    "and",
    "or",
    "but",
    "so",
    "because",
    "then",
    "the",
    "a",
    "an",
    "to",
    "at",
    "for",
    "with",
    "on",
    "in",
    "of",
    "my",
    "is",
    "are",
    "was",
    "were",
    "am",
    "be",
    "about",
    "from",
    "if",
    "that",
    "which",
    "what",
    "when",
    "where",
    "who",
    "how",
    "why",
    "i",
    "im",
    "we",
    "you",
    "me",
    "your",
    "our",
    "this",
    "can",
    "could",
    "would",
    "will",
    "do",
    "does",
    "did",
    "have",
    "has",
    "had",
    "want",
    "need",
    "like",
    "any",
    "some",
    "anything",
    "something",
    "book",
    "schedule",
    "get",
    "make",
    "theres",
    "there",
];

/// Number words written as digits, so "two PM" and "2 PM" agree (the
/// recogniser may format a partial and the final result differently).
const NUMBERS: &[(&str, &str)] = &[
    ("zero", "0"),
    ("one", "1"),
    ("two", "2"),
    ("three", "3"),
    ("four", "4"),
    ("five", "5"),
    ("six", "6"),
    ("seven", "7"),
    ("eight", "8"),
    ("nine", "9"),
    ("ten", "10"),
    ("eleven", "11"),
    ("twelve", "12"),
];

/// Fewest words a partial request needs before work starts on it.
pub const MIN_WORDS: usize = 3;

/// Twilio's `Stability` at or above which stable text is trusted without a
/// sentence end.
pub const MIN_STABILITY: f64 = 0.8;

/// Lower case, letters and digits only (full stops and apostrophes join
/// what they split, so "p.m." and "pm", "I'm" and "Im" agree; other marks
/// part words), number words up to twelve as digits, fillers removed,
/// single spaces.
pub fn normalise(text: &str) -> String {
    let lowered = text.to_lowercase();
    let cleaned: String = lowered
        .chars()
        .filter(|c| !matches!(c, '.' | '\'' | '\u{2019}'))
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect();
    let mut words = cleaned
        .split_whitespace()
        .filter(|w| !FILLERS.contains(w))
        .peekable();
    while words.next_if(|w| LEADING_FILLERS.contains(w)).is_some() {}
    let mut out = String::with_capacity(cleaned.len());
    for w in words {
        if !out.is_empty() {
            out.push(' ');
        }
        let w = NUMBERS.iter().find(|(n, _)| *n == w).map_or(w, |(_, d)| d);
        out.push_str(w);
    }
    out
}

/// Whether `normalised` words (from [`normalise`]) read like a whole
/// request: enough words, not ending on a word that promises more, and
/// either a sentence end in the raw text or Twilio confident the text is
/// stable.
pub fn looks_complete(normalised: &str, raw: &str, stability: Option<f64>) -> bool {
    let words: Vec<&str> = normalised.split_whitespace().collect();
    let Some(last) = words.last() else {
        return false;
    };
    if words.len() < MIN_WORDS || TRAILING_CONNECTIVES.contains(last) {
        return false;
    }
    let sentence_end = raw.trim_end().ends_with(['.', '?', '!']);
    sentence_end || stability.is_none_or(|s| s >= MIN_STABILITY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_punctuation_and_fillers_do_not_count() {
        assert_eq!(
            normalise("Um, so can I book a cleaning at 2 p.m.?"),
            "can i book a cleaning at 2 pm"
        );
        assert_eq!(
            normalise("can I uh book a cleaning at 2 PM"),
            "can i book a cleaning at 2 pm"
        );
        assert_eq!(normalise("I'm free, like, Monday."), "im free like monday");
        assert_eq!(normalise("Like, so, well... hello"), "hello");
        assert_eq!(normalise("  "), "");
        assert_eq!(normalise("Café au lait?"), "café au lait");
        assert_ne!(normalise("at 2 PM"), normalise("at 3 PM"));
        assert_eq!(normalise("At two P.M."), normalise("at 2 pm"));
        assert_eq!(normalise("someone"), "someone");
    }

    #[test]
    fn a_whole_request_is_told_from_half_a_sentence() {
        let ok = |raw: &str, stability| looks_complete(&normalise(raw), raw, stability);
        assert!(ok("Are you open on Monday?", Some(0.1)));
        assert!(ok("Are you open on Monday", Some(0.9)));
        assert!(ok("Are you open on Monday", None));
        assert!(
            !ok("Are you open on Monday", Some(0.5)),
            "unstable, no sentence end"
        );
        assert!(!ok("Hello there", Some(0.95)), "too short");
        assert!(
            !ok("Can I come in tomorrow and", Some(0.95)),
            "trailing conjunction"
        );
        assert!(!ok("I would like to book for", Some(0.95)));
        assert!(
            !ok("What time do you", Some(0.95)),
            "an auxiliary and a pronoun"
        );
        assert!(!ok("Do you have anything", Some(0.95)));
        assert!(!ok("Can I book", Some(0.95)));
        assert!(ok("What time do you open", Some(0.95)));
        assert!(ok("Can I book a cleaning", Some(0.95)));
        assert!(!ok("um uh", None));
    }
}
