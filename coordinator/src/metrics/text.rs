//! A [`Snapshot`] in the Prometheus text format (0.0.4), through prometheus-client.
//!
//! The text format, not OpenMetrics: `promtool check metrics` and every Prometheus server
//! read it, and its counter families carry their `_total` names, which OpenMetrics splits.

use super::{
    A3cMetrics, CheckpointMetrics, EXPERIMENT_STATES, ExperimentMetrics, RATE_WINDOW_SECONDS,
    Snapshot, TaskMetrics,
};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, prometheus_text};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::{Registry, Unit};
use std::fmt;

/// The `Content-Type` of [`encode`]'s output.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// Writes every metric of `snapshot`.
pub fn encode(snapshot: &Snapshot) -> Result<String, fmt::Error> {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Scrape(snapshot.clone())));
    let mut text = String::new();
    prometheus_text::encode(&mut text, &registry)?;
    Ok(text)
}

#[derive(Debug)]
struct Scrape(Snapshot);

type Labels = Vec<(&'static str, String)>;

/// One metric family; names are given without the `_total` (counters) and unit suffixes,
/// which the encoder appends.
fn family<M: EncodeMetric>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    rows: Vec<(Labels, M)>,
) -> fmt::Result {
    let Some((_, first)) = rows.first() else {
        return Ok(());
    };
    let mut metric = encoder.encode_descriptor(name, help, unit, first.metric_type())?;
    for (labels, value) in &rows {
        // An empty label set writes no braces.
        value.encode(metric.encode_family(labels)?)?;
    }
    Ok(())
}

fn counter(value: u64) -> ConstCounter<u64> {
    ConstCounter::new(value)
}

fn gauge_u(value: u64) -> ConstGauge<i64> {
    ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX))
}

impl Collector for Scrape {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let s = &self.0;
        let e = &mut encoder;
        let none = Labels::new;
        family(
            e,
            "pathnet_agents_connected",
            "Agents joined and heard from within three lease durations.",
            None,
            vec![(none(), gauge_u(s.agents_connected))],
        )?;
        family(
            e,
            "pathnet_agents_quarantined",
            "Joined agents given no new work because their last leases all failed (up to \
             --max-failures-per-work in a row) while other agents can take it.",
            None,
            vec![(none(), gauge_u(s.agents_quarantined))],
        )?;
        family(
            e,
            "pathnet_leases_outstanding",
            "Work items currently leased to agents.",
            None,
            vec![(none(), gauge_u(s.leases_outstanding))],
        )?;
        family(
            e,
            "pathnet_leases_granted",
            "Leases granted (one per issue of a work item).",
            None,
            vec![(none(), counter(s.leases.granted))],
        )?;
        family(
            e,
            "pathnet_lease_extensions",
            "Lease deadlines pushed out by agent heartbeats.",
            None,
            vec![(none(), counter(s.leases.extended))],
        )?;
        let l = &s.leases;
        let ended = [
            ("reported", l.reported),
            ("expired", l.expired),
            ("released", l.released),
            ("refused", l.refused),
            ("cancelled", l.cancelled),
            ("restarted", l.restarted),
        ];
        family(
            e,
            "pathnet_leases_ended",
            "Leases ended, by how: reported, expired (deadline passed, work re-queued), \
             released (handed back), refused (invalid result, work re-queued), cancelled, \
             restarted (live when the state was saved, work re-queued on resuming).",
            None,
            ended
                .iter()
                .map(|&(how, n)| (vec![("reason", how.to_owned())], counter(n)))
                .collect(),
        )?;
        family(
            e,
            "pathnet_results_refused",
            "Result reports not accepted, by reason.",
            None,
            s.results_refused
                .iter()
                .map(|&(reason, n)| (vec![("reason", reason.to_owned())], counter(n)))
                .collect(),
        )?;
        if !s.auth_refused.is_empty() {
            family(
                e,
                "pathnet_auth_refused",
                "gRPC calls refused by the token check, by reason: missing_token, \
                 invalid_token, permission_denied (a valid token on a method it does not \
                 allow), rate_limited (any call from an address past its allowance of bad \
                 tokens).",
                None,
                s.auth_refused
                    .iter()
                    .map(|&(reason, n)| (vec![("reason", reason.to_owned())], counter(n)))
                    .collect(),
            )?;
        }
        family(
            e,
            "pathnet_work_failures",
            "Leases handed back as failed by their agent, and results refused: the failures \
             counted towards the limit per work (--max-failures-per-work).",
            None,
            vec![(none(), counter(s.work_failures))],
        )?;
        family(
            e,
            "pathnet_parameters_pulled",
            "Parameter tensor bytes sent to agents.",
            Some(&Unit::Bytes),
            vec![(none(), counter(s.parameter_bytes_pulled))],
        )?;
        family(
            e,
            "pathnet_parameters_pushed",
            "Parameter delta tensor bytes received from agents.",
            Some(&Unit::Bytes),
            vec![(none(), counter(s.parameter_bytes_pushed))],
        )?;
        if let Some(c) = &s.checkpoints {
            encode_checkpoints(e, c)?;
        }
        if let Some(x) = &s.experiment {
            encode_experiment(e, x)?;
        }
        Ok(())
    }
}

