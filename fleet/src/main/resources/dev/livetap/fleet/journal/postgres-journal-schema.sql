-- livetap's coordinator journal in PostgreSQL: the tables pekko-persistence-jdbc 1.1.x reads and
-- writes with its default table and column names (jdbc-journal.tables.event_journal / event_tag,
-- jdbc-snapshot-store.tables.snapshot in its reference.conf). Idempotent: a coordinator node runs it
-- at every start; an operator may run it once with psql and give the node's user only DML rights.
-- Statements are separated by lines holding a single ';'.

CREATE TABLE IF NOT EXISTS event_journal (
    ordering           BIGSERIAL    NOT NULL,
    persistence_id     VARCHAR(255) NOT NULL,
    sequence_number    BIGINT       NOT NULL,
    deleted            BOOLEAN      NOT NULL DEFAULT FALSE,
    writer             VARCHAR(255) NOT NULL,
    write_timestamp    BIGINT,
    adapter_manifest   VARCHAR(255),
    event_ser_id       INTEGER      NOT NULL,
    event_ser_manifest VARCHAR(255) NOT NULL,
    event_payload      BYTEA        NOT NULL,
    meta_ser_id        INTEGER,
    meta_ser_manifest  VARCHAR(255),
    meta_payload       BYTEA,
    CONSTRAINT event_journal_pk PRIMARY KEY (persistence_id, sequence_number)
)
;
-- the global order the read journal pages by
CREATE UNIQUE INDEX IF NOT EXISTS event_journal_ordering_key ON event_journal (ordering)
;
CREATE TABLE IF NOT EXISTS event_tag (
    event_id BIGINT       NOT NULL,
    tag      VARCHAR(256) NOT NULL,
    CONSTRAINT event_tag_pk PRIMARY KEY (event_id, tag),
    CONSTRAINT event_tag_event FOREIGN KEY (event_id) REFERENCES event_journal (ordering) ON DELETE CASCADE
)
;
CREATE TABLE IF NOT EXISTS snapshot (
    persistence_id        VARCHAR(255) NOT NULL,
    sequence_number       BIGINT       NOT NULL,
    created               BIGINT       NOT NULL,
    snapshot_ser_id       INTEGER      NOT NULL,
    snapshot_ser_manifest VARCHAR(255) NOT NULL,
    snapshot_payload      BYTEA        NOT NULL,
    meta_ser_id           INTEGER,
    meta_ser_manifest     VARCHAR(255),
    meta_payload          BYTEA,
    CONSTRAINT snapshot_pk PRIMARY KEY (persistence_id, sequence_number)
)
;
