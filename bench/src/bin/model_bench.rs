//! Times one training step (forward, cross-entropy loss, backward) of the model benchmarks in
//! Rust, then the identical networks in PyTorch on CPU via `benches/torch_models.py`, and
//! prints both with their ratio as a table and as JSON.
//!
//! Models: the A3C Atari conv net at batch 32, and one pathway of the paper's supervised PathNet
//! (`PathNet` built by `build::linear` with L=3 layers of M=10 `Linear(→20) + ReLU` modules, N=3
//! of them active per layer and summed, 784 inputs, then the `Linear(20→2)` head) at batch 16,
//! with the same active modules on both sides. The input never needs a gradient, as in
//! training, so both sides skip the first layer's input gradient (the pathway through
//! `PathNet::backward_params`, which training uses).

use anyhow::{Context, Result, bail};
use clap::Parser;
use ndarray::{ArrayD, Ix2};
use pathnet_bench::{Timing, a3c_conv_net, time_runs};
use pathnet_nn::pathnet::build::{self, LinearModules};
use pathnet_nn::pathnet::{ModuleGrads, PathNet, PathNetDims, Pathway};
use pathnet_nn::{Forward, Layer, Sequential, cross_entropy};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::hint::black_box;
use std::path::PathBuf;
use std::process::Command;

#[derive(Parser, Debug)]
#[command(about = "Benchmark the model core against PyTorch (CPU) on this machine")]
struct Args {
    /// Python interpreter with torch installed [default: .venv-bench/bin/python in the repository]
    #[arg(long, env = "PATHNET_BENCH_PYTHON")]
    python: Option<PathBuf>,
    /// Threads for both sides [default: available cores]
    #[arg(long)]
    threads: Option<usize>,
    #[arg(long, default_value_t = 10)]
    warmup: usize,
    #[arg(long, default_value_t = 50)]
    runs: usize,
    /// Seed for weights, inputs and targets.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Alternating rounds of Rust and PyTorch timings. Each side is reported by its best
    /// round's median, which discounts rounds slowed by other load on a shared machine.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Only time the Rust side.
    #[arg(long)]
    skip_torch: bool,
    /// Time the shared RMSProp step and parameter copies (current against the element-wise
    /// loops they replaced) instead of the models.
    #[arg(long)]
    rmsprop: bool,
}

// glibc's malloc returns freed multi-megabyte blocks to the OS and page-faults them back in
// on the next step, which cost the conv net about 2.5 ms per step; a training binary should use
// an allocator that keeps them, so the benchmark measures with one.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const MODELS: [&str; 2] = ["a3c_conv", "pathnet_pathway"];