fn encode_checkpoints(e: &mut DescriptorEncoder, c: &CheckpointMetrics) -> fmt::Result {
    family(
        e,
        "pathnet_checkpoints_written",
        "Saves of the coordinator's state (--state-dir) that reached the disk.",
        None,
        vec![(Labels::new(), counter(c.written))],
    )?;
    family(
        e,
        "pathnet_checkpoint_failures",
        "Saves of the state that failed (full disk, unwritable directory); the last saved \
         state stays on disk and the next interval tries again.",
        None,
        vec![(Labels::new(), counter(c.failed))],
    )?;
    family(
        e,
        "pathnet_checkpoint_last_success_timestamp",
        "Unix time of the last save that reached the disk (0: none yet).",
        Some(&Unit::Seconds),
        vec![(
            Labels::new(),
            ConstGauge::new(c.last_written_unix_ms as f64 / 1e3),
        )],
    )?;
    family(
        e,
        "pathnet_checkpoint_last_size",
        "Bytes of the last saved state (manifest and tensors).",
        Some(&Unit::Bytes),
        vec![(Labels::new(), gauge_u(c.last_bytes))],
    )?;
    family(
        e,
        "pathnet_checkpoint_last_write",
        "Seconds the last save took to write, off the coordinator's lock.",
        Some(&Unit::Seconds),
        vec![(Labels::new(), ConstGauge::new(c.last_write_seconds))],
    )
}

