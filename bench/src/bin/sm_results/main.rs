//! Safe mutations against plain Gaussian mutation on recurrent parity and the breadcrumb hard
//! maze, with the paper's steady-state GA (population 250, tournament size 5), tuned fairly:
//!
//! 1. tuning: every operator gets the same budget, the same number of magnitudes (`grid`) times
//!    the same tuning seeds (1, 2, ... by default, apart from the reported seeds); the value
//!    with the most solves, then the fewest evaluations, then the best fitness, is kept;
//! 2. the reported runs: `--seeds` fresh seeds (101, ... by default) per operator at its tuned
//!    value; optionally (`--maze-clip`) the SM-G operators on the maze again with a weight clip,
//!    at the magnitudes tuned without it or (`--tune-clip`) tuned again with the clip on;
//! 3. statistics: medians with distribution-free 95% intervals, and two-sided Mann-Whitney
//!    tests of each operator against control (unsolved runs count as `budget + 1` evaluations).
//!
//! Each run is one evaluation at a time (a pure function of its seed); `--jobs` runs go side by
//! side. Writes the report as JSON, and plot-ready JSON (`pathnet plot`) for each task: the
//! fraction of runs solved against evaluations, and evaluations to solve as bars with intervals.

mod stats;

use anyhow::{Context, Result, bail};
use clap::Parser;
use pathnet_evo::config::TaskKind;
use pathnet_evo::runner::{self, RunReport};
use pathnet_evo::{Operator, SafeMutationConfig};
use serde::Serialize;
use serde_json::json;
use stats::{MannWhitney, MedianCi, mann_whitney, median_ci};
use std::path::PathBuf;
use std::sync::Mutex;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(
    about = "Safe-mutation operators on parity and the hard maze, tuned alike, with rank tests"
)]
struct Args {
    /// Reported runs per task and operator.
    #[arg(long, default_value_t = 20)]
    seeds: u64,
    /// Seed of the first reported run; run i uses first_seed + i.
    #[arg(long, default_value_t = 101)]
    first_seed: u64,
    /// Tuning runs per magnitude (seeds tune_first_seed, ...).
    #[arg(long, default_value_t = 2)]
    tune_seeds: u64,
    #[arg(long, default_value_t = 1)]
    tune_first_seed: u64,
    /// Magnitudes tried per operator (1-5, the middle ones of each operator's grid); the same
    /// for every operator, so every operator gets the same tuning budget.
    #[arg(long, default_value_t = 5)]
    grid: usize,
    /// Skip tuning and use the magnitudes of the earlier, per-operator pilot sweep.
    #[arg(long)]
    no_tune: bool,
    /// Evaluation budget of one parity run.
    #[arg(long, default_value_t = 30_000)]
    parity_budget: u64,
    /// Evaluation budget of one maze run.
    #[arg(long, default_value_t = 10_000)]
    maze_budget: u64,
    #[arg(long)]
    no_maze: bool,
    #[arg(long)]
    no_parity: bool,
    /// Only these operators (comma separated; control is always kept as the baseline).
    #[arg(long, value_delimiter = ',')]
    operators: Vec<Operator>,
    /// Also run the maze's SM-G operators with this weight clip, at their tuned magnitudes.
    #[arg(long)]
    maze_clip: Option<f64>,
    /// Tune the clipped arms of `--maze-clip` with the clip on (their own tuning, the same
    /// budget), instead of reusing the magnitudes tuned without it.
    #[arg(long, requires = "maze_clip")]
    tune_clip: bool,
    /// Run the maze's SM-G operators only with the clip (control and the rest unchanged),
    /// e.g. when their unclipped runs are in an earlier report with the same seeds.
    #[arg(long, requires = "maze_clip")]
    clipped_only: bool,
    /// Runs executed at the same time, each on its own thread.
    #[arg(long, default_value_t = 2)]
    jobs: usize,
    /// Genomes kept by each run's rebuild cache.
    #[arg(long, default_value_t = 1000)]
    cache: usize,
    /// Directory of the JSON report and the plot-ready JSON.
    #[arg(long, default_value = "bench/results")]
    out: PathBuf,
}

