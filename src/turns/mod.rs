//! Running the agent's turns within Twilio's clock.
//!
//! Twilio gives a webhook about 15 seconds. A turn therefore runs in a
//! background task, and the webhook only waits for it up to a short
//! budget; when the reply is not ready, the caller hears a short holding
//! phrase that fits the work ([`hold`]) and Twilio is redirected to
//! `/voice/continue`, which picks up the *same* running turn (keyed by
//! CallSid) and waits again, a bounded number of times.
//!
//! A turn may also start before the caller's final words, on Twilio's
//! partial results ([`speculation`]): when the final transcript says the
//! same, that work becomes the turn; otherwise it is dropped.
//!
//! Guarantees:
//! - one call never runs two turns at once: each call has an async lock that
//!   a turn (or a speculation) holds while the agent works, so a later turn
//!   starts from the finished transcript;
//! - a retried webhook does not run the turn (and its tools) again: a
//!   request with the same `I-Twilio-Idempotency-Token` gets the same reply,
//!   and one with the same utterance while the turn is still running joins
//!   it;
//! - the turn's reply is recorded in the session even when no webhook is
//!   left waiting for it;
//! - nothing a speculation does reaches the transcript, the calendar or the
//!   call before the final words confirm it (see [`crate::agent::gate`]).
//!
//! Memory: one slot and at most one speculation per live call, dropped when
//! the call ends. All of it is keyed by CallSid, behind this one seam.

pub mod hold;
pub mod speculation;
pub mod words;

mod shared;

use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Waker},
    time::Duration,
};

use serde::{Deserialize, Serialize};

use dashmap::{DashMap, mapref::entry::Entry};
use tokio::sync::{Mutex, watch};

use crate::{
    agent::{
        AgentError, CallContext, Reply, SharedAgent,
        gate::{Gate, Standing},
    },
    clock::Clock,
    ledger::{self, Arrival, LedgerEntry, Speculated, Traced, TurnTiming},
    metrics::{Metrics, TurnOutcome},
    session::{Role, SessionStore, TurnInput},
    twilio::webhook::{CallDetails, CallSid, Direction},
};

pub use shared::TurnLocks;
pub use speculation::{Partial, PartialOutcome};

/// What a finished turn says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// The words for `<Say>`.
    pub text: String,
    /// Hang up after them.
    pub end_call: bool,
    /// Connect the caller to a person after them.
    pub transfer: bool,
    /// How long the agent and its waits took, for the latency ledger.
    pub timing: TurnTiming,
}

impl Outcome {
    /// The one apology of a turn that could not be answered.
    pub fn apology() -> Self {
        Self {
            text: APOLOGY.into(),
            end_call: false,
            transfer: false,
            timing: TurnTiming::default(),
        }
    }
}

/// What the caller hears when the agent cannot answer.
pub const APOLOGY: &str = "Sorry, I'm having trouble on my end. Could you say that again?";

/// Longest reply spoken in one `<Say>`; longer ones are cut at a sentence.
pub const MAX_SAY_CHARS: usize = 1500;

/// Where a turn's outcome appears when it is ready.
pub type Done = watch::Receiver<Option<Arc<Outcome>>>;

struct Slot {
    /// The turn's id in the shared store (`REDIS_URL`), if any.
    id: Option<String>,
    /// Twilio's idempotency token of the request that started the turn.
    token: Option<String>,
    /// What the caller said.
    utterance: String,
    done: Done,
    holds: u32,
    /// When the webhook that started the turn arrived.
    received: Arrival,
    /// The turn's ledger entry was written.
    in_ledger: bool,
    /// What the turn's tools share with the runner.
    gate: Arc<Gate>,
    /// What work on the utterance's partial results did.
    speculated: Speculated,
}

/// How a webhook joins a turn.
pub enum Begin {
    /// A new turn was started; record nothing more.
    Started(Done),
    /// A retry of the running turn: wait for it.
    Joined(Done),
    /// A retry of a finished turn: say the same again.
    Replay(Arc<Outcome>),
}

