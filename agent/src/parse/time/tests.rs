#![allow(clippy::unwrap_used)]
use super::*;

const TOD0: TimeOfDay = TimeOfDay { hour: 0, minute: 0, second: 0, milli: 0 };

#[test]
fn civil_round_trip() {
    assert_eq!(days_from_civil(1970, 1, 1), 0);
    assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    for days in [-1000, 0, 59, 10_957, 19_000, 20_454] {
        let y = year_of_days(days);
        assert!(days_from_civil(y, 1, 1) <= days && days < days_from_civil(y + 1, 1, 1));
    }
}

#[test]
fn year_rollover() {
    let jan2 = civil_ms(2025, 1, 2, TOD0).unwrap();
    let dec31 = infer_year(12, 31, TOD0, jan2, 0).unwrap();
    assert_eq!(dec31, civil_ms(2024, 12, 31, TOD0).unwrap());
    let dec31_2025 = civil_ms(2025, 12, 31, TOD0).unwrap();
    let jan1 = infer_year(1, 1, TOD0, dec31_2025, 0).unwrap();
    assert_eq!(jan1, civil_ms(2026, 1, 1, TOD0).unwrap());
    // Feb 29 only exists in leap years: read in 2025 it is 2024's.
    let mar = civil_ms(2025, 3, 10, TOD0).unwrap();
    assert_eq!(infer_year(2, 29, TOD0, mar, 0).unwrap(), civil_ms(2024, 2, 29, TOD0).unwrap());
}

#[test]
fn rfc3339_offsets() {
    let utc = civil_ms(2023, 9, 8, TimeOfDay { hour: 15, minute: 20, second: 30, milli: 0 }).unwrap();
    assert_eq!(parse_rfc3339_prefix("2023-09-08T17:20:30+0200 x", 0), Some((utc, 24)));
    assert_eq!(parse_rfc3339_prefix("2023-09-08T17:20:30+02:00 x", 0), Some((utc, 25)));
    assert_eq!(parse_rfc3339_prefix("2023-09-08T15:20:30Z", 0), Some((utc, 20)));
    assert_eq!(parse_rfc3339_prefix("2023-09-08T15:20:30.655028Z", 0), Some((utc + 655, 27)));
    assert_eq!(parse_rfc3339_prefix("2023-09-08T16:20:30", 3600), Some((utc, 19)));
    assert_eq!(parse_rfc3339_prefix("2023-02-30T16:20:30Z", 0), None);
}

#[test]
fn qmail_stamps() {
    assert_eq!(parse_qmail_stamp("1054189746.123136 new msg 1"), Some((1_054_189_746_123, 18)));
    let (ms, used) = parse_qmail_stamp("@40000000419f13a508f3214c delivery 5").unwrap();
    assert_eq!(used, 26);
    assert_eq!(ms / 1000, 0x419f_13a5 - 10);
    assert_eq!(parse_qmail_stamp("12.5 x"), None);
}

/// The cache never changes an answer: every date of two years around
/// references placed just before, at and after the tolerance edges and
/// the new year, at both ends of the day.
#[test]
fn the_year_cache_agrees_with_infer_year() {
    let late = TimeOfDay { hour: 23, minute: 59, second: 59, milli: 999 };
    let noon = TimeOfDay { hour: 12, minute: 0, second: 0, milli: 0 };
    for reference in [
        civil_ms(2025, 12, 25, noon).unwrap() - FUTURE_TOLERANCE_MS,
        civil_ms(2025, 12, 31, late).unwrap(),
        civil_ms(2026, 1, 1, TOD0).unwrap(),
        civil_ms(2028, 2, 29, noon).unwrap(),
        civil_ms(2026, 6, 15, noon).unwrap() + 1,
    ] {
        for offset in [0, 3600, -5 * 3600] {
            let mut cache = YearCache::default();
            for month in 1..=12 {
                for day in 1..=31 {
                    for tod in [TOD0, noon, late, TOD0] {
                        assert_eq!(
                            cache.infer(month, day, tod, reference, offset),
                            infer_year(month, day, tod, reference, offset),
                            "{month}-{day} {tod:?} ref {reference} offset {offset}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn month_abbreviations_match_case_insensitively_and_nothing_else() {
    const MONTHS: [&[u8; 3]; 12] =
        [b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec"];
    let reference = |m: &[u8]| MONTHS.iter().position(|x| x.eq_ignore_ascii_case(m)).map(|i| i as u32 + 1);
    for month in MONTHS {
        // Every byte in every position: only the two cases of the letter keep the month.
        for at in 0..3 {
            for byte in 0..=255u8 {
                let mut m = *month;
                m[at] = byte;
                assert_eq!(month_from_abbr(&m), reference(&m), "{m:?}");
            }
        }
        assert_eq!(month_from_abbr(&month.to_ascii_uppercase()), reference(month));
    }
    assert_eq!(month_from_abbr(b"No"), None);
}

/// A line whose timestamp bytes repeat the last line's is read from
/// [`LastStamp`]; whatever follows them, the result is a fresh parse's.
#[test]
fn a_repeated_timestamp_reads_as_a_fresh_parse() {
    use crate::parse::line::{parse_syslog_cached, parse_syslog_with_offset};
    let reference = 1_796_000_000_000; // 2026-11-30
    let stamps = [
        "Dec  4 10:00:01",
        "Dec  4 10:00:01.5",
        "Dec  4 10:00:01.123456",
        "Dec 14 10:00:01",
        "Jan  1 00:00:00",
        "2026-12-04T10:00:01",
        "2026-12-04T10:00:01.25Z",
        "2026-12-04T10:00:01+01:00",
        "2026-12-04T10:00:01.999999-0530",
        "Dec  4 10:00:0",
        "<22>Dec  4 10:00:01",
    ];
    let tails =
        [" host postfix/smtp[12]: x", "X host postfix/smtp[12]: x", "7 host p: y", ". host p: y", "Z host p: z", ""];
    let mut years = YearCache::default();
    for (i, a) in stamps.iter().enumerate() {
        for b in &stamps[i..] {
            for (ta, tb) in tails.iter().flat_map(|ta| tails.iter().map(move |tb| (ta, tb))) {
                for offset in [0, 3600] {
                    for line in [format!("{a}{ta}"), format!("{b}{tb}")] {
                        let cached = parse_syslog_cached(&line, reference, offset, &mut years);
                        assert_eq!(cached, parse_syslog_with_offset(&line, reference, offset), "{line:?}");
                    }
                }
            }
        }
    }
}
