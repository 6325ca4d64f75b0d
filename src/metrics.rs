//! Prometheus metrics: one registry, its typed families, and the few
//! functions the rest of the code calls where things happen.
//!
//! Everything is registered once in [`Metrics::new`], and every label set
//! a hot path uses is looked up there too: recording a turn, a hold or a
//! booking is an atomic add on a handle kept in an array (a histogram
//! observation takes its own short, uncontended lock), with no label
//! hashing and no allocation. The number of live calls is not tracked as
//! it changes; [`Metrics::encode`] is handed the session store's count at
//! scrape time, so the gauge cannot drift.
//!
//! What this module must not do: know about HTTP or sessions. It only
//! counts what it is told and writes the Prometheus text format.

use std::{fmt::Write as _, time::Duration};

use prometheus_client::{
    encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder, prometheus_text},
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

use crate::{config::AgentKind, ledger::Traced};

/// Latency buckets in seconds: a millisecond (the built-in agent) up to
/// Twilio's 15-second webhook limit.
const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0,
];

/// A label value: a fixed set of variants, each written as its name.
macro_rules! label_values {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal,)+ }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)+
        }

        impl $name {
            /// Every value, in declaration order (the handles' order).
            pub const ALL: [Self; [$($text),+].len()] = [$(Self::$variant),+];

            /// The label value.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)+
                }
            }
        }

        impl EncodeLabelValue for $name {
            fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> std::fmt::Result {
                encoder.write_str(self.as_str())
            }
        }
    };
}

label_values!(
    /// How a caller turn ended.
    TurnOutcome {
        /// The agent answered and the call goes on.
        Replied = "replied",
        /// The agent answered and ended the call.
        EndedCall = "ended_call",
        /// The agent failed or ran out of time; the caller heard an apology.
        Failed = "failed",
    }
);

label_values!(
    /// What a speech webhook answered.
    Answer {
        /// The agent's reply.
        Reply = "reply",
        /// A holding phrase and a redirect (the reply was not ready).
        Hold = "hold",
    }
);

label_values!(
    /// What became of a turn started on partial results.
    SpeculationResult {
        /// The final words said the same: it became the turn.
        Hit = "hit",
        /// The final words differed (or kept changing): it was dropped.
        Miss = "miss",
    }
);

label_values!(
    /// Why the caller heard an apology.
    Apology {
        /// The agent failed (the model or the calendar behind it).
        AgentFailed = "agent_failed",
        /// The reply was still not ready after the last hold.
        TooSlow = "too_slow",
    }
);

label_values!(
    /// A calendar operation, for its error counter.
    CalendarOp {
        /// Busy times.
        Busy = "busy",
        /// Booking.
        Book = "book",
        /// Moving.
        Move = "move",
        /// Cancelling.
        Cancel = "cancel",
        /// Reading one appointment.
        Get = "get",
        /// Listing appointments.
        List = "list",
    }
);

label_values!(
    /// A change to an appointment.
    AppointmentChange {
        /// Booked.
        Booked = "booked",
        /// Moved to another time.
        Moved = "moved",
        /// Cancelled.
        Cancelled = "cancelled",
    }
);

label_values!(
    /// A Twilio REST request, for its error counter.
    TwilioOp {
        /// Placing a call.
        CreateCall = "create_call",
        /// Hanging up a call.
        HangUp = "hang_up",
        /// Redirecting a live call.
        Redirect = "redirect",
        /// Sending a text message.
        SendSms = "send_sms",
    }
);

label_values!(
    /// Whether a text or a reminder went out.
    Delivery {
        /// Twilio accepted it.
        Sent = "sent",
        /// It could not be sent.
        Failed = "failed",
    }
);

label_values!(
    /// Why a model request failed.
    LlmFailure {
        /// No answer in time.
        Timeout = "timeout",
        /// An HTTP error from the server (after async-openai's own retries).
        Http = "http",
        /// The connection failed or the answer was unreadable.
        Unavailable = "unavailable",
    }
);

label_values!(
    /// Why a call ended, as far as metrics care (a fixed set: label values
    /// must not grow with input).
    EndReason {
        /// Twilio's `completed`.
        Completed = "completed",
        /// `busy`.
        Busy = "busy",
        /// `no-answer`.
        NoAnswer = "no_answer",
        /// `failed`.
        Failed = "failed",
        /// `canceled`.
        Canceled = "canceled",
        /// No webhook for the idle timeout.
        IdleTimeout = "idle_timeout",
        /// The media stream ended.
        StreamStopped = "stream_stopped",
        /// The server stopped while the call was live.
        ServerStopped = "server_stopped",
        /// Anything else.
        Other = "other",
    }
);

