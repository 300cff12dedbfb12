-- Accord schema v1. SQLite engine; types and constraints chosen so a PostgreSQL engine can
-- mirror them (INTEGER PRIMARY KEY ~ bigserial, BLOB ~ bytea, TEXT JSON ~ jsonb).

-- Published privacy policy versions. Append-only: publishing adds a row.
CREATE TABLE policy_versions (
    id             INTEGER PRIMARY KEY,
    version        TEXT    NOT NULL UNIQUE,
    effective_date TEXT    NOT NULL,
    title          TEXT    NOT NULL,
    content_hash   TEXT    NOT NULL,
    changelog      TEXT    NOT NULL,  -- JSON array of {version, date, material, summary}
    markdown       TEXT    NOT NULL,
    published_at   INTEGER NOT NULL   -- unix ms
) STRICT;

-- Published cookie registry versions with their categories and cookies.
CREATE TABLE registry_versions (
    id           INTEGER PRIMARY KEY,
    version      TEXT    NOT NULL UNIQUE,
    content_hash TEXT    NOT NULL,
    published_at INTEGER NOT NULL
) STRICT;

CREATE TABLE registry_categories (
    registry_id INTEGER NOT NULL REFERENCES registry_versions (id),
    position    INTEGER NOT NULL,
    key         TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    description TEXT    NOT NULL,
    required    INTEGER NOT NULL CHECK (required IN (0, 1)),
    PRIMARY KEY (registry_id, key)
) STRICT;

CREATE TABLE registry_cookies (
    registry_id   INTEGER NOT NULL REFERENCES registry_versions (id),
    position      INTEGER NOT NULL,
    name          TEXT    NOT NULL,
    provider      TEXT    NOT NULL,
    service       TEXT    NOT NULL,
    category      TEXT    NOT NULL,
    purpose       TEXT    NOT NULL,
    lifetime      TEXT    NOT NULL,
    lifetime_days INTEGER,
    party         TEXT    NOT NULL CHECK (party IN ('first', 'third')),
    source        TEXT    NOT NULL,
    PRIMARY KEY (registry_id, name),
    FOREIGN KEY (registry_id, category) REFERENCES registry_categories (registry_id, key)
) STRICT;

-- The shared-responsibility matrix, stored as one JSON document per version.
CREATE TABLE responsibility_versions (
    id           INTEGER PRIMARY KEY,
    content_hash TEXT    NOT NULL UNIQUE,
    document     TEXT    NOT NULL,
    published_at INTEGER NOT NULL
) STRICT;

-- The consent ledger. One row per choice; never updated, never deleted in place.
CREATE TABLE consent_records (
    id               INTEGER PRIMARY KEY,
    visitor_id       BLOB    NOT NULL CHECK (length(visitor_id) = 16),
    site             TEXT    NOT NULL,
    action           TEXT    NOT NULL CHECK (action IN ('accept_all', 'reject_all', 'custom', 'withdraw')),
    source           TEXT    NOT NULL CHECK (source IN ('banner', 'preferences', 'api')),
    granted          TEXT    NOT NULL,  -- category keys joined by ','
    denied           TEXT    NOT NULL,
    policy_version   TEXT    NOT NULL,
    registry_version TEXT    NOT NULL,
    language         TEXT    NOT NULL,
    page             TEXT    NOT NULL,
    ip_reduced       TEXT,              -- /24 or /48 network, never a full address
    ua_family        TEXT    NOT NULL,
    recorded_at      INTEGER NOT NULL   -- unix ms
) STRICT;

CREATE INDEX consent_records_by_visitor ON consent_records (visitor_id, site, id);

CREATE TRIGGER consent_records_append_only_update BEFORE UPDATE ON consent_records
BEGIN
    SELECT RAISE(ABORT, 'consent_records is append-only');
END;

CREATE TRIGGER consent_records_append_only_delete BEFORE DELETE ON consent_records
BEGIN
    SELECT RAISE(ABORT, 'consent_records is append-only');
END;
