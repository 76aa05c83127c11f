//! The coordinator's Prometheus endpoint, scraped live from real processes on 127.0.0.1:
//! mid-experiment, with agents working, the scrape passes `promtool check metrics` and its
//! counters agree with each other and with the final summary. The test holds one lease as
//! an agent of its own, so the experiment cannot end before the scrape.

mod common;

use common::*;
use pathnet_proto::v1::{
    self, agent_service_client::AgentServiceClient,
    experiment_service_client::ExperimentServiceClient,
};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;
use tonic::Code;
use tonic::transport::Channel;

const RUN_DEADLINE: Duration = Duration::from_secs(240);

/// `GET path` over HTTP/1.0; returns the status code, the headers and the body.
fn http_get(addr: &str, path: &str) -> (u16, String, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let code = head.split(' ').nth(1).unwrap().parse().unwrap();
    (code, head.to_owned(), body.to_owned())
}

/// Scrapes `/metrics` and has promtool lint it.
fn scrape(addr: &str) -> String {
    let (code, head, body) = http_get(addr, "/metrics");
    assert_eq!(code, 200, "{head}\n{body}");
    assert!(
        head.to_lowercase()
            .contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    promtool_check(&body);
    body
}

fn promtool_check(text: &str) {
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => panic!(
            "promtool not found: install Debian's `prometheus` package \
             (`sudo apt-get install prometheus`, or run scripts/setup-data)"
        ),
        Err(err) => panic!("promtool did not start: {err}"),
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}\non:\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The value of one series, written exactly as in the exposition (`name{labels}`).
fn value(text: &str, series: &str) -> f64 {
    let prefix = format!("{series} ");
    let line = text
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no series `{series}` in\n{text}"));
    line[prefix.len()..].parse().unwrap()
}

async fn next_item(leases: &mut tonic::Streaming<v1::WorkItem>) -> v1::WorkItem {
    tokio::time::timeout(Duration::from_secs(120), leases.message())
        .await
        .expect("a work item within two minutes")
        .unwrap()
        .expect("the lease stream stays open")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_scrape_mid_experiment_passes_promtool_and_agrees_with_the_summary() {
    let dir = scratch_dir("metrics-live");
    let spec = dir.join("spec.toml");
    let out = dir.join("summary.json");
    std::fs::write(&spec, common::spec(&fashion_dir(), 4, 20, 8)).unwrap();
    // A lease far longer than the test: the held one cannot expire behind its back.
    let (mut coordinator, url) = coordinator_running(
        &spec,
        &out,
        &["--metrics-listen", "127.0.0.1:0", "--lease-ms", "600000"],
    );
    let metrics = coordinator.metrics_address(Duration::from_secs(30));
    let line = coordinator.stdout_line("started", Duration::from_secs(60));
    let experiment = line.split(' ').nth(1).unwrap().to_owned();

    let channel = Channel::from_shared(url.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut agent = AgentServiceClient::new(channel.clone());
    let me = agent
        .join(v1::JoinRequest::default())
        .await
        .unwrap()
        .into_inner()
        .agent_id;
    let mut leases = agent
        .stream_leases(v1::StreamLeasesRequest {
            agent_id: me.clone(),
            max_in_flight: 1,
        })
        .await
        .unwrap()
        .into_inner();
    let held = next_item(&mut leases).await.work_id;
    let mut fitness = ExperimentServiceClient::new(channel.clone())
        .watch_fitness(v1::WatchFitnessRequest {
            experiment_id: experiment.clone(),
        })
        .await
        .unwrap()
        .into_inner();

    let log = [("PATHNET_LOG", "pathnet_agent=info")];
    let mut agents: Vec<Proc> = (0..2)
        .map(|i| agent_with(&format!("agent{i}"), &url, &[], &log))
        .collect();
    for agent in &mut agents {
        agent.stderr_line("joined", Duration::from_secs(60));
    }
    tokio::time::timeout(Duration::from_secs(120), fitness.message())
        .await
        .expect("a fitness event within two minutes")
        .unwrap()
        .expect("the experiment is still running");
    let refused = agent
        .report_result(v1::ReportResultRequest {
            agent_id: me.clone(),
            work_id: "w999999".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::NotFound, "{refused:?}");

    let (code, _, body) = http_get(&metrics, "/healthz");
    assert_eq!((code, body.as_str()), (200, "ok\n"));
    let text = scrape(&metrics);
    let exp = |name: &str| value(&text, &format!("{name}{{experiment=\"{experiment}\"}}"));
    let ended = |reason: &str| {
        value(
            &text,
            &format!("pathnet_leases_ended_total{{reason=\"{reason}\"}}"),
        )
    };
    assert_eq!(value(&text, "pathnet_agents_connected"), 3.0, "{text}");
    let evaluations = exp("pathnet_evaluations_total");
    assert!(evaluations >= 1.0, "{text}");
    assert!(exp("pathnet_evaluations_per_second") >= 0.0, "{text}");
    let running =
        format!("pathnet_experiment_state{{experiment=\"{experiment}\",state=\"running\"}}");
    assert_eq!(value(&text, &running), 1.0, "{text}");
    let best = value(
        &text,
        &format!(
            "pathnet_best_fitness{{experiment=\"{experiment}\",task=\"0\",task_name=\"first\"}}"
        ),
    );
    assert!((-1.0..=0.0).contains(&best), "{text}");
    assert!(
        value(&text, "pathnet_parameters_pulled_bytes_total") > 0.0,
        "{text}"
    );
    assert!(
        value(&text, "pathnet_parameters_pushed_bytes_total") > 0.0,
        "{text}"
    );
    // One scrape is one instant: the lease table and the engine agree exactly.
    assert_eq!(ended("reported"), evaluations, "{text}");
    assert_eq!(
        value(&text, "pathnet_leases_granted_total"),
        exp("pathnet_evaluations_issued_total"),
        "{text}"
    );
    let ended_all: f64 = ["reported", "expired", "released", "refused", "cancelled"]
        .iter()
        .map(|r| ended(r))
        .sum();
    let outstanding = value(&text, "pathnet_leases_outstanding");
    assert!(outstanding >= 1.0, "the test holds one lease: {text}");
    assert_eq!(
        value(&text, "pathnet_leases_granted_total") - ended_all,
        outstanding,
        "{text}"
    );
    assert_eq!(
        value(
            &text,
            "pathnet_results_refused_total{reason=\"unknown_work\"}"
        ),
        1.0,
        "{text}"
    );
    let refusals: f64 = text
        .lines()
        .filter(|l| l.starts_with("pathnet_results_refused_total{"))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum();
    assert_eq!(refusals, 1.0, "{text}");

    // Handing the lease back lets the experiment finish. Leaving as well: a joined agent
    // with room would be leased the same work again.
    drop(leases);
    agent
        .release_leases(v1::ReleaseLeasesRequest {
            agent_id: me,
            work_ids: vec![held],
            reason: v1::ReleaseReason::Shutdown.into(),
            detail: "the test is done with it".into(),
        })
        .await
        .unwrap();
    assert!(coordinator.wait(RUN_DEADLINE).success());
    for agent in &mut agents {
        assert!(
            agent.wait(Duration::from_secs(30)).success(),
            "{}",
            agent.name
        );
    }
    let summary = read_json(&out);
    assert_exactly_once(&summary);
    let counters = &summary["counters"];
    let final_accepted = counters["results_accepted"].as_u64().unwrap() as f64;
    assert!(evaluations <= final_accepted, "{evaluations} > {summary}");
    assert!(
        exp("pathnet_evaluations_issued_total")
            <= counters["evaluations_issued"].as_u64().unwrap() as f64
    );
    assert!(
        exp("pathnet_tournaments_resolved_total")
            <= counters["tournaments_resolved"].as_u64().unwrap() as f64
    );
    assert!(
        summary["leases"]["released"].as_u64().unwrap() >= 1,
        "{summary}"
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn run_with_agents_serves_metrics_on_a_printed_port() {
    let dir = scratch_dir("metrics-run");
    let spec = dir.join("spec.toml");
    // Far longer than the test needs: it is interrupted once scraped.
    std::fs::write(&spec, common::spec(&fashion_dir(), 500, 50, 16)).unwrap();
    let mut run = spawn(
        "run",
        &["run", spec.to_str().unwrap(), "--agents", "1"],
        &[],
    );
    let metrics = run.metrics_address(Duration::from_secs(60));
    assert!(metrics.starts_with("127.0.0.1:"), "{metrics}");
    assert!(!metrics.ends_with(":0"), "{metrics}");
    let (code, _, body) = http_get(&metrics, "/healthz");
    assert_eq!((code, body.as_str()), (200, "ok\n"));
    let text = scrape(&metrics);
    // The agent process may or may not have joined yet.
    assert!(value(&text, "pathnet_agents_connected") <= 1.0, "{text}");
    run.signal("TERM");
    run.wait(Duration::from_secs(60));
    std::fs::remove_dir_all(dir).ok();
}
