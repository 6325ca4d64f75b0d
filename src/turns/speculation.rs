//! Speculative turns: starting the agent's work on Twilio's partial
//! results, while the caller is still talking and while Twilio waits for
//! the end of their speech.
//!
//! Twilio posts partial transcripts to `/voice/partial-speech` as the caller
//! speaks. When the stable part reads like a whole request
//! ([`words::looks_complete`]), a turn starts on it, with a pending
//! [`Gate`]: the model is asked and read-only tools run, but nothing with a
//! side effect runs and nothing reaches the transcript. When the final
//! transcript arrives ([`Speculations::take`]):
//!
//! - it says the same after [`words::normalise`]: the speculation becomes the
//!   turn, finished or still running; its gate is confirmed, so the
//!   caller's words and its held tool records are written and side effects
//!   proceed;
//! - it says something else: the speculation is dropped (its model request
//!   is cancelled where it stands) and the turn starts afresh.
//!
//! One speculation per call at a time: a partial whose stable text changed
//! drops the running one and starts again, once per change; one that says
//! the same again changes nothing. Partials are ordered by `SequenceNumber`:
//! an older or repeated one (Twilio's retries, out-of-order delivery) is
//! ignored. A speculation holds the call's turn lock, like a turn, so it
//! never overlaps one. Its cost and gain are counted: hits, misses, the
//! model requests of dropped speculations, and the head start of kept ones.
//!
//! All of it is keyed by CallSid here, inside the turn runner's seam.

use std::{sync::Arc, time::Duration};

use dashmap::DashMap;
use tokio::{
    sync::{Mutex, watch},
    time::Instant,
};

use super::{Done, Outcome, TurnDeps, finish_turn, run_agent, words};
use crate::{
    agent::gate::{Gate, Standing},
    ledger,
    metrics::{Metrics, SpeculationResult},
    session::{Role, SessionStore, Turn},
    twilio::webhook::CallSid,
};

/// One partial result, as Twilio posts it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Partial<'a> {
    /// `SequenceNumber`: the callback's order within the utterance.
    pub sequence: Option<u32>,
    /// `StableSpeechResult`: the part unlikely to change.
    pub stable: Option<&'a str>,
    /// `UnstableSpeechResult`: everything heard so far.
    pub unstable: Option<&'a str>,
    /// `Stability`, 0.0 to 1.0.
    pub stability: Option<f64>,
}

impl<'a> Partial<'a> {
    /// The text to judge: the stable part, or the whole partial when Twilio
    /// sends no stable part but is confident in it.
    fn text(&self) -> Option<&'a str> {
        let stable = self.stable.map(str::trim).filter(|s| !s.is_empty());
        stable.or_else(|| {
            self.unstable
                .filter(|_| self.stability.is_some_and(|s| s >= words::MIN_STABILITY))
        })
    }
}

/// What a partial result did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartialOutcome {
    /// Older than (or the same as) one already seen: ignored.
    Stale,
    /// Nothing to do: speculation is off, a turn is running, or the words
    /// do not yet read like a whole request.
    Ignored,
    /// The running speculation already has these words.
    Unchanged,
    /// A speculation started on these words.
    Started,
    /// The words changed: the running speculation was dropped and a new
    /// one started.
    Restarted,
}

/// A running speculation.
struct Running {
    /// The normalised words it works on.
    key: String,
    gate: Arc<Gate>,
    done: Done,
    started: Instant,
}

/// What is kept per call between partial results.
#[derive(Default)]
struct CallState {
    /// The newest `SequenceNumber` seen for the current utterance.
    last_sequence: Option<u32>,
    running: Option<Running>,
    /// The normalised words of the last final transcript: late partials of
    /// it start nothing.
    last_final: String,
    /// Speculations dropped during the current utterance.
    dropped: u32,
}

/// What the final words found.
pub(super) struct Taken {
    /// The speculation that became the turn, if one did.
    pub(super) adopted: Option<Adopted>,
    /// Speculations dropped during the utterance (this one included).
    pub(super) dropped: u32,
}

