//! The statements of a report batch, prepared once per connection (see
//! `Conn::prepared`): each takes whole columns as arrays, so one statement
//! serves any batch size.

/// Per-host advisory locks, taken in hash order so two controllers (or two
/// batches in flight) never deadlock.
pub(super) const LOCK_HOSTS: &str = "SELECT pg_advisory_xact_lock($1, hashtext(h))
   FROM (SELECT h FROM unnest($2::text[]) AS h ORDER BY hashtext(h), h) AS sorted";

pub(super) const READ_HOSTS: &str = "SELECT host_id, record FROM hosts WHERE host_id = ANY($1)";

pub(super) const READ_REPORTS: &str = "SELECT host_id, epoch, seq, record FROM reports
  WHERE (host_id, epoch, seq) IN (SELECT * FROM unnest($1::text[], $2::int8[], $3::int8[]))";

pub(super) const READ_ROLLUPS: &str = "SELECT host_id, hour_ms, record FROM rollups
  WHERE (host_id, hour_ms) IN (SELECT * FROM unnest($1::text[], $2::int8[]))";

pub(super) const READ_SENDING: &str = "SELECT domain, host_id, messages, first_seen_ms, last_seen_ms FROM sending
  WHERE (domain, host_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))";

/// The receiver states the batch's reports asked for (see `store::acks`).
pub(super) const READ_RECEIVERS: &str = "SELECT ip, provider, record FROM receivers
  WHERE (ip, provider) IN (SELECT * FROM unnest($1::text[], $2::text[]))";

/// The actions of the batch's hosts, newest first, as `Pg::actions` orders them.
pub(super) const READ_ACTIONS: &str = "SELECT id, record FROM actions WHERE host_id = ANY($1)
  ORDER BY created_ms DESC, id";

pub(super) const WRITE_REPORTS: &str =
    "INSERT INTO reports (host_id, epoch, seq, day, period_end_ms, received_ms, record)
     SELECT h, e, s, DATE '1970-01-01' + d, p, r, b
       FROM unnest($1::text[], $2::int8[], $3::int8[], $4::int4[], $5::int8[], $6::int8[], $7::bytea[])
         AS t(h, e, s, d, p, r, b)";

pub(super) const WRITE_HOSTS: &str = "INSERT INTO hosts (host_id, epoch, last_seq, reports_stored, seq_gaps, first_seen_ms, last_report_ms, record)
     SELECT * FROM unnest($1::text[], $2::int8[], $3::int8[], $4::int8[], $5::int8[], $6::int8[], $7::int8[], $8::bytea[])
     ON CONFLICT (host_id) DO UPDATE SET
       epoch = EXCLUDED.epoch, last_seq = EXCLUDED.last_seq, reports_stored = EXCLUDED.reports_stored,
       seq_gaps = EXCLUDED.seq_gaps, first_seen_ms = EXCLUDED.first_seen_ms,
       last_report_ms = EXCLUDED.last_report_ms, record = EXCLUDED.record";

pub(super) const WRITE_ROLLUPS: &str = "INSERT INTO rollups (host_id, hour_ms, reports, record, sent, deferred, bounced, blocklisted, queue_max, queue_last)
     SELECT * FROM unnest($1::text[], $2::int8[], $3::int8[], $4::bytea[],
                          $5::int8[], $6::int8[], $7::int8[], $8::int8[], $9::int8[], $10::int8[])
     ON CONFLICT (host_id, hour_ms) DO UPDATE SET reports = EXCLUDED.reports, record = EXCLUDED.record,
       sent = EXCLUDED.sent, deferred = EXCLUDED.deferred, bounced = EXCLUDED.bounced,
       blocklisted = EXCLUDED.blocklisted, queue_max = EXCLUDED.queue_max, queue_last = EXCLUDED.queue_last";

pub(super) const WRITE_HOST_DOMAINS: &str =
    "INSERT INTO host_domains (host_id, record) SELECT * FROM unnest($1::text[], $2::bytea[])
     ON CONFLICT (host_id) DO UPDATE SET record = EXCLUDED.record";

pub(super) const WRITE_SENDING: &str = "INSERT INTO sending (domain, host_id, messages, first_seen_ms, last_seen_ms)
     SELECT * FROM unnest($1::text[], $2::text[], $3::int8[], $4::int8[], $5::int8[])
     ON CONFLICT (domain, host_id) DO UPDATE SET
       messages = EXCLUDED.messages, last_seen_ms = EXCLUDED.last_seen_ms";