/// Magnitudes tried per task and operator, five each, sorted; `--grid k` takes the middle k.
/// The control grid is denser than before (five values where the pilot sweep had three).
fn grid(task: TaskKind, operator: Operator) -> [f64; 5] {
    match (task, operator) {
        (TaskKind::Parity, Operator::Control) => [0.03, 0.05, 0.1, 0.15, 0.2],
        (TaskKind::Parity, Operator::SmR) => [1e-4, 3e-4, 1e-3, 3e-3, 1e-2],
        (TaskKind::Parity, Operator::SmGSum) => [0.002, 0.003, 0.005, 0.01, 0.02],
        (TaskKind::Parity, Operator::SmGAbs) => [0.001, 0.002, 0.003, 0.005, 0.01],
        (TaskKind::Parity, Operator::SmGSo) => [0.001, 0.002, 0.003, 0.005, 0.01],
        (TaskKind::Maze, Operator::Control) => [0.03, 0.05, 0.1, 0.15, 0.2],
        (TaskKind::Maze, Operator::SmR) => [1e-4, 3e-4, 1e-3, 3e-3, 1e-2],
        (TaskKind::Maze, Operator::SmGSum) => [0.02, 0.05, 0.1, 0.2, 0.5],
        (TaskKind::Maze, Operator::SmGAbs) => [0.001, 0.002, 0.005, 0.01, 0.02],
        (TaskKind::Maze, Operator::SmGSo) => [0.0005, 0.001, 0.002, 0.005, 0.01],
    }
}

/// The magnitudes of the earlier pilot sweep (`--no-tune`).
fn pilot_sigma(task: TaskKind, operator: Operator) -> f64 {
    match (task, operator) {
        (TaskKind::Parity, Operator::Control) => 0.1,
        (TaskKind::Parity, Operator::SmR) => 1e-3,
        (TaskKind::Parity, Operator::SmGSum) => 0.005,
        (TaskKind::Parity, Operator::SmGAbs) => 0.003,
        (TaskKind::Parity, Operator::SmGSo) => 0.003,
        (TaskKind::Maze, Operator::Control) => 0.1,
        (TaskKind::Maze, Operator::SmR) => 1e-3,
        (TaskKind::Maze, Operator::SmGSum) => 0.1,
        (TaskKind::Maze, Operator::SmGAbs) => 0.005,
        (TaskKind::Maze, Operator::SmGSo) => 0.002,
    }
}

/// One arm: a task, an operator and its settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
struct Arm {
    task: TaskKind,
    operator: Operator,
    sigma: f64,
    weight_clip: Option<f64>,
    budget: u64,
}

impl Arm {
    fn label(&self) -> String {
        match self.weight_clip {
            Some(c) => format!("{} clip {c}", self.operator),
            None => self.operator.to_string(),
        }
    }

    fn config(&self, seed: u64) -> Result<SafeMutationConfig> {
        let mut cfg = SafeMutationConfig::new(self.task, self.operator, self.sigma);
        cfg.max_evaluations = self.budget;
        cfg.seed = seed;
        cfg.weight_clip = self.weight_clip;
        cfg.validate()?;
        Ok(cfg)
    }
}

#[derive(Debug, Clone, Serialize)]
struct Run {
    arm: Arm,
    seed: u64,
    solved: bool,
    evaluations_to_solve: Option<u64>,
    evaluations: u64,
    best_fitness: Option<f64>,
    sm_r_give_ups: u64,
    seconds: f64,
    genome_bytes: usize,
}

impl Run {
    /// Evaluations to solve, `budget + 1` for a run that did not.
    fn cost(&self) -> f64 {
        self.evaluations_to_solve
            .map_or(self.arm.budget as f64 + 1.0, |e| e as f64)
    }
}

#[derive(Debug, Clone, Serialize)]
struct Tuned {
    task: TaskKind,
    operator: Operator,
    weight_clip: Option<f64>,
    /// Per magnitude tried: solves, mean evaluations (unsolved = budget + 1), mean best fitness.
    tried: Vec<serde_json::Value>,
    chosen: f64,
}

#[derive(Debug, Clone, Serialize)]
struct Row {
    label: String,
    arm: Arm,
    runs: usize,
    solved: usize,
    /// Evaluations to solve (unsolved = budget + 1): median and 95% interval.
    evaluations: Option<MedianCi>,
    best_fitness: Option<MedianCi>,
    /// Against control on this task (none for control itself).
    vs_control_evaluations: Option<MannWhitney>,
    vs_control_fitness: Option<MannWhitney>,
    /// A clipped arm against the same operator unclipped.
    vs_unclipped_evaluations: Option<MannWhitney>,
    vs_unclipped_fitness: Option<MannWhitney>,
    sm_r_give_ups_per_evaluation: f64,
    evaluations_per_second: f64,
    mean_genome_bytes: f64,
}

