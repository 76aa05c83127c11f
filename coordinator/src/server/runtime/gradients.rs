//! `ParameterService.ExchangeGradients`: A3C workers' gradient pushes, each answered with
//! the newest parameters.
//!
//! A push is taken in three steps so that the runtime's lock is held only for bookkeeping:
//! [`Runtime::begin_exchange`] checks the lease and has the run admit the push (its
//! sequence number reserved); [`PendingExchange::carry_out`], without the lock, decodes the
//! gradient, pushes it to the lock-free parameter server and encodes the newest parameters;
//! [`Runtime::finish_exchange`] has the run count it (and run a PathNet-A3C fitness
//! report's tournament) and answers. The lock is then held for about a microsecond per
//! push instead of the whole exchange (about 0.7 ms for a 130k-parameter network).

use super::Runtime;
use super::observed::RefusalReason;
use super::report::lease_status;
use crate::a3c::{Disposition, ExchangeError, PushDone, PushTicket};
use crate::server::kinds::PushRefusal;
use ndarray::ArrayD;
use pathnet_proto::v1;
use pathnet_rl::GradientUpdate;
use pathnet_work::{pathnet_a3c_wire, wire};
use tonic::Status;

/// Tensor bytes (gradient in, parameters out) up to which a push is light enough to carry
/// out on an async worker: below about 50 us of work, less than handing it to a blocking
/// thread and back costs (BENCHMARKS.md, "A3C: gradient pushes outside the coordinator's
/// lock").
const LIGHT_PUSH_BYTES: usize = 64 * 1024;

/// A push its run admitted, to be carried out without the runtime's lock.
pub(crate) struct PendingExchange {
    experiment: String,
    ticket: PushTicket,
    request: v1::GradientPush,
    chunk_bytes: usize,
    /// Tensor bytes the push decodes and its answer encodes.
    bytes: usize,
}

/// A push carried out, its answer's parameters encoded, for the runtime to count.
pub(crate) struct CarriedExchange {
    experiment: String,
    done: PushDone,
    parameters: Result<Vec<v1::TensorChunk>, Status>,
}

impl PendingExchange {
    /// Whether carrying the push out costs less than moving it to another thread would.
    pub(crate) fn is_light(&self) -> bool {
        self.bytes <= LIGHT_PUSH_BYTES
    }

    /// Decodes the gradient (a fetch has none), pushes it and encodes the newest
    /// parameters: the costly part of a push, done while other RPCs go on.
    pub(crate) fn carry_out(self) -> CarriedExchange {
        let PendingExchange {
            experiment,
            ticket,
            request,
            chunk_bytes,
            bytes: _,
        } = self;
        let done = if request.gradients.is_empty() {
            ticket.apply(None)
        } else {
            match dense_gradients(request.gradients, ticket.shapes()) {
                Ok(grads) => ticket.apply(Some(GradientUpdate {
                    base_version: request.base_version,
                    grads,
                    env_steps: request.env_steps,
                    episode_returns: request.episode_returns,
                })),
                Err(err) => ticket.refuse(format!("`gradients`: {err}")),
            }
        };
        let parameters = match done.parameter_indices() {
            Some(indices) => wire::indexed_tensors_to_chunks(
                indices.iter().copied().zip(done.parameters()),
                chunk_bytes,
            ),
            None => wire::tensors_to_chunks(done.parameters(), chunk_bytes),
        }
        .map_err(|err| Status::internal(err.to_string()));
        CarriedExchange {
            experiment,
            done,
            parameters,
        }
    }
}

/// The gradient tensors a push carries, with the ones it left out (entirely zero: modules
/// off a PathNet-A3C worker's pathway) filled in as zeros of the parameters' `shapes`.
fn dense_gradients(
    chunks: Vec<v1::TensorChunk>,
    shapes: &[Vec<usize>],
) -> Result<Vec<ArrayD<f32>>, String> {
    let sent = wire::indexed_tensors_from_chunks(chunks).map_err(|err| err.to_string())?;
    if let Some((index, _)) = sent.iter().find(|(i, _)| *i >= shapes.len()) {
        return Err(format!(
            "tensor param{index}: the network has {} parameter tensors",
            shapes.len()
        ));
    }
    let mut grads: Vec<Option<ArrayD<f32>>> = vec![None; shapes.len()];
    for (index, tensor) in sent {
        grads[index] = Some(tensor);
    }
    Ok(grads
        .into_iter()
        .zip(shapes)
        .map(|(g, shape)| g.unwrap_or_else(|| ArrayD::zeros(shape.as_slice())))
        .collect())
}