/// The running (and last finished) turn of every live call.
///
/// Without a shared store, all of it is in this process. With one
/// (`REDIS_URL`), the turn's record and the call's lock are in Redis
/// ([`TurnLocks`]) so that any instance finds them, and the slots here only
/// let a webhook that arrives where its turn runs wait without polling.
#[derive(Default)]
pub struct TurnRunner {
    slots: DashMap<CallSid, Slot>,
    locks: DashMap<CallSid, Arc<Mutex<()>>>,
    shared: Option<Arc<TurnLocks>>,
    speculations: Arc<speculation::Speculations>,
    /// Holding phrases given so far, to vary the next one.
    holds_said: AtomicUsize,
}

/// Cuts `text` to at most `max` characters, at a sentence end when there is one.
pub fn fit_for_speech(text: &str, max: usize) -> &str {
    let text = text.trim();
    if text.chars().count() <= max {
        return text;
    }
    let cut = text.char_indices().nth(max).map_or(text.len(), |(i, _)| i);
    let head = &text[..cut];
    match head.rfind(['.', '!', '?']) {
        Some(end) if end > 0 => &head[..=end],
        _ => head,
    }
}

/// Everything a turn needs, owned, for the background task.
#[derive(Clone)]
pub struct TurnDeps {
    /// Sessions.
    pub sessions: Arc<SessionStore>,
    /// The agent.
    pub agent: SharedAgent,
    /// The clock.
    pub clock: Clock,
    /// How long the turn may take in all ([`crate::config::VoiceConfig::turn_deadline`]).
    pub deadline: Duration,
    /// Where turns are counted.
    pub metrics: Arc<Metrics>,
    /// When the webhook with the caller's words arrived.
    pub received: Arrival,
    /// What that webhook says about the call, to start (or refresh) its
    /// session before the caller's words go in.
    pub call: Option<(Direction, CallDetails)>,
}

/// Polls `turn` once right here: a quick reply (the rules agent's small
/// talk) is done without a task or a wake-up. Anything that has to wait is
/// handed to a task, which polls it again with its own waker.
pub(crate) fn run_now_or_spawn(turn: impl Future<Output = ()> + Send + 'static) {
    let mut turn = Box::pin(turn);
    let mut cx = Context::from_waker(Waker::noop());
    if turn.as_mut().poll(&mut cx).is_pending() {
        tokio::spawn(turn);
    }
}

impl TurnRunner {
    /// Turns coordinated through Redis, for several instances.
    pub fn shared(locks: TurnLocks) -> Self {
        Self {
            shared: Some(Arc::new(locks)),
            ..Self::default()
        }
    }

    /// Starts the turn for `utterance`, or joins the one it repeats: the
    /// same idempotency `token` (Twilio's retry), or the same utterance while
    /// the turn is still running. When work started on the partial results
    /// worked on the same words, that work becomes the turn (finished or
    /// not); any other speculation is dropped first.
    pub async fn begin(
        &self,
        deps: TurnDeps,
        call_sid: &CallSid,
        token: Option<String>,
        utterance: &str,
        confidence: Option<f64>,
    ) -> Begin {
        if let Some(locks) = &self.shared {
            let locks = Arc::clone(locks);
            return self
                .begin_shared(locks, deps, call_sid, token, utterance, confidence)
                .await;
        }
        // Work started on the partial results becomes the turn when the
        // final words say the same; otherwise it is dropped.
        let (tx, rx) = watch::channel(None);
        let ordinary = Arc::new(Gate::confirmed());
        let adopted = {
            let entry = self.slots.entry(call_sid.clone());
            if let Entry::Occupied(c) = &entry {
                let c = c.get();
                let finished = c.done.borrow().clone();
                let same_token = token.is_some() && c.token == token;
                match finished {
                    None if same_token || c.utterance == utterance => {
                        return Begin::Joined(c.done.clone());
                    }
                    Some(outcome) if same_token => return Begin::Replay(outcome),
                    _ => {}
                }
            }
            let taken = self.speculations.take(&deps.metrics, call_sid, utterance);
            let adopted = taken.adopted;
            let (done, gate, head_start) = match &adopted {
                Some(a) => (a.done.clone(), Arc::clone(&a.gate), Some(a.head_start)),
                None => (rx, Arc::clone(&ordinary), None),
            };
            entry.insert(Slot {
                id: None,
                token,
                utterance: utterance.to_owned(),
                done,
                holds: 0,
                received: deps.received,
                in_ledger: false,
                gate,
                speculated: Speculated {
                    head_start,
                    dropped: taken.dropped,
                },
            });
            adopted
        };
        match adopted {
            Some(a) => {
                a.gate
                    .confirm(&deps.sessions, call_sid, utterance, confidence)
                    .await;
                Begin::Started(a.done)
            }
            None => {
                let done = tx.subscribe();
                let words = (utterance.to_owned(), confidence);
                self.spawn_turn(deps, call_sid, ordinary, tx, words);
                Begin::Started(done)
            }
        }
    }

