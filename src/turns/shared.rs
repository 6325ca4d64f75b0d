//! Turn coordination across instances, in Redis (`REDIS_URL`).
//!
//! Any instance may get any webhook of a call, so what a later webhook
//! needs about a turn lives in Redis: a per-call record of the running (or
//! last finished) turn — its id, Twilio's idempotency token, the
//! utterance, when it arrived, its holds and, once finished, its outcome —
//! and a per-call lock that the turn holds while the agent works. The lock
//! expires on its own ([`TurnLocks`]'s time to live, just past the turn's
//! deadline), so an instance that dies mid-turn does not block the call.
//!
//! Deciding whether a webhook starts, joins or replays a turn, and taking
//! the lock, is one Lua script, so two instances receiving Twilio's retry at
//! once cannot both start the turn. A running turn whose lock is gone had
//! its instance die: a retry of it starts afresh instead of waiting for an
//! outcome that will never come.
//!
//! A webhook waiting for a turn that runs on another instance polls the
//! record every [`POLL`]: a few small requests per held turn, nothing on
//! the common path where the turn runs where its webhook arrived.
//!
//! Speculative turns run where the partial results landed; the instance
//! offers its speculation in Redis (its id and the normalised words). When
//! the final words land on another instance and say the same, the start
//! script makes the offered speculation the turn (same id, the call's lock
//! taken for it) and marks the offer confirmed; the speculating instance,
//! which polls its offer while the words are pending, then lets its side
//! effects run and shares the outcome like any turn's. Final words that say
//! something else withdraw the offer, and the speculation is dropped.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, TimeZone, Utc};
use redis::Script;
use tokio::sync::watch;

use super::{Done, Outcome};
use crate::{
    shared::{Shared, SharedError, keys},
    twilio::webhook::CallSid,
};

/// How often a webhook waiting on another instance's turn looks again.
pub const POLL: Duration = Duration::from_millis(25);

/// How long a turn record outlives its last write.
const RECORD_TTL_SECONDS: u64 = 3600;

/// What Redis decided for a webhook's utterance.
pub enum Decision {
    /// A new turn with this id; `locked` when it holds the call's lock already.
    Started {
        /// The turn's id.
        id: String,
        /// The call's lock was free and is now this turn's.
        locked: bool,
    },
    /// A retry of the running turn with this id.
    Joined(String),
    /// A retry of a finished turn.
    Replay(Arc<Outcome>),
    /// The speculation another instance offered for the same words became
    /// the turn, with this id: wait for its outcome.
    Adopted(String),
}

/// Where a speculation's offer stands.
pub enum Offer {
    /// Still offered; no final words yet.
    Open,
    /// The final words said the same, on another instance: it is the turn.
    Confirmed {
        /// The caller's final words.
        words: String,
        /// Their recognition confidence.
        confidence: Option<f64>,
    },
    /// Withdrawn (other final words) or replaced.
    Gone,
}

/// The current turn of a call, as Redis has it.
pub struct Current {
    /// Its id.
    pub id: String,
    /// Its outcome, once finished.
    pub outcome: Option<Arc<Outcome>>,
}

/// Turn records and locks in Redis.
pub struct TurnLocks {
    shared: Shared,
    lock_ttl: Duration,
    begin: Script,
    finish: Script,
    withdraw: Script,
    answered: Script,
}

fn outcome_of(json: &str) -> Result<Arc<Outcome>, SharedError> {
    serde_json::from_str(json)
        .map(Arc::new)
        .map_err(|e| SharedError::Corrupt {
            what: "turn outcome",
            why: e.to_string(),
        })
}

