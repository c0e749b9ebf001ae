use super::*;

#[test]
fn skipped_lookups_are_not_counted() {
    let mut c = LookupCounters::default();
    for status in [Status::Listed, Status::Clean, Status::Clean, Status::Error, Status::Skipped] {
        c.lookup(status);
    }
    c.probe(true);
    c.probe(false);
    for (was, is) in [(false, true), (true, true), (false, true), (true, false), (false, false)] {
        c.listing(was, is);
    }
    assert_eq!(c, LookupCounters { listed: 1, clean: 2, error: 1, probes_ok: 1, probes_failed: 1, listed_ips: 1 });
}
