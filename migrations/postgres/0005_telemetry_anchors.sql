-- The head of each hash-chained telemetry log (its newest line's seq and hash), kept outside the
-- log so that lines cut from its end or a rewritten end are found at start-up.
CREATE TABLE telemetry_anchors (
    log        TEXT PRIMARY KEY,
    seq        BIGINT NOT NULL CHECK (seq >= 0),
    hash       TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
