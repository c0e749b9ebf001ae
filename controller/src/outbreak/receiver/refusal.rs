//! A surge of mail nobody sends, refused by its receiver on two counts at
//! once: a fast forward of spam to Gmail.
//!
//! A forward of spam from hundreds of forged senders can get its IP listed
//! within the hour when it hits spam traps often (replay seed 45: 412 an
//! hour to Gmail, a trap hit every 528 messages, listed at 47 minutes).
//! In its first 40 minutes Gmail got 19 times its usual mail from the host
//! and deferred 9% of it (usual 1.4%): under the 12% floor of
//! [`super::deferrals`], which is there because a newsletter's 8% reaches
//! 10% by chance, and far from the three hours [`super::sustained`] waits.
//!
//! What a postmaster looks at next is whether the receiver also *bounces*
//! that mail. Mail a person forwards, or a mailing list relays, goes to
//! addresses that exist: it is deferred when it comes in a burst (pacing),
//! but it is not refused outright. A receiver hard-bouncing 5% or more of a
//! surge, at three times the host's usual bounce ratio, while deferring
//! several times its usual share, judges the content: it is refusing spam.
//! Each count on its own is what pacing or an old address does; both at
//! once, on mail no source of the host carries, is what a NOC would call a
//! relay of spam and stop.
//!
//! A surge that one source carries (a campaign, a reset storm, a PHP
//! mailer, backscatter from `MAILER-DAEMON`) is left to that source's own
//! signals, which see its bounces and deferrals directly.

use super::super::signal::{Fired, Signal, WARN_SCORE};
use super::{ReceiverState, SURGE};

/// Bounces from the receiver in 30 min for the bounce count to say anything.
pub const MIN_BOUNCED: u32 = 10;
/// The receiver's bounce ratio of the surge: a forward goes to addresses
/// that exist, a kept list bounces 1-6% but has its own source.
pub const BOUNCE: f32 = 0.05;
/// ...and in times the host's usual bounce ratio...
pub const BOUNCE_TIMES: f32 = 3.0;
/// ...and in points above it.
pub const BOUNCE_POINTS: f32 = 0.03;
/// Deferrals from the receiver in 30 min.
pub const MIN_DEFERRED: u32 = 10;
/// The receiver's deferral ratio, in times its usual (as at a surge in
/// [`super::deferrals`])...
pub const DEFERRAL_TIMES: f32 = 3.5;
/// ...and in points above it: clearly above pacing, without the 12% floor
/// (the bounces stand in for it).
pub const DEFERRAL_POINTS: f32 = 0.05;
/// The busiest source's share of the receiver's attempts under which
/// nobody carries the surge.
pub const CARRIER: f32 = 0.5;

/// The receiver `r` refuses a surge nobody carries on two counts (see the
/// module doc). `usual_bounce` is the host's usual bounce ratio; `top`
/// gives the most messages a single source of the host sent in the last 30
/// minutes, asked for only when the receiver's counts hold (it walks the
/// sources). Strength [`WARN_SCORE`]: it warns on its own, at once.
pub(crate) fn refused(r: &ReceiverState, usual_bounce: f32, top: impl FnOnce() -> u32) -> Option<Fired> {
    let w = r.recent();
    let per_hour = w.attempts as f32 * 2.0;
    let usual_per_hour = r.messages.level;
    let surge = per_hour >= SURGE * usual_per_hour.max(5.0);
    let (deferral, usual_deferral) = (w.deferral_ratio(), r.deferral.level);
    let deferred = w.deferred >= MIN_DEFERRED
        && deferral >= DEFERRAL_TIMES * usual_deferral
        && deferral >= usual_deferral + DEFERRAL_POINTS;
    let bounce = w.bounce_ratio();
    let bounced = w.bounced >= MIN_BOUNCED
        && bounce >= BOUNCE
        && bounce >= BOUNCE_TIMES * usual_bounce
        && bounce >= usual_bounce + BOUNCE_POINTS;
    let nobody = || (top() as f32) < CARRIER * w.attempts as f32;
    (surge && deferred && bounced && nobody()).then(|| Fired {
        signal: Signal::Refused {
            provider: r.provider.clone(),
            per_hour,
            usual_per_hour,
            deferral,
            usual_deferral,
            bounce,
            usual_bounce,
        },
        strength: WARN_SCORE,
    })
}