fn main() -> Result<()> {
    let args = Args::parse();
    let threads = match args.threads {
        Some(0) => bail!("--threads must be at least 1, got 0"),
        Some(t) => t,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    if args.runs == 0 || args.rounds == 0 {
        bail!(
            "--runs and --rounds must be at least 1, got {} and {}",
            args.runs,
            args.rounds
        );
    }
    pathnet_nn::set_threads(threads);
    if args.rmsprop {
        return rmsprop::run(&args);
    }

    let pathway = PathwayCase::new(args.seed).context("building the PathNet pathway")?;
    let mut rust = Vec::new();
    let mut torch = Vec::new();
    for _ in 0..args.rounds {
        rust.push([time_a3c_conv(&args), pathway.time(&args)]);
        if !args.skip_torch {
            torch.push(run_torch(&args, threads, &pathway.torch_arg())?);
        }
    }
    report(&rust, &torch, threads, &pathway.pathway)
}

fn time_a3c_conv(args: &Args) -> Timing {
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
    let net = a3c_conv_net(&mut rng);
    let input = ArrayD::from_shape_simple_fn(vec![32, 4, 84, 84], || rng.random::<f32>());
    time_step(&net, &input, 6, &mut rng, args)
}

/// The benchmarked pathway: a fixed network, pathway, batch and labels from `seed`.
struct PathwayCase {
    net: PathNet<f32>,
    pathway: Pathway,
    input: ArrayD<f32>,
    labels: Vec<usize>,
}

impl PathwayCase {
    const CLASSES: usize = 2;

    fn new(seed: u64) -> Result<Self> {
        let dims = PathNetDims::new(3, 10, 3)?;
        let modules = LinearModules {
            inputs: 784,
            units: 20,
        };
        let net = build::linear(dims, modules, &[Self::CLASSES], seed)?;
        let pathway = Pathway::random(&dims, seed)?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let input = ArrayD::from_shape_simple_fn(vec![16, 784], || rng.random::<f32>());
        let labels = (0..16)
            .map(|_| rng.random_range(0..Self::CLASSES))
            .collect();
        let case = PathwayCase {
            net,
            pathway,
            input,
            labels,
        };
        // One checked step up front, so that the timed ones cannot fail.
        case.step()?;
        Ok(case)
    }

    fn step(&self) -> Result<Vec<ModuleGrads<f32>>> {
        let fwd = self.net.forward(&self.pathway, 0, self.input.view())?;
        let logits = fwd.output.view().into_dimensionality::<Ix2>()?;
        let loss = cross_entropy(logits, &self.labels)?;
        Ok(self
            .net
            .backward_params(&fwd.cache, loss.grad.view().into_dyn())?)
    }

    /// The pathway as `benches/torch_models.py --pathway` takes it: layers separated by `/`,
    /// module indices by `,`.
    fn torch_arg(&self) -> String {
        let layers: Vec<String> = self
            .pathway
            .layers()
            .iter()
            .map(|active| {
                let indices: Vec<String> = active.iter().map(usize::to_string).collect();
                indices.join(",")
            })
            .collect();
        layers.join("/")
    }

    fn time(&self, args: &Args) -> Timing {
        time_runs(args.warmup, args.runs, || {
            black_box(
                self.step()
                    .expect("the same step succeeded when the case was built"),
            );
        })
        .expect("runs is at least 1")
    }
}

fn time_step(
    net: &Sequential<f32>,
    input: &ArrayD<f32>,
    classes: usize,
    rng: &mut impl Rng,
    args: &Args,
) -> Timing {
    let targets: Vec<usize> = (0..input.shape()[0])
        .map(|_| rng.random_range(0..classes))
        .collect();
    time_runs(args.warmup, args.runs, || {
        let Forward { output, cache } = net.forward(input.view());
        let logits = output
            .into_dimensionality::<Ix2>()
            .expect("the nets end in a linear layer");
        let loss = cross_entropy(logits.view(), &targets).expect("targets are in range");
        black_box(net.backward_params(&cache, loss.grad.into_dyn().view()));
    })
    .expect("runs is at least 1")
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn run_torch(args: &Args, threads: usize, pathway: &str) -> Result<serde_json::Value> {
    let python = args
        .python
        .clone()
        .unwrap_or_else(|| repo_root().join(".venv-bench/bin/python"));
    let script = repo_root().join("benches/torch_models.py");
    let out = Command::new(&python)
        .arg(&script)
        .args(["--threads", &threads.to_string()])
        .args(["--warmup", &args.warmup.to_string(), "--runs", &args.runs.to_string()])
        .args(["--seed", &args.seed.to_string()])
        .args(["--pathway", pathway])
        .output()
        .with_context(|| {
            format!(
                "running {} (set --python or PATHNET_BENCH_PYTHON, or create it with scripts/setup-bench-python)",
                python.display()
            )
        })?;
    if !out.status.success() {
        bail!(
            "{} failed: {}",
            script.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    serde_json::from_slice(&out.stdout).with_context(|| {
        format!(
            "{} printed no JSON: {}",
            script.display(),
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn report(
    rust: &[[Timing; 2]],
    torch: &[serde_json::Value],
    threads: usize,
    pathway: &Pathway,
) -> Result<()> {
    let best = |v: &[f64]| {
        v.iter()
            .copied()
            .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.min(x))))
    };
    let fmt = |v: Option<f64>, p: usize| v.map_or("-".into(), |v| format!("{v:.p$}"));
    println!(
        "{:<16} {:>12} {:>12} {:>12}",
        "model", "rust ms", "torch ms", "rust/torch"
    );
    let mut models = serde_json::Map::new();
    for (i, name) in MODELS.iter().enumerate() {
        let rust_medians: Vec<f64> = rust.iter().map(|round| round[i].median_ms).collect();
        let torch_medians: Vec<f64> = torch
            .iter()
            .map(|t| {
                t["models"][name]["median_ms"]
                    .as_f64()
                    .with_context(|| format!("torch output lacks models.{name}.median_ms: {t}"))
            })
            .collect::<Result<_>>()?;
        let (r, t) = (best(&rust_medians), best(&torch_medians));
        let ratio = r.zip(t).map(|(r, t)| r / t);
        println!(
            "{name:<16} {:>12} {:>12} {:>12}",
            fmt(r, 3),
            fmt(t, 3),
            fmt(ratio, 2)
        );
        models.insert(
            name.to_string(),
            serde_json::json!({
                "rust_best_median_ms": r,
                "torch_best_median_ms": t,
                "ratio_rust_over_torch": ratio,
                "rust_rounds": rust.iter().map(|round| round[i]).collect::<Vec<_>>(),
                "torch_rounds": torch.iter().map(|t| t["models"][name].clone()).collect::<Vec<_>>(),
            }),
        );
    }
    let summary = serde_json::json!({
        "threads": threads,
        "allocator": "mimalloc",
        "pathway": pathway.to_string(),
        "torch_version": torch.first().map(|t| t["torch_version"].clone()),
        "models": models,
    });
    println!("{}", serde_json::to_string_pretty(&summary)?);
    Ok(())
}

/// The `--rmsprop` rows: operations on shared parameters on one thread, current against the
/// element-wise loops they replaced.
mod rmsprop {
    use super::Args;
    use anyhow::{Result, bail};
    use ndarray::{ArrayD, ArrayViewD, ArrayViewMutD};
    use pathnet_bench::{Timing, time_runs};
    use pathnet_nn::{AtomicTensors, Float, RmsProp, RmsPropConfig};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Parameter shapes (weights then biases, actor head then critic head) of the timed sets:
    /// a CartPole-sized MLP and the MinAtar conv net with a 128- and a 512-unit hidden layer.
    #[rustfmt::skip]
    const SETS: [(&str, &[&[usize]]); 3] = [
        ("mlp_4_64_64", &[&[64, 4], &[64], &[64, 64], &[64], &[2, 64], &[2], &[1, 64], &[1]]),
        ("minatar_conv16_fc128",
         &[&[16, 4, 3, 3], &[16], &[128, 1024], &[128], &[3, 128], &[3], &[1, 128], &[1]]),
        ("minatar_conv16_fc512",
         &[&[16, 4, 3, 3], &[16], &[512, 1024], &[512], &[3, 512], &[3], &[1, 512], &[1]]),
    ];

    /// What a coordinator does with shared parameters on each gradient push.
    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Operation {
        StepShared,
        LoadInto,
        StoreFrom,
    }

    impl Operation {
        const ALL: [Operation; 3] = [
            Operation::StepShared,
            Operation::LoadInto,
            Operation::StoreFrom,
        ];

        fn name(self) -> &'static str {
            match self {
                Operation::StepShared => "step_shared",
                Operation::LoadInto => "load_into",
                Operation::StoreFrom => "store_from",
            }
        }
    }

    /// Each timed sample covers at least this many elements, so that the small set's
    /// microseconds-long calls are not lost in timer resolution.
    const ELEMENTS_PER_SAMPLE: usize = 1 << 20;

    /// `RmsProp::step_shared` as it was before it worked in chunks, kept as the baseline: per
    /// element, relaxed loads of parameter and statistic, scalar arithmetic, relaxed stores.
    fn step_shared_elementwise_baseline<F: Float>(
        config: &RmsPropConfig,
        params: &AtomicTensors<F>,
        square_avg: &AtomicTensors<F>,
        grads: &[ArrayD<F>],
    ) {
        let delta = |s: &F::Atomic, g: F| {
            let alpha = F::of(config.alpha);
            let avg = alpha * F::load(s) + (F::one() - alpha) * g * g;
            F::store(s, avg);
            F::of(config.lr) * g / (avg + F::of(config.eps)).sqrt()
        };
        for (i, g) in grads.iter().enumerate() {
            if g.iter().all(|v| *v == F::zero()) {
                continue;
            }
            let g = g.as_standard_layout();
            let targets = params.elements(i).iter().zip(square_avg.elements(i));
            for ((p, s), &g) in targets.zip(g.iter()) {
                F::store(p, F::load(p) - delta(s, g));
            }
        }
    }

    /// `AtomicTensors::load_into` before its slice path: ndarray's element iterator.
    fn load_into_elementwise_baseline<F: Float>(
        shared: &AtomicTensors<F>,
        targets: &mut [ArrayViewMutD<'_, F>],
    ) {
        for (i, target) in targets.iter_mut().enumerate() {
            for (t, a) in target.iter_mut().zip(shared.elements(i)) {
                *t = F::load(a);
            }
        }
    }

    /// `AtomicTensors::store_from` before its slice path.
    fn store_from_elementwise_baseline<F: Float>(
        shared: &AtomicTensors<F>,
        sources: &[ArrayViewD<'_, F>],
    ) {
        for (i, source) in sources.iter().enumerate() {
            for (&s, a) in source.iter().zip(shared.elements(i)) {
                F::store(a, s);
            }
        }
    }

    /// One parameter set: gradients, an optimiser and parameters per variant of the step (each
    /// starting from the same values and zero statistics), and local tensors to copy through.
    struct Case {
        name: &'static str,
        elements: usize,
        grads: Vec<ArrayD<f32>>,
        calls_per_sample: usize,
        current: (RmsProp<f32>, AtomicTensors<f32>),
        baseline: (RmsProp<f32>, AtomicTensors<f32>),
        local: Vec<ArrayD<f32>>,
    }

    impl Case {
        fn new(name: &'static str, shapes: &[&[usize]], seed: u64) -> Result<Self> {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let mut random = |shape: &[usize]| {
                ArrayD::from_shape_simple_fn(shape, || rng.random_range(-1.0f32..1.0))
            };
            let local: Vec<_> = shapes.iter().map(|s| random(s)).collect();
            let grads: Vec<_> = shapes.iter().map(|s| random(s)).collect();
            let views: Vec<_> = local.iter().map(|p| p.view()).collect();
            let shapes: Vec<Vec<usize>> = shapes.iter().map(|s| s.to_vec()).collect();
            let optimiser = || RmsProp::new(RmsPropConfig::default(), &shapes);
            let elements = local.iter().map(|p| p.len()).sum::<usize>();
            Ok(Case {
                name,
                elements,
                grads,
                calls_per_sample: ELEMENTS_PER_SAMPLE.div_ceil(elements),
                current: (optimiser()?, AtomicTensors::from_views(&views)),
                baseline: (optimiser()?, AtomicTensors::from_views(&views)),
                local,
            })
        }

        /// Times `op`, the current code or the baseline. The copies go between the variant's
        /// shared parameters and the local tensors.
        fn time(&mut self, args: &Args, op: Operation, current: bool) -> Timing {
            let (opt, params) = if current {
                &self.current
            } else {
                &self.baseline
            };
            let grads = &self.grads;
            let local = &mut self.local;
            let mut call: Box<dyn FnMut()> = match (op, current) {
                (Operation::StepShared, true) => Box::new(|| opt.step_shared(params, grads)),
                (Operation::StepShared, false) => {
                    let (config, stats) = (opt.config(), opt.statistics());
                    Box::new(move || {
                        step_shared_elementwise_baseline(&config, params, stats, grads);
                    })
                }
                (Operation::LoadInto, _) => {
                    let mut views: Vec<_> = local.iter_mut().map(|t| t.view_mut()).collect();
                    Box::new(move || {
                        if current {
                            params.load_into(&mut views);
                        } else {
                            load_into_elementwise_baseline(params, &mut views);
                        }
                    })
                }
                (Operation::StoreFrom, _) => {
                    let views: Vec<_> = local.iter().map(|t| t.view()).collect();
                    Box::new(move || {
                        if current {
                            params.store_from(&views);
                        } else {
                            store_from_elementwise_baseline(params, &views);
                        }
                    })
                }
            };
            time_runs(args.warmup, args.runs, || {
                for _ in 0..self.calls_per_sample {
                    call();
                }
            })
            .expect("runs is at least 1")
        }

        fn ns_per_element(&self, timing: &Timing) -> f64 {
            timing.median_ms * 1e6 / (self.calls_per_sample * self.elements) as f64
        }

        /// Both variants made the same calls from the same state on one thread, so their
        /// parameters and statistics must agree bit for bit.
        fn check_identical(&self) -> Result<()> {
            let bits = |(opt, params): &(RmsProp<f32>, AtomicTensors<f32>)| {
                let arrays = params.to_arrays().into_iter();
                arrays
                    .chain(opt.statistics().to_arrays())
                    .flat_map(|a| a.iter().map(|v| v.to_bits()).collect::<Vec<_>>())
                    .collect::<Vec<u32>>()
            };
            if bits(&self.current) != bits(&self.baseline) {
                bail!(
                    "{}: the current step's parameters or statistics differ from the element-wise baseline's",
                    self.name
                );
            }
            Ok(())
        }
    }

    pub(super) fn run(args: &Args) -> Result<()> {
        let mut cases = SETS
            .iter()
            .map(|(name, shapes)| Case::new(name, shapes, args.seed))
            .collect::<Result<Vec<_>>>()?;
        // Alternating rounds, each variant reported by its best round's median, as for the
        // models. rounds[round][case][op] = (current, baseline).
        let mut rounds: Vec<Vec<Vec<(Timing, Timing)>>> = Vec::new();
        for _ in 0..args.rounds {
            let mut round = Vec::new();
            for case in &mut cases {
                let mut times = Vec::new();
                for op in Operation::ALL {
                    times.push((case.time(args, op, true), case.time(args, op, false)));
                    // Checked before the copies, which would carry one variant's parameters
                    // over to the other.
                    if op == Operation::StepShared {
                        case.check_identical()?;
                    }
                }
                round.push(times);
            }
            rounds.push(round);
        }
        println!(
            "{:<22} {:>9} {:<12} {:>12} {:>13} {:>10}",
            "parameters", "elements", "operation", "now ns/el", "before ns/el", "ratio"
        );
        let mut rows = serde_json::Map::new();
        for (i, case) in cases.iter().enumerate() {
            for (op, operation) in Operation::ALL.iter().enumerate() {
                let op_name = operation.name();
                let timings = |pick: fn(&(Timing, Timing)) -> Timing| {
                    rounds.iter().map(|r| pick(&r[i][op])).collect::<Vec<_>>()
                };
                let (now_rounds, before_rounds) = (timings(|t| t.0), timings(|t| t.1));
                let best = |rounds: &[Timing]| {
                    rounds
                        .iter()
                        .map(|t| case.ns_per_element(t))
                        .fold(f64::INFINITY, f64::min)
                };
                let (now, before) = (best(&now_rounds), best(&before_rounds));
                let ratio = before / now;
                println!(
                    "{:<22} {:>9} {op_name:<12} {now:>12.3} {before:>13.3} {ratio:>10.2}",
                    case.name, case.elements
                );
                rows.insert(
                    format!("{}/{op_name}", case.name),
                    serde_json::json!({
                        "elements": case.elements,
                        "calls_per_sample": case.calls_per_sample,
                        "now_best_median_ns_per_element": now,
                        "before_best_median_ns_per_element": before,
                        "ratio_before_over_now": ratio,
                        "now_rounds": now_rounds,
                        "before_rounds": before_rounds,
                    }),
                );
            }
        }
        let summary = serde_json::json!({
            "benchmark": "shared_parameters",
            "float": "f32",
            "threads": 1,
            "allocator": "mimalloc",
            "rows": rows,
        });
        println!("{}", serde_json::to_string_pretty(&summary)?);
        Ok(())
    }
}
