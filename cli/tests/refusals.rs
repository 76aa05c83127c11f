//! A coordinator process refuses bad results without harm: the test joins as an agent over
//! gRPC and sends a result for an unknown work id, a NaN delta, a delta of the wrong shape,
//! an oversized message, a result for an expired lease and malformed specs. The parameters,
//! pulled before and after each, do not change until a good result is accepted, once.

mod common;

use common::*;
use pathnet_proto::split_tensor;
use pathnet_proto::v1::{
    self, agent_service_client::AgentServiceClient,
    experiment_service_client::ExperimentServiceClient,
    parameter_service_client::ParameterServiceClient, work_item::Payload,
};
use std::collections::BTreeMap;
use std::time::Duration;
use tonic::transport::Channel;
use tonic::{Code, Streaming};

struct TestAgent {
    id: String,
    agent: AgentServiceClient<Channel>,
    params: ParameterServiceClient<Channel>,
    leases: Streaming<v1::WorkItem>,
}

/// Module (as its wire reference) -> tensors as (name, shape, values).
type Params = BTreeMap<String, (u64, Vec<(String, Vec<u64>, Vec<u8>)>)>;

impl TestAgent {
    async fn next_item(&mut self) -> (v1::WorkItem, v1::PathwayTraining) {
        let item = tokio::time::timeout(Duration::from_secs(60), self.leases.message())
            .await
            .expect("a work item within a minute")
            .unwrap()
            .expect("the lease stream stays open");
        let Some(Payload::PathwayTraining(training)) = item.payload.clone() else {
            panic!("not a pathway: {item:?}")
        };
        (item, training)
    }

