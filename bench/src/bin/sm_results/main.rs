//! Safe mutations against plain Gaussian mutation: every operator on recurrent parity and on
//! the breadcrumb hard maze (a network of 8 weight layers), several seeds each, with the
//! paper's steady-state GA (population 250, tournament size 5). Each run is one evaluation at
//! a time (so a pure function of its seed); `--jobs` runs go side by side. Prints a table and
//! JSON: solve rate, evaluations to solve, best fitness, evaluations per second, and the bytes
//! a genome takes on the wire against the bytes of its weights.
//!
//! Mutation magnitudes are per task and operator (see `sigma`), chosen by a short sweep (parity:
//! seeds 1 and 2; maze: seed 1); the default seeds start at 101 so that the reported runs are
//! fresh.

use anyhow::{Context, Result, bail};
use clap::Parser;
use pathnet_evo::config::TaskKind;
use pathnet_evo::runner::{self, RunReport};
use pathnet_evo::{Operator, SafeMutationConfig};
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Mutex;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(about = "Safe-mutation operators on parity and the hard maze: solve rates and costs")]
struct Args {
    /// Runs per task and operator.
    #[arg(long, default_value_t = 10)]
    seeds: u64,
    /// Seed of the first run; run i uses first_seed + i.
    #[arg(long, default_value_t = 101)]
    first_seed: u64,
    /// Evaluation budget of one parity run.
    #[arg(long, default_value_t = 30_000)]
    parity_budget: u64,
    /// Evaluation budget of one maze run.
    #[arg(long, default_value_t = 10_000)]
    maze_budget: u64,
    /// Skip the maze (or parity).
    #[arg(long)]
    no_maze: bool,
    #[arg(long)]
    no_parity: bool,
    /// Runs executed at the same time, each on its own thread.
    #[arg(long, default_value_t = 2)]
    jobs: usize,
    /// Genomes kept by each run's rebuild cache.
    #[arg(long, default_value_t = 1000)]
    cache: usize,
    /// Also write the JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// Mutation magnitude (SM-R: target divergence) per task and operator. SM-G divides the noise
/// by sensitivities that are mostly far below 1 (floored at 0.01), so the same sigma moves the
/// outputs 10-100 times more than plain Gaussian noise; each operator therefore gets its own.
fn sigma(task: TaskKind, operator: Operator) -> f64 {
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

#[derive(Debug, Clone, Serialize)]
struct Run {
    task: TaskKind,
    operator: Operator,
    sigma: f64,
    seed: u64,
    budget: u64,
    solved: bool,
    evaluations_to_solve: Option<u64>,
    evaluations: u64,
    best_fitness: Option<f64>,
    seconds: f64,
    genome_bytes: usize,
    genome_depth: usize,
    replayed_evaluations: u64,
}

#[derive(Debug, Clone, Serialize)]
struct Row {
    task: TaskKind,
    operator: Operator,
    sigma: f64,
    runs: usize,
    solved: usize,
    /// Median over all runs, unsolved ones counting as never: `None` unless at least half
    /// solved.
    median_evaluations_to_solve: Option<f64>,
    /// Over the solved runs only.
    mean_evaluations_to_solve: Option<f64>,
    std_evaluations_to_solve: Option<f64>,
    median_best_fitness: f64,
    evaluations_per_second: f64,
    mean_genome_bytes: f64,
    weight_bytes: usize,
}

fn main() -> Result<()> {
    let args = Args::parse();
    if args.seeds == 0 || args.jobs == 0 {
        bail!("--seeds and --jobs must be at least 1");
    }
    let mut tasks = Vec::new();
    if !args.no_parity {
        tasks.push((TaskKind::Parity, args.parity_budget));
    }
    if !args.no_maze {
        tasks.push((TaskKind::Maze, args.maze_budget));
    }
    let mut plan = Vec::new();
    for &(task, budget) in &tasks {
        for operator in Operator::ALL {
            for i in 0..args.seeds {
                let mut cfg = SafeMutationConfig::new(task, operator, sigma(task, operator));
                cfg.max_evaluations = budget;
                cfg.seed = args.first_seed + i;
                cfg.validate()?;
                plan.push(cfg);
            }
        }
    }
    let runs = execute(&plan, &args)?;
    let rows: Vec<Row> = tasks
        .iter()
        .flat_map(|&(task, _)| Operator::ALL.map(|op| (task, op)))
        .map(|(task, op)| {
            let of: Vec<&Run> = runs
                .iter()
                .filter(|r| r.task == task && r.operator == op)
                .collect();
            let weight_bytes = plan
                .iter()
                .find(|c| c.task == task)
                .expect("planned")
                .problem()
                .network
                .weight_bytes();
            row(task, op, &of, weight_bytes)
        })
        .collect();
    print_table(&rows, &tasks);
    let json = serde_json::json!({
        "bench": "sm_results",
        "algorithm": "steady_state, population 250, tournament size 5",
        "seeds": { "first": args.first_seed, "count": args.seeds },
        "budgets": tasks.iter().map(|(t, b)| (format!("{t:?}").to_lowercase(), *b)).collect::<std::collections::BTreeMap<_, _>>(),
        "jobs": args.jobs,
        "rows": rows,
        "runs": runs,
    });
    let text = serde_json::to_string_pretty(&json)?;
    println!("{text}");
    if let Some(path) = &args.json {
        std::fs::write(path, &text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// Runs every configuration, `args.jobs` at a time, in plan order.
fn execute(plan: &[SafeMutationConfig], args: &Args) -> Result<Vec<Run>> {
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
                    let Some(cfg) = plan.get(i) else { return };
                    let result = runner::run(cfg, 1, args.cache)
                        .map(|report| describe(cfg, &report))
                        .with_context(|| {
                            format!("{:?} {} seed {}", cfg.task, cfg.operator, cfg.seed)
                        });
                    if let Ok(run) = &result {
                        eprintln!(
                            "[{}/{}] {:?} {} seed {}: {} after {} evaluations, best {:.4}, {:.1} s",
                            i + 1,
                            plan.len(),
                            run.task,
                            run.operator,
                            run.seed,
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

fn describe(cfg: &SafeMutationConfig, report: &RunReport) -> Run {
    let s = &report.summary;
    let genome = s.best_genome.as_ref();
    Run {
        task: cfg.task,
        operator: cfg.operator,
        sigma: cfg.sigma,
        seed: cfg.seed,
        budget: cfg.max_evaluations,
        solved: s.solved,
        evaluations_to_solve: s.evaluations_to_solve,
        evaluations: s.evaluations,
        best_fitness: s.best_fitness,
        seconds: report.wall.as_secs_f64(),
        genome_bytes: genome.map_or(0, |g| g.encoded_len()),
        genome_depth: genome.map_or(0, |g| g.depth()),
        replayed_evaluations: s.replayed_evaluations,
    }
}

fn row(task: TaskKind, operator: Operator, runs: &[&Run], weight_bytes: usize) -> Row {
    let solved: Vec<f64> = runs
        .iter()
        .filter_map(|r| r.evaluations_to_solve.map(|e| e as f64))
        .collect();
    let mut to_solve: Vec<f64> = runs
        .iter()
        .map(|r| r.evaluations_to_solve.map_or(f64::INFINITY, |e| e as f64))
        .collect();
    let median_solve = median(&mut to_solve).filter(|m| m.is_finite());
    let mean = (!solved.is_empty()).then(|| solved.iter().sum::<f64>() / solved.len() as f64);
    let std = mean.map(|m| {
        (solved.iter().map(|x| (x - m).powi(2)).sum::<f64>()
            / solved.len().max(2).saturating_sub(1) as f64)
            .sqrt()
    });
    let mut best: Vec<f64> = runs.iter().filter_map(|r| r.best_fitness).collect();
    let evaluations: u64 = runs.iter().map(|r| r.evaluations).sum();
    let seconds: f64 = runs.iter().map(|r| r.seconds).sum();
    Row {
        task,
        operator,
        sigma: sigma(task, operator),
        runs: runs.len(),
        solved: solved.len(),
        median_evaluations_to_solve: median_solve,
        mean_evaluations_to_solve: mean,
        std_evaluations_to_solve: std,
        median_best_fitness: median(&mut best).unwrap_or(f64::NAN),
        evaluations_per_second: evaluations as f64 / seconds.max(f64::MIN_POSITIVE),
        mean_genome_bytes: runs.iter().map(|r| r.genome_bytes as f64).sum::<f64>()
            / runs.len().max(1) as f64,
        weight_bytes,
    }
}

fn median(values: &mut [f64]) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(values[n / 2]),
        _ => Some((values[n / 2 - 1] + values[n / 2]) / 2.0),
    }
}

fn print_table(rows: &[Row], tasks: &[(TaskKind, u64)]) {
    for &(task, budget) in tasks {
        println!("\n{task:?}: budget {budget} evaluations per run\n");
        println!(
            "| operator | sigma | solved | median evals to solve | mean +- std (solved runs) | median best fitness | evals/s | genome bytes | weight bytes |"
        );
        println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
        for r in rows.iter().filter(|r| r.task == task) {
            let median = r
                .median_evaluations_to_solve
                .map_or(format!("> {budget}"), |m| format!("{m:.0}"));
            let mean = match (r.mean_evaluations_to_solve, r.std_evaluations_to_solve) {
                (Some(m), Some(s)) => format!("{m:.0} +- {s:.0}"),
                _ => "-".into(),
            };
            println!(
                "| {} | {} | {}/{} | {} | {} | {:.3} | {:.0} | {:.0} | {} |",
                r.operator,
                r.sigma,
                r.solved,
                r.runs,
                median,
                mean,
                r.median_best_fitness,
                r.evaluations_per_second,
                r.mean_genome_bytes,
                r.weight_bytes
            );
        }
    }
    println!();
}
