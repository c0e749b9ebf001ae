#![allow(clippy::unwrap_used)]

use rblfleet_proto::v1::{AgentInfo, HostIp, HostReport, MtaKind};

use super::validate::truncate;
use super::{Limits, validate};
use crate::identity::check_host_id;

const NOW: i64 = 1_800_000_000_000;

fn report() -> HostReport {
    HostReport {
        host_id: "web01.example".into(),
        epoch: 1,
        seq: 1,
        period_start_ms: NOW - 60_000,
        period_end_ms: NOW,
        agent: Some(AgentInfo { version: "0.1.0".into(), mta: MtaKind::Qmail as i32, ..Default::default() }),
        ips: vec![HostIp { address: "2001:db8::1".into(), ..Default::default() }],
        ..Default::default()
    }
}

fn field_of(r: &HostReport) -> String {
    validate(r, NOW, &Limits::default()).unwrap_err().field
}

#[test]
fn a_plain_report_is_valid() {
    validate(&report(), NOW, &Limits::default()).unwrap();
}

#[test]
fn host_ids_are_safe_file_names() {
    for good in ["web01", "web-01.example.net", "a_b", "1.2.3.4"] {
        check_host_id(good).unwrap();
    }
    for bad in ["", ".hidden", "-x", "a/b", "a b", "../etc", "ünï", &"a".repeat(254)] {
        assert!(check_host_id(bad).is_err(), "{bad:?} accepted");
    }
}

#[test]
fn clock_skew_and_age_are_bounded() {
    let mut r = report();
    r.period_end_ms = NOW + 4 * 60_000;
    validate(&r, NOW, &Limits::default()).unwrap();
    r.period_end_ms = NOW + 6 * 60_000;
    let e = validate(&r, NOW, &Limits::default()).unwrap_err();
    assert_eq!(e.field, "period_end_ms");
    assert!(e.reason.contains("in the future"), "{e}");

    let mut r = report();
    r.period_end_ms = NOW - 31 * 86_400_000;
    r.period_start_ms = r.period_end_ms - 1;
    assert!(validate(&r, NOW, &Limits::default()).unwrap_err().reason.contains("old"));
}

#[test]
fn unknown_enums_and_bad_addresses_name_their_field() {
    let mut r = report();
    r.agent.as_mut().unwrap().mta = 17;
    assert_eq!(field_of(&r), "agent.mta");
    let mut r = report();
    r.ips.push(HostIp { address: "1.2.3".into(), ..Default::default() });
    assert_eq!(field_of(&r), "ips[1].address");
}

#[test]
fn control_characters_are_refused_but_tabs_pass_in_text() {
    let mut r = report();
    r.agent.as_mut().unwrap().os = "linux\tdebian".into();
    validate(&r, NOW, &Limits::default()).unwrap();
    r.agent.as_mut().unwrap().os = "linux\u{7f}".into();
    assert_eq!(field_of(&r), "agent.os");
}

#[test]
fn truncation_respects_char_boundaries() {
    assert_eq!(truncate("ééé", 2), "éé…");
    assert_eq!(truncate("ab", 5), "ab");
}