impl Runtime {
    /// Admits one A3C push from the lease's holder; carry it out, then hand it to
    /// [`Runtime::finish_exchange`].
    pub(crate) fn begin_exchange(
        &mut self,
        request: v1::GradientPush,
    ) -> Result<PendingExchange, Status> {
        self.tick();
        self.seen(&request.agent_id)?;
        let now = self.now();
        let leased = self
            .leases
            .check(&request.agent_id, &request.work_id, now)
            .map_err(|err| {
                let (reason, status) = lease_status(&err);
                self.observed.refused(reason);
                status
            })?
            .item
            .clone();
        let pushed: usize = request.gradients.iter().map(|c| c.data.len()).sum();
        self.observed.bytes_pushed += pushed as u64;
        let chunk_bytes = self.limits.chunk_bytes();
        let exp = self
            .slot
            .get_mut(&leased.experiment)
            .ok_or_else(|| Status::failed_precondition("the lease's experiment is over"))?;
        let parameter_bytes = exp.parameter_bytes;
        let ticket = match exp.run.begin_exchange(leased.eval, &request) {
            Ok(ticket) => ticket,
            Err(PushRefusal::TakesNoPushes) => {
                return Err(Status::failed_precondition(format!(
                    "experiment `{}` is of kind `{}`, which takes no gradient pushes",
                    exp.id,
                    exp.run.kind()
                )));
            }
            Err(PushRefusal::Unfit(why)) => return Err(Status::invalid_argument(why)),
            Err(PushRefusal::Refused(err)) => return Err(self.refused(err)),
        };
        self.agents.credit(&request.agent_id);
        Ok(PendingExchange {
            experiment: leased.experiment,
            ticket,
            request,
            chunk_bytes,
            bytes: pushed + parameter_bytes,
        })
    }

    /// Counts a carried-out push and answers it with the newest parameters.
    pub(crate) fn finish_exchange(
        &mut self,
        carried: CarriedExchange,
    ) -> Result<v1::GradientPushResponse, Status> {
        let CarriedExchange {
            experiment,
            done,
            parameters,
        } = carried;
        // Stopped and replaced meanwhile: the push went with its experiment.
        let exp = self
            .slot
            .get_mut(&experiment)
            .ok_or_else(|| Status::failed_precondition("the lease's experiment is over"))?;
        let answer = exp.run.finish_exchange(done);
        let answer = answer.map_err(|err| self.refused(err))?;
        if answer.stop {
            // Wakes watchers and the run loop, who end on a finished experiment.
            self.dirty = true;
        }
        let parameters = parameters?;
        let pulled: usize = parameters.iter().map(|c| c.data.len()).sum();
        self.observed.bytes_pulled += pulled as u64;
        use v1::GradientDisposition as D;
        Ok(v1::GradientPushResponse {
            disposition: match answer.disposition {
                Disposition::Applied => D::Applied,
                Disposition::Stale => D::Stale,
                Disposition::Duplicate => D::Duplicate,
                Disposition::FetchOnly => D::FetchOnly,
                Disposition::TrainingOver => D::TrainingOver,
            }
            .into(),
            version: answer.version,
            parameters,
            stop: answer.stop,
            staleness: answer.staleness,
            pathway: answer
                .pathway
                .as_ref()
                .map(pathnet_a3c_wire::pathway_to_wire),
        })
    }

