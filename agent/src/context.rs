//! What every worker of a session shares: the session's clients and limits, the leases it
//! holds, the caches its workers fill, and how a lease can fail. Every other module of the
//! agent depends on this one; it depends on none of them but `copies`.

use crate::copies::A3cCopies;
use pathnet_proto::security::AuthChannel;
use pathnet_proto::v1::{
    self, agent_service_client::AgentServiceClient,
    parameter_service_client::ParameterServiceClient,
};
use pathnet_work::TaskDataCache;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tonic::Status;

/// Genomes one agent keeps built: the parents its next evaluations are likely to extend.
pub(crate) const CACHE_GENOMES: usize = 512;

/// What an agent did, over all its sessions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentStats {
    /// Sessions started: one per connection made to the coordinator, reconnects included.
    pub sessions: u64,
    /// Results the coordinator accepted.
    pub accepted: u64,
    /// Results it answered as duplicate or stale.
    pub not_accepted: u64,
    /// Leases handed back.
    pub released: u64,
}

/// Work ids this agent holds, and whether the coordinator has since taken them back.
pub(crate) struct Held {
    works: Mutex<BTreeMap<String, bool>>,
    stats: Arc<Mutex<AgentStats>>,
}

impl Held {
    pub(crate) fn new(stats: Arc<Mutex<AgentStats>>) -> Self {
        Held {
            works: Mutex::default(),
            stats,
        }
    }

    pub(crate) fn hold(&self, work: &str) {
        self.lock().insert(work.to_owned(), false);
    }

    pub(crate) fn forget(&self, work: &str) {
        self.lock().remove(work);
    }

    pub(crate) fn is_lost(&self, work: &str) -> bool {
        self.lock().get(work).is_none_or(|&lost| lost)
    }

    pub(crate) fn mark_lost(&self, work: &str) {
        if let Some(lost) = self.lock().get_mut(work) {
            *lost = true;
        }
    }

    pub(crate) fn live(&self) -> Vec<String> {
        self.lock()
            .iter()
            .filter(|(_, lost)| !**lost)
            .map(|(w, _)| w.clone())
            .collect()
    }

    /// Counts a report the coordinator answered.
    pub(crate) fn count_report(&self, accepted: bool) {
        self.stats(|s| {
            if accepted {
                s.accepted += 1;
            } else {
                s.not_accepted += 1;
            }
        });
    }

    pub(crate) fn stats(&self, f: impl FnOnce(&mut AgentStats)) {
        f(&mut self.stats.lock().unwrap_or_else(PoisonError::into_inner));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, bool>> {
        self.works.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// What every worker of a session needs.
pub(crate) struct SessionContext {
    pub agent_id: String,
    pub agent: AgentServiceClient<AuthChannel>,
    pub parameters: ParameterServiceClient<AuthChannel>,
    pub max_message_bytes: usize,
    pub data: TaskDataCache,
    pub held: Held,
    /// The newest A3C parameters this agent has received, shared by its workers.
    pub a3c: A3cCopies,
    /// Recently built genomes, shared by the session's workers.
    pub genomes: pathnet_evo::RebuildCache,
    /// Recently built pathway genomes (safe-mutation PathNet), shared likewise.
    pub pathway_genomes: pathnet_evo::sm_pathnet::PathwayRebuildCache,
    /// The agent token, presented on the stage links this agent opens as a lease holder.
    pub link_token: Option<pathnet_proto::security::Token>,
    /// What this agent trusts when it dials a stage link over TLS (`https://` addresses).
    pub link_tls: pathnet_proto::security::ClientTlsFiles,
}

impl SessionContext {
    /// Data bytes per tensor chunk, leaving room for the rest of the message.
    pub(crate) fn chunk_bytes(&self) -> usize {
        pathnet_proto::chunk_data_bytes(self.max_message_bytes)
    }

    /// Hands leases back; failures are only logged, the lease lapses anyway.
    pub(crate) async fn release_all(
        &self,
        works: Vec<String>,
        reason: v1::ReleaseReason,
        detail: &str,
    ) {
        let request = v1::ReleaseLeasesRequest {
            agent_id: self.agent_id.clone(),
            work_ids: works,
            reason: reason.into(),
            detail: detail.to_owned(),
        };
        let mut agent = self.agent.clone();
        match tokio::time::timeout(Duration::from_secs(5), agent.release_leases(request)).await {
            Ok(Ok(answer)) => {
                let released = answer.into_inner().released.len() as u64;
                self.held.stats(|s| s.released += released);
            }
            // A coordinator that has gone (it finished and shut down) takes its leases with it.
            Ok(Err(status)) if status.code() == tonic::Code::Unavailable => {
                tracing::info!(%status, "coordinator gone; its leases lapse with it")
            }
            Ok(Err(status)) => tracing::warn!(%status, "releasing leases failed"),
            Err(_) => tracing::warn!("releasing leases timed out"),
        }
    }

    pub(crate) async fn release(&self, work: &str, reason: v1::ReleaseReason, detail: &str) {
        self.release_all(vec![work.to_owned()], reason, detail)
            .await;
    }
}

/// Why a lease ended without a report.
pub(crate) enum Failure {
    /// The coordinator took the lease back.
    Lost,
    /// This agent cannot run the work (it does not decode, or names what is not built here).
    Unsupported(String),
    /// Running it failed.
    Failed(String),
    /// The coordinator could not be reached.
    Unreachable(String),
    /// Another agent the work needed (a stage host) was lost or unreachable.
    PeerLost(String),
}

impl From<Status> for Failure {
    fn from(status: Status) -> Self {
        if status.code() == tonic::Code::Unavailable {
            return Failure::Unreachable(status.message().to_owned());
        }
        Failure::Failed(format!("{}: {}", status.code(), status.message()))
    }
}
