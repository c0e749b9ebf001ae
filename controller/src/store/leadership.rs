//! Who runs each piece of singleton work (the blocklist engine, alerts,
//! retention) when several controllers share one database.
//!
//! Every controller asks the store for a [`Leadership`] per [`Role`] and
//! does the role's work only while it holds it. On sled a store belongs to
//! one process, so that process always leads. On PostgreSQL the database
//! itself chooses: one session-level advisory lock per role, held on a
//! connection of its own (`pg::lead`).

use tokio::sync::watch;

use super::StoreError;

/// A piece of work exactly one controller does at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Blocklist checks: several engines would each spend the zones'
    /// budgets and open the same cases twice.
    Engine,
    /// Alert detection and delivery: several would send every alert twice.
    Alerts,
    /// Pruning old evidence: several would race to drop the same partitions.
    Retention,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Engine, Role::Alerts, Role::Retention];

    /// The name in logs and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Role::Engine => "engine",
            Role::Alerts => "alerts",
            Role::Retention => "retention",
        }
    }

    /// The role's key in the database's lock space. Fixed: controllers of
    /// different versions on one database must agree on it.
    pub(super) fn key(self) -> i32 {
        match self {
            Role::Engine => 1,
            Role::Alerts => 2,
            Role::Retention => 3,
        }
    }
}

/// This controller's standing in one role. Dropping it gives the role up
/// (on PostgreSQL: closes the lock's connection, so another controller can
/// take over at once).
#[derive(Debug)]
pub struct Leadership {
    role: Role,
    state: watch::Receiver<bool>,
    /// Keeps the state channel open (sled) or runs the election (PostgreSQL).
    _holder: Holder,
}

#[derive(Debug)]
enum Holder {
    Always(#[allow(dead_code)] watch::Sender<bool>),
    Postgres(#[allow(dead_code)] super::pg::lead::Campaign),
}

impl Leadership {
    /// A process that owns its store (sled, or a database it does not
    /// share): it leads from the start, for good.
    pub fn sole(role: Role) -> Leadership {
        let (tx, state) = watch::channel(true);
        Leadership { role, state, _holder: Holder::Always(tx) }
    }

    pub(super) fn elected(role: Role, state: watch::Receiver<bool>, campaign: super::pg::lead::Campaign) -> Leadership {
        Leadership { role, state, _holder: Holder::Postgres(campaign) }
    }

    pub fn role(&self) -> Role {
        self.role
    }

    /// Whether this controller may do the role's work now.
    pub fn is_leader(&self) -> bool {
        *self.state.borrow()
    }

    /// Changes of [`Leadership::is_leader`]. A closed channel means the
    /// election ended: treat it as not leading.
    pub fn watch(&self) -> watch::Receiver<bool> {
        self.state.clone()
    }

    /// The database session (`pg_stat_activity.pid`) holding or trying for
    /// the role's lock; None on sled or while not connected.
    pub fn backend_pid(&self) -> Option<i32> {
        match &self._holder {
            Holder::Always(_) => None,
            Holder::Postgres(campaign) => campaign.backend_pid(),
        }
    }
}

/// Start-up work every controller does, one controller at a time: a second
/// run finds nothing left to do, but two at once would both do it (`pg::turn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    /// Withdrawing receiver-side listings the current bounce classifier
    /// does not read as listings (`cases::work::heal_receiver_listings`).
    HealReceiverListings,
}

impl Task {
    /// The task's key beside the roles' in the database's lock space.
    /// Fixed, like [`Role::key`].
    fn key(self) -> i32 {
        match self {
            Task::HealReceiverListings => 101,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Task::HealReceiverListings => "receiver-listing-repair",
        }
    }
}

/// How long a controller waits for another one's turn at a [`Task`].
pub const TURN_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// This controller's turn at a [`Task`]; dropping it ends the turn.
#[derive(Debug)]
pub struct Turn {
    _held: Option<super::pg::turn::Turn>,
}

impl super::Store {
    /// Waits (up to [`TURN_WAIT`]) until no other controller on this
    /// database does `task`, and keeps the others waiting until the
    /// returned [`Turn`] is dropped. On sled the process owns its store:
    /// always its turn.
    pub fn take_turn(&self, task: Task) -> Result<Turn, StoreError> {
        self.take_turn_within(task, TURN_WAIT)
    }

    /// [`Store::take_turn`], waiting at most `wait` (tests wait less).
    pub(crate) fn take_turn_within(&self, task: Task, wait: std::time::Duration) -> Result<Turn, StoreError> {
        match &self.backend {
            super::Backend::Sled(_) => Ok(Turn { _held: None }),
            super::Backend::Postgres(p) => {
                p.take_turn(task.key(), task.name(), wait).map(|held| Turn { _held: Some(held) })
            }
        }
    }
}
