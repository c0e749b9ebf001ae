//! Arbitrary input never panics the classifier: it reads remote servers'
//! words, which are untrusted.

use proptest::prelude::*;

use super::classify;

const PREFIXES: &[&str] = &[
    "host mx.example[192.0.2.1] said: ",
    "refused to talk to me: 5",
    "to=<a@example.com>, relay=x, dsn=5.7.1, status=bounced (",
    "Diagnostic-Code: smtp; ",
    "NOQUEUE: reject: RCPT from x[192.0.2.1]: ",
    "1054189746.1 delivery 1: failure: ",
    "550-5.7.1 [",
    "554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using ",
    "(#",
    "550 5.7.606 Access denied, banned sending IP [",
];

proptest! {
    #[test]
    fn arbitrary_strings_never_panic(text in ".{0,400}") {
        let _ = classify(&text);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let _ = classify(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn real_prefixes_with_arbitrary_tails_never_panic(prefix in prop::sample::select(PREFIXES), tail in ".{0,200}") {
        let verdict = classify(&format!("{prefix}{tail}"));
        // Whatever the text, the IP is never a loopback DNSBL answer.
        prop_assert!(verdict.ip.is_none_or(|ip| !ip.is_loopback()));
    }
}
