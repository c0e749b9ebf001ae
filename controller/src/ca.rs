//! The fleet's private certificate authority.
//!
//! `rblfleet ca init` makes a CA; `rblfleet ca issue` signs certificates for
//! the controller (server), each agent (identity = host id) and each admin
//! (identity = a person's or a tool's name). Keys never leave the directory
//! they are written to, and every file is created 0600: a leaked agent key
//! lets its holder report for that host, a leaked CA key for every host.

pub mod expiry;
pub mod renew;

use std::fs::OpenOptions;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use time::{Duration, OffsetDateTime};

use crate::identity::check_host_id;
use crate::identity::{Identity, Role};

/// File names inside a CA directory.
pub const CA_CERT: &str = "ca.crt";
pub const CA_KEY: &str = "ca.key";

/// Errors of CA operations; each names the file or value at fault.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    #[error("{path}: {cause}")]
    Io { path: PathBuf, cause: std::io::Error },
    #[error(
        "{path} already exists; refusing to overwrite it (use --force to replace a leaf certificate; a CA is never replaced)"
    )]
    Exists { path: PathBuf },
    #[error("no CA in {dir}: run `rblfleet ca init --dir {dir}` first")]
    NoCa { dir: PathBuf },
    #[error("{path}: not a usable CA certificate or key: {cause}")]
    BadCa { path: PathBuf, cause: rcgen::Error },
    #[error("invalid name {name:?}: {reason}")]
    BadName { name: String, reason: String },
    #[error("{path}: not a certificate `rblfleet ca` can read: {reason}")]
    BadCert { path: PathBuf, reason: String },
    /// Not `#[from]`: the message prints it, so it must be no error source.
    #[error("certificate generation failed: {0}")]
    Generate(rcgen::Error),
}

impl From<rcgen::Error> for CaError {
    fn from(cause: rcgen::Error) -> Self {
        CaError::Generate(cause)
    }
}

/// What to issue a certificate for.
#[derive(Debug, Clone)]
pub enum Subject {
    /// The controller's server certificate, valid for these DNS names and IPs.
    Controller { names: Vec<String> },
    /// An agent; the name is the host id the agent reports as.
    Agent { host_id: String },
    /// An admin (CLI user).
    Admin { name: String },
}

/// Paths of an issued certificate and key.
#[derive(Debug, Clone)]
pub struct Issued {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Creates a new CA in `dir` (created if missing). Never overwrites one.
pub fn init(dir: &Path, common_name: &str, days: i64) -> Result<Issued, CaError> {
    let cert_path = dir.join(CA_CERT);
    let key_path = dir.join(CA_KEY);
    for path in [&cert_path, &key_path] {
        if path.exists() {
            return Err(CaError::Exists { path: path.clone() });
        }
    }
    std::fs::create_dir_all(dir).map_err(|cause| CaError::Io { path: dir.into(), cause })?;
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::default();
    params.distinguished_name = dn(common_name);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    validity(&mut params, days);
    let cert = params.self_signed(&key)?;
    write_private(&key_path, key.serialize_pem().as_bytes(), false)?;
    write_private(&cert_path, cert.pem().as_bytes(), false)?;
    Ok(Issued { cert: cert_path, key: key_path })
}

/// Issues a leaf certificate signed by the CA in `dir`.
///
/// Files go to `dir/controller.{crt,key}`, `dir/agents/HOST.{crt,key}` or
/// `dir/admins/NAME.{crt,key}`.
pub fn issue(dir: &Path, subject: &Subject, days: i64, force: bool) -> Result<Issued, CaError> {
    issue_as(dir, subject, None, days, force)
}

/// Where the certificates of several controllers sharing one database go,
/// one pair each: `dir/controllers/ID.{crt,key}`.
pub const CONTROLLERS: &str = "controllers";

/// A controller's server certificate for `names`: `dir/controller.{crt,key}`,
/// or with `id` (several controllers, each with its own pair)
/// `dir/controllers/ID.{crt,key}`, so issuing the next one does not
/// replace the last and `ca renew --controller` finds them all.
pub fn issue_controller(
    dir: &Path,
    names: &[String],
    id: Option<&str>,
    days: i64,
    force: bool,
) -> Result<Issued, CaError> {
    let stem = match id {
        Some(id) => {
            // Ids share the host id alphabet: they end up in file names.
            check_host_id(id).map_err(|reason| bad_name(id, &reason))?;
            Some(format!("{CONTROLLERS}/{id}"))
        }
        None => None,
    };
    issue_as(dir, &Subject::Controller { names: names.to_vec() }, stem, days, force)
}

/// [`issue`] with the files' path under `dir` (without extension) chosen
/// by the caller instead of by the subject.
pub(crate) fn issue_as(
    dir: &Path,
    subject: &Subject,
    stem: Option<String>,
    days: i64,
    force: bool,
) -> Result<Issued, CaError> {
    let issuer = load_issuer(dir)?;
    let (params, subject_stem) = leaf_params(subject, days)?;
    let stem = stem.unwrap_or(subject_stem);
    let cert_path = dir.join(format!("{stem}.crt"));
    let key_path = dir.join(format!("{stem}.key"));
    if !force {
        for path in [&cert_path, &key_path] {
            if path.exists() {
                return Err(CaError::Exists { path: path.clone() });
            }
        }
    }
    if let Some(parent) = cert_path.parent() {
        std::fs::create_dir_all(parent).map_err(|cause| CaError::Io { path: parent.into(), cause })?;
    }
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &issuer)?;
    write_private(&key_path, key.serialize_pem().as_bytes(), force)?;
    write_private(&cert_path, cert.pem().as_bytes(), force)?;
    Ok(Issued { cert: cert_path, key: key_path })
}

