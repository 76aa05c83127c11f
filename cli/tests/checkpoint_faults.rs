//! Faults around a coordinator's state directory, real processes on 127.0.0.1: saves that
//! fail (the manifest's temporary file blocked, as a full disk or an unwritable directory
//! would) are logged, counted in `pathnet_checkpoint_failures_total` and tried again at the
//! next interval, while the last saved state stays whole on disk; and leases live when the
//! coordinator is killed are counted, on resuming, in
//! `pathnet_leases_ended_total{reason="restarted"}`. Synchronised on log lines and exits.

mod common;

use common::state_dir::*;
use common::*;
use pathnet_coordinator::checkpoint;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

const STEP: Duration = Duration::from_secs(120);

/// Waits for a save of the experiment with at least one result accepted; returns its line.
fn saved_with_results(coordinator: &mut Proc) -> String {
    loop {
        let line = plain(&coordinator.stderr_line("checkpoint written", STEP));
        if line.contains("experiment=\"cluster-") && !line.contains("accepted=0 ") {
            return line;
        }
    }
}

/// The value of the sample `series` (name with labels, exactly as written) in `/metrics`.
fn metric(addr: &str, series: &str) -> f64 {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(stream, "GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no `{series}` in\n{response}"))
        .trim()
        .parse()
        .unwrap()
}

/// A coordinator on `addr` keeping its state in `state`, saving every 100 ms, with metrics;
/// returns it and its metrics address.
fn start_with_metrics(addr: &str, files: (&Path, &Path, &Path)) -> (Proc, String) {
    let mut proc = start(addr, files, "100", &["--metrics-listen", "127.0.0.1:0"]);
    let metrics = proc.metrics_address(Duration::from_secs(30));
    (proc, metrics)
}

/// The run to its end, every result applied once; its summary.
fn finish_once(mut coordinator: Proc, mut agents: Vec<Proc>, out: &Path) -> serde_json::Value {
    let summary = finish(&mut coordinator, &mut agents, out, Duration::from_secs(240));
    assert_exactly_once(&summary);
    summary
}

#[test]
fn a_failed_save_is_counted_and_retried_and_the_last_state_stays_whole() {
    let dir = scratch_dir("save-fails");
    let (spec, out, state) = state_files(&dir);
    std::fs::write(&spec, common::spec(&fashion_dir(), 30, 200, 16)).unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let files = (spec.as_path(), out.as_path(), state.as_path());
    let (mut coordinator, metrics) = start_with_metrics(&addr, files);
    let agents = agents(&format!("http://{addr}"), 1, &[]);
    saved_with_results(&mut coordinator);

    // A directory where the manifest's temporary file goes: every save fails there, as on
    // a full disk, and for any user (root included).
    let block = state.join(".tmp-state.json");
    std::fs::create_dir(&block).unwrap();
    coordinator.stderr_line("the state could not be saved", STEP);
    coordinator.stderr_line("the state could not be saved", STEP);
    assert!(metric(&metrics, "pathnet_checkpoint_failures_total") >= 2.0);
    // The last state written is whole, and failed saves left none of their tensors behind.
    let saved = checkpoint::read(&state).unwrap().unwrap();
    let tensors = saved.manifest.experiment.unwrap().tensors;
    let mut files: Vec<String> = std::fs::read_dir(&state)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut expected = vec![
        ".tmp-state.json".to_owned(),
        "state.json".to_owned(),
        tensors,
    ];
    expected.sort();
    assert_eq!(files, expected);

    let written = metric(&metrics, "pathnet_checkpoints_written_total");
    std::fs::remove_dir(&block).unwrap();
    coordinator.stderr_line("checkpoint written", STEP);
    assert!(metric(&metrics, "pathnet_checkpoints_written_total") > written);
    finish_once(coordinator, agents, &out);
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn leases_live_at_a_kill_are_counted_as_restarted_on_resuming() {
    let dir = scratch_dir("restarted");
    let (spec, out, state) = state_files(&dir);
    // Evaluations long enough that the agents hold leases nearly all the time.
    std::fs::write(&spec, common::spec(&fashion_dir(), 10, 400, 16)).unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let files = (spec.as_path(), out.as_path(), state.as_path());
    let (mut coordinator, _) = start_with_metrics(&addr, files);
    let agents = agents(&format!("http://{addr}"), 2, &[]);
    // A save after the agents took work.
    let saved = saved_with_results(&mut coordinator);
    coordinator.kill9();

    let (mut coordinator, metrics) = start_with_metrics(&addr, files);
    let line = coordinator.stdout_line("resumed", Duration::from_secs(30));
    let requeued: u64 = line
        .split("accepted; ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{line}"));
    assert!(
        requeued >= 1,
        "no work was leased at the save: {saved}\n{line}"
    );
    let restarted = metric(&metrics, "pathnet_leases_ended_total{reason=\"restarted\"}");
    assert_eq!(restarted, requeued as f64, "{line}");
    let summary = finish_once(coordinator, agents, &out);
    assert_eq!(summary["leases"]["restarted"], requeued, "{summary}");
    std::fs::remove_dir_all(dir).ok();
}
