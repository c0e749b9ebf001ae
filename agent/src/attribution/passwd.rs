//! Local users and the Plesk subscriptions they belong to.
//!
//! Plesk creates one system user per subscription with the home directory
//! `/var/www/vhosts/<domain>` (additional FTP users of the subscription live
//! below it), and PHP runs as that user. So a pickup `uid=10023` or an
//! `X-PHP-Originating-Script: 10023:…` names a subscription once the uid is
//! looked up in the passwd file. This module only interprets passwd text;
//! the caller reads the file (`sources.passwd`).

use std::collections::HashMap;

/// Where Plesk puts subscriptions (its default `HTTPD_VHOSTS_D` on Linux).
pub const VHOSTS_DIR: &str = "/var/www/vhosts/";

/// Directories under [`VHOSTS_DIR`] that are Plesk's own, not subscriptions.
const NOT_SUBSCRIPTIONS: &[&str] = &["system", "default", "chroot", "fs", "fs-passwd", ".skel"];

/// One passwd entry, as far as attribution needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The login name.
    pub name: String,
    /// The Plesk subscription (domain) whose home directory the user has.
    pub subscription: Option<String>,
}

/// uid → user, from passwd text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserMap {
    users: HashMap<u32, User>,
}

impl UserMap {
    /// Parses passwd text (`name:x:uid:gid:gecos:home:shell` per line).
    /// Malformed lines and comments are skipped: the file belongs to the
    /// system, and one odd line must not hide every other user.
    pub fn from_passwd(text: &str) -> UserMap {
        let mut users = HashMap::new();
        for line in text.lines() {
            let line = line.trim_end_matches('\r');
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let fields: Vec<&str> = line.split(':').collect();
            let (Some(name), Some(uid), Some(home)) = (fields.first(), fields.get(2), fields.get(5)) else {
                continue;
            };
            let Ok(uid) = uid.parse::<u32>() else { continue };
            // The first entry wins, as in getpwuid().
            users.entry(uid).or_insert_with(|| User { name: (*name).to_string(), subscription: subscription_of(home) });
        }
        UserMap { users }
    }

    /// The user with `uid`, if the passwd file has one.
    pub fn get(&self, uid: u32) -> Option<&User> {
        self.users.get(&uid)
    }

    /// The subscription of `uid`, if its home is a subscription's.
    pub fn subscription(&self, uid: u32) -> Option<&str> {
        self.users.get(&uid).and_then(|u| u.subscription.as_deref())
    }

    /// Number of users known.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// True when no user is known (no passwd file read).
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

/// The subscription domain of a home directory under [`VHOSTS_DIR`].
pub fn subscription_of(home: &str) -> Option<String> {
    let rest = home.strip_prefix(VHOSTS_DIR)?;
    let domain = rest.split('/').next()?.trim();
    if domain.is_empty() || NOT_SUBSCRIPTIONS.contains(&domain) || !domain.contains('.') {
        return None;
    }
    Some(domain.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "\
root:x:0:0:root:/root:/bin/bash
# a comment
broken line
shop:x:10023:1003::/var/www/vhosts/Shop.example:/bin/false
shopftp:x:10024:1003::/var/www/vhosts/shop.example/httpdocs/upload:/bin/false
sys:x:10030:1003::/var/www/vhosts/system/x.example:/bin/false
dup:x:10023:1003::/home/dup:/bin/false
";

    #[test]
    fn maps_uids_to_subscriptions_by_home_directory() {
        let users = UserMap::from_passwd(PASSWD);
        assert_eq!(users.len(), 4);
        assert_eq!(users.get(0).map(|u| u.name.as_str()), Some("root"));
        assert_eq!(users.subscription(0), None);
        assert_eq!(users.subscription(10023), Some("shop.example"), "lowercased, first entry wins");
        assert_eq!(users.subscription(10024), Some("shop.example"), "an additional user below the subscription");
        assert_eq!(users.subscription(10030), None, "Plesk's own directory");
        assert_eq!(users.subscription(4242), None);
    }
}
