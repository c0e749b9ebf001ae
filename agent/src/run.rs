//! The agent loop: collect on schedule, spool, send, back off.
//!
//! Collection and delivery are decoupled by the outbox. [`Agent::tick`] builds
//! a report and pushes it; [`Agent::flush`] drains the outbox oldest-first.
//! [`Agent::run`] interleaves the two so that a controller outage only delays
//! delivery: ticks stay on schedule, sends back off exponentially with jitter,
//! and the backlog goes out in seq order when the controller answers again.

use std::future::Future;

use rblfleet_proto::v1::{AgentInfo, AgentStatus, HostReport};
use tokio::time::{Instant, MissedTickBehavior};

use crate::backoff::Backoff;
use crate::client::{ClientError, ControllerClient, ControllerSwitch, SendError};
use crate::collect::domains::DomainsCollector;
use crate::collect::ips::IpsCollector;
use crate::collect::maillog::MailLog;
use crate::collect::{Collector, collect_all, collect_one};
use crate::config::{Config, ConfigError};
use crate::identity::{IdentityError, resolve_host_id};
use crate::store::checkpoint::{CheckpointError, Checkpoints};
use crate::store::in_use::{self, InUse};
use crate::store::outbox::{Outbox, OutboxError, unix_ms};

mod contain;
mod host;
mod retry;

use host::agent_info;
#[cfg(test)]
use host::pretty_name;
use retry::{log_retry, retry_delay};

/// How the agent talks to the controller.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunOptions {
    /// Plaintext to a loopback `http://` controller (development and tests).
    pub insecure: bool,
}

/// What one [`Agent::flush`] did.
#[derive(Debug, Default)]
pub struct FlushOutcome {
    /// Reports the controller stored now.
    pub sent: usize,
    /// Reports the controller had already stored (acknowledged, not applied twice).
    pub duplicates: usize,
    /// Reports dropped for good: refused by the controller (INVALID_ARGUMENT,
    /// FAILED_PRECONDITION, OUT_OF_RANGE) or unreadable in the outbox.
    pub rejected: usize,
    /// The last error met: the retryable one that stopped the flush, else the
    /// last rejection. `None` when every report was acknowledged.
    pub last_error: Option<AgentError>,
}

