//! A small authoritative DNS server for DNSBL-style zones, on UDP.
//!
//! `rblfleet demo`, the tests and the benchmarks need blocklists they control:
//! listings that appear and disappear, zones that answer SERVFAIL or never
//! answer, zones that list everything, answers delayed like a distant
//! server's, and a count of the queries each zone saw (to prove budgets).
//! It answers A and TXT queries from an in-memory table; it is not a general
//! DNS server, and binds wherever its caller says (loopback in tests).
//!
//! Zones hold IP entries ([`ZoneServer::list`], the reversed address) and
//! domain entries ([`ZoneServer::list_name`], the name as written, IDN in
//! punycode), so one server plays DBL-, SURBL- and URIBL-style lists too. A
//! zone can be wildcarded ([`ZoneServer::set_wildcard`]) the way the DBL is:
//! a listed domain's host names then answer as the domain does.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

use crate::catalog::reverse_name;

/// How a served zone behaves.
#[derive(Debug, Clone, PartialEq)]
pub enum Behaviour {
    /// Answers from its table: listed entries get their A/TXT records, the rest NXDOMAIN.
    Normal,
    /// Every query gets SERVFAIL.
    ServFail,
    /// Every query gets REFUSED.
    Refused,
    /// Queries are dropped, so clients time out.
    Silent,
    /// Every name is "listed" with this A record (a dead or hijacked zone).
    ListsEverything(Ipv4Addr),
}

#[derive(Debug, Clone, Default)]
struct Entry {
    a: Vec<Ipv4Addr>,
    txt: Option<String>,
}

#[derive(Debug)]
struct ZoneState {
    origin: Name,
    behaviour: Behaviour,
    entries: HashMap<Name, Entry>,
    /// A name under a listed name answers as the listed name (DBL style).
    wildcard: bool,
    queries: u64,
}

impl ZoneState {
    /// The entry answering `name`: its own, or with a wildcard the nearest
    /// listed name above it (never the zone's origin itself).
    fn entry(&self, name: &Name) -> Option<&Entry> {
        if let Some(entry) = self.entries.get(name) {
            return Some(entry);
        }
        if !self.wildcard {
            return None;
        }
        let mut parent = name.base_name();
        while parent.num_labels() > self.origin.num_labels() {
            if let Some(entry) = self.entries.get(&parent) {
                return Some(entry);
            }
            parent = parent.base_name();
        }
        None
    }
}

#[derive(Debug, Default)]
struct State {
    zones: Vec<ZoneState>,
    delay: Duration,
    unmatched: u64,
}

/// A running zone server; dropped, it stops.
#[derive(Debug)]
pub struct ZoneServer {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: JoinHandle<()>,
}

impl Drop for ZoneServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Errors of the zone server's setup.
#[derive(Debug, thiserror::Error)]
pub enum ZoneServerError {
    #[error("cannot bind the DNS server to {addr}: {cause}")]
    Bind { addr: SocketAddr, cause: std::io::Error },
    #[error("{0:?} is not a DNS name")]
    BadName(String),
}

