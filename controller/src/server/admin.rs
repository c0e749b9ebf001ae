//! `AdminService`: what the CLI reads.

use rblfleet_proto::v1::admin_service_server::AdminService;
use rblfleet_proto::v1::{
    ActionRecord, BackupRequest, Case, ContainRequest, GetActionRequest, GetCaseRequest, GetDomainRequest,
    GetDomainResponse, GetHostRequest, GetHostResponse, GetIpRequest, GetIpResponse, ListActionsRequest,
    ListActionsResponse, ListCasesRequest, ListCasesResponse, ListHostsRequest, ListHostsResponse, ListZonesRequest,
    ListZonesResponse, ReportRequest, ReportResponse, UpdateCaseRequest,
};
use tonic::{Request, Response, Status};

use crate::contain::{ContainError, Containment};

use std::sync::Arc;

use crate::cases::{self, Action, CaseError, Change};
use crate::catalog::{Catalog, Target};
use crate::dnsbl::engine::Engine;
use crate::identity::Role;
use crate::identity::check_host_id;
use crate::ingest::validate::truncate;
use crate::store::Store;
use crate::views::{self, Context};

#[derive(Debug)]
pub(super) struct AdminApi {
    store: Store,
    engine: Option<Engine>,
    catalog: Arc<Catalog>,
    require_cert: bool,
    containment: Arc<Containment>,
}

impl AdminApi {
    pub(super) fn new(
        store: Store,
        engine: Option<Engine>,
        catalog: Arc<Catalog>,
        require_cert: bool,
        containment: Arc<Containment>,
    ) -> Self {
        AdminApi { store, engine, catalog, require_cert, containment }
    }

    fn engine(&self) -> Result<&Engine, Status> {
        self.engine.as_ref().ok_or_else(|| {
            Status::failed_precondition("blocklist checks are disabled on this controller (dnsbl.enabled = false)")
        })
    }

    /// Checks the caller and returns who it is: the admin certificate's name,
    /// or "local" on the loopback plaintext API.
    fn authorize<T>(&self, request: &Request<T>) -> Result<String, Status> {
        if self.require_cert {
            return Ok(super::peer_identity(request, Role::Admin)?.name);
        }
        Ok("local".into())
    }

    fn context(&self) -> Context<'_> {
        Context {
            store: &self.store,
            catalog: &self.catalog,
            engine: self.engine.as_ref(),
            now_ms: crate::clock::now_ms(),
        }
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
        match views::host_view(&self.context(), &host_id).map_err(|e| super::storage_status(&e))? {
            Some(view) => Ok(Response::new(view)),
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
        let text = request.into_inner().ip;
        let ip: std::net::IpAddr = text
            .parse()
            .map_err(|_| Status::invalid_argument(format!("{:?} is not an IP address", truncate(&text, 64))))?;
        let view = views::ip_view(&self.context(), ip).map_err(|e| super::storage_status(&e))?;
        Ok(Response::new(view))
    }

    async fn get_domain(&self, request: Request<GetDomainRequest>) -> Result<Response<GetDomainResponse>, Status> {
        self.authorize(&request)?;
        let text = request.into_inner().domain;
        let domain = match Target::parse(&text) {
            Ok(Target::Domain(name)) => name,
            Ok(Target::Ip(_)) => {
                return Err(Status::invalid_argument(format!(
                    "{:?} is an IP address; use `rblfleet ip`",
                    truncate(&text, 64)
                )));
            }
            Err(e) => return Err(Status::invalid_argument(truncate(&e.to_string(), 200))),
        };
        let view = views::domain_view(&self.context(), &domain).map_err(|e| super::storage_status(&e))?;
        Ok(Response::new(view))
    }

    async fn report(&self, request: Request<ReportRequest>) -> Result<Response<ReportResponse>, Status> {
        self.authorize(&request)?;
        let report = views::fleet_report(&self.context(), request.get_ref()).map_err(|e| super::storage_status(&e))?;
        Ok(Response::new(report))
    }

