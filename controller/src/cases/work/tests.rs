//! The start-up repair of misread receiver-side listings, run by two
//! controllers on one database (a real throwaway cluster) at once.

#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Barrier};

use super::*;
use crate::cases::receivers::{Change, ReceiverPolicy, Refusals};
use crate::store::{StoreOptions, TestDb};

const H: i64 = 3_600_000;

#[test]
fn two_controllers_healing_together_withdraw_a_misread_listing_once() {
    let test = "cases::work::tests::two_controllers_healing_together_withdraw_a_misread_listing_once";
    let Some(db) = TestDb::create_or_skip(test) else { return };
    let open = || Store::open_postgres(&db.options(), &StoreOptions::default()).unwrap();
    let catalog = Arc::new(Catalog::embedded().unwrap());
    let seed = open();
    // An older classifier opened a T-Online listing on user-unknown replies.
    let sample = "550 5.1.1 <x@t-online.de>: Recipient address rejected: User unknown";
    let r = Refusals { count: 9, first_ms: H, at_ms: H, code: "", sample };
    let (state, change) = receivers::refused(None, "192.0.2.5", "t-online", r, &ReceiverPolicy::default());
    assert_eq!(change, Change::Opened);
    seed.put_receiver_state(&state).unwrap();
    listing_opened(&seed, &ListInfo::of(&catalog, "t-online"), "192.0.2.5", H, H).unwrap();

    // Two controllers start together and both repair.
    let start = Arc::new(Barrier::new(2));
    let runs: Vec<_> = (0..2)
        .map(|_| {
            let (store, catalog, start) = (open(), catalog.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                heal_receiver_listings(&store, &catalog, 2 * H).unwrap()
            })
        })
        .collect();
    let healed: Vec<Healed> = runs.into_iter().map(|run| run.join().unwrap()).collect();
    assert_eq!(healed.iter().map(|h| h.withdrawn).sum::<u64>(), 1, "withdrawn twice: {healed:?}");

    let case = seed.case_for("192.0.2.5", "t-online").unwrap().unwrap();
    let notes: Vec<_> = case.history.iter().filter(|e| e.action == cases::WITHDRAWN).collect();
    assert_eq!(notes.len(), 1, "one withdrawal note, got {:?}", case.history);
    assert_eq!(case.state(), rblfleet_proto::v1::CaseState::Resolved);
    assert_eq!(seed.receiver_state("192.0.2.5", "t-online").unwrap().unwrap().listed_since_ms, 0);
}

#[test]
fn a_turn_keeps_the_other_controllers_out_until_it_ends() {
    let test = "cases::work::tests::a_turn_keeps_the_other_controllers_out_until_it_ends";
    let Some(db) = TestDb::create_or_skip(test) else { return };
    let open = || Store::open_postgres(&db.options(), &StoreOptions::default()).unwrap();
    let (a, b) = (open(), open());
    let wait = std::time::Duration::from_millis(300);
    let turn = a.take_turn(Task::HealReceiverListings).unwrap();
    let refused = b.take_turn_within(Task::HealReceiverListings, wait).unwrap_err();
    assert!(refused.to_string().contains("another controller has been doing"), "{refused}");
    drop(turn);
    let turn = b.take_turn_within(Task::HealReceiverListings, wait).unwrap();
    // A turn dies with its controller's session.
    drop(turn);
    drop(b);
    let c = open();
    let held = c.take_turn(Task::HealReceiverListings).unwrap();
    drop(held);
    a.take_turn_within(Task::HealReceiverListings, wait).unwrap();
    // On sled the process owns its store: always its turn.
    let tmp = tempfile::tempdir().unwrap();
    let sled = Store::open(tmp.path(), &StoreOptions::default()).unwrap();
    let (_one, _two) =
        (sled.take_turn(Task::HealReceiverListings).unwrap(), sled.take_turn(Task::HealReceiverListings).unwrap());
}
