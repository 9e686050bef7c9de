-- Keys the server makes for itself once and keeps across restarts (the key of the session hashes
-- in the control plane's telemetry, unless GATEWAY_TELEMETRY_KEY is set).
CREATE TABLE server_keys (
    name       TEXT PRIMARY KEY NOT NULL,
    value      TEXT NOT NULL,
    created_at TEXT NOT NULL
);
