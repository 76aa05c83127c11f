//! PathNet's binary-classification transfer against its controls over many seeds: each seed
//! draws its own pair of tasks (two disjoint pairs of digits, or of Fashion-MNIST classes),
//! learns task A with PathNet, then task B three ways: PathNet's transfer (A's best pathway
//! frozen, a fresh population), from scratch (a fixed largest pathway on a fresh network) and
//! the paper's fine-tune (A's best pathway, every module trainable, a new head, no evolution).
//!
//! Writes a gzipped JSON report (per-seed generations to threshold censored at the cap, test
//! accuracies, how many of B's best-path modules are A's frozen ones, thinned per-generation
//! curves, and the analysis), plus plot-ready JSON (curves, bars, pathway grid). Reports of
//! chunks of seeds run apart are merged with `--reanalyse a.json.gz b.json.gz`.
//!
//!     pathnet_results --seeds 20 --jobs 2 --name headline
//!     pathnet_results --reanalyse bench/results/a.json.gz bench/results/b.json.gz --name all

use anyhow::{Context, Result, bail, ensure};
use clap::{Parser, ValueEnum};
use pathnet_bench::report_file::{read_gz_json, write_gz_json};
use pathnet_bench::samples::{MannWhitney, MedianCi, Wins, mann_whitney, median_ci, paired_wins};
use pathnet_coordinator::local::run_pathnet;
use pathnet_coordinator::pathnet::{Arm, RunSummary, TaskSummary};
use pathnet_coordinator::run::Progress;
use pathnet_coordinator::spec::ExperimentSpec;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Confidence level of every interval reported.
const LEVEL: f64 = 0.95;

#[derive(Parser, Debug)]
#[command(about = "PathNet transfer against scratch and the paper's fine-tune, over seeds")]
struct Args {
    #[arg(long, default_value_t = 20)]
    seeds: u64,
    #[arg(long, default_value_t = 1)]
    first_seed: u64,
    #[arg(long, value_enum, default_value = "mnist")]
    family: FamilyArg,
    /// IDX directory; default data/mnist for MNIST, the installed Fashion-MNIST otherwise.
    #[arg(long)]
    data: Option<PathBuf>,
    /// SGD learning rate.
    #[arg(long, default_value_t = 1e-4)]
    lr: f64,
    #[arg(long, default_value_t = 64)]
    population: usize,
    /// Generation (tournament) cap per task; runs that do not reach the threshold are
    /// censored at it.
    #[arg(long, default_value_t = 1000)]
    cap: usize,
    #[arg(long, default_value_t = 0.998)]
    threshold: f64,
    /// Salt-and-pepper noise fraction, as in the paper.
    #[arg(long, default_value_t = 0.5)]
    noise: f64,
    /// T: minibatches per evaluation.
    #[arg(long, default_value_t = 50)]
    minibatches: usize,
    #[arg(long)]
    same_minibatches: bool,
    #[arg(long)]
    winner_only_updates: bool,
    /// Positive control: task B shares its first class with task A's first class.
    #[arg(long)]
    shared_class: bool,
    /// Seeds run side by side, one thread each.
    #[arg(long, default_value_t = 1)]
    jobs: usize,
    /// Keep every n-th generation of each curve (and the last).
    #[arg(long, default_value_t = 10)]
    curve_every: usize,
    /// Report name; derived from the settings when absent.
    #[arg(long)]
    name: Option<String>,
    #[arg(long, default_value = "bench/results")]
    out: PathBuf,
    /// Merge these reports (same settings, different seeds) and analyse them; runs nothing.
    #[arg(long, num_args = 1..)]
    reanalyse: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum FamilyArg {
    Mnist,
    Fashion,
}

/// Everything that must agree for two reports to be merged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Config {
    family: FamilyArg,
    lr: f64,
    population: usize,
    cap: usize,
    threshold: f64,
    noise: f64,
    minibatches: usize,
    batch_size: usize,
    same_minibatches: bool,
    winner_only_updates: bool,
    shared_class: bool,
    /// Curves keep every n-th generation (and the last).
    curve_every: usize,
}