    async fn heartbeat(&mut self, work: &str) {
        let answer = self
            .agent
            .heartbeat(v1::HeartbeatRequest {
                agent_id: self.id.clone(),
                work_ids: vec![work.to_owned()],
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(answer.extended.len(), 1, "{answer:?}");
    }

    async fn pull(&mut self, modules: &[v1::ModuleRef], accept_newer: bool) -> Params {
        let mut stream = self
            .params
            .pull_parameters(v1::PullParametersRequest {
                agent_id: self.id.clone(),
                modules: modules.to_vec(),
                accept_newer,
            })
            .await
            .unwrap()
            .into_inner();
        let mut params = Params::new();
        while let Some(chunk) = stream.message().await.unwrap() {
            let module = chunk.module.unwrap();
            let data = chunk.chunk.unwrap();
            let key = format!("{:?}", module.module);
            let entry = params.entry(key).or_insert((module.version, Vec::new()));
            entry.1.push((
                format!("{}@{}", data.tensor_name, data.offset),
                data.shape,
                data.data,
            ));
        }
        params
    }

    async fn report(&mut self, report: v1::ReportResultRequest) -> Result<i32, tonic::Status> {
        self.agent
            .report_result(report)
            .await
            .map(|r| r.into_inner().disposition)
    }
}

/// A result whose deltas are `value` everywhere for each trainable module of `training`,
/// shaped after the pulled parameters.
fn report(
    agent: &str,
    work: &str,
    training: &v1::PathwayTraining,
    params: &Params,
    value: f32,
) -> v1::ReportResultRequest {
    let deltas = training
        .modules
        .iter()
        .filter(|m| !training.frozen.contains(m.module.as_ref().unwrap()))
        .map(|m| {
            let (_, tensors) = &params[&format!("{:?}", m.module)];
            let mut chunks = Vec::new();
            for (name, shape, _) in tensors.iter().filter(|t| t.0.ends_with("@0")) {
                let len: u64 = shape.iter().product();
                let name = name.trim_end_matches("@0");
                chunks
                    .extend(split_tensor(name, shape, &vec![0.0; len as usize], 1 << 14).unwrap());
            }
            if value != 0.0 {
                for chunk in &mut chunks {
                    chunk.data = chunk
                        .data
                        .chunks(4)
                        .flat_map(|_| value.to_le_bytes())
                        .collect();
                }
            }
            v1::ModuleDelta {
                base: Some(*m),
                chunks,
                pushed: false,
            }
        })
        .collect();
    v1::ReportResultRequest {
        agent_id: agent.to_owned(),
        work_id: work.to_owned(),
        fitness: -0.5,
        training_accuracy: Some(0.5),
        evaluation: None,
        deltas,
        elapsed_ms: 1,
        sideways: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_results_are_refused_and_parameters_stay_unchanged() {
    let dir = scratch_dir("refusals");
    let spec_path = dir.join("spec.toml");
    let spec_text = common::spec(&fashion_dir(), 50, 10, 8);
    std::fs::write(&spec_path, &spec_text).unwrap();
    let (coordinator, url) = coordinator(&[
        "--spec",
        spec_path.to_str().unwrap(),
        "--lease-ms",
        "1000",
        "--heartbeat-ms",
        "200",
        "--max-message-bytes",
        "65536",
    ]);
    let channel = Channel::from_shared(url).unwrap().connect().await.unwrap();

    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    let serving = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "pathnet.v1.AgentService".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        serving.status(),
        tonic_health::pb::health_check_response::ServingStatus::Serving
    );

    let big = 1 << 24;
    let mut agent = AgentServiceClient::new(channel.clone())
        .max_encoding_message_size(big)
        .max_decoding_message_size(big);
    let id = agent
        .join(v1::JoinRequest::default())
        .await
        .unwrap()
        .into_inner()
        .agent_id;
    let leases = agent
        .stream_leases(v1::StreamLeasesRequest {
            agent_id: id.clone(),
            max_in_flight: 1,
        })
        .await
        .unwrap()
        .into_inner();
    let mut me = TestAgent {
        id: id.clone(),
        agent,
        params: ParameterServiceClient::new(channel.clone()),
        leases,
    };

    let (first, training) = me.next_item().await;
    let before = me.pull(&training.modules, false).await;
    assert_eq!(before.len(), training.modules.len());

    // A work id never leased.
    let status = me
        .report(report(&id, "w999", &training, &before, 0.0))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");

    // A NaN delta: refused, and the evaluation comes back under a new work id.
    me.heartbeat(&first.work_id).await;
    let status = me
        .report(report(&id, &first.work_id, &training, &before, f32::NAN))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(
        status.message().contains("not a finite number"),
        "{status:?}"
    );
    assert_eq!(me.pull(&training.modules, false).await, before);
    let (second, again) = me.next_item().await;
    assert_ne!(second.work_id, first.work_id);
    assert_eq!(
        again.data_seed, training.data_seed,
        "the same evaluation, re-issued"
    );

    // A delta of the wrong shape.
    me.heartbeat(&second.work_id).await;
    let mut wrong = report(&id, &second.work_id, &training, &before, 0.0);
    let chunks = &mut wrong.deltas[0].chunks;
    chunks.retain(|c| c.tensor_name != "param0");
    chunks.extend(split_tensor("param0", &[2, 2], &[0.0; 4], 64).unwrap());
    let status = me.report(wrong).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("shape [2, 2]"), "{status:?}");
    assert_eq!(me.pull(&training.modules, false).await, before);
    let (third, _) = me.next_item().await;

    // A message over the coordinator's 64 KiB limit never reaches the handler.
    me.heartbeat(&third.work_id).await;
    let mut huge = report(&id, &third.work_id, &training, &before, 0.0);
    huge.deltas[0].chunks[0].data = vec![0; 200_000];
    let status = me.report(huge).await.unwrap_err();
    assert!(
        matches!(status.code(), Code::OutOfRange | Code::ResourceExhausted),
        "{status:?}"
    );
    assert_eq!(me.pull(&training.modules, false).await, before);

    // The third lease is left to lapse: its evaluation comes back, the late result is refused.
    let (fourth, _) = me.next_item().await;
    let status = me
        .report(report(&id, &third.work_id, &training, &before, 0.0))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert!(status.message().contains("expired"), "{status:?}");
    assert_eq!(me.pull(&training.modules, false).await, before);

    // Malformed specs, and a valid one while an experiment runs, change nothing.
    let mut experiments = ExperimentServiceClient::new(channel);
    let cases = [
        (
            spec_text.replace("population = 6", "population = 1"),
            "evolution.population",
        ),
        ("name = [".to_owned(), "invalid spec"),
        (
            spec_text.replace(&fashion_dir().display().to_string(), "/no/such/dir"),
            "/no/such/dir",
        ),
    ];
    for (text, expected) in cases {
        let status = experiments
            .start_experiment(v1::StartExperimentRequest { spec_toml: text })
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert!(status.message().contains(expected), "{status:?}");
    }
    let status = experiments
        .start_experiment(v1::StartExperimentRequest {
            spec_toml: spec_text.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert_eq!(me.pull(&training.modules, false).await, before);

    // A good result is applied once; sent again it is a duplicate and changes nothing more.
    me.heartbeat(&fourth.work_id).await;
    let good = report(&id, &fourth.work_id, &training, &before, 0.25);
    let accepted = i32::from(v1::ResultDisposition::Accepted);
    let duplicate = i32::from(v1::ResultDisposition::Duplicate);
    assert_eq!(me.report(good.clone()).await.unwrap(), accepted);
    assert_eq!(me.report(good).await.unwrap(), duplicate);
    let after = me.pull(&training.modules, true).await;
    for (module, (version, tensors)) in &after {
        let (old_version, old_tensors) = &before[module];
        let trained = !training
            .frozen
            .iter()
            .any(|f| format!("{:?}", Some(f)) == *module);
        if trained {
            assert_eq!(*version, old_version + 1, "{module}");
            assert_ne!(tensors, old_tensors, "{module}");
        } else {
            assert_eq!((version, tensors), (old_version, old_tensors), "{module}");
        }
    }

    let experiment = "cluster-1".to_owned();
    let status = experiments
        .get_experiment_status(v1::GetExperimentStatusRequest {
            experiment_id: experiment,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status.evaluations, 1, "{status:?}");
    assert_eq!(status.results_refused, 5, "{status:?}");
    assert!(status.leases_expired >= 1, "{status:?}");
    assert_eq!(status.state(), v1::ExperimentState::Running);

    coordinator.signal("TERM");
    drop(coordinator);
    std::fs::remove_dir_all(dir).ok();
}
