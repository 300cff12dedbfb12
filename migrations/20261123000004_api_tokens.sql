-- Admin/auditor API tokens. Only a SHA-256 of the token is stored: tokens are 256 random
-- bits, so a fast hash is enough and the plain token is shown once, at creation.
CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY,
    name         TEXT    NOT NULL,
    role         TEXT    NOT NULL CHECK (role IN ('admin', 'auditor')),
    token_hash   TEXT    NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    revoked_at   INTEGER
) STRICT;
