//! Neuroevolution on the lease scheduler, as real processes on 127.0.0.1: the parity example
//! solved by two agents that rebuild genomes from seed lists, and the in-process run
//! reproducible for its seed.

mod common;

use common::*;
use std::path::PathBuf;
use std::time::Duration;

const RUN_DEADLINE: Duration = Duration::from_secs(300);

fn example() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/sm_parity.toml")
}

fn n(summary: &serde_json::Value, key: &str) -> u64 {
    summary[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key}: {summary}"))
}

fn run(name: &str, agents: &str) -> serde_json::Value {
    run_spec(name, &example(), agents)
}

fn run_spec(name: &str, spec: &std::path::Path, agents: &str) -> serde_json::Value {
    let dir = scratch_dir(name);
    let out = dir.join("summary.json");
    let mut run = spawn(
        "run",
        &[
            "run",
            spec.to_str().unwrap(),
            "--agents",
            agents,
            "--summary-json",
            out.to_str().unwrap(),
        ],
        &[],
    );
    assert!(run.wait(RUN_DEADLINE).success(), "{}", run.drain_stderr());
    let summary = read_json(&out);
    std::fs::remove_dir_all(dir).ok();
    summary
}

#[test]
fn two_agents_solve_parity_from_seed_lists() {
    let summary = run("ga-two", "2");
    assert_eq!(summary["kind"], "neuroevolution", "{summary}");
    assert_eq!(summary["solved"], true, "{summary}");
    let evaluations = n(&summary, "evaluations");
    assert_eq!(
        n(&summary, "evaluations_to_solve"),
        evaluations,
        "{summary}"
    );
    // Every evaluation handed out was reported once, except those in flight at the end.
    let leases = &summary["leases"];
    assert_eq!(n(leases, "reported"), evaluations, "{summary}");
    assert!(n(leases, "granted") >= evaluations, "{summary}");
    // Seed lists, not weights, crossed the wire.
    let genome = summary["genome_bytes_mean"].as_f64().unwrap();
    assert!(genome > 0.0, "{summary}");
    assert!(
        genome * 4.0 < n(&summary, "weight_bytes") as f64,
        "{summary}"
    );
}

#[test]
fn the_in_process_run_is_a_function_of_its_seed() {
    let first = run("ga-local-1", "0");
    let second = run("ga-local-2", "0");
    assert_eq!(first["solved"], true, "{first}");
    for key in ["evaluations_to_solve", "best_fitness", "best_genome"] {
        assert_eq!(first[key], second[key], "{key}: {first} vs {second}");
    }
}

#[test]
fn the_truncation_ga_runs_on_the_lease_scheduler_too() {
    let dir = scratch_dir("ga-truncation-spec");
    let spec = dir.join("truncation.toml");
    let text = std::fs::read_to_string(example())
        .unwrap()
        .replace("\"steady_state\"", "\"truncation\"")
        .replace("tournament_size = 5", "parents = 20\nelites = 1")
        .replace("population = 250", "population = 100");
    assert!(text.contains("\"truncation\""));
    std::fs::write(&spec, text).unwrap();
    let summary = run_spec("ga-truncation", &spec, "2");
    assert_eq!(summary["algorithm"], "truncation", "{summary}");
    assert_eq!(summary["solved"], true, "{summary}");
    assert!(n(&summary, "generations") >= 1, "{summary}");
    std::fs::remove_dir_all(dir).ok();
}
