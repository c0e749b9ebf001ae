//! A lock held by a thread of its own, on a connection of its own (the
//! serving lock, start-up turns): the thread lives exactly as long as the
//! lock, so the lock cannot outlive its holder by being forgotten in a pool.
//! Such threads (and the store's own) run a runtime of their own.

use std::sync::mpsc::SyncSender;

use tokio::sync::oneshot;

use crate::store::StoreError;

/// The holding thread and how to tell it to let go. Dropping this tells
/// it and waits for it to end (its connection closed, the lock released).
#[derive(Debug)]
pub(super) struct LockThread {
    release: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    what: &'static str,
}

impl LockThread {
    /// `what` names the lock in the log if its thread panicked.
    pub(super) fn new(
        release: oneshot::Sender<()>,
        thread: std::thread::JoinHandle<()>,
        what: &'static str,
    ) -> LockThread {
        LockThread { release: Some(release), thread: Some(thread), what }
    }
}

impl Drop for LockThread {
    fn drop(&mut self) {
        if let Some(release) = self.release.take() {
            let _ = release.send(());
        }
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the {} thread panicked", self.what);
        }
    }
}

/// A current-thread runtime for a thread that owns connections, or `None`
/// after telling `answer` why there is none (the caller is waiting on it).
pub(super) fn thread_runtime(answer: &SyncSender<Result<(), StoreError>>) -> Option<tokio::runtime::Runtime> {
    match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => Some(runtime),
        Err(e) => {
            let _ = answer.send(Err(StoreError::Postgres(format!("cannot start a runtime: {e}"))));
            None
        }
    }
}
