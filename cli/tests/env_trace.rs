//! `pathnet env trace` end to end: output format, stopping rule, and exit status 2 with a
//! clear message for each kind of bad input.

use serde_json::Value;
use std::process::{Command, Output};

fn pathnet_trace(env: &str, state: &str, actions: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pathnet"))
        .args([
            "env",
            "trace",
            "--env",
            env,
            "--state",
            state,
            "--actions",
            actions,
        ])
        .output()
        .expect("run the pathnet binary")
}

fn stdout_lines(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is one JSON object"))
        .collect()
}

fn assert_fails_with(out: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert!(stderr.contains(needle), "expected {needle:?} in: {stderr}");
    assert!(
        out.stdout.is_empty(),
        "no steps may be printed on bad input"
    );
}

#[test]
fn cartpole_trace_prints_steps_until_termination() {
    // Pushing right from near the right edge runs off the track within a few steps.
    let out = pathnet_trace("CartPole-v1", "2.3,1.0,0.0,0.0", "1,1,1,1,1,1,1,1,1,1");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let steps = stdout_lines(&out);
    assert!(!steps.is_empty() && steps.len() < 10, "{steps:?}");
    for (i, s) in steps.iter().enumerate() {
        let keys: Vec<&str> = s.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys.len(), 4, "{s}");
        assert_eq!(s["obs"].as_array().unwrap().len(), 4);
        assert_eq!(s["reward"], 1.0);
        assert_eq!(s["truncated"], false);
        assert_eq!(s["terminated"], i + 1 == steps.len());
    }
    // x after one euler step: 2.3 + 0.02 * 1.0.
    let x = steps[0]["obs"][0].as_f64().unwrap();
    assert!((x - 2.32).abs() < 1e-6, "{x}");
}

#[test]
fn pendulum_trace_clips_and_truncates_at_200() {
    let actions = vec!["3.5"; 205].join(",");
    let out = pathnet_trace("Pendulum-v1", "-1.0,0.5", &actions);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let steps = stdout_lines(&out);
    assert_eq!(steps.len(), 200);
    assert_eq!(steps[199]["truncated"], true);
    assert_eq!(steps[198]["truncated"], false);
    let clipped = pathnet_trace("Pendulum-v1", "-1.0,0.5", "2.0");
    assert_eq!(stdout_lines(&clipped)[0], steps[0]);
}

#[test]
fn unknown_environment_is_exit_2() {
    let out = pathnet_trace("CartPole-v9", "0,0,0,0", "0");
    assert_fails_with(&out, "unknown environment \"CartPole-v9\"");
}

#[test]
fn wrong_state_length_is_exit_2() {
    let out = pathnet_trace("MountainCar-v0", "-0.5,0,1", "1");
    assert_fails_with(&out, "MountainCar-v0: state must have 2 values, got 3");
}

#[test]
fn out_of_range_action_is_exit_2() {
    let out = pathnet_trace("Acrobot-v1", "0,0,0,0", "0,1,3");
    assert_fails_with(&out, "invalid action 3; the action space is Discrete(3)");
}

#[test]
fn unparsable_numbers_are_exit_2() {
    let out = pathnet_trace("CartPole-v1", "0,0,zero,0", "0");
    assert_fails_with(&out, "could not parse state value \"zero\"");
    let out = pathnet_trace("CartPole-v1", "0,0,0,0", "0,left");
    assert_fails_with(&out, "could not parse action \"left\"");
    let out = pathnet_trace("Pendulum-v1", "0,0", "0.5,1e");
    assert_fails_with(&out, "could not parse action \"1e\"");
}