impl ZoneServer {
    /// Binds `addr` (port 0 picks one) and starts answering.
    pub async fn start(addr: SocketAddr) -> Result<ZoneServer, ZoneServerError> {
        let socket = UdpSocket::bind(addr).await.map_err(|cause| ZoneServerError::Bind { addr, cause })?;
        let addr = socket.local_addr().map_err(|cause| ZoneServerError::Bind { addr, cause })?;
        let state = Arc::new(Mutex::new(State::default()));
        let task = tokio::spawn(serve(Arc::new(socket), state.clone()));
        Ok(ZoneServer { addr, state, task })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Adds (or resets) a zone with the RFC 5782 test points: 127.0.0.2 listed
    /// (A 127.0.0.2 and a TXT), 127.0.0.1 not.
    pub fn add_zone(&self, zone: &str) -> Result<(), ZoneServerError> {
        let origin = fqdn(zone)?;
        let mut state = self.lock();
        state.zones.retain(|z| z.origin != origin);
        state.zones.push(ZoneState {
            origin,
            behaviour: Behaviour::Normal,
            entries: HashMap::new(),
            wildcard: false,
            queries: 0,
        });
        // Longest origin first, so "a.b.example" wins over "b.example".
        state.zones.sort_by_key(|z| std::cmp::Reverse(z.origin.num_labels()));
        drop(state);
        self.list(zone, IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)), &[Ipv4Addr::new(127, 0, 0, 2)], Some("test point"))
    }

    pub fn set_behaviour(&self, zone: &str, behaviour: Behaviour) -> Result<(), ZoneServerError> {
        self.with_zone(zone, |z| z.behaviour = behaviour)
    }

    /// Lists `ip` in `zone` with these A records and TXT.
    pub fn list(&self, zone: &str, ip: IpAddr, codes: &[Ipv4Addr], txt: Option<&str>) -> Result<(), ZoneServerError> {
        let name = fqdn(&format!("{}.{zone}", reverse_name(ip)))?;
        let entry = Entry { a: codes.to_vec(), txt: txt.map(str::to_string) };
        self.with_zone(zone, |z| {
            z.entries.insert(name, entry);
        })
    }

    /// Removes `ip` from `zone`.
    pub fn unlist(&self, zone: &str, ip: IpAddr) -> Result<(), ZoneServerError> {
        let name = fqdn(&format!("{}.{zone}", reverse_name(ip)))?;
        self.with_zone(zone, |z| {
            z.entries.remove(&name);
        })
    }

    /// Lists the domain `name` in `zone`: the query `<name>.<zone>` gets
    /// these A records and TXT. `name` is a domain in either IDN form (it is
    /// served in punycode, as resolvers ask) or a test name such as `test`.
    pub fn list_name(
        &self,
        zone: &str,
        name: &str,
        codes: &[Ipv4Addr],
        txt: Option<&str>,
    ) -> Result<(), ZoneServerError> {
        let name = domain_entry(zone, name)?;
        let entry = Entry { a: codes.to_vec(), txt: txt.map(str::to_string) };
        self.with_zone(zone, |z| {
            z.entries.insert(name, entry);
        })
    }

    /// Removes the domain `name` from `zone`.
    pub fn unlist_name(&self, zone: &str, name: &str) -> Result<(), ZoneServerError> {
        let name = domain_entry(zone, name)?;
        self.with_zone(zone, |z| {
            z.entries.remove(&name);
        })
    }

    /// Wildcards `zone` (or stops): with it, a listed name also lists every
    /// name under it, as the DBL and its DQS twin do. Off by default, as on
    /// SURBL and URIBL, which answer only the name asked.
    pub fn set_wildcard(&self, zone: &str, wildcard: bool) -> Result<(), ZoneServerError> {
        self.with_zone(zone, |z| z.wildcard = wildcard)
    }

    /// Delays every answer by `delay` (answers are still concurrent).
    pub fn set_delay(&self, delay: Duration) {
        self.lock().delay = delay;
    }

    /// Queries `zone` has received (answered or not).
    pub fn queries(&self, zone: &str) -> u64 {
        let Ok(origin) = fqdn(zone) else { return 0 };
        self.lock().zones.iter().find(|z| z.origin == origin).map_or(0, |z| z.queries)
    }

    /// Queries for names outside every zone (answered REFUSED).
    pub fn unmatched_queries(&self) -> u64 {
        self.lock().unmatched
    }

    fn with_zone(&self, zone: &str, f: impl FnOnce(&mut ZoneState)) -> Result<(), ZoneServerError> {
        let origin = fqdn(zone)?;
        let mut state = self.lock();
        let z = state
            .zones
            .iter_mut()
            .find(|z| z.origin == origin)
            .ok_or_else(|| ZoneServerError::BadName(format!("{zone} (not added)")))?;
        f(z);
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // A panic while holding the lock cannot leave the table half-written in a
    // way that matters to a test server; keep serving.
    state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The owner name of a domain entry: `name` (Unicode or punycode) under `zone`.
fn domain_entry(zone: &str, name: &str) -> Result<Name, ZoneServerError> {
    let bad = || ZoneServerError::BadName(name.to_string());
    let name = name.trim().trim_end_matches('.');
    if name.is_empty() {
        return Err(bad());
    }
    // from_utf8 applies IDNA (UTS 46): "bücher.example" becomes "xn--bcher-kva.example".
    let label = Name::from_utf8(name).map_err(|_| bad())?;
    let zone = fqdn(zone)?;
    let mut full = label.append_domain(&zone).map_err(|_| bad())?;
    full.set_fqdn(true);
    Ok(full.to_lowercase())
}

fn fqdn(name: &str) -> Result<Name, ZoneServerError> {
    let mut parsed = Name::from_ascii(name).map_err(|_| ZoneServerError::BadName(name.to_string()))?;
    parsed.set_fqdn(true);
    Ok(parsed.to_lowercase())
}

async fn serve(socket: Arc<UdpSocket>, state: Arc<Mutex<State>>) {
    let mut buf = vec![0u8; 4096];
    loop {
        let Ok((len, peer)) = socket.recv_from(&mut buf).await else { continue };
        let Ok(request) = Message::from_vec(&buf[..len]) else { continue };
        let (response, delay) = {
            let mut state = lock(&state);
            (answer(&mut state, &request), state.delay)
        };
        let Some(response) = response else { continue };
        let Ok(bytes) = response.to_vec() else { continue };
        if delay.is_zero() {
            let _ = socket.send_to(&bytes, peer).await;
        } else {
            let socket = socket.clone();
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                let _ = socket.send_to(&bytes, peer).await;
            });
        }
    }
}