/// One arm's run of one task.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ArmRun {
    /// Generations (tournaments) to the threshold; the cap where it was not reached.
    generations: usize,
    reached: bool,
    test_accuracy: Option<f64>,
    best_train_accuracy: f64,
    best_pathway: Vec<Vec<usize>>,
    evaluations: usize,
    seconds: f64,
    /// (generation, best winner training accuracy so far), thinned.
    curve: Vec<(usize, f64)>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SeedRun {
    seed: u64,
    task_a: [u8; 2],
    task_b: [u8; 2],
    /// Task A as PathNet learnt it.
    a: ArmRun,
    /// Task B by arm name.
    b: BTreeMap<String, ArmRun>,
    /// How many of PathNet's task-B best-path modules are task A's frozen ones.
    reused_modules: usize,
    b_path_modules: usize,
}

#[derive(Debug, Serialize, Deserialize)]
struct Report {
    name: String,
    config: Config,
    seeds: Vec<SeedRun>,
    analysis: Option<Analysis>,
}

const ARMS: [Arm; 3] = [Arm::PathnetTransfer, Arm::Scratch, Arm::PaperFineTune];

fn main() -> Result<()> {
    let args = Args::parse();
    if !args.reanalyse.is_empty() {
        return reanalyse(&args);
    }
    ensure!(args.seeds > 0, "--seeds must be at least 1");
    ensure!(args.jobs > 0, "--jobs must be at least 1");
    ensure!(args.curve_every > 0, "--curve-every must be at least 1");
    let config = Config {
        family: args.family,
        lr: args.lr,
        population: args.population,
        cap: args.cap,
        threshold: args.threshold,
        noise: args.noise,
        minibatches: args.minibatches,
        batch_size: 16,
        same_minibatches: args.same_minibatches,
        winner_only_updates: args.winner_only_updates,
        shared_class: args.shared_class,
        curve_every: args.curve_every,
    };
    let name = args.name.clone().unwrap_or_else(|| default_name(&config));
    let data = args.data.clone().unwrap_or_else(|| match args.family {
        FamilyArg::Mnist => PathBuf::from("data/mnist"),
        FamilyArg::Fashion => PathBuf::from("/usr/share/datasets/fashion-mnist"),
    });
    let seeds: Vec<u64> = (args.first_seed..args.first_seed + args.seeds).collect();
    // Check every spec before any run starts.
    for &seed in &seeds {
        spec(&config, &data, seed)?;
    }
    let report = Mutex::new(Report {
        name: name.clone(),
        config: config.clone(),
        seeds: Vec::new(),
        analysis: None,
    });
    let next = AtomicUsize::new(0);
    let failure: Mutex<Option<anyhow::Error>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..args.jobs.min(seeds.len()) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(&seed) = seeds.get(i) else { break };
                    if failure.lock().unwrap().is_some() {
                        break;
                    }
                    match run_seed(&config, &data, seed) {
                        Ok(run) => {
                            eprintln!("{}", seed_line(&run, config.cap));
                            let mut report = report.lock().unwrap();
                            report.seeds.push(run);
                            report.seeds.sort_by_key(|s| s.seed);
                            // Written after every seed, so an interrupted run keeps what it did.
                            if let Err(err) = write_report(&args.out, &mut report) {
                                *failure.lock().unwrap() = Some(err);
                            }
                        }
                        Err(err) => {
                            *failure.lock().unwrap() = Some(err.context(format!("seed {seed}")));
                        }
                    }
                }
            });
        }
    });
    if let Some(err) = failure.into_inner().unwrap() {
        return Err(err);
    }
    let mut report = report.into_inner().unwrap();
    write_report(&args.out, &mut report)?;
    print_analysis(&report);
    Ok(())
}

fn default_name(config: &Config) -> String {
    let mut name = format!(
        "pathnet-{}-lr{}-pop{}",
        match config.family {
            FamilyArg::Mnist => "mnist",
            FamilyArg::Fashion => "fashion",
        },
        config.lr,
        config.population
    );
    if config.same_minibatches {
        name.push_str("-samebatches");
    }
    if config.winner_only_updates {
        name.push_str("-winneronly");
    }
    if config.shared_class {
        name.push_str("-sharedclass");
    }
    name
}

