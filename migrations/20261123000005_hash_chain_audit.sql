-- Tamper evidence, erasure, retention and the audit log (docs/ledger.md explains the design).
--
-- consent_records is rebuilt (SQLite cannot relax NOT NULL): identifying columns become
-- nullable for erasure, each row gets a random salt and its link in the hash chain. Hashes of
-- rows copied here are computed by the application right after migrating ("sealing"):
-- SQLite has no SHA-256 function.

CREATE TABLE consent_records_v3 (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: ids are the chain order
    visitor_id         BLOB    CHECK (visitor_id IS NULL OR length(visitor_id) = 16),
    site               TEXT    NOT NULL,
    action             TEXT    NOT NULL CHECK (action IN ('accept_all', 'reject_all', 'custom', 'withdraw', 'gpc')),
    source             TEXT    NOT NULL CHECK (source IN ('banner', 'preferences', 'api')),
    granted            TEXT    NOT NULL,
    denied             TEXT    NOT NULL,
    policy_version     TEXT    NOT NULL,
    registry_version   TEXT    NOT NULL,
    language           TEXT    NOT NULL,
    page               TEXT,
    ip_reduced         TEXT,
    ua_family          TEXT,
    recorded_at        INTEGER NOT NULL,
    region             TEXT,
    jurisdiction       TEXT    NOT NULL,
    rule_version       TEXT    NOT NULL,
    gpc_applied        INTEGER NOT NULL CHECK (gpc_applied IN (0, 1)),
    expires_at         INTEGER NOT NULL,
    -- 16 random bytes; the chain commits to SHA-256(salt, visitor_id, page, ip, ua), never to
    -- the identifiers themselves. Erasure deletes salt and identifiers and keeps the commitment.
    subject_salt       BLOB    CHECK (subject_salt IS NULL OR length(subject_salt) = 16),
    subject_commitment BLOB    CHECK (subject_commitment IS NULL OR length(subject_commitment) = 32),
    hash               BLOB    CHECK (hash IS NULL OR length(hash) = 32),
    erased_at          INTEGER,
    CHECK ((erased_at IS NULL AND subject_salt IS NOT NULL AND visitor_id IS NOT NULL)
        OR (erased_at IS NOT NULL AND subject_salt IS NULL AND visitor_id IS NULL
            AND page IS NULL AND ip_reduced IS NULL AND ua_family IS NULL
            AND subject_commitment IS NOT NULL))
) STRICT;

INSERT INTO consent_records_v3 (id, visitor_id, site, action, source, granted, denied, policy_version,
    registry_version, language, page, ip_reduced, ua_family, recorded_at, region, jurisdiction,
    rule_version, gpc_applied, expires_at, subject_salt)
SELECT id, visitor_id, site, action, source, granted, denied, policy_version, registry_version, language,
    page, ip_reduced, ua_family, recorded_at, region, jurisdiction, rule_version, gpc_applied, expires_at,
    randomblob(16)
FROM consent_records ORDER BY id;

DROP TABLE consent_records;
ALTER TABLE consent_records_v3 RENAME TO consent_records;

CREATE INDEX consent_records_by_visitor ON consent_records (visitor_id, site, id);
CREATE INDEX consent_records_by_time ON consent_records (recorded_at);

-- Retention: the chain before `through_id` was purged; `hash` is the last purged record's
-- hash, where verification of the remaining chain starts.
CREATE TABLE ledger_checkpoints (
    id          INTEGER PRIMARY KEY,
    through_id  INTEGER NOT NULL UNIQUE,
    hash        BLOB    NOT NULL CHECK (length(hash) = 32),
    purged      INTEGER NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;

-- Updates: only sealing a row that has no hash yet, and erasure (identifiers to NULL, the
-- commitment kept). Everything the chain covers stays as written.
CREATE TRIGGER consent_records_append_only_update BEFORE UPDATE ON consent_records
WHEN NOT (
    NEW.id IS OLD.id AND NEW.site IS OLD.site AND NEW.action IS OLD.action AND NEW.source IS OLD.source
    AND NEW.granted IS OLD.granted AND NEW.denied IS OLD.denied AND NEW.policy_version IS OLD.policy_version
    AND NEW.registry_version IS OLD.registry_version AND NEW.language IS OLD.language
    AND NEW.recorded_at IS OLD.recorded_at AND NEW.region IS OLD.region AND NEW.jurisdiction IS OLD.jurisdiction
    AND NEW.rule_version IS OLD.rule_version AND NEW.gpc_applied IS OLD.gpc_applied
    AND NEW.expires_at IS OLD.expires_at
    AND (
        -- sealing a pre-chain row
        (OLD.hash IS NULL AND NEW.hash IS NOT NULL AND NEW.visitor_id IS OLD.visitor_id
            AND NEW.subject_salt IS OLD.subject_salt AND NEW.page IS OLD.page
            AND NEW.ip_reduced IS OLD.ip_reduced AND NEW.ua_family IS OLD.ua_family
            AND NEW.erased_at IS OLD.erased_at AND NEW.subject_commitment IS OLD.subject_commitment)
        -- erasure
        OR (OLD.hash IS NOT NULL AND NEW.hash IS OLD.hash AND OLD.erased_at IS NULL
            AND NEW.erased_at IS NOT NULL)
    )
)
BEGIN
    SELECT RAISE(ABORT, 'consent_records is append-only; only erasure may change a record');
END;

-- Deletes: only records a retention checkpoint covers.
CREATE TRIGGER consent_records_append_only_delete BEFORE DELETE ON consent_records
WHEN NOT EXISTS (SELECT 1 FROM ledger_checkpoints WHERE through_id >= OLD.id)
BEGIN
    SELECT RAISE(ABORT, 'consent_records is append-only; only retention purges (with a checkpoint) delete');
END;

CREATE TRIGGER ledger_checkpoints_append_only_update BEFORE UPDATE ON ledger_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'ledger_checkpoints is append-only');
END;

CREATE TRIGGER ledger_checkpoints_append_only_delete BEFORE DELETE ON ledger_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'ledger_checkpoints is append-only');
END;

-- Who did what on the admin surface and to personal data. Append-only.
CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          INTEGER NOT NULL,  -- unix ms
    actor       TEXT    NOT NULL,  -- token name, 'cli', 'visitor', 'system'
    token_id    INTEGER,
    role        TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    target      TEXT    NOT NULL,
    detail      TEXT    NOT NULL,
    ip_reduced  TEXT
) STRICT;

CREATE INDEX audit_log_by_time ON audit_log (at);

CREATE TRIGGER audit_log_append_only_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

CREATE TRIGGER audit_log_append_only_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

-- Admin-area sign-ins. Only a SHA-256 of the session id is stored.
CREATE TABLE admin_sessions (
    id_hash     TEXT    PRIMARY KEY,
    token_id    INTEGER NOT NULL REFERENCES api_tokens (id),
    csrf        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    ended_at    INTEGER
) STRICT;

-- Rotation keeps a trail from the new token to the one it replaced.
ALTER TABLE api_tokens ADD COLUMN rotated_from INTEGER REFERENCES api_tokens (id);
