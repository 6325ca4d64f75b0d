//! Live calls in Redis (`REDIS_URL`), shared by every instance.
//!
//! Per call: a hash with the session's scalar fields as JSON (`meta`), a
//! version (`ver`), the last activity in milliseconds (`activity`), the
//! silence count (`silent`) and the agent's memory (`memory`); and three
//! lists that are only ever appended to (transcript, ledger, texts). A
//! sorted set of live calls scored by last activity serves `GET /sessions`
//! and the idle expiry of every instance.
//!
//! Atomicity comes from Redis running each Lua script alone: a scalar
//! change is a compare-and-set on `ver` (read, change in Rust, write if
//! nobody wrote in between, else read again); an append checks that the
//! call is live and stamps its activity in the same step; taking a call out
//! for the call log removes it from the live set first, so when two
//! instances expire one idle call, exactly one logs it. Every key expires
//! [`KEY_TTL_SECONDS`] after the call's session was created or last
//! changed (a list: after its first entry), so a call abandoned by every
//! instance does not stay in Redis for ever.

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use redis::Script;
use serde::de::DeserializeOwned;

use super::{Change, Changed, LiveCalls, Visit};
use crate::{
    session::{LedgerEntry, Session, TextRecord, Turn},
    shared::{Shared, SharedError, keys},
    twilio::webhook::CallSid,
};

/// How long a call's keys live after the session was created or last
/// changed (two days): longer than any call.
pub const KEY_TTL_SECONDS: u64 = 2 * 24 * 3600;

/// How often a scalar change is tried again when another instance changed
/// the call at the same moment.
const CHANGE_ATTEMPTS: usize = 16;

/// Live calls in Redis.
pub struct RedisCalls {
    shared: Shared,
    scripts: Scripts,
}

struct Scripts {
    change: Script,
    append: Script,
    append_read: Script,
    reply: Script,
    touch: Script,
    silence: Script,
    memory: Script,
    take: Script,
}

/// Stamps a call's activity (milliseconds) in its hash and the live set,
/// never moving it backwards; every script that changes a call starts with
/// it.
const STAMP: &str = r"
local function stamp(hash, live, ms, sid)
  local act = tonumber(redis.call('HGET', hash, 'activity') or '0')
  if tonumber(ms) > act then
    redis.call('HSET', hash, 'activity', ms)
    redis.call('ZADD', live, ms, sid)
  end
end
";

/// A script that may call `stamp`.
fn stamping(body: &str) -> Script {
    Script::new(&format!("{STAMP}{body}"))
}

