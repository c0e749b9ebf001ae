//! The CLI's connection to a running controller's admin API.
//! The only module on the client side of tonic in the controller crate.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rblfleet_proto::v1::admin_service_client::AdminServiceClient;
use rblfleet_proto::v1::{
    ActionRecord, BackupChunk, BackupRequest, Case, ContainRequest, GetActionRequest, GetCaseRequest, GetDomainRequest,
    GetDomainResponse, GetHostRequest, GetHostResponse, GetIpRequest, GetIpResponse, HostSummary, ListActionsRequest,
    ListCasesRequest, ListHostsRequest, ListZonesRequest, ListZonesResponse, ReportRequest, ReportResponse,
    UpdateCaseRequest,
};
use rblfleet_shell::connect_failure::{Client, Diagnosis, diagnose};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

/// The default admin API address (`admin_api.listen`'s default).
pub const DEFAULT_ADMIN_URL: &str = "http://127.0.0.1:7444";

/// Where and how to reach the admin API.
#[derive(Debug, Clone, Default)]
pub struct AdminEndpoint {
    /// `http://HOST:PORT` (loopback, plaintext) or `https://HOST:PORT` (mTLS).
    pub url: String,
    /// For https: the fleet CA, and this admin's certificate and key.
    pub ca: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

/// Why a CLI command could not get its answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{url} is not a valid controller address: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("{0}")]
    Config(String),
    #[error("cannot read {path}: {cause}")]
    Read { path: PathBuf, cause: std::io::Error },
    /// No answer from the admin API, named for why: nothing listening,
    /// DNS, a timeout, or which side's certificate the TLS handshake refused.
    #[error("cannot reach the rblfleet controller's admin API at {url}: {diagnosis}")]
    Unreachable { url: String, diagnosis: Diagnosis },
    #[error("the controller refused: {message} ({code:?})")]
    Refused { code: tonic::Code, message: String },
    #[error("{0}")]
    NotFound(String),
}

/// A connected admin client.
#[derive(Debug, Clone)]
pub struct AdminClient {
    inner: AdminServiceClient<Channel>,
    url: String,
}