fn main() -> Result<()> {
    let args = Args::parse();
    if args.seeds == 0 || args.jobs == 0 || args.tune_seeds == 0 || !(1..=5).contains(&args.grid) {
        bail!("--seeds, --tune-seeds and --jobs must be at least 1, --grid 1 to 5");
    }
    let mut operators: Vec<Operator> = if args.operators.is_empty() {
        Operator::ALL.to_vec()
    } else {
        args.operators.clone()
    };
    if !operators.contains(&Operator::Control) {
        operators.insert(0, Operator::Control);
    }
    let mut tasks = Vec::new();
    if !args.no_parity {
        tasks.push((TaskKind::Parity, args.parity_budget));
    }
    if !args.no_maze {
        tasks.push((TaskKind::Maze, args.maze_budget));
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;

    // 1. Tuning: the same number of magnitudes and seeds for every operator.
    let mut tuned = Vec::new();
    let mut arms = Vec::new();
    for &(task, budget) in &tasks {
        for &operator in &operators {
            let arm = |sigma| Arm {
                task,
                operator,
                sigma,
                weight_clip: None,
                budget,
            };
            if args.no_tune {
                arms.push(arm(pilot_sigma(task, operator)));
                continue;
            }
            let t = tune(arm(0.0), &args)?;
            arms.push(arm(t.chosen));
            tuned.push(t);
        }
    }
    if let Some(clip) = args.maze_clip {
        let sm_g = [Operator::SmGSum, Operator::SmGAbs, Operator::SmGSo];
        let clipped: Vec<Arm> = arms
            .iter()
            .filter(|a| a.task == TaskKind::Maze && sm_g.contains(&a.operator))
            .map(|a| Arm {
                weight_clip: Some(clip),
                ..*a
            })
            .collect();
        if args.clipped_only {
            arms.retain(|a| !(a.task == TaskKind::Maze && sm_g.contains(&a.operator)));
        }
        for mut arm in clipped {
            if args.tune_clip {
                let t = tune(arm, &args)?;
                arm.sigma = t.chosen;
                tuned.push(t);
            }
            arms.push(arm);
        }
    }

    // 2. The reported runs.
    let plan: Vec<(Arm, u64)> = arms
        .iter()
        .flat_map(|&a| (0..args.seeds).map(move |i| (a, args.first_seed + i)))
        .collect();
    let runs = execute(&plan, &args, "run")?;

    // 3. Statistics.
    let of = |arm: &Arm| -> Vec<&Run> { runs.iter().filter(|r| r.arm == *arm).collect() };
    let costs = |rs: &[&Run]| -> Vec<f64> { rs.iter().map(|r| r.cost()).collect() };
    let fitness = |rs: &[&Run]| -> Vec<f64> {
        rs.iter()
            .map(|r| r.best_fitness.unwrap_or(f64::NEG_INFINITY))
            .collect()
    };
    let mut rows = Vec::new();
    for arm in &arms {
        let rs = of(arm);
        let control = arms
            .iter()
            .find(|a| a.task == arm.task && a.operator == Operator::Control)
            .expect("control is always run");
        let unclipped = arms.iter().find(|a| {
            arm.weight_clip.is_some()
                && a.task == arm.task
                && a.operator == arm.operator
                && a.weight_clip.is_none()
        });
        let vs = |other: Option<&Arm>, metric: &dyn Fn(&[&Run]) -> Vec<f64>| {
            other.and_then(|o| mann_whitney(&metric(&rs), &metric(&of(o))))
        };
        let against_control = (arm != control).then_some(control);
        let evaluations: u64 = rs.iter().map(|r| r.evaluations).sum();
        let seconds: f64 = rs.iter().map(|r| r.seconds).sum();
        rows.push(Row {
            label: arm.label(),
            arm: *arm,
            runs: rs.len(),
            solved: rs.iter().filter(|r| r.solved).count(),
            evaluations: median_ci(&costs(&rs)),
            best_fitness: median_ci(&fitness(&rs)),
            vs_control_evaluations: vs(against_control, &costs),
            vs_control_fitness: vs(against_control, &fitness),
            vs_unclipped_evaluations: vs(unclipped, &costs),
            vs_unclipped_fitness: vs(unclipped, &fitness),
            sm_r_give_ups_per_evaluation: rs.iter().map(|r| r.sm_r_give_ups).sum::<u64>() as f64
                / evaluations.max(1) as f64,
            evaluations_per_second: evaluations as f64 / seconds.max(f64::MIN_POSITIVE),
            mean_genome_bytes: rs.iter().map(|r| r.genome_bytes as f64).sum::<f64>()
                / rs.len().max(1) as f64,
        });
    }
    print_table(&rows, &tasks);

    let report = json!({
        "bench": "sm_results",
        "algorithm": "steady_state, population 250, tournament size 5",
        "seeds": { "first": args.first_seed, "count": args.seeds },
        "tuning": { "first_seed": args.tune_first_seed, "seeds": args.tune_seeds,
                    "values_per_operator": if args.no_tune { 0 } else { args.grid },
                    "chosen": tuned },
        "budgets": tasks.iter().map(|(t, b)| (task_name(*t), *b)).collect::<std::collections::BTreeMap<_, _>>(),
        "unsolved_counts_as": "budget + 1 evaluations",
        "jobs": args.jobs,
        "rows": rows,
        "runs": runs,
    });
    write(&args.out.join("sm_results.json"), &report)?;
    for &(task, budget) in &tasks {
        let name = task_name(task);
        let task_rows: Vec<&Row> = rows.iter().filter(|r| r.arm.task == task).collect();
        write(
            &args.out.join(format!("sm_{name}.curves.json")),
            &solved_curves(task, budget, &task_rows, &runs),
        )?;
        write(
            &args.out.join(format!("sm_{name}.bars.json")),
            &evaluation_bars(task, budget, &task_rows),
        )?;
    }
    Ok(())
}

/// Tunes `template`'s magnitude over the middle `--grid` values of its operator's grid, each
/// run with `--tune-seeds` seeds: the most solves win, then the fewest evaluations, then the
/// best fitness.
fn tune(template: Arm, args: &Args) -> Result<Tuned> {
    let full = grid(template.task, template.operator);
    let skip = (5 - args.grid) / 2;
    let values = &full[skip..skip + args.grid];
    let mut plan = Vec::new();
    for &sigma in values {
        for i in 0..args.tune_seeds {
            plan.push((Arm { sigma, ..template }, args.tune_first_seed + i));
        }
    }
    let runs = execute(&plan, args, "tune")?;
    let mut best: Option<((usize, f64, f64), f64)> = None;
    let mut tried = Vec::new();
    for &sigma in values {
        let of: Vec<&Run> = runs.iter().filter(|r| r.arm.sigma == sigma).collect();
        let solved = of.iter().filter(|r| r.solved).count();
        let cost = of.iter().map(|r| r.cost()).sum::<f64>() / of.len() as f64;
        let fitness = of
            .iter()
            .map(|r| r.best_fitness.unwrap_or(f64::NEG_INFINITY))
            .sum::<f64>()
            / of.len() as f64;
        tried.push(json!({"sigma": sigma, "solved": solved, "runs": of.len(),
            "mean_evaluations": cost, "mean_best_fitness": fitness}));
        let key = (solved, cost, fitness);
        let better = best.is_none_or(|(b, _)| {
            key.0 > b.0 || (key.0 == b.0 && (key.1 < b.1 || (key.1 == b.1 && key.2 > b.2)))
        });
        if better {
            best = Some((key, sigma));
        }
    }
    let chosen = best.context("no magnitude was tried")?.1;
    eprintln!("tuned {}: {chosen}", template.label());
    Ok(Tuned {
        task: template.task,
        operator: template.operator,
        weight_clip: template.weight_clip,
        tried,
        chosen,
    })
}

fn task_name(task: TaskKind) -> &'static str {
    match task {
        TaskKind::Parity => "parity",
        TaskKind::Maze => "maze",
    }
}

