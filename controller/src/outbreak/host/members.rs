//! The host's bounded memberships: its sending IPs, its receivers and its
//! sources, each capped, the least recently seen making room.

use rblfleet_proto::v1::{HostIp, HostReport, SourceStats};

use super::super::receiver::{MAX_RECEIVERS, ReceiverState};
use super::super::source::SourceState;
use super::{HostState, MAX_IPS, MAX_SOURCES};

impl HostState {
    /// Keeps the sending IPs of a report that names any (public or NATed to
    /// a public address): the IPs a warning names and a list would list.
    pub(super) fn note_ips(&mut self, report: &HostReport) {
        let public = |ip: &&HostIp| ip.public || !ip.nat_public_address.is_empty();
        let mut sending: Vec<&HostIp> = report.ips.iter().filter(|ip| ip.sends_mail).filter(public).collect();
        if sending.is_empty() {
            sending = report.ips.iter().filter(public).collect();
        }
        if !sending.is_empty() {
            self.ips =
                sending
                    .iter()
                    .map(|ip| {
                        if ip.nat_public_address.is_empty() {
                            ip.address.clone()
                        } else {
                            ip.nat_public_address.clone()
                        }
                    })
                    .take(MAX_IPS)
                    .collect();
        }
    }

    /// The index of the receiver `provider`, inserting it from the host's
    /// deferral baseline, replacing the least recently seen when full.
    pub(super) fn receiver_index(&mut self, provider: &str) -> usize {
        if let Some(i) = self.receivers.iter().position(|r| r.provider == provider) {
            return i;
        }
        let fresh = ReceiverState::new(provider, self.baseline.deferral);
        if self.receivers.len() < MAX_RECEIVERS {
            self.receivers.push(fresh);
            return self.receivers.len() - 1;
        }
        let victim = (0..self.receivers.len()).min_by_key(|&i| self.receivers[i].last_seen_ms).unwrap_or(0);
        self.receivers[victim] = fresh;
        victim
    }

    /// The index of the source `s`, inserting it from the host's prior,
    /// evicting the least recently seen unwarned source when full.
    pub(super) fn source_index(&mut self, s: &SourceStats) -> usize {
        if let Some(i) = self.sources.iter().position(|x| x.kind == s.kind && x.id == s.id) {
            return i;
        }
        let fresh = SourceState::new(s, self.source_prior.as_prior());
        if self.sources.len() < MAX_SOURCES {
            self.sources.push(fresh);
            return self.sources.len() - 1;
        }
        let victim = (0..self.sources.len())
            .min_by_key(|&i| (self.sources[i].is_warned(), self.sources[i].last_seen_ms))
            .unwrap_or(0);
        self.sources[victim] = fresh;
        victim
    }
}