fn load_issuer(dir: &Path) -> Result<Issuer<'static, KeyPair>, CaError> {
    let cert_path = dir.join(CA_CERT);
    let key_path = dir.join(CA_KEY);
    if !cert_path.exists() || !key_path.exists() {
        return Err(CaError::NoCa { dir: dir.into() });
    }
    let read = |path: &Path| std::fs::read_to_string(path).map_err(|cause| CaError::Io { path: path.into(), cause });
    let key = KeyPair::from_pem(&read(&key_path)?).map_err(|cause| CaError::BadCa { path: key_path.clone(), cause })?;
    Issuer::from_ca_cert_pem(&read(&cert_path)?, key).map_err(|cause| CaError::BadCa { path: cert_path, cause })
}

fn leaf_params(subject: &Subject, days: i64) -> Result<(CertificateParams, String), CaError> {
    let mut params = CertificateParams::default();
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    validity(&mut params, days);
    let stem = match subject {
        Subject::Controller { names } => {
            if names.is_empty() {
                return Err(bad_name("", "the controller certificate needs at least one DNS name or IP"));
            }
            for name in names {
                let san = match name.parse::<IpAddr>() {
                    Ok(ip) => SanType::IpAddress(ip),
                    Err(_) => SanType::DnsName(name.clone().try_into().map_err(|_| bad_name(name, "not a DNS name"))?),
                };
                params.subject_alt_names.push(san);
            }
            params.distinguished_name = dn(&names[0]);
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
            "controller".to_string()
        }
        Subject::Agent { host_id } => {
            check_host_id(host_id).map_err(|reason| bad_name(host_id, &reason))?;
            client_identity(&mut params, &Identity { role: Role::Agent, name: host_id.clone() })?;
            format!("agents/{host_id}")
        }
        Subject::Admin { name } => {
            // Admin names share the host id alphabet: they end up in file names.
            check_host_id(name).map_err(|reason| bad_name(name, &reason))?;
            client_identity(&mut params, &Identity { role: Role::Admin, name: name.clone() })?;
            format!("admins/{name}")
        }
    };
    Ok((params, stem))
}

fn client_identity(params: &mut CertificateParams, identity: &Identity) -> Result<(), CaError> {
    params.distinguished_name = dn(&identity.name);
    let uri = identity.uri();
    params.subject_alt_names = vec![SanType::URI(uri.clone().try_into().map_err(|_| bad_name(&uri, "not a URI"))?)];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    Ok(())
}

fn bad_name(name: &str, reason: &str) -> CaError {
    CaError::BadName { name: name.to_string(), reason: reason.to_string() }
}

fn dn(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "rblfleet");
    dn.push(DnType::CommonName, common_name);
    dn
}

fn validity(params: &mut CertificateParams, days: i64) {
    let now = OffsetDateTime::now_utc();
    // Backdate a little: a host whose clock is a few minutes behind must not
    // see a certificate that is "not yet valid".
    params.not_before = now - Duration::hours(1);
    params.not_after = now + Duration::days(days);
}

/// File name of the containment action key in a CA directory.
pub const ACTION_KEY: &str = "actions.key";

/// Creates the Ed25519 key that signs containment actions (issue 16) as
/// DIR/actions.key (PKCS#8, 0600; refuses to overwrite one) and returns its
/// public key, which every agent that may act is configured with.
pub fn action_key(dir: &Path) -> Result<(PathBuf, [u8; 32]), CaError> {
    let path = dir.join(ACTION_KEY);
    let der = rblfleet_proto::action::generate_key()
        .map_err(|e| CaError::Io { path: path.clone(), cause: std::io::Error::other(e.to_string()) })?;
    let key = rblfleet_proto::action::ActionKey::from_pkcs8(&der)
        .map_err(|e| CaError::Io { path: path.clone(), cause: std::io::Error::other(e.to_string()) })?;
    if path.exists() {
        return Err(CaError::Exists { path });
    }
    std::fs::create_dir_all(dir).map_err(|cause| CaError::Io { path: dir.into(), cause })?;
    write_private(&path, &der, false)?;
    Ok((path, key.public_key()))
}

/// Writes `bytes` to a new file readable by its owner only.
fn write_private(path: &Path, bytes: &[u8], overwrite: bool) -> Result<(), CaError> {
    let io = |cause| CaError::Io { path: path.into(), cause };
    let mut options = OpenOptions::new();
    options.write(true);
    if overwrite {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        let mut file = options.open(path).map_err(io)?;
        // An overwritten file keeps its old mode; force 0600 either way.
        file.set_permissions(std::fs::Permissions::from_mode(0o600)).map_err(io)?;
        file.write_all(bytes).map_err(io)?;
        file.sync_all().map_err(io)
    }
    #[cfg(not(unix))]
    {
        let mut file = options.open(path).map_err(io)?;
        file.write_all(bytes).map_err(io)?;
        file.sync_all().map_err(io)
    }
}

#[cfg(test)]
mod tests;
