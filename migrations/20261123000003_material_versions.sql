-- Whether a published version invalidates consents given under earlier ones.
-- Existing (first) versions count as material: they are where consent starts.
ALTER TABLE policy_versions ADD COLUMN material INTEGER NOT NULL DEFAULT 1 CHECK (material IN (0, 1));
ALTER TABLE registry_versions ADD COLUMN material INTEGER NOT NULL DEFAULT 1 CHECK (material IN (0, 1));
