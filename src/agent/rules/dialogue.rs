//! The receptionist's side of the conversation: booking, moving,
//! cancelling, saying what is booked and when the business is open, taking
//! a name, and confirming once before acting.
//!
//! Every turn reads the caller's words ([`Reading`]) as an answer to what
//! was asked last ([`Awaiting`]): after "may I have your name?" a "sure" is
//! not a name; after a list of times "the second one" or "10 works" picks
//! one; after "shall I book it?" a new time is a correction, not a second
//! booking; and right after a booking, "actually, make it 11" moves it.
//! When something is truly unclear — a day that could be two dates — it
//! asks one short question rather than guess. The calendar is reached only
//! through [`Desk`].

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime};

use super::{
    acts::{Pick, Request, SmallTalk},
    desk::{Desk, Trouble},
    memory::{Awaiting, Flow, Held, Memory},
    phrasing::{list_alternatives, list_times, spoken, spread},
    reading::Reading,
    when::When,
};
use crate::{
    agent::{Reply, speech},
    calendar::Refusal,
};

const CALENDAR_DOWN: &str =
    "I'm sorry, I can't reach the calendar right now. Please try again in a few minutes.";
const GONE: &str =
    "I'm sorry, I can't find that appointment any more; it may have been cancelled already.";
const ANYTHING_ELSE: &str = "Is there anything else I can help you with?";

/// One conversation turn's worth of the receptionist.
pub struct Dialogue<'a> {
    /// The business, for greetings and goodbyes.
    pub business_name: &'a str,
    /// The calendar.
    pub desk: Desk<'a>,
    /// Now, local (for the time and date questions).
    pub now: NaiveDateTime,
}

fn trouble_text(t: &Trouble) -> &'static str {
    match t {
        Trouble::Gone => GONE,
        Trouble::Limit => {
            "I'm sorry, I can't make any more changes on this call. \
             Please call us again, or I can pass a message on. Is there anything else?"
        }
        _ => CALENDAR_DOWN,
    }
}

/// Whether `r` names a different appointment or time than what is pending.
fn changes(r: &Reading, flow: Option<Flow>) -> bool {
    let other_request = match (r.request, flow) {
        (None | Some(Request::Mine | Request::Hours), _) => false,
        (Some(Request::Book), Some(Flow::Book)) => false,
        (Some(Request::Move | Request::Replace), Some(Flow::Move | Flow::Book)) => {
            !r.when.is_empty() || r.shift.is_some()
        }
        (Some(Request::Cancel), Some(Flow::Cancel)) => false,
        _ => true,
    };
    !r.when.is_empty() || r.shift.is_some() || other_request
}

/// "it", "that": the caller refers to what was just discussed.
fn refers_back(r: &Reading) -> bool {
    r.text
        .split(' ')
        .any(|w| matches!(w, "it" | "that" | "this"))
        && !super::words::any(
            &r.text,
            &["my appointment", "my booking", "appointment on", "one on"],
        )
}

