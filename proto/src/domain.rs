//! What a domain name is on the wire: lowercase ASCII, IDN in punycode, no
//! trailing dot, at most 253 bytes in labels of 1–63 letters, digits and
//! '-' (and '_', which some hosting names carry). The agent normalises what
//! it reads (a Plesk list, a vhosts directory, an envelope sender); the
//! controller refuses anything else, so a domain is one string everywhere:
//! a store key, a DNS query label, a CLI argument.

/// The longest domain name in bytes (RFC 1035, without the trailing dot).
pub const MAX_DOMAIN_LEN: usize = 253;

/// Why a text is not a domain name. Messages read after the name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("is empty")]
    Empty,
    #[error("is {len} bytes long; the limit is {MAX_DOMAIN_LEN}")]
    TooLong { len: usize },
    #[error("has an empty label (two dots in a row, or a leading dot)")]
    EmptyLabel,
    #[error("has a label longer than 63 bytes")]
    LongLabel,
    #[error("has a label that starts or ends with '-'")]
    Hyphen,
    #[error("contains {0:?}; a domain holds letters, digits, '-' and '.'")]
    BadChar(char),
    #[error("has a single label; a domain has at least two (example.com)")]
    SingleLabel,
    #[error("is not a valid internationalised domain name")]
    Idna,
    #[error("is an IP address, not a domain")]
    Address,
}

/// A name in wire form with its Unicode form when it is an IDN.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DomainName {
    /// Wire form: lowercase ASCII, punycode labels for IDN.
    pub ascii: String,
    /// The Unicode form; equal to `ascii` for a plain ASCII name.
    pub unicode: String,
}

/// Normalises `text` (either form, any case, an optional trailing dot) to a
/// [`DomainName`], or says why it is not one.
pub fn normalize_domain(text: &str) -> Result<DomainName, DomainError> {
    let text = text.trim();
    let text = text.strip_suffix('.').unwrap_or(text);
    if text.is_empty() {
        return Err(DomainError::Empty);
    }
    if text.parse::<std::net::IpAddr>().is_ok() {
        return Err(DomainError::Address);
    }
    let ascii = if text.is_ascii() {
        text.to_ascii_lowercase()
    } else {
        if let Some(c) = text.chars().find(|c| c.is_whitespace() || c.is_control() || matches!(c, '@' | '/' | ':')) {
            return Err(DomainError::BadChar(c));
        }
        idna::domain_to_ascii(text).map_err(|_| DomainError::Idna)?
    };
    check_ascii(&ascii)?;
    let unicode = if ascii.split('.').any(|l| l.starts_with("xn--")) {
        let (unicode, result) = idna::domain_to_unicode(&ascii);
        result.map_err(|_| DomainError::Idna)?;
        unicode
    } else {
        ascii.clone()
    };
    Ok(DomainName { ascii, unicode })
}

/// Checks a name already in wire form (what the controller receives).
pub fn valid_domain(name: &str) -> Result<(), DomainError> {
    if name.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(DomainError::BadChar(name.chars().find(char::is_ascii_uppercase).unwrap_or('?')));
    }
    if name.parse::<std::net::IpAddr>().is_ok() {
        return Err(DomainError::Address);
    }
    check_ascii(name)
}

fn check_ascii(name: &str) -> Result<(), DomainError> {
    if name.is_empty() {
        return Err(DomainError::Empty);
    }
    if name.len() > MAX_DOMAIN_LEN {
        return Err(DomainError::TooLong { len: name.len() });
    }
    let mut labels = 0;
    for label in name.split('.') {
        labels += 1;
        if label.is_empty() {
            return Err(DomainError::EmptyLabel);
        }
        if label.len() > 63 {
            return Err(DomainError::LongLabel);
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(DomainError::Hyphen);
        }
        if let Some(c) = label.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_')) {
            return Err(DomainError::BadChar(c));
        }
    }
    if labels < 2 {
        return Err(DomainError::SingleLabel);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_names_are_lowercased_and_lose_the_trailing_dot() {
        let d = normalize_domain(" Example.COM. ").expect("a domain");
        assert_eq!((d.ascii.as_str(), d.unicode.as_str()), ("example.com", "example.com"));
    }

    #[test]
    fn idn_in_either_form_gives_both_forms() {
        let u = normalize_domain("Bücher.example").expect("unicode form");
        assert_eq!(u.ascii, "xn--bcher-kva.example");
        assert_eq!(u.unicode, "bücher.example");
        let a = normalize_domain("XN--BCHER-KVA.example").expect("punycode form");
        assert_eq!(a, u);
    }

    #[test]
    fn what_is_not_a_domain_says_why() {
        assert_eq!(normalize_domain(""), Err(DomainError::Empty));
        assert_eq!(normalize_domain("localhost"), Err(DomainError::SingleLabel));
        assert_eq!(normalize_domain("a..b"), Err(DomainError::EmptyLabel));
        assert_eq!(normalize_domain("-a.example"), Err(DomainError::Hyphen));
        assert_eq!(normalize_domain("a b.example"), Err(DomainError::BadChar(' ')));
        assert_eq!(normalize_domain("192.0.2.1"), Err(DomainError::Address));
        assert_eq!(normalize_domain(&format!("{}.example", "a".repeat(64))), Err(DomainError::LongLabel));
        assert!(matches!(normalize_domain(&"a.".repeat(130)), Err(DomainError::TooLong { .. })));
        assert_eq!(normalize_domain("ü@x.example"), Err(DomainError::BadChar('@')));
    }

    #[test]
    fn the_wire_form_is_checked_strictly() {
        assert_eq!(valid_domain("example.com"), Ok(()));
        assert_eq!(valid_domain("xn--bcher-kva.example"), Ok(()));
        assert!(valid_domain("Example.com").is_err());
        assert!(valid_domain("bücher.example").is_err());
        assert!(valid_domain("example.com.").is_err());
    }
}