    /// The call's turn lock.
    fn lock(&self, call_sid: &CallSid) -> Arc<Mutex<()>> {
        Arc::clone(
            self.locks
                .entry(call_sid.clone())
                .or_insert_with(|| Arc::new(Mutex::new(())))
                .value(),
        )
    }

    /// Starts an ordinary turn on the caller's final `words`: they go in
    /// the transcript at once, the agent works once the call's previous
    /// turn is done.
    fn spawn_turn(
        &self,
        deps: TurnDeps,
        call_sid: &CallSid,
        gate: Arc<Gate>,
        tx: watch::Sender<Option<Arc<Outcome>>>,
        (utterance, confidence): (String, Option<f64>),
    ) {
        let lock = self.lock(call_sid);
        let sid = call_sid.clone();
        run_now_or_spawn(async move {
            if let Some((direction, details)) = &deps.call {
                deps.sessions.begin(&sid, *direction, details).await;
            }
            deps.sessions
                .record(&sid, Role::User, &utterance, confidence)
                .await;
            let _one_at_a_time = lock.lock().await;
            let outcome = run_final_turn(&deps, &sid, None, gate, |_| async {}).await;
            // Nobody may be waiting any more; the transcript has it anyway.
            let _ = tx.send(Some(outcome));
        });
    }

    /// Twilio's partial transcript of what the caller is saying: may start
    /// (or restart) a speculative turn on it. Answers at once.
    pub fn partial(
        &self,
        deps: TurnDeps,
        call_sid: &CallSid,
        partial: &Partial<'_>,
    ) -> PartialOutcome {
        let running = self
            .slots
            .get(call_sid)
            .is_some_and(|s| s.done.borrow().is_none());
        if running {
            return PartialOutcome::Ignored;
        }
        let lock = self.lock(call_sid);
        let metrics = Arc::clone(&deps.metrics);
        let sessions = Arc::clone(&deps.sessions);
        let outcome = self.speculations.partial(deps, call_sid, partial, lock);
        if let Some(locks) = &self.shared
            && matches!(outcome, PartialOutcome::Started | PartialOutcome::Restarted)
            && let Some((key, gate, done)) = self.speculations.running(call_sid)
        {
            tokio::spawn(offer_speculation(
                Arc::clone(locks),
                Arc::clone(&self.speculations),
                (metrics, sessions),
                call_sid.clone(),
                key,
                gate,
                done,
            ));
        }
        outcome
    }

    /// The final transcript came without words (silence, or an unknown
    /// key): whatever was started on partial results is dropped.
    pub fn no_words(&self, metrics: &Metrics, call_sid: &CallSid) {
        // No speculation works on an empty request, so this only drops.
        self.speculations.take(metrics, call_sid, "");
    }

