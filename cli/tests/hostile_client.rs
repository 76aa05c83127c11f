//! A coordinator process survives a hostile client: StartExperiment with sizes that used to
//! abort it ("memory allocation failed") and specs within every bound whose networks would
//! not fit its memory ceiling, a PullParameters asking for thousands of modules, and ids and
//! lines too long to echo. Each is refused with INVALID_ARGUMENT (or NOT_FOUND) naming the
//! field in a short message, and the coordinator goes on serving: a good spec starts after.

mod common;

use common::*;
use pathnet_proto::v1::{
    self, agent_service_client::AgentServiceClient,
    experiment_service_client::ExperimentServiceClient,
    parameter_service_client::ParameterServiceClient,
};
use std::time::Duration;
use tonic::Code;
use tonic::transport::Channel;

/// Longest refusal accepted: far below the default 4 MiB message limit.
const MAX_MESSAGE: usize = 4096;

/// A coordinator running `spec` from its start, and the test joined to it as an agent.
struct Joined {
    coordinator: Proc,
    dir: std::path::PathBuf,
    channel: Channel,
    agent: AgentServiceClient<Channel>,
    agent_id: String,
}

async fn joined(name: &str, spec: &str) -> Joined {
    let dir = scratch_dir(name);
    let spec_path = dir.join("spec.toml");
    std::fs::write(&spec_path, spec).unwrap();
    let (mut coordinator, url) = coordinator(&["--spec", spec_path.to_str().unwrap()]);
    coordinator.stdout_line("started", Duration::from_secs(60));
    let channel = Channel::from_shared(url).unwrap().connect().await.unwrap();
    let mut agent = AgentServiceClient::new(channel.clone());
    let agent_id = agent
        .join(v1::JoinRequest::default())
        .await
        .unwrap()
        .into_inner()
        .agent_id;
    Joined {
        coordinator,
        dir,
        channel,
        agent,
        agent_id,
    }
}

