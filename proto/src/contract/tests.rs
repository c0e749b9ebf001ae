use super::*;

#[test]
fn ordinary_host_ids_are_valid() {
    for id in ["web07", "web07.example.net", "WEB07.Example.NET", "mx_1", "a-b", "0", "a.", "x".repeat(253).as_str()] {
        assert_eq!(valid_host_id(id), Ok(()), "{id:?}");
    }
}

#[test]
fn each_invalid_host_id_says_why() {
    let too_long = "x".repeat(254);
    let cases: [(&str, HostIdError); 11] = [
        ("", HostIdError::Empty),
        (&too_long, HostIdError::TooLong { len: 254 }),
        (".hidden", HostIdError::BadStart),
        ("-rf", HostIdError::BadStart),
        ("../etc/passwd", HostIdError::BadStart),
        ("web 07", HostIdError::BadChar(' ')),
        ("web07\n", HostIdError::BadChar('\n')),
        ("a/b", HostIdError::BadChar('/')),
        ("host:443", HostIdError::BadChar(':')),
        ("hôte", HostIdError::BadChar('ô')),
        ("web07\u{1b}[2J", HostIdError::BadChar('\u{1b}')),
    ];
    for (id, want) in cases {
        assert_eq!(valid_host_id(id), Err(want), "{id:?}");
    }
}

#[test]
fn length_is_counted_in_bytes() {
    // 127 two-byte characters: 254 bytes, refused for length before the alphabet.
    let id = "é".repeat(127);
    assert_eq!(valid_host_id(&id), Err(HostIdError::TooLong { len: 254 }));
}

#[test]
fn messages_name_the_problem_and_the_fix() {
    assert_eq!(HostIdError::Empty.to_string(), "must not be empty");
    assert_eq!(HostIdError::TooLong { len: 300 }.to_string(), "is 300 bytes long; the limit is 253");
    assert_eq!(HostIdError::BadStart.to_string(), "must not start with '.' or '-'");
    assert_eq!(
        HostIdError::BadChar(' ').to_string(),
        "contains ' '; only letters, digits, '.', '_' and '-' are allowed"
    );
}

#[test]
fn identity_uris_are_prefix_plus_host_id() {
    let uri = format!("{AGENT_URI_PREFIX}web07.example.net");
    assert_eq!(uri, "urn:rblfleet:agent:web07.example.net");
    assert_eq!(uri.strip_prefix(AGENT_URI_PREFIX).map(valid_host_id), Some(Ok(())));
    // Neither prefix is a prefix of the other, so a URI has at most one role.
    assert!(!AGENT_URI_PREFIX.starts_with(ADMIN_URI_PREFIX) && !ADMIN_URI_PREFIX.starts_with(AGENT_URI_PREFIX));
}

#[test]
fn retry_hint_key_is_a_valid_grpc_metadata_name() {
    assert_eq!(RETRY_PUSHBACK_KEY, "grpc-retry-pushback-ms");
    assert!(tonic::metadata::MetadataKey::<tonic::metadata::Ascii>::from_bytes(RETRY_PUSHBACK_KEY.as_bytes()).is_ok());
}
