//! The three `pathnet.v1` services, thin wrappers that lock the
//! [`Runtime`](super::runtime::Runtime), act, and wake lease streams or broadcast progress
//! when something changed.

use super::kinds::Ready;
use super::shared::Shared;
use crate::spec::Spec;
use pathnet_proto::v1::{
    self, agent_service_server::AgentService, experiment_service_server::ExperimentService,
    parameter_service_server::ParameterService,
};
use std::pin::Pin;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

/// Implements every service over one [`Shared`].
#[derive(Clone)]
pub(super) struct CoordinatorService {
    pub shared: Arc<Shared>,
}

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl AgentService for CoordinatorService {
    async fn join(
        &self,
        request: Request<v1::JoinRequest>,
    ) -> Result<Response<v1::JoinResponse>, Status> {
        let request = request.into_inner();
        Ok(Response::new(self.shared.with(|rt| rt.join_with(&request))))
    }

    type StreamLeasesStream = ReceiverStream<Result<v1::WorkItem, Status>>;

    async fn stream_leases(
        &self,
        request: Request<v1::StreamLeasesRequest>,
    ) -> Result<Response<Self::StreamLeasesStream>, Status> {
        let v1::StreamLeasesRequest {
            agent_id,
            max_in_flight,
        } = request.into_inner();
        let mut own = self
            .shared
            .with(|rt| rt.open_stream(&agent_id, max_in_flight))?;
        let (tx, rx) = mpsc::channel(1);
        let shared = Arc::clone(&self.shared);
        tokio::spawn(async move {
            let mut wake = shared.closing();
            loop {
                if *wake.borrow_and_update() {
                    break;
                }
                own.mark_unchanged();
                match offer_work(&shared, &agent_id, &tx).await {
                    Offered::AllTaken => {}
                    Offered::StreamEnded => break,
                }
                // Woken when work may be there for anyone, or when only this agent's
                // room changed (its own result was taken): a result wakes one stream, not
                // every stream of a large cluster.
                tokio::select! {
                    changed = wake.changed() => if changed.is_err() { break },
                    // The agent was forgotten: the next offer tells it so.
                    _ = own.changed() => {}
                    () = tx.closed() => break,
                }
            }
            shared.with(|rt| rt.stream_closed(&agent_id));
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn heartbeat(
        &self,
        request: Request<v1::HeartbeatRequest>,
    ) -> Result<Response<v1::HeartbeatResponse>, Status> {
        let request = request.into_inner();
        self.shared
            .with(|rt| rt.heartbeat(&request))
            .map(Response::new)
    }

    async fn report_result(
        &self,
        request: Request<v1::ReportResultRequest>,
    ) -> Result<Response<v1::ReportResultResponse>, Status> {
        let request = request.into_inner();
        self.shared
            .with(|rt| rt.report(&request))
            .map(Response::new)
    }

    async fn release_leases(
        &self,
        request: Request<v1::ReleaseLeasesRequest>,
    ) -> Result<Response<v1::ReleaseLeasesResponse>, Status> {
        let request = request.into_inner();
        self.shared
            .with(|rt| rt.release(&request))
            .map(Response::new)
    }
}

/// How offering work on a lease stream ended.
enum Offered {
    /// Every lease the agent could take now was sent.
    AllTaken,
    /// The agent is gone or was told why it gets nothing more.
    StreamEnded,
}

/// Sends `agent_id` leases until it has no room or there is no work for it.
async fn offer_work(
    shared: &Shared,
    agent_id: &str,
    tx: &mpsc::Sender<Result<v1::WorkItem, Status>>,
) -> Offered {
    loop {
        match shared.with(|rt| rt.next_work(agent_id)) {
            Ok(Some(item)) => {
                let work = item.work_id.clone();
                if tx.send(Ok(item)).await.is_err() {
                    shared.with(|rt| rt.undeliverable(agent_id, &work));
                    return Offered::StreamEnded;
                }
            }
            Ok(None) => return Offered::AllTaken,
            Err(status) => {
                let _ = tx.send(Err(status)).await;
                return Offered::StreamEnded;
            }
        }
    }
}

#[tonic::async_trait]
impl ParameterService for CoordinatorService {
    type PullParametersStream = BoxStream<v1::ParameterChunk>;

    async fn pull_parameters(
        &self,
        request: Request<v1::PullParametersRequest>,
    ) -> Result<Response<Self::PullParametersStream>, Status> {
        let request = request.into_inner();
        let chunks = self.shared.with(|rt| rt.pull(&request))?;
        Ok(Response::new(Box::pin(tokio_stream::iter(
            chunks.into_iter().map(Ok),
        ))))
    }

    async fn push_parameters(
        &self,
        request: Request<Streaming<v1::PushParametersRequest>>,
    ) -> Result<Response<v1::PushParametersResponse>, Status> {
        let mut stream = request.into_inner();
        let mut work: Option<String> = None;
        while let Some(message) = stream.next().await {
            let message = message?;
            match &work {
                Some(w) if *w != message.work_id => {
                    return Err(Status::invalid_argument(format!(
                        "`work_id` = {}: changed within the stream (was {})",
                        pathnet_proto::quote(&message.work_id),
                        pathnet_proto::quote(w)
                    )));
                }
                Some(_) => {}
                None => work = Some(message.work_id.clone()),
            }
            self.shared.with(|rt| rt.push(message))?;
        }
        let work = work.ok_or_else(|| Status::invalid_argument("the push stream was empty"))?;
        self.shared
            .with(|rt| rt.finish_push(&work))
            .map(Response::new)
    }

    async fn exchange_gradients(
        &self,
        request: Request<v1::GradientPush>,
    ) -> Result<Response<v1::GradientPushResponse>, Status> {
        let request = request.into_inner();
        let pending = self.shared.with(|rt| rt.begin_exchange(request))?;
        let pending_is_light = pending.is_light();
        let shared = Arc::clone(&self.shared);
        // Carried out without the lock, so other RPCs go on meanwhile, and on a blocking
        // thread unless the push is too small to be worth the hand-over. An admitted push is
        // always finished and counted, even when this call is dropped: nothing awaits before
        // the blocking task is spawned, and a spawned one runs to its end.
        let finish = move || {
            let carried = pending.carry_out();
            shared.with(|rt| rt.finish_exchange(carried))
        };
        if pending_is_light {
            finish()
        } else {
            tokio::task::spawn_blocking(finish)
                .await
                .map_err(|err| Status::internal(format!("the gradient push failed: {err}")))?
        }
        .map(Response::new)
    }
}

#[tonic::async_trait]
impl ExperimentService for CoordinatorService {
    async fn start_experiment(
        &self,
        request: Request<v1::StartExperimentRequest>,
    ) -> Result<Response<v1::StartExperimentResponse>, Status> {
        let spec = Spec::from_toml(&request.into_inner().spec_toml)
            .map_err(|err| Status::invalid_argument(err.to_string()))?;
        let experiment_id = start(&self.shared, spec).await?;
        Ok(Response::new(v1::StartExperimentResponse { experiment_id }))
    }

    async fn get_experiment_status(
        &self,
        request: Request<v1::GetExperimentStatusRequest>,
    ) -> Result<Response<v1::ExperimentStatus>, Status> {
        let id = request.into_inner().experiment_id;
        self.shared.with(|rt| rt.status(&id)).map(Response::new)
    }

    async fn stop_experiment(
        &self,
        request: Request<v1::StopExperimentRequest>,
    ) -> Result<Response<v1::StopExperimentResponse>, Status> {
        let request = request.into_inner();
        tracing::info!(experiment = %request.experiment_id, reason = %request.reason, "stop requested");
        let state = self.shared.with(|rt| rt.stop(&request.experiment_id))?;
        Ok(Response::new(v1::StopExperimentResponse {
            state: state.into(),
        }))
    }

    async fn list_experiments(
        &self,
        _request: Request<v1::ListExperimentsRequest>,
    ) -> Result<Response<v1::ListExperimentsResponse>, Status> {
        let experiments = self.shared.with(|rt| rt.list());
        Ok(Response::new(v1::ListExperimentsResponse { experiments }))
    }

    type WatchFitnessStream = ReceiverStream<Result<v1::FitnessEvent, Status>>;

    async fn watch_fitness(
        &self,
        request: Request<v1::WatchFitnessRequest>,
    ) -> Result<Response<Self::WatchFitnessStream>, Status> {
        let wanted = request.into_inner().experiment_id;
        super::watch::fitness(Arc::clone(&self.shared), wanted).map(Response::new)
    }
}

/// Reads what the spec's kind needs from disk (off the async threads) and starts it.
pub(super) async fn start(shared: &Shared, spec: Spec) -> Result<String, Status> {
    Ready::precheck(&spec)?;
    // Checked before a slow load too, so a refusal is immediate.
    shared.with(|rt| rt.may_start())?;
    let ready = tokio::task::spawn_blocking(move || Ready::load(spec))
        .await
        .map_err(|err| Status::internal(err.to_string()))??;
    shared.with(|rt| rt.start(ready))
}
