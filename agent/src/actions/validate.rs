//! Validation of every identifier before it reaches a command's argument.
//!
//! Commands run without a shell, so quoting is not the danger; the dangers
//! are a value read as an option (`-d ALL`), a path leaving the customer's
//! tree (`../`, a symlink), and anything a sudoers pattern could match more
//! widely than meant (spaces, wildcards). Each identifier therefore has a
//! narrow positive grammar, checked after a common screen that refuses
//! control characters (newline, NUL), white space, quotes, shell
//! metacharacters, a leading `-` and over-long values, naming the field.

use std::path::{Component, Path, PathBuf};

use super::Refusal;

/// Longest address (RFC 5321 path limit).
pub const MAX_ADDRESS: usize = 254;
/// Longest domain name.
pub const MAX_DOMAIN: usize = 253;
/// Longest script path.
pub const MAX_PATH: usize = 1024;
/// Longest action id.
pub const MAX_ID: usize = 64;

/// `value` for an error message: at most 80 characters, control characters escaped.
pub fn shown(value: &str) -> String {
    let cut: String = value.chars().take(80).collect();
    let mut out = cut.escape_debug().to_string();
    if value.chars().count() > 80 {
        out.push('…');
    }
    out
}

fn invalid(field: &'static str, value: &str, why: &str) -> Refusal {
    Refusal::Invalid { field, reason: format!("\"{}\" {why}", shown(value)) }
}

/// The screen every identifier passes first.
fn screen(field: &'static str, value: &str, max: usize) -> Result<(), Refusal> {
    if value.is_empty() {
        return Err(Refusal::Invalid { field, reason: "empty".into() });
    }
    if value.len() > max {
        return Err(Refusal::Invalid { field, reason: format!("{} bytes, longer than {max}", value.len()) });
    }
    if let Some(c) = value.chars().find(|c| c.is_control()) {
        return Err(invalid(field, value, &format!("contains the control character {:?}", c)));
    }
    if let Some(c) = value.chars().find(|c| c.is_whitespace()) {
        return Err(invalid(field, value, &format!("contains white space {c:?}")));
    }
    const META: &[char] = &[
        '"', '\'', '`', ';', '$', '|', '&', '<', '>', '\\', '(', ')', '*', '?', '[', ']', '{', '}', '!', '#', '~', ',',
    ];
    if let Some(c) = value.chars().find(|c| META.contains(c)) {
        return Err(invalid(field, value, &format!("contains {c:?}")));
    }
    if value.starts_with('-') {
        return Err(invalid(field, value, "starts with '-' (would be read as an option)"));
    }
    if !value.is_ascii() {
        return Err(invalid(field, value, "is not ASCII (IDN domains are written in punycode)"));
    }
    Ok(())
}

/// A domain name: lowercase LDH labels, at least two, punycode for IDN.
pub fn domain(field: &'static str, value: &str) -> Result<(), Refusal> {
    screen(field, value, MAX_DOMAIN)?;
    let labels: Vec<&str> = value.split('.').collect();
    if labels.len() < 2 {
        return Err(invalid(field, value, "is not a domain name (needs a dot)"));
    }
    for label in labels {
        let ok = (1..=63).contains(&label.len())
            && label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err(invalid(field, value, "is not a lowercase domain name (labels of a-z, 0-9 and inner '-')"));
        }
    }
    Ok(())
}

/// A mailbox or sender address `local@domain`; the local part is the dot-atom
/// subset Plesk mailboxes use (`a-z A-Z 0-9 . _ + = -`, no leading or double dot).
pub fn address(field: &'static str, value: &str) -> Result<(), Refusal> {
    screen(field, value, MAX_ADDRESS)?;
    let Some((local, domain_part)) = value.rsplit_once('@') else {
        return Err(invalid(field, value, "is not an address (no '@')"));
    };
    local_part(field, value, local)?;
    domain(field, domain_part).map_err(|_| invalid(field, value, "has an invalid domain"))
}

fn local_part(field: &'static str, whole: &str, local: &str) -> Result<(), Refusal> {
    let ok = (1..=64).contains(&local.len())
        && local.bytes().all(|b| b.is_ascii_alphanumeric() || b"._+=-".contains(&b))
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..");
    if ok { Ok(()) } else { Err(invalid(field, whole, "has a local part outside a-z A-Z 0-9 . _ + = -")) }
}

/// A SASL user: an address (Plesk) or a bare login of the same characters.
pub fn sasl_user(field: &'static str, value: &str) -> Result<(), Refusal> {
    screen(field, value, MAX_ADDRESS)?;
    if value.contains('@') { address(field, value) } else { local_part(field, value, value) }
}

/// A uid: decimal, not 0 (root is never a source to contain).
pub fn uid(field: &'static str, value: &str) -> Result<u32, Refusal> {
    screen(field, value, 10)?;
    let n: u32 = value.parse().map_err(|_| invalid(field, value, "is not a uid (decimal number)"))?;
    if n == 0 || value.starts_with('0') {
        return Err(invalid(field, value, "is root or not in canonical form"));
    }
    Ok(n)
}