/// The two tasks of a seed: four distinct classes drawn from the seed, A the first two and B
/// the next two; with `shared_class` B keeps A's first class (as its label 0) and draws one new.
fn tasks(seed: u64, shared_class: bool) -> ([u8; 2], [u8; 2]) {
    // A stream of its own, so the pairs do not depend on anything else drawn from the seed.
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x7061_6972_7300_0000);
    let mut classes: Vec<u8> = (0..10).collect();
    classes.shuffle(&mut rng);
    let a = [classes[0], classes[1]];
    let b = if shared_class {
        [classes[0], classes[2]]
    } else {
        [classes[2], classes[3]]
    };
    (a, b)
}

fn spec(config: &Config, data: &Path, seed: u64) -> Result<ExperimentSpec> {
    let (a, b) = tasks(seed, config.shared_class);
    let text = format!(
        r#"
        name = "pathnet-results-{seed}"
        seed = {seed}
        [data]
        dir = {dir:?}
        noise = {noise}
        family = "{family}"
        [pathnet]
        layers = 3
        modules_per_layer = 10
        max_active = 3
        module_units = 20
        [evolution]
        population = {population}
        minibatches_per_evaluation = {minibatches}
        batch_size = {batch}
        learning_rate = {lr:e}
        accuracy_threshold = {threshold}
        max_generations = {cap}
        same_minibatches = {same}
        winner_only_updates = {winner}
        [[tasks]]
        name = "A"
        classes = [{a0}, {a1}]
        [[tasks]]
        name = "B"
        classes = [{b0}, {b1}]
        [comparison]
        controls = ["scratch", "paper_fine_tune"]
        control_pathway = "fixed"
        "#,
        dir = data.display().to_string(),
        noise = config.noise,
        family = match config.family {
            FamilyArg::Mnist => "mnist",
            FamilyArg::Fashion => "fashion-mnist",
        },
        population = config.population,
        minibatches = config.minibatches,
        batch = config.batch_size,
        lr = config.lr,
        threshold = config.threshold,
        cap = config.cap,
        same = config.same_minibatches,
        winner = config.winner_only_updates,
        a0 = a[0],
        a1 = a[1],
        b0 = b[0],
        b1 = b[1],
    );
    ExperimentSpec::from_toml(&text).context("the experiment spec")
}

fn run_seed(config: &Config, data: &Path, seed: u64) -> Result<SeedRun> {
    let spec = spec(config, data, seed)?;
    let every = config.curve_every;
    // Phases start in plan order: PathNet's A and B, then the controls as listed.
    let phases = [
        (Arm::PathnetTransfer, 0),
        (Arm::PathnetTransfer, 1),
        (Arm::Scratch, 1),
        (Arm::PaperFineTune, 1),
    ];
    let mut curves: Vec<Vec<(usize, f64)>> = vec![Vec::new(); phases.len()];
    let mut phase: Option<usize> = None;
    let mut observe = |progress: &Progress| match progress {
        Progress::TaskStarted { .. } => phase = Some(phase.map_or(0, |p| p + 1)),
        Progress::Generation {
            generation,
            best_accuracy,
            ..
        } => {
            if let Some(curve) = phase.and_then(|p| curves.get_mut(p)) {
                // Keep the latest point too; thinned to every n-th once the phase ends.
                if curve.last().is_some_and(|&(g, _)| g % every != 0) {
                    curve.pop();
                }
                curve.push((*generation, *best_accuracy));
            }
        }
        _ => {}
    };
    let summary = run_pathnet(&spec, &mut observe).with_context(|| format!("seed {seed}"))?;
    let run = |arm: Arm, task: usize, curve: &[(usize, f64)]| -> Result<ArmRun> {
        let t = find(&summary, arm, task)?;
        Ok(ArmRun {
            generations: t.generations,
            reached: t.reached_threshold,
            test_accuracy: t.test_accuracy,
            best_train_accuracy: t.best_train_accuracy,
            best_pathway: t.best_pathway.clone(),
            evaluations: t.evaluations,
            seconds: t.seconds,
            curve: curve.to_vec(),
        })
    };
    let a = run(Arm::PathnetTransfer, 0, &curves[0])?;
    let mut b = BTreeMap::new();
    for (i, &(arm, task)) in phases.iter().enumerate().skip(1) {
        b.insert(arm.as_str().to_owned(), run(arm, task, &curves[i])?);
    }
    let pathnet_b = &b[Arm::PathnetTransfer.as_str()];
    let (reused_modules, b_path_modules) = reuse(&a.best_pathway, &pathnet_b.best_pathway);
    let (task_a, task_b) = tasks(seed, config.shared_class);
    Ok(SeedRun {
        seed,
        task_a,
        task_b,
        a,
        b,
        reused_modules,
        b_path_modules,
    })
}

