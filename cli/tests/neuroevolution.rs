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

fn run(name: &str, agents: &str) -> serde_json::Value {
    run_summary(name, &example(), &["--agents", agents], RUN_DEADLINE)
}

#[test]
fn two_agents_solve_parity_from_seed_lists() {
    let summary = run("ga-two", "2");
    assert_eq!(summary["kind"], "neuroevolution", "{summary}");
    assert_eq!(summary["solved"], true, "{summary}");
    let evaluations = u64_at(&summary, "evaluations");
    assert_eq!(
        u64_at(&summary, "evaluations_to_solve"),
        evaluations,
        "{summary}"
    );
    // Every evaluation handed out was reported once, except those in flight at the end.
    let leases = &summary["leases"];
    assert_eq!(u64_at(leases, "reported"), evaluations, "{summary}");
    assert!(u64_at(leases, "granted") >= evaluations, "{summary}");
    // Seed lists, not weights, crossed the wire.
    let genome = summary["genome_bytes_mean"].as_f64().unwrap();
    assert!(genome > 0.0, "{summary}");
    assert!(
        genome * 4.0 < u64_at(&summary, "weight_bytes") as f64,
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
    let summary = run_summary("ga-truncation", &spec, &["--agents", "2"], RUN_DEADLINE);
    assert_eq!(summary["algorithm"], "truncation", "{summary}");
    assert_eq!(summary["solved"], true, "{summary}");
    assert!(u64_at(&summary, "generations") >= 1, "{summary}");
    std::fs::remove_dir_all(dir).ok();
}
