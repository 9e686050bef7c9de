//! Sessions, previews and rate limits in Redis, for several gateway instances behind one load
//! balancer: a preview made on one instance is confirmed on another, a confirm is single-use
//! across instances, and the per-session pending cap and the rate limits hold across them.
//!
//! The rules are those of [`crate::sessions::SessionStore`]; each operation is one Lua script, so
//! it is atomic across instances, and every expiry is decided on Redis's own clock (`TIME`), so
//! instances whose clocks differ agree. The gateway runs its operations on blocking threads, so
//! this speaks Redis's synchronous API through a small pool of connections.
//!
//! Keys (`ais:cp:` prefix):
//! - `session:<id>`: hash `owner`, `channel`, `born` (a nonce: previews of an earlier session
//!   with the same id do not belong to a new one); expires `session_ttl` after the last request.
//! - `session:<id>:pending`: the ids of its previews that may still be waiting.
//! - `session:<id>:tasks`: the task ids it confirmed, newest first, at most 50.
//! - `sessions`: every live session by its expiry time, for the ceiling on sessions.
//! - `preview:<id>`: hash `session`, `owner`, `born`, `entry` (JSON), `state`
//!   (`pending`|`confirming`|`confirmed`|`expired`), `task`, `expires_at` (ms); kept an hour past
//!   its expiry, so a late confirm is told `PREVIEW_EXPIRED` or `PREVIEW_ALREADY_CONFIRMED`.
//! - `task:<id>`: a confirmed task's record (JSON), for a week; after that it is read back from
//!   its task file.
//! - `rate:session:<id>`, `rate:address:<key>`: GCRA theoretical arrival times (µs).

use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use domain::control_plane::{Channel, NormalizedTask, MAX_PENDING_PREVIEWS_PER_SESSION};
use redis::Script;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::config::RateLimit;
use crate::error::{whole_seconds_at_least_one, GatewayError};
use crate::locks::lock;
use crate::sessions::{PreviewEntry, TaskRecord, ANOTHER_PERSON, ANOTHER_SESSION};

/// How long a preview is kept past its expiry, to answer a late confirm precisely.
const TOMBSTONE_RETENTION: Duration = Duration::from_secs(3600);
/// How long a confirmed task's record is kept in Redis; its task file outlives it.
const TASK_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);
/// The most tasks listed per session.
const MAX_TASKS_PER_SESSION: usize = 50;
/// Connections kept open for the next operations.
const IDLE_CONNECTIONS: usize = 8;
/// How long one Redis call may take before the operation fails closed.
const REDIS_TIMEOUT: Duration = Duration::from_secs(2);

/// Every script starts from Redis's clock, in milliseconds.
const NOW: &str = "local function now_ms() local t = redis.call('TIME') \
    return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) end\n";

/// Refreshes a live session's lifetime; ARGV-free helper used by several scripts.
const TOUCH: &str = r"
local function touch(sid, ttl, now)
  local key = 'ais:cp:session:' .. sid
  redis.call('PEXPIRE', key, ttl)
  redis.call('PEXPIRE', key .. ':pending', ttl)
  redis.call('PEXPIRE', key .. ':tasks', ttl)
  redis.call('ZADD', 'ais:cp:sessions', now + ttl, sid)
end
";

/// ARGV: session, owner, channel, session ttl, preview id, entry, preview ttl, kept after expiry,
/// max pending, max sessions, nonce for a new session.
const INSERT: &str = r"
local now = now_ms()
local sid, owner, channel, ttl = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local skey = 'ais:cp:session:' .. sid
local s = redis.call('HMGET', skey, 'owner', 'channel', 'born')
local born = s[3]
if s[1] and s[1] ~= owner then return {'another_person'} end
if not s[1] then
  redis.call('ZREMRANGEBYSCORE', 'ais:cp:sessions', '-inf', now)
  if redis.call('ZCARD', 'ais:cp:sessions') >= tonumber(ARGV[10]) then return {'too_many_sessions'} end
  born = ARGV[11]
  redis.call('DEL', skey .. ':pending', skey .. ':tasks')
  redis.call('HSET', skey, 'owner', owner, 'channel', channel, 'born', born)