/// Why the agent could not start, record or send a report.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The configuration does not allow this mode.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The host id could not be determined.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// The outbox failed.
    #[error(transparent)]
    Outbox(#[from] OutboxError),
    /// The log checkpoints in the outbox could not be opened.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// The containment action ledger (in the outbox directory).
    #[error("containment actions: {0}")]
    Actions(#[from] crate::actions::LedgerError),
    /// The controller client could not be set up.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// Sending a report failed.
    #[error("sending to the controller: {0}")]
    Send(SendError),
    /// The controller acknowledged a different report than the one sent.
    #[error("controller acknowledged epoch {ack_epoch} seq {ack_seq} for epoch {epoch} seq {seq}")]
    AckMismatch {
        /// Epoch of the report sent.
        epoch: u64,
        /// Seq of the report sent.
        seq: u64,
        /// Epoch in the ack.
        ack_epoch: u64,
        /// Seq in the ack.
        ack_seq: u64,
    },
}

// By hand: `#[from]` would also make it the error's source, and `{:#}` would
// print the message twice.
impl From<SendError> for AgentError {
    fn from(e: SendError) -> Self {
        AgentError::Send(e)
    }
}

/// The result of sending the oldest report.
enum Step {
    Empty,
    Sent { duplicate: bool },
    Rejected(AgentError),
}

/// A running agent: config, identity, outbox, client, collectors and the
/// mail-log collector.
#[derive(Debug)]
pub struct Agent {
    config: Config,
    host_id: String,
    outbox: Outbox,
    client: ControllerClient,
    collectors: Vec<Box<dyn Collector>>,
    maillog: MailLog,
    /// Held by type: its set is marked sent only once a report is stored.
    domains: Option<DomainsCollector>,
    info: AgentInfo,
    last_period_end_ms: Option<i64>,
    backoff: Backoff,
    /// Containment actions from the controller (issue 16).
    contain: contain::Containment,
}

impl Agent {
    /// Checks the transport, resolves the host id, opens the outbox and
    /// prepares a lazy connection (a controller that is down is not an error).
    /// Must run inside a tokio runtime.
    pub async fn open(config: Config, opts: RunOptions) -> Result<Agent, AgentError> {
        config.check_transport(opts.insecure)?;
        let host_id = resolve_host_id(&config, opts.insecure)?;
        let outbox = Outbox::open(&config.outbox.dir, config.outbox.max_reports)?;
        let checkpoints = Checkpoints::in_outbox(&outbox, &config.outbox.dir)?;
        let client = ControllerClient::connect(&config.controller, opts.insecure)?;
        let mut collectors: Vec<Box<dyn Collector>> = vec![Box::new(IpsCollector::new(config.ips.clone()))];
        let (mta, queue) = crate::collect::queue::detect(&config.queue);
        collectors.extend(queue);
        let mut info = agent_info();
        info.mta = mta as i32;
        let maillog = MailLog::open(&config, checkpoints);
        let contain = contain::Containment::open(&config, mta)?;
        // The first read runs the Plesk commands: off the async threads.
        let domains_config = config.clone();
        let domains =
            tokio::task::spawn_blocking(move || DomainsCollector::open(&domains_config)).await.unwrap_or_else(|e| {
                tracing::error!(error = %e, "reading the host's domains failed (a bug); reporting none");
                None
            });
        tracing::info!(
            host_id = %host_id,
            controller = %client.urls().join(", "),
            epoch = outbox.epoch(),
            backlog = outbox.len(),
            mta = mta.as_str_name(),
            domains = domains.as_ref().map(|d| d.current().list.len()),
            "agent ready"
        );
        Ok(Agent {
            backoff: Backoff::new(config.retry.initial, config.retry.max),
            info,
            config,
            host_id,
            outbox,
            client,
            collectors,
            maillog,
            domains,
            last_period_end_ms: None,
            contain,
        })
    }

    /// The host id put in every report.
    pub fn host_id(&self) -> &str {
        &self.host_id
    }

    /// The outbox epoch put in every report.
    pub fn epoch(&self) -> u64 {
        self.outbox.epoch()
    }

    /// Reports waiting in the outbox.
    pub fn backlog(&self) -> usize {
        usize::try_from(self.outbox.len()).unwrap_or(usize::MAX)
    }

    /// Reports dropped because the outbox was full, since the epoch began.
    pub fn dropped(&self) -> Result<u64, AgentError> {
        Ok(self.outbox.dropped()?)
    }

    /// Reads the mail log to its end, runs the collectors, builds a report
    /// for the period since the last stored one and pushes it to the outbox
    /// together with the log positions it covers (one transaction). Returns
    /// its seq. When the push fails, the period's mail-log figures are kept
    /// for the next report.
    pub fn tick(&mut self) -> Result<u64, AgentError> {
        self.maillog.drain();
        let now = i64::try_from(unix_ms()).unwrap_or(i64::MAX);
        let interval_ms = i64::try_from(self.config.report.interval.as_millis()).unwrap_or(0);
        let mut report = HostReport {
            host_id: self.host_id.clone(),
            period_start_ms: self.last_period_end_ms.unwrap_or_else(|| now.saturating_sub(interval_ms)),
            period_end_ms: now,
            agent: Some(self.info.clone()),
            ..HostReport::default()
        };
        collect_all(&mut self.collectors, &mut report);
        collect_one(&mut self.maillog, &mut report);
        if let Some(domains) = self.domains.as_mut() {
            collect_one(domains, &mut report);
        }
        self.contain.note(&report);
        report.action_results = self.contain.results();
        let status = report.status.get_or_insert_with(AgentStatus::default);
        status.outbox_backlog = self.outbox.len();
        status.outbox_dropped = self.outbox.dropped()?;
        let positions = self.maillog.pending_commit();
        let seq = self.outbox.push_with_checkpoints(&mut report, Some((self.maillog.checkpoints(), &positions)))?;
        self.maillog.committed();
        self.contain.results_stored();
        if let Some(domains) = self.domains.as_mut() {
            domains.committed();
        }
        self.last_period_end_ms = Some(now);
        let d = report.deliveries.unwrap_or_default();
        tracing::debug!(
            seq,
            ips = report.ips.len(),
            sent = d.sent,
            deferred = d.deferred,
            bounced = d.bounced,
            blocklisted = d.blocklisted,
            blocklist = report.blocklist.len(),
            sources = report.sources.len(),
            domains = report.domains.as_ref().map(|d| d.domains.len()),
            sender_domains = report.sender_domains.len(),
            "report recorded"
        );
        Ok(seq)
    }

    /// Sends the outbox oldest-first until it is empty or a send fails in a
    /// way worth retrying. Refused reports are dropped and counted.
    pub async fn flush(&mut self) -> FlushOutcome {
        let mut outcome = FlushOutcome::default();
        loop {
            match self.send_oldest().await {
                Ok(Step::Empty) => break,
                Ok(Step::Sent { duplicate: false }) => outcome.sent += 1,
                Ok(Step::Sent { duplicate: true }) => outcome.duplicates += 1,
                Ok(Step::Rejected(e)) => {
                    outcome.rejected += 1;
                    outcome.last_error = Some(e);
                }
                Err(e) => {
                    log_retry(&e, None, 0);
                    outcome.last_error = Some(e);
                    break;
                }
            }
        }
        outcome
    }

    /// Ticks every `report.interval` and delivers the outbox until `shutdown`
    /// completes; in between, while nothing is being sent, reads the mail
    /// log every `logs.poll_interval`. Collection never waits for the
    /// controller: while it is unreachable, sends back off from
    /// `retry.initial` to `retry.max` with full jitter and reports accumulate
    /// in the outbox.
    ///
    /// A send still in flight when a tick or shutdown arrives is abandoned;
    /// the report stays in the outbox and, if the controller did store it,
    /// the resend is acknowledged as a duplicate.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut ticker = tokio::time::interval(self.config.report.interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut poller = tokio::time::interval(self.config.logs.poll_interval);
        poller.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut retry_at: Option<Instant> = None;
        loop {
            let can_send = retry_at.is_none() && !self.outbox.is_empty();
            let wake_at = retry_at.unwrap_or_else(Instant::now);
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                _ = ticker.tick() => {
                    if let Err(e) = self.tick() {
                        tracing::error!(error = %e, "could not record a report");
                    }
                }
                // Never while a send is in flight: a branch that completes
                // first drops the others' futures, and a poll every second
                // would abandon any send slower than that.
                _ = poller.tick(), if !can_send => {
                    self.maillog.poll();
                }
                () = tokio::time::sleep_until(wake_at), if retry_at.is_some() => retry_at = None,
                step = self.send_oldest(), if can_send => match step {
                    Ok(Step::Sent { .. }) => {
                        if self.backoff.failures() > 0 {
                            tracing::info!(backlog = self.outbox.len(), "controller answers again; sending the backlog");
                        }
                        self.backoff.reset();
                    }
                    Ok(Step::Empty | Step::Rejected(_)) => {}
                    Err(e) => {
                        let delay = retry_delay(&mut self.backoff, &e);
                        log_retry(&e, Some(delay), self.outbox.len());
                        retry_at = Some(Instant::now() + delay);
                    }
                },
            }
        }
        self.maillog.stopped();
        match self.outbox.flush() {
            Ok(()) => tracing::info!(backlog = self.outbox.len(), "agent stopped"),
            Err(e) => tracing::error!(error = %e, "agent stopped; outbox flush failed"),
        }
    }

    /// The controller that acknowledged the last report, if one did.
    pub fn controller_in_use(&self) -> Option<&str> {
        self.client.in_use()
    }

    /// Logs a change of controller once, and records it for the doctor.
    /// With one controller only a move away from it is news, and none is.
    fn note_switch(&self, switch: ControllerSwitch) {
        let several = self.client.urls().len() > 1;
        match (&switch.from, &switch.reason) {
            (Some(from), reason) => tracing::warn!(
                controller = %switch.to,
                previous = %from,
                reason = reason.as_deref().unwrap_or("it stopped answering"),
                "switched controller: reports now go to {}",
                switch.to
            ),
            (None, _) if several => tracing::info!(controller = %switch.to, "reports go to controller {}", switch.to),
            (None, _) => {}
        }
        let in_use = InUse { url: switch.to, since_ms: unix_ms(), previous: switch.from, reason: switch.reason };
        if let Err(e) = in_use::write(&self.config.outbox.dir, &in_use) {
            tracing::warn!(error = %e, "cannot record the controller in use for `rblfleet-agent doctor`");
        }
    }

    /// Sends the oldest report and settles it in the outbox.
    async fn send_oldest(&mut self) -> Result<Step, AgentError> {
        let report = match self.outbox.peek_oldest() {
            Ok(Some(report)) => report,
            Ok(None) => return Ok(Step::Empty),
            Err(e @ OutboxError::Corrupt { seq: Some(seq), .. }) => {
                tracing::error!(seq, error = %e, "dropping an unreadable report from the outbox");
                self.outbox.reject(seq)?;
                return Ok(Step::Rejected(e.into()));
            }
            Err(e) => return Err(e.into()),
        };
        let sent = self.client.send(&report).await;
        if let Some(switch) = self.client.take_switch() {
            self.note_switch(switch);
        }
        match sent {
            Ok(ack) if ack.epoch == report.epoch && ack.seq == report.seq => {
                self.outbox.ack(report.seq)?;
                if !ack.actions.is_empty() {
                    // Blocking, but bounded: every tool runs with the
                    // executor's deadline, and actions are rare.
                    self.contain.handle(&self.host_id, &ack.actions);
                }
                Ok(Step::Sent { duplicate: ack.duplicate })
            }
            Ok(ack) => Err(AgentError::AckMismatch {
                epoch: report.epoch,
                seq: report.seq,
                ack_epoch: ack.epoch,
                ack_seq: ack.seq,
            }),
            Err(e @ SendError::Rejected { .. }) => {
                tracing::error!(
                    seq = report.seq,
                    error = %e,
                    "controller refused the report for good; dropped it from the outbox"
                );
                self.outbox.reject(report.seq)?;
                Ok(Step::Rejected(e.into()))
            }
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests;
