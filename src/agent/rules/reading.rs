//! One utterance, understood: the words ([`super::words`]), the day and
//! time ([`super::when`]), the name ([`super::names`]) and the dialogue
//! acts ([`super::acts`]), worked out once per turn. A move or a "cancel
//! this and book that" is split into the part naming the existing
//! appointment and the part naming the new time ("move my Tuesday
//! appointment | to the afternoon"). What the receptionist just asked is
//! applied by the dialogue ([`super::dialogue`]), which knows it; the only
//! context needed here is whether the name was asked for.

use chrono::NaiveDate;

use super::{
    acts::{self, Pick, Request, SmallTalk},
    names,
    when::{self, When},
    words,
};

/// What the caller said, understood.
#[derive(Debug, Clone, Default)]
pub struct Reading {
    /// The normalised words, space-separated.
    pub text: String,
    /// The day and time said (the last one, when several were).
    pub when: When,
    /// In a move: the day and time of the appointment being moved, when said.
    pub target: Option<When>,
    /// In a move: the new day and time, when said apart from the old.
    pub new: Option<When>,
    /// The caller's name, if given.
    pub name: Option<String>,
    /// The calendar request, if any.
    pub request: Option<Request>,
    /// A question needing no calendar.
    pub small_talk: Option<SmallTalk>,
    /// Agreement.
    pub yes: bool,
    /// Agreement beyond doubt.
    pub firm_yes: bool,
    /// Refusal.
    pub no: bool,
    /// A change of what was said before ("actually", "make it").
    pub correction: bool,
    /// A goodbye.
    pub goodbye: bool,
    /// "never mind".
    pub never_mind: bool,
    /// A choice among what was just listed.
    pub pick: Option<Pick>,
    /// Minutes to move an appointment by.
    pub shift: Option<i64>,
}

impl Reading {
    /// Whether the words ask for something (more than yes, no or goodbye).
    pub fn asks_something(&self) -> bool {
        self.request.is_some() || !self.when.is_empty() || self.shift.is_some()
    }
}

const MOVE_VERBS: &[&str] = &[
    "reschedule",
    "move",
    "moving",
    "change",
    "push",
    "bring",
    "postpone",
    "switch",
    "shift",
];

fn split_move(t: &[&str]) -> Option<(usize, usize)> {
    let verb = t.iter().position(|w| MOVE_VERBS.contains(w))?;
    let to = t[verb + 1..]
        .iter()
        .position(|w| matches!(*w, "to" | "for" | "until" | "till" | "til" | "into"))?
        + verb
        + 1;
    Some((to, to + 1))
}

/// "cancel the Monday one | and book me Thursday", "I can't make it
/// tomorrow | can we do Friday at 9 instead": the first place after which
/// the words so far ask to cancel.
fn split_replace(t: &[&str]) -> Option<(usize, usize)> {
    (1..t.len())
        .filter(|&i| {
            matches!(
                t[i],
                "and"
                    | "then"
                    | "but"
                    | "so"
                    | "can"
                    | "could"
                    | "how"
                    | "what"
                    | "maybe"
                    | "instead"
                    | "rebook"
                    | "book"
                    | "please"
            )
        })
        .find(|&i| acts::request(&t[..i].join(" ")) == Some(Request::Cancel))
        .map(|i| (i, i))
}

/// Words that join two requests in one breath.
fn is_joint(w: &str) -> bool {
    matches!(w, "and" | "also" | "then" | "but" | "plus")
}

/// One breath cut into its requests: "book tomorrow at 10 and also
/// Friday at 10" → two; "cancel the 10 o'clock but keep the 2 o'clock" →
/// one (what is kept needs nothing done). A "cancel this and book that
/// instead" stays whole: it is one move.
pub fn clauses(text: &str, today: NaiveDate) -> Vec<String> {
    let t: Vec<&str> = text.split(' ').filter(|w| !w.is_empty()).collect();
    if acts::request(text) == Some(Request::Replace) {
        return vec![text.to_owned()];
    }
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < t.len() {
        if !is_joint(t[i]) || i == start {
            i += 1;
            continue;
        }
        let mut j = i;
        while j < t.len() && is_joint(t[j]) {
            j += 1;
        }
        let (left, right) = (&t[start..i], &t[j..]);
        let right_text = right.join(" ");
        if matches!(right.first(), Some(&("keep" | "leave"))) {
            out.push(left.join(" "));
            return out;
        }
        let left_text = left.join(" ");
        let right_request = acts::request(&right_text);
        let left_request = acts::request(&left_text);
        let right_when = when::parse_words(right, today);
        let left_when = when::parse_words(left, today);
        let split = match (left_request, right_request) {
            (Some(_), Some(r)) if r != Request::Replace => true,
            (Some(Request::Book) | None, None) => {
                right_when.date.is_some() && left_when.date.is_some() && left_when.time.is_some()
            }
            _ => false,
        };
        if split {
            out.push(left_text);
            start = j;
        }
        i = j;
    }
    out.push(t[start..].join(" "));
    out
}

