use super::*;

const H: i64 = 3_600_000;

#[test]
fn refusals_open_and_sustained_acceptance_closes() {
    let p = ReceiverPolicy::default();
    let r = |count, first_ms, at_ms| Refusals { count, first_ms, at_ms, code: "S3140", sample: "550 5.7.1" };
    let (s, c) = refused(None, "203.0.113.5", "microsoft", r(3, H, H + 60_000), &p);
    assert_eq!(c, Change::None);
    let (s, c) = refused(Some(s), "203.0.113.5", "microsoft", r(2, H + 120_000, H + 180_000), &p);
    assert_eq!((c, s.listed_since_ms), (Change::Opened, H));
    // Accepted mail, but not for long enough yet.
    let (s, c) = accepted(s, 30, 2 * H, &p);
    assert_eq!(c, Change::None);
    let (s, c) = accepted(s, 30, 9 * H, &p);
    assert_eq!(c, Change::Closed);
    assert_eq!(s.listed_since_ms, 0);
}

#[test]
fn refusals_spread_over_hours_do_not_open_and_a_refusal_resets_acceptance() {
    let p = ReceiverPolicy::default();
    let r = |count, at_ms| Refusals { count, first_ms: at_ms, at_ms, code: "", sample: "" };
    let mut s = None;
    for hour in 0..6 {
        let (st, c) = refused(s, "ip", "google", r(1, hour * H), &p);
        assert_eq!(c, Change::None);
        s = Some(st);
    }
    let (st, _) = refused(s, "ip", "google", r(5, 7 * H), &p);
    let (st, _) = accepted(st, 100, 8 * H, &p);
    let (st, _) = refused(Some(st), "ip", "google", r(1, 9 * H), &p);
    assert_eq!(st.accepted, 0);
    let (_, c) = quiet(st.clone(), 10, 20 * H, &p);
    assert_eq!(c, Change::None, "quiet for 11 h only");
    let (_, c) = quiet(st, 10, 34 * H, &p);
    assert_eq!(c, Change::Closed);
}

#[test]
fn an_open_listing_is_misread_when_its_sample_is_no_listing() {
    let p = ReceiverPolicy::default();
    let sample = "550 5.1.1 <x@t-online.de>: Recipient address rejected: User unknown";
    let r = Refusals { count: 9, first_ms: H, at_ms: H, code: "", sample };
    let (open, c) = refused(None, "192.0.2.5", "t-online", r, &p);
    assert_eq!(c, Change::Opened);
    let family = |text: &str| rblfleet_bounce::classify(text).family;
    assert_eq!(misread(&open, family), Some(Family::Recipient));
    let closed = withdraw(open.clone());
    assert_eq!((closed.listed_since_ms, closed.refusals_in_window, closed.sample.as_str()), (0, 0, sample));
    assert_eq!(misread(&closed, family), None, "a closed listing is left alone");
    // A listing without a sample, and one whose sample still reads as a listing, stay.
    let blank = ReceiverState { sample: String::new(), ..open.clone() };
    assert_eq!(misread(&blank, |_| Family::Other), None);
    assert_eq!(misread(&open, |_| Family::Ip), None);
    // "other" on a sample cut short decides nothing; a recipient refusal does.
    let cut = ReceiverState { sample: format!("{}\u{2026}", "x".repeat(300)), ..open.clone() };
    assert_eq!(misread(&cut, |_| Family::Other), None);
    assert_eq!(misread(&cut, |_| Family::Recipient), Some(Family::Recipient));
}