fn write(path: &PathBuf, value: &serde_json::Value) -> Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

/// Fraction of each arm's runs solved by each number of evaluations (a step curve).
fn solved_curves(task: TaskKind, budget: u64, rows: &[&Row], runs: &[Run]) -> serde_json::Value {
    let series: Vec<serde_json::Value> = rows
        .iter()
        .map(|row| {
            let rs: Vec<&Run> = runs.iter().filter(|r| r.arm == row.arm).collect();
            let mut solves: Vec<u64> = rs.iter().filter_map(|r| r.evaluations_to_solve).collect();
            solves.sort_unstable();
            let n = rs.len().max(1) as f64;
            let mut points = vec![[0.0, 0.0]];
            for (k, &e) in solves.iter().enumerate() {
                points.push([e as f64, k as f64 / n]);
                points.push([e as f64, (k + 1) as f64 / n]);
            }
            points.push([budget as f64, solves.len() as f64 / n]);
            json!({"label": row.label, "points": points})
        })
        .collect();
    json!({
        "type": "curves",
        "title": format!("{}: runs solved ({} seeds per operator)", task_name(task), rows.first().map_or(0, |r| r.runs)),
        "xlabel": "evaluations",
        "ylabel": "fraction of runs solved",
        "series": series,
    })
}

/// Median evaluations to solve per arm with its 95% interval (unsolved = budget + 1).
fn evaluation_bars(task: TaskKind, budget: u64, rows: &[&Row]) -> serde_json::Value {
    let bars: Vec<serde_json::Value> = rows
        .iter()
        .filter_map(|r| {
            let ci = r.evaluations?;
            Some(json!({"label": r.label, "median": ci.median, "lo": ci.lo, "hi": ci.hi}))
        })
        .collect();
    json!({
        "type": "bars",
        "title": format!("{}: evaluations to solve, median and 95% CI (unsolved = {})", task_name(task), budget + 1),
        "ylabel": "evaluations",
        "bars": bars,
    })
}

