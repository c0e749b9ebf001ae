//! Singleton work under leadership: the blocklist engine, alerts and
//! retention run on exactly one of the controllers that share a database
//! (see `store::Leadership`). A runner starts its role's task when this
//! controller becomes the leader and stops it when it stops being one.
//!
//! A task is started afresh for each term as a future given a stop signal.
//! When leadership is lost the runner signals stop and gives the task
//! [`GRACE`] to finish (alerts send what they already batched), then drops
//! it where it stands: the new leader starts once the old one's time to
//! notice and this grace have passed (`store::pg::lead`). When the
//! controller shuts down, the task gets its stop signal and all the time it
//! needs.
//!
//! # What each role reads when it takes over
//!
//! - Engine: due times and today's zone usage live in the store and are
//!   read again at each term's start (`Engine::resume`), and every usage
//!   write returns the fleet's total for the day, which the zone's bucket
//!   adopts: budgets are the fleet's, not one controller's, and queries
//!   are charged before they are sent, so a leader killed mid-pass has
//!   already spent them. Zone health is in memory: the new leader probes
//!   each zone once (2 queries). Forced rechecks (`Engine::recheck`, called
//!   by the ingest of whichever controller got the bounce) are stored on
//!   PostgreSQL and claimed by the leader at each pass (`engine::forced`),
//!   so they reach it wherever it runs; a claimed one is deleted only once
//!   its check is stored, and the next leader claims again what the old
//!   one held when it died.
//! - Alerts: where this controller has an engine, alerts ride the engine's
//!   term instead of an election of their own (`Roles::run_with`): zone
//!   health lives in the engine's memory, so alerts elsewhere would never
//!   see a zone go out of service. What was alerted is not recorded; each
//!   term's baseline is the state when it starts, so nothing the old
//!   leader could have sent is sent again, and a change between the old
//!   leader's last sweep and the takeover is not alerted (a missed alert
//!   rather than a duplicate).
//! - Retention: nothing; each run computes its cutoffs from the clock.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::store::{Leadership, Role};

/// How long a task that lost its leadership may take to stop by itself.
pub const GRACE: Duration = Duration::from_secs(1);

/// Pause before a task that ended by itself while its controller still
/// leads is started again (it should run until stopped).
const RESTART_PAUSE: Duration = Duration::from_secs(10);

/// This controller's roles and whether each one's task runs here now (for
/// `/metrics`). Cheap to clone; clones share the states.
#[derive(Debug, Clone, Default)]
pub struct Roles {
    running: Arc<Mutex<Vec<Running>>>,
}

/// A role and whether its task runs here now.
type Running = (Role, Arc<AtomicBool>);

impl Roles {
    /// Runs `start`'s task for each term of `leadership` until `stop` turns
    /// true; then gives the role up.
    pub fn run<F, Fut>(&self, leadership: Leadership, stop: watch::Receiver<bool>, start: F) -> JoinHandle<()>
    where
        F: FnMut(watch::Receiver<bool>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.run_with(leadership, &[], stop, start)
    }

    /// Like [`Roles::run`], for a task that also does the work of the roles
    /// in `riders`: they run exactly when `leadership`'s role does, and
    /// `/metrics` shows them led where it is.
    pub fn run_with<F, Fut>(
        &self,
        leadership: Leadership,
        riders: &[Role],
        stop: watch::Receiver<bool>,
        start: F,
    ) -> JoinHandle<()>
    where
        F: FnMut(watch::Receiver<bool>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let running = Arc::new(AtomicBool::new(false));
        let mut roles = self.running.lock().unwrap_or_else(|p| p.into_inner());
        roles.push((leadership.role(), running.clone()));
        roles.extend(riders.iter().map(|rider| (*rider, running.clone())));
        drop(roles);
        tokio::spawn(drive(leadership, running, stop, start))
    }

    /// Records that `role`'s work runs here for good, without an election:
    /// the only controller on its store (`controllers = "single"`, or sled)
    /// runs it from start to shutdown, and `/metrics` says so.
    pub fn runs_alone(&self, role: Role) {
        self.running.lock().unwrap_or_else(|p| p.into_inner()).push((role, Arc::new(AtomicBool::new(true))));
    }

    /// Each role this controller runs a runner for, and whether its task
    /// runs here now, by role.
    pub fn states(&self) -> Vec<(Role, bool)> {
        let mut states: Vec<(Role, bool)> = self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(role, running)| (*role, running.load(Ordering::Acquire)))
            .collect();
        states.sort();
        states
    }
}

/// How a term ended.
enum Term {
    Shutdown,
    Lost,
    Ended,
}

async fn drive<F, Fut>(leadership: Leadership, running: Arc<AtomicBool>, mut stop: watch::Receiver<bool>, mut start: F)
where
    F: FnMut(watch::Receiver<bool>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let role = leadership.role().name();
    let mut leader = leadership.watch();
    loop {
        let elected = tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => break,
            elected = leader.wait_for(|l| *l) => elected.is_ok(),
        };
        if !elected {
            tracing::error!(role, "the leadership election ended; this controller will not run {role}");
            let _ = stop.wait_for(|s| *s).await;
            break;
        }
        tracing::info!(role, "this controller leads {role}: starting it");
        let (term_stop, term_stopped) = watch::channel(false);
        running.store(true, Ordering::Release);
        let mut task = tokio::spawn(start(term_stopped));
        let term = tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => Term::Shutdown,
            _ = leader.wait_for(|l| !*l) => Term::Lost,
            result = &mut task => {
                match result {
                    Ok(()) => tracing::error!(role, "the {role} task ended while leading; starting it again soon"),
                    Err(error) => tracing::error!(role, %error, "the {role} task failed; starting it again soon"),
                }
                Term::Ended
            }
        };
        let _ = term_stop.send(true);
        match term {
            Term::Shutdown => {
                if let Err(error) = task.await {
                    tracing::error!(role, %error, "the {role} task failed while stopping");
                }
            }
            Term::Lost => {
                tracing::warn!(role, "this controller no longer leads {role}: stopping it");
                if tokio::time::timeout(GRACE, &mut task).await.is_err() {
                    task.abort();
                    let _ = task.await;
                }
            }
            Term::Ended => {}
        }
        running.store(false, Ordering::Release);
        match term {
            Term::Shutdown => break,
            Term::Lost => {}
            Term::Ended => {
                tokio::select! {
                    _ = stop.wait_for(|s| *s) => break,
                    () = tokio::time::sleep(RESTART_PAUSE) => {}
                }
            }
        }
    }
    // Closing the election joins its thread: not on a runtime worker.
    if let Err(error) = tokio::task::spawn_blocking(move || drop(leadership)).await {
        tracing::error!(role, %error, "giving up the leadership of {role} failed");
    }
}

#[cfg(test)]
mod tests;