fn find(summary: &RunSummary, arm: Arm, task: usize) -> Result<&TaskSummary> {
    summary
        .tasks
        .iter()
        .find(|t| t.arm == arm && t.task == task)
        .with_context(|| format!("the run has no summary of task {task} for {arm}"))
}

/// Modules of `b`'s pathway that are also on `a`'s (layer by layer), and `b`'s module count.
fn reuse(a: &[Vec<usize>], b: &[Vec<usize>]) -> (usize, usize) {
    let shared = b
        .iter()
        .zip(a)
        .map(|(lb, la)| lb.iter().filter(|m| la.contains(m)).count())
        .sum();
    (shared, b.iter().map(Vec::len).sum())
}

fn seed_line(run: &SeedRun, cap: usize) -> String {
    let arm = |name: &str| {
        let r = &run.b[name];
        format!(
            "{name} {}{}",
            if r.reached { "" } else { ">=" },
            r.generations.min(cap)
        )
    };
    format!(
        "seed {:>3}  A {:?} {:>4} gens  B {:?}: {}  {}  {}  reused {}/{}",
        run.seed,
        run.task_a,
        run.a.generations,
        run.task_b,
        arm("pathnet_transfer"),
        arm("scratch"),
        arm("paper_fine_tune"),
        run.reused_modules,
        run.b_path_modules
    )
}

