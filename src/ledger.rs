//! The latency ledger: for every assistant turn of a Gather call, when the
//! caller's words arrived, how long the agent took and how much of that
//! was the model and the tools, whether the caller was put on hold, and
//! when the reply went out.
//!
//! Timings are gathered without threading anything through the agents: a
//! turn runs inside a task-local [`TurnTrace`] ([`trace`]), and the places
//! that wait on the outside world — a model request, a tool call (the
//! calendar) — add their time to it when one is present ([`llm_request`],
//! [`tool_call`]). With no trace (streaming calls, the API) they do
//! nothing. The finished [`LedgerEntry`] is kept in the call's session and
//! summarised per call ([`Summary`]: p50 and max).

use std::{
    cell::Cell,
    future::Future,
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{clock::Clock, metrics::LlmFailure};

/// What one turn spent waiting on the outside world.
#[derive(Debug, Default)]
pub struct TurnTrace {
    llm_started: Cell<u32>,
    llm_requests: Cell<u32>,
    llm_retries: Cell<u32>,
    llm_errors: [Cell<u32>; LlmFailure::ALL.len()],
    llm: Cell<Duration>,
    tool_calls: Cell<u32>,
    tools: Cell<Duration>,
}

/// A finished trace's figures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Traced {
    /// Model requests started, finished or not (a dropped speculative
    /// turn's cost).
    pub llm_started: u32,
    /// Model requests sent (retries included).
    pub llm_requests: u32,
    /// Of those, sent again after a failure.
    pub llm_retries: u32,
    /// Failed model requests, by [`LlmFailure`] (in `LlmFailure::ALL` order).
    pub llm_errors: [u32; LlmFailure::ALL.len()],
    /// Time waiting for the model.
    pub llm: Duration,
    /// Tool calls.
    pub tool_calls: u32,
    /// Time the tools took.
    pub tools: Duration,
}

tokio::task_local! {
    static TRACE: TurnTrace;
}

/// Runs `work` with a fresh trace and returns its output with the figures.
pub async fn trace<T>(work: impl Future<Output = T>) -> (T, Traced) {
    TRACE
        .scope(TurnTrace::default(), async {
            let out = work.await;
            let traced = TRACE.with(|t| Traced {
                llm_started: t.llm_started.get(),
                llm_requests: t.llm_requests.get(),
                llm_retries: t.llm_retries.get(),
                llm_errors: std::array::from_fn(|i| t.llm_errors[i].get()),
                llm: t.llm.get(),
                tool_calls: t.tool_calls.get(),
                tools: t.tools.get(),
            });
            (out, traced)
        })
        .await
}

/// A model request is being sent.
pub fn llm_started() {
    let _ = TRACE.try_with(|t| t.llm_started.set(t.llm_started.get() + 1));
}

/// A model request took `took` (`retry`: it repeats a failed one) and
/// failed with `failure`, if it did.
pub fn llm_request(took: Duration, retry: bool, failure: Option<LlmFailure>) {
    let _ = TRACE.try_with(|t| {
        t.llm_requests.set(t.llm_requests.get() + 1);
        t.llm_retries.set(t.llm_retries.get() + u32::from(retry));
        if let Some(kind) = failure {
            let errors = &t.llm_errors[kind as usize];
            errors.set(errors.get() + 1);
        }
        t.llm.set(t.llm.get() + took);
    });
}

/// A tool call took `took`.
pub fn tool_call(took: Duration) {
    let _ = TRACE.try_with(|t| {
        t.tool_calls.set(t.tool_calls.get() + 1);
        t.tools.set(t.tools.get() + took);
    });
}

/// Milliseconds, with microsecond precision.
fn millis(d: Duration) -> f64 {
    (d.as_micros() as f64) / 1000.0
}

/// One assistant turn, as the ledger keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// When the webhook with the caller's words arrived.
    pub received_at: DateTime<Utc>,
    /// How long the agent took to reply, tools and model included.
    pub agent_ms: f64,
    /// Time spent waiting for the model (all its requests).
    pub llm_ms: f64,
    /// Model requests sent for this turn (retries included).
    pub llm_requests: u32,
    /// Time the agent's tool calls took (the calendar, mostly).
    pub tool_ms: f64,
    /// Tool calls the agent made.
    pub tool_calls: u32,
    /// Whether the caller heard a holding phrase first.
    pub held: bool,
    /// When the reply was sent to Twilio.
    pub replied_at: DateTime<Utc>,
    /// From arrival to reply.
    pub total_ms: f64,
    /// Whether the reply came from work started on Twilio's partial
    /// results, before the caller's final words arrived.
    #[serde(default)]
    pub speculative: bool,
    /// How long that work had been running when the final words arrived
    /// (0 for an ordinary turn): the time speculation saved, at most.
    #[serde(default)]
    pub head_start_ms: f64,
    /// Speculations started on this utterance's partial results and
    /// dropped (the words changed, or the final words differed): what
    /// speculation cost this turn, about one model request each.
    #[serde(default)]
    pub speculations_dropped: u32,
}

