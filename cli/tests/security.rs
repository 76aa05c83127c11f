//! A coordinator that refuses strangers, as real processes on 127.0.0.1: agents without a
//! token or with a wrong one are refused (UNAUTHENTICATED) and leave no trace, the right
//! token finishes the run; the agent token may not start or stop experiments; a plain-text
//! client fails cleanly against the TLS port; with mutual TLS a client needs a certificate,
//! while probes ask a plain-text listener that serves health alone; the metrics listener
//! speaks HTTPS with its own certificate and answers plain HTTP with a refusal.
//! Certificates are made here with rcgen.

mod common;

use common::*;
use pathnet_proto::security::{AuthChannel, BearerAuth, ClientTlsFiles, Token, endpoint};
use pathnet_proto::v1::{
    self, agent_service_client::AgentServiceClient,
    experiment_service_client::ExperimentServiceClient,
};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tonic::Code;
use tonic::service::interceptor::InterceptedService;

const RUN_DEADLINE: Duration = Duration::from_secs(240);
const AGENT_TOKEN: &str = "agent-7f3a9c1e5b";
const ADMIN_TOKEN: &str = "admin-2d8e4b6f0a";

/// PEM files: an authority, the coordinator's certificate (for 127.0.0.1 and localhost)
/// and a client certificate, all in `dir`.
struct Certs {
    ca: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
}

fn make_certs(dir: &Path) -> Certs {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "pathnet test authority");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();

    let leaf = |names: Vec<String>, usage: ExtendedKeyUsagePurpose, cn: &str| {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(names).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.extended_key_usages = vec![usage];
        let cert = params.signed_by(&key, &ca).unwrap();
        (cert.pem(), key.serialize_pem())
    };
    let (server_cert, server_key) = leaf(
        vec!["127.0.0.1".into(), "localhost".into()],
        ExtendedKeyUsagePurpose::ServerAuth,
        "coordinator",
    );
    let (client_cert, client_key) = leaf(
        vec!["agent".into()],
        ExtendedKeyUsagePurpose::ClientAuth,
        "agent",
    );
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    Certs {
        ca: write("ca.pem", &ca.pem()),
        server_cert: write("server.pem", &server_cert),
        server_key: write("server.key", &server_key),
        client_cert: write("client.pem", &client_cert),
        client_key: write("client.key", &client_key),
    }
}

/// Token files for the coordinator: `(agent, admin)`.
fn token_files(dir: &Path) -> (PathBuf, PathBuf) {
    let agent = dir.join("agent.token");
    let admin = dir.join("admin.token");
    // A trailing newline, as `echo` and most editors leave, must not matter.
    std::fs::write(&agent, format!("{AGENT_TOKEN}\n")).unwrap();
    std::fs::write(&admin, format!("{ADMIN_TOKEN}\n")).unwrap();
    (agent, admin)
}

fn parse_token(text: &str) -> Option<Token> {
    Some(Token::parse(text, "test", "test").unwrap())
}

/// A channel to `url` presenting `token`, within ten seconds or an error.
async fn channel(
    url: &str,
    tls: &ClientTlsFiles,
    token: Option<&str>,
) -> Result<AuthChannel, String> {
    let endpoint = endpoint(url, tls)
        .map_err(|e| e.to_string())?
        .connect_timeout(Duration::from_secs(5));
    let channel = tokio::time::timeout(Duration::from_secs(10), endpoint.connect())
        .await
        .map_err(|_| "no connection within 10 s".to_owned())?
        .map_err(|e| format!("{e:?}"))?;
    let token = token.and_then(parse_token);
    Ok(InterceptedService::new(
        channel,
        BearerAuth::new(token.as_ref()),
    ))
}

/// Join's answer within ten seconds.
async fn join(channel: AuthChannel) -> Result<v1::JoinResponse, tonic::Status> {
    let mut client = AgentServiceClient::new(channel);
    let call = client.join(v1::JoinRequest::default());
    tokio::time::timeout(Duration::from_secs(10), call)
        .await
        .expect("an answer to Join within 10 s")
        .map(tonic::Response::into_inner)
}

