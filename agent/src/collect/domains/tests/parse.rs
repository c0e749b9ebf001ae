//! Every source's parser on fixture text: IDN, junk lines, duplicates,
//! bounds; and the list's merge rules.

use super::super::list::{DomainList, MAX_SKIP_SAMPLES, MAX_SUBSCRIPTION_BYTES, Parsed};
use super::super::vhosts::{VhostDir, parse_dirs};
use super::super::{mailenable, plesk, postfix, qmail};
use crate::config::DomainSource;

/// (ascii, unicode, subscription, mail) of every name, in order.
fn rows(parsed: &Parsed) -> Vec<(String, String, String, bool)> {
    parsed
        .list
        .domains()
        .iter()
        .map(|d| (d.name.ascii.clone(), d.name.unicode.clone(), d.subscription.clone(), d.mail))
        .collect()
}

fn row(ascii: &str, unicode: &str, subscription: &str, mail: bool) -> (String, String, String, bool) {
    (ascii.into(), unicode.into(), subscription.into(), mail)
}

#[test]
fn plesk_rows_give_owner_and_mail_and_skip_junk() {
    let mut p = Parsed::new(DomainSource::Plesk, 100);
    for line in [
        "shop.example\tshopuser\t1",
        "xn--bcher-kva.example\tbooks\t0",
        "Bücher.example\tbooks\t1", // the same domain in Unicode: folded, mail on
        "sub.shop.example\tshopuser\t1\r",
        "nohosting.example\t\t0",
        "mysql: [Warning] something",
        "three\tfields\tyes",
        "",
        "localhost\troot\t1",
    ] {
        plesk::parse_db_row(line, &mut p);
    }
    assert_eq!(
        rows(&p),
        [
            row("shop.example", "shop.example", "shopuser", true),
            row("xn--bcher-kva.example", "bücher.example", "books", true),
            row("sub.shop.example", "sub.shop.example", "shopuser", true),
            row("nohosting.example", "nohosting.example", "", false),
        ]
    );
    assert_eq!(p.skipped, 3, "{:?}", p.samples);
    assert!(p.samples[0].why.contains("not a row"), "{:?}", p.samples[0]);
    assert!(p.samples[2].why.contains("single label"), "{:?}", p.samples[2]);
}

#[test]
fn a_subscription_is_cleaned_to_what_the_controller_accepts() {
    let mut p = Parsed::new(DomainSource::Plesk, 10);
    plesk::parse_db_row("a.example\t us\u{1b}er \t1", &mut p);
    plesk::parse_db_row(&format!("b.example\t{}\t1", "é".repeat(100)), &mut p);
    let d = p.list.domains();
    assert_eq!(d[0].subscription, "user");
    assert_eq!(d[1].subscription, "é".repeat(MAX_SUBSCRIPTION_BYTES / 2));
}

#[test]
fn plesk_lists_are_names_only() {
    let mut p = Parsed::new(DomainSource::Plesk, 100);
    for line in ["a.example", "  b.example  ", "", "a.example", "not a domain"] {
        plesk::parse_list_line(line, &mut p);
    }
    assert_eq!(rows(&p), [row("a.example", "a.example", "", false), row("b.example", "b.example", "", false)]);
    assert_eq!(p.skipped, 1);
    assert!(plesk::query(10).ends_with("LIMIT 11"));
}

#[test]
fn postfix_map_keys_have_mail() {
    let text = "# Plesk\nexample.com\tVIRTUAL\nÉcole.example VIRTUAL\n  continued value\nexample.com VIRTUAL\n\
                bad_domain..x VIRTUAL\n\n";
    let mut p = Parsed::new(DomainSource::Postfix, 100);
    postfix::parse_map(text, &mut p);
    assert_eq!(
        rows(&p),
        [row("example.com", "example.com", "", true), row("xn--cole-9oa.example", "école.example", "", true)]
    );
    assert_eq!(p.skipped, 1);
}

#[test]
fn qmail_virtualdomains_and_rcpthosts() {
    let mut p = Parsed::new(DomainSource::Qmail, 100);
    qmail::parse_virtualdomains(
        "example.com:example.com\nalias@other.example:other.example-alias\n.wild.example:wild\nno-colon-here\n\
         # comment\n\n",
        &mut p,
    );
    qmail::parse_rcpthosts("localhost\nexample.com\nthird.example\n.wild.example\n", &mut p);
    assert_eq!(
        rows(&p),
        [
            row("example.com", "example.com", "", true),
            row("other.example", "other.example", "", true),
            row("third.example", "third.example", "", true),
        ]
    );
    // The wildcard twice, the line without ':', localhost.
    assert_eq!(p.skipped, 4, "{:?}", p.samples);
    assert!(p.samples.iter().any(|s| s.why.contains("every subdomain")));
}