/// A speculation that became the turn.
pub(super) struct Adopted {
    pub(super) gate: Arc<Gate>,
    pub(super) done: Done,
    /// How long it had run when the final words arrived.
    pub(super) head_start: Duration,
}

/// Every live call's speculation state.
#[derive(Default)]
pub(super) struct Speculations {
    calls: DashMap<CallSid, CallState>,
}

impl Speculations {
    /// Takes a partial result (see the module docs). `lock` is the call's
    /// turn lock.
    pub(super) fn partial(
        &self,
        deps: TurnDeps,
        call_sid: &CallSid,
        partial: &Partial<'_>,
        lock: Arc<Mutex<()>>,
    ) -> PartialOutcome {
        let mut state = self.calls.entry(call_sid.clone()).or_default();
        if let (Some(seq), Some(last)) = (partial.sequence, state.last_sequence)
            && seq <= last
        {
            return PartialOutcome::Stale;
        }
        if partial.sequence.is_some() {
            state.last_sequence = partial.sequence;
        }
        let Some(raw) = partial.text() else {
            return PartialOutcome::Ignored;
        };
        let key = words::normalise(raw);
        if key == state.last_final || !words::looks_complete(&key, raw, partial.stability) {
            return PartialOutcome::Ignored;
        }
        let restarted = match state.running.take() {
            Some(r) if r.key == key => {
                state.running = Some(r);
                return PartialOutcome::Unchanged;
            }
            Some(r) => {
                r.gate.drop_turn();
                deps.metrics.speculation(SpeculationResult::Miss);
                state.dropped += 1;
                true
            }
            None => false,
        };
        state.running = Some(start(deps, call_sid, raw, key, lock));
        if restarted {
            PartialOutcome::Restarted
        } else {
            PartialOutcome::Started
        }
    }

    /// The final words arrived: the running speculation, when it worked on
    /// the same words; otherwise it is dropped. Either way the next partial
    /// results belong to a new utterance.
    pub(super) fn take(&self, metrics: &Metrics, call_sid: &CallSid, utterance: &str) -> Taken {
        if !self.calls.contains_key(call_sid) {
            return Taken {
                adopted: None,
                dropped: 0,
            };
        }
        self.take_normalised(metrics, call_sid, words::normalise(utterance))
    }

    /// [`Self::take`] for final words already normalised.
    pub(super) fn take_normalised(
        &self,
        metrics: &Metrics,
        call_sid: &CallSid,
        key: String,
    ) -> Taken {
        let Some(mut state) = self.calls.get_mut(call_sid) else {
            return Taken {
                adopted: None,
                dropped: 0,
            };
        };
        state.last_sequence = None;
        let running = state.running.take();
        state.last_final = key;
        let mut dropped = std::mem::take(&mut state.dropped);
        let adopted = match running {
            // Still pending: not confirmed through another instance, not dropped.
            Some(r) if r.key == state.last_final && r.gate.standing() == Standing::Pending => {
                let head_start = r.started.elapsed();
                metrics.speculation(SpeculationResult::Hit);
                metrics.speculation_head_start(head_start);
                Some(Adopted {
                    gate: r.gate,
                    done: r.done,
                    head_start,
                })
            }
            Some(r) => {
                r.gate.drop_turn();
                metrics.speculation(SpeculationResult::Miss);
                dropped += 1;
                None
            }
            None => None,
        };
        Taken { adopted, dropped }
    }

    /// The running speculation's words (normalised), gate and outcome.
    pub(super) fn running(&self, call_sid: &CallSid) -> Option<(String, Arc<Gate>, Done)> {
        let state = self.calls.get(call_sid)?;
        let r = state.running.as_ref()?;
        Some((r.key.clone(), Arc::clone(&r.gate), r.done.clone()))
    }

    /// Whether the running speculation works on the normalised words `key`
    /// and is still pending.
    pub(super) fn has(&self, call_sid: &CallSid, key: &str) -> bool {
        self.calls.get(call_sid).is_some_and(|s| {
            s.running
                .as_ref()
                .is_some_and(|r| r.key == key && r.gate.standing() == Standing::Pending)
        })
    }

