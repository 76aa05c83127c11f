//! `AgentService` but for reports: agents join, open their lease stream and take work,
//! renew their leases and hand work back.

use super::Runtime;
use super::agents::AgentRecord;
use super::slot::Leased;
use crate::lease::{LeaseEnd, LeaseError};
use crate::placement::{Candidate, Chosen, StageRule};
use crate::server::kinds::place;
use pathnet_proto::v1;
use std::collections::BTreeMap;
use tokio::sync::watch;
use tonic::Status;

impl Runtime {
    /// Joins an agent with no labels that serves no stage links.
    #[cfg(test)]
    pub(crate) fn join(&mut self) -> v1::JoinResponse {
        self.join_with(&v1::JoinRequest::default())
    }

    /// Joins the agent `request` describes: its labels and stage-link address are kept for
    /// placing stages.
    pub(crate) fn join_with(&mut self, request: &v1::JoinRequest) -> v1::JoinResponse {
        self.tick();
        let now = self.now();
        let labels = request
            .capabilities
            .as_ref()
            .map(|c| {
                c.labels
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default();
        let inline_parameters = request
            .capabilities
            .as_ref()
            .is_some_and(|c| c.inline_parameters);
        let agent_id = self.agents.join(
            now,
            labels,
            request.stage_link_address.clone(),
            inline_parameters,
        );
        v1::JoinResponse {
            agent_id,
            limits: Some(v1::CoordinatorLimits {
                max_message_bytes: self.limits.max_message_bytes as u64,
                heartbeat_interval_ms: self.limits.heartbeat_interval.as_millis() as u64,
                lease_duration_ms: self.limits.lease_duration.as_millis() as u64,
            }),
        }
    }

    /// Opens a lease stream of `agent`; returns what wakes the stream when only this
    /// agent's room changed (every stream is also woken when work may be there for anyone).
    pub(crate) fn open_stream(
        &mut self,
        agent: &str,
        max_in_flight: u32,
    ) -> Result<watch::Receiver<()>, Status> {
        self.seen(agent)?;
        if max_in_flight == 0 {
            return Err(Status::invalid_argument(
                "`max_in_flight` = 0: an agent must accept at least 1 lease",
            ));
        }
        let wake = self
            .agents
            .streams(agent, max_in_flight as usize)
            .ok_or_else(|| Status::not_found("the agent left"))?;
        self.dirty = true;
        Ok(wake)
    }

    /// A lease stream of `agent` closed (the agent left or died). Once it has none open
    /// it no longer counts as an agent that could take work held back from another.
    pub(crate) fn stream_closed(&mut self, agent: &str) {
        self.agents.stream_closed(agent);
        self.starved.remove(agent);
        // Work held back for this agent may now go to the others.
        self.dirty = true;
    }

    /// Leases the next evaluation to `agent` if it has room and there is work.
    pub(crate) fn next_work(&mut self, agent: &str) -> Result<Option<v1::WorkItem>, Status> {
        self.tick();
        self.seen(agent)?;
        if self.leases.held_by(agent) >= self.agents.room(agent) {
            // Woken when one of its own leases ends.
            return Ok(None);
        }
        let agents = self.agents.records();
        if !self.failures.may_lease(agent, agents) {
            self.starve(agent);
            return Ok(None);
        }
        // Work whose stages spread over several agents waits until enough fit agents
        // serve stage links; this agent may still be the one to drive it later.
        let chosen = match self.slot.current().and_then(|e| e.run.stage_rule()) {
            None => None,
            Some(rule) => match choose_hosts(rule, agent, agents) {
                Ok(chosen) => Some(chosen),
                Err(unplaced) => {
                    tracing::debug!(%agent, %unplaced, "stages not placed");
                    self.starve(agent);
                    return Ok(None);
                }
            },
        };
        let failures = &self.failures;
        let (next, held_back) = self
            .slot
            .next_work(|eval| failures.pass_over(eval, agent, agents));
        if held_back {
            // Another agent's stream is to take it.
            self.dirty = true;
        }
        let Some((experiment, mut issued)) = next else {
            self.starve(agent);
            return Ok(None);
        };
        if !self.starved.is_empty() {
            self.starved.remove(agent);
        }
        let peers = match chosen {
            Some(chosen) => {
                place(&mut issued.payload, &chosen.placement);
                chosen.peers
            }
            None => Vec::new(),
        };
        let leased = Leased {
            experiment: experiment.to_owned(),
            eval: issued.eval,
            what: issued.what.into(),
            peers,
        };
        let experiment_id = leased.experiment.clone();
        let parameters = self.inline_parameters(agent, &experiment_id, &issued.payload);
        let now = self.now();
        let (work_id, deadline) = self.leases.grant(agent, leased, now);
        Ok(Some(v1::WorkItem {
            work_id,
            experiment_id,
            lease_deadline_unix_ms: self.unix_ms(deadline),
            payload: Some(issued.payload),
            parameters,
        }))
    }

    /// `agent` has room but found no work it could take.
    fn starve(&mut self, agent: &str) {
        if !self.starved.contains(agent) {
            self.starved.insert(agent.to_owned());
        }
    }

    /// Hands work that could not be delivered straight back to the queue.
    pub(crate) fn undeliverable(&mut self, agent: &str, work: &str) {
        for (work, leased) in self.leases.release(agent, &[work.to_owned()]) {
            self.requeue(&work, &leased);
        }
    }

    pub(crate) fn heartbeat(
        &mut self,
        request: &v1::HeartbeatRequest,
    ) -> Result<v1::HeartbeatResponse, Status> {
        self.tick();
        self.seen(&request.agent_id)?;
        if self.agents.heard_from(&request.agent_id) {
            // A stage host suspected after a lost segment is alive: segments waiting for
            // hosts may go out now.
            self.dirty = true;
        }
        let now = self.now();
        let (extended, lost) = self
            .leases
            .heartbeat(&request.agent_id, &request.work_ids, now);
        Ok(v1::HeartbeatResponse {
            extended: extended
                .into_iter()
                .map(|(work_id, deadline)| v1::ExtendedLease {
                    work_id,
                    lease_deadline_unix_ms: self.unix_ms(deadline),
                })
                .collect(),
            lost: lost.into_iter().map(lost_lease).collect(),
        })
    }

    pub(crate) fn release(
        &mut self,
        request: &v1::ReleaseLeasesRequest,
    ) -> Result<v1::ReleaseLeasesResponse, Status> {
        self.tick();
        self.seen(&request.agent_id)?;
        let released = self.leases.release(&request.agent_id, &request.work_ids);
        let ids = released.iter().map(|(w, _)| w.clone()).collect();
        let failed = request.reason == i32::from(v1::ReleaseReason::Failed);
        let peer_lost = request.reason == i32::from(v1::ReleaseReason::PeerLost);
        for (work, leased) in released {
            if peer_lost {
                // Not the work's failure nor the driver's: one of the hosts went. Which one
                // the driver cannot always tell; each is passed over until heard from.
                for peer in &leased.peers {
                    self.agents.suspect(peer);
                }
                tracing::info!(work = %leased.what, agent = %request.agent_id,
                    peers = ?leased.peers, detail = %request.detail,
                    "a stage host was lost; the segment goes out again from its snapshot");
            }
            self.requeue(&work, &leased);
            if failed {
                self.work_failed(&leased, &request.agent_id, &request.detail);
            }
        }
        if request.reason == i32::from(v1::ReleaseReason::Shutdown) {
            self.forget_agent(&request.agent_id);
        }
        Ok(v1::ReleaseLeasesResponse { released: ids })
    }
}

/// The hosts of a segment leased to `agent`: it drives (host 0); the others are the live
/// agents serving stage links, in the order they joined.
fn choose_hosts(
    rule: &StageRule,
    agent: &str,
    agents: &BTreeMap<String, AgentRecord>,
) -> Result<Chosen, String> {
    let Some(driver) = agents.get(agent) else {
        return Err("the agent left".to_owned());
    };
    if driver.suspect() {
        // Its own lease stream may be asking after it died.
        return Err(
            "the agent may be the host a segment lost: waiting for its heartbeat".to_owned(),
        );
    }
    let mut candidates: Vec<(Candidate<'_>, u64)> = agents
        .iter()
        .filter(|(id, _)| id.as_str() != agent)
        .filter_map(|(id, record)| {
            let address = record.stage_host()?;
            Some((
                Candidate {
                    agent: id,
                    address,
                    labels: record.labels(),
                },
                record.number(),
            ))
        })
        .collect();
    // Ids sort as text (`-10` before `-2`); the join order is what an operator expects.
    candidates.sort_by_key(|(_, number)| *number);
    let candidates: Vec<Candidate<'_>> = candidates.into_iter().map(|(c, _)| c).collect();
    rule.choose(driver.labels(), &candidates)
        .map_err(|unplaced| unplaced.to_string())
}

fn lost_lease(err: LeaseError) -> v1::LostLease {
    use v1::LeaseLossReason as R;
    let (work_id, reason) = match err {
        LeaseError::Unknown(work) => (work, R::UnknownWork),
        LeaseError::NotHolder { work, .. } => (work, R::UnknownWork),
        LeaseError::Ended { work, end } => (
            work,
            match end {
                // To the agent, a lease of an earlier run lapsed with it.
                LeaseEnd::Expired | LeaseEnd::Restarted => R::Expired,
                LeaseEnd::Cancelled => R::Cancelled,
                LeaseEnd::Reported | LeaseEnd::Released | LeaseEnd::Refused => R::Unspecified,
            },
        ),
    };
    v1::LostLease {
        work_id,
        reason: reason.into(),
    }
}
