//! Plesk remediation hints per kind of source: what an admin would do next,
//! with the commands they would run. rblfleet runs none of them.
//!
//! Every name in a hint comes from an agent's report, i.e. from a host that
//! may be compromised, and the hints are meant to be pasted into a root
//! shell: names are shell-quoted ([`sh_quote`]) and stripped of control
//! characters ([`printable`]) so a hostile script name cannot smuggle a
//! command or a terminal escape into the NOC's session.
//!
//! The commands are Plesk's documented ones where Plesk documents them
//! (`plesk bin mail`, `plesk bin autoresponder`, the `PSA_PASSWORD`
//! convention, the mail log path); where a command could not be confirmed
//! (the subscription's outgoing-mail limit from the shell), the hint names
//! the Plesk screen and points at the utility's `--help` instead of guessing.

use std::collections::BTreeSet;

use rblfleet_proto::v1::{SourceKind, Suspect};

/// Plesk's mail log (a link to the system's maillog on every Plesk for Linux).
const MAILLOG: &str = "/usr/local/psa/var/log/maillog";
/// Where Plesk keeps subscriptions' files.
const VHOSTS: &str = "/var/www/vhosts";

/// The hints for a suspect, from its kind, names and scripts. `hosted` holds
/// the mail domains the host evidently serves (to tell a local sender from a
/// forwarded or spoofed one).
pub fn hints(s: &Suspect, hosted: &BTreeSet<String>) -> Vec<String> {
    let kind = SourceKind::try_from(s.kind).unwrap_or(SourceKind::Unspecified);
    match kind {
        SourceKind::SaslUser => mailbox(&s.id),
        SourceKind::Script => script(s),
        SourceKind::LocalUser => local_user(s),
        SourceKind::Sender => sender(&s.id, hosted),
        SourceKind::Unspecified => {
            vec![format!("Find what sends as {}: `grep -F {} {MAILLOG}`.", printable(&s.id), sh_quote(&s.id))]
        }
    }
}

fn mailbox(address: &str) -> Vec<String> {
    let (shown, q) = (printable(address), sh_quote(address));
    vec![
        format!(
            "Change the password of {shown}: whoever sends through it knows the current one. \
             `PSA_PASSWORD='<new password>' plesk bin mail --update {q} -passwd ''` \
             (through the environment, the password stays out of the process list)."
        ),
        format!(
            "Review where it logged in from: `grep -F {} {MAILLOG}`; logins from many networks or countries mean \
             the password leaked (tell the owner to check their devices).",
            sh_quote(&format!("sasl_username={address}"))
        ),
        format!(
            "Check it for a forwarding or an autoresponder a hijacker may have set: `plesk bin mail --info {q}` and \
             `plesk bin autoresponder --info -mail {q}`."
        ),
        "Until it is clean, stop it sending: set its limit on outgoing messages to 0 in Plesk's outgoing mail \
         control (0 prohibits sending; from the shell, check `plesk bin mail --help`), and delete its messages still \
         waiting in the mail queue."
            .to_string(),
    ]
}

fn script(s: &Suspect) -> Vec<String> {
    let path = s.id.as_str();
    let domain = subscription_of(s).unwrap_or_else(|| "<domain>".to_string());
    let root = format!("{VHOSTS}/{domain}/");
    let mut out = Vec::new();
    if path.starts_with('/') {
        let q = sh_quote(path);
        out.push(format!(
            "Inspect {}: a mail script nobody installed on purpose is the usual cause (`ls -l {q}`, then read it).",
            printable(path)
        ));
        out.push(format!(
            "Quarantine it, keeping a copy for the customer: `mkdir -p /root/rblfleet-quarantine && mv {q} \
             /root/rblfleet-quarantine/`."
        ));
    } else {
        let name = path.rsplit('/').next().unwrap_or(path);
        out.push(format!(
            "Find {}: PHP names only the file, so search the subscription's document root: \
             `find {} -name {} -type f -ls`; then inspect it and quarantine it (move it out of the web root).",
            printable(name),
            sh_quote(&root),
            sh_quote(name)
        ));
    }
    out.push(recent_files(&root));
    out.push(format!(
        "Scan subscription {} for malware with ImunifyAV if it is installed (in Plesk's ImunifyAV extension; its \
         command line does not support Plesk).",
        printable(&domain)
    ));
    out.push(outgoing_limit(&domain));
    if let Some(uid) = s.uid {
        out.push(format!("It runs as uid {uid}: `getent passwd {uid}` names the system user."));
    }
    out
}