impl Dialogue<'_> {
    fn goodbye(&self) -> String {
        format!(
            "Thank you for calling {}. Have a great day. Goodbye!",
            self.business_name
        )
    }

    fn small_talk(&self, talk: Option<SmallTalk>, mem: &mut Memory) -> Reply {
        let text = match talk {
            Some(SmallTalk::Time) => format!(
                "It's {} here. Is there anything else I can help you with?",
                speech::time(self.now.time())
            ),
            Some(SmallTalk::Date) => format!(
                "Today is {}. Anything else I can do for you?",
                speech::date(self.now.date())
            ),
            Some(SmallTalk::Help) => format!(
                "I'm the receptionist for {}. I can book, move or cancel an appointment, \
                 tell you when we have free times, and tell you the time and date. What would you like to do?",
                self.business_name
            ),
            Some(SmallTalk::Thanks) => {
                mem.awaiting = Some(Awaiting::AnythingElse);
                "You're welcome! Is there anything else?".into()
            }
            Some(SmallTalk::Greeting) => "Hello! How can I help you today?".into(),
            None => "Sorry, I didn't quite get that. I can book, move or cancel an appointment, \
                     or tell you our free times. What would you like?"
                .into(),
        };
        Reply::say(text)
    }

    fn hours(&self) -> String {
        let (opens, closes) = self.desk.hours();
        format!(
            "We're open Monday to Friday, from {} to {}, and closed on weekends.",
            speech::time(opens),
            speech::time(closes)
        )
    }

    /// What to ask again when the caller's words did not answer.
    fn reprompt(&self, mem: &mut Memory, awaiting: Option<Awaiting>) -> Option<String> {
        let text = match awaiting? {
            Awaiting::Name => {
                "Sorry, I didn't catch your name. What name should I put the appointment under?"
                    .to_owned()
            }
            Awaiting::Confirm => "Sorry, shall I go ahead? Please say yes or no.".to_owned(),
            Awaiting::When => "What day and time would suit you?".to_owned(),
            Awaiting::Offer if !mem.offered.is_empty() => format!(
                "Which would suit you: {}?",
                list_alternatives(&mem.offered, mem.date)
            ),
            Awaiting::Choice if !mem.candidates.is_empty() => {
                let starts: Vec<NaiveDateTime> = mem.candidates.iter().map(|c| c.1).collect();
                format!(
                    "Which appointment do you mean: {}?",
                    list_times(&starts, true, "or")
                )
            }
            Awaiting::Day if mem.day_choices.len() == 2 => format!(
                "Do you mean {} or {}?",
                speech::date(mem.day_choices[0]),
                speech::date(mem.day_choices[1])
            ),
            _ => return None,
        };
        mem.awaiting = awaiting;
        Some(text)
    }

    /// One turn.
    pub async fn respond(&self, r: &Reading, mem: &mut Memory) -> Reply {
        let awaiting = mem.awaiting.take();
        let asks = r.asks_something();

        // Goodbyes. A firm yes to a pending action still does it first.
        if r.goodbye && !asks {
            if awaiting == Some(Awaiting::Confirm) && r.firm_yes && !r.no {
                let done = self.execute(mem).await;
                mem.restart(None);
                return Reply::goodbye(format!("{done} {}", self.goodbye()));
            }
            *mem = Memory::default();
            return Reply::goodbye(self.goodbye());
        }
        if matches!(awaiting, Some(Awaiting::AnythingElse | Awaiting::OfferBook))
            && r.no
            && !asks
            && r.name.is_none()
        {
            mem.restart(None);
            return Reply::goodbye(self.goodbye());
        }
        if r.never_mind && !asks {
            mem.restart(None);
            mem.queue.clear();
            mem.awaiting = Some(Awaiting::AnythingElse);
            return Reply::say(
                "No problem, I've left everything as it was. Is there anything else?",
            );
        }

        // A person, or a message for the business.
        if r.request == Some(Request::Person) {
            if self.desk.transfer().await {
                mem.restart(None);
                return Reply::transfer(
                    "Of course. Let me put you through to someone. One moment, please.",
                );
            }
            mem.awaiting = Some(Awaiting::Message);
            return Reply::say(
                "I'm sorry, nobody can come to the phone right now. I can take a message \
                 and have someone call you back. What would you like me to pass on?",
            );
        }
        if r.request == Some(Request::Message) {
            mem.awaiting = Some(Awaiting::Message);
            return Reply::say("Of course. What would you like me to pass on?");
        }
        if awaiting == Some(Awaiting::Message) && !r.text.is_empty() {
            mem.message = Some(r.text.clone());
            if let Some(n) = &r.name {
                mem.name = Some(n.clone());
            }
            return Reply::say(self.leave_message(mem).await);
        }
        if awaiting == Some(Awaiting::MessageName) {
            match &r.name {
                Some(n) => {
                    mem.name = Some(n.clone());
                    return Reply::say(self.leave_message(mem).await);
                }
                None => {
                    mem.awaiting = Some(Awaiting::MessageName);
                    return Reply::say("Sorry, who should I say the message is from?");
                }
            }
        }

        // Questions that leave what is in progress as it is.
        if matches!(r.request, Some(Request::Mine | Request::Hours)) {
            let mut text = match r.request {
                Some(Request::Mine) => self.tell_mine(mem).await,
                _ => self.hours(),
            };
            match self.reprompt(mem, awaiting) {
                Some(again) if mem.busy() => text = format!("{text} {again}"),
                _ => {
                    if mem.busy() {
                        mem.awaiting = awaiting;
                    } else {
                        text.push_str(" Is there anything else I can help you with?");
                        mem.awaiting = Some(Awaiting::AnythingElse);
                    }
                }
            }
            return Reply::say(text);
        }

        let changed = changes(r, mem.flow);
        let name_news = r.name.is_some() && r.name != mem.name;
        if let Some(n) = &r.name {
            mem.name = Some(n.clone());
        }
        match awaiting {
            Some(Awaiting::Confirm) if !changed => {
                if r.yes && !r.no {
                    return Reply::say(self.execute(mem).await);
                }
                if r.no {
                    return Reply::say(self.declined(mem));
                }
                if !name_news {
                    return Reply::say(
                        self.reprompt(mem, awaiting)
                            .unwrap_or_else(|| "Shall I go ahead?".into()),
                    );
                }
            }
            Some(Awaiting::Name) if r.name.is_none() && !changed => {
                mem.awaiting = Some(Awaiting::Name);
                if r.yes {
                    return Reply::say("Great. What name should I put the appointment under?");
                }
                if r.no || r.text.is_empty() {
                    return Reply::say(
                        "I need a name to book the appointment. What name should I put it under?",
                    );
                }
                return Reply::say(
                    "Sorry, I didn't catch your name. What name should I put the appointment under?",
                );
            }
            Some(Awaiting::AnythingElse) if r.yes && !asks && r.name.is_none() => {
                return Reply::say("Sure, what else can I do for you?");
            }
            Some(Awaiting::OfferBook) if r.yes && !asks => {
                mem.restart(Some(Flow::Book));
                mem.awaiting = Some(Awaiting::When);
                return Reply::say("Sure. What day and time would you like?");
            }
            Some(Awaiting::Offer) if r.pick == Some(Pick::None) || (r.no && !changed) => {
                mem.offered.clear();
                mem.time = None;
                mem.wanted = None;
                mem.awaiting = Some(Awaiting::When);
                return Reply::say("No problem. What day and time would suit you better?");
            }
            Some(Awaiting::Offer) if r.yes && !changed && r.pick.is_none() => {
                if let [only] = mem.offered[..] {
                    mem.date = Some(only.date());
                    mem.time = Some(only.time());
                } else if let Some(again) = self.reprompt(mem, awaiting) {
                    return Reply::say(again);
                }
            }
            _ => {}
        }

        // Right after a booking (or after hearing about an appointment), a
        // new time or a shift is a change of it, not a second booking.
        let another = super::words::any(
            &r.text,
            &[
                "also",
                "another",
                "as well",
                "too",
                "2nd appointment",
                "new appointment",
                "for my",
            ],
        );
        let corrects_last = mem.flow.is_none()
            && mem.last.is_some()
            && !another
            && matches!(r.request, None | Some(Request::Book | Request::Move))
            && ((r.correction && !r.when.is_empty()) || r.shift.is_some());
        if corrects_last {
            let last = mem.last.clone();
            mem.restart(Some(Flow::Move));
            mem.target = last;
        }
        // What the caller asks for now.
        match r.request {
            Some(Request::Book | Request::Move) if corrects_last => {}
            Some(Request::Book) if mem.flow != Some(Flow::Book) => mem.restart(Some(Flow::Book)),
            Some(Request::Move) if mem.flow == Some(Flow::Book) && mem.date.is_some() => {
                // "can we change it to 3" before booking: a correction.
            }
            Some(Request::Move) if mem.flow != Some(Flow::Move) => {
                let back = mem.last.clone().filter(|_| refers_back(r));
                mem.restart(Some(Flow::Move));
                mem.target = back;
            }
            Some(Request::Replace) => {
                mem.restart(Some(Flow::Move));
            }
            Some(Request::Cancel) if mem.flow == Some(Flow::Book) && refers_back(r) => {
                mem.restart(None);
                mem.awaiting = Some(Awaiting::AnythingElse);
                return Reply::say("No problem, I won't book it. Is there anything else?");
            }
            Some(Request::Cancel) if mem.flow != Some(Flow::Cancel) => {
                let back = mem.last.clone().filter(|_| refers_back(r));
                mem.restart(Some(Flow::Cancel));
                mem.target = back;
            }
            _ => {}
        }
        if mem.flow.is_none() && r.shift.is_some() {
            mem.restart(Some(Flow::Move));
        }
        if mem.flow.is_none() {
            let asks_clock = matches!(r.small_talk, Some(SmallTalk::Time | SmallTalk::Date));
            if !asks_clock && !r.when.is_empty() {
                mem.restart(Some(Flow::Book));
            } else if name_news && r.small_talk.is_none() {
                mem.awaiting = Some(Awaiting::AnythingElse);
                let n = mem.name.clone().unwrap_or_default();
                return Reply::say(format!("Nice to meet you, {n}. How can I help you today?"));
            } else {
                return self.small_talk(r.small_talk, mem);
            }
        }

        let text = match mem.flow {
            Some(Flow::Book) => {
                let w = r.new.clone().unwrap_or_else(|| r.when.clone());
                match self.take_when(&r.text, &w, r.pick, awaiting, mem) {
                    Some(question) => question,
                    None => self.step_book(mem).await,
                }
            }
            Some(flow) => self.step_existing(flow, r, awaiting, mem).await,
            None => return self.small_talk(r.small_talk, mem),
        };
        Reply::say(text)
    }

    /// Takes the day and time said into memory, reading a choice among
    /// the offered times. Returns a question when the day is unclear.
    fn take_when(
        &self,
        text: &str,
        w: &When,
        pick: Option<Pick>,
        awaiting: Option<Awaiting>,
        mem: &mut Memory,
    ) -> Option<String> {
        // Which of two dates ("this Friday or next?").
        if awaiting == Some(Awaiting::Day) && mem.day_choices.len() == 2 {
            let choices = std::mem::take(&mut mem.day_choices);
            let has = |p: &str| super::words::has_phrase(text, p);
            let later = has("next week") || has("following") || has("later") || has("2nd");
            let sooner = has("this week") || has("this one") || has("this coming") || has("sooner");
            let chosen = match (w.date, pick) {
                (Some(d), _) if choices.contains(&d) => Some(d),
                (Some(d), _) if d.iso_week() == choices[1].iso_week() => Some(choices[1]),
                (Some(d), _) if d.iso_week() == choices[0].iso_week() => Some(choices[0]),
                (Some(d), _) => Some(d),
                (None, _) if later => Some(choices[1]),
                (None, _) if sooner => Some(choices[0]),
                (None, Some(Pick::Nth(0))) => Some(choices[0]),
                (None, Some(Pick::Last | Pick::Nth(1))) => Some(choices[1]),
                _ => None,
            };
            match chosen {
                Some(d) if w.choices.is_empty() => {
                    mem.date = Some(d);
                    mem.period = w.period.or(mem.period);
                    if let Some(t) = w.time {
                        mem.time = Some(t);
                        mem.wanted = Some(t);
                    }
                    return None;
                }
                _ => mem.day_choices = choices,
            }
        }
        if !w.choices.is_empty() {
            mem.day_choices.clone_from(&w.choices);
            if let Some(t) = w.time {
                mem.time = Some(t);
                mem.wanted = Some(t);
            }
            if w.period.is_some() {
                mem.period = w.period;
            }
            mem.awaiting = Some(Awaiting::Day);
            return Some(format!(
                "Just to be sure: do you mean {} or {}?",
                speech::date(w.choices[0]),
                speech::date(w.choices[1])
            ));
        }
        if !mem.day_choices.is_empty() && awaiting == Some(Awaiting::Day) {
            mem.awaiting = Some(Awaiting::Day);
            return Some(format!(
                "Sorry, which day: {} or {}?",
                speech::date(mem.day_choices[0]),
                speech::date(mem.day_choices[1])
            ));
        }
        if w.unclear_day {
            mem.awaiting = Some(Awaiting::When);
            mem.date = None;
            if let Some(t) = w.time {
                mem.time = Some(t);
                mem.wanted = Some(t);
            }
            return Some(
                "Sorry, I want to get the day right: that date and weekday don't match. Which date would you like?"
                    .into(),
            );
        }
        // "Wednesday" while talking about a day of next week: that week's.
        let mut w = w.clone();
        if let (Some(wd), Some(said)) = (w.weekday, w.date)
            && let Some(talked) = mem.date
            && talked.iso_week() != said.iso_week()
            && talked.iso_week() != self.desk.today().iso_week()
        {
            let monday =
                talked - Duration::days(i64::from(talked.weekday().num_days_from_monday()));
            let same_week = monday + Duration::days(i64::from(wd.num_days_from_monday()));
            if same_week >= self.desk.today() {
                w.date = Some(same_week);
            }
        }
        let w = &w;
        // A choice among offered times.
        if !mem.offered.is_empty() {
            let chosen = match pick {
                Some(Pick::Nth(i)) if w.time.is_none() => mem.offered.get(i).copied(),
                Some(Pick::Last) if w.time.is_none() => mem.offered.last().copied(),
                _ => None,
            }
            .or_else(|| {
                let time = w.time?;
                let flipped = time + Duration::hours(12);
                let on_day = |o: &&NaiveDateTime| w.date.is_none_or(|d| o.date() == d);
                mem.offered
                    .iter()
                    .filter(on_day)
                    .find(|o| o.time() == time)
                    .or_else(|| {
                        mem.offered
                            .iter()
                            .filter(on_day)
                            .find(|o| w.guessed_meridiem && o.time() == flipped)
                    })
                    .copied()
            });
            if let Some(o) = chosen {
                mem.date = Some(o.date());
                mem.time = Some(o.time());
                mem.wanted = Some(o.time());
                mem.period = None;
                return None;
            }
        }
        apply_when(mem, w);
        None
    }

    /// Says the day and time back for the name or the confirmation, or
    /// what is needed to get there.
    async fn step_book(&self, mem: &mut Memory) -> String {
        let question = "Sure, I can book that. What day and time would you like?".to_owned();
        let start = match self.wanted_start(question, None, mem).await {
            Ok(start) => start,
            Err(say) => return say,
        };
        match &mem.name {
            None => {
                mem.awaiting = Some(Awaiting::Name);
                format!("{} is free. May I have your name, please?", spoken(start))
            }
            Some(name) => {
                mem.awaiting = Some(Awaiting::Confirm);
                format!("{} for {name}. Shall I book it?", spoken(start))
            }
        }
    }

    /// The first day from today on which `time` (or part of the day) is
    /// still ahead and the business is open.
    fn day_for(&self, time: Option<NaiveTime>) -> NaiveDate {
        let now = self.desk.now();
        let (_, closes) = self.desk.hours();
        let mut d = now.date();
        for _ in 0..8 {
            let ahead = match time {
                Some(t) => d.and_time(t) > now,
                None => d.and_time(closes) > now + Duration::minutes(30),
            };
            if self.desk.is_open_on(d) && ahead {
                return d;
            }
            d += Duration::days(1);
        }
        d
    }

    /// The free start the caller asked for, or what to say instead:
    /// `question` when no day or time is known yet, the free times of a
    /// day given without a time, or the nearest free times when the time
    /// cannot be had (`current`, an appointment being moved, is not offered).
    async fn wanted_start(
        &self,
        question: String,
        current: Option<NaiveDateTime>,
        mem: &mut Memory,
    ) -> Result<NaiveDateTime, String> {
        let date = match (mem.date, mem.time, mem.period) {
            (Some(d), _, _) => d,
            (None, Some(time), _) => {
                let d = self.day_for(Some(time));
                mem.date = Some(d);
                d
            }
            (None, None, Some(_)) => {
                let d = self.day_for(None);
                mem.date = Some(d);
                d
            }
            (None, None, None) => {
                mem.awaiting = Some(Awaiting::When);
                return Err(question);
            }
        };
        let time = match mem.time {
            Some(t) => t,
            None => {
                let slots = match self.desk.free(date).await {
                    Ok(v) => v.unwrap_or_default(),
                    Err(t) => return Err(trouble_text(&t).into()),
                };
                let fitting: Vec<NaiveDateTime> = slots
                    .into_iter()
                    .filter(|t| mem.period.is_none_or(|p| p.contains(t.time())))
                    .filter(|t| Some(*t) != current)
                    .collect();
                match mem.period.and_then(|p| p.exact(&fitting)) {
                    Some(t) => {
                        mem.time = Some(t.time());
                        t.time()
                    }
                    None => return Err(self.offer_day(date, fitting, mem).await),
                }
            }
        };
        let start = date.and_time(time);
        match self.desk.check(start).await {
            Ok(()) => Ok(start),
            Err(Trouble::Refused(refusal, alternatives)) => {
                let alternatives = alternatives
                    .into_iter()
                    .filter(|t| Some(*t) != current)
                    .collect();
                Err(offer_instead(mem, start, refusal, alternatives, false))
            }
            Err(t) => Err(trouble_text(&t).into()),
        }
    }

    /// Offers free times on `date` (`fitting`: those in the part of the
    /// day wanted), or the nearest other ones.
    async fn offer_day(
        &self,
        date: NaiveDate,
        fitting: Vec<NaiveDateTime>,
        mem: &mut Memory,
    ) -> String {
        let part = mem.period.map(|p| p.words()).unwrap_or_default();
        if !fitting.is_empty() {
            let late = mem.period.is_some_and(|p| p.prefers_late());
            mem.offered = if late && fitting.len() > 3 {
                fitting[fitting.len() - 3..].to_vec()
            } else {
                spread(&fitting, 3)
            };
            mem.awaiting = Some(Awaiting::Offer);
            return format!(
                "On {}{part} I have {} free. Which would suit you?",
                speech::date(date),
                list_times(&mem.offered, false, "or")
            );
        }
        let (opens, _) = self.desk.hours();
        let from = date.and_time(match mem.period {
            Some(p) if !p.contains(opens) => NaiveTime::from_hms_opt(12, 0, 0).unwrap_or(opens),
            _ => opens,
        });
        let alternatives = match self.desk.nearest_free(from).await {
            Ok(v) => v,
            Err(t) => return trouble_text(&t).into(),
        };
        let day = speech::date(date);
        let why = if date < self.desk.today() {
            format!("{day} has passed")
        } else if !self.desk.is_open_on(date) {
            format!("we're closed on {day}")
        } else if let Ok(Err(Refusal::TooFarAhead)) = self.desk.free(date).await {
            format!("{day} is further ahead than we take bookings")
        } else {
            format!("nothing is free on {day}{part}")
        };
        if alternatives.is_empty() {
            mem.awaiting = Some(Awaiting::When);
            return format!("I'm sorry, {why}, and I have nothing free in the next two weeks.");
        }
        mem.offered.clone_from(&alternatives);
        mem.awaiting = Some(Awaiting::Offer);
        mem.date = None;
        format!(
            "I'm sorry, {why}. The nearest free times are {}. Would one of those work?",
            list_alternatives(&alternatives, None)
        )
    }

    /// Picks the appointment to move or cancel, then asks or confirms.
    async fn step_existing(
        &self,
        flow: Flow,
        r: &Reading,
        awaiting: Option<Awaiting>,
        mem: &mut Memory,
    ) -> String {
        let verb = if flow == Flow::Cancel {
            "cancel"
        } else {
            "move"
        };
        let mut new_when = r.new.clone().unwrap_or_else(|| r.when.clone());
        if mem.target.is_none() {
            if mem.candidates.is_empty() {
                let mine = match self.desk.mine().await {
                    Ok(v) => v,
                    Err(t) => return trouble_text(&t).into(),
                };
                if mine.is_empty() {
                    mem.restart(None);
                    mem.awaiting = Some(Awaiting::OfferBook);
                    return "I couldn't find an upcoming appointment booked from this phone number. \
                            Would you like to book a new one?"
                        .into();
                }
                mem.candidates = mine;
            }
            let every = super::words::any(
                &r.text,
                &[
                    "both",
                    "all my appointments",
                    "all of them",
                    "all of my",
                    "all my bookings",
                    "all 2",
                    "both of them",
                ],
            );
            if flow == Flow::Cancel && every && mem.candidates.len() > 1 {
                mem.all = true;
                mem.awaiting = Some(Awaiting::Confirm);
                let starts: Vec<NaiveDateTime> = mem.candidates.iter().map(|c| c.1).collect();
                return format!(
                    "Just to confirm: cancel all {} of your appointments, on {}?",
                    starts.len(),
                    list_times(&starts, true, "and")
                );
            }
            let said = r.target.clone().unwrap_or_else(|| r.when.clone());
            let (chosen, identified) = choose(&mem.candidates, &said, r.pick);
            let chosen =
                chosen.or_else(|| (mem.candidates.len() == 1).then(|| mem.candidates[0].clone()));
            let Some(chosen) = chosen else {
                mem.awaiting = Some(Awaiting::Choice);
                let starts: Vec<NaiveDateTime> = mem.candidates.iter().map(|c| c.1).collect();
                return format!(
                    "You have appointments on {}. Which one would you like to {verb}?",
                    list_times(&starts, true, "or")
                );
            };
            // Words that picked the appointment are not its new time.
            if identified && r.new.is_none() {
                new_when = When::default();
            }
            mem.target = Some(chosen);
            mem.candidates.clear();
        } else if awaiting == Some(Awaiting::Choice) {
            new_when = When::default();
        }
        let (_, current) = mem.target.clone().expect("chosen above");
        if flow == Flow::Cancel {
            mem.awaiting = Some(Awaiting::Confirm);
            return format!(
                "Just to confirm: cancel your appointment on {}?",
                spoken(current)
            );
        }
        if let Some(minutes) = r.shift {
            let moved = current + Duration::minutes(minutes);
            mem.date = Some(moved.date());
            mem.time = Some(moved.time());
            mem.period = None;
        } else if let Some(q) = self.take_when(&r.text, &new_when, r.pick, awaiting, mem) {
            return q;
        }
        // A new time without a day is on the same day; a new day without
        // a time keeps the time.
        if mem.date.is_none() && (mem.time.is_some() || mem.period.is_some()) {
            mem.date = Some(current.date());
        }
        if mem.date.is_some() && mem.time.is_none() && mem.period.is_none() {
            mem.time = Some(current.time());
        }
        let question = format!(
            "Your appointment is on {}. When would you like to move it to?",
            spoken(current)
        );
        let start = match self.wanted_start(question, Some(current), mem).await {
            Ok(start) => start,
            Err(say) => return say,
        };
        if start == current {
            mem.date = None;
            mem.time = None;
            mem.awaiting = Some(Awaiting::When);
            return format!(
                "Your appointment is already on {}. When would you like to move it to?",
                spoken(current)
            );
        }
        mem.awaiting = Some(Awaiting::Confirm);
        format!(
            "Move your appointment from {} to {}. Shall I do that?",
            spoken(current),
            spoken(start)
        )
    }

    fn declined(&self, mem: &mut Memory) -> String {
        match mem.flow {
            Some(Flow::Cancel) => {
                mem.restart(None);
                mem.awaiting = Some(Awaiting::AnythingElse);
                "All right, I'll keep your appointment as it is. Is there anything else?".into()
            }
            _ => {
                mem.time = None;
                mem.wanted = None;
                mem.period = None;
                mem.offered.clear();
                mem.awaiting = Some(Awaiting::When);
                "No problem. What day and time would suit you better?".into()
            }
        }
    }

    /// Does what the caller just confirmed.
    async fn execute(&self, mem: &mut Memory) -> String {
        let name = mem.name.clone().unwrap_or_default();
        let start = mem.date.zip(mem.time).map(|(d, t)| d.and_time(t));
        let finish = |mem: &mut Memory, last: Option<Held>| {
            mem.restart(None);
            mem.last = last;
            mem.awaiting = Some(Awaiting::AnythingElse);
        };
        match (mem.flow, start, mem.target.clone()) {
            (Some(Flow::Book), Some(start), _) => match self.desk.book(start, &name).await {
                Ok(id) => {
                    finish(mem, Some((id, start)));
                    format!("You're all set, {name}: {}. {ANYTHING_ELSE}", spoken(start))
                }
                Err(Trouble::Refused(refusal, alternatives)) => {
                    offer_instead(mem, start, refusal, alternatives, true)
                }
                Err(t) => trouble_text(&t).into(),
            },
            (Some(Flow::Move), Some(start), Some((id, _))) => {
                match self.desk.reschedule(&id, start).await {
                    Ok(id) => {
                        finish(mem, Some((id, start)));
                        format!(
                            "Done. Your appointment is now on {}. Anything else?",
                            spoken(start)
                        )
                    }
                    Err(Trouble::Refused(refusal, alternatives)) => {
                        offer_instead(mem, start, refusal, alternatives, true)
                    }
                    Err(t) => {
                        if t == Trouble::Gone {
                            mem.restart(None);
                        }
                        trouble_text(&t).into()
                    }
                }
            }
            (Some(Flow::Cancel), _, None) if mem.all && !mem.candidates.is_empty() => {
                // One change per turn: cancel the first, then ask about the next.
                let (id, start) = mem.candidates.remove(0);
                match self.desk.cancel(&id).await {
                    Ok(()) | Err(Trouble::Gone) => {}
                    Err(t) => return trouble_text(&t).into(),
                }
                let done = format!("Your appointment on {} is cancelled.", spoken(start));
                match mem.candidates.first().cloned() {
                    Some((_, next)) => {
                        mem.awaiting = Some(Awaiting::Confirm);
                        format!(
                            "{done} And shall I cancel your appointment on {} as well?",
                            spoken(next)
                        )
                    }
                    None => {
                        finish(mem, None);
                        format!("{done} Is there anything else?")
                    }
                }
            }
            (Some(Flow::Cancel), _, Some((id, current))) => match self.desk.cancel(&id).await {
                Ok(()) => {
                    let last = mem.last.clone().filter(|(l, _)| *l != id);
                    finish(mem, last);
                    format!(
                        "Your appointment on {} is cancelled. Is there anything else?",
                        spoken(current)
                    )
                }
                Err(t) => {
                    if t == Trouble::Gone {
                        mem.restart(None);
                    }
                    trouble_text(&t).into()
                }
            },
            _ => {
                mem.restart(None);
                "Sorry, I lost track of that. What would you like to do?".into()
            }
        }
    }

    /// Keeps the waiting message once the caller's name is known.
    async fn leave_message(&self, mem: &mut Memory) -> String {
        let Some(name) = mem.name.clone() else {
            mem.awaiting = Some(Awaiting::MessageName);
            return "Got it. And who should I say the message is from?".into();
        };
        let message = mem.message.take().unwrap_or_default();
        mem.awaiting = Some(Awaiting::AnythingElse);
        match self.desk.take_message(&name, &message).await {
            Ok(callback) if !callback.is_empty() => format!(
                "Thank you, {name}. I'll pass that on, and someone will call you back at {callback}. \
                 Is there anything else I can help you with?"
            ),
            Ok(_) => format!("Thank you, {name}. I'll pass that on. Is there anything else?"),
            Err(None) => {
                mem.awaiting = None;
                "I'm sorry, your number isn't showing on my end, so I can't take a message for a \
                 call back on this call. Please call us again from your own phone, or is there \
                 anything else I can help with?"
                    .into()
            }
            Err(Some(t)) => trouble_text(&t).into(),
        }
    }

    async fn tell_mine(&self, mem: &mut Memory) -> String {
        match self.desk.mine().await {
            Ok(mine) if !mine.is_empty() => {
                if let [one] = &mine[..]
                    && mem.flow.is_none()
                {
                    mem.last = Some(one.clone());
                }
                let starts: Vec<NaiveDateTime> = mine.iter().map(|a| a.1).collect();
                let many = if starts.len() == 1 {
                    "an appointment"
                } else {
                    "appointments"
                };
                format!("You have {many} on {}.", list_times(&starts, true, "and"))
            }
            Ok(_) => "I don't see any upcoming appointments for this phone number.".into(),
            Err(t) => trouble_text(&t).into(),
        }
    }
}

