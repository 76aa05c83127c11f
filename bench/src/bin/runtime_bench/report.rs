//! The figures of a configuration from its short and full runs, their medians over rounds,
//! the printed table, and what the machine was.

use crate::proxy::WireBytes;
use crate::runs::RunMeasure;
use serde::Serialize;

/// One configuration's marginal figures, from one round.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct Marginal {
    pub evaluations_per_s: f64,
    pub coordinator_cpu_ms_per_result: f64,
    pub agents_cpu_ms_per_evaluation: f64,
    /// Agents to coordinator, then coordinator to agents; absent without the relay.
    pub wire_bytes_up_per_evaluation: Option<f64>,
    pub wire_bytes_down_per_evaluation: Option<f64>,
    /// Evaluations of the full run over its whole wall time, start-up included.
    pub end_to_end_evaluations_per_s: f64,
}

pub(crate) fn label(agents: usize) -> String {
    match agents {
        0 => "in-process".into(),
        1 => "1 agent".into(),
        n => format!("{n} agents"),
    }
}

pub(crate) fn marginal(short: &RunMeasure, full: &RunMeasure) -> Marginal {
    let evaluations = (full.evaluations - short.evaluations) as f64;
    let wire = full.wire.zip(short.wire);
    let per_evaluation = |bytes: fn(&WireBytes) -> u64| {
        wire.map(|(f, s)| (bytes(&f) as f64 - bytes(&s) as f64) / evaluations)
    };
    Marginal {
        evaluations_per_s: evaluations / (full.wall_s - short.wall_s),
        coordinator_cpu_ms_per_result: (full.coordinator_cpu_s - short.coordinator_cpu_s) * 1e3
            / evaluations,
        agents_cpu_ms_per_evaluation: (full.agents_cpu_s - short.agents_cpu_s) * 1e3 / evaluations,
        wire_bytes_up_per_evaluation: per_evaluation(|w| w.to_coordinator),
        wire_bytes_down_per_evaluation: per_evaluation(|w| w.to_agents),
        end_to_end_evaluations_per_s: full.evaluations as f64 / full.wall_s,
    }
}

/// Each field's median over rounds, taken separately.
pub(crate) fn median_marginal(rounds: &[Marginal]) -> Marginal {
    let of = |f: fn(&Marginal) -> f64| median(rounds.iter().map(f).collect()).unwrap_or(f64::NAN);
    Marginal {
        evaluations_per_s: of(|m| m.evaluations_per_s),
        coordinator_cpu_ms_per_result: of(|m| m.coordinator_cpu_ms_per_result),
        agents_cpu_ms_per_evaluation: of(|m| m.agents_cpu_ms_per_evaluation),
        wire_bytes_up_per_evaluation: median(
            rounds
                .iter()
                .filter_map(|m| m.wire_bytes_up_per_evaluation)
                .collect(),
        ),
        wire_bytes_down_per_evaluation: median(
            rounds
                .iter()
                .filter_map(|m| m.wire_bytes_down_per_evaluation)
                .collect(),
        ),
        end_to_end_evaluations_per_s: of(|m| m.end_to_end_evaluations_per_s),
    }
}

pub(crate) fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(values[n / 2]),
        _ => Some((values[n / 2 - 1] + values[n / 2]) / 2.0),
    }
}

pub(crate) fn print_table(
    configs: &[usize],
    figures: &[Marginal],
    torch: Option<f64>,
    torch_threads: usize,
) {
    let fmt = |v: Option<f64>, p: usize| v.map_or("-".into(), |v| format!("{v:.p$}"));
    println!(
        "{:<22} {:>8} {:>8} {:>10} {:>12} {:>12} {:>10} {:>10}",
        "configuration",
        "eval/s",
        "vs torch",
        "e2e eval/s",
        "CPU ms/eval",
        "coord ms/res",
        "KiB up/ev",
        "KiB dn/ev"
    );
    for (&agents, f) in configs.iter().zip(figures) {
        // In-process, the "coordinator" is the whole process, training included.
        let coordinator = (agents > 0).then_some(f.coordinator_cpu_ms_per_result);
        println!(
            "{:<22} {:>8.1} {:>8} {:>10.1} {:>12.2} {:>12} {:>10} {:>10}",
            label(agents),
            f.evaluations_per_s,
            fmt(torch.map(|t| f.evaluations_per_s / t), 2),
            f.end_to_end_evaluations_per_s,
            f.coordinator_cpu_ms_per_result + f.agents_cpu_ms_per_evaluation,
            fmt(coordinator, 3),
            fmt(f.wire_bytes_up_per_evaluation.map(|b| b / 1024.0), 1),
            fmt(f.wire_bytes_down_per_evaluation.map(|b| b / 1024.0), 1),
        );
    }
    if let Some(t) = torch {
        println!(
            "{:<22} {t:>8.1} {:>8}",
            format!("PyTorch ({torch_threads} threads)"),
            "1.00"
        );
    }
}

pub(crate) fn cpu_model() -> Option<String> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    info.lines().find_map(|l| {
        l.strip_prefix("model name")?
            .split_once(':')
            .map(|(_, m)| m.trim().to_owned())
    })
}

pub(crate) fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}
#[cfg(test)]
mod tests {
    use super::*;

    fn measure(evaluations: u64, wall_s: f64, cpu_s: f64, bytes: u64) -> RunMeasure {
        RunMeasure {
            agents: 1,
            generations: (evaluations / 2) as usize,
            evaluations,
            wall_s,
            coordinator_cpu_s: cpu_s,
            agents_cpu_s: 2.0 * cpu_s,
            wire: Some(WireBytes {
                to_coordinator: bytes,
                to_agents: bytes,
                connections: 1,
            }),
            leases_expired: 0,
            evaluations_requeued: 0,
            best_train_accuracy: 0.9,
        }
    }

    #[test]
    fn marginal_figures_subtract_the_short_run() {
        // 800 more evaluations in 8 more seconds, 0.4 more CPU seconds, 2*800*1000 more bytes.
        let m = marginal(
            &measure(200, 3.0, 0.5, 1_000),
            &measure(1000, 11.0, 0.9, 801_000),
        );
        assert!((m.evaluations_per_s - 100.0).abs() < 1e-9);
        assert!((m.coordinator_cpu_ms_per_result - 0.5).abs() < 1e-9);
        assert!((m.agents_cpu_ms_per_evaluation - 1.0).abs() < 1e-9);
        assert_eq!(m.wire_bytes_up_per_evaluation, Some(1000.0));
        assert_eq!(m.wire_bytes_down_per_evaluation, Some(1000.0));
        assert!((m.end_to_end_evaluations_per_s - 1000.0 / 11.0).abs() < 1e-9);
    }

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(Vec::new()), None);
    }
}