impl AdminClient {
    /// Connects, failing fast with a one-line reason when nothing listens.
    pub async fn connect(endpoint: &AdminEndpoint) -> Result<AdminClient, ClientError> {
        let url = endpoint.url.clone();
        let bad_url = |reason: String| ClientError::BadUrl { url: url.clone(), reason };
        let mut ep = Endpoint::from_shared(url.clone())
            .map_err(|e| bad_url(e.to_string()))?
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(60));
        if url.starts_with("https://") {
            let (Some(ca), Some(cert), Some(key)) = (&endpoint.ca, &endpoint.cert, &endpoint.key) else {
                return Err(ClientError::Config(format!(
                    "{url} uses TLS: give --ca, --cert and --key (RBLFLEET_CA, RBLFLEET_CERT, RBLFLEET_KEY) for an admin certificate from `rblfleet ca issue --admin NAME`"
                )));
            };
            let tls = ClientTlsConfig::new()
                .ca_certificate(Certificate::from_pem(read(ca)?))
                .identity(Identity::from_pem(read(cert)?, read(key)?));
            ep =
                ep.tls_config(tls).map_err(|e| ClientError::Config(format!("TLS setup failed: {}", root_cause(&e))))?;
        } else if !url.starts_with("http://") {
            return Err(bad_url("use http://HOST:PORT (loopback) or https://HOST:PORT".into()));
        }
        let channel = ep.connect().await.map_err(|e| unreachable(&url, &e))?;
        Ok(AdminClient { inner: AdminServiceClient::new(channel), url })
    }

    pub async fn list_hosts(&mut self) -> Result<Vec<HostSummary>, ClientError> {
        let response = self.inner.list_hosts(ListHostsRequest {}).await.map_err(|s| self.status(s))?;
        Ok(response.into_inner().hosts)
    }

    pub async fn get_host(&mut self, host_id: &str) -> Result<GetHostResponse, ClientError> {
        let response =
            self.inner.get_host(GetHostRequest { host_id: host_id.to_string() }).await.map_err(|s| self.status(s))?;
        Ok(response.into_inner())
    }

    pub async fn list_zones(&mut self) -> Result<ListZonesResponse, ClientError> {
        let response = self.inner.list_zones(ListZonesRequest {}).await.map_err(|s| self.status(s))?;
        Ok(response.into_inner())
    }

    pub async fn get_ip(&mut self, ip: &str) -> Result<GetIpResponse, ClientError> {
        let response = self.inner.get_ip(GetIpRequest { ip: ip.to_string() }).await.map_err(|s| self.status(s))?;
        Ok(response.into_inner())
    }

    pub async fn get_domain(&mut self, domain: &str) -> Result<GetDomainResponse, ClientError> {
        let request = GetDomainRequest { domain: domain.to_string() };
        let response = self.inner.get_domain(request).await.map_err(|s| self.status(s))?;
        Ok(response.into_inner())
    }

    pub async fn report(&mut self, request: ReportRequest) -> Result<ReportResponse, ClientError> {
        let response = self.inner.report(request).await.map_err(|s| self.status(s))?;
        Ok(response.into_inner())
    }

    pub async fn list_cases(&mut self, request: ListCasesRequest) -> Result<Vec<Case>, ClientError> {
        let response = self.inner.list_cases(request).await.map_err(|s| self.status(s))?;
        Ok(response.into_inner().cases)
    }

    pub async fn get_case(&mut self, id: u64) -> Result<Case, ClientError> {
        let response = self.inner.get_case(GetCaseRequest { id }).await.map_err(|s| self.status(s))?;
        Ok(response.into_inner())
    }

    pub async fn update_case(&mut self, request: UpdateCaseRequest) -> Result<Case, ClientError> {
        let response = self.inner.update_case(request).await.map_err(|s| self.status(s))?;
        Ok(response.into_inner())
    }

    /// One containment step (`rblfleet contain plan|apply|undo`).
    pub async fn contain(&mut self, request: ContainRequest) -> Result<ActionRecord, ClientError> {
        let response = self.inner.contain(request).await.map_err(|s| self.status(s))?;
        Ok(response.into_inner())
    }

    pub async fn get_action(&mut self, id: &str) -> Result<ActionRecord, ClientError> {
        let response =
            self.inner.get_action(GetActionRequest { id: id.to_string() }).await.map_err(|s| self.status(s))?;
        Ok(response.into_inner())
    }

    pub async fn list_actions(&mut self, host_id: &str) -> Result<Vec<ActionRecord>, ClientError> {
        let request = ListActionsRequest { host_id: host_id.to_string() };
        let response = self.inner.list_actions(request).await.map_err(|s| self.status(s))?;
        Ok(response.into_inner().actions)
    }

    /// Starts a backup; its bytes arrive through `BackupDownload::next_chunk`.
    pub async fn backup(&mut self) -> Result<BackupDownload, ClientError> {
        let response = self.inner.backup(BackupRequest {}).await.map_err(|s| self.status(s))?;
        Ok(BackupDownload { stream: response.into_inner(), client: self.clone() })
    }

    fn status(&self, status: tonic::Status) -> ClientError {
        match status.code() {
            tonic::Code::NotFound => ClientError::NotFound(status.message().to_string()),
            // Under TLS 1.3 a refused admin certificate arrives here, as an
            // alert at the first call, not at connect.
            tonic::Code::Unavailable | tonic::Code::Unknown
                if status.message().contains("transport")
                    || status.message().is_empty()
                    || std::error::Error::source(&status).is_some() =>
            {
                unreachable(&self.url, &status)
            }
            code => ClientError::Refused { code, message: status.message().to_string() },
        }
    }
}

fn read(path: &Path) -> Result<Vec<u8>, ClientError> {
    std::fs::read(path).map_err(|cause| ClientError::Read { path: path.into(), cause })
}

/// A connection failure named for what it is (see `rblfleet_shell::connect_failure`).
fn unreachable(url: &str, error: &(dyn std::error::Error + 'static)) -> ClientError {
    let diagnosis = diagnose(error, url.starts_with("https://"), Client::Admin);
    ClientError::Unreachable { url: url.to_string(), diagnosis }
}

/// The innermost cause: "Connection refused (os error 111)" rather than "transport error".
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// A backup streaming in from the controller.
#[derive(Debug)]
pub struct BackupDownload {
    stream: tonic::Streaming<BackupChunk>,
    client: AdminClient,
}

impl BackupDownload {
    /// The next bytes of the backup file; `None` once it is complete.
    pub async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, ClientError> {
        match self.stream.message().await {
            Ok(chunk) => Ok(chunk.map(|c| c.data)),
            Err(status) => Err(self.client.status(status)),
        }
    }
}