/// The appointment among `candidates` that `said` or `pick` names, and
/// whether the words named it (rather than it being the only one).
fn choose(candidates: &[Held], said: &When, pick: Option<Pick>) -> (Option<Held>, bool) {
    let says_something = said.date.is_some()
        || said.time.is_some()
        || said.weekday.is_some()
        || said.period.is_some()
        || !said.choices.is_empty();
    let matching: Vec<&Held> = candidates
        .iter()
        .filter(|(_, start)| {
            let day_ok = said.date.is_none_or(|d| d == start.date())
                || said.weekday.is_some_and(|wd| start.weekday() == wd)
                || said.choices.contains(&start.date());
            let time_ok = said.time.is_none_or(|t| {
                t == start.time()
                    || (said.guessed_meridiem && t + Duration::hours(12) == start.time())
            });
            let part_ok = said.period.is_none_or(|p| p.contains(start.time()));
            day_ok && time_ok && part_ok
        })
        .collect();
    let pool: Vec<&Held> = if says_something {
        matching
    } else {
        candidates.iter().collect()
    };
    let picked = match pick {
        Some(Pick::Nth(i)) => pool.get(i).copied(),
        Some(Pick::Last) => pool.last().copied(),
        _ => None,
    };
    if let Some(p) = picked {
        return (Some(p.clone()), true);
    }
    match pool.as_slice() {
        [one] if says_something => (Some((*one).clone()), true),
        _ => (None, false),
    }
}