/// An experiment client of `url` presenting `token`, in plain text.
async fn experiments(url: &str, token: Option<&str>) -> ExperimentServiceClient<AuthChannel> {
    ExperimentServiceClient::new(
        channel(url, &ClientTlsFiles::default(), token)
            .await
            .unwrap(),
    )
}

/// The coordinator's count of joined agents, asked with the admin token.
async fn agents_joined(url: &str, tls: &ClientTlsFiles, experiment: &str) -> u32 {
    let channel = channel(url, tls, Some(ADMIN_TOKEN)).await.unwrap();
    ExperimentServiceClient::new(channel)
        .get_experiment_status(v1::GetExperimentStatusRequest {
            experiment_id: experiment.to_owned(),
        })
        .await
        .unwrap()
        .into_inner()
        .agents
}

/// The body of `GET path` over HTTP/1.0.
fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response.split_once("\r\n\r\n").unwrap().1.to_owned()
}

/// `pathnet agent` that must be refused: it gives up after two refusals and says why.
fn refused_agent(name: &str, url: &str, extra: &[&str], envs: &[(&str, &str)]) -> String {
    let mut args = vec!["--connect-attempts", "2", "--max-backoff-ms", "100"];
    args.extend_from_slice(extra);
    let mut agent = agent_with(name, url, &args, envs);
    let status = agent.wait(Duration::from_secs(60));
    let log = agent.drain_stderr();
    assert!(!status.success(), "{name} was let in:\n{log}");
    assert!(log.contains("refused this agent 2 times"), "{name}:\n{log}");
    log
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_without_the_right_token_are_refused_and_the_right_one_finishes_the_run() {
    let dir = scratch_dir("security-tokens");
    let spec = dir.join("spec.toml");
    let out = dir.join("summary.json");
    std::fs::write(&spec, common::spec(&fashion_dir(), 2, 2, 8)).unwrap();
    let (agent_file, admin_file) = token_files(&dir);
    let (mut coordinator, url) = coordinator_running(
        &spec,
        &out,
        &[
            "--agent-token-file",
            agent_file.to_str().unwrap(),
            "--admin-token-file",
            admin_file.to_str().unwrap(),
            "--metrics-listen",
            "127.0.0.1:0",
        ],
    );
    let metrics = coordinator.metrics_address(Duration::from_secs(30));
    let started = coordinator.stdout_line("experiment", Duration::from_secs(30));
    let experiment = started.split(' ').nth(1).unwrap().to_owned();
    let plain = ClientTlsFiles::default();

    // Without a token, and with a wrong one, over the wire: refused, nothing registered.
    let refused = join(channel(&url, &plain, None).await.unwrap())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");
    let refused = join(channel(&url, &plain, Some("guess")).await.unwrap())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");
    // The same as processes: each agent gives up with the reason.
    let log = refused_agent("no-token", &url, &[], &[]);
    assert!(log.contains("Unauthenticated"), "{log}");
    let log = refused_agent(
        "wrong-token",
        &url,
        &[],
        &[("PATHNET_AGENT_TOKEN", "guess")],
    );
    assert!(log.contains("Unauthenticated"), "{log}");
    assert!(!log.contains("guess"), "the token was logged:\n{log}");
    assert_eq!(agents_joined(&url, &plain, &experiment).await, 0);
    let scrape = http_get(&metrics, "/metrics");
    for refused in [
        "pathnet_auth_refused_total{reason=\"missing_token\"} ",
        "pathnet_auth_refused_total{reason=\"invalid_token\"} ",
    ] {
        let line = scrape.lines().find(|l| l.starts_with(refused)).unwrap();
        let count: u64 = line[refused.len()..].parse().unwrap();
        assert!(count >= 3, "{line}");
    }
    assert!(scrape.contains("pathnet_agents_connected 0"), "{scrape}");

    // The health service stays open for probes.
    let health = channel(&url, &plain, None).await.unwrap();
    let answer = tonic_health::pb::health_client::HealthClient::new(health)
        .check(tonic_health::pb::HealthCheckRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        answer.status(),
        tonic_health::pb::health_check_response::ServingStatus::Serving
    );

    // The right token, from a file: the run finishes, every result counted once.
    let mut agent = agent_with(
        "agent",
        &url,
        &["--agent-token-file", agent_file.to_str().unwrap()],
        &[],
    );
    assert!(
        coordinator.wait(RUN_DEADLINE).success(),
        "{}",
        coordinator.drain_stderr()
    );
    let summary = read_json(&out);
    assert_exactly_once(&summary);
    assert!(agent.wait(Duration::from_secs(30)).success());
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_admin_token_starts_and_stops_experiments() {
    let dir = scratch_dir("security-admin");
    let (agent_file, admin_file) = token_files(&dir);
    let (_coordinator, url) = coordinator(&[
        "--agent-token-file",
        agent_file.to_str().unwrap(),
        "--admin-token-file",
        admin_file.to_str().unwrap(),
    ]);
    let spec_toml = common::spec(&fashion_dir(), 2, 2, 8);
    let start = async |token| {
        let spec_toml = spec_toml.clone();
        experiments(&url, token)
            .await
            .start_experiment(v1::StartExperimentRequest { spec_toml })
            .await
    };
    let stop = async |token, id: &str| {
        let experiment_id = id.to_owned();
        experiments(&url, token)
            .await
            .stop_experiment(v1::StopExperimentRequest {
                experiment_id,
                ..Default::default()
            })
            .await
    };
    let status = async |token, id: &str| {
        let experiment_id = id.to_owned();
        experiments(&url, token)
            .await
            .get_experiment_status(v1::GetExperimentStatusRequest { experiment_id })
            .await
    };

    assert_eq!(start(None).await.unwrap_err().code(), Code::Unauthenticated);
    assert_eq!(
        start(Some("guess")).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    let denied = start(Some(AGENT_TOKEN)).await.unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");
    // Nothing was started by the refused calls.
    let none = status(Some(AGENT_TOKEN), "").await.unwrap_err();
    assert_eq!(none.code(), Code::NotFound, "{none:?}");

    let id = start(Some(ADMIN_TOKEN))
        .await
        .unwrap()
        .into_inner()
        .experiment_id;
    let denied = stop(Some(AGENT_TOKEN), &id).await.unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");
    assert_eq!(
        stop(None, &id).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    let running = status(Some(AGENT_TOKEN), &id).await.unwrap().into_inner();
    assert_eq!(running.state(), v1::ExperimentState::Running, "{running:?}");
    stop(Some(ADMIN_TOKEN), &id).await.unwrap();
    let stopped = status(Some(ADMIN_TOKEN), &id).await.unwrap().into_inner();
    assert_ne!(stopped.state(), v1::ExperimentState::Running, "{stopped:?}");
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_text_client_fails_cleanly_against_the_tls_port() {
    let dir = scratch_dir("security-tls");
    let certs = make_certs(&dir);
    let (_coordinator, url) = coordinator(&[
        "--tls-cert",
        certs.server_cert.to_str().unwrap(),
        "--tls-key",
        certs.server_key.to_str().unwrap(),
    ]);
    let plain = ClientTlsFiles::default();
    let begun = Instant::now();
    let answer = match channel(&url, &plain, None).await {
        Ok(channel) => join(channel)
            .await
            .map(|_| ())
            .map_err(|s| format!("{s:?}")),
        Err(err) => Err(err),
    };
    assert!(answer.is_err(), "plain text was served over the TLS port");
    assert!(
        begun.elapsed() < Duration::from_secs(20),
        "{:?}",
        begun.elapsed()
    );

    // An agent process told the plain URL ends rather than hang or spin.
    let mut agent = agent_with(
        "plain",
        &url,
        &["--connect-attempts", "2", "--max-backoff-ms", "100"],
        &[],
    );
    agent.wait(Duration::from_secs(60));

    // Over TLS, trusting the authority, it is served.
    let https = url.replacen("http://", "https://", 1);
    let tls = ClientTlsFiles {
        ca: Some(certs.ca.clone()),
        ..Default::default()
    };
    join(channel(&https, &tls, None).await.unwrap())
        .await
        .unwrap();
    // By name too, when the URL holds an address.
    let named = ClientTlsFiles {
        server_name: Some("localhost".into()),
        ..tls.clone()
    };
    join(channel(&https, &named, None).await.unwrap())
        .await
        .unwrap();

    // `pathnet experiment` takes the same TLS flags: refused cleanly in plain text, served
    // over TLS.
    let spec = dir.join("spec.toml");
    std::fs::write(&spec, common::spec(&fashion_dir(), 2, 2, 8)).unwrap();
    let spec = spec.to_str().unwrap();
    let ca = certs.ca.to_str().unwrap();
    let plain_cmd = ["start", spec, "--connect-timeout-ms", "5000"];
    let (ok, _, err) = experiment_cmd(&with(&[&plain_cmd, &["--coordinator", &url]]), &[]);
    assert!(!ok && err.contains("cannot reach the coordinator"), "{err}");
    assert!(err.contains("https://"), "{err}");
    let (ok, out, err) = experiment_cmd(
        &with(&[&["start", spec, "--coordinator", &https, "--tls-ca", ca]]),
        &[],
    );
    assert!(ok && out.trim().starts_with("cluster"), "{out}\n{err}");
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_mutual_tls_a_client_needs_a_certificate_and_the_run_finishes() {
    let dir = scratch_dir("security-mtls");
    let certs = make_certs(&dir);
    let spec = dir.join("spec.toml");
    let out = dir.join("summary.json");
    std::fs::write(&spec, common::spec(&fashion_dir(), 2, 2, 8)).unwrap();
    let (agent_file, admin_file) = token_files(&dir);
    let (mut coordinator, url) = coordinator_running(
        &spec,
        &out,
        &[
            "--tls-cert",
            certs.server_cert.to_str().unwrap(),
            "--tls-key",
            certs.server_key.to_str().unwrap(),
            "--tls-client-ca",
            certs.ca.to_str().unwrap(),
            "--agent-token-file",
            agent_file.to_str().unwrap(),
            "--admin-token-file",
            admin_file.to_str().unwrap(),
            "--health-listen",
            "127.0.0.1:0",
        ],
    );
    // Probes that hold neither a certificate nor a token (the kubelet's) ask the health
    // listener, in plain text; it serves health and nothing else.
    let line = coordinator.stdout_line("health listening on", Duration::from_secs(30));
    let health_url = format!("http://{}", line.split(' ').nth(3).unwrap());
    let plain = ClientTlsFiles::default();
    let answer = tonic_health::pb::health_client::HealthClient::new(
        channel(&health_url, &plain, None).await.unwrap(),
    )
    .check(tonic_health::pb::HealthCheckRequest::default())
    .await
    .unwrap()
    .into_inner();
    assert_eq!(
        answer.status(),
        tonic_health::pb::health_check_response::ServingStatus::Serving
    );
    let elsewhere = join(
        channel(&health_url, &plain, Some(AGENT_TOKEN))
            .await
            .unwrap(),
    )
    .await
    .unwrap_err();
    assert_eq!(elsewhere.code(), Code::Unimplemented, "{elsewhere:?}");
    let https = url.replacen("http://", "https://", 1);
    let no_cert = ClientTlsFiles {
        ca: Some(certs.ca.clone()),
        ..Default::default()
    };
    let refused = match channel(&https, &no_cert, Some(AGENT_TOKEN)).await {
        Ok(channel) => join(channel)
            .await
            .map(|_| ())
            .map_err(|s| format!("{s:?}")),
        Err(err) => Err(err),
    };
    assert!(
        refused.is_err(),
        "a client without a certificate was served"
    );

    let ca = certs.ca.to_str().unwrap();
    let mut agent = agent_with(
        "mtls-agent",
        &https,
        &[
            "--tls-ca",
            ca,
            "--tls-cert",
            certs.client_cert.to_str().unwrap(),
            "--tls-key",
            certs.client_key.to_str().unwrap(),
        ],
        &[("PATHNET_AGENT_TOKEN", AGENT_TOKEN)],
    );
    assert!(
        coordinator.wait(RUN_DEADLINE).success(),
        "{}",
        coordinator.drain_stderr()
    );
    assert_exactly_once(&read_json(&out));
    assert!(agent.wait(Duration::from_secs(30)).success());
    std::fs::remove_dir_all(dir).ok();
}

/// The arguments of `parts` in order.
fn with<'a>(parts: &[&[&'a str]]) -> Vec<&'a str> {
    parts.concat()
}

/// `pathnet experiment ARGS` to its end within a minute: (success, stdout, stderr).
fn experiment_cmd(args: &[&str], envs: &[(&str, &str)]) -> (bool, String, String) {
    let mut all = vec!["experiment"];
    all.extend_from_slice(args);
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_pathnet"))
        .args(&all)
        // The caller's own settings must not leak into what is tested.
        .env_remove("PATHNET_TOKEN")
        .env_remove("PATHNET_TOKEN_FILE")
        .env_remove("PATHNET_COORDINATOR")
        .envs(envs.iter().copied())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("the pathnet binary runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_experiment_command_starts_and_stops_with_the_admin_token_only() {
    let dir = scratch_dir("security-experiment-cmd");
    let (agent_file, admin_file) = token_files(&dir);
    let (_coordinator, url) = coordinator(&[
        "--agent-token-file",
        agent_file.to_str().unwrap(),
        "--admin-token-file",
        admin_file.to_str().unwrap(),
    ]);
    let spec = dir.join("spec.toml");
    std::fs::write(&spec, common::spec(&fashion_dir(), 2, 2, 8)).unwrap();
    let spec = spec.to_str().unwrap();
    let agent = ["--token-file", agent_file.to_str().unwrap()];
    let admin = ["--token-file", admin_file.to_str().unwrap()];
    let at = ["--coordinator", url.as_str()];

    // The agent token: refused, told which token to present, nothing started.
    let (ok, out, err) = experiment_cmd(&with(&[&["start", spec], &at, &agent]), &[]);
    assert!(!ok && out.is_empty(), "{out}\n{err}");
    assert!(err.contains("PERMISSION_DENIED"), "{err}");
    assert!(err.contains("`--admin-token-file`"), "{err}");
    assert!(!err.contains(AGENT_TOKEN), "the token was printed: {err}");
    // No token, and a wrong one from the environment: told how to present one.
    let (ok, _, err) = experiment_cmd(&with(&[&["start", spec], &at]), &[]);
    assert!(!ok && err.contains("UNAUTHENTICATED"), "{err}");
    assert!(err.contains("PATHNET_TOKEN"), "{err}");
    let (ok, _, err) = experiment_cmd(
        &with(&[&["start", spec], &at]),
        &[("PATHNET_TOKEN", "guess")],
    );
    assert!(!ok && err.contains("UNAUTHENTICATED"), "{err}");
    assert!(!err.contains("guess"), "the token was printed: {err}");
    let none = experiments(&url, Some(AGENT_TOKEN))
        .await
        .get_experiment_status(v1::GetExperimentStatusRequest::default())
        .await
        .unwrap_err();
    assert_eq!(none.code(), Code::NotFound, "{none:?}");
    // Listing is the admin's: nothing to list yet, and the agent token may not.
    let (ok, out, err) = experiment_cmd(&with(&[&["list", "--json"], &at, &admin]), &[]);
    assert!(ok && out.trim() == "[]", "{out}\n{err}");
    let (ok, out, err) = experiment_cmd(&with(&[&["list"], &at, &agent]), &[]);
    assert!(!ok && out.is_empty(), "{out}\n{err}");
    assert!(err.contains("PERMISSION_DENIED"), "{err}");

    // A wrong spec: the field is named.
    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        common::spec(&fashion_dir(), 2, 2, 8).replace("population = 6", "population = 0"),
    )
    .unwrap();
    let (ok, _, err) = experiment_cmd(
        &with(&[&["start", bad.to_str().unwrap()], &at, &admin]),
        &[],
    );
    assert!(!ok && err.contains("INVALID_ARGUMENT"), "{err}");
    assert!(err.contains("population"), "{err}");

    // The admin token starts it; the id is the only thing on stdout.
    let (ok, out, err) = experiment_cmd(&with(&[&["start", spec], &at, &admin]), &[]);
    assert!(ok, "{err}");
    let id = out.trim().to_owned();
    assert!(id.starts_with("cluster"), "{out}");
    let (ok, out, err) = experiment_cmd(&with(&[&["status", &id, "--json"], &at, &agent]), &[]);
    assert!(ok, "{err}");
    let status: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(status["state"], "running", "{status}");
    assert_eq!(status["kind"], "pathnet", "{status}");
    // The list holds it: one line under the header, id, kind and state in columns.
    let (ok, out, err) = experiment_cmd(&with(&[&["list"], &at, &admin]), &[]);
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[0].starts_with("ID"), "{out}");
    let cells: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(cells[..3], [id.as_str(), "pathnet", "running"], "{out}");

    // Stopping: refused with the agent token (still running), done with the admin token.
    let (ok, _, err) = experiment_cmd(&with(&[&["stop", &id], &at, &agent]), &[]);
    assert!(!ok && err.contains("PERMISSION_DENIED"), "{err}");
    let (ok, out, err) = experiment_cmd(&with(&[&["status", &id], &at, &admin]), &[]);
    assert!(
        ok && out.contains(&format!("{id}  running")),
        "{out}\n{err}"
    );
    let (ok, out, err) = experiment_cmd(&with(&[&["stop", &id], &at, &admin]), &[]);
    assert!(ok, "{err}");
    assert!(["stopping", "stopped"].contains(&out.trim()), "{out}");
    let (ok, out, err) = experiment_cmd(&with(&[&["status", &id], &at, &admin]), &[]);
    assert!(ok && !out.contains("running"), "{out}\n{err}");
    // A stopped experiment is still listed, until another starts.
    let (ok, out, err) = experiment_cmd(&with(&[&["list", "--json"], &at, &admin]), &[]);
    assert!(ok, "{err}");
    let listed: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(listed[0]["experiment_id"], id.as_str(), "{listed}");
    assert_ne!(listed[0]["state"], "running", "{listed}");

    // An unknown id: named as such.
    let (ok, _, err) = experiment_cmd(&with(&[&["stop", "nope-9"], &at, &admin]), &[]);
    assert!(!ok && err.contains("NOT_FOUND"), "{err}");
    std::fs::remove_dir_all(dir).ok();
}

/// `GET path` over HTTP/1.0 with `authorization` as that header: (status code, body).
fn http_get_as(addr: &str, path: &str, authorization: Option<&str>) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let header = authorization
        .map(|value| format!("Authorization: {value}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {addr}\r\n{header}\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let code = response
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {response}"));
    (code, response)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_token_closes_metrics_and_dashboard_but_not_healthz() {
    let dir = scratch_dir("security-metrics-token");
    let (agent_file, admin_file) = token_files(&dir);
    let metrics_file = dir.join("metrics.token");
    std::fs::write(&metrics_file, "metrics-9c4e1a7b3d\n").unwrap();
    let (mut coordinator, _url) = coordinator(&[
        "--agent-token-file",
        agent_file.to_str().unwrap(),
        "--admin-token-file",
        admin_file.to_str().unwrap(),
        "--metrics-token-file",
        metrics_file.to_str().unwrap(),
        "--metrics-listen",
        "127.0.0.1:0",
    ]);
    let addr = coordinator.metrics_address(Duration::from_secs(30));

    for path in ["/metrics", "/", "/events"] {
        for refused in [
            None,
            Some("Bearer guess"),
            Some("Bearer agent-7f3a9c1e5b"),
            // "prometheus:guess"
            Some("Basic cHJvbWV0aGV1czpndWVzcw=="),
        ] {
            let (code, response) = http_get_as(&addr, path, refused);
            assert_eq!(code, 401, "{path} {refused:?}: {response}");
            let lower = response.to_ascii_lowercase();
            assert!(lower.contains("www-authenticate: basic"), "{response}");
            assert!(lower.contains("www-authenticate: bearer"), "{response}");
            assert!(!response.contains("pathnet_"), "{response}");
        }
    }
    let (code, body) = http_get_as(&addr, "/metrics", Some("Bearer metrics-9c4e1a7b3d"));
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("pathnet_agents_connected 0"), "{body}");
    // A browser's Basic credentials, any user name: "me:metrics-9c4e1a7b3d".
    let (code, body) = http_get_as(&addr, "/", Some("Basic bWU6bWV0cmljcy05YzRlMWE3YjNk"));
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("<html"), "{body}");
    // Probes stay open.
    let (code, body) = http_get_as(&addr, "/healthz", None);
    assert_eq!(code, 200, "{body}");
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_that_keeps_guessing_is_held_back() {
    let dir = scratch_dir("security-rate-limit");
    let (agent_file, admin_file) = token_files(&dir);
    let (mut coordinator, url) = coordinator(&[
        "--agent-token-file",
        agent_file.to_str().unwrap(),
        "--admin-token-file",
        admin_file.to_str().unwrap(),
        "--metrics-listen",
        "127.0.0.1:0",
    ]);
    let metrics = coordinator.metrics_address(Duration::from_secs(30));
    let plain = ClientTlsFiles::default();
    let guesser = channel(&url, &plain, Some("guess")).await.unwrap();
    // The default allowance: 20 wrong tokens in a row are each told so...
    for i in 0..20 {
        let refused = join(guesser.clone()).await.unwrap_err();
        assert_eq!(
            refused.code(),
            Code::Unauthenticated,
            "call {i}: {refused:?}"
        );
    }
    // ...then every call from the address is held back, the right token's too.
    let held = join(guesser.clone()).await.unwrap_err();
    assert_eq!(held.code(), Code::ResourceExhausted, "{held:?}");
    assert!(held.message().contains("wait"), "{held:?}");
    let right = channel(&url, &plain, Some(AGENT_TOKEN)).await.unwrap();
    let held = join(right.clone()).await.unwrap_err();
    assert_eq!(held.code(), Code::ResourceExhausted, "{held:?}");
    // Probes are not.
    tonic_health::pb::health_client::HealthClient::new(channel(&url, &plain, None).await.unwrap())
        .check(tonic_health::pb::HealthCheckRequest::default())
        .await
        .unwrap();
    let scrape = http_get(&metrics, "/metrics");
    assert!(
        scrape.contains("pathnet_auth_refused_total{reason=\"rate_limited\"} 2"),
        "{scrape}"
    );
    assert!(
        scrape.contains("pathnet_auth_refused_total{reason=\"invalid_token\"} 20"),
        "{scrape}"
    );
    // The allowance refills (one call a second): the right token gets in again.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match join(right.clone()).await {
            Ok(_) => break,
            Err(status) => {
                assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
                assert!(Instant::now() < deadline, "still held back after 10 s");
                // Polling the refill, not synchronising with another task.
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    std::fs::remove_dir_all(dir).ok();
}

/// `GET path` over HTTPS (HTTP/1.0), trusting only the authority in `ca`:
/// (status code, response) or the TLS error.
async fn https_get_as(
    addr: &str,
    ca: &Path,
    path: &str,
    authorization: Option<&str>,
) -> Result<(u16, String), String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
    use tokio_rustls::rustls::{ClientConfig, RootCertStore};
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let exchange = async {
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| e.to_string())?;
        let name = ServerName::try_from("127.0.0.1").unwrap();
        let mut tls = connector
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS: {e}"))?;
        let header = authorization
            .map(|value| format!("Authorization: {value}\r\n"))
            .unwrap_or_default();
        let request = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n{header}\r\n");
        tls.write_all(request.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut response = Vec::new();
        tls.read_to_end(&mut response)
            .await
            .map_err(|e| e.to_string())?;
        Ok::<_, String>(String::from_utf8_lossy(&response).into_owned())
    };
    let response = tokio::time::timeout(Duration::from_secs(30), exchange)
        .await
        .map_err(|_| "no answer within 30 s".to_owned())??;
    let code = response
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {response}"));
    Ok((code, response))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_listener_speaks_https_and_refuses_plain_http() {
    let dir = scratch_dir("security-metrics-tls");
    let certs = make_certs(&dir);
    let metrics_file = dir.join("metrics.token");
    std::fs::write(&metrics_file, "metrics-5e7a2c9d1f\n").unwrap();
    let (mut coordinator, _url) = coordinator(&[
        "--metrics-token-file",
        metrics_file.to_str().unwrap(),
        "--metrics-tls-cert",
        certs.server_cert.to_str().unwrap(),
        "--metrics-tls-key",
        certs.server_key.to_str().unwrap(),
        "--metrics-listen",
        "127.0.0.1:0",
    ]);
    let line = coordinator.stdout_line("metrics listening on ", Duration::from_secs(30));
    let addr = line
        .split_once("metrics listening on https://")
        .unwrap_or_else(|| panic!("not https: {line}"))
        .1
        .trim_end_matches("/metrics")
        .to_owned();

    // Plain HTTP gets a plain answer saying what to use, not a reset or a hang.
    let (code, response) = http_get_as(&addr, "/metrics", None);
    assert_eq!(code, 400, "{response}");
    assert!(response.contains("https://"), "{response}");
    assert!(!response.contains("pathnet_"), "{response}");

    // Over HTTPS the token is still required, and /healthz stays open.
    let (code, response) = https_get_as(&addr, &certs.ca, "/metrics", None)
        .await
        .unwrap();
    assert_eq!(code, 401, "{response}");
    let bearer = Some("Bearer metrics-5e7a2c9d1f");
    let (code, body) = https_get_as(&addr, &certs.ca, "/metrics", bearer)
        .await
        .unwrap();
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("pathnet_agents_connected 0"), "{body}");
    let (code, body) = https_get_as(&addr, &certs.ca, "/", bearer).await.unwrap();
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("<html"), "{body}");
    let (code, body) = https_get_as(&addr, &certs.ca, "/healthz", None)
        .await
        .unwrap();
    assert_eq!(code, 200, "{body}");

    // A client that does not trust the coordinator's authority gets no answer at all.
    let other = dir.join("other");
    std::fs::create_dir_all(&other).unwrap();
    let stranger = make_certs(&other);
    let refused = https_get_as(&addr, &stranger.ca, "/healthz", None).await;
    assert!(
        refused.as_ref().is_err_and(|e| e.starts_with("TLS:")),
        "{refused:?}"
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_metrics_certificate_that_is_not_one_is_refused_naming_the_flag() {
    let dir = scratch_dir("security-metrics-bad-cert");
    let certs = make_certs(&dir);
    // Swapped files, a likely slip: a key where the certificate belongs.
    let bogus = &certs.server_key;
    let mut coordinator = spawn(
        "coordinator",
        &[
            "coordinator",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
            "--metrics-tls-cert",
            bogus.to_str().unwrap(),
            "--metrics-tls-key",
            certs.server_key.to_str().unwrap(),
        ],
        &[],
    );
    let status = coordinator.wait(Duration::from_secs(30));
    let log = coordinator.drain_stderr();
    assert!(!status.success(), "{log}");
    assert!(log.contains("`--metrics-tls-cert`"), "{log}");
    assert!(log.contains("the certificate"), "{log}");
    std::fs::remove_dir_all(dir).ok();
}
