//! Event strings recycled on the thread that parses, for whole-log scans.
//!
//! Every event owns its texts (queue id, addresses, relay, reply), so a
//! parsed line costs a few allocations, and a scan frees them a batch of
//! thousands at a time: glibc's per-thread cache holds seven blocks per
//! size, so nearly every one of those frees and the next allocations went
//! through the arena's slow path (malloc and free were 15 % of an outbreak
//! log's scan). A scan hands processed batches to [`recycle`] instead of
//! dropping them, and the parsers take their strings from [`text`]: the
//! buffers go round, cleared, and the allocator is left out.
//!
//! Nothing else recycles (the running agent parses a few lines at a time),
//! so there the pool stays empty and [`text`] is `to_string`. What a pool
//! keeps is bounded: [`MAX_KEPT`] strings of each size, none larger than
//! 1 KiB.

use std::cell::RefCell;

use super::Event;

/// Buffers come in powers of two from this size...
const MIN_CLASS: u32 = 5;
/// ...to this one (1 KiB: replies are longer than queue ids and
/// addresses but rarely longer than this); longer texts get buffers of
/// their own, freed after use.
const MAX_CLASS: u32 = 10;
const CLASSES: usize = (MAX_CLASS - MIN_CLASS + 1) as usize;
/// Buffers kept per size: about eight batches' worth, what a scan has in
/// flight at once.
const MAX_KEPT: usize = 32 * 1024;

/// Cleared buffers by size class: class `i` holds buffers of at least
/// `2^(MIN_CLASS + i)` bytes, so any of them takes any text of that size
/// without growing.
#[derive(Default)]
struct Pool {
    classes: [Vec<String>; CLASSES],
}

thread_local! {
    static POOL: RefCell<Pool> = RefCell::new(Pool::default());
}

/// The class whose buffers fit `len` bytes, and its buffer size.
fn class_for(len: usize) -> Option<(usize, usize)> {
    let bits = usize::BITS - len.saturating_sub(1).leading_zeros();
    let bits = bits.max(MIN_CLASS);
    (bits <= MAX_CLASS).then(|| ((bits - MIN_CLASS) as usize, 1 << bits))
}

/// `s` as an owned string, in a recycled buffer when this thread has one.
pub fn text(s: &str) -> String {
    let Some((class, size)) = class_for(s.len()) else { return s.to_string() };
    let reused = POOL.with(|pool| pool.borrow_mut().classes[class].pop());
    let mut buffer = reused.unwrap_or_else(|| String::with_capacity(size));
    buffer.clear();
    buffer.push_str(s);
    buffer
}

/// Empties `events`, keeping their strings' buffers for [`text`] on this thread.
pub fn recycle(events: &mut Vec<Event>) {
    POOL.with(|pool| {
        let mut pool = pool.borrow_mut();
        // In place: moving each event out first was a copy of it.
        for event in events.iter_mut() {
            event.for_each_string(|s| pool.keep(std::mem::take(s)));
        }
    });
    events.clear();
}

impl Pool {
    /// Keeps `s` in the largest class its capacity fills.
    #[inline]
    fn keep(&mut self, s: String) {
        let bits = usize::BITS - 1 - s.capacity().max(1).leading_zeros();
        if !(MIN_CLASS..=MAX_CLASS).contains(&bits) {
            return;
        }
        let list = &mut self.classes[(bits - MIN_CLASS) as usize];
        if list.len() < MAX_KEPT {
            list.push(s);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn delivery(reply: &str) -> Event {
        Event::Delivery {
            ts_ms: None,
            queue_id: text("4A00000011"),
            to: text("user@example.org"),
            relay: text("mx.example.org[192.0.2.1]:25"),
            dsn: Some(text("5.7.1")),
            status: crate::parse::DeliveryStatus::Bounced,
            reply: text(reply),
        }
    }

    #[test]
    fn recycled_buffers_come_back_with_the_new_text_only() {
        // A thread of its own: the pool is per thread.
        std::thread::spawn(|| {
            let long = "host mx.example.org[192.0.2.1] said: 554 5.7.1 Service unavailable; Client host blocked";
            let mut events = vec![delivery(long), delivery("250 ok")];
            let before: Vec<*const u8> = events
                .iter_mut()
                .flat_map(|e| {
                    let mut ptrs = Vec::new();
                    e.for_each_string(|s| ptrs.push(s.as_ptr()));
                    ptrs
                })
                .collect();
            recycle(&mut events);
            assert!(events.is_empty());
            let again = delivery("x");
            let Event::Delivery { queue_id, to, reply, .. } = &again else { unreachable!() };
            assert_eq!((queue_id.as_str(), to.as_str(), reply.as_str()), ("4A00000011", "user@example.org", "x"));
            // The new strings live in buffers the first events had.
            assert!(before.contains(&queue_id.as_ptr()) && before.contains(&reply.as_ptr()));
            // A long text takes a large buffer: the first reply's.
            let long_again = text(long);
            assert_eq!(long_again, long);
            assert!(long_again.capacity() >= long.len());
        })
        .join()
        .unwrap();
    }

    #[test]
    fn every_class_fits_its_texts() {
        assert_eq!(class_for(0), Some((0, 32)));
        assert_eq!(class_for(32), Some((0, 32)));
        assert_eq!(class_for(33), Some((1, 64)));
        assert_eq!(class_for(1024), Some((5, 1024)));
        assert_eq!(class_for(1025), None);
        for len in 0..=1024 {
            let (class, size) = class_for(len).unwrap();
            assert!(size >= len && class < CLASSES);
            let mut pool = Pool::default();
            pool.keep(String::with_capacity(size));
            assert_eq!(pool.classes[class].len(), 1, "{len}");
        }
    }

    #[test]
    fn the_pool_keeps_no_huge_or_empty_buffers() {
        std::thread::spawn(|| {
            let huge = "x".repeat(4096);
            let mut events = vec![
                Event::Removed { ts_ms: None, queue_id: huge },
                Event::Removed { ts_ms: None, queue_id: String::new() },
            ];
            recycle(&mut events);
            POOL.with(|pool| {
                let pool = pool.borrow();
                assert!(pool.classes.iter().all(Vec::is_empty));
            });
        })
        .join()
        .unwrap();
    }
}
