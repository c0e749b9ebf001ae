-- rblfleet schema version 2: read-only views for a NOC's own queries and
-- dashboards (Grafana's PostgreSQL data source), documented in
-- docs/operations.md, "Grafana on PostgreSQL".
--
-- The records are protobuf (see 0001): SQL cannot read them. What the
-- views need and only a record held gets a plain column here, kept by the
-- controller in the same statement as the record:
-- - host_ips: the IPs each host sends from (from its latest report);
-- - rollups: an hour's delivery and queue figures.
-- Rows stored before this version have none of it until the host's next
-- report (host_ips) or for good (an older hour's figures stay NULL).
--
-- The views are the interface: their columns only ever get added to.
-- Times are timestamptz (NULL where the store keeps 0 for "never").

CREATE TABLE host_ips (
    host_id text COLLATE "C" NOT NULL,
    ip      text COLLATE "C" NOT NULL,
    PRIMARY KEY (host_id, ip)
);
CREATE INDEX host_ips_by_ip ON host_ips (ip);

ALTER TABLE rollups
    ADD COLUMN sent        bigint,
    ADD COLUMN deferred    bigint,
    ADD COLUMN bounced     bigint,
    ADD COLUMN blocklisted bigint,
    ADD COLUMN queue_max   bigint,
    ADD COLUMN queue_last  bigint;

-- Unix milliseconds to a time; 0 (never) to NULL.
CREATE FUNCTION rblfleet_time(ms bigint) RETURNS timestamptz
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT CASE WHEN ms = 0 THEN NULL ELSE to_timestamp(ms / 1000.0) END $$;

-- Every listing in force (an episode not cleared), one row per host that
-- sends from the IP (host_id NULL when no host reports it any more), with
-- the latest check and the delisting case of (IP, list).
CREATE VIEW noc_listings AS
SELECT h.host_id,
       e.ip,
       e.zone_id                       AS zone,
       rblfleet_time(e.first_seen_ms)  AS since,
       rblfleet_time(e.last_seen_ms)   AS last_seen,
       c.status                        AS check_status,
       rblfleet_time(c.checked_ms)     AS checked_at,
       k.id                            AS case_id,
       k.state                         AS case_state
  FROM episodes e
  LEFT JOIN host_ips h   ON h.ip = e.ip
  LEFT JOIN checks c     ON c.ip = e.ip AND c.zone_id = e.zone_id
  LEFT JOIN case_index i ON i.ip = e.ip AND i.list_id = e.zone_id
  LEFT JOIN cases k      ON k.id = i.case_id
 WHERE e.cleared_ms = 0;

-- Delisting cases not yet resolved or ignored, with when they opened, the
-- last thing that happened and the hosts sending from the IP.
CREATE VIEW noc_open_cases AS
SELECT k.id                          AS case_id,
       k.ip,
       k.list_id                     AS list,
       k.state,
       rblfleet_time(opened_ev.at_ms)    AS opened,
       rblfleet_time(k.updated_ms)   AS updated,
       last_ev.action                AS last_action,
       last_ev.who                   AS last_by,
       last_ev.note                  AS last_note,
       (SELECT string_agg(h.host_id, ', ' ORDER BY h.host_id) FROM host_ips h WHERE h.ip = k.ip) AS hosts
  FROM cases k
  LEFT JOIN case_history opened_ev ON opened_ev.case_id = k.id AND opened_ev.n = 0
  LEFT JOIN LATERAL (SELECT action, who, note FROM case_history ch
                      WHERE ch.case_id = k.id ORDER BY ch.n DESC LIMIT 1) last_ev ON true
 WHERE k.state NOT IN ('resolved', 'ignored');

-- A case's whole history, one row per event.
CREATE VIEW noc_case_history AS
SELECT case_id, n, rblfleet_time(at_ms) AS at, who, action, from_state, to_state, note, ref, reason
  FROM case_history;

-- One row per host: its reporting, its IPs, its listings in force and its
-- last 24 hours of mail.
CREATE VIEW noc_hosts AS
SELECT s.host_id,
       rblfleet_time(s.first_seen_ms)  AS first_seen,
       rblfleet_time(s.last_report_ms) AS last_report,
       s.reports_stored,
       s.seq_gaps,
       (SELECT string_agg(h.ip, ', ' ORDER BY h.ip) FROM host_ips h WHERE h.host_id = s.host_id) AS ips,
       (SELECT count(*) FROM host_ips h JOIN episodes e ON e.ip = h.ip AND e.cleared_ms = 0
         WHERE h.host_id = s.host_id) AS listings,
       d24.reports     AS reports_24h,
       d24.sent        AS sent_24h,
       d24.bounced     AS bounced_24h,
       d24.blocklisted AS blocklisted_24h,
       d24.queue_max   AS queue_max_24h
  FROM hosts s
  LEFT JOIN LATERAL (
       SELECT sum(r.reports) AS reports, sum(r.sent) AS sent, sum(r.bounced) AS bounced,
              sum(r.blocklisted) AS blocklisted, max(r.queue_max) AS queue_max
         FROM rollups r
        WHERE r.host_id = s.host_id
          AND r.hour_ms >= (extract(epoch FROM now()) * 1000)::bigint - 86400000) d24 ON true;

-- Hourly evidence per host, for time series.
CREATE VIEW noc_host_hours AS
SELECT host_id, rblfleet_time(hour_ms) AS hour, reports, sent, deferred, bounced, blocklisted, queue_max, queue_last
  FROM rollups;

-- The latest blocklist check of every (IP, zone).
CREATE VIEW noc_checks AS
SELECT ip, zone_id AS zone, status, rblfleet_time(checked_ms) AS checked_at FROM checks;

-- Queries per zone and UTC day (the fleet-wide budgets).
CREATE VIEW noc_zone_usage AS
SELECT zone_id AS zone, DATE '1970-01-01' + day AS day, queries FROM zone_usage;
