//! Start-up work that every controller does but that must not run on two
//! of them at once (the repair of misread receiver-side listings): a
//! session-level advisory lock `(LEAD_LOCK, task key)`, taken with a wait,
//! on a connection of its own, and held until the work is done.
//!
//! The work is written so that a second run finds nothing to do; run one
//! after the other, the second controller reads what the first wrote. Run
//! at the same time, both would read the same open listings and both would
//! write a case note. Waiting for the lock turns the second case into the
//! first.
//!
//! A controller that dies while it holds the lock frees it with its
//! session. One that waits longer than the caller's bound gets an error
//! and goes on without the work (the caller logs it; the next start tries
//! again).

use std::time::Duration;

use tokio::sync::oneshot;
use tokio_postgres::NoTls;

use super::held::{LockThread, thread_runtime};
use super::lead::LEAD_LOCK;
use super::{Pg, db};
use crate::store::StoreError;

/// A held turn; dropping it releases the lock and closes its connection.
#[derive(Debug)]
pub(crate) struct Turn {
    _holder: LockThread,
}

impl Pg {
    /// Waits up to `wait` for the lock `(LEAD_LOCK, key)` and holds it
    /// until the returned [`Turn`] is dropped.
    pub(crate) fn take_turn(&self, key: i32, what: &'static str, wait: Duration) -> Result<Turn, StoreError> {
        let mut config = self.config.clone();
        config.application_name(format!("rblfleet-{what}"));
        let (taken, outcome) = std::sync::mpsc::sync_channel(1);
        let (release, released) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name(format!("rblfleet-{what}"))
            .spawn(move || hold(config, key, what, wait, taken, released))
            .map_err(|e| StoreError::Postgres(format!("cannot start the {what} lock thread: {e}")))?;
        let turn = Turn { _holder: LockThread::new(release, thread, "start-up turn lock") };
        let answer =
            || outcome.recv().unwrap_or_else(|_| Err(StoreError::Postgres(format!("the {what} lock thread stopped"))));
        // As `Pg::call`: on a multi-thread runtime's worker, let its other
        // tasks move while this one waits for another controller's turn.
        let answer = match tokio::runtime::Handle::try_current() {
            Ok(runtime) if runtime.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(answer)
            }
            _ => answer(),
        };
        // On an error the thread has ended; dropping `turn` joins it.
        answer.map(|()| turn)
    }
}

fn hold(
    config: tokio_postgres::Config,
    key: i32,
    what: &'static str,
    wait: Duration,
    taken: std::sync::mpsc::SyncSender<Result<(), StoreError>>,
    released: oneshot::Receiver<()>,
) {
    let Some(runtime) = thread_runtime(&taken) else { return };
    runtime.block_on(async move {
        let (client, connection) = match config.connect(NoTls).await {
            Ok(pair) => pair,
            Err(e) => {
                let _ = taken.send(Err(StoreError::Postgres(format!("cannot connect for the {what} lock: {e}"))));
                return;
            }
        };
        let connection = tokio::spawn(connection);
        // lock_timeout bounds the wait for an advisory lock like any other.
        let lock = async {
            client
                .batch_execute(&format!("SET lock_timeout = {}", wait.as_millis().max(1)))
                .await
                .map_err(db("bounding the lock wait"))?;
            client.execute("SELECT pg_advisory_lock($1, $2)", &[&LEAD_LOCK, &key]).await.map_err(|e| {
                if e.code() == Some(&tokio_postgres::error::SqlState::LOCK_NOT_AVAILABLE) {
                    StoreError::Postgres(format!(
                        "another controller has been doing the {what} for more than {} s",
                        wait.as_secs()
                    ))
                } else {
                    db("taking the lock")(e)
                }
            })
        };
        let locked = lock.await;
        let ok = locked.is_ok();
        let _ = taken.send(locked.map(|_| ()));
        if ok {
            let _ = released.await;
            // Freed now rather than when the server sees the connection close.
            let _ =
                tokio::time::timeout(Duration::from_secs(5), client.batch_execute("SELECT pg_advisory_unlock_all()"))
                    .await;
        }
        drop(client);
        let _ = connection.await;
    });
}