fn encode_experiment(e: &mut DescriptorEncoder, x: &ExperimentMetrics) -> fmt::Result {
    let exp = || vec![("experiment", x.id.clone())];
    family(
        e,
        "pathnet_experiment_state",
        "1 for the experiment's current state, 0 for the others.",
        None,
        EXPERIMENT_STATES
            .iter()
            .map(|&state| {
                let mut labels = exp();
                labels.push(("state", state.to_owned()));
                (labels, gauge_u(u64::from(state == x.state)))
            })
            .collect(),
    )?;
    let c = &x.counters;
    let counters = [
        (
            "pathnet_evaluations",
            "Pathway evaluations whose result was accepted.",
            c.results_accepted,
        ),
        (
            "pathnet_evaluations_issued",
            "Evaluations handed out, re-issues of re-queued ones included.",
            c.evaluations_issued,
        ),
        (
            "pathnet_evaluations_requeued",
            "Handed-out evaluations put back in the queue.",
            c.evaluations_requeued,
        ),
        (
            "pathnet_evaluations_cancelled",
            "Handed-out evaluations dropped because the experiment stopped.",
            c.evaluations_cancelled,
        ),
        (
            "pathnet_tournaments_started",
            "Binary tournaments started.",
            c.tournaments_started,
        ),
        (
            "pathnet_tournaments_resolved",
            "Binary tournaments resolved (both results in).",
            c.tournaments_resolved,
        ),
        (
            "pathnet_module_updates",
            "Module deltas added to the parameters.",
            c.module_updates,
        ),
        (
            "pathnet_stale_module_updates",
            "Module deltas added to parameters newer than the ones they were trained from.",
            c.stale_module_updates,
        ),
        (
            "pathnet_tasks_completed",
            "Tasks of the experiment finished.",
            x.tasks_completed,
        ),
    ];
    for (name, help, value) in counters {
        family(e, name, help, None, vec![(exp(), counter(value))])?;
    }
    let help = format!("Accepted evaluations per second over the last {RATE_WINDOW_SECONDS} s.");
    family(
        e,
        "pathnet_evaluations_per_second",
        &help,
        None,
        vec![(exp(), ConstGauge::new(x.evaluations_per_second))],
    )?;
    let task_labels = |t: &TaskMetrics| {
        let mut labels = exp();
        labels.push(("task", t.index.to_string()));
        labels.push(("task_name", t.name.clone()));
        labels
    };
    let fitness = [
        (
            "pathnet_best_fitness",
            "Best fitness seen on the task (minus the misclassified fraction; 0 is perfect).",
            (|t: &TaskMetrics| t.best_fitness) as fn(&TaskMetrics) -> f64,
        ),
        (
            "pathnet_mean_fitness",
            "Mean of the population members' latest fitnesses on the task.",
            |t| t.mean_fitness,
        ),
    ];
    for (name, help, value) in fitness {
        let rows = x
            .tasks
            .iter()
            .map(|t| (t, value(t)))
            // The text format has NaN, but a gauge that is NaN helps nobody's alerting.
            .filter(|(_, v)| v.is_finite())
            .map(|(t, v)| (task_labels(t), ConstGauge::new(v)))
            .collect();
        family(e, name, help, None, rows)?;
    }
    family(
        e,
        "pathnet_task_generation",
        "Tournaments resolved on the task.",
        None,
        x.tasks
            .iter()
            .map(|t| (task_labels(t), gauge_u(t.generation)))
            .collect(),
    )?;
    if let Some(a3c) = &x.a3c {
        encode_a3c(e, &exp(), a3c)?;
    }
    if let Some(video) = &x.sideways {
        encode_sideways(e, &exp(), video)?;
    }
    Ok(())
}

fn encode_sideways(
    e: &mut DescriptorEncoder,
    exp: &Labels,
    v: &crate::run::VideoProgress,
) -> fmt::Result {
    family(
        e,
        "pathnet_sideways_frames",
        "Video frames the Sideways pipeline trained (a frame of each video counts once).",
        None,
        vec![(exp.clone(), counter(v.frames))],
    )?;
    let gauges = [
        (
            "pathnet_sideways_batches",
            "Batches of videos trained so far.",
            v.batches as f64,
        ),
        (
            "pathnet_sideways_frames_per_second",
            "Frames per second of the latest segment, over its training time.",
            v.frames_per_second,
        ),
        (
            "pathnet_sideways_loss",
            "Mean cross-entropy of the latest segment.",
            v.loss,
        ),
        (
            "pathnet_sideways_accuracy",
            "Fraction of (frame, video) pairs classified correctly in the latest segment.",
            v.accuracy,
        ),
    ];
    for (name, help, value) in gauges {
        if value.is_finite() {
            family(
                e,
                name,
                help,
                None,
                vec![(exp.clone(), ConstGauge::new(value))],
            )?;
        }
    }
    let busy = v
        .stage_busy
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            let mut labels = exp.clone();
            labels.push(("stage", (i + 1).to_string()));
            (labels, ConstGauge::new(b))
        })
        .collect();
    family(
        e,
        "pathnet_sideways_stage_busy",
        "Fraction of the latest segment's training time each stage computed (the rest it \
         waited on its neighbours).",
        None,
        busy,
    )
}