end
touch(sid, ttl, now)
if s[2] and s[2] ~= channel then return {'another_channel'} end
local waiting, oldest = 0, nil
for _, id in ipairs(redis.call('SMEMBERS', skey .. ':pending')) do
  local pkey = 'ais:cp:preview:' .. id
  local p = redis.call('HMGET', pkey, 'state', 'expires_at')
  local expires = tonumber(p[2] or '0')
  if p[1] == 'confirming' or (p[1] == 'pending' and expires > now) then
    waiting = waiting + 1
    if oldest == nil or expires < oldest then oldest = expires end
  else
    if p[1] == 'pending' then redis.call('HSET', pkey, 'state', 'expired') end
    redis.call('SREM', skey .. ':pending', id)
  end
end
if waiting >= tonumber(ARGV[9]) then return {'too_many_previews', tostring((oldest or now) - now)} end
local pkey = 'ais:cp:preview:' .. ARGV[5]
redis.call('HSET', pkey, 'session', sid, 'owner', owner, 'born', born, 'entry', ARGV[6], 'state', 'pending',
  'expires_at', now + tonumber(ARGV[7]))
redis.call('PEXPIRE', pkey, tonumber(ARGV[7]) + tonumber(ARGV[8]))
redis.call('SADD', skey .. ':pending', ARGV[5])
redis.call('PEXPIRE', skey .. ':pending', ttl)
return {'ok'}
";

/// Reads a preview for `session`/`owner`, expiring it when its time or its session is over.
/// Returns the preview's fields and its state as now known.
const READ_PREVIEW: &str = r"
local function read_preview(pid, sid)
  local pkey = 'ais:cp:preview:' .. pid
  local p = redis.call('HMGET', pkey, 'session', 'owner', 'state', 'expires_at', 'born', 'task', 'entry')
  if not p[1] then return nil end
  if p[3] == 'pending' then
    local born = redis.call('HGET', 'ais:cp:session:' .. p[1], 'born')
    if tonumber(p[4]) <= now_ms() or born ~= p[5] then
      redis.call('HSET', pkey, 'state', 'expired')
      redis.call('SREM', 'ais:cp:session:' .. p[1] .. ':pending', pid)
      p[3] = 'expired'
    end
  end
  return p
end
";

/// ARGV: preview id, session, owner, session ttl. Takes the preview for its confirm.
const CLAIM: &str = r"
local now = now_ms()
local pid, sid, owner = ARGV[1], ARGV[2], ARGV[3]
local s = redis.call('HGET', 'ais:cp:session:' .. sid, 'owner')
if s then
  if s ~= owner then return {'another_person'} end
  touch(sid, tonumber(ARGV[4]), now)
end
local p = read_preview(pid, sid)
if not p then return {'not_found'} end
if p[1] ~= sid then return {'another_session'} end
if p[2] ~= owner then return {'another_person'} end
if p[3] == 'expired' then return {'expired'} end
if p[3] == 'confirmed' then return {'confirmed', p[6]} end
if p[3] == 'confirming' then return {'confirming'} end
redis.call('HSET', 'ais:cp:preview:' .. pid, 'state', 'confirming')
return {'ok', p[7], tostring(tonumber(p[4]) - now)}
";

/// ARGV: preview id, session, owner. A preview still waiting, for its own session only.
const PENDING: &str = r"
local now = now_ms()
local p = read_preview(ARGV[1], ARGV[2])
if not p or p[1] ~= ARGV[2] or p[2] ~= ARGV[3] or p[3] ~= 'pending' then return {} end
return {p[7], tostring(tonumber(p[4]) - now)}
";

/// ARGV: preview id, from state, to state. Moves a preview between states.
const MOVE: &str = r"
local pkey = 'ais:cp:preview:' .. ARGV[1]
local p = redis.call('HMGET', pkey, 'state', 'session')
if p[1] ~= ARGV[2] then return 0 end
redis.call('HSET', pkey, 'state', ARGV[3])
if ARGV[3] ~= 'pending' then redis.call('SREM', 'ais:cp:session:' .. p[2] .. ':pending', ARGV[1]) end
return 1
";

