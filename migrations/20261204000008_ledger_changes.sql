-- A counter of the changes to consent records other than appends (erasures, retention
-- purges), bumped by triggers in whichever process makes them. A server keeps visitors'
-- latest decisions in memory and watches it to forget them when another process (`accord
-- purge`, a second server) changed what they were read from.
CREATE TABLE ledger_changes (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    n   INTEGER NOT NULL
) STRICT;

INSERT INTO ledger_changes (id, n) VALUES (1, 0);

CREATE TRIGGER ledger_changes_on_erasure AFTER UPDATE OF visitor_id ON consent_records
WHEN OLD.visitor_id IS NOT NULL AND NEW.visitor_id IS NULL
BEGIN
    UPDATE ledger_changes SET n = n + 1 WHERE id = 1;
END;

-- Records are only deleted behind a checkpoint that covers them (consent_records'
-- delete trigger), and a purge appends that checkpoint first: one bump per purge batch
-- instead of one per deleted row.
CREATE TRIGGER ledger_changes_on_purge AFTER INSERT ON ledger_checkpoints
BEGIN
    UPDATE ledger_changes SET n = n + 1 WHERE id = 1;
END;
