//! Open-file limits: every simulated agent holds one socket, and so does
//! the controller for each of them. 10,000 agents do not fit the common
//! default of 1024.

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// File descriptors besides the sockets: certificates being read, the
/// runtime, the sampler, stdio.
const HEADROOM: u64 = 256;

/// The limit cannot be raised far enough.
#[derive(Debug, thiserror::Error)]
#[error(
    "{agents} agents need {need} open files, but the hard limit (ulimit -Hn) is {hard}. \
     Raise it (as root: `ulimit -Hn {need}` in this shell, or `nofile` in /etc/security/limits.conf, \
     or LimitNOFILE= for a service), or run fewer agents. A spawned controller needs as many."
)]
pub struct TooLow {
    pub agents: usize,
    pub need: u64,
    pub hard: u64,
}

/// The soft limit after `ensure`, and whether it was raised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdLimit {
    pub soft: Option<u64>,
    pub raised: bool,
}

/// File descriptors a process serving `agents` connections needs.
pub fn needed(agents: usize) -> u64 {
    agents as u64 + HEADROOM
}

/// Raises the soft RLIMIT_NOFILE to cover `agents` sockets (children, such
/// as a spawned controller, inherit it). Fails when the hard limit is lower.
pub fn ensure(agents: usize) -> Result<FdLimit, TooLow> {
    let need = needed(agents);
    let current = getrlimit(Resource::Nofile);
    if current.current.is_none_or(|soft| soft >= need) {
        return Ok(FdLimit { soft: current.current, raised: false });
    }
    if let Some(hard) = current.maximum
        && hard < need
    {
        return Err(TooLow { agents, need, hard });
    }
    // Up to the hard limit: a spawned controller also opens store files.
    let soft = current.maximum.map_or(need * 2, |hard| hard.min(need * 2).max(need));
    match setrlimit(Resource::Nofile, Rlimit { current: Some(soft), maximum: current.maximum }) {
        Ok(()) => Ok(FdLimit { soft: Some(soft), raised: true }),
        Err(_) => Err(TooLow { agents, need, hard: current.current.unwrap_or(0) }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_fleet_fits_and_an_impossible_one_is_explained() {
        let limit = ensure(10).expect("10 agents fit any limit");
        assert!(limit.soft.is_none_or(|s| s >= needed(10)));
        let hard = getrlimit(Resource::Nofile).maximum;
        if let Some(hard) = hard {
            let agents = usize::try_from(hard).unwrap_or(usize::MAX / 2);
            let err = ensure(agents).expect_err("more sockets than the hard limit");
            assert!(err.to_string().contains("ulimit -Hn"), "{err}");
            assert_eq!(err.hard, hard);
        }
    }
}
