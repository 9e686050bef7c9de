-- The control plane's Telegram channel, and leases that let one instance among several do a job.

-- One-time codes a person sends to the bot with /link; kept as hashes, deleted when used.
CREATE TABLE telegram_link_codes (
    code_hash  TEXT PRIMARY KEY,
    user_id    BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at TEXT NOT NULL,
    created_at TEXT NOT NULL
);
-- One live code per person: a new one replaces the last.
CREATE UNIQUE INDEX telegram_link_codes_user_id ON telegram_link_codes (user_id);

-- A chat bound to the person who linked it.
CREATE TABLE telegram_chats (
    chat_id    INTEGER PRIMARY KEY,
    user_id    BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    chat_title TEXT NOT NULL,
    linked_at  TEXT NOT NULL
);
CREATE INDEX telegram_chats_user_id ON telegram_chats (user_id);

-- Each preview the bot showed in a chat, found again by its message (buttons, "confirm" replies),
-- and the task it became, followed until the execution plane reports a final state.
CREATE TABLE telegram_previews (
    chat_id        INTEGER NOT NULL,
    message_id     INTEGER NOT NULL,
    preview_id     TEXT NOT NULL,
    user_id        BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    session_id     TEXT NOT NULL,
    summary        TEXT NOT NULL,
    expires_at     TEXT NOT NULL,
    state          TEXT NOT NULL CHECK (state IN ('pending', 'confirmed', 'cancelled', 'expired')),
    task_id        TEXT,
    -- The task state the chat was last told of.
    notified_state TEXT CHECK (notified_state IN ('accepted', 'pending_approval', 'running', 'done', 'failed')),
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    PRIMARY KEY (chat_id, message_id)
);
CREATE INDEX telegram_previews_followed ON telegram_previews (state) WHERE state IN ('pending', 'confirmed');

-- Who does a job only one instance may do (e.g. polling Telegram), until when. `token` grows by one
-- each time the lease changes hands, so a former holder's late writes can be told apart.
CREATE TABLE leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    token      INTEGER NOT NULL,
    expires_at TEXT NOT NULL
);