async fn start(client: &mut ExperimentServiceClient<Channel>, spec: &str) -> tonic::Status {
    tokio::time::timeout(
        Duration::from_secs(60),
        client.start_experiment(v1::StartExperimentRequest {
            spec_toml: spec.to_owned(),
        }),
    )
    .await
    .expect("an answer within a minute")
    .expect_err("the spec is refused")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allocation_bombs_are_refused_by_name_and_the_coordinator_serves_on() {
    let (mut coordinator, url) = coordinator(&["--lease-ms", "60000"]);
    let channel = Channel::from_shared(url).unwrap().connect().await.unwrap();
    let mut experiments = ExperimentServiceClient::new(channel.clone());

    let billion = "1000000000";
    let huge = "1000000000000";
    let tasks = vec!["{ env = \"CartPole-v1\" }"; 20_000].join(", ");
    let bombs = [
        (
            format!(
                "name = \"p\"\n[data]\ndir = \"/nonexistent\"\n[evolution]\npopulation = {huge}\n\
                 [[tasks]]\nname = \"a\"\nclasses = [3, 7]\n"
            ),
            "evolution.population",
        ),
        (
            format!(
                "name = \"p\"\n[data]\ndir = \"/nonexistent\"\n[pathnet]\nmodule_units = {billion}\n\
                 [[tasks]]\nname = \"a\"\nclasses = [3, 7]\n"
            ),
            "pathnet.module_units",
        ),
        (
            format!(
                "kind = \"a3c\"\nname = \"c\"\n[a3c]\nenv = \"CartPole-v1\"\n[a3c.policy]\n\
                 hidden = [{billion}]\n"
            ),
            "a3c.policy.hidden[0]",
        ),
        (
            // Every width within its bound, but 2^32 parameters held four times.
            "kind = \"a3c\"\nname = \"c\"\n[a3c]\nenv = \"CartPole-v1\"\n[a3c.policy]\n\
             hidden = [65536, 65536]\n"
                .to_owned(),
            "a3c.policy",
        ),
        (
            format!(
                "kind = \"neuroevolution\"\nname = \"g\"\n[ga]\ntask = \"parity\"\n\
                 operator = \"sm_g_sum\"\nsigma = 0.05\npopulation = {huge}\n"
            ),
            "ga.population",
        ),
        (
            format!("kind = \"pathnet_a3c\"\nname = \"x\"\n[pathnet_a3c]\ntasks = [{tasks}]\n"),
            "pathnet_a3c.tasks",
        ),
        (
            format!("kind = \"{}\"\nname = \"k\"\n", "k".repeat(200_000)),
            "kind",
        ),
    ];
    for (spec, field) in &bombs {
        let status = start(&mut experiments, spec).await;
        assert_eq!(status.code(), Code::InvalidArgument, "{field}: {status:?}");
        let message = status.message();
        assert!(
            message.contains(&format!("`{field}`")),
            "{field}: {message}"
        );
        assert!(
            message.len() < MAX_MESSAGE,
            "{field}: {} bytes",
            message.len()
        );
    }
    let long_line = format!("name = \"{}\"\nname = 3\n", "n".repeat(1 << 20));
    let status = start(&mut experiments, &long_line).await;
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().len() < MAX_MESSAGE,
        "{} bytes",
        status.message().len()
    );

    // Still serving: unknown ids are quoted short, and a good spec starts.
    let status = experiments
        .get_experiment_status(v1::GetExperimentStatusRequest {
            experiment_id: "i".repeat(10_000),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert!(
        status.message().len() < MAX_MESSAGE,
        "{}",
        status.message().len()
    );
    let good = "kind = \"a3c\"\nname = \"c\"\n[a3c]\nenv = \"CartPole-v1\"\n[a3c.stop]\n\
                max_env_steps = 1000\n";
    let id = experiments
        .start_experiment(v1::StartExperimentRequest {
            spec_toml: good.to_owned(),
        })
        .await
        .unwrap()
        .into_inner()
        .experiment_id;
    experiments
        .stop_experiment(v1::StopExperimentRequest {
            experiment_id: id,
            reason: "test over".into(),
        })
        .await
        .unwrap();
    coordinator.kill9();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_of_more_modules_than_the_network_has_is_refused() {
    let spec = common::spec(&fashion_dir(), 50, 10, 8);
    let Joined {
        mut coordinator,
        dir,
        channel,
        agent_id,
        ..
    } = joined("hostile-pull", &spec).await;
    let module = v1::ModuleRef {
        module: Some(v1::ModuleId {
            address: Some(v1::module_id::Address::LayerModule(v1::LayerModule {
                layer: 0,
                index: 0,
            })),
        }),
        version: 1,
    };
    let mut params = ParameterServiceClient::new(channel);
    let pull = |modules: Vec<v1::ModuleRef>| v1::PullParametersRequest {
        agent_id: agent_id.clone(),
        modules,
        accept_newer: true,
    };
    let status = params
        .pull_parameters(pull(vec![module; 4000]))
        .await
        .map(|_| ())
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("`modules`"), "{status:?}");
    // One module is still served.
    let mut stream = params
        .pull_parameters(pull(vec![module]))
        .await
        .unwrap()
        .into_inner();
    assert!(stream.message().await.unwrap().is_some());
    coordinator.kill9();
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_work_id_is_not_found_by_every_service() {
    let spec = "kind = \"a3c\"\nname = \"c\"\n[a3c]\nenv = \"CartPole-v1\"\n[a3c.stop]\n\
                max_env_steps = 100000\n";
    let Joined {
        mut coordinator,
        dir,
        channel,
        mut agent,
        agent_id,
    } = joined("hostile-work-id", spec).await;
    let work_id = "w".repeat(10_000);
    let report = agent
        .report_result(v1::ReportResultRequest {
            agent_id: agent_id.clone(),
            work_id: work_id.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    let exchange = ParameterServiceClient::new(channel)
        .exchange_gradients(v1::GradientPush {
            agent_id,
            work_id,
            sequence: 1,
            ..Default::default()
        })
        .await
        .unwrap_err();
    for status in [&report, &exchange] {
        assert_eq!(status.code(), Code::NotFound, "{status:?}");
        assert!(
            status.message().len() < MAX_MESSAGE,
            "{} bytes",
            status.message().len()
        );
    }
    coordinator.kill9();
    let _ = std::fs::remove_dir_all(dir);
}