#[test]
fn mailenable_domain_table() {
    let text = "\u{feff}example.com\texample\t1\t\t0\r\nshop.example\tshop\t0\r\n; comment\r\n\r\nnot a domain\tx\r\nmünchen.example\tmu\t1\r\n";
    let mut p = Parsed::new(DomainSource::Mailenable, 100);
    mailenable::parse_domain_tab(text, &mut p);
    assert_eq!(
        rows(&p),
        [
            row("example.com", "example.com", "", true),
            row("shop.example", "shop.example", "", true),
            row("xn--mnchen-3ya.example", "münchen.example", "", true),
        ]
    );
    assert_eq!(p.skipped, 1, "the line that names no domain");
}

#[test]
fn vhost_dirs_leave_plesks_own_out_uncounted() {
    let dir = |name: &str, owner: Option<&str>| VhostDir { name: name.into(), owner: owner.map(String::from) };
    let mut p = Parsed::new(DomainSource::Vhosts, 100);
    parse_dirs(
        &[
            dir("default", Some("root")),
            dir("system", None),
            dir("chroot", None),
            dir("fs", None),
            dir("fs-passwd", None),
            dir(".skel", None),
            dir(".rapid-scan-db", None),
            dir("example.com", Some("exampleuser")),
            dir("xn--bcher-kva.example", Some("books")),
            dir("backup_old", Some("root")),
        ],
        &mut p,
    );
    assert_eq!(
        rows(&p),
        [
            row("example.com", "example.com", "exampleuser", false),
            row("xn--bcher-kva.example", "bücher.example", "books", false)
        ]
    );
    assert_eq!(p.skipped, 1, "only backup_old: {:?}", p.samples);
}

#[test]
fn bounds_cut_and_count() {
    let mut p = Parsed::new(DomainSource::Static, 3);
    for i in 0..5 {
        p.add(&format!("d{i}.example"), "", false);
    }
    p.add("d0.example", "late", true); // already in: folded, not refused
    assert_eq!(p.list.len(), 3);
    assert!(p.list.truncated);
    assert_eq!(p.list.domains()[0].subscription, "late");
    assert!(p.list.domains()[0].mail);

    let mut p = Parsed::new(DomainSource::Static, 3);
    for i in 0..(MAX_SKIP_SAMPLES + 5) {
        p.add(&format!("bad{i}"), "", false);
    }
    p.skip(&format!("{}\u{7}", "x".repeat(500)), "too long");
    assert_eq!(p.skipped, MAX_SKIP_SAMPLES as u64 + 6);
    assert_eq!(p.samples.len(), MAX_SKIP_SAMPLES);
}

#[test]
fn merge_keeps_the_first_owner_and_any_mail() {
    let mut plesk = Parsed::new(DomainSource::Plesk, 10);
    plesk.add("shop.example", "shopuser", false);
    let mut postfix = Parsed::new(DomainSource::Postfix, 10);
    postfix.add("SHOP.example.", "", true);
    postfix.add("mailonly.example", "", true);
    let mut vhosts = Parsed::new(DomainSource::Vhosts, 10);
    vhosts.add("shop.example", "someoneelse", false);
    vhosts.add("mailonly.example", "mailuser", false);

    let mut all = DomainList::new(10);
    for p in [&plesk, &postfix, &vhosts] {
        all.merge(&p.list);
    }
    let d = all.domains();
    assert_eq!(d.len(), 2);
    assert_eq!((d[0].subscription.as_str(), d[0].mail), ("shopuser", true));
    assert_eq!(d[0].sources, [DomainSource::Plesk, DomainSource::Postfix, DomainSource::Vhosts]);
    assert_eq!((d[1].subscription.as_str(), d[1].mail), ("mailuser", true));

    let mut small = DomainList::new(1);
    small.merge(&vhosts.list);
    assert!(small.truncated && small.len() == 1);
}

#[test]
fn a_plesk_snapshot_parses_as_rows_with_comments_left_out() {
    let mut p = Parsed::new(DomainSource::Plesk, 10);
    plesk::parse_snapshot(
        "# written by rblfleet-agent\nshop.example\tu\t1\r\n#x\tu\t1\njunk\n\nb.example\t\t0",
        &mut p,
    );
    assert_eq!(rows(&p), [row("shop.example", "shop.example", "u", true), row("b.example", "b.example", "", false)]);
    assert_eq!(p.skipped, 1, "{:?}", p.samples);
}