impl TurnLocks {
    /// Records and locks in `shared`; a lock lives `lock_ttl` at most (a
    /// little more than the turn's deadline).
    pub fn new(shared: Shared, lock_ttl: Duration) -> Self {
        Self {
            shared,
            lock_ttl,
            // KEYS: record, lock, speculation. ARGV: id, token, utterance,
            // received ms, record ttl s, lock ttl ms, normalised words,
            // '1' when this instance's own speculation has them,
            // confidence.
            begin: Script::new(
                r"
local cur = redis.call('HMGET', KEYS[1], 'id', 'token', 'utterance', 'outcome')
if cur[1] then
  local same_token = ARGV[2] ~= '' and cur[2] == ARGV[2]
  if cur[4] then
    if same_token then return {'replay', cur[4]} end
  elseif redis.call('EXISTS', KEYS[2]) == 1 and (same_token or cur[3] == ARGV[3]) then
    return {'joined', cur[1]}
  end
end
local spec = redis.call('HMGET', KEYS[3], 'id', 'key', 'confirmed')
if spec[1] and ARGV[8] ~= '1' then
  if spec[2] == ARGV[7] and not spec[3] and redis.call('EXISTS', KEYS[2]) == 0 then
    redis.call('DEL', KEYS[1])
    redis.call('HSET', KEYS[1], 'id', spec[1], 'token', ARGV[2], 'utterance', ARGV[3],
      'received', ARGV[4], 'holds', 0, 'ledgered', 0)
    redis.call('EXPIRE', KEYS[1], ARGV[5])
    redis.call('SET', KEYS[2], spec[1], 'PX', ARGV[6])
    redis.call('HSET', KEYS[3], 'confirmed', ARGV[3], 'confidence', ARGV[9])
    return {'adopted', spec[1]}
  end
  redis.call('DEL', KEYS[3])
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'token', ARGV[2], 'utterance', ARGV[3],
  'received', ARGV[4], 'holds', 0, 'ledgered', 0)
redis.call('EXPIRE', KEYS[1], ARGV[5])
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[6]) then return {'started', '1'} end
return {'started', '0'}
",
            ),
            // KEYS: record, lock. ARGV: id, outcome, '1' when a webhook
            // on the finishing instance answers with it (and writes its
            // ledger entry there).
            finish: Script::new(
                r"
if redis.call('HGET', KEYS[1], 'id') == ARGV[1] then
  redis.call('HSET', KEYS[1], 'outcome', ARGV[2])
  if ARGV[3] == '1' then redis.call('HSET', KEYS[1], 'ledgered', 1) end
end
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
return 1
",
            ),
            // KEYS: speculation. ARGV: id. Withdraws the offer if it is
            // still this one.
            withdraw: Script::new(
                r"
if redis.call('HGET', KEYS[1], 'id') == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
",
            ),
            // KEYS: record. The arrival ms and holds of a finished turn
            // answered for the first time, or nothing.
            answered: Script::new(
                r"
local r = redis.call('HMGET', KEYS[1], 'outcome', 'ledgered', 'received', 'holds')
if not r[1] or r[2] ~= '0' then return false end
redis.call('HSET', KEYS[1], 'ledgered', 1)
return {r[3], r[4]}
",
            ),
        }
    }

    /// Starts, joins or replays the turn for `utterance`, or makes the
    /// speculation another instance offered for the same words (`key`,
    /// normalised) the turn. `own_speculation`: this instance works on
    /// these words already.
    pub async fn begin(
        &self,
        sid: &CallSid,
        token: Option<&str>,
        (utterance, confidence): (&str, Option<f64>),
        key: &str,
        own_speculation: bool,
        received: DateTime<Utc>,
    ) -> Result<Decision, SharedError> {
        let id = new_id();
        let (kind, value): (String, String) = self
            .begin
            .key(keys::turn(sid))
            .key(keys::turn_lock(sid))
            .key(keys::speculation(sid))
            .arg(&id)
            .arg(token.unwrap_or_default())
            .arg(utterance)
            .arg(received.timestamp_millis())
            .arg(RECORD_TTL_SECONDS)
            .arg(self.lock_ttl.as_millis() as u64)
            .arg(key)
            .arg(if own_speculation { "1" } else { "0" })
            .arg(confidence.map(|c| c.to_string()).unwrap_or_default())
            .invoke_async(&mut self.shared.conn())
            .await?;
        Ok(match kind.as_str() {
            "replay" => Decision::Replay(outcome_of(&value)?),
            "joined" => Decision::Joined(value),
            "adopted" => Decision::Adopted(value),
            _ => Decision::Started {
                id,
                locked: value == "1",
            },
        })
    }

    /// Waits until the call's lock is this turn's, for at most `patience`;
    /// false when it never came free.
    pub async fn lock(
        &self,
        sid: &CallSid,
        id: &str,
        patience: Duration,
    ) -> Result<bool, SharedError> {
        let until = tokio::time::Instant::now() + patience;
        loop {
            let got: Option<String> = redis::cmd("SET")
                .arg(keys::turn_lock(sid))
                .arg(id)
                .arg("NX")
                .arg("PX")
                .arg(self.lock_ttl.as_millis() as u64)
                .query_async(&mut self.shared.conn())
                .await?;
            if got.is_some() {
                return Ok(true);
            }
            if tokio::time::Instant::now() + POLL > until {
                return Ok(false);
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Keeps the turn's outcome for the webhooks of any instance and frees
    /// the call's lock. `answered_here`: a webhook of this instance waits
    /// for it and writes the ledger entry, so no other instance does.
    pub async fn finish(
        &self,
        sid: &CallSid,
        id: &str,
        outcome: &Outcome,
        answered_here: bool,
    ) -> Result<(), SharedError> {
        let json = serde_json::to_string(outcome).unwrap_or_default();
        let _: i64 = self
            .finish
            .key(keys::turn(sid))
            .key(keys::turn_lock(sid))
            .arg(id)
            .arg(json)
            .arg(if answered_here { "1" } else { "0" })
            .invoke_async(&mut self.shared.conn())
            .await?;
        Ok(())
    }

    /// The call's current turn, if it has one.
    pub async fn current(&self, sid: &CallSid) -> Result<Option<Current>, SharedError> {
        let (id, outcome): (Option<String>, Option<String>) = redis::cmd("HMGET")
            .arg(keys::turn(sid))
            .arg(&["id", "outcome"])
            .query_async(&mut self.shared.conn())
            .await?;
        let Some(id) = id else { return Ok(None) };
        let outcome = outcome.as_deref().map(outcome_of).transpose()?;
        Ok(Some(Current { id, outcome }))
    }

    /// Offers this instance's speculation `id` on the normalised words
    /// `key` for the call's final words, wherever they land.
    pub async fn offer(&self, sid: &CallSid, id: &str, key: &str) -> Result<(), SharedError> {
        redis::pipe()
            .atomic()
            .del(keys::speculation(sid))
            .hset_multiple(keys::speculation(sid), &[("id", id), ("key", key)])
            .expire(keys::speculation(sid), 120)
            .query_async::<()>(&mut self.shared.conn())
            .await?;
        Ok(())
    }

    /// Where the offer of speculation `id` stands.
    pub async fn offer_state(&self, sid: &CallSid, id: &str) -> Result<Offer, SharedError> {
        let [offered, words, confidence]: [Option<String>; 3] = redis::cmd("HMGET")
            .arg(keys::speculation(sid))
            .arg(&["id", "confirmed", "confidence"])
            .query_async(&mut self.shared.conn())
            .await?;
        Ok(match (offered, words) {
            (Some(offered), _) if offered != id => Offer::Gone,
            (None, _) => Offer::Gone,
            (Some(_), None) => Offer::Open,
            (Some(_), Some(words)) => Offer::Confirmed {
                words,
                confidence: confidence.and_then(|c| c.parse().ok()),
            },
        })
    }

    /// Withdraws the offer of speculation `id`, if it is still offered.
    pub async fn withdraw(&self, sid: &CallSid, id: &str) -> Result<(), SharedError> {
        let _: i64 = self
            .withdraw
            .key(keys::speculation(sid))
            .arg(id)
            .invoke_async(&mut self.shared.conn())
            .await?;
        Ok(())
    }

    /// Counts a holding answer for the current turn; returns the count.
    pub async fn note_hold(&self, sid: &CallSid) -> Result<u32, SharedError> {
        let n: i64 = redis::cmd("HINCRBY")
            .arg(keys::turn(sid))
            .arg("holds")
            .arg(1)
            .query_async(&mut self.shared.conn())
            .await?;
        Ok(u32::try_from(n).unwrap_or(0))
    }

    /// For the first webhook answering with the finished current turn:
    /// when it arrived and whether it was held.
    pub async fn answered(
        &self,
        sid: &CallSid,
    ) -> Result<Option<(DateTime<Utc>, bool)>, SharedError> {
        let claimed: Option<(i64, u32)> = self
            .answered
            .key(keys::turn(sid))
            .invoke_async(&mut self.shared.conn())
            .await?;
        Ok(claimed
            .and_then(|(ms, holds)| Some((Utc.timestamp_millis_opt(ms).single()?, holds > 0))))
    }

    /// Drops the call's turn record and lock (the call ended).
    pub async fn forget(&self, sid: &CallSid) -> Result<(), SharedError> {
        let _: i64 = redis::cmd("DEL")
            .arg(keys::turn(sid))
            .arg(keys::turn_lock(sid))
            .arg(keys::speculation(sid))
            .query_async(&mut self.shared.conn())
            .await?;
        Ok(())
    }

    /// A receiver that gets the outcome of turn `id` once another
    /// instance finishes it, polling Redis until then (for at most
    /// `patience`, or until nobody waits any more).
    pub fn watch_remote(self: &Arc<Self>, sid: &CallSid, id: String, patience: Duration) -> Done {
        let (tx, rx) = watch::channel(None);
        let locks = Arc::clone(self);
        let sid = sid.clone();
        tokio::spawn(async move {
            let until = tokio::time::Instant::now() + patience;
            while !tx.is_closed() && tokio::time::Instant::now() < until {
                match locks.current(&sid).await {
                    Ok(Some(c)) if c.id == id => {
                        if let Some(outcome) = c.outcome {
                            let _ = tx.send(Some(outcome));
                            return;
                        }
                    }
                    // A newer turn replaced it, or the call ended: its
                    // outcome is in the transcript, nobody waits for it.
                    Ok(_) => return,
                    Err(e) => tracing::warn!(call_sid = %sid, error = %e, "waiting for a turn"),
                }
                tokio::time::sleep(POLL).await;
            }
        });
        rx
    }
}

/// A turn id: unique across instances.
pub fn new_id() -> String {
    let mut bytes = [0u8; 12];
    getrandom::fill(&mut bytes).unwrap_or_default();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
