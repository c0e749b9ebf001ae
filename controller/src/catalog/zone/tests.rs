use super::reverse_name;

#[test]
fn reverse_names() {
    assert_eq!(reverse_name("192.0.2.1".parse().unwrap_or(std::net::Ipv4Addr::LOCALHOST.into())), "1.2.0.192");
    let v6 = reverse_name("2001:db8::1".parse().unwrap_or(std::net::Ipv6Addr::LOCALHOST.into()));
    assert_eq!(v6, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2");
}
