-- Finding rows that still need their hash (sealing runs at every start) without reading the
-- whole table: the index holds only such rows, normally none.
CREATE INDEX consent_records_unsealed ON consent_records (id) WHERE hash IS NULL;
