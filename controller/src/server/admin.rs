//! `AdminService`: what the CLI reads.

use rblfleet_proto::v1::admin_service_server::AdminService;
use rblfleet_proto::v1::{GetHostRequest, GetHostResponse, ListHostsRequest, ListHostsResponse};
use tonic::{Request, Response, Status};

use crate::identity::Role;
use crate::ingest::validate::{check_host_id, truncate};
use crate::store::Store;

#[derive(Debug)]
pub(super) struct AdminApi {
    store: Store,
    require_cert: bool,
}

impl AdminApi {
    pub(super) fn new(store: Store, require_cert: bool) -> Self {
        AdminApi {
            store,
            require_cert,
        }
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
    async fn list_hosts(
        &self,
        request: Request<ListHostsRequest>,
    ) -> Result<Response<ListHostsResponse>, Status> {
        self.authorize(&request)?;
        let hosts = self
            .store
            .list_hosts()
            .map_err(|e| super::storage_status(&e))?;
        Ok(Response::new(ListHostsResponse { hosts }))
    }

    async fn get_host(
        &self,
        request: Request<GetHostRequest>,
    ) -> Result<Response<GetHostResponse>, Status> {
        self.authorize(&request)?;
        let host_id = request.into_inner().host_id;
        check_host_id(&host_id).map_err(|reason| {
            Status::invalid_argument(format!("host id {:?} {reason}", truncate(&host_id, 64)))
        })?;
        match self
            .store
            .get_host(&host_id)
            .map_err(|e| super::storage_status(&e))?
        {
            Some((summary, last_report)) => Ok(Response::new(GetHostResponse {
                summary: Some(summary),
                last_report,
            })),
            None => Err(Status::not_found(format!(
                "no host {host_id:?} has reported to this controller"
            ))),
        }
    }
}