fn local_user(s: &Suspect) -> Vec<String> {
    let domain = subscription_of(s);
    let numeric = !s.id.is_empty() && s.id.bytes().all(|b| b.is_ascii_digit());
    let uid = s.uid.map(|u| u.to_string()).or_else(|| numeric.then(|| s.id.clone()));
    let mut out = Vec::new();
    match (&domain, &uid) {
        (Some(d), _) => out.push(format!("It belongs to subscription {} (files under {VHOSTS}/{0}/).", printable(d))),
        (None, Some(u)) => out.push(format!(
            "Identify its subscription: `getent passwd {u}`; on Plesk the home directory is {VHOSTS}/<domain>."
        )),
        (None, None) => {}
    }
    let user = if numeric || s.id.is_empty() {
        uid.as_ref().map(|u| format!("\"$(getent passwd {u} | cut -d: -f1)\""))
    } else {
        Some(sh_quote(&s.id))
    };
    if let Some(user) = user {
        out.push(format!(
            "List its scheduled tasks: `crontab -l -u {user}` (Plesk shows them as the subscription's Scheduled \
             Tasks); a cron job that mails is a common culprit."
        ));
    }
    if !s.scripts.is_empty() {
        let names: Vec<String> = s.scripts.iter().take(5).map(|x| printable(x)).collect();
        out.push(format!("Scripts seen sending as it: {}; inspect them first.", names.join(", ")));
    }
    let domain = domain.unwrap_or_else(|| "<domain>".to_string());
    out.push(recent_files(&format!("{VHOSTS}/{domain}/")));
    out.push(outgoing_limit(&domain));
    out
}

fn sender(address: &str, hosted: &BTreeSet<String>) -> Vec<String> {
    let bare = address.trim().trim_start_matches('<').trim_end_matches('>');
    if bare.is_empty() {
        return vec![
            "These are bounces the server generated (null sender): backscatter from spam it accepted and then \
             bounced, or bounces of forwarded spam. Reject mail for unknown recipients during the SMTP session \
             instead of bouncing it later, and check forwardings that pass spam on."
                .to_string(),
        ];
    }
    let (shown, q) = (printable(bare), sh_quote(bare));
    let mut out = vec![format!(
        "Find who sends as {shown}: `grep -F {} {MAILLOG}`, then look up the same queue IDs for `sasl_username=` \
         (a mailbox) or `uid=` (a script or a system user).",
        sh_quote(&format!("from=<{bare}>"))
    )];
    let domain = bare.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase());
    match domain {
        Some(d) if hosted.contains(&d) => out.push(format!(
            "{} is hosted here: if {shown} is a mailbox, check it as a hijacked one (`plesk bin mail --info {q}`); \
             otherwise a script is sending with this address.",
            printable(&d)
        )),
        Some(d) => out.push(format!(
            "{} does not look hosted on this server: most likely mail forwarded from here (a forwarding keeps the \
             original sender) or bounces of spoofed mail (backscatter). Check the mailboxes' forwardings \
             (`plesk bin mail --info <address>`) and stop forwarding spam.",
            printable(&d)
        )),
        None => {}
    }
    out
}

fn recent_files(root: &str) -> String {
    format!(
        "Check which site files changed recently (a dropped mailer rarely comes alone): \
         `find {} -type f -name '*.php' -mtime -7 -ls`.",
        sh_quote(root)
    )
}

fn outgoing_limit(domain: &str) -> String {
    let d = printable(domain);
    format!(
        "Limit the outgoing mail of subscription {d}: in Plesk, Subscriptions > {d} > Outgoing Mail Limits (messages \
         per hour; mail sent by scripts counts against the subscription's limit). From the shell, check \
         `plesk bin subscription_settings --help`."
    )
}

/// The subscription (domain) of a source: as reported, or from its path
/// under /var/www/vhosts.
fn subscription_of(s: &Suspect) -> Option<String> {
    if !s.subscription.is_empty() {
        return Some(s.subscription.clone());
    }
    let rest = s.id.strip_prefix(VHOSTS)?.strip_prefix('/')?;
    let domain = rest.split('/').next()?;
    (!domain.is_empty()).then(|| domain.to_string())
}

/// `s` with control characters replaced, so it cannot move a terminal's
/// cursor or inject lines; long values are cut.
pub(super) fn printable(s: &str) -> String {
    const MAX: usize = 300;
    let mut out: String = s.chars().take(MAX).map(|c| if c.is_control() { '?' } else { c }).collect();
    if s.chars().count() > MAX {
        out.push('…');
    }
    out
}

/// `s` as one shell word: bare when it is plainly safe, else single-quoted.
pub(super) fn sh_quote(s: &str) -> String {
    let s = printable(s);
    let safe = |c: char| c.is_ascii_alphanumeric() || "@%+=:,./_-".contains(c);
    if !s.is_empty() && s.chars().all(safe) { s } else { format!("'{}'", s.replace('\'', r"'\''")) }
}