    /// The holding phrase for the call's current turn: about the calendar
    /// while a calendar tool runs, and a different one each time.
    pub fn holding_phrase(&self, call_sid: &CallSid) -> &'static str {
        let calendar = self
            .slots
            .get(call_sid)
            .is_some_and(|s| s.gate.at_calendar());
        hold::phrase(calendar, self.holds_said.fetch_add(1, Ordering::Relaxed))
    }

    async fn begin_shared(
        &self,
        locks: Arc<TurnLocks>,
        deps: TurnDeps,
        call_sid: &CallSid,
        token: Option<String>,
        utterance: &str,
        confidence: Option<f64>,
    ) -> Begin {
        let key = words::normalise(utterance);
        let own = self.speculations.has(call_sid, &key);
        let decision = locks
            .begin(
                call_sid,
                token.as_deref(),
                (utterance, confidence),
                &key,
                own,
                deps.received.at,
            )
            .await;
        let (id, locked) = match decision {
            Ok(shared::Decision::Replay(outcome)) => return Begin::Replay(outcome),
            Ok(shared::Decision::Joined(id)) => {
                return Begin::Joined(self.done_for(&locks, call_sid, id, deps.deadline));
            }
            Ok(shared::Decision::Adopted(id)) => {
                // Another instance's speculation is the turn; anything
                // started here on other words is dropped.
                self.speculations
                    .take_normalised(&deps.metrics, call_sid, key);
                return Begin::Joined(self.done_for(&locks, call_sid, id, deps.deadline));
            }
            Ok(shared::Decision::Started { id, locked }) => (id, locked),
            Err(e) => {
                tracing::error!(call_sid = %call_sid, error = %e, "could not start a turn; apologising");
                return Begin::Replay(Arc::new(Outcome::apology()));
            }
        };
        // Work started here on the partial results becomes the turn when
        // the final words say the same and no other instance runs a turn of
        // the call; it is dropped otherwise.
        let taken = self
            .speculations
            .take_normalised(&deps.metrics, call_sid, key);
        let adopted = match taken.adopted {
            Some(a) if locked => Some(a),
            Some(a) => {
                a.gate.drop_turn();
                None
            }
            None => None,
        };
        let (tx, rx) = watch::channel(None);
        let ordinary = Arc::new(Gate::confirmed());
        let (done, gate, head_start) = match &adopted {
            Some(a) => (a.done.clone(), Arc::clone(&a.gate), Some(a.head_start)),
            None => (rx.clone(), Arc::clone(&ordinary), None),
        };
        self.slots.insert(
            call_sid.clone(),
            Slot {
                id: Some(id.clone()),
                token,
                utterance: utterance.to_owned(),
                done,
                holds: 0,
                received: deps.received,
                in_ledger: false,
                gate,
                speculated: Speculated {
                    head_start,
                    dropped: taken.dropped,
                },
            },
        );
        let sid = call_sid.clone();
        if let Some(a) = adopted {
            a.gate
                .confirm(&deps.sessions, call_sid, utterance, confidence)
                .await;
            // Share its outcome once it is done, as any turn's.
            let mut done = a.done.clone();
            tokio::spawn(async move {
                let outcome = match done.wait_for(Option::is_some).await {
                    Ok(o) => o.clone().unwrap_or_else(|| Arc::new(Outcome::apology())),
                    Err(_) => Arc::new(Outcome::apology()),
                };
                if let Err(e) = locks.finish(&sid, &id, &outcome, false).await {
                    tracing::error!(call_sid = %sid, error = %e, "could not share a turn's outcome");
                }
            });
            return Begin::Started(a.done);
        }
        let utterance = utterance.to_owned();
        run_now_or_spawn(async move {
            // The common case: the call's lock was free, the caller's
            // words go in with reading the transcript.
            let mut words = Some((utterance.as_str(), confidence));
            let ours = locked
                || {
                    // Another turn of the call still runs: the words go in now,
                    // the reply waits for it.
                    if let Some((direction, details)) = &deps.call {
                        deps.sessions.begin(&sid, *direction, details).await;
                    }
                    deps.sessions
                        .record(&sid, Role::User, &utterance, confidence)
                        .await;
                    words = None;
                    locks
                    .lock(&sid, &id, deps.deadline)
                    .await
                    .unwrap_or_else(|e| {
                        tracing::error!(call_sid = %sid, error = %e, "could not lock the call's turn");
                        false
                    })
                };
            // Shares the outcome and frees the call's lock. The slot keeps
            // one receiver; another one is a webhook here still waiting.
            let share = |outcome: Arc<Outcome>| {
                let answered_here = tx.receiver_count() > 1;
                let (locks, sid, id) = (Arc::clone(&locks), sid.clone(), id.clone());
                async move {
                    if let Err(e) = locks.finish(&sid, &id, &outcome, answered_here).await {
                        tracing::error!(call_sid = %sid, error = %e, "could not share a turn's outcome");
                    }
                }
            };
            let outcome = if ours {
                run_final_turn(&deps, &sid, words, ordinary, share).await
            } else {
                tracing::warn!(call_sid = %sid, "the call's previous turn never let go; apologising");
                deps.sessions
                    .record(&sid, Role::Assistant, APOLOGY, None)
                    .await;
                let outcome = Arc::new(Outcome::apology());
                share(Arc::clone(&outcome)).await;
                outcome
            };
            let _ = tx.send(Some(outcome));
        });
        Begin::Started(rx)
    }

    /// The outcome of turn `id`: from this process when it runs here, else
    /// from Redis once the instance running it is done.
    fn done_for(
        &self,
        locks: &Arc<TurnLocks>,
        sid: &CallSid,
        id: String,
        patience: Duration,
    ) -> Done {
        match self.slots.get(sid) {
            Some(slot) if slot.id.as_deref() == Some(id.as_str()) => slot.done.clone(),
            _ => locks.watch_remote(sid, id, patience + Duration::from_secs(5)),
        }
    }

    /// The call's current turn, to continue waiting for it.
    pub async fn current(&self, call_sid: &CallSid) -> Option<Done> {
        let Some(locks) = &self.shared else {
            return self.slots.get(call_sid).map(|s| s.done.clone());
        };
        match locks.current(call_sid).await {
            Ok(Some(current)) => Some(match current.outcome {
                Some(outcome) => watch::channel(Some(outcome)).1,
                None => self.done_for(locks, call_sid, current.id, Duration::from_secs(30)),
            }),
            Ok(None) => None,
            Err(e) => {
                tracing::error!(call_sid = %call_sid, error = %e, "could not find the call's turn");
                None
            }
        }
    }

    /// Counts a holding answer for the current turn; returns the count.
    pub async fn note_hold(&self, call_sid: &CallSid) -> u32 {
        let local = self.slots.get_mut(call_sid).map_or(0, |mut s| {
            s.holds += 1;
            s.holds
        });
        if let Some(locks) = &self.shared {
            return locks.note_hold(call_sid).await.unwrap_or_else(|e| {
                tracing::error!(call_sid = %call_sid, error = %e, "could not count a hold");
                0
            });
        }
        local
    }

    /// The ledger entry for `outcome`, the first time a webhook answers
    /// with it: `None` for a replay, or when the call has a newer turn.
    pub async fn answered(
        &self,
        call_sid: &CallSid,
        outcome: &Arc<Outcome>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Option<LedgerEntry> {
        if let Some(locks) = &self.shared {
            // Answered where the turn ran: the ledger entry is written here
            // (and the shared record says so, see `finish`).
            if let Some(mut slot) = self.slots.get_mut(call_sid)
                && slot.id.is_some()
                && slot
                    .done
                    .borrow()
                    .as_ref()
                    .is_some_and(|o| Arc::ptr_eq(o, outcome))
            {
                if slot.in_ledger {
                    return None;
                }
                slot.in_ledger = true;
                return Some(LedgerEntry::answered(
                    slot.received,
                    &outcome.timing,
                    slot.holds > 0,
                    slot.speculated,
                ));
            }
            let (received_at, held) = locks.answered(call_sid).await.ok()??;
            let total = (now - received_at).to_std().unwrap_or_default();
            return Some(LedgerEntry::answered_after(
                received_at,
                total,
                &outcome.timing,
                held,
                Speculated::default(),
            ));
        }
        let mut slot = self.slots.get_mut(call_sid)?;
        let current = slot.done.borrow().clone()?;
        if slot.in_ledger || !Arc::ptr_eq(&current, outcome) {
            return None;
        }
        slot.in_ledger = true;
        Some(LedgerEntry::answered(
            slot.received,
            &outcome.timing,
            slot.holds > 0,
            slot.speculated,
        ))
    }

    /// Drops what is kept for a call that ended.
    pub async fn forget(&self, call_sid: &CallSid) {
        self.slots.remove(call_sid);
        self.locks.remove(call_sid);
        self.speculations.forget(call_sid);
        if let Some(locks) = &self.shared
            && let Err(e) = locks.forget(call_sid).await
        {
            tracing::warn!(call_sid = %call_sid, error = %e, "could not drop an ended call's turn");
        }
    }

    /// Drops the slots of calls that are no longer live.
    pub async fn retain_live(&self, sessions: &SessionStore) {
        let sids: Vec<CallSid> = self.slots.iter().map(|s| s.key().clone()).collect();
        for sid in sids {
            if !sessions.is_live(&sid).await {
                self.slots.remove(&sid);
                self.locks.remove(&sid);
            }
        }
        self.locks.retain(|sid, _| self.slots.contains_key(sid));
        self.speculations.retain_live(sessions).await;
    }

    /// Calls with a slot (for tests and metrics).
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether no call has a slot.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
}

