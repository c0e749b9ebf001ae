//! `controller.url` or `controller.urls`: one of the two, each URL checked
//! and named by its key.

use super::*;

const TLS: &str =
    "ca = \"/etc/rblfleet/ca.crt\"\ncert = \"/etc/rblfleet/agent.crt\"\nkey = \"/etc/rblfleet/agent.key\"\n";

fn with(controller: &str) -> Result<Config, ConfigError> {
    Config::from_toml_str(&format!("[controller]\n{controller}{TLS}"))
}

#[test]
fn a_list_of_urls_is_kept_in_order() {
    let c = with("urls = [\"https://a.example:7443\", \" https://b.example:7443 \"]\n").unwrap();
    let urls = c.controller.controllers().unwrap();
    let got: Vec<(&str, &str, &str)> = urls.iter().map(|u| (u.key.as_str(), u.url.as_str(), u.host.as_str())).collect();
    assert_eq!(
        got,
        [
            ("controller.urls[0]", "https://a.example:7443", "a.example"),
            ("controller.urls[1]", "https://b.example:7443", "b.example"),
        ]
    );
    // Each controller's certificate must name its own host.
    assert_eq!(c.controller.server_name_for(&urls[1].url).unwrap(), "b.example");
    assert_eq!(c.controller.first_url(), "https://a.example:7443");
    assert!(c.check_transport(false).is_ok());
}

#[test]
fn the_single_url_still_works() {
    let c = with("url = \"https://a.example:7443\"\n").unwrap();
    let urls = c.controller.controllers().unwrap();
    assert_eq!(urls.len(), 1);
    assert_eq!(urls[0].key, "controller.url");
}

#[test]
fn url_and_urls_together_empty_or_missing_are_errors() {
    let e = with("url = \"https://a:1\"\nurls = [\"https://b:1\"]\n").unwrap_err().to_string();
    assert!(e.contains("controller.urls") && e.contains("not both"), "{e}");
    let e = with("urls = []\n").unwrap_err().to_string();
    assert!(e.contains("controller.urls: empty"), "{e}");
    let e = with("").unwrap_err().to_string();
    assert!(e.contains("controller.url") && e.contains("missing"), "{e}");
}

#[test]
fn a_bad_entry_is_named_by_its_index() {
    let e = with("urls = [\"https://a:1\", \"ftp://b\"]\n").unwrap_err().to_string();
    assert!(e.contains("controller.urls[1]") && e.contains("ftp"), "{e}");
    let e = with("urls = [\"https://a:1\", \"https://b:port\"]\n").unwrap_err().to_string();
    assert!(e.contains("controller.urls[1]") && e.contains("port"), "{e}");
    let e = with("urls = [\"https://a:1\", \"https://A:1\"]\n").unwrap_err().to_string();
    assert!(e.contains("controller.urls[1]") && e.contains("listed twice") && e.contains("controller.urls[0]"), "{e}");
}

#[test]
fn tls_files_are_needed_when_any_url_is_https() {
    let e = Config::from_toml_str("[controller]\nurls = [\"http://127.0.0.1:1\", \"https://b:1\"]\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("controller.ca"), "{e}");
}

#[test]
fn insecure_rules_apply_to_every_url() {
    let plain = |urls: &str| Config::from_toml_str(&format!("[controller]\nurls = [{urls}]\n")).unwrap();
    let local = plain("\"http://127.0.0.1:1\", \"http://[::1]:2\"");
    assert!(local.check_transport(true).is_ok());
    let e = plain("\"http://127.0.0.1:1\", \"http://ctl.example:2\"").check_transport(true).unwrap_err().to_string();
    assert!(e.starts_with("controller.urls[1]:") && e.contains("loopback"), "{e}");
    let e = with("urls = [\"https://a:1\", \"https://b:1\"]\n").unwrap().check_transport(true).unwrap_err().to_string();
    assert!(e.starts_with("controller.urls[0]:") && e.contains("drop --insecure"), "{e}");
}

#[test]
fn server_name_overrides_every_url() {
    let c =
        with("urls = [\"https://10.0.0.1:7443\", \"https://10.0.0.2:7443\"]\nserver_name = \"ctl.example\"\n").unwrap();
    for url in c.controller.controllers().unwrap() {
        assert_eq!(c.controller.server_name_for(&url.url).unwrap(), "ctl.example");
    }
}
