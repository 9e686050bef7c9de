-- Accounts and rights: a global role per person, personal API tokens, who may see a room,
-- who started a run and whose budget a generation counts against.

ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('admin', 'operator', 'user'));

CREATE TABLE api_tokens (
    id           UUID PRIMARY KEY,
    user_id      UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    -- SHA-256 of the secret, hex: the secret itself is never stored.
    token_hash   TEXT NOT NULL UNIQUE,
    created_at   TIMESTAMPTZ NOT NULL,
    last_used_at TIMESTAMPTZ
);
CREATE INDEX api_tokens_user_id ON api_tokens (user_id);

CREATE TABLE invitations (
    email      TEXT PRIMARY KEY,
    invited_by UUID REFERENCES users (id) ON DELETE SET NULL,
    created_at TIMESTAMPTZ NOT NULL
);

-- Rooms made before accounts existed have no members: they stay private, visible to admins.
ALTER TABLE rooms ADD COLUMN visibility TEXT NOT NULL DEFAULT 'private'
    CHECK (visibility IN ('private', 'public', 'demo'));
CREATE INDEX rooms_visibility ON rooms (visibility);
CREATE INDEX room_members_user_id ON room_members (user_id);

ALTER TABLE runs ADD COLUMN started_by UUID REFERENCES users (id) ON DELETE SET NULL;
CREATE INDEX runs_started_by_running ON runs (started_by) WHERE status = 'running';

ALTER TABLE usage_events ADD COLUMN user_id UUID REFERENCES users (id) ON DELETE SET NULL;
CREATE INDEX usage_events_user_id_created_at ON usage_events (user_id, created_at);