    /// The final words, landed on another instance, confirmed the
    /// speculation with `gate`: it leaves the state here (it is the turn
    /// now) and counts as a hit. False when it is no longer the running one.
    pub(super) fn claim(&self, metrics: &Metrics, call_sid: &CallSid, gate: &Arc<Gate>) -> bool {
        let Some(mut state) = self.calls.get_mut(call_sid) else {
            return false;
        };
        if !state
            .running
            .as_ref()
            .is_some_and(|r| Arc::ptr_eq(&r.gate, gate))
        {
            return false;
        }
        let r = state.running.take().expect("checked above");
        state.dropped = 0;
        state.last_sequence = None;
        state.last_final = r.key;
        let head_start = r.started.elapsed();
        metrics.speculation(SpeculationResult::Hit);
        metrics.speculation_head_start(head_start);
        true
    }

    /// The speculation with `gate` was withdrawn elsewhere (other final
    /// words, on another instance): dropped, counted as a miss.
    pub(super) fn drop_if(&self, metrics: &Metrics, call_sid: &CallSid, gate: &Arc<Gate>) {
        if let Some(mut state) = self.calls.get_mut(call_sid)
            && state
                .running
                .as_ref()
                .is_some_and(|r| Arc::ptr_eq(&r.gate, gate))
            && let Some(r) = state.running.take()
        {
            r.gate.drop_turn();
            metrics.speculation(SpeculationResult::Miss);
            state.last_sequence = None;
        }
    }

    /// The call ended: its speculation is dropped.
    pub(super) fn forget(&self, call_sid: &CallSid) {
        if let Some((_, state)) = self.calls.remove(call_sid) {
            drop_running(state);
        }
    }

    /// Drops the state of calls that are no longer live.
    pub(super) async fn retain_live(&self, sessions: &SessionStore) {
        let sids: Vec<CallSid> = self.calls.iter().map(|c| c.key().clone()).collect();
        for sid in sids {
            if !sessions.is_live(&sid).await {
                self.forget(&sid);
            }
        }
    }
}

fn drop_running(state: CallState) {
    if let Some(r) = state.running {
        r.gate.drop_turn();
    }
}

/// Starts a speculative turn on `raw` (normalised: `key`).
fn start(
    deps: TurnDeps,
    call_sid: &CallSid,
    raw: &str,
    key: String,
    lock: Arc<Mutex<()>>,
) -> Running {
    let gate = Arc::new(Gate::pending());
    let (tx, done) = watch::channel::<Option<Arc<Outcome>>>(None);
    let sid = call_sid.clone();
    let words = raw.to_owned();
    let task_gate = Arc::clone(&gate);
    tokio::spawn(async move {
        let gate = task_gate;
        let _one_at_a_time = tokio::select! {
            biased;
            () = gate.dropped() => return,
            guard = lock.lock() => guard,
        };
        // The transcript as it stands, plus the words so far; nothing is
        // written to the session until the final words confirm them.
        let mut input = deps
            .sessions
            .turn_input(&sid, deps.agent.history_window())
            .await;
        let memory_before = input.memory.clone();
        input
            .history
            .push(Turn::spoken(Role::User, &words, None, (deps.clock)()));
        let (finished, cost) = ledger::trace(async {
            tokio::select! {
                biased;
                () = gate.dropped() => None,
                run = run_agent(&deps, &sid, input, Arc::clone(&gate)) => Some(run),
            }
        })
        .await;
        let confirmed = match finished {
            Some(_) => gate.cleared().await,
            None => false,
        };
        match finished {
            Some((result, agent_time)) if confirmed => {
                let outcome = finish_turn(
                    &deps,
                    &sid,
                    result,
                    cost,
                    agent_time,
                    &memory_before,
                    |_| async {},
                )
                .await;
                let _ = tx.send(Some(outcome));
            }
            // Dropped: whatever the model was asked is the speculation's cost.
            _ => deps.metrics.speculation_wasted(cost.llm_started),
        }
    });
    Running {
        key,
        gate,
        done,
        started: Instant::now(),
    }
}