impl Scripts {
    fn new() -> Self {
        Self {
            // KEYS: hash, live set. ARGV: expected ver ('' = absent), meta,
            // activity ms, silent ('' = keep), sid, ttl.
            change: stamping(
                r"
local ver = redis.call('HGET', KEYS[1], 'ver') or ''
if ver ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'meta', ARGV[2], 'ver', (tonumber(ver) or 0) + 1)
stamp(KEYS[1], KEYS[2], ARGV[3], ARGV[5])
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'silent', ARGV[4]) end
redis.call('EXPIRE', KEYS[1], ARGV[6])
return 1
",
            ),
            // KEYS: hash, list, live set. ARGV: item, activity ms ('' =
            // none), reset silence ('1'/'0'), sid, ttl. The new index, or -1.
            append: stamping(
                r"
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local n = redis.call('RPUSH', KEYS[2], ARGV[1])
if n == 1 then redis.call('EXPIRE', KEYS[2], ARGV[5]) end
if ARGV[2] ~= '' then stamp(KEYS[1], KEYS[3], ARGV[2], ARGV[4]) end
if ARGV[3] == '1' then redis.call('HSET', KEYS[1], 'silent', 0) end
return n - 1
",
            ),
            // KEYS: hash, history, live set. ARGV: turn, activity ms, sid,
            // ttl, window. The turn's index, the hash fields and the last
            // `window` turns; nothing when the call is not live.
            append_read: stamping(
                r"
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local n = redis.call('RPUSH', KEYS[2], ARGV[1])
if n == 1 then redis.call('EXPIRE', KEYS[2], ARGV[4]) end
stamp(KEYS[1], KEYS[3], ARGV[2], ARGV[3])
redis.call('HSET', KEYS[1], 'silent', 0)
local f = redis.call('HMGET', KEYS[1], 'meta', 'activity', 'silent', 'memory')
local h = redis.call('LRANGE', KEYS[2], -tonumber(ARGV[5]), -1)
return {n - 1, f, h}
",
            ),
            // KEYS: hash, history, live set. ARGV: turn, activity ms, sid,
            // ttl, memory ('keep', 'clear' or 'set'), memory JSON. The
            // turn's index, or -1.
            reply: stamping(
                r"
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if ARGV[5] == 'clear' then redis.call('HDEL', KEYS[1], 'memory')
elseif ARGV[5] == 'set' then redis.call('HSET', KEYS[1], 'memory', ARGV[6]) end
local n = redis.call('RPUSH', KEYS[2], ARGV[1])
if n == 1 then redis.call('EXPIRE', KEYS[2], ARGV[4]) end
stamp(KEYS[1], KEYS[3], ARGV[2], ARGV[3])
return n - 1
",
            ),
            // KEYS: hash, live set. ARGV: activity ms, sid.
            touch: stamping(
                r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
stamp(KEYS[1], KEYS[2], ARGV[1], ARGV[2])
return 1
",
            ),
            // KEYS: hash, live set. ARGV: activity ms, sid. The new count, or -1.
            silence: stamping(
                r"
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local n = redis.call('HINCRBY', KEYS[1], 'silent', 1)
stamp(KEYS[1], KEYS[2], ARGV[1], ARGV[2])
return n
",
            ),
            // KEYS: hash. ARGV: memory JSON ('' = none).
            memory: Script::new(
                r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if ARGV[1] == '' then redis.call('HDEL', KEYS[1], 'memory')
else redis.call('HSET', KEYS[1], 'memory', ARGV[1]) end
return 1
",
            ),
            // KEYS: live set, hash, history, ledger, texts. ARGV: sid.
            take: Script::new(
                r"
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return false end
local fields = redis.call('HMGET', KEYS[2], 'meta', 'activity', 'silent', 'memory')
local h = redis.call('LRANGE', KEYS[3], 0, -1)
local l = redis.call('LRANGE', KEYS[4], 0, -1)
local t = redis.call('LRANGE', KEYS[5], 0, -1)
redis.call('DEL', KEYS[2], KEYS[3], KEYS[4], KEYS[5])
return {fields, h, l, t}
",
            ),
        }
    }
}

