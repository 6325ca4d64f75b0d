//! What a caller's words do in the conversation: the dialogue acts (yes,
//! no, correction, goodbye, thanks, greeting), the request (book, move,
//! cancel, what is booked, opening hours, small talk), a choice among
//! offered times ("the second one", "the later one"), and a shift of an
//! appointment ("push it back an hour").
//!
//! Each check is a handful of whole-word phrase matches on the normalised
//! text ([`super::words`]); nothing here looks at what was asked before —
//! [`super::reading`] puts the acts in context.

use super::words::{any, has_phrase, number};

/// A calendar request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// Book a new appointment (or ask what is free).
    Book,
    /// Move an existing one.
    Move,
    /// Cancel one.
    Cancel,
    /// Cancel one and book another instead ("cancel the Monday one and
    /// book me Thursday"): a move.
    Replace,
    /// What is booked for me?
    Mine,
    /// When are you open?
    Hours,
    /// Put me through to a person.
    Person,
    /// Take a message for the business.
    Message,
}

/// A question that needs no calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmallTalk {
    /// The time now.
    Time,
    /// Today's date.
    Date,
    /// What can you do?
    Help,
    /// Thanks (without ending).
    Thanks,
    /// Hello.
    Greeting,
}

/// Which of the times (or appointments) just listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    /// By position, from 0.
    Nth(usize),
    /// The last one.
    Last,
    /// None of them.
    None,
}

/// Goodbyes.
pub fn is_goodbye(t: &str) -> bool {
    any(
        t,
        &[
            "bye",
            "goodbye",
            "good bye",
            "bye bye",
            "that's all",
            "that is all",
            "that's it",
            "that'll be all",
            "that will be all",
            "that'll do",
            "nothing else",
            "no thanks",
            "no thank you",
            "hang up",
            "i'm done",
            "we're done",
            "have a good day",
            "have a nice day",
            "have a great day",
            "talk to you later",
            "see you",
            "take care",
            "i'm all set",
            "all good thanks",
        ],
    )
}

/// Agreement.
pub fn is_yes(t: &str) -> bool {
    any(
        t,
        &[
            "yes",
            "yeah",
            "yea",
            "yep",
            "yup",
            "ya",
            "sure",
            "correct",
            "right",
            "sounds good",
            "sounds great",
            "sounds perfect",
            "go ahead",
            "please do",
            "ok",
            "okay",
            "perfect",
            "great",
            "absolutely",
            "book it",
            "do it",
            "do that",
            "that works",
            "works for me",
            "that's fine",
            "that is fine",
            "fine",
            "confirm",
            "confirmed",
            "definitely",
            "of course",
            "alright",
            "all right",
            "lovely",
            "excellent",
            "exactly",
            "cool",
            "affirmative",
            "go for it",
            "let's do it",
            "let's do that",
            "please",
            "that'd be great",
            "that would be great",
            "i do",
        ],
    )
}

/// Agreement that leaves no doubt, even next to a goodbye ("yes please, bye").
pub fn is_firm_yes(t: &str) -> bool {
    any(
        t,
        &[
            "yes",
            "yeah",
            "yep",
            "yup",
            "go ahead",
            "please do",
            "book it",
            "do it",
            "confirm",
            "correct",
        ],
    )
}

/// Refusal.
pub fn is_no(t: &str) -> bool {
    any(
        t,
        &[
            "no",
            "nope",
            "nah",
            "not really",
            "don't",
            "do not",
            "wrong",
            "incorrect",
            "not right",
            "negative",
            "never mind",
            "nevermind",
            "forget it",
            "not that",
        ],
    )
}

/// "actually", "sorry, I mean", "make it": the caller changes what they said.
pub fn is_correction(t: &str) -> bool {
    any(
        t,
        &[
            "actually",
            "wait",
            "sorry",
            "i mean",
            "i meant",
            "rather",
            "instead",
            "make it",
            "make that",
            "change it",
            "change that",
            "switch it",
            "how about",
            "what about",
            "can we do",
            "could we do",
            "can you do",
            "could you do",
            "let's do",
            "let's say",
            "scratch that",
        ],
    )
}