/// The response to `request`, or None to stay silent.
fn answer(state: &mut State, request: &Message) -> Option<Message> {
    let id = request.metadata.id;
    let Some(query) = request.queries.first() else {
        return Some(Message::error_msg(id, OpCode::Query, ResponseCode::FormErr));
    };
    let name = query.name().to_lowercase();
    let mut response = Message::response(id, request.metadata.op_code);
    response.metadata.message_type = MessageType::Response;
    response.metadata.recursion_desired = request.metadata.recursion_desired;
    response.add_query(query.clone());
    let Some(zone) = state.zones.iter_mut().find(|z| z.origin.zone_of(&name)) else {
        state.unmatched += 1;
        response.metadata.response_code = ResponseCode::Refused;
        return Some(response);
    };
    zone.queries += 1;
    response.metadata.authoritative = true;
    let entry = match &zone.behaviour {
        Behaviour::Silent => return None,
        Behaviour::ServFail | Behaviour::Refused => {
            response.metadata.authoritative = false;
            response.metadata.response_code =
                if zone.behaviour == Behaviour::ServFail { ResponseCode::ServFail } else { ResponseCode::Refused };
            return Some(response);
        }
        Behaviour::ListsEverything(code) => Entry { a: vec![*code], txt: Some("listed".into()) },
        Behaviour::Normal => match zone.entry(&name) {
            Some(entry) => entry.clone(),
            None => {
                response.metadata.response_code = ResponseCode::NXDomain;
                return Some(response);
            }
        },
    };
    match query.query_type() {
        RecordType::A => {
            for code in &entry.a {
                response.add_answer(Record::from_rdata(name.clone(), 60, RData::A(A(*code))));
            }
        }
        RecordType::TXT => {
            if let Some(txt) = &entry.txt {
                response.add_answer(Record::from_rdata(name.clone(), 60, RData::TXT(TXT::new(vec![txt.clone()]))));
            }
        }
        _ => {}
    }
    Some(response)
}

#[cfg(test)]
mod tests;