// ---------------------------------------------------------------------------------------
// Analysis

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Analysis {
    level: f64,
    interval: String,
    test: String,
    /// Task A's generations (PathNet).
    task_a: Option<MedianCiJson>,
    arms: Vec<ArmAnalysis>,
    pairs: Vec<PairAnalysis>,
    /// Seeds by how many of PathNet's task-B best-path modules are task A's frozen ones.
    reused_histogram: BTreeMap<usize, usize>,
    reused: Option<MedianCiJson>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct MedianCiJson {
    n: usize,
    median: f64,
    lo: Option<f64>,
    hi: Option<f64>,
    coverage: Option<f64>,
}

impl From<MedianCi> for MedianCiJson {
    fn from(c: MedianCi) -> Self {
        MedianCiJson {
            n: c.n,
            median: c.median,
            lo: c.lo,
            hi: c.hi,
            coverage: c.coverage,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ArmAnalysis {
    arm: String,
    seeds: usize,
    reached: usize,
    generations: Option<MedianCiJson>,
    test_accuracy: Option<MedianCiJson>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct PairAnalysis {
    first: String,
    second: String,
    /// Mann-Whitney U of the first arm's generations; z < 0 when the first tends faster.
    u: Option<f64>,
    z: Option<f64>,
    p_two_sided: Option<f64>,
    /// Paired by seed: seeds where the first / second needed fewer generations, and ties.
    first_faster: usize,
    second_faster: usize,
    ties: usize,
}

fn generations(report: &Report, arm: Arm) -> Vec<f64> {
    // Censored runs enter at the cap: they tie with each other and rank above every run
    // that reached the threshold.
    report
        .seeds
        .iter()
        .map(|s| {
            let r = &s.b[arm.as_str()];
            if r.reached {
                r.generations as f64
            } else {
                report.config.cap as f64
            }
        })
        .collect()
}

fn analyse(report: &Report) -> Analysis {
    let arms = ARMS
        .iter()
        .map(|&arm| {
            let runs: Vec<&ArmRun> = report.seeds.iter().map(|s| &s.b[arm.as_str()]).collect();
            let tests: Vec<f64> = runs.iter().filter_map(|r| r.test_accuracy).collect();
            ArmAnalysis {
                arm: arm.as_str().to_owned(),
                seeds: runs.len(),
                reached: runs.iter().filter(|r| r.reached).count(),
                generations: median_ci(&generations(report, arm), LEVEL).map(Into::into),
                test_accuracy: median_ci(&tests, LEVEL).map(Into::into),
            }
        })
        .collect();
    let mut pairs = Vec::new();
    for (i, &first) in ARMS.iter().enumerate() {
        for &second in &ARMS[i + 1..] {
            let (x, y) = (generations(report, first), generations(report, second));
            let test: Option<MannWhitney> = mann_whitney(&x, &y);
            let wins: Wins = paired_wins(&x, &y);
            pairs.push(PairAnalysis {
                first: first.as_str().to_owned(),
                second: second.as_str().to_owned(),
                u: test.map(|t| t.u_x),
                z: test.map(|t| t.z),
                p_two_sided: test.map(|t| t.p),
                first_faster: wins.first,
                second_faster: wins.second,
                ties: wins.ties,
            });
        }
    }
    let a: Vec<f64> = report
        .seeds
        .iter()
        .map(|s| {
            if s.a.reached {
                s.a.generations as f64
            } else {
                report.config.cap as f64
            }
        })
        .collect();
    let mut reused_histogram = BTreeMap::new();
    for s in &report.seeds {
        *reused_histogram.entry(s.reused_modules).or_insert(0) += 1;
    }
    let reused: Vec<f64> = report
        .seeds
        .iter()
        .map(|s| s.reused_modules as f64)
        .collect();
    Analysis {
        level: LEVEL,
        interval: "distribution-free order-statistic interval for the median \
                   (binomial ranks; coverage reported)"
            .to_owned(),
        test: "two-sided Mann-Whitney U, normal approximation with tie and continuity \
               corrections; runs that did not reach the threshold enter at the cap (ties)"
            .to_owned(),
        task_a: median_ci(&a, LEVEL).map(Into::into),
        arms,
        pairs,
        reused_histogram,
        reused: median_ci(&reused, LEVEL).map(Into::into),
    }
}

fn ci_text(c: &Option<MedianCiJson>, digits: usize) -> String {
    match c {
        None => "-".to_owned(),
        Some(c) => match (c.lo, c.hi) {
            (Some(lo), Some(hi)) => {
                format!("{:.d$} [{:.d$}, {:.d$}]", c.median, lo, hi, d = digits)
            }
            _ => format!("{:.d$} [n too small]", c.median, d = digits),
        },
    }
}

fn print_analysis(report: &Report) {
    let Some(analysis) = &report.analysis else {
        return;
    };
    let c = &report.config;
    println!(
        "{}: {} seeds, {:?}, lr {}, population {}, cap {}, threshold {}, same minibatches {}, winner-only updates {}, shared class {}",
        report.name,
        report.seeds.len(),
        c.family,
        c.lr,
        c.population,
        c.cap,
        c.threshold,
        c.same_minibatches,
        c.winner_only_updates,
        c.shared_class
    );
    println!(
        "task A (PathNet) generations: median [95% CI] {}",
        ci_text(&analysis.task_a, 0)
    );
    println!(
        "{:<18} {:>24} {:>9} {:>26}",
        "task B arm", "generations [95% CI]", "reached", "test accuracy [95% CI]"
    );
    for arm in &analysis.arms {
        println!(
            "{:<18} {:>24} {:>6}/{:<2} {:>26}",
            arm.arm,
            ci_text(&arm.generations, 0),
            arm.reached,
            arm.seeds,
            ci_text(&arm.test_accuracy, 4)
        );
    }
    for pair in &analysis.pairs {
        println!(
            "{} vs {}: U {:?}, z {:.3}, two-sided p {:.4}; faster by seed {}:{} (ties {})",
            pair.first,
            pair.second,
            pair.u,
            pair.z.unwrap_or(f64::NAN),
            pair.p_two_sided.unwrap_or(f64::NAN),
            pair.first_faster,
            pair.second_faster,
            pair.ties
        );
    }
    println!(
        "reused modules (of task B's best path, task A's frozen): median {} histogram {:?}",
        ci_text(&analysis.reused, 1),
        analysis.reused_histogram
    );
}

// ---------------------------------------------------------------------------------------
// Files

fn write_report(out: &Path, report: &mut Report) -> Result<()> {
    report.analysis = Some(analyse(report));
    write_gz_json(out, &report.name, report)?;
    for (suffix, value) in plots(report) {
        let path = out.join(format!("{}.{suffix}.json", report.name));
        std::fs::write(&path, serde_json::to_string_pretty(&value)?)
            .with_context(|| format!("{}", path.display()))?;
    }
    Ok(())
}

fn read_report(path: &Path) -> Result<Report> {
    read_gz_json(path)
}

fn reanalyse(args: &Args) -> Result<()> {
    let mut reports = args
        .reanalyse
        .iter()
        .map(|p| read_report(p))
        .collect::<Result<Vec<_>>>()?;
    let mut merged = reports.remove(0);
    for (other, path) in reports.into_iter().zip(&args.reanalyse[1..]) {
        if other.config != merged.config {
            bail!(
                "{}: settings {:?} differ from the first report's {:?}",
                path.display(),
                other.config,
                merged.config
            );
        }
        for seed in other.seeds {
            if merged.seeds.iter().any(|s| s.seed == seed.seed) {
                bail!("{}: seed {} is in two reports", path.display(), seed.seed);
            }
            merged.seeds.push(seed);
        }
    }
    merged.seeds.sort_by_key(|s| s.seed);
    if let Some(name) = &args.name {
        merged.name = name.clone();
    }
    write_report(&args.out, &mut merged)?;
    print_analysis(&merged);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Plot-ready JSON (the schema is in docs/results.md)

#[derive(Serialize)]
struct Curves {
    title: String,
    xlabel: String,
    ylabel: String,
    series: Vec<Series>,
}

#[derive(Serialize)]
struct Series {
    label: String,
    points: Vec<[f64; 2]>,
}

#[derive(Serialize)]
struct Bars {
    title: String,
    ylabel: String,
    bars: Vec<Bar>,
}

#[derive(Serialize)]
struct Bar {
    label: String,
    median: f64,
    lo: f64,
    hi: f64,
}

#[derive(Serialize)]
struct Paths {
    title: String,
    layers: usize,
    modules: usize,
    paths: Vec<PathJson>,
    frozen: Vec<[usize; 2]>,
}

#[derive(Serialize)]
struct PathJson {
    label: String,
    modules: Vec<[usize; 2]>,
}

/// The value of a thinned curve at generation `g`: its last point at or before `g` (a run
/// that stopped keeps its final value).
fn at(curve: &[(usize, f64)], g: usize) -> Option<f64> {
    curve
        .iter()
        .take_while(|(x, _)| *x <= g)
        .last()
        .map(|p| p.1)
}

fn plots(report: &Report) -> Vec<(&'static str, serde_json::Value)> {
    let every = report.config.curve_every.max(1);
    let median_curve = |runs: Vec<&ArmRun>| {
        let last = runs
            .iter()
            .filter_map(|r| r.curve.last().map(|p| p.0))
            .max()
            .unwrap_or(0);
        (every..=last)
            .step_by(every)
            .filter_map(|g| {
                let values: Vec<f64> = runs.iter().filter_map(|r| at(&r.curve, g)).collect();
                // Only where every seed has a value: a median of the survivors would climb.
                (values.len() == runs.len())
                    .then(|| pathnet_bench::stats::median(values).map(|m| [g as f64, m]))
                    .flatten()
            })
            .collect()
    };
    let mut series = vec![Series {
        label: "task A (PathNet)".to_owned(),
        points: median_curve(report.seeds.iter().map(|s| &s.a).collect()),
    }];
    for arm in ARMS {
        series.push(Series {
            label: format!("task B {}", arm.as_str()),
            points: median_curve(report.seeds.iter().map(|s| &s.b[arm.as_str()]).collect()),
        });
    }
    let curves = Curves {
        title: format!(
            "{}: median best training accuracy over {} seeds",
            report.name,
            report.seeds.len()
        ),
        xlabel: "generation (tournament)".to_owned(),
        ylabel: "training accuracy".to_owned(),
        series,
    };
    let analysis = report.analysis.as_ref();
    let bars = Bars {
        title: format!(
            "{}: task B generations to {} (median, 95% CI; censored at {})",
            report.name, report.config.threshold, report.config.cap
        ),
        ylabel: "generations".to_owned(),
        bars: analysis
            .map(|a| {
                a.arms
                    .iter()
                    .filter_map(|arm| {
                        let g = arm.generations.as_ref()?;
                        Some(Bar {
                            label: arm.arm.clone(),
                            median: g.median,
                            lo: g.lo.unwrap_or(g.median),
                            hi: g.hi.unwrap_or(g.median),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default(),
    };
    let cells = |pathway: &[Vec<usize>]| -> Vec<[usize; 2]> {
        pathway
            .iter()
            .enumerate()
            .flat_map(|(l, ms)| ms.iter().map(move |&m| [l, m]))
            .collect()
    };
    let paths = report.seeds.first().map(|s| Paths {
        title: format!(
            "seed {}: task A {:?}, task B {:?}; {} of B's modules are A's",
            s.seed, s.task_a, s.task_b, s.reused_modules
        ),
        layers: 3,
        modules: 10,
        paths: vec![
            PathJson {
                label: "task A best".to_owned(),
                modules: cells(&s.a.best_pathway),
            },
            PathJson {
                label: "task B best (PathNet)".to_owned(),
                modules: cells(&s.b[Arm::PathnetTransfer.as_str()].best_pathway),
            },
        ],
        frozen: cells(&s.a.best_pathway),
    });
    let mut out = vec![
        ("curves", serde_json::to_value(curves).unwrap_or_default()),
        ("bars", serde_json::to_value(bars).unwrap_or_default()),
    ];
    if let Some(paths) = paths {
        out.push(("paths", serde_json::to_value(paths).unwrap_or_default()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_pairs_are_seeded_and_disjoint_or_share_one_class() {
        for seed in 0..50 {
            let (a, b) = tasks(seed, false);
            assert_eq!(tasks(seed, false), (a, b));
            assert!(a[0] != a[1] && b[0] != b[1]);
            assert!(b.iter().all(|c| !a.contains(c) && *c < 10), "{a:?} {b:?}");
            let (sa, sb) = tasks(seed, true);
            assert_eq!(sa, a);
            assert_eq!(sb[0], a[0]);
            assert!(!a.contains(&sb[1]));
        }
        assert_ne!(tasks(1, false), tasks(2, false));
    }

    #[test]
    fn reuse_counts_modules_on_both_paths_layer_by_layer() {
        let a = vec![vec![0, 1, 2], vec![3], vec![4, 5]];
        let b = vec![vec![2, 7], vec![3, 4], vec![9]];
        assert_eq!(reuse(&a, &b), (2, 5));
        // The same index in another layer is another module.
        assert_eq!(reuse(&[vec![1], vec![2]], &[vec![2], vec![1]]), (0, 2));
    }

    #[test]
    fn a_thinned_curve_carries_its_last_value_forward() {
        let curve = [(10, 0.5), (20, 0.7), (23, 0.9)];
        assert_eq!(at(&curve, 5), None);
        assert_eq!(at(&curve, 15), Some(0.5));
        assert_eq!(at(&curve, 100), Some(0.9));
    }
}