/// "never mind": drop what is in progress.
pub fn is_never_mind(t: &str) -> bool {
    any(
        t,
        &[
            "never mind",
            "nevermind",
            "forget it",
            "forget that",
            "don't bother",
            "don't book",
            "no need",
            "keep it as it is",
            "keep it as is",
            "leave it as it is",
            "leave it where it is",
            "leave it",
            "keep it where it is",
        ],
    )
}

fn wants_cancel(t: &str) -> bool {
    any(
        t,
        &[
            "cancel",
            "cancellation",
            "call off",
            "can't make it",
            "cannot make it",
            "can't make my",
            "won't make it",
            "won't be able to make",
            "not be able to make",
            "not going to make it",
            "can't come",
            "cannot come",
            "won't be able to come",
            "not be able to come",
            "unable to come",
            "unable to make",
            "won't be coming",
            "not coming",
            "can't attend",
            "won't be able to attend",
            "can't come in",
            "drop my appointment",
            "scrap",
            "delete my",
            "remove my",
        ],
    )
}

fn wants_move(t: &str) -> bool {
    any(
        t,
        &[
            "reschedule",
            "move",
            "moving",
            "change my",
            "change the",
            "change it",
            "change that",
            "change our",
            "push my",
            "push it",
            "push the",
            "push back",
            "bring it forward",
            "bring my",
            "bring the",
            "postpone",
            "different time",
            "another time",
            "different day",
            "another day",
            "switch my",
            "switch it",
            "shift my",
            "shift it",
            "come earlier",
            "come in earlier",
            "come later",
            "come in later",
            "an earlier time",
            "a later time",
            "an earlier appointment",
            "a later appointment",
        ],
    )
}

fn wants_book(t: &str) -> bool {
    any(
        t,
        &[
            "book",
            "booking",
            "schedule",
            "appointment",
            "appt",
            "reserve",
            "reservation",
            "make an",
            "set up",
            "come in",
            "come by",
            "get in",
            "stop by",
            "drop in",
            "available",
            "availability",
            "openings",
            "opening",
            "free slot",
            "free time",
            "anything free",
            "free on",
            "free at",
            "what times",
            "any time",
            "slot",
            "see the",
            "see a",
            "see dr",
            "see doctor",
            "checkup",
            "check up",
            "cleaning",
            "fit me in",
            "squeeze me in",
            "have anything",
            "got anything",
            "have something",
            "put me down",
            "sign me up",
            "visit",
        ],
    )
}

fn wants_mine(t: &str) -> bool {
    any(
        t,
        &[
            "when is my",
            "when's my",
            "what time is my",
            "what day is my",
            "what do i have",
            "do i have an appointment",
            "do i have a booking",
            "do i have anything",
            "do i have any",
            "have i got",
            "what have i got",
            "what appointments do i have",
            "what's booked",
            "what is booked",
            "am i booked",
            "check my appointment",
            "check my booking",
            "remind me when",
            "my appointments",
            "my upcoming",
            "what are my",
        ],
    )
}

fn wants_hours(t: &str) -> bool {
    any(
        t,
        &[
            "your hours",
            "opening hours",
            "office hours",
            "business hours",
            "are you open",
            "you guys open",
            "when are you open",
            "what time do you open",
            "what time do you close",
            "when do you open",
            "when do you close",
            "what days are you open",
            "what are the hours",
            "what hours",
            "open on",
            "open at",
            "closing time",
            "opening time",
            "opening times",
            "how late are you",
            "how early",
        ],
    )
}

fn wants_person(t: &str) -> bool {
    any(
        t,
        &[
            "speak to someone",
            "speak with someone",
            "talk to someone",
            "talk with someone",
            "speak to a person",
            "talk to a person",
            "speak to a real person",
            "talk to a real person",
            "a real person",
            "a human",
            "speak to a human",
            "talk to a human",
            "speak to somebody",
            "talk to somebody",
            "put me through",
            "transfer me",
            "connect me",
            "an operator",
            "the operator",
            "speak to the doctor",
            "speak to the manager",
            "a representative",
            "speak to a representative",
            "someone in the office",
            "somebody in the office",
        ],
    )
}