/// Offers a speculation to the other instances (see [`shared`]) and
/// watches the offer until the caller's final words come: confirmed on
/// another instance, the speculation is the turn here and its outcome is
/// shared; withdrawn, it is dropped. When the final words land here, the
/// turn runner takes it as usual and the offer is withdrawn.
async fn offer_speculation(
    locks: Arc<TurnLocks>,
    speculations: Arc<speculation::Speculations>,
    (metrics, sessions): (Arc<Metrics>, Arc<SessionStore>),
    sid: CallSid,
    key: String,
    gate: Arc<Gate>,
    mut done: Done,
) {
    let id = shared::new_id();
    if let Err(e) = locks.offer(&sid, &id, &key).await {
        tracing::warn!(call_sid = %sid, error = %e, "could not offer a speculation");
        return;
    }
    loop {
        tokio::time::sleep(shared::POLL).await;
        if gate.standing() != Standing::Pending {
            // Taken here, or dropped here: the offer is over.
            let _ = locks.withdraw(&sid, &id).await;
            return;
        }
        match locks.offer_state(&sid, &id).await {
            Ok(shared::Offer::Open) => {}
            Ok(shared::Offer::Confirmed { words, confidence }) => {
                if !speculations.claim(&metrics, &sid, &gate) {
                    return;
                }
                gate.confirm(&sessions, &sid, &words, confidence).await;
                let outcome = match done.wait_for(Option::is_some).await {
                    Ok(o) => o.clone().unwrap_or_else(|| Arc::new(Outcome::apology())),
                    Err(_) => Arc::new(Outcome::apology()),
                };
                if let Err(e) = locks.finish(&sid, &id, &outcome, false).await {
                    tracing::error!(call_sid = %sid, error = %e, "could not share a turn's outcome");
                }
                let _ = locks.withdraw(&sid, &id).await;
                return;
            }
            Ok(shared::Offer::Gone) => {
                speculations.drop_if(&metrics, &sid, &gate);
                return;
            }
            Err(e) => tracing::warn!(call_sid = %sid, error = %e, "watching a speculation's offer"),
        }
    }
}