/// Takes what the caller said about the day and time into the memory: a
/// new day keeps the time asked for before ("what about Thursday?").
pub fn apply_when(mem: &mut Memory, w: &When) {
    if let Some(d) = w.date {
        mem.date = Some(d);
        if w.time.is_none() && w.period.is_none() {
            mem.time = mem.wanted;
        }
    }
    if let Some(time) = w.time {
        mem.time = Some(time);
        mem.wanted = Some(time);
        mem.period = None;
    } else if w.period.is_some() {
        mem.time = None;
        mem.wanted = None;
        mem.period = w.period;
    }
    if w.date.is_some() || w.time.is_some() || w.period.is_some() {
        mem.offered.clear();
    }
}

/// Says why `start` cannot be had and offers `alternatives` (remembered
/// for "the first one"), or asks for another day when there are none.
/// `raced`: the time was free when offered and someone took it since.
fn offer_instead(
    mem: &mut Memory,
    start: NaiveDateTime,
    refusal: Refusal,
    alternatives: Vec<NaiveDateTime>,
    raced: bool,
) -> String {
    // A problem with the day keeps the time wanted; one with the time keeps the day.
    match refusal {
        Refusal::Weekend | Refusal::InPast => mem.date = None,
        Refusal::Taken => mem.time = None,
        Refusal::TooFarAhead => {
            mem.date = None;
            mem.time = None;
            mem.wanted = None;
        }
        Refusal::OutsideHours | Refusal::NonexistentTime | Refusal::OffGrid => {
            mem.time = None;
            mem.wanted = None;
        }
    }
    mem.period = None;
    let spoken_start = spoken(start);
    let spoken_start = if raced {
        format!("{spoken_start} was just taken")
    } else {
        spoken_start
    };
    let text = if alternatives.is_empty() {
        mem.awaiting = Some(Awaiting::When);
        format!(
            "I'm sorry, {spoken_start} is not possible: {}. What other day would work?",
            refusal.explain()
        )
    } else {
        mem.awaiting = Some(Awaiting::Offer);
        format!(
            "I'm sorry, {spoken_start}: {}. I could do {} instead. Would one of those work?",
            refusal.explain(),
            list_alternatives(&alternatives, Some(start.date()))
        )
    };
    mem.offered = alternatives;
    text
}