fn wants_message(t: &str) -> bool {
    any(
        t,
        &[
            "leave a message",
            "take a message",
            "pass on a message",
            "pass a message",
            "give them a message",
            "leave a note",
            "have someone call me",
            "have somebody call me",
            "call me back",
            "get back to me",
        ],
    )
}

/// The calendar request in `t`, if any.
pub fn request(t: &str) -> Option<Request> {
    if wants_message(t) {
        return Some(Request::Message);
    }
    if wants_person(t) {
        return Some(Request::Person);
    }
    let cancel = wants_cancel(t);
    let book = wants_book(t) || has_phrase(t, "instead");
    if cancel
        && any(
            t,
            &[
                "and book",
                "and schedule",
                "then book",
                "and make",
                "and put me",
                "book me",
                "and get me",
                "rebook",
                "re book",
                "instead",
            ],
        )
    {
        return Some(Request::Replace);
    }
    if cancel {
        return Some(Request::Cancel);
    }
    if wants_move(t) {
        return Some(Request::Move);
    }
    if wants_mine(t) {
        return Some(Request::Mine);
    }
    if wants_hours(t) && !any(t, &["book", "appointment"]) {
        return Some(Request::Hours);
    }
    book.then_some(Request::Book)
}

/// A question or remark that needs no calendar.
pub fn small_talk(t: &str) -> Option<SmallTalk> {
    if any(
        t,
        &[
            "what time is it",
            "the time",
            "time is it",
            "current time",
            "what's the time",
            "what time it is",
        ],
    ) {
        return Some(SmallTalk::Time);
    }
    if any(
        t,
        &[
            "what day is it",
            "which day is it",
            "the date",
            "what date",
            "today's date",
            "what is today",
            "what's today",
            "what day is today",
        ],
    ) {
        return Some(SmallTalk::Date);
    }
    if any(
        t,
        &[
            "help",
            "what can you",
            "what do you do",
            "who are you",
            "what are you",
            "options",
            "how does this work",
        ],
    ) {
        return Some(SmallTalk::Help);
    }
    if any(t, &["thanks", "thank you", "cheers", "appreciate it"]) {
        return Some(SmallTalk::Thanks);
    }
    if any(
        t,
        &[
            "hello",
            "hi",
            "hey",
            "good morning",
            "good afternoon",
            "good evening",
        ],
    ) {
        return Some(SmallTalk::Greeting);
    }
    None
}

/// "the first one", "the second", "the last one", "the earlier one".
pub fn pick(t: &str) -> Option<Pick> {
    if any(
        t,
        &[
            "none of those",
            "none of them",
            "neither",
            "none of these",
            "none of that",
        ],
    ) {
        return Some(Pick::None);
    }
    if any(
        t,
        &[
            "1st",
            "earliest",
            "earlier one",
            "the early one",
            "first one",
        ],
    ) {
        return Some(Pick::Nth(0));
    }
    if any(t, &["2nd", "middle", "2nd one"]) {
        return Some(Pick::Nth(1));
    }
    if any(t, &["3rd", "3rd one"]) {
        return Some(Pick::Nth(2));
    }
    if any(
        t,
        &["last", "last one", "latest", "later one", "the late one"],
    ) {
        return Some(Pick::Last);
    }
    if any(
        t,
        &[
            "either",
            "any of them",
            "any of those",
            "whichever",
            "doesn't matter",
            "don't mind",
            "you pick",
            "you choose",
        ],
    ) {
        return Some(Pick::Nth(0));
    }
    None
}

