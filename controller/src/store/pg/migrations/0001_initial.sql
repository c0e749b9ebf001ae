-- rblfleet schema version 1.
--
-- Every table keeps the record the controller reads back (`record`: one
-- format byte and the protobuf message, the same encoding as the sled
-- store) next to the columns it is looked up by and that a NOC filters on.
-- The record is the source of truth for the API; the columns are kept
-- equal to it by the controller, in the same statement.
--
-- Text keys use the "C" collation: listings come back in byte order, as
-- from sled, whatever the database's default collation is.

-- Latest state per host. `epoch`/`last_seq` decide exactly-once ingest.
CREATE TABLE hosts (
    host_id        text COLLATE "C"   PRIMARY KEY,
    epoch          bigint NOT NULL,
    last_seq       bigint NOT NULL,
    reports_stored bigint NOT NULL,
    seq_gaps       bigint NOT NULL,
    first_seen_ms  bigint NOT NULL,
    last_report_ms bigint NOT NULL,
    record         bytea  NOT NULL
);

-- Raw reports, one partition per UTC day of the report's period end, so
-- retention drops whole partitions. A unique index on a partitioned table
-- must contain the partition key: (host_id, epoch, seq) alone is kept
-- unique by ingest, which holds the host's advisory lock and accepts only a
-- sequence above the host's last one (see store/pg/reports.rs).
CREATE TABLE reports (
    host_id       text COLLATE "C"   NOT NULL,
    epoch         bigint NOT NULL,
    seq           bigint NOT NULL,
    day           date   NOT NULL,
    period_end_ms bigint NOT NULL,
    received_ms   bigint NOT NULL,
    record        bytea  NOT NULL,
    PRIMARY KEY (host_id, epoch, seq, day)
) PARTITION BY RANGE (day);

-- Hourly evidence per host (kept long after the raw reports).
CREATE TABLE rollups (
    host_id text COLLATE "C"   NOT NULL,
    hour_ms bigint NOT NULL,
    reports bigint NOT NULL,
    record  bytea  NOT NULL,
    PRIMARY KEY (host_id, hour_ms)
);

-- The latest blocklist check per (IP, zone).
CREATE TABLE checks (
    ip         text COLLATE "C"   NOT NULL,
    zone_id    text COLLATE "C"   NOT NULL,
    status     text COLLATE "C" NOT NULL,   -- listed, clean, error, skipped
    checked_ms bigint NOT NULL,
    record     bytea  NOT NULL,
    PRIMARY KEY (ip, zone_id)
);

-- Listing episodes: one row per (IP, zone, first seen).
CREATE TABLE episodes (
    ip            text COLLATE "C"   NOT NULL,
    zone_id       text COLLATE "C"   NOT NULL,
    first_seen_ms bigint NOT NULL,
    last_seen_ms  bigint NOT NULL,
    cleared_ms    bigint NOT NULL,
    record        bytea  NOT NULL,
    PRIMARY KEY (ip, zone_id, first_seen_ms)
);

-- Queries per zone and UTC day (day number since 1970-01-01): the budgets
-- are fleet-wide because every controller adds to the same row.
CREATE TABLE zone_usage (
    zone_id text COLLATE "C"    NOT NULL,
    day     integer NOT NULL,
    queries bigint  NOT NULL,
    PRIMARY KEY (zone_id, day)
);

-- Delisting cases; ids from a sequence, never reused.
CREATE SEQUENCE case_ids;
CREATE TABLE cases (
    id         bigint  PRIMARY KEY,
    ip         text COLLATE "C"    NOT NULL,
    list_id    text COLLATE "C"    NOT NULL,
    state      text COLLATE "C" NOT NULL,   -- open, investigating, …, resolved, ignored
    updated_ms bigint  NOT NULL,
    record     bytea   NOT NULL
);
-- Each case's history, one row per event, for a NOC's own queries.
CREATE TABLE case_history (
    case_id    bigint  NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    n          integer NOT NULL,
    at_ms      bigint  NOT NULL,
    who        text COLLATE "C" NOT NULL,
    action     text COLLATE "C" NOT NULL,
    from_state text COLLATE "C" NOT NULL,
    to_state   text COLLATE "C" NOT NULL,
    note       text NOT NULL,
    ref        text NOT NULL,
    reason     text NOT NULL,
    PRIMARY KEY (case_id, n)
);
-- (IP, list) → the case last stored for it.
CREATE TABLE case_index (
    ip      text COLLATE "C"   NOT NULL,
    list_id text COLLATE "C"   NOT NULL,
    case_id bigint NOT NULL,
    PRIMARY KEY (ip, list_id)
);

-- Receiver-side listing state per (IP, provider).
CREATE TABLE receivers (
    ip       text COLLATE "C"  NOT NULL,
    provider text COLLATE "C"  NOT NULL,
    record   bytea NOT NULL,
    PRIMARY KEY (ip, provider)
);

-- The domains each host serves (its agent's last list).
CREATE TABLE host_domains (
    host_id text COLLATE "C"  PRIMARY KEY,
    record  bytea NOT NULL
);

-- Envelope sender domains per host.
CREATE TABLE sending (
    domain        text COLLATE "C"   NOT NULL,
    host_id       text COLLATE "C"   NOT NULL,
    messages      bigint NOT NULL,
    first_seen_ms bigint NOT NULL,
    last_seen_ms  bigint NOT NULL,
    PRIMARY KEY (domain, host_id)
);

-- The outbreak detector's state per host (its own bytes) and its warnings.
CREATE TABLE outbreak (
    host_id text COLLATE "C"  PRIMARY KEY,
    state   bytea NOT NULL
);
CREATE TABLE warnings (
    host_id       text COLLATE "C"    NOT NULL,
    source_kind   integer NOT NULL,
    source_id     text COLLATE "C"    NOT NULL,
    first_seen_ms bigint  NOT NULL,
    cleared_ms    bigint  NOT NULL,
    record        bytea   NOT NULL,
    PRIMARY KEY (host_id, source_kind, source_id, first_seen_ms)
);

-- Containment actions and their audit.
CREATE TABLE actions (
    id         text COLLATE "C"   PRIMARY KEY,
    host_id    text COLLATE "C"   NOT NULL,
    created_ms bigint NOT NULL,
    record     bytea  NOT NULL
);
CREATE INDEX actions_by_host ON actions (host_id);
