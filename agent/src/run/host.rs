//! What a report says about the agent itself ([`AgentInfo`]): version, OS
//! and host name.

use rblfleet_proto::v1::{AgentInfo, MtaKind};

/// Version, OS and host name, read once at start.
pub(super) fn agent_info() -> AgentInfo {
    let mut os = format!("{} {}", std::env::consts::OS, std::env::consts::ARCH);
    if let Some(pretty) = std::fs::read_to_string("/etc/os-release").ok().and_then(|text| pretty_name(&text)) {
        os = format!("{os} {pretty}");
    }
    AgentInfo {
        version: env!("CARGO_PKG_VERSION").to_string(),
        os,
        mta: MtaKind::Unspecified as i32,
        plesk_version: String::new(),
        hostname: hostname(),
    }
}

/// `PRETTY_NAME` from os-release text, unquoted.
pub(super) fn pretty_name(os_release: &str) -> Option<String> {
    os_release.lines().find_map(|line| {
        let value = line.trim().strip_prefix("PRETTY_NAME=")?;
        let value = value.trim_matches(|c| c == '"' || c == '\'').trim();
        (!value.is_empty()).then(|| value.to_string())
    })
}

/// The kernel's host name, without libc: procfs, then /etc/hostname.
fn hostname() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .map(|text| text.trim().to_string())
        .find(|name| !name.is_empty())
        .unwrap_or_default()
}