/// ARGV: preview id, task id, task JSON, task kept (ms), max tasks per session.
const COMPLETE: &str = r"
local pkey = 'ais:cp:preview:' .. ARGV[1]
local sid = redis.call('HGET', pkey, 'session')
if sid then
  redis.call('HSET', pkey, 'state', 'confirmed', 'task', ARGV[2])
  local skey = 'ais:cp:session:' .. sid
  redis.call('SREM', skey .. ':pending', ARGV[1])
  if redis.call('EXISTS', skey) == 1 then
    redis.call('LPUSH', skey .. ':tasks', ARGV[2])
    redis.call('LTRIM', skey .. ':tasks', 0, tonumber(ARGV[5]) - 1)
    redis.call('PEXPIRE', skey .. ':tasks', redis.call('PTTL', skey))
  end
end
redis.call('SET', 'ais:cp:task:' .. ARGV[2], ARGV[3], 'PX', ARGV[4])
return 1
";

/// ARGV: session, owner, session ttl. The session's channel when live and the owner's.
const TOUCH_SESSION: &str = r"
local now = now_ms()
local s = redis.call('HMGET', 'ais:cp:session:' .. ARGV[1], 'owner', 'channel')
if not s[1] then return {} end
if s[1] ~= ARGV[2] then return {'another_person'} end
touch(ARGV[1], tonumber(ARGV[3]), now)
return {'ok', s[2]}
";

/// ARGV: session, owner. Ends a live session; its waiting previews expire.
const END: &str = r"
local now = now_ms()
local skey = 'ais:cp:session:' .. ARGV[1]
local s = redis.call('HMGET', skey, 'owner', 'channel')
if not s[1] then return {} end
if s[1] ~= ARGV[2] then return {'another_person'} end
local dropped = 0
for _, id in ipairs(redis.call('SMEMBERS', skey .. ':pending')) do
  local pkey = 'ais:cp:preview:' .. id
  local p = redis.call('HMGET', pkey, 'state', 'expires_at')
  if p[1] == 'pending' then
    if tonumber(p[2]) > now then dropped = dropped + 1 end
    redis.call('HSET', pkey, 'state', 'expired')
  end
end
redis.call('DEL', skey, skey .. ':pending', skey .. ':tasks')
redis.call('ZREM', 'ais:cp:sessions', ARGV[1])
return {'ok', s[2], tostring(dropped)}
";

/// KEYS: the limiter's key; ARGV: emission interval (µs), burst. GCRA: 0 when admitted, else
/// the µs to wait.
const RATE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local allow_at = tat + interval - interval * tonumber(ARGV[2])
if allow_at > now then return allow_at - now end
local next_tat = tat + interval
redis.call('SET', KEYS[1], string.format('%.0f', next_tat), 'PX', math.ceil((next_tat - now) / 1000) + 1)
return 0
";

/// A Redis server the gateway instances share, through a small pool of blocking connections.
pub struct SharedRedis {
    client: redis::Client,
    idle: Mutex<Vec<redis::Connection>>,
}

impl SharedRedis {
    pub fn new(client: redis::Client) -> Self {
        Self { client, idle: Mutex::new(Vec::new()) }
    }

    /// Runs `call` on a pooled connection; a Redis that does not answer fails the operation
    /// closed with `STORAGE_UNAVAILABLE`, having changed nothing the caller relies on.
    fn with<T>(&self, call: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<T>) -> Result<T, GatewayError> {
        let unavailable = |error: redis::RedisError| {
            GatewayError::StorageUnavailable(format!("the control plane's shared state (Redis): {error}"))
        };
        let pooled = lock(&self.idle).pop();
        let mut connection = match pooled {
            Some(connection) => connection,
            None => {
                let connection = self.client.get_connection_with_timeout(REDIS_TIMEOUT).map_err(unavailable)?;
                connection.set_read_timeout(Some(REDIS_TIMEOUT)).map_err(unavailable)?;
                connection.set_write_timeout(Some(REDIS_TIMEOUT)).map_err(unavailable)?;
                connection
            }
        };
        let answer = call(&mut connection).map_err(unavailable)?;
        let mut idle = lock(&self.idle);
        if idle.len() < IDLE_CONNECTIONS {
            idle.push(connection);
        }
        Ok(answer)
    }
}

