//! Measurement 1's figures: medians per side over every run and the reference's medians over
//! ours. A run that stopped at the step budget without reaching the target counts with its
//! budget-capped time and steps, so a median that includes such runs understates that side's
//! true time to the target.

use crate::learn::LearnRun;
use crate::stats::median;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub(crate) struct SideSummary {
    pub side: String,
    pub runs: usize,
    pub reached_target: usize,
    pub median_train_s: f64,
    pub median_process_s: f64,
    pub median_env_steps: f64,
    pub median_cpu_s: f64,
}

/// Each figure of the reference divided by ours: above 1 means ours is faster or needs fewer
/// steps.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Ratios {
    pub ours: String,
    pub train_s: f64,
    pub process_s: f64,
    pub env_steps: f64,
    pub cpu_s: f64,
}

pub(crate) fn summarise(side: &str, runs: &[LearnRun]) -> Option<SideSummary> {
    let mine: Vec<&LearnRun> = runs.iter().filter(|r| r.side == side).collect();
    let of = |f: fn(&LearnRun) -> f64| median(mine.iter().map(|r| f(r)).collect());
    Some(SideSummary {
        side: side.to_owned(),
        runs: mine.len(),
        reached_target: mine.iter().filter(|r| r.reached_target).count(),
        median_train_s: of(|r| r.train_s)?,
        median_process_s: of(|r| r.process_s)?,
        median_env_steps: of(|r| r.env_steps as f64)?,
        median_cpu_s: of(|r| r.cpu_s)?,
    })
}

pub(crate) fn ratios(reference: &SideSummary, ours: &SideSummary) -> Ratios {
    Ratios {
        ours: ours.side.clone(),
        train_s: reference.median_train_s / ours.median_train_s,
        process_s: reference.median_process_s / ours.median_process_s,
        env_steps: reference.median_env_steps / ours.median_env_steps,
        cpu_s: reference.median_cpu_s / ours.median_cpu_s,
    }
}

pub(crate) fn print(runs: &[LearnRun], sides: &[SideSummary], ratios: &[Ratios]) {
    println!("\nTime and env steps to the target return, per run:\n");
    println!(
        "| seed | side | reached | env steps | train s | process s | CPU s | final mean return |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for r in runs {
        println!(
            "| {} | {} | {} | {} | {:.2} | {:.2} | {:.2} | {} |",
            r.seed,
            r.side,
            if r.reached_target { "yes" } else { "no" },
            r.env_steps,
            r.train_s,
            r.process_s,
            r.cpu_s,
            r.mean_return.map_or("-".into(), |m| format!("{m:.1}")),
        );
    }
    println!("\nMedians:\n");
    println!("| side | reached | env steps | train s | process s | CPU s |");
    println!("|---|---|---|---|---|---|");
    for s in sides {
        println!(
            "| {} | {}/{} | {:.0} | {:.2} | {:.2} | {:.2} |",
            s.side,
            s.reached_target,
            s.runs,
            s.median_env_steps,
            s.median_train_s,
            s.median_process_s,
            s.median_cpu_s
        );
    }
    if !ratios.is_empty() {
        println!("\nPyTorch median / ours median (above 1: ours faster or fewer steps):\n");
        println!("| ours | train s | process s | env steps | CPU s |");
        println!("|---|---|---|---|---|");
        for r in ratios {
            println!(
                "| {} | {:.2} | {:.2} | {:.2} | {:.2} |",
                r.ours, r.train_s, r.process_s, r.env_steps, r.cpu_s
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(side: &str, seed: u64, reached: bool, train_s: f64, steps: u64) -> LearnRun {
        LearnRun {
            side: side.into(),
            seed,
            round: 0,
            reached_target: reached,
            env_steps: steps,
            mean_return: None,
            train_s,
            process_s: train_s + 1.0,
            cpu_s: 2.0 * train_s,
            updates_applied: 0,
            dropped_stale: None,
            load_average_1m_before: None,
        }
    }

    #[test]
    fn medians_per_side_and_ratios_of_the_reference_over_ours() {
        let runs = vec![
            run("ours", 1, true, 2.0, 100),
            run("torch", 1, false, 60.0, 1000),
            run("ours", 2, true, 4.0, 300),
            run("torch", 2, true, 20.0, 500),
            run("ours", 3, false, 9.0, 200),
            run("torch", 3, true, 40.0, 700),
        ];
        let ours = summarise("ours", &runs).unwrap();
        let torch = summarise("torch", &runs).unwrap();
        assert_eq!((ours.runs, ours.reached_target), (3, 2));
        assert_eq!((torch.runs, torch.reached_target), (3, 2));
        assert_eq!(ours.median_train_s, 4.0);
        assert_eq!(ours.median_process_s, 5.0);
        assert_eq!(ours.median_env_steps, 200.0);
        let r = ratios(&torch, &ours);
        assert_eq!(r.train_s, 10.0);
        assert_eq!(r.process_s, 41.0 / 5.0);
        assert_eq!(r.env_steps, 3.5);
        assert_eq!(r.cpu_s, 10.0);
        assert!(summarise("nobody", &runs).is_none());
    }
}