/// Understands `utterance`, said on `today`; `asked_name`: the receptionist
/// just asked for the caller's name.
pub fn read(utterance: &str, today: NaiveDate, asked_name: bool) -> Reading {
    read_normalized(words::normalize(utterance), today, asked_name)
}

/// [`read`] for words already normalised.
pub fn read_normalized(text: String, today: NaiveDate, asked_name: bool) -> Reading {
    let t: Vec<&str> = text.split(' ').filter(|w| !w.is_empty()).collect();
    let when = when::parse_words(&t, today);
    let request = acts::request(&text);
    let split = match request {
        Some(Request::Move) => split_move(&t),
        Some(Request::Replace) => split_replace(&t),
        _ => None,
    };
    let (target, new) = match split {
        Some((end, start)) => (
            Some(when::parse_words(&t[..end], today)),
            Some(when::parse_words(&t[start.min(t.len())..], today)),
        ),
        None => (None, None),
    };
    let shift = matches!(request, Some(Request::Move | Request::Replace) | None)
        .then(|| acts::shift(&t))
        .flatten();
    Reading {
        when,
        target,
        new,
        name: names::name(&t, asked_name),
        request,
        small_talk: acts::small_talk(&text),
        yes: acts::is_yes(&text),
        firm_yes: acts::is_firm_yes(&text),
        no: acts::is_no(&text),
        correction: acts::is_correction(&text),
        goodbye: acts::is_goodbye(&text),
        never_mind: acts::is_never_mind(&text),
        pick: acts::pick(&text),
        shift,
        text,
    }
}

#[cfg(test)]
mod tests {
    use chrono::NaiveTime;

    use super::*;

    fn monday() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 30).unwrap()
    }

    #[test]
    fn a_move_is_split_into_the_old_and_the_new_time() {
        let r = read(
            "move my Tuesday appointment to the afternoon",
            monday(),
            false,
        );
        assert_eq!(r.request, Some(Request::Move));
        assert_eq!(r.target.unwrap().date, NaiveDate::from_ymd_opt(2026, 12, 1));
        let new = r.new.unwrap();
        assert_eq!(
            (new.date, new.period),
            (None, Some(when::Period::Afternoon))
        );
        let r = read("can I move my 2 pm to 4 pm", monday(), false);
        assert_eq!(r.target.unwrap().time, NaiveTime::from_hms_opt(14, 0, 0));
        assert_eq!(r.new.unwrap().time, NaiveTime::from_hms_opt(16, 0, 0));
        let r = read(
            "cancel the Monday one and book me Thursday at 4 instead",
            monday(),
            false,
        );
        assert_eq!(r.request, Some(Request::Replace));
        assert_eq!(r.target.unwrap().date, NaiveDate::from_ymd_opt(2026, 12, 7));
        let new = r.new.unwrap();
        assert_eq!(new.date, NaiveDate::from_ymd_opt(2026, 12, 3));
        assert_eq!(new.time, NaiveTime::from_hms_opt(16, 0, 0));
    }

    #[test]
    fn one_breath_is_cut_into_its_requests() {
        let cut = |text: &str| clauses(&words::normalize(text), monday());
        assert_eq!(
            cut("hi i'd like to book tomorrow at 10 and also friday at 10 my name is grace hopper"),
            vec![
                "hi i'd like to book tomorrow at 10",
                "friday at 10 my name is grace hopper"
            ]
        );
        assert_eq!(
            cut("can you move my tuesday appointment to wednesday at 11 and cancel the friday one"),
            vec![
                "can you move my tuesday appointment to wednesday at 11",
                "cancel the friday one"
            ]
        );
        assert_eq!(
            cut("on thursday can you cancel the 10 o'clock but keep the 2 o'clock"),
            vec!["on thursday can you cancel the 10 oclock"]
        );
        assert_eq!(cut("tomorrow at 2 and my name is ada").len(), 1);
        assert_eq!(
            cut("cancel the monday one and book me thursday at 4 instead").len(),
            1
        );
    }

    #[test]
    fn a_name_is_only_a_name_where_it_can_be() {
        assert_eq!(read("sure", monday(), true).name, None);
        assert!(read("sure", monday(), true).yes);
        assert_eq!(
            read("It's Maria Gonzalez", monday(), true).name.as_deref(),
            Some("Maria Gonzalez")
        );
        let r = read("push my appointment back an hour", monday(), false);
        assert_eq!((r.request, r.shift), (Some(Request::Move), Some(60)));
    }
}