fn encode_a3c(e: &mut DescriptorEncoder, exp: &Labels, a: &A3cMetrics) -> fmt::Result {
    let counters = [
        (
            "pathnet_a3c_env_steps",
            "Environment steps taken by the A3C workers.",
            a.env_steps,
        ),
        (
            "pathnet_a3c_episodes",
            "Episodes the A3C workers finished.",
            a.episodes,
        ),
        (
            "pathnet_a3c_gradient_updates",
            "Pushed gradients applied to the parameters.",
            a.updates_applied,
        ),
    ];
    for (name, help, value) in counters {
        family(e, name, help, None, vec![(exp.clone(), counter(value))])?;
    }
    let dropped = [
        ("stale", a.dropped_stale),
        ("after_stop", a.dropped_after_stop),
    ]
    .into_iter()
    .map(|(reason, value)| {
        let mut labels = exp.clone();
        labels.push(("reason", reason.to_owned()));
        (labels, counter(value))
    })
    .collect();
    family(
        e,
        "pathnet_a3c_gradients_dropped",
        "Pushed gradients not applied: too stale, or after the stop rule held.",
        None,
        dropped,
    )?;
    let mut gauges = vec![
        (
            "pathnet_a3c_staleness_max",
            "Most updates applied between a gradient's base version and its arrival.",
            a.staleness_max as f64,
        ),
        (
            "pathnet_a3c_staleness_mean",
            "Mean updates applied between a gradient's base version and its arrival.",
            a.staleness_mean,
        ),
        (
            "pathnet_a3c_learning_rate",
            "The learning rate the next update uses (annealed with env steps).",
            a.learning_rate,
        ),
    ];
    if let Some(mean) = a.mean_return.filter(|m| m.is_finite()) {
        gauges.push((
            "pathnet_a3c_mean_return",
            "Mean undiscounted return over the experiment's window of recent episodes.",
            mean,
        ));
    }
    for (name, help, value) in gauges {
        family(
            e,
            name,
            help,
            None,
            vec![(exp.clone(), ConstGauge::new(value))],
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::Counters;

    fn snapshot() -> Snapshot {
        Snapshot {
            agents_connected: 3,
            agents_quarantined: 1,
            leases_outstanding: 2,
            results_refused: vec![("duplicate", 1), ("unknown_work", 0)],
            auth_refused: vec![("missing_token", 2), ("invalid_token", 0)],
            parameter_bytes_pulled: 4096,
            work_failures: 2,
            experiment: Some(ExperimentMetrics {
                id: "cluster-1".into(),
                state: "running",
                counters: Counters {
                    results_accepted: 12,
                    tournaments_resolved: 6,
                    ..Counters::default()
                },
                tasks_completed: 0,
                evaluations_per_second: 2.5,
                tasks: vec![TaskMetrics {
                    index: 0,
                    name: "first \"A\"".into(),
                    best_fitness: -0.125,
                    mean_fitness: f64::NAN,
                    generation: 6,
                }],
                sideways: None,
                a3c: Some(A3cMetrics {
                    env_steps: 5000,
                    episodes: 40,
                    updates_applied: 250,
                    dropped_stale: 3,
                    dropped_after_stop: 1,
                    staleness_max: 7,
                    staleness_mean: 0.5,
                    mean_return: None,
                    learning_rate: 0.001,
                }),
            }),
            leases: crate::lease::LeaseCounters {
                restarted: 4,
                ..Default::default()
            },
            checkpoints: Some(CheckpointMetrics {
                written: 9,
                failed: 2,
                last_written_unix_ms: 1_500,
                last_bytes: 1024,
                last_write_seconds: 0.25,
            }),
            ..Snapshot::default()
        }
    }

    #[test]
    fn counters_gauges_and_labels_are_written_in_the_text_format() {
        let text = encode(&snapshot()).unwrap();
        for line in [
            "# TYPE pathnet_evaluations_total counter",
            "pathnet_evaluations_total{experiment=\"cluster-1\"} 12",
            "pathnet_agents_connected 3",
            "pathnet_agents_quarantined 1",
            "pathnet_results_refused_total{reason=\"duplicate\"} 1",
            "pathnet_results_refused_total{reason=\"unknown_work\"} 0",
            "pathnet_auth_refused_total{reason=\"missing_token\"} 2",
            "pathnet_parameters_pulled_bytes_total 4096",
            "pathnet_work_failures_total 2",
            "pathnet_leases_ended_total{reason=\"restarted\"} 4",
            "pathnet_checkpoints_written_total 9",
            "pathnet_checkpoint_failures_total 2",
            "pathnet_checkpoint_last_success_timestamp_seconds 1.5",
            "pathnet_checkpoint_last_size_bytes 1024",
            "pathnet_checkpoint_last_write_seconds 0.25",
            "pathnet_evaluations_per_second{experiment=\"cluster-1\"} 2.5",
            "pathnet_experiment_state{experiment=\"cluster-1\",state=\"running\"} 1",
            "pathnet_experiment_state{experiment=\"cluster-1\",state=\"failed\"} 0",
            "pathnet_best_fitness{experiment=\"cluster-1\",task=\"0\",task_name=\"first \\\"A\\\"\"} -0.125",
            "pathnet_task_generation{experiment=\"cluster-1\",task=\"0\",task_name=\"first \\\"A\\\"\"} 6",
            "pathnet_a3c_env_steps_total{experiment=\"cluster-1\"} 5000",
            "pathnet_a3c_gradient_updates_total{experiment=\"cluster-1\"} 250",
            "pathnet_a3c_gradients_dropped_total{experiment=\"cluster-1\",reason=\"stale\"} 3",
            "pathnet_a3c_staleness_max{experiment=\"cluster-1\"} 7.0",
            "pathnet_a3c_staleness_mean{experiment=\"cluster-1\"} 0.5",
        ] {
            assert!(text.lines().any(|l| l == line), "no `{line}` in\n{text}");
        }
        assert!(!text.contains("# EOF"), "{text}");
        // A NaN mean is left out rather than written.
        assert!(!text.contains("pathnet_mean_fitness{"), "{text}");
    }

    #[test]
    fn a_sideways_experiments_video_progress_is_written() {
        let mut snapshot = snapshot();
        let exp = snapshot.experiment.as_mut().unwrap();
        exp.a3c = None;
        exp.sideways = Some(crate::run::VideoProgress {
            task: 0,
            segment: 3,
            segments: 8,
            batches: 36,
            max_batches: 96,
            frames: 4608,
            frames_per_second: 2000.0,
            loss: 2.25,
            accuracy: 0.25,
            stage_busy: vec![0.5, 0.75],
        });
        let text = encode(&snapshot).unwrap();
        for line in [
            "# TYPE pathnet_sideways_frames_total counter",
            "pathnet_sideways_frames_total{experiment=\"cluster-1\"} 4608",
            "pathnet_sideways_batches{experiment=\"cluster-1\"} 36.0",
            "pathnet_sideways_frames_per_second{experiment=\"cluster-1\"} 2000.0",
            "pathnet_sideways_loss{experiment=\"cluster-1\"} 2.25",
            "pathnet_sideways_accuracy{experiment=\"cluster-1\"} 0.25",
            "pathnet_sideways_stage_busy{experiment=\"cluster-1\",stage=\"1\"} 0.5",
            "pathnet_sideways_stage_busy{experiment=\"cluster-1\",stage=\"2\"} 0.75",
        ] {
            assert!(text.lines().any(|l| l == line), "no `{line}` in\n{text}");
        }
        assert!(!text.contains("pathnet_a3c_"), "{text}");
    }

    #[test]
    fn without_an_experiment_only_coordinator_metrics_are_written() {
        let text = encode(&Snapshot::default()).unwrap();
        assert!(text.contains("pathnet_agents_connected 0"), "{text}");
        assert!(!text.contains("experiment="), "{text}");
    }
}
