-- Jurisdiction, GPC and expiry on every consent record. SQLite cannot alter a CHECK
-- constraint (a new action, 'gpc'), so the table is rebuilt; DROP TABLE fires no DELETE
-- trigger, and every row is copied before the old table goes.

CREATE TABLE consent_records_v2 (
    id               INTEGER PRIMARY KEY,
    visitor_id       BLOB    NOT NULL CHECK (length(visitor_id) = 16),
    site             TEXT    NOT NULL,
    action           TEXT    NOT NULL CHECK (action IN ('accept_all', 'reject_all', 'custom', 'withdraw', 'gpc')),
    source           TEXT    NOT NULL CHECK (source IN ('banner', 'preferences', 'api')),
    granted          TEXT    NOT NULL,
    denied           TEXT    NOT NULL,
    policy_version   TEXT    NOT NULL,
    registry_version TEXT    NOT NULL,
    language         TEXT    NOT NULL,
    page             TEXT    NOT NULL,
    ip_reduced       TEXT,
    ua_family        TEXT    NOT NULL,
    recorded_at      INTEGER NOT NULL,
    region           TEXT,                                   -- 'US-CA', 'DE'; NULL when unknown
    jurisdiction     TEXT    NOT NULL DEFAULT 'unknown',     -- the rule id applied
    rule_version     TEXT    NOT NULL DEFAULT 'unknown',
    gpc_applied      INTEGER NOT NULL DEFAULT 0 CHECK (gpc_applied IN (0, 1)),
    expires_at       INTEGER NOT NULL DEFAULT 0              -- unix ms
) STRICT;

INSERT INTO consent_records_v2 (id, visitor_id, site, action, source, granted, denied, policy_version,
    registry_version, language, page, ip_reduced, ua_family, recorded_at, expires_at)
SELECT id, visitor_id, site, action, source, granted, denied, policy_version, registry_version, language,
    page, ip_reduced, ua_family, recorded_at, recorded_at + 182 * 86400000
FROM consent_records;

DROP TABLE consent_records;
ALTER TABLE consent_records_v2 RENAME TO consent_records;

CREATE INDEX consent_records_by_visitor ON consent_records (visitor_id, site, id);

CREATE TRIGGER consent_records_append_only_update BEFORE UPDATE ON consent_records
BEGIN
    SELECT RAISE(ABORT, 'consent_records is append-only');
END;

CREATE TRIGGER consent_records_append_only_delete BEFORE DELETE ON consent_records
BEGIN
    SELECT RAISE(ABORT, 'consent_records is append-only');
END;