/// A Postfix queue id: short (hex) or long (base-52 letters and digits) form,
/// 5 to 24 characters; never the word `ALL`.
pub fn queue_id(field: &'static str, value: &str) -> Result<(), Refusal> {
    screen(field, value, 24)?;
    if value.len() < 5 || !value.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(invalid(field, value, "is not a Postfix queue id (5 to 24 letters and digits)"));
    }
    Ok(())
}

/// An action id: `[A-Za-z0-9_-]`, at most [`MAX_ID`], not starting with `-`
/// (it names a ledger file).
pub fn action_id(value: &str) -> Result<(), Refusal> {
    screen("id", value, MAX_ID)?;
    if !value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
        return Err(invalid("id", value, "is not an action id (A-Z a-z 0-9 _ -)"));
    }
    Ok(())
}

/// An Outgoing Mail Control limit value: a number of messages per hour
/// (no leading zero), `unlimited` or `default` (inherit) — the same set the
/// sudoers rule admits.
pub fn limit(field: &'static str, value: &str) -> Result<(), Refusal> {
    let ok = matches!(value, "unlimited" | "default" | "0")
        || ((1..=9).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_digit()) && !value.starts_with('0'));
    if ok { Ok(()) } else { Err(invalid(field, value, "is not a limit (number, unlimited, default)")) }
}

/// A script name as reported (`mailer.php`, `wp/x.php`): the screen, then
/// letters, digits and `. _ + @ - /`, no `.`/`..` component.
pub fn script_name(field: &'static str, value: &str) -> Result<(), Refusal> {
    screen(field, value, 255)?;
    if !value.bytes().all(|b| b.is_ascii_alphanumeric() || b"._+@-/".contains(&b)) {
        return Err(invalid(field, value, "is not a script name (letters, digits, . _ + @ - /)"));
    }
    if value.split('/').any(|part| part.is_empty() || part == "." || part == "..") {
        return Err(invalid(field, value, "has an empty, '.' or '..' component"));
    }
    Ok(())
}

/// A script path: absolute, plain components (no `.`/`..`, each passing the
/// screen), under `<vhosts>/<subscription>/`, and — checked on the file
/// system — a regular file whose canonical path is the path itself, so no
/// component is a symlink. Returns the path.
pub fn script_path(value: &str, vhosts: &Path, subscription: &str) -> Result<PathBuf, Refusal> {
    const FIELD: &str = "script";
    if value.len() > MAX_PATH {
        return Err(Refusal::Invalid {
            field: FIELD,
            reason: format!("{} bytes, longer than {MAX_PATH}", value.len()),
        });
    }
    let path = Path::new(value);
    if !path.is_absolute() {
        return Err(invalid(FIELD, value, "is not an absolute path"));
    }
    for component in path.components() {
        match component {
            Component::RootDir => {}
            Component::Normal(part) => {
                let part = part.to_str().ok_or_else(|| invalid(FIELD, value, "is not UTF-8"))?;
                screen(FIELD, part, 255).map_err(|e| match e {
                    Refusal::Invalid { reason, .. } => {
                        Refusal::Invalid { field: FIELD, reason: format!("component {reason}") }
                    }
                    other => other,
                })?;
                // The sudoers rule's component: at most one leading dot, then
                // letters, digits and . _ + @ -.
                if !part.bytes().all(|b| b.is_ascii_alphanumeric() || b"._+@-".contains(&b)) || part.starts_with("..") {
                    return Err(invalid(FIELD, value, "has a component outside letters, digits and . _ + @ -"));
                }
            }
            _ => return Err(invalid(FIELD, value, "contains '.' or '..'")),
        }
    }
    if value.contains("//") || value.ends_with('/') {
        return Err(invalid(FIELD, value, "is not in canonical form"));
    }
    let root = vhosts.join(subscription);
    if !path.starts_with(&root) || path == root {
        return Err(invalid(FIELD, value, &format!("is not below the subscription's tree {}", root.display())));
    }
    let canonical =
        std::fs::canonicalize(path).map_err(|e| invalid(FIELD, value, &format!("cannot be resolved: {e}")))?;
    let canonical_root =
        std::fs::canonicalize(&root).map_err(|e| invalid(FIELD, value, &format!("tree cannot be resolved: {e}")))?;
    if !canonical.starts_with(&canonical_root) {
        return Err(invalid(FIELD, value, "leads out of the subscription's tree through a symlink"));
    }
    if canonical.strip_prefix(&canonical_root).ok() != path.strip_prefix(&root).ok() {
        return Err(invalid(FIELD, value, "goes through a symlink"));
    }
    let meta = std::fs::symlink_metadata(path).map_err(|e| invalid(FIELD, value, &format!("cannot be read: {e}")))?;
    if !meta.file_type().is_file() {
        return Err(invalid(FIELD, value, "is not a regular file"));
    }
    Ok(path.to_path_buf())
}