/// Waits up to `budget` for a turn's outcome.
pub async fn wait(mut done: Done, budget: Duration) -> Option<Arc<Outcome>> {
    let ready = tokio::time::timeout(budget, done.wait_for(Option::is_some)).await;
    match ready {
        Ok(Ok(v)) => v.clone(),
        // The task ended without an outcome (it cannot, but do not hang).
        Ok(Err(_)) => Some(Arc::new(Outcome::apology())),
        Err(_) => None,
    }
}

/// A turn on the caller's final words: ask the agent, record what it
/// said. `words` are the caller's, when they are not in the transcript yet
/// (they go in with reading it).
/// `after` runs with the outcome as its reply is recorded (see
/// [`finish_turn`]).
async fn run_final_turn<F: Future<Output = ()>>(
    deps: &TurnDeps,
    sid: &CallSid,
    words: Option<(&str, Option<f64>)>,
    gate: Arc<Gate>,
    after: impl FnOnce(Arc<Outcome>) -> F,
) -> Arc<Outcome> {
    let window = deps.agent.history_window();
    let sessions = &deps.sessions;
    let input = match words {
        // A live call's session needs no refresh: the words go in with
        // reading it. A call not live yet is started from the webhook.
        Some((words, confidence)) => match sessions
            .record_and_input(sid, words, confidence, window)
            .await
        {
            Some(input) => input,
            None => {
                if let Some((direction, details)) = &deps.call {
                    sessions.begin(sid, *direction, details).await;
                }
                sessions
                    .record_and_input(sid, words, confidence, window)
                    .await
                    .unwrap_or_default()
            }
        },
        None => sessions.turn_input(sid, window).await,
    };
    let memory_before = input.memory.clone();
    let ((result, agent_time), traced) = ledger::trace(run_agent(deps, sid, input, gate)).await;
    finish_turn(deps, sid, result, traced, agent_time, &memory_before, after).await
}