/// Runs every (arm, seed), `args.jobs` at a time, in plan order.
fn execute(plan: &[(Arm, u64)], args: &Args, what: &str) -> Result<Vec<Run>> {
    let configs = plan
        .iter()
        .map(|(arm, seed)| arm.config(*seed))
        .collect::<Result<Vec<_>>>()?;
    let next = Mutex::new(0usize);
    let results: Mutex<Vec<Option<Result<Run>>>> = Mutex::new(plan.iter().map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..args.jobs {
            scope.spawn(|| {
                loop {
                    let i = {
                        let mut n = next.lock().expect("no panics while held");
                        let i = *n;
                        *n += 1;
                        i
                    };
                    let (Some(cfg), Some(&(arm, seed))) = (configs.get(i), plan.get(i)) else {
                        return;
                    };
                    let result = runner::run(cfg, 1, args.cache)
                        .map(|report| describe(arm, seed, &report))
                        .with_context(|| format!("{} seed {seed}", arm.label()));
                    if let Ok(run) = &result {
                        eprintln!(
                            "{what} [{}/{}] {:?} {} sigma {} seed {seed}: {} after {} evaluations, best {:.4}, {:.1} s",
                            i + 1,
                            plan.len(),
                            arm.task,
                            arm.label(),
                            arm.sigma,
                            if run.solved { "solved" } else { "unsolved" },
                            run.evaluations,
                            run.best_fitness.unwrap_or(f64::NAN),
                            run.seconds
                        );
                    }
                    results.lock().expect("no panics while held")[i] = Some(result);
                }
            });
        }
    });
    results
        .into_inner()
        .expect("workers finished")
        .into_iter()
        .map(|r| r.expect("every planned run was executed"))
        .collect()
}

fn describe(arm: Arm, seed: u64, report: &RunReport) -> Run {
    let s = &report.summary;
    Run {
        arm,
        seed,
        solved: s.solved,
        evaluations_to_solve: s.evaluations_to_solve,
        evaluations: s.evaluations,
        best_fitness: s.best_fitness,
        sm_r_give_ups: s.sm_r_give_ups,
        seconds: report.wall.as_secs_f64(),
        genome_bytes: s.best_genome.as_ref().map_or(0, |g| g.encoded_len()),
    }
}

fn print_table(rows: &[Row], tasks: &[(TaskKind, u64)]) {
    let ci = |c: Option<MedianCi>, budget: u64| match c {
        Some(c) => {
            let f = |v: f64| {
                if v > budget as f64 {
                    format!("> {budget}")
                } else {
                    format!("{v:.0}")
                }
            };
            format!("{} [{}, {}]", f(c.median), f(c.lo), f(c.hi))
        }
        None => "-".into(),
    };
    let fit = |c: Option<MedianCi>| {
        c.map_or("-".into(), |c| {
            format!("{:.1} [{:.1}, {:.1}]", c.median, c.lo, c.hi)
        })
    };
    let p = |t: Option<MannWhitney>| {
        t.map_or("-".into(), |t| format!("{:.3} ({:.2})", t.p, t.p_x_below))
    };
    for &(task, budget) in tasks {
        println!("\n{task:?}: budget {budget} evaluations per run\n");
        println!(
            "| arm | sigma | solved | evals to solve, median [95% CI] | best fitness, median [95% CI] | p vs control: evals (P below) | p vs control: fitness | p vs unclipped: evals / fitness | SM-R give-ups per eval | evals/s |"
        );
        println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
        for r in rows.iter().filter(|r| r.arm.task == task) {
            println!(
                "| {} | {} | {}/{} | {} | {} | {} | {} | {} / {} | {:.3} | {:.0} |",
                r.label,
                r.arm.sigma,
                r.solved,
                r.runs,
                ci(r.evaluations, budget),
                fit(r.best_fitness),
                p(r.vs_control_evaluations),
                p(r.vs_control_fitness),
                p(r.vs_unclipped_evaluations),
                p(r.vs_unclipped_fitness),
                r.sm_r_give_ups_per_evaluation,
                r.evaluations_per_second,
            );
        }
    }
    println!();
}
