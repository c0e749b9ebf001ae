-- Forced rechecks asked for by a controller that does not run the
-- blocklist engine (several controllers on one database): a bounce that
-- names a listed IP or domain reached that controller's ingest, and the
-- engine's leader, wherever it runs, takes the target from here at its
-- next pass. One row per target: asking again before the engine took it
-- changes nothing.
CREATE TABLE recheck_queue (
    target   text   PRIMARY KEY,
    asked_ms bigint NOT NULL
);
