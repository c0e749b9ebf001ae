//! `AdminService`: what the CLI reads.

use rblfleet_proto::v1::admin_service_server::AdminService;
use rblfleet_proto::v1::{
    GetHostRequest, GetHostResponse, GetIpRequest, GetIpResponse, ListHostsRequest, ListHostsResponse,
    ListZonesRequest, ListZonesResponse, NamedReason,
};
use tonic::{Request, Response, Status};

use crate::dnsbl::engine::Engine;
use crate::identity::Role;
use crate::ingest::validate::{check_host_id, truncate};
use crate::store::Store;

#[derive(Debug)]
pub(super) struct AdminApi {
    store: Store,
    engine: Option<Engine>,
    require_cert: bool,
}

impl AdminApi {
    pub(super) fn new(store: Store, engine: Option<Engine>, require_cert: bool) -> Self {
        AdminApi { store, engine, require_cert }
    }

    fn engine(&self) -> Result<&Engine, Status> {
        self.engine.as_ref().ok_or_else(|| {
            Status::failed_precondition("blocklist checks are disabled on this controller (dnsbl.enabled = false)")
        })
    }

    fn authorize<T>(&self, request: &Request<T>) -> Result<(), Status> {
        if self.require_cert {
            super::peer_identity(request, Role::Admin)?;
        }
        Ok(())
    }
}

#[tonic::async_trait]
impl AdminService for AdminApi {
    async fn list_hosts(&self, request: Request<ListHostsRequest>) -> Result<Response<ListHostsResponse>, Status> {
        self.authorize(&request)?;
        let hosts = self.store.list_hosts().map_err(|e| super::storage_status(&e))?;
        Ok(Response::new(ListHostsResponse { hosts }))
    }

    async fn get_host(&self, request: Request<GetHostRequest>) -> Result<Response<GetHostResponse>, Status> {
        self.authorize(&request)?;
        let host_id = request.into_inner().host_id;
        check_host_id(&host_id)
            .map_err(|reason| Status::invalid_argument(format!("host id {:?} {reason}", truncate(&host_id, 64))))?;
        match self.store.get_host(&host_id).map_err(|e| super::storage_status(&e))? {
            Some((summary, last_report)) => Ok(Response::new(GetHostResponse { summary: Some(summary), last_report })),
            None => Err(Status::not_found(format!("no host {host_id:?} has reported to this controller"))),
        }
    }

    async fn list_zones(&self, request: Request<ListZonesRequest>) -> Result<Response<ListZonesResponse>, Status> {
        self.authorize(&request)?;
        let engine = self.engine()?;
        Ok(Response::new(ListZonesResponse {
            zones: engine.zone_health(),
            nameservers: engine.lookups().nameservers().iter().map(ToString::to_string).collect(),
            warnings: engine.warnings().to_vec(),
        }))
    }

    async fn get_ip(&self, request: Request<GetIpRequest>) -> Result<Response<GetIpResponse>, Status> {
        self.authorize(&request)?;
        let engine = self.engine()?;
        let text = request.into_inner().ip;
        let ip: std::net::IpAddr = text
            .parse()
            .map_err(|_| Status::invalid_argument(format!("{:?} is not an IP address", truncate(&text, 64))))?;
        let key = ip.to_string();
        let storage = |e: crate::store::StoreError| super::storage_status(&e);
        let hosts = engine.watched().map_err(storage)?.remove(&ip).unwrap_or_default();
        let checks = self.store.ip_checks(&key).map_err(storage)?;
        let mut episodes = self.store.ip_episodes(&key).map_err(storage)?;
        episodes.sort_by_key(|e| std::cmp::Reverse(e.first_seen_ms));
        let not_covered =
            engine.not_covered(ip).into_iter().map(|(name, reason)| NamedReason { name, reason }).collect();
        Ok(Response::new(GetIpResponse { ip: key, hosts, checks, episodes, not_covered }))
    }
}