/// Asks the agent for the reply to the last caller words in `input`,
/// within the turn's one deadline: when it passes, the agent's work is
/// dropped. Its tools record what they did (through `gate`) as they run.
/// Run it inside [`ledger::trace`] to see what it waited for.
async fn run_agent(
    deps: &TurnDeps,
    sid: &CallSid,
    input: TurnInput,
    gate: Arc<Gate>,
) -> (Result<Reply, AgentError>, Duration) {
    let started = tokio::time::Instant::now();
    let deadline = started + deps.deadline;
    let ctx = CallContext {
        call_sid: sid.clone(),
        caller: input.caller,
        now: (deps.clock)(),
        memory: input.memory,
        deadline,
        sessions: Arc::clone(&deps.sessions),
        gate,
    };
    let result = tokio::time::timeout_at(deadline, deps.agent.reply(&ctx, &input.history))
        .await
        .unwrap_or(Err(AgentError::Timeout));
    (result, started.elapsed())
}

/// Records what the agent said (or the one apology when it failed), with
/// its memory when it changed from `memory_before`, and counts the turn.
/// Only for a turn whose words are final. `after` (sharing the outcome with
/// other instances) goes out together with the reply's record, right
/// behind it: the store gets them in that order, the turn waits for one
/// round trip instead of two.
async fn finish_turn<F: Future<Output = ()>>(
    deps: &TurnDeps,
    sid: &CallSid,
    result: Result<Reply, AgentError>,
    traced: Traced,
    agent_time: Duration,
    memory_before: &Option<serde_json::Value>,
    after: impl FnOnce(Arc<Outcome>) -> F,
) -> Arc<Outcome> {
    let mut new_memory = None;
    let (reply, outcome) = match result {
        Ok(reply) => {
            if reply.memory != *memory_before {
                new_memory = Some(reply.memory.clone());
            }
            let outcome = if reply.end_call {
                TurnOutcome::EndedCall
            } else {
                TurnOutcome::Replied
            };
            (reply, outcome)
        }
        Err(e) => {
            tracing::warn!(call_sid = %sid, error = %e, "agent failed; apologising");
            (Reply::say(APOLOGY), TurnOutcome::Failed)
        }
    };
    deps.metrics.turn(outcome, agent_time);
    deps.metrics.llm(&traced);
    tracing::debug!(call_sid = %sid, ms = agent_time.as_millis() as u64, "turn done");
    let text = fit_for_speech(&reply.text, MAX_SAY_CHARS);
    let text = if text.is_empty() { APOLOGY } else { text };
    let outcome = Arc::new(Outcome {
        text: text.to_owned(),
        end_call: reply.end_call,
        transfer: reply.transfer,
        timing: TurnTiming {
            agent: agent_time,
            traced,
        },
    });
    tokio::join!(
        deps.sessions.record_reply(sid, text, new_memory),
        after(Arc::clone(&outcome))
    );
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_replies_are_cut_at_a_sentence() {
        let text = "First sentence. Second sentence is longer. Third.";
        assert_eq!(fit_for_speech(text, 30), "First sentence.");
        assert_eq!(fit_for_speech(text, 500), text);
        assert_eq!(fit_for_speech("no stops here at all", 8), "no stops");
        assert_eq!(fit_for_speech("ééééé", 3), "ééé");
    }
}
