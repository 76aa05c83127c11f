//! `pathnet watch` against real processes on 127.0.0.1: it follows a running experiment's
//! fitness events as they happen and exits when the experiment ends or is stopped (or,
//! watching every experiment, when the coordinator closes); it gives up with exit code 2 and a clear
//! message on an unknown experiment, a closed port or a peer that never answers.

mod common;

use common::*;
use pathnet_proto::v1::{self, experiment_service_client::ExperimentServiceClient};
use std::net::TcpListener;
use std::time::Duration;

const RUN_DEADLINE: Duration = Duration::from_secs(240);

fn watch(name: &str, url: &str, extra: &[&str]) -> Proc {
    let mut args = vec!["watch", "--coordinator", url];
    args.extend_from_slice(extra);
    spawn(name, &args, &[])
}

#[test]
fn watch_follows_an_experiment_as_it_happens_and_exits_when_it_ends() {
    let dir = scratch_dir("watch");
    let spec = dir.join("spec.toml");
    let out = dir.join("summary.json");
    std::fs::write(&spec, common::spec(&fashion_dir(), 4, 10, 8)).unwrap();
    let (mut coordinator, url) = coordinator_running(&spec, &out, &[]);
    let line = coordinator.stdout_line("started", Duration::from_secs(60));
    let experiment = line.split(' ').nth(1).unwrap().to_owned();

    let mut unknown = watch("unknown", &url, &["--experiment", "no-such-experiment"]);
    assert_eq!(unknown.wait(Duration::from_secs(30)).code(), Some(2));
    let stderr = unknown.drain_stderr();
    assert!(
        stderr.contains("`no-such-experiment` does not exist"),
        "{stderr}"
    );

    // No agent has joined yet, so no result can have been accepted: once the watchers say
    // they are watching, they see every event.
    let mut one = watch("json", &url, &["--experiment", &experiment, "--json"]);
    one.stderr_line("watching experiment", Duration::from_secs(30));
    let mut all = watch("text", &url, &[]);
    all.stderr_line("watching every experiment", Duration::from_secs(30));
    let _agents: Vec<Proc> = (0..2)
        .map(|i| agent(&format!("agent{i}"), &url, &[]))
        .collect();

    assert!(coordinator.wait(RUN_DEADLINE).success());
    let summary = read_json(&out);
    let accepted = summary["counters"]["results_accepted"].as_u64().unwrap();
    assert!(accepted > 0, "{summary}");

    let mut tasks = Vec::new();
    for n in 1..=accepted {
        let line = one.stdout_line("{", Duration::from_secs(30));
        let event: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(event["experiment_id"], experiment.as_str(), "{line}");
        // Every accepted result, in the order it was applied.
        assert_eq!(event["evaluations"], n, "{line}");
        let best = event["best_fitness"].as_f64().unwrap();
        assert!((-1.0..=0.0).contains(&best), "{line}");
        tasks.push(event["task_index"].as_u64().unwrap());
    }
    assert_eq!(tasks.first(), Some(&0));
    assert_eq!(tasks.last(), Some(&1));
    assert!(one.wait(Duration::from_secs(30)).success());
    let stderr = one.drain_stderr();
    assert!(
        stderr.contains(&format!("experiment {experiment}:")),
        "{stderr}"
    );

    for n in 1..=accepted {
        let line = all.stdout_line("best fitness", Duration::from_secs(30));
        assert!(line.starts_with(&format!("{experiment}  task ")), "{line}");
        assert!(
            line.contains(&format!("evaluations {n:>6}")),
            "event {n}: {line}"
        );
    }
    // Watching every experiment ends when the coordinator closes.
    assert!(all.wait(Duration::from_secs(30)).success());
    assert!(
        all.drain_stderr()
            .contains("the coordinator closed the stream")
    );
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_exits_when_the_experiment_is_stopped() {
    let dir = scratch_dir("watch-stop");
    let spec = dir.join("spec.toml");
    std::fs::write(&spec, common::spec(&fashion_dir(), 50, 10, 8)).unwrap();
    // No agent ever joins: the experiment can only end through the stop.
    let (mut coordinator, url) = coordinator(&["--spec", spec.to_str().unwrap()]);
    let line = coordinator.stdout_line("started", Duration::from_secs(60));
    let experiment = line.split(' ').nth(1).unwrap().to_owned();
    let mut watcher = watch("watch", &url, &["--experiment", &experiment]);
    watcher.stderr_line("watching experiment", Duration::from_secs(30));
    let mut control = ExperimentServiceClient::connect(url).await.unwrap();
    control
        .stop_experiment(v1::StopExperimentRequest {
            experiment_id: experiment.clone(),
            reason: "the test is over".into(),
        })
        .await
        .unwrap();
    assert!(watcher.wait(Duration::from_secs(30)).success());
    let stderr = watcher.drain_stderr();
    assert!(
        stderr.contains(&format!("experiment {experiment}: stopped")),
        "{stderr}"
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn watch_gives_up_on_a_closed_port_with_exit_code_2() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}");
    let mut watcher = watch("watch", &url, &[]);
    assert_eq!(watcher.wait(Duration::from_secs(30)).code(), Some(2));
    let stderr = watcher.drain_stderr();
    assert!(
        stderr.contains(&format!("cannot reach the coordinator at {url}")),
        "{stderr}"
    );
}

#[test]
fn watch_gives_up_on_a_peer_that_never_answers() {
    // The kernel accepts the connection into the backlog; nothing ever reads or writes it.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", silent.local_addr().unwrap());
    let mut watcher = watch("watch", &url, &["--connect-timeout-ms", "300"]);
    assert_eq!(watcher.wait(Duration::from_secs(30)).code(), Some(2));
    let stderr = watcher.drain_stderr();
    assert!(
        stderr.contains(&format!(
            "cannot reach the coordinator at {url}: no answer within 300 ms"
        )),
        "{stderr}"
    );
    drop(silent);
}
