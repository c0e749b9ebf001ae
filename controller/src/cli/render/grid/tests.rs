#![allow(clippy::unwrap_used)]

use super::*;
use crate::cli::render::keep_width;

/// `rblfleet report`'s columns and fixed widths, with list names, host
/// names and suspects longer than their columns get at 80 columns.
fn report_table() -> (Grid, Vec<&'static str>) {
    let rows = [
        [
            "203.0.113.25",
            "web07.hosting-customer.example",
            "b.barracudacentral.org",
            "11-27 14:03",
            "listed by Barracuda reputation; poor sending history",
            "#12 open",
            "sasl_user info@shop.example-customer.com",
            "form [1]",
        ],
        [
            "2001:db8:ffff:1234:5678:9abc:def0:1234",
            "mail.another-very-long-hostname.example",
            "zen.spamhaus.org",
            "11-27 15:40",
            "SBL: Spamhaus SBL data; CSS: Spamhaus CSS component",
            "#13 investigating",
            "php_script /var/www/vhosts/shop.example/httpdocs/wp-content/x.php",
            "expires by 11-28 14:00",
        ],
        [
            "198.51.100.7",
            "web09.example",
            "dnsbl-1.uceprotect.net",
            "11-26 09:12",
            "UCEPROTECT level 1: the IP itself",
            "-",
            "sender newsletter@marketing-department.example",
            "expires by itself",
        ],
    ];
    let mut table =
        Grid::new(&["IP / DOMAIN", "HOSTS", "LIST", "SINCE", "MEANING", "CASE", "TOP SUSPECT", "DELISTING"]);
    for row in rows {
        table.add_row(row.to_vec());
    }
    keep_width(&mut table, &[0, 1, 3, 5, 7]);
    let tokens = rows.iter().flat_map(|row| row.iter().flat_map(|cell| cell.split(' '))).collect();
    (table, tokens)
}

fn assert_whole(output: &str, tokens: &[&str]) {
    let words: Vec<&str> = output.split_whitespace().collect();
    for token in tokens {
        assert!(words.contains(token), "{token:?} was cut:\n{output}");
    }
}

fn widest_line(output: &str) -> usize {
    output.lines().map(|line| line.trim_end().chars().count()).max().unwrap_or(0)
}

#[test]
fn no_token_is_cut_at_80_or_120_columns_or_in_a_pipe() {
    let (table, tokens) = report_table();
    for width in [Some(80), Some(120), None] {
        assert_whole(&table.render(width), &tokens);
    }
}

#[test]
fn a_pipe_gets_one_line_per_row() {
    let (table, _) = report_table();
    let out = table.render(None);
    assert_eq!(out.lines().count(), 4, "{out}");
}

#[test]
fn the_terminal_width_is_kept_when_the_tokens_fit() {
    let mut table = Grid::new(&["HOST", "LIST", "TOP SUSPECT", "MEANING"]);
    let rows = [
        [
            "web07.hosting-customer.example",
            "b.barracudacentral.org",
            "sasl_user info@shop.example-customer.com on web07.hosting-customer.example",
            "listed by Barracuda reputation; poor sending history",
        ],
        [
            "mail.another-very-long-hostname.example",
            "dnsbl-1.uceprotect.net",
            "sender newsletter@marketing-department.example on mail.another-very-long-hostname.example",
            "UCEPROTECT level 1: the IP itself",
        ],
    ];
    for row in rows {
        table.add_row(row.to_vec());
    }
    let tokens: Vec<&str> = rows.iter().flat_map(|row| row.iter().flat_map(|cell| cell.split(' '))).collect();
    assert!(widest_line(&table.render(None)) > 120, "the test needs rows wider than the terminal");
    for width in [120, 160] {
        let out = table.render(Some(width));
        assert_whole(&out, &tokens);
        assert!(widest_line(&out) <= width, "wider than {width}:\n{out}");
        assert!(out.lines().count() > 3, "nothing wrapped at {width}:\n{out}");
    }
}

#[test]
fn tokens_wider_than_the_terminal_widen_the_table_instead() {
    let mut table = Grid::new(&["HOST", "SUSPECT"]);
    let long = "sasl_user a-very-long-mailbox-name-that-no-terminal-column-holds@customer-domain.example";
    table.add_row(vec!["web07.example", long]);
    let out = table.render(Some(40));
    assert_whole(&out, &long.split(' ').collect::<Vec<_>>());
    assert!(widest_line(&out) > 40, "{out}");
}

#[test]
fn longest_token_splits_where_comfy_table_wraps() {
    assert_eq!(longest_token("sasl_user info@shop.example on web07"), 17);
    assert_eq!(longest_token("a\nlonger-line b"), 11);
    assert_eq!(longest_token(""), 0);
}