/// "push it back an hour" → +60, "bring it forward 30 minutes" → -30,
/// "an hour later", "half an hour earlier".
pub fn shift(words: &[&str]) -> Option<i64> {
    let t = words.join(" ");
    if any(
        &t,
        &[
            "same time next week",
            "next week same time",
            "next week same day",
            "same day next week",
            "same time the week after",
            "a week later",
        ],
    ) {
        return Some(7 * 24 * 60);
    }
    let minutes = if has_phrase(&t, "half an hour")
        || has_phrase(&t, "30 minutes") && !has_phrase(&t, "an hour and")
    {
        30
    } else if has_phrase(&t, "an hour and a half") || has_phrase(&t, "hour and a half") {
        90
    } else if let Some(i) = words.iter().position(|w| *w == "hours" || *w == "hour") {
        match i.checked_sub(1).map(|j| words[j]) {
            Some("an" | "a" | "one") => 60,
            Some(n) => i64::from(number(n)?) * 60,
            None => return None,
        }
    } else if let Some(i) = words.iter().position(|w| *w == "minutes" || *w == "mins") {
        i64::from(number(i.checked_sub(1).map(|j| words[j])?)?)
    } else if has_phrase(&t, "a day") || has_phrase(&t, "1 day") {
        24 * 60
    } else if has_phrase(&t, "a week") || has_phrase(&t, "1 week") {
        7 * 24 * 60
    } else {
        return None;
    };
    let later = any(&t, &["back", "later", "after", "push"]);
    let earlier = any(&t, &["forward", "earlier", "sooner", "up", "before"]);
    match (later, earlier) {
        (_, true) => Some(-minutes),
        (true, false) => Some(minutes),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::rules::words::normalize;

    fn req(text: &str) -> Option<Request> {
        request(&normalize(text))
    }

    #[test]
    fn requests_follow_everyday_phrasing() {
        let cases = [
            (
                "I'd like to see the dentist next Thursday afternoon",
                Some(Request::Book),
            ),
            ("can I come in tomorrow", Some(Request::Book)),
            ("Yes, cancel it", Some(Request::Cancel)),
            (
                "Actually, can I move it to Wednesday at 10?",
                Some(Request::Move),
            ),
            ("push my appointment back an hour", Some(Request::Move)),
            (
                "cancel the Monday one and book me Thursday at 4 instead",
                Some(Request::Replace),
            ),
            ("what do I have booked?", Some(Request::Mine)),
            ("can I speak to someone please", Some(Request::Person)),
            (
                "um could you put me through to a real person",
                Some(Request::Person),
            ),
            ("can I leave a message", Some(Request::Message)),
            ("just have someone call me back", Some(Request::Message)),
            ("when is my appointment", Some(Request::Mine)),
            ("what are your hours", Some(Request::Hours)),
            ("are you open on Saturdays", Some(Request::Hours)),
            ("I can't make it on Tuesday", Some(Request::Cancel)),
            ("hello there", None),
        ];
        for (text, want) in cases {
            assert_eq!(req(text), want, "{text}");
        }
    }

    #[test]
    fn acts_follow_everyday_phrasing() {
        let n = normalize;
        assert!(
            is_yes(&n("yep, go ahead"))
                && is_yes(&n("that's right"))
                && is_yes(&n("Yes, cancel it"))
        );
        assert!(is_goodbye(&n("ok bye")) && !is_firm_yes(&n("ok bye")));
        assert!(is_firm_yes(&n("yes please, bye")));
        assert!(is_no(&n("no, keep it")) && !is_no(&n("yes")));
        assert!(is_correction(&n("make it 11, sorry, 11:30")));
        assert_eq!(small_talk(&n("What time is it?")), Some(SmallTalk::Time));
        assert_eq!(small_talk(&n("Thank you!")), Some(SmallTalk::Thanks));
        assert_eq!(small_talk(&n("I'd like a pizza")), None);
        assert_eq!(pick(&n("the second one")), Some(Pick::Nth(1)));
        assert_eq!(pick(&n("the last one please")), Some(Pick::Last));
        assert_eq!(pick(&n("the first")), Some(Pick::Nth(0)));
        assert_eq!(pick(&n("none of those work")), Some(Pick::None));
    }

    #[test]
    fn shifts_are_read_with_their_direction() {
        let s = |text: &str| {
            let n = normalize(text);
            let w: Vec<&str> = n.split(' ').collect();
            shift(&w)
        };
        assert_eq!(s("push my appointment back an hour"), Some(60));
        assert_eq!(s("can you bring it forward 30 minutes"), Some(-30));
        assert_eq!(s("make it half an hour later"), Some(30));
        assert_eq!(s("two hours earlier"), Some(-120));
        assert_eq!(s("tomorrow at 2"), None);
    }
}