    async fn list_cases(&self, request: Request<ListCasesRequest>) -> Result<Response<ListCasesResponse>, Status> {
        self.authorize(&request)?;
        let cases = views::list_cases(&self.context(), request.get_ref()).map_err(|e| super::storage_status(&e))?;
        Ok(Response::new(ListCasesResponse { cases }))
    }

    async fn get_case(&self, request: Request<GetCaseRequest>) -> Result<Response<Case>, Status> {
        self.authorize(&request)?;
        let id = request.into_inner().id;
        match views::case_view(&self.context(), id).map_err(|e| super::storage_status(&e))? {
            Some(case) => Ok(Response::new(case)),
            None => Err(Status::not_found(format!("no case {id}"))),
        }
    }

    async fn update_case(&self, request: Request<UpdateCaseRequest>) -> Result<Response<Case>, Status> {
        let who = self.authorize(&request)?;
        let r = request.into_inner();
        let action: Action = r.action.parse().map_err(|e: CaseError| Status::invalid_argument(e.to_string()))?;
        let case = self
            .store
            .case(r.id)
            .map_err(|e| super::storage_status(&e))?
            .ok_or_else(|| Status::not_found(format!("no case {}", r.id)))?;
        let some = |s: &str| (!s.trim().is_empty()).then_some(s.to_string());
        let (note, reference, reason) = (some(&r.note), some(&r.r#ref), some(&r.reason));
        let change =
            Change { who: &who, note: note.as_deref(), reference: reference.as_deref(), reason: reason.as_deref() };
        let updated = cases::apply(&case, action, &change, crate::clock::now_ms())
            .map_err(|e| Status::failed_precondition(e.to_string()))?;
        self.store.put_case(&updated).map_err(|e| super::storage_status(&e))?;
        tracing::info!(case = updated.id, %who, action = %r.action, "case updated");
        Ok(Response::new(updated))
    }

    async fn contain(&self, request: Request<ContainRequest>) -> Result<Response<ActionRecord>, Status> {
        let who = self.authorize(&request)?;
        let r = request.into_inner();
        let record = self.containment.request(&self.store, &r, &who, crate::clock::now_ms()).map_err(|e| match e {
            ContainError::Store(e) => super::storage_status(&e),
            e @ (ContainError::UnknownHost(_) | ContainError::NotFound(_)) => Status::not_found(e.to_string()),
            e @ (ContainError::BadOp(_) | ContainError::UnknownKind(_) | ContainError::Missing { .. }) => {
                Status::invalid_argument(e.to_string())
            }
            e => Status::failed_precondition(e.to_string()),
        })?;
        let id = record.action.as_ref().map(|a| a.id.clone()).unwrap_or_default();
        tracing::info!(%who, op = %r.op, %id, state = %record.state, "containment step");
        Ok(Response::new(record))
    }

    async fn get_action(&self, request: Request<GetActionRequest>) -> Result<Response<ActionRecord>, Status> {
        self.authorize(&request)?;
        let id = request.into_inner().id;
        match self.store.action(&id).map_err(|e| super::storage_status(&e))? {
            Some(record) => Ok(Response::new(record)),
            None => Err(Status::not_found(format!("no action {id}"))),
        }
    }

    async fn list_actions(
        &self,
        request: Request<ListActionsRequest>,
    ) -> Result<Response<ListActionsResponse>, Status> {
        self.authorize(&request)?;
        let host = request.into_inner().host_id;
        let host = (!host.is_empty()).then_some(host.as_str());
        let actions = self.store.actions(host).map_err(|e| super::storage_status(&e))?;
        Ok(Response::new(ListActionsResponse { actions }))
    }

    type BackupStream = super::backup::BackupStream;

    async fn backup(&self, request: Request<BackupRequest>) -> Result<Response<Self::BackupStream>, Status> {
        let who = self.authorize(&request)?;
        tracing::info!(%who, "backup requested");
        Ok(Response::new(super::backup::start(self.store.clone(), who)))
    }
}
