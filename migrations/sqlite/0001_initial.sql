-- The data model of spec 000 §8, for SQLite.
-- Ids are UUIDv7 stored as 16-byte BLOBs (time-ordered, so ordering by id is ordering by creation).
-- Timestamps are RFC 3339 text in UTC with millisecond precision.

CREATE TABLE users (
    id            BLOB PRIMARY KEY NOT NULL,
    email         TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    password_hash TEXT,
    created_at    TEXT NOT NULL
);

CREATE TABLE rooms (
    id         BLOB PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL,
    owner_id   BLOB REFERENCES users (id) ON DELETE SET NULL,
    mode       TEXT NOT NULL CHECK (mode IN ('manual', 'auto')),
    created_at TEXT NOT NULL
);
CREATE INDEX rooms_created_at ON rooms (created_at);

CREATE TABLE room_members (
    id      BLOB PRIMARY KEY NOT NULL,
    room_id BLOB NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    user_id BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role    TEXT NOT NULL CHECK (role IN ('owner', 'member', 'viewer')),
    UNIQUE (room_id, user_id)
);

CREATE TABLE agents (
    id            BLOB PRIMARY KEY NOT NULL,
    room_id       BLOB NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    model         TEXT NOT NULL,
    temperature   REAL NOT NULL CHECK (temperature >= 0 AND temperature <= 2),
    system_prompt TEXT NOT NULL,
    is_active     BOOLEAN NOT NULL DEFAULT 1,
    created_at    TEXT NOT NULL
);
CREATE INDEX agents_room_id_is_active ON agents (room_id, is_active);

CREATE TABLE runs (
    id            BLOB PRIMARY KEY NOT NULL,
    room_id       BLOB NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    status        TEXT NOT NULL CHECK (status IN ('running', 'completed', 'stopped', 'failed')),
    max_steps     INTEGER NOT NULL,
    max_seconds   INTEGER NOT NULL,
    budget_tokens INTEGER,
    steps         INTEGER NOT NULL DEFAULT 0,
    tokens_used   INTEGER NOT NULL DEFAULT 0,
    started_at    TEXT NOT NULL,
    stopped_at    TEXT,
    stop_reason   TEXT CHECK (stop_reason IN ('max_steps', 'max_seconds', 'budget_tokens', 'user_stop',
                                              'error', 'server_shutdown', 'server_restart'))
);
CREATE INDEX runs_room_id_started_at ON runs (room_id, started_at);
-- At most one running run per room, enforced by the database itself.
CREATE UNIQUE INDEX runs_one_running_per_room ON runs (room_id) WHERE status = 'running';

CREATE TABLE messages (
    id               BLOB PRIMARY KEY NOT NULL,
    room_id          BLOB NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    sender_type      TEXT NOT NULL CHECK (sender_type IN ('human', 'agent', 'system')),
    sender_id        BLOB,
    sender_name      TEXT NOT NULL,
    content          TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('complete', 'streaming', 'failed', 'interrupted', 'stopped')),
    tokens_in        INTEGER,
    tokens_out       INTEGER,
    usage_estimated  BOOLEAN NOT NULL DEFAULT 0,
    latency_ms       INTEGER,
    first_token_ms   INTEGER,
    model            TEXT,
    error            TEXT,
    selection_reason TEXT,
    run_id           BLOB REFERENCES runs (id) ON DELETE SET NULL,
    created_at       TEXT NOT NULL
);
CREATE INDEX messages_room_id_created_at ON messages (room_id, created_at);
CREATE INDEX messages_room_id_id ON messages (room_id, id);
CREATE INDEX messages_status_streaming ON messages (status) WHERE status = 'streaming';

CREATE TABLE usage_events (
    id            BLOB PRIMARY KEY NOT NULL,
    room_id       BLOB NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    agent_id      BLOB REFERENCES agents (id) ON DELETE SET NULL,
    message_id    BLOB REFERENCES messages (id) ON DELETE SET NULL,
    run_id        BLOB REFERENCES runs (id) ON DELETE SET NULL,
    provider      TEXT NOT NULL,
    model         TEXT NOT NULL,
    input_tokens  INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    estimated     BOOLEAN NOT NULL,
    cost          REAL NOT NULL,
    created_at    TEXT NOT NULL
);
CREATE INDEX usage_events_room_id_created_at ON usage_events (room_id, created_at);
CREATE INDEX usage_events_run_id ON usage_events (run_id);