    fn refused(&mut self, err: ExchangeError) -> Status {
        self.observed.refused(RefusalReason::InvalidResult);
        Status::invalid_argument(err.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::Limits;
    use crate::server::kinds::Ready;
    use crate::spec::Spec;
    use ndarray::ArrayD;
    use std::time::Duration;

    /// A runtime serving a CartPole A3C experiment, and the first push of its only lease.
    fn leased() -> (Runtime, v1::GradientPush) {
        let mut rt = Runtime::new(Limits {
            max_message_bytes: 1 << 20,
            lease_duration: Duration::from_secs(60),
            heartbeat_interval: Duration::from_secs(10),
            ..Limits::default()
        });
        let spec = "kind = \"a3c\"\nname = \"t\"\nmax_workers = 1\n[a3c]\nenv = \"CartPole-v1\"\n";
        rt.start(Ready::load(Spec::from_toml(spec).unwrap()).unwrap())
            .unwrap();
        let agent = rt.join().agent_id;
        rt.open_stream(&agent, 1).unwrap();
        let work = rt.next_work(&agent).unwrap().expect("a worker lease");
        let push = v1::GradientPush {
            agent_id: agent,
            work_id: work.work_id,
            sequence: 1,
            ..Default::default()
        };
        (rt, push)
    }

    fn exchange(
        rt: &mut Runtime,
        push: v1::GradientPush,
    ) -> Result<v1::GradientPushResponse, Status> {
        let pending = rt.begin_exchange(push)?;
        rt.finish_exchange(pending.carry_out())
    }

    fn ones_like(answer: &v1::GradientPushResponse) -> Vec<v1::TensorChunk> {
        let params = wire::tensors_from_chunks(answer.parameters.clone()).unwrap();
        let ones: Vec<ArrayD<f32>> = params.iter().map(|p| ArrayD::ones(p.shape())).collect();
        wire::tensors_to_chunks(&ones, 1 << 19).unwrap()
    }

    #[test]
    fn a_push_is_admitted_under_the_lock_and_applied_once_outside_it() {
        let (mut rt, fetch) = leased();
        let fetched = exchange(&mut rt, fetch.clone()).unwrap();
        assert_eq!(fetched.disposition(), v1::GradientDisposition::FetchOnly);
        let push = v1::GradientPush {
            sequence: 2,
            gradients: ones_like(&fetched),
            env_steps: 20,
            ..fetch
        };
        // A retry admitted while the original is still being carried out.
        let original = rt.begin_exchange(push.clone()).unwrap();
        let retry = rt.begin_exchange(push.clone()).unwrap();
        let retried = rt.finish_exchange(retry.carry_out()).unwrap();
        assert_eq!(retried.disposition(), v1::GradientDisposition::Duplicate);
        let applied = rt.finish_exchange(original.carry_out()).unwrap();
        assert_eq!(applied.disposition(), v1::GradientDisposition::Applied);
        assert_eq!(applied.version, 1);
        assert_ne!(applied.parameters, fetched.parameters);
        assert_eq!(retried.version, 0);
    }

    #[test]
    fn an_undecodable_gradient_is_refused_and_its_sequence_number_stays_free() {
        let (mut rt, fetch) = leased();
        let fetched = exchange(&mut rt, fetch.clone()).unwrap();
        let mut gradients = ones_like(&fetched);
        gradients[0].data.pop();
        let cut = v1::GradientPush {
            sequence: 2,
            gradients,
            ..fetch.clone()
        };
        let err = exchange(&mut rt, cut).unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
        assert!(err.message().contains("`gradients`"), "{}", err.message());
        let whole = v1::GradientPush {
            sequence: 2,
            gradients: ones_like(&fetched),
            ..fetch
        };
        let applied = exchange(&mut rt, whole).unwrap();
        assert_eq!(applied.disposition(), v1::GradientDisposition::Applied);
    }

    #[test]
    fn tensors_left_out_of_a_push_are_zeros_and_unknown_ones_are_refused() {
        let shapes = vec![vec![2, 3], vec![3], vec![2]];
        let only_bias =
            wire::indexed_tensors_to_chunks([(1, &ArrayD::from_elem(vec![3], 1.0f32))], 1 << 16)
                .unwrap();
        let grads = dense_gradients(only_bias, &shapes).unwrap();
        assert_eq!(grads.len(), 3);
        assert_eq!(grads[0], ArrayD::<f32>::zeros(vec![2, 3]));
        assert_eq!(grads[1], ArrayD::from_elem(vec![3], 1.0f32));
        assert_eq!(grads[2], ArrayD::<f32>::zeros(vec![2]));
        let beyond =
            wire::indexed_tensors_to_chunks([(3, &ArrayD::from_elem(vec![2], 1.0f32))], 1 << 16)
                .unwrap();
        let err = dense_gradients(beyond, &shapes).unwrap_err();
        assert!(
            err.contains("param3") && err.contains("3 parameter tensors"),
            "{err}"
        );
    }
}
