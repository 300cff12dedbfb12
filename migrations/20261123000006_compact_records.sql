-- Compact records (about 330 → under 200 bytes each at 1 M records; docs/ledger.md, "Storage").
--
-- What a record shares with thousands of others is stored once and referenced by a small
-- integer: the context (site, policy and registry versions, language, jurisdiction rule and
-- version, region) and the choice (granted and denied category lists, exactly as written).
-- Action and source become small integer codes. The chain is unchanged: it covers the values,
-- which the view `consent_log` presents exactly as before, so every hash still verifies.
-- Contexts and choices are append-only like the records that point to them.

CREATE TABLE record_contexts (
    id                INTEGER PRIMARY KEY,
    site              TEXT NOT NULL,
    policy_version    TEXT NOT NULL,
    registry_version  TEXT NOT NULL,
    language          TEXT NOT NULL,
    jurisdiction      TEXT NOT NULL,
    rule_version      TEXT NOT NULL,
    region            TEXT NOT NULL,  -- '' when the location was unknown
    UNIQUE (site, policy_version, registry_version, language, jurisdiction, rule_version, region)
) STRICT;

CREATE TABLE record_choices (
    id       INTEGER PRIMARY KEY,
    granted  TEXT NOT NULL,
    denied   TEXT NOT NULL,
    UNIQUE (granted, denied)
) STRICT;

INSERT INTO record_contexts (site, policy_version, registry_version, language, jurisdiction, rule_version, region)
SELECT DISTINCT site, policy_version, registry_version, language, jurisdiction, rule_version, ifnull(region, '')
FROM consent_records;

INSERT INTO record_choices (granted, denied) SELECT DISTINCT granted, denied FROM consent_records;

CREATE TABLE consent_records_v4 (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: ids are the chain order
    visitor_id         BLOB    CHECK (visitor_id IS NULL OR length(visitor_id) = 16),
    context_id         INTEGER NOT NULL REFERENCES record_contexts (id),
    choice_id          INTEGER NOT NULL REFERENCES record_choices (id),
    -- 0 accept_all, 1 reject_all, 2 custom, 3 withdraw, 4 gpc
    action             INTEGER NOT NULL CHECK (action BETWEEN 0 AND 4),
    -- 0 banner, 1 preferences, 2 api
    source             INTEGER NOT NULL CHECK (source BETWEEN 0 AND 2),
    page               TEXT,
    ip_reduced         TEXT,
    ua_family          TEXT,
    recorded_at        INTEGER NOT NULL,
    gpc_applied        INTEGER NOT NULL CHECK (gpc_applied IN (0, 1)),
    expires_at         INTEGER NOT NULL,
    subject_salt       BLOB    CHECK (subject_salt IS NULL OR length(subject_salt) = 16),
    subject_commitment BLOB    CHECK (subject_commitment IS NULL OR length(subject_commitment) = 32),
    hash               BLOB    CHECK (hash IS NULL OR length(hash) = 32),
    erased_at          INTEGER,
    CHECK ((erased_at IS NULL AND subject_salt IS NOT NULL AND visitor_id IS NOT NULL)
        OR (erased_at IS NOT NULL AND subject_salt IS NULL AND visitor_id IS NULL
            AND page IS NULL AND ip_reduced IS NULL AND ua_family IS NULL
            AND subject_commitment IS NOT NULL))
) STRICT;

INSERT INTO consent_records_v4 (id, visitor_id, context_id, choice_id, action, source, page, ip_reduced,
    ua_family, recorded_at, gpc_applied, expires_at, subject_salt, subject_commitment, hash, erased_at)
SELECT r.id, r.visitor_id, c.id, k.id,
    CASE r.action WHEN 'accept_all' THEN 0 WHEN 'reject_all' THEN 1 WHEN 'custom' THEN 2
                  WHEN 'withdraw' THEN 3 WHEN 'gpc' THEN 4 END,
    CASE r.source WHEN 'banner' THEN 0 WHEN 'preferences' THEN 1 WHEN 'api' THEN 2 END,
    r.page, r.ip_reduced, r.ua_family, r.recorded_at, r.gpc_applied, r.expires_at,
    r.subject_salt, r.subject_commitment, r.hash, r.erased_at