/// What speculation did for one turn.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Speculated {
    /// For a turn started on partial results: how long its work had run
    /// when the final words arrived.
    pub head_start: Option<Duration>,
    /// Speculations dropped on the way.
    pub dropped: u32,
}

/// How a finished turn's timings are handed from the turn to the webhook
/// that answers with it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TurnTiming {
    /// The agent's time.
    pub agent: Duration,
    /// What the trace saw.
    pub traced: Traced,
}

/// When a turn's webhook arrived (wall clock and monotonic).
#[derive(Debug, Clone, Copy)]
pub struct Arrival {
    /// Wall-clock time, for the record.
    pub at: DateTime<Utc>,
    /// Monotonic time, for the durations.
    pub instant: Instant,
}

impl Arrival {
    /// Now, as the server's clock tells it.
    pub fn now(clock: &Clock) -> Self {
        Self {
            at: clock(),
            instant: Instant::now(),
        }
    }
}

impl LedgerEntry {
    /// The entry for a turn that arrived at `arrival`, was timed as
    /// `timing`, and is answered now; `speculated` is what work on its
    /// partial results did.
    pub fn answered(
        arrival: Arrival,
        timing: &TurnTiming,
        held: bool,
        speculated: Speculated,
    ) -> Self {
        Self::answered_after(
            arrival.at,
            arrival.instant.elapsed(),
            timing,
            held,
            speculated,
        )
    }

    /// The entry for a turn that arrived at `received_at` (perhaps on
    /// another instance) and is answered `total` later.
    pub fn answered_after(
        received_at: DateTime<Utc>,
        total: Duration,
        timing: &TurnTiming,
        held: bool,
        speculated: Speculated,
    ) -> Self {
        Self {
            received_at,
            agent_ms: millis(timing.agent),
            llm_ms: millis(timing.traced.llm),
            llm_requests: timing.traced.llm_requests,
            tool_ms: millis(timing.traced.tools),
            tool_calls: timing.traced.tool_calls,
            held,
            replied_at: received_at
                + chrono::Duration::from_std(total).unwrap_or(chrono::Duration::zero()),
            total_ms: millis(total),
            speculative: speculated.head_start.is_some(),
            head_start_ms: speculated.head_start.map_or(0.0, millis),
            speculations_dropped: speculated.dropped,
        }
    }
}

/// A call's turn latencies in brief.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Summary {
    /// Turns in the ledger.
    pub turns: u32,
    /// Median arrival-to-reply time.
    pub p50_ms: f64,
    /// Slowest arrival-to-reply time.
    pub max_ms: f64,
    /// Turns that were put on hold.
    pub held: u32,
}

impl Summary {
    /// The summary of `ledger`; `None` when it is empty.
    pub fn of(ledger: &[LedgerEntry]) -> Option<Self> {
        if ledger.is_empty() {
            return None;
        }
        let mut totals: Vec<f64> = ledger.iter().map(|e| e.total_ms).collect();
        totals.sort_by(f64::total_cmp);
        Some(Self {
            turns: u32::try_from(ledger.len()).unwrap_or(u32::MAX),
            // The lower median, as the dashboard computes it.
            p50_ms: totals[(totals.len() - 1) / 2],
            max_ms: totals[totals.len() - 1],
            held: u32::try_from(ledger.iter().filter(|e| e.held).count()).unwrap_or(u32::MAX),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(total_ms: f64, held: bool) -> LedgerEntry {
        LedgerEntry {
            received_at: Utc::now(),
            agent_ms: 0.0,
            llm_ms: 0.0,
            llm_requests: 0,
            tool_ms: 0.0,
            tool_calls: 0,
            held,
            replied_at: Utc::now(),
            total_ms,
            speculative: false,
            head_start_ms: 0.0,
            speculations_dropped: 0,
        }
    }

    #[test]
    fn the_summary_is_the_median_and_the_slowest_turn() {
        assert_eq!(Summary::of(&[]), None);
        let s = Summary::of(&[entry(30.0, false), entry(10.0, false), entry(900.0, true)]).unwrap();
        assert_eq!((s.turns, s.p50_ms, s.max_ms, s.held), (3, 30.0, 900.0, 1));
        let s = Summary::of(&[entry(4.0, false), entry(2.0, false)]).unwrap();
        assert_eq!((s.p50_ms, s.max_ms), (2.0, 4.0));
    }

    #[tokio::test]
    async fn waits_inside_a_trace_are_added_up_and_outside_one_ignored() {
        llm_request(Duration::from_millis(5), false, None);
        let ((), traced) = trace(async {
            llm_request(Duration::from_millis(20), false, Some(LlmFailure::Timeout));
            tokio::task::yield_now().await;
            llm_request(Duration::from_millis(30), true, None);
            tool_call(Duration::from_millis(7));
        })
        .await;
        assert_eq!(
            traced,
            Traced {
                llm_started: 0,
                llm_requests: 2,
                llm_retries: 1,
                llm_errors: [1, 0, 0],
                llm: Duration::from_millis(50),
                tool_calls: 1,
                tools: Duration::from_millis(7),
            }
        );
    }
}