fn script(body: &str) -> Script {
    Script::new(&format!("{NOW}{TOUCH}{READ_PREVIEW}{body}"))
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// A preview as kept in Redis: everything but its expiry, which Redis keeps.
#[derive(Serialize, Deserialize)]
struct StoredEntry {
    preview_id: Uuid,
    session_id: Uuid,
    owner: Uuid,
    channel: Channel,
    raw_input: String,
    task: NormalizedTask,
    rule_id: String,
    risk_reason: String,
    requires_structured_override: bool,
    binding: String,
}

impl StoredEntry {
    fn of(entry: &PreviewEntry) -> Self {
        Self {
            preview_id: entry.preview_id,
            session_id: entry.session_id,
            owner: entry.owner,
            channel: entry.channel,
            raw_input: entry.raw_input.clone(),
            task: entry.task.clone(),
            rule_id: entry.rule_id.clone(),
            risk_reason: entry.risk_reason.clone(),
            requires_structured_override: entry.requires_structured_override,
            binding: entry.binding.clone(),
        }
    }

    /// The entry, expiring `remaining_ms` after `now` on this instance's clock.
    fn into_entry(self, now: Instant, remaining_ms: &str) -> PreviewEntry {
        let remaining = Duration::from_millis(remaining_ms.parse::<u64>().unwrap_or(0));
        PreviewEntry {
            preview_id: self.preview_id,
            session_id: self.session_id,
            owner: self.owner,
            channel: self.channel,
            raw_input: self.raw_input,
            task: self.task,
            rule_id: self.rule_id,
            risk_reason: self.risk_reason,
            requires_structured_override: self.requires_structured_override,
            binding: self.binding,
            expires: now + remaining,
        }
    }
}

fn to_json<T: Serialize>(value: &T) -> Result<String, GatewayError> {
    serde_json::to_string(value).map_err(|e| GatewayError::internal("cannot encode shared session state", e))
}

fn from_json<T: for<'de> Deserialize<'de>>(text: &str) -> Result<T, GatewayError> {
    serde_json::from_str(text).map_err(|e| GatewayError::internal("cannot read shared session state", e))
}

/// Sessions and previews in Redis, with the rules of [`crate::sessions::SessionStore`].
pub struct RedisSessions {
    redis: std::sync::Arc<SharedRedis>,
    session_ttl: Duration,
    max_sessions: usize,
    insert: Script,
    claim: Script,
    pending: Script,
    moving: Script,
    complete: Script,
    touch: Script,
    end: Script,
}

impl RedisSessions {
    pub fn new(redis: std::sync::Arc<SharedRedis>, session_ttl: Duration, max_sessions: usize) -> Self {
        Self {
            redis,
            session_ttl,
            max_sessions,
            insert: script(INSERT),
            claim: script(CLAIM),
            pending: script(PENDING),
            moving: script(MOVE),
            complete: script(COMPLETE),
            touch: script(TOUCH_SESSION),
            end: script(END),
        }
    }

    pub fn insert_preview(&self, entry: PreviewEntry, now: Instant) -> Result<(), GatewayError> {
        let stored = to_json(&StoredEntry::of(&entry))?;
        let preview_ttl = millis(entry.expires.saturating_duration_since(now)).max(1);
        let answer: Vec<String> = self.redis.with(|connection| {
            self.insert
                .arg(entry.session_id.to_string())
                .arg(entry.owner.to_string())
                .arg(entry.channel.as_str())
                .arg(millis(self.session_ttl))
                .arg(entry.preview_id.to_string())
                .arg(&stored)
                .arg(preview_ttl)
                .arg(millis(TOMBSTONE_RETENTION))
                .arg(MAX_PENDING_PREVIEWS_PER_SESSION)
                .arg(self.max_sessions)
                .arg(Uuid::new_v4().to_string())
                .invoke(connection)
        })?;
        match answer.first().map(String::as_str) {
            Some("ok") => Ok(()),
            Some("another_person") => Err(GatewayError::SessionMismatch(ANOTHER_PERSON)),
            Some("another_channel") => Err(GatewayError::SessionMismatch("this session belongs to another channel")),
            Some("too_many_sessions") => Err(GatewayError::TooManySessions),
            Some("too_many_previews") => {
                let wait = answer.get(1).and_then(|ms| ms.parse::<u64>().ok()).unwrap_or(0);
                Err(GatewayError::TooManyPreviews {
                    oldest_expires_in_seconds: whole_seconds_at_least_one(Duration::from_millis(wait)),
                })
            }
            _ => Err(GatewayError::Internal(format!("unexpected answer from the session store: {answer:?}"))),
        }
    }

    pub fn claim(
        &self,
        preview_id: &str,
        session_id: Uuid,
        owner: Uuid,
        now: Instant,
    ) -> Result<PreviewEntry, GatewayError> {
        let Ok(preview_id) = Uuid::parse_str(preview_id) else {
            return Err(GatewayError::PreviewNotFound);
        };
        let answer: Vec<String> = self.redis.with(|connection| {
            self.claim
                .arg(preview_id.to_string())
                .arg(session_id.to_string())
                .arg(owner.to_string())
                .arg(millis(self.session_ttl))
                .invoke(connection)
        })?;
        match answer.first().map(String::as_str) {
            Some("ok") if answer.len() == 3 => Ok(from_json::<StoredEntry>(&answer[1])?.into_entry(now, &answer[2])),
            Some("not_found") => Err(GatewayError::PreviewNotFound),
            Some("another_session") => Err(GatewayError::SessionMismatch(ANOTHER_SESSION)),
            Some("another_person") => Err(GatewayError::SessionMismatch(ANOTHER_PERSON)),
            Some("expired") => Err(GatewayError::PreviewExpired),
            Some("confirmed") => Err(GatewayError::PreviewAlreadyConfirmed { task_id: answer.get(1).cloned() }),
            Some("confirming") => Err(GatewayError::PreviewAlreadyConfirmed { task_id: None }),
            _ => Err(GatewayError::Internal(format!("unexpected answer from the session store: {answer:?}"))),
        }
    }

    pub fn pending(
        &self,
        preview_id: Uuid,
        session_id: Uuid,
        owner: Uuid,
        now: Instant,
    ) -> Result<Option<PreviewEntry>, GatewayError> {
        let answer: Vec<String> = self.redis.with(|connection| {
            self.pending
                .arg(preview_id.to_string())
                .arg(session_id.to_string())
                .arg(owner.to_string())
                .invoke(connection)
        })?;
        match answer.as_slice() {
            [entry, remaining] => Ok(Some(from_json::<StoredEntry>(entry)?.into_entry(now, remaining))),
            _ => Ok(None),
        }
    }

    fn move_preview(&self, preview_id: Uuid, from: &str, to: &str) -> Result<(), GatewayError> {
        let _: i64 = self
            .redis
            .with(|connection| self.moving.arg(preview_id.to_string()).arg(from).arg(to).invoke(connection))?;
        Ok(())
    }

    pub fn release(&self, preview_id: Uuid) -> Result<(), GatewayError> {
        self.move_preview(preview_id, "confirming", "pending")
    }

    pub fn withdraw(&self, entry: &PreviewEntry) -> Result<(), GatewayError> {
        self.move_preview(entry.preview_id, "confirming", "expired")?;
        self.move_preview(entry.preview_id, "pending", "expired")
    }

    pub fn complete(&self, preview_id: Uuid, task: &TaskRecord) -> Result<(), GatewayError> {
        let stored = to_json(task)?;
        let _: i64 = self.redis.with(|connection| {
            self.complete
                .arg(preview_id.to_string())
                .arg(&task.task_id)
                .arg(&stored)
                .arg(millis(TASK_RETENTION))
                .arg(MAX_TASKS_PER_SESSION)
                .invoke(connection)
        })?;
        Ok(())
    }

    pub fn remember_task(&self, task: &TaskRecord) -> Result<(), GatewayError> {
        let stored = to_json(task)?;
        let key = format!("ais:cp:task:{}", task.task_id);
        self.redis.with(|connection| {
            redis::cmd("SET").arg(&key).arg(&stored).arg("NX").arg("PX").arg(millis(TASK_RETENTION)).exec(connection)
        })
    }

    pub fn touch(&self, session_id: Uuid, owner: Uuid) -> Result<Option<Channel>, GatewayError> {
        let answer: Vec<String> = self.redis.with(|connection| {
            self.touch
                .arg(session_id.to_string())
                .arg(owner.to_string())
                .arg(millis(self.session_ttl))
                .invoke(connection)
        })?;
        match answer.as_slice() {
            [] => Ok(None),
            [refused] if refused == "another_person" => Err(GatewayError::SessionMismatch(ANOTHER_PERSON)),
            [ok, channel] if ok == "ok" => Ok(Some(parse_channel(channel)?)),
            _ => Err(GatewayError::Internal(format!("unexpected answer from the session store: {answer:?}"))),
        }
    }

    pub fn end(&self, session_id: Uuid, owner: Uuid) -> Result<Option<(Channel, usize)>, GatewayError> {
        let answer: Vec<String> = self
            .redis
            .with(|connection| self.end.arg(session_id.to_string()).arg(owner.to_string()).invoke(connection))?;
        match answer.as_slice() {
            [] => Ok(None),
            [refused] if refused == "another_person" => Err(GatewayError::SessionMismatch(ANOTHER_PERSON)),
            [ok, channel, dropped] if ok == "ok" => Ok(Some((parse_channel(channel)?, dropped.parse().unwrap_or(0)))),
            _ => Err(GatewayError::Internal(format!("unexpected answer from the session store: {answer:?}"))),
        }
    }

    pub fn task(&self, task_id: &str) -> Result<Option<TaskRecord>, GatewayError> {
        let key = format!("ais:cp:task:{task_id}");
        let stored: Option<String> = self.redis.with(|connection| redis::cmd("GET").arg(&key).query(connection))?;
        stored.map(|text| from_json::<TaskRecord>(&text)).transpose()
    }

    pub fn session_tasks(&self, session_id: Uuid) -> Result<Vec<TaskRecord>, GatewayError> {
        let session = format!("ais:cp:session:{session_id}");
        let stored: Vec<Option<String>> = self.redis.with(|connection| {
            let live: bool = redis::cmd("EXISTS").arg(&session).query(connection)?;
            if !live {
                return Ok(Vec::new());
            }
            let ids: Vec<String> = redis::cmd("LRANGE")
                .arg(format!("{session}:tasks"))
                .arg(0)
                .arg(MAX_TASKS_PER_SESSION - 1)
                .query(connection)?;
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            let keys: Vec<String> = ids.iter().map(|id| format!("ais:cp:task:{id}")).collect();
            redis::cmd("MGET").arg(keys).query(connection)
        })?;
        stored.into_iter().flatten().map(|text| from_json::<TaskRecord>(&text)).collect()
    }
}

fn parse_channel(text: &str) -> Result<Channel, GatewayError> {
    from_json(&format!("\"{text}\""))
}

/// Rate limits in Redis (GCRA, as governor counts them in one process): the same allowance
/// whichever instance a request reaches.
pub struct RedisRateLimits {
    redis: std::sync::Arc<SharedRedis>,
    session: RateLimit,
    address: RateLimit,
    script: Script,
}

impl RedisRateLimits {
    pub fn new(redis: std::sync::Arc<SharedRedis>, session: RateLimit, address: RateLimit) -> Self {
        Self { redis, session, address, script: Script::new(RATE) }
    }

    fn check(&self, key: String, limit: RateLimit) -> Result<(), GatewayError> {
        let interval_us = 1_000_000 / u64::from(limit.per_second.get()).max(1);
        let wait_us: i64 = self
            .redis
            .with(|connection| self.script.key(&key).arg(interval_us).arg(limit.burst.get()).invoke(connection))?;
        if wait_us <= 0 {
            return Ok(());
        }
        let wait = Duration::from_micros(u64::try_from(wait_us).unwrap_or(0));
        Err(GatewayError::RateLimited { retry_after_seconds: whole_seconds_at_least_one(wait) })
    }

    pub fn check_address(&self, address: IpAddr) -> Result<(), GatewayError> {
        self.check(format!("ais:cp:rate:address:{}", domain::addresses::rate_key(address)), self.address)
    }

    pub fn check_session(&self, session_id: Uuid) -> Result<(), GatewayError> {
        self.check(format!("ais:cp:rate:session:{session_id}"), self.session)
    }
}