impl EndReason {
    /// The reason a session was ended with (`completed`, `idle-timeout`, …).
    pub fn parse(reason: &str) -> Self {
        match reason {
            "completed" => Self::Completed,
            "busy" => Self::Busy,
            "no-answer" => Self::NoAnswer,
            "failed" => Self::Failed,
            "canceled" => Self::Canceled,
            "idle-timeout" => Self::IdleTimeout,
            "stream-stopped" => Self::StreamStopped,
            crate::session::SERVER_STOPPED => Self::ServerStopped,
            _ => Self::Other,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct TurnLabels {
    agent: &'static str,
    outcome: TurnOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct AnswerLabels {
    answer: Answer,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct SpeculationLabels {
    result: SpeculationResult,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ApologyLabels {
    reason: Apology,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct CalendarLabels {
    operation: CalendarOp,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ChangeLabels {
    change: AppointmentChange,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct TwilioLabels {
    operation: TwilioOp,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct DeliveryLabels {
    result: Delivery,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct LlmLabels {
    kind: LlmFailure,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct EndLabels {
    reason: EndReason,
}

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// Looks up one handle per label value, once.
fn handles<S, M, C, L, const N: usize>(
    family: &Family<S, M, C>,
    all: [L; N],
    labels: impl Fn(L) -> S,
) -> [M; N]
where
    S: Clone + std::hash::Hash + Eq,
    M: Clone,
    C: prometheus_client::metrics::family::MetricConstructor<M>,
{
    all.map(|l| family.get_or_create_owned(&labels(l)))
}

/// The server's metrics.
pub struct Metrics {
    registry: Registry,
    live_calls: Gauge,
    turns: [Counter; 3],
    turn_latency: [Histogram; 2],
    agent_latency: Histogram,
    holds: Counter,
    speculations: [Counter; 2],
    speculation_wasted: Counter,
    speculation_head_start: Counter<f64, std::sync::atomic::AtomicU64>,
    apologies: [Counter; 2],
    llm_requests: Counter,
    llm_retries: Counter,
    llm_errors: [Counter; 3],
    calendar_errors: [Counter; 6],
    appointments: [Counter; 3],
    twilio_errors: [Counter; TwilioOp::ALL.len()],
    sms: [Counter; 2],
    reminders: [Counter; 2],
    calls_ended: [Counter; 9],
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    /// Metrics for the built-in agent (for stores and tools used outside a server).
    fn default() -> Self {
        Self::new(AgentKind::Rules)
    }
}

impl Metrics {
    /// Registers every family; turns are labelled with `agent`.
    pub fn new(agent: AgentKind) -> Self {
        let agent = match agent {
            AgentKind::Llm => "llm",
            AgentKind::Rules => "rules",
        };
        let mut registry = Registry::with_prefix("frontdesk");

        let live_calls = Gauge::default();
        registry.register("live_calls", "Calls in progress", live_calls.clone());

        let turns = Family::<TurnLabels, Counter>::default();
        registry.register(
            "turns",
            "Caller turns answered, by agent and outcome",
            turns.clone(),
        );
        let turn_latency =
            Family::<AnswerLabels, Histogram>::new_with_constructor(latency_histogram as fn() -> _);
        registry.register(
            "turn_latency_seconds",
            "From a speech webhook's arrival to its TwiML answer, by what was answered",
            turn_latency.clone(),
        );
        let agent_latency = latency_histogram();
        registry.register(
            "agent_latency_seconds",
            "How long the agent took to reply to a turn (tools and model included)",
            agent_latency.clone(),
        );
        let holds = Counter::default();
        registry.register(
            "holds",
            "Holding phrases spoken while a reply was not ready",
            holds.clone(),
        );
        let speculations = Family::<SpeculationLabels, Counter>::default();
        registry.register(
            "speculations",
            "Turns started on partial results, by what became of them",
            speculations.clone(),
        );
        let speculation_wasted = Counter::default();
        registry.register(
            "speculation_wasted_llm_requests",
            "Model requests sent for speculative turns that were dropped",
            speculation_wasted.clone(),
        );
        let speculation_head_start = Counter::<f64, std::sync::atomic::AtomicU64>::default();
        registry.register(
            "speculation_head_start_seconds",
            "Time kept speculative turns had already worked when the final words arrived",
            speculation_head_start.clone(),
        );
        let apologies = Family::<ApologyLabels, Counter>::default();
        registry.register(
            "apologies",
            "Apologies spoken instead of a reply, by reason",
            apologies.clone(),
        );
        let llm_requests = Counter::default();
        registry.register(
            "llm_requests",
            "Requests sent to the language model (retries included)",
            llm_requests.clone(),
        );
        let llm_retries = Counter::default();
        registry.register(
            "llm_retries",
            "Model requests sent again after a timeout",
            llm_retries.clone(),
        );
        let llm_errors = Family::<LlmLabels, Counter>::default();
        registry.register(
            "llm_errors",
            "Failed model requests, by kind",
            llm_errors.clone(),
        );
        let calendar_errors = Family::<CalendarLabels, Counter>::default();
        registry.register(
            "calendar_errors",
            "Calendar operations that failed (the backend, not a taken time), by operation",
            calendar_errors.clone(),
        );
        let appointments = Family::<ChangeLabels, Counter>::default();
        registry.register(
            "appointment_changes",
            "Appointments booked, moved and cancelled",
            appointments.clone(),
        );
        let twilio_errors = Family::<TwilioLabels, Counter>::default();
        registry.register(
            "twilio_errors",
            "Twilio REST requests that failed, by operation",
            twilio_errors.clone(),
        );
        let sms = Family::<DeliveryLabels, Counter>::default();
        registry.register(
            "sms",
            "Text messages (confirmations and reminders), by result",
            sms.clone(),
        );
        let reminders = Family::<DeliveryLabels, Counter>::default();
        registry.register(
            "reminders",
            "Appointment reminders (texts or calls), by result",
            reminders.clone(),
        );
        let calls_ended = Family::<EndLabels, Counter>::default();
        registry.register(
            "calls_ended",
            "Calls that ended, by reason",
            calls_ended.clone(),
        );

        Self {
            live_calls,
            turns: handles(&turns, TurnOutcome::ALL, |outcome| TurnLabels {
                agent,
                outcome,
            }),
            turn_latency: handles(&turn_latency, Answer::ALL, |answer| AnswerLabels { answer }),
            agent_latency,
            holds,
            speculations: handles(&speculations, SpeculationResult::ALL, |result| {
                SpeculationLabels { result }
            }),
            speculation_wasted,
            speculation_head_start,
            apologies: handles(&apologies, Apology::ALL, |reason| ApologyLabels { reason }),
            llm_requests,
            llm_retries,
            llm_errors: handles(&llm_errors, LlmFailure::ALL, |kind| LlmLabels { kind }),
            calendar_errors: handles(&calendar_errors, CalendarOp::ALL, |operation| {
                CalendarLabels { operation }
            }),
            appointments: handles(&appointments, AppointmentChange::ALL, |change| {
                ChangeLabels { change }
            }),
            twilio_errors: handles(&twilio_errors, TwilioOp::ALL, |operation| TwilioLabels {
                operation,
            }),
            sms: handles(&sms, Delivery::ALL, |result| DeliveryLabels { result }),
            reminders: handles(&reminders, Delivery::ALL, |result| DeliveryLabels {
                result,
            }),
            calls_ended: handles(&calls_ended, EndReason::ALL, |reason| EndLabels { reason }),
            registry,
        }
    }

    /// A turn finished: how, and how long the agent took.
    pub fn turn(&self, outcome: TurnOutcome, agent_time: Duration) {
        self.turns[outcome as usize].inc();
        self.agent_latency.observe(agent_time.as_secs_f64());
        if outcome == TurnOutcome::Failed {
            self.apologies[Apology::AgentFailed as usize].inc();
        }
    }

    /// A speech webhook answered after `elapsed`.
    pub fn answered(&self, answer: Answer, elapsed: Duration) {
        self.turn_latency[answer as usize].observe(elapsed.as_secs_f64());
    }

    /// The caller heard a holding phrase.
    pub fn held(&self) {
        self.holds.inc();
    }

    /// A speculative turn was kept or dropped.
    pub fn speculation(&self, result: SpeculationResult) {
        self.speculations[result as usize].inc();
    }

    /// A dropped speculative turn had sent `requests` model requests.
    pub fn speculation_wasted(&self, requests: u32) {
        self.speculation_wasted.inc_by(u64::from(requests));
    }

    /// A kept speculative turn had worked `head_start` before the final words.
    pub fn speculation_head_start(&self, head_start: Duration) {
        self.speculation_head_start.inc_by(head_start.as_secs_f64());
    }

    /// A held turn was given up: the caller heard an apology.
    pub fn gave_up(&self) {
        self.apologies[Apology::TooSlow as usize].inc();
    }

    /// Model requests of one turn: how many were sent, retried and failed.
    pub fn llm(&self, traced: &Traced) {
        if traced.llm_requests == 0 {
            return;
        }
        self.llm_requests.inc_by(u64::from(traced.llm_requests));
        self.llm_retries.inc_by(u64::from(traced.llm_retries));
        for (counter, n) in self.llm_errors.iter().zip(traced.llm_errors) {
            if n > 0 {
                counter.inc_by(u64::from(n));
            }
        }
    }

    /// A calendar operation failed in its backend.
    pub fn calendar_error(&self, operation: CalendarOp) {
        self.calendar_errors[operation as usize].inc();
    }

    /// An appointment was booked, moved or cancelled.
    pub fn appointment(&self, change: AppointmentChange) {
        self.appointments[change as usize].inc();
    }

    /// A Twilio REST request failed.
    pub fn twilio_error(&self, operation: TwilioOp) {
        self.twilio_errors[operation as usize].inc();
    }

    /// A text message was sent, or could not be.
    pub fn sms(&self, result: Delivery) {
        self.sms[result as usize].inc();
    }

    /// A reminder went out, or could not.
    pub fn reminder(&self, result: Delivery) {
        self.reminders[result as usize].inc();
    }

    /// A call ended with `reason` (a final status, `idle-timeout`, …).
    pub fn call_ended(&self, reason: &str) {
        self.calls_ended[EndReason::parse(reason) as usize].inc();
    }

    /// Everything in the Prometheus text format, with the live-call count
    /// read now.
    pub fn encode(&self, live_calls: usize) -> String {
        self.live_calls
            .set(i64::try_from(live_calls).unwrap_or(i64::MAX));
        let mut out = String::with_capacity(8 * 1024);
        // Writing to a String cannot fail.
        let _ = prometheus_text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
        text.lines().find(|l| l.starts_with(prefix))
    }

    #[test]
    fn recorded_events_show_in_the_text_format() {
        let m = Metrics::new(AgentKind::Llm);
        m.turn(TurnOutcome::Replied, Duration::from_millis(3));
        m.turn(TurnOutcome::Replied, Duration::from_millis(4));
        m.turn(TurnOutcome::Failed, Duration::from_secs(1));
        m.answered(Answer::Hold, Duration::from_millis(900));
        m.held();
        m.appointment(AppointmentChange::Booked);
        m.call_ended("no-answer");
        m.call_ended("something new");
        m.speculation(SpeculationResult::Hit);
        m.speculation_wasted(2);
        m.speculation_head_start(Duration::from_millis(500));
        m.llm(&Traced {
            llm_requests: 3,
            llm_retries: 1,
            llm_errors: [1, 0, 0],
            ..Traced::default()
        });
        let text = m.encode(7);
        assert_eq!(
            line(
                &text,
                "frontdesk_turns_total{agent=\"llm\",outcome=\"replied\"}"
            ),
            Some("frontdesk_turns_total{agent=\"llm\",outcome=\"replied\"} 2")
        );
        assert!(text.contains("frontdesk_live_calls 7\n"), "{text}");
        assert!(text.contains("frontdesk_holds_total 1\n"), "{text}");
        assert!(text.contains("frontdesk_apologies_total{reason=\"agent_failed\"} 1\n"));
        assert!(text.contains("frontdesk_appointment_changes_total{change=\"booked\"} 1\n"));
        assert!(text.contains("frontdesk_calls_ended_total{reason=\"no_answer\"} 1\n"));
        assert!(text.contains("frontdesk_calls_ended_total{reason=\"other\"} 1\n"));
        assert!(text.contains("frontdesk_llm_requests_total 3\n"));
        assert!(text.contains("frontdesk_llm_errors_total{kind=\"timeout\"} 1\n"));
        assert!(
            text.contains("frontdesk_agent_latency_seconds_count 3\n"),
            "{text}"
        );
        assert!(
            text.contains("frontdesk_turn_latency_seconds_bucket{answer=\"hold\",le=\"1\"} 1\n")
                || text.contains(
                    "frontdesk_turn_latency_seconds_bucket{answer=\"hold\",le=\"1.0\"} 1\n"
                ),
            "{text}"
        );
        assert!(
            text.contains("frontdesk_turn_latency_seconds_bucket{answer=\"hold\",le=\"0.5\"} 0\n")
        );
        assert!(
            text.contains("frontdesk_speculations_total{result=\"hit\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("frontdesk_speculations_total{result=\"miss\"} 0\n"));
        assert!(text.contains("frontdesk_speculation_wasted_llm_requests_total 2\n"));
        assert!(
            text.contains("frontdesk_speculation_head_start_seconds_total 0.5\n"),
            "{text}"
        );
        // Label sets exist before anything happened, so rates start at zero.
        assert!(text.contains("frontdesk_twilio_errors_total{operation=\"redirect\"} 0\n"));
    }
}
