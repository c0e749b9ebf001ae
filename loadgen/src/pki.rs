//! Certificates for thousands of simulated agents, issued once with the
//! controller's own CA code and reused by later runs.
//!
//! Each agent has its own identity, as in production: the controller checks
//! every report's host id against the client certificate, and per-connection
//! TLS state is part of what a controller carrying 10,000 agents costs.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rblfleet_controller::ca::{self, CaError, Subject};

/// How long generated certificates are valid: long enough for a soak run
/// and for reusing the cache for a year.
const DAYS: i64 = 365;

/// Why certificates could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("{dir}: {cause}")]
    Ca { dir: PathBuf, cause: CaError },
    #[error(
        "no CA in {dir}: point --pki at the controller's CA directory (with ca.crt and ca.key), \
         or use --spawn-controller to create one"
    )]
    NoCa { dir: PathBuf },
    #[error("a certificate-issuing thread panicked")]
    Panicked,
}

/// What `ensure_agents` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Issued {
    pub issued: usize,
    pub reused: usize,
    pub elapsed: Duration,
}

/// Makes sure `dir` holds a CA; when `create` is set, creates one (and a
/// controller certificate for `localhost` and 127.0.0.1) if missing.
pub fn ensure_ca(dir: &Path, create: bool) -> Result<(), PkiError> {
    let has_ca = dir.join(ca::CA_CERT).exists() && dir.join(ca::CA_KEY).exists();
    if !has_ca {
        if !create {
            return Err(PkiError::NoCa { dir: dir.to_path_buf() });
        }
        ca::init(dir, "rblfleet-loadgen CA", DAYS).map_err(|cause| PkiError::Ca { dir: dir.into(), cause })?;
    }
    if create && !controller_files(dir).0.exists() {
        let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        ca::issue(dir, &Subject::Controller { names }, DAYS, true)
            .map_err(|cause| PkiError::Ca { dir: dir.into(), cause })?;
    }
    Ok(())
}

/// The controller certificate and key `ensure_ca` creates.
pub fn controller_files(dir: &Path) -> (PathBuf, PathBuf) {
    (dir.join("controller.crt"), dir.join("controller.key"))
}

/// The certificate and key of agent `host_id` (the layout of `rblfleet ca issue`).
pub fn agent_files(dir: &Path, host_id: &str) -> (PathBuf, PathBuf) {
    (dir.join(format!("agents/{host_id}.crt")), dir.join(format!("agents/{host_id}.key")))
}

/// Issues a certificate for every host id that has none yet, on all cores.
pub fn ensure_agents(dir: &Path, host_ids: &[&str]) -> Result<Issued, PkiError> {
    let started = Instant::now();
    let missing: Vec<&str> = host_ids.iter().copied().filter(|h| !agent_files(dir, h).0.exists()).collect();
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()).min(missing.len().max(1));
    let results: Vec<Result<(), PkiError>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let mine: Vec<&str> = missing.iter().copied().skip(t).step_by(threads).collect();
                scope.spawn(move || -> Result<(), PkiError> {
                    for host_id in mine {
                        let subject = Subject::Agent { host_id: host_id.to_string() };
                        // force: a key left without its certificate by an interrupted run is replaced.
                        ca::issue(dir, &subject, DAYS, true)
                            .map_err(|cause| PkiError::Ca { dir: dir.into(), cause })?;
                    }
                    Ok(())
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap_or(Err(PkiError::Panicked))).collect()
    });
    results.into_iter().collect::<Result<(), _>>()?;
    Ok(Issued { issued: missing.len(), reused: host_ids.len() - missing.len(), elapsed: started.elapsed() })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn issues_missing_certificates_once_and_refuses_a_dir_without_ca() {
        let dir = tempfile::tempdir().unwrap();
        let err = ensure_ca(dir.path(), false).unwrap_err();
        assert!(err.to_string().contains("--spawn-controller"), "{err}");
        ensure_ca(dir.path(), true).unwrap();
        assert!(controller_files(dir.path()).1.exists());
        let hosts = ["a.example", "b.example", "c.example"];
        let first = ensure_agents(dir.path(), &hosts).unwrap();
        assert_eq!((first.issued, first.reused), (3, 0));
        for host in hosts {
            let (cert, key) = agent_files(dir.path(), host);
            assert!(cert.exists() && key.exists(), "{host}");
        }
        let again = ensure_agents(dir.path(), &hosts).unwrap();
        assert_eq!((again.issued, again.reused), (0, 3));
        // Reusing the directory keeps the CA.
        ensure_ca(dir.path(), true).unwrap();
        assert_eq!(ensure_agents(dir.path(), &["a.example", "d.example"]).unwrap().issued, 1);
    }

    /// The CA's I/O error is printed once in the chain (loadgen's `main` prints it).
    #[test]
    fn a_ca_that_cannot_be_created_names_its_cause_once() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a-file");
        std::fs::write(&file, "").unwrap();
        let err = anyhow::Error::from(ensure_ca(&file.join("pki"), true).unwrap_err());
        let text = format!("{err:#}");
        assert_eq!(text.matches("Not a directory (os error 20)").count(), 1, "{text}");
    }
}
