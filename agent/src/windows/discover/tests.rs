#![allow(clippy::unwrap_used)]

use std::collections::HashMap;

use super::*;

/// A registry holding exactly the values given.
#[derive(Default)]
struct FakeRegistry(HashMap<(String, String), String>);

impl FakeRegistry {
    fn with(mut self, key: &str, name: &str, value: &Path) -> Self {
        self.0.insert((key.to_string(), name.to_string()), value.display().to_string());
        self
    }
}

impl Registry for FakeRegistry {
    fn string(&self, key: &str, name: &str) -> Option<String> {
        self.0.get(&(key.to_string(), name.to_string())).cloned()
    }
}

/// A MailEnable installation under `dir`: Postoffices, Queues, Logging\SMTP, Config.
fn install(dir: &Path) -> PathBuf {
    for sub in ["Postoffices", "Queues/SMTP/Outgoing", "Logging/SMTP", "Config"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    dir.to_path_buf()
}

#[test]
fn the_registry_names_the_installation_by_its_mail_root() {
    let tmp = tempfile::tempdir().unwrap();
    let me = install(&tmp.path().join("D-drive").join("Mail Enable"));
    let registry = FakeRegistry::default().with(MAILENABLE_KEYS[0], MAIL_ROOT, &me.join("Postoffices"));
    let found = discover(&registry, &[]).unwrap();
    assert_eq!(found.install, me);
    assert_eq!(found.smtp_logs, me.join("Logging").join("SMTP"));
    assert_eq!(found.activity_pattern(), me.join("Logging").join("SMTP").join("SMTP-Activity-*.log"));
    assert_eq!(found.domain_tab(), me.join("Config").join("DOMAIN.TAB"));
    assert_eq!(found.found_by, FoundBy::Registry(MAILENABLE_KEYS[0].to_string()));
}

#[test]
fn the_smtp_connector_may_move_the_activity_logs() {
    let tmp = tempfile::tempdir().unwrap();
    let me = install(&tmp.path().join("Mail Enable"));
    let logs = tmp.path().join("E").join("MailLogs");
    std::fs::create_dir_all(&logs).unwrap();
    let key = MAILENABLE_KEYS[1];
    let registry = FakeRegistry::default().with(key, MAIL_ROOT, &me.join("Postoffices")).with(
        &format!(r"{key}\{SMTP_CONNECTOR}"),
        ACTIVITY_LOG_DIRECTORY,
        &logs,
    );
    let found = discover(&registry, &[]).unwrap();
    assert_eq!((found.install, found.smtp_logs), (me, logs));
    // A moved directory that no longer exists is not taken.
    let gone = FakeRegistry::default().with(key, MAIL_ROOT, &tmp.path().join("Mail Enable").join("Postoffices")).with(
        &format!(r"{key}\{SMTP_CONNECTOR}"),
        ACTIVITY_LOG_DIRECTORY,
        &tmp.path().join("gone"),
    );
    assert_eq!(discover(&gone, &[]).unwrap().smtp_logs, tmp.path().join("Mail Enable").join("Logging").join("SMTP"));
}

#[test]
fn without_the_key_the_usual_directories_are_tried_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let env = |var: &str| match var {
        "ProgramFiles(x86)" => Some(tmp.path().join("PF86").display().to_string()),
        "ProgramFiles" => Some(tmp.path().join("PF").display().to_string()),
        _ => None,
    };
    let candidates = fallback_dirs(env);
    assert_eq!(candidates[0], tmp.path().join("PF86").join("Mail Enable"));
    assert_eq!(candidates.len(), 4);
    assert_eq!(discover(&FakeRegistry::default(), &candidates), None, "nothing installed");
    // Plesk's bundled MailEnable, under the 64-bit program directory.
    let plesk =
        install(&tmp.path().join("PF").join("Parallels").join("Plesk").join("Mail Servers").join("Mail Enable"));
    let found = discover(&FakeRegistry::default(), &candidates).unwrap();
    assert_eq!((found.install, found.found_by), (plesk, FoundBy::Fallback));
    // A stale registry value falls through to the directories.
    let stale =
        FakeRegistry::default().with(MAILENABLE_KEYS[0], MAIL_ROOT, &tmp.path().join("old").join("Postoffices"));
    assert_eq!(discover(&stale, &candidates).unwrap().found_by, FoundBy::Fallback);
}

#[test]
fn without_program_directories_the_documented_default_is_tried() {
    assert_eq!(fallback_dirs(|_| None), [PathBuf::from(r"C:\Program Files (x86)\Mail Enable")]);
}