FROM consent_records r
JOIN record_contexts c ON c.site = r.site AND c.policy_version = r.policy_version
    AND c.registry_version = r.registry_version AND c.language = r.language
    AND c.jurisdiction = r.jurisdiction AND c.rule_version = r.rule_version
    AND c.region = ifnull(r.region, '')
JOIN record_choices k ON k.granted = r.granted AND k.denied = r.denied
ORDER BY r.id;

-- Keep the highest id ever assigned (records purged or deleted off the end included), so
-- ids are never reused and a deleted tail stays detectable.
INSERT INTO sqlite_sequence (name, seq)
SELECT 'consent_records_v4', 0 WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'consent_records_v4');
UPDATE sqlite_sequence
SET seq = max(seq, ifnull((SELECT seq FROM sqlite_sequence WHERE name = 'consent_records'), 0))
WHERE name = 'consent_records_v4';

DROP TABLE consent_records;
ALTER TABLE consent_records_v4 RENAME TO consent_records;

-- History and latest-decision lookups; the site is checked on the (few) rows of the visitor.
CREATE INDEX consent_records_by_visitor ON consent_records (visitor_id, id);
CREATE INDEX consent_records_by_time ON consent_records (recorded_at);

-- Records as the application and the chain see them.
CREATE VIEW consent_log AS
SELECT r.id, r.visitor_id, c.site,
    CASE r.action WHEN 0 THEN 'accept_all' WHEN 1 THEN 'reject_all' WHEN 2 THEN 'custom'
                  WHEN 3 THEN 'withdraw' WHEN 4 THEN 'gpc' END AS action,
    CASE r.source WHEN 0 THEN 'banner' WHEN 1 THEN 'preferences' WHEN 2 THEN 'api' END AS source,
    k.granted, k.denied, c.policy_version, c.registry_version, c.language, r.page, r.ip_reduced,
    r.ua_family, r.recorded_at, nullif(c.region, '') AS region, c.jurisdiction, c.rule_version,
    r.gpc_applied, r.expires_at, r.subject_salt, r.subject_commitment, r.hash, r.erased_at
FROM consent_records r
JOIN record_contexts c ON c.id = r.context_id
JOIN record_choices k ON k.id = r.choice_id;

-- Updates: only sealing a row that has no hash yet, and erasure (identifiers to NULL, the
-- commitment kept). Everything the chain covers stays as written.
CREATE TRIGGER consent_records_append_only_update BEFORE UPDATE ON consent_records
WHEN NOT (
    NEW.id IS OLD.id AND NEW.context_id IS OLD.context_id AND NEW.choice_id IS OLD.choice_id
    AND NEW.action IS OLD.action AND NEW.source IS OLD.source AND NEW.recorded_at IS OLD.recorded_at
    AND NEW.gpc_applied IS OLD.gpc_applied AND NEW.expires_at IS OLD.expires_at
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

CREATE TRIGGER record_contexts_append_only_update BEFORE UPDATE ON record_contexts
BEGIN
    SELECT RAISE(ABORT, 'record_contexts is append-only: records refer to it');
END;
CREATE TRIGGER record_contexts_append_only_delete BEFORE DELETE ON record_contexts
BEGIN
    SELECT RAISE(ABORT, 'record_contexts is append-only: records refer to it');
END;
CREATE TRIGGER record_choices_append_only_update BEFORE UPDATE ON record_choices
BEGIN
    SELECT RAISE(ABORT, 'record_choices is append-only: records refer to it');
END;
CREATE TRIGGER record_choices_append_only_delete BEFORE DELETE ON record_choices
BEGIN
    SELECT RAISE(ABORT, 'record_choices is append-only: records refer to it');
END;