/// The hash fields read back into a session: meta, activity, silent, memory.
type Fields = (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn parse<T: DeserializeOwned>(what: &'static str, json: &str) -> Result<T, SharedError> {
    serde_json::from_str(json).map_err(|e| SharedError::Corrupt {
        what,
        why: e.to_string(),
    })
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    // Sessions, turns and ledger entries are plain data: serialising them
    // cannot fail.
    serde_json::to_string(value).unwrap_or_default()
}

/// The session from its hash fields and lists; `None` when it has no meta.
fn assemble(
    fields: Fields,
    history: &[String],
    ledger: &[String],
    texts: &[String],
) -> Result<Option<Session>, SharedError> {
    let (meta, activity, silent, memory) = fields;
    let Some(meta) = meta else { return Ok(None) };
    let mut s: Session = parse("session", &meta)?;
    if let Some(ms) = activity.and_then(|a| a.parse::<i64>().ok())
        && let Some(at) = Utc.timestamp_millis_opt(ms).single()
    {
        s.last_activity_at = at;
    }
    s.silent_turns = silent.and_then(|n| n.parse().ok()).unwrap_or(0);
    s.agent_memory = memory.map(|m| parse("agent memory", &m)).transpose()?;
    s.conversation_history = history
        .iter()
        .map(|t| parse("turn", t))
        .collect::<Result<_, _>>()?;
    s.ledger = ledger
        .iter()
        .map(|e| parse("ledger entry", e))
        .collect::<Result<_, _>>()?;
    s.texts = texts
        .iter()
        .map(|t| parse("text record", t))
        .collect::<Result<_, _>>()?;
    Ok(Some(s))
}

impl RedisCalls {
    /// Live calls kept in `shared`.
    pub fn new(shared: Shared) -> Self {
        Self {
            shared,
            scripts: Scripts::new(),
        }
    }

    async fn fields(&self, sid: &CallSid) -> Result<(Fields, Option<String>), SharedError> {
        let [meta, ver, activity, silent, memory]: [Option<String>; 5] = redis::cmd("HMGET")
            .arg(keys::session(sid))
            .arg(&["meta", "ver", "activity", "silent", "memory"])
            .query_async(&mut self.shared.conn())
            .await?;
        Ok(((meta, activity, silent, memory), ver))
    }

    async fn append(
        &self,
        sid: &CallSid,
        list: String,
        item: String,
        activity: Option<DateTime<Utc>>,
        caller_spoke: bool,
    ) -> Result<Option<usize>, SharedError> {
        let index: i64 = self
            .scripts
            .append
            .key(keys::session(sid))
            .key(list)
            .key(keys::live())
            .arg(item)
            .arg(activity.map(|a| millis(a).to_string()).unwrap_or_default())
            .arg(if caller_spoke { "1" } else { "0" })
            .arg(sid.as_str())
            .arg(KEY_TTL_SECONDS)
            .invoke_async(&mut self.shared.conn())
            .await?;
        Ok(usize::try_from(index).ok())
    }
}

#[async_trait]
impl LiveCalls for RedisCalls {
    async fn contains(&self, sid: &CallSid) -> Result<bool, SharedError> {
        let n: u32 = redis::cmd("EXISTS")
            .arg(keys::session(sid))
            .query_async(&mut self.shared.conn())
            .await?;
        Ok(n > 0)
    }

    async fn count(&self) -> Result<usize, SharedError> {
        Ok(redis::cmd("ZCARD")
            .arg(keys::live())
            .query_async(&mut self.shared.conn())
            .await?)
    }

    async fn change(
        &self,
        sid: &CallSid,
        create: Option<Session>,
        change: &mut Change<'_>,
    ) -> Result<Changed, SharedError> {
        for _ in 0..CHANGE_ATTEMPTS {
            let (fields, ver) = self.fields(sid).await?;
            let (mut session, changed) = match assemble(fields, &[], &[], &[])? {
                Some(s) => (s, Changed::Updated),
                None => match &create {
                    Some(fresh) => (fresh.scalars(), Changed::Created),
                    None => return Ok(Changed::Missing),
                },
            };
            let before = (changed == Changed::Updated).then(|| session.clone());
            let silent_before = session.silent_turns;
            change(&mut session);
            // A change that only stamps the activity is left to the next
            // append, which stamps it anyway: one request instead of two.
            if let Some(mut before) = before {
                before.last_activity_at = session.last_activity_at;
                if before == session {
                    return Ok(Changed::Updated);
                }
            }
            let silent = if changed == Changed::Created || session.silent_turns != silent_before {
                session.silent_turns.to_string()
            } else {
                String::new()
            };
            let written: i64 = self
                .scripts
                .change
                .key(keys::session(sid))
                .key(keys::live())
                .arg(ver.unwrap_or_default())
                .arg(meta_json(&session))
                .arg(millis(session.last_activity_at))
                .arg(silent)
                .arg(sid.as_str())
                .arg(KEY_TTL_SECONDS)
                .invoke_async(&mut self.shared.conn())
                .await?;
            if written == 1 {
                if changed == Changed::Created && session.agent_memory.is_some() {
                    self.set_memory(sid, session.agent_memory.take()).await?;
                }
                return Ok(changed);
            }
        }
        Err(SharedError::Contended { what: "session" })
    }

    async fn put(&self, session: Session) -> Result<(), SharedError> {
        let sid = &session.call_sid;
        let activity = millis(session.last_activity_at);
        let mut pipe = redis::pipe();
        pipe.atomic()
            .del(&[
                keys::session(sid),
                keys::history(sid),
                keys::ledger(sid),
                keys::texts(sid),
            ])
            .hset_multiple(
                keys::session(sid),
                &[
                    ("meta", meta_json(&session)),
                    ("ver", "1".to_owned()),
                    ("activity", activity.to_string()),
                    ("silent", session.silent_turns.to_string()),
                ],
            )
            .expire(keys::session(sid), KEY_TTL_SECONDS as i64)
            .zadd(keys::live(), sid.as_str(), activity);
        if let Some(memory) = &session.agent_memory {
            pipe.hset(keys::session(sid), "memory", to_json(memory));
        }
        for (key, items) in [
            (keys::history(sid), to_items(&session.conversation_history)),
            (keys::ledger(sid), to_items(&session.ledger)),
            (keys::texts(sid), to_items(&session.texts)),
        ] {
            if !items.is_empty() {
                pipe.rpush(&key, items).expire(&key, KEY_TTL_SECONDS as i64);
            }
        }
        pipe.query_async::<()>(&mut self.shared.conn()).await?;
        Ok(())
    }

    async fn append_turn(
        &self,
        sid: &CallSid,
        turn: Turn,
        caller_spoke: bool,
    ) -> Result<Option<usize>, SharedError> {
        let at = turn.timestamp;
        self.append(
            sid,
            keys::history(sid),
            to_json(&turn),
            Some(at),
            caller_spoke,
        )
        .await
    }

    async fn append_and_read(
        &self,
        sid: &CallSid,
        turn: Turn,
        window: usize,
    ) -> Result<Option<(usize, Session)>, SharedError> {
        let read: Option<(i64, Fields, Vec<String>)> = self
            .scripts
            .append_read
            .key(keys::session(sid))
            .key(keys::history(sid))
            .key(keys::live())
            .arg(to_json(&turn))
            .arg(millis(turn.timestamp))
            .arg(sid.as_str())
            .arg(KEY_TTL_SECONDS)
            .arg(window.clamp(1, i64::MAX as usize) as i64)
            .invoke_async(&mut self.shared.conn())
            .await?;
        let Some((index, fields, history)) = read else {
            return Ok(None);
        };
        let session = assemble(fields, &history, &[], &[])?;
        Ok(session.map(|s| (usize::try_from(index).unwrap_or(0), s)))
    }

    async fn append_reply(
        &self,
        sid: &CallSid,
        turn: Turn,
        memory: Option<Option<serde_json::Value>>,
    ) -> Result<Option<usize>, SharedError> {
        let (mode, json) = match &memory {
            None => ("keep", String::new()),
            Some(None) => ("clear", String::new()),
            Some(Some(m)) => ("set", to_json(m)),
        };
        let index: i64 = self
            .scripts
            .reply
            .key(keys::session(sid))
            .key(keys::history(sid))
            .key(keys::live())
            .arg(to_json(&turn))
            .arg(millis(turn.timestamp))
            .arg(sid.as_str())
            .arg(KEY_TTL_SECONDS)
            .arg(mode)
            .arg(json)
            .invoke_async(&mut self.shared.conn())
            .await?;
        Ok(usize::try_from(index).ok())
    }

    async fn append_ledger(&self, sid: &CallSid, entry: LedgerEntry) -> Result<bool, SharedError> {
        let added = self
            .append(sid, keys::ledger(sid), to_json(&entry), None, false)
            .await?;
        Ok(added.is_some())
    }

    async fn append_text(&self, sid: &CallSid, text: TextRecord) -> Result<bool, SharedError> {
        let added = self
            .append(sid, keys::texts(sid), to_json(&text), None, false)
            .await?;
        Ok(added.is_some())
    }

    async fn touch(&self, sid: &CallSid, now: DateTime<Utc>) -> Result<(), SharedError> {
        let _: i64 = self
            .scripts
            .touch
            .key(keys::session(sid))
            .key(keys::live())
            .arg(millis(now))
            .arg(sid.as_str())
            .invoke_async(&mut self.shared.conn())
            .await?;
        Ok(())
    }

    async fn note_silence(
        &self,
        sid: &CallSid,
        now: DateTime<Utc>,
    ) -> Result<Option<u32>, SharedError> {
        let n: i64 = self
            .scripts
            .silence
            .key(keys::session(sid))
            .key(keys::live())
            .arg(millis(now))
            .arg(sid.as_str())
            .invoke_async(&mut self.shared.conn())
            .await?;
        Ok(u32::try_from(n).ok())
    }

    async fn set_memory(
        &self,
        sid: &CallSid,
        memory: Option<serde_json::Value>,
    ) -> Result<(), SharedError> {
        let _: i64 = self
            .scripts
            .memory
            .key(keys::session(sid))
            .arg(memory.as_ref().map(to_json).unwrap_or_default())
            .invoke_async(&mut self.shared.conn())
            .await?;
        Ok(())
    }

    async fn get(&self, sid: &CallSid) -> Result<Option<Session>, SharedError> {
        let (fields, history, ledger, texts): (Fields, Vec<String>, Vec<String>, Vec<String>) =
            redis::pipe()
                .cmd("HMGET")
                .arg(keys::session(sid))
                .arg(&["meta", "activity", "silent", "memory"])
                .lrange(keys::history(sid), 0, -1)
                .lrange(keys::ledger(sid), 0, -1)
                .lrange(keys::texts(sid), 0, -1)
                .query_async(&mut self.shared.conn())
                .await?;
        assemble(fields, &history, &ledger, &texts)
    }

    async fn get_recent(
        &self,
        sid: &CallSid,
        window: usize,
    ) -> Result<Option<Session>, SharedError> {
        if window == 0 {
            return Ok(self.fields(sid).await?.0).and_then(|f| assemble(f, &[], &[], &[]));
        }
        let from = -(i64::try_from(window).unwrap_or(i64::MAX));
        let (fields, history): (Fields, Vec<String>) = redis::pipe()
            .cmd("HMGET")
            .arg(keys::session(sid))
            .arg(&["meta", "activity", "silent", "memory"])
            .lrange(keys::history(sid), from as isize, -1)
            .query_async(&mut self.shared.conn())
            .await?;
        assemble(fields, &history, &[], &[])
    }

    async fn for_each(&self, f: &mut Visit<'_>) -> Result<(), SharedError> {
        for sid in self.all().await? {
            if let Some(s) = self.get(&sid).await? {
                f(&s);
            }
        }
        Ok(())
    }

    async fn take(&self, sid: &CallSid) -> Result<Option<Session>, SharedError> {
        let taken: Option<(Fields, Vec<String>, Vec<String>, Vec<String>)> = self
            .scripts
            .take
            .key(keys::live())
            .key(keys::session(sid))
            .key(keys::history(sid))
            .key(keys::ledger(sid))
            .key(keys::texts(sid))
            .arg(sid.as_str())
            .invoke_async(&mut self.shared.conn())
            .await?;
        match taken {
            Some((fields, history, ledger, texts)) => assemble(fields, &history, &ledger, &texts),
            None => Ok(None),
        }
    }

    async fn idle_since(&self, cutoff: DateTime<Utc>) -> Result<Vec<CallSid>, SharedError> {
        let sids: Vec<String> = redis::cmd("ZRANGEBYSCORE")
            .arg(keys::live())
            .arg("-inf")
            .arg(format!("({}", millis(cutoff)))
            .query_async(&mut self.shared.conn())
            .await?;
        Ok(sids.iter().filter_map(|s| CallSid::parse(s).ok()).collect())
    }

    async fn all(&self) -> Result<Vec<CallSid>, SharedError> {
        let sids: Vec<String> = redis::cmd("ZRANGE")
            .arg(keys::live())
            .arg(0)
            .arg(-1)
            .query_async(&mut self.shared.conn())
            .await?;
        Ok(sids.iter().filter_map(|s| CallSid::parse(s).ok()).collect())
    }

    fn outlives_process(&self) -> bool {
        true
    }
}

/// The hash's `meta`: the session's scalar fields, without the agent's
/// memory (kept in its own field, written only when it changes).
fn meta_json(session: &Session) -> String {
    to_json(&Session {
        agent_memory: None,
        ..session.scalars()
    })
}

fn to_items<T: serde::Serialize>(items: &[T]) -> Vec<String> {
    items.iter().map(to_json).collect()
}
