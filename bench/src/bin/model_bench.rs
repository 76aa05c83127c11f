//! Times one training step (forward, cross-entropy loss, backward) of the model benchmarks in
//! Rust, then the identical networks in PyTorch on CPU via `benches/torch_models.py`, and
//! prints both with their ratio as a table and as JSON.
//!
//! Models: the A3C Atari conv net at batch 32, and a PathNet-pathway-sized MLP (three layers
//! that each sum three `Linear(→20) + ReLU` modules, then `Linear(20→2)`) at batch 16. The
//! input never needs a gradient, as in training, so both sides skip the first layer's input
//! gradient.

use anyhow::{Context, Result, bail};
use clap::Parser;
use ndarray::{ArrayD, ArrayViewD, ArrayViewMutD, Ix2};
use pathnet_bench::{Timing, time_runs};
use pathnet_nn::{
    Backward, Cache, Conv2d, Conv2dSpec, Flatten, Forward, Init, Layer, Linear, Relu, Sequential,
    cross_entropy,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::PathBuf;
use std::process::Command;

/// Matrix-product threads; matrixmultiply reads it once, on first use.
const THREADS_ENV: &str = "MATMUL_NUM_THREADS";

#[derive(Parser, Debug)]
#[command(about = "Benchmark the model core against PyTorch (CPU) on this machine")]
struct Args {
    /// Python interpreter with torch installed [default: <repo>/.venv-bench/bin/python]
    #[arg(long, env = "PATHNET_BENCH_PYTHON")]
    python: Option<PathBuf>,
    /// Threads for both sides (matrixmultiply supports 1-4) [default: available cores, max 4]
    #[arg(long)]
    threads: Option<usize>,
    #[arg(long, default_value_t = 10)]
    warmup: usize,
    #[arg(long, default_value_t = 50)]
    runs: usize,
    /// Seed for weights, inputs and targets.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Only time the Rust side.
    #[arg(long)]
    skip_torch: bool,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let threads = match args.threads {
        Some(t) if (1..=4).contains(&t) => t,
        Some(t) => bail!("--threads must be between 1 and 4 (matrixmultiply's limit), got {t}"),
        None => std::thread::available_parallelism().map_or(1, |n| n.get().min(4)),
    };
    if args.runs == 0 {
        bail!("--runs must be at least 1, got 0");
    }
    // The thread count can only be set through the environment before the first product, so
    // re-run this binary with it set rather than mutate our own environment.
    if std::env::var(THREADS_ENV).ok() != Some(threads.to_string()) {
        let status = Command::new(std::env::current_exe()?)
            .args(std::env::args_os().skip(1))
            .env(THREADS_ENV, threads.to_string())
            .status()
            .context("re-running the benchmark with the thread count set")?;
        std::process::exit(status.code().unwrap_or(1));
    }

    let rust = vec![
        ("a3c_conv", time_a3c_conv(&args)),
        ("pathway_mlp", time_pathway(&args)),
    ];
    let torch = if args.skip_torch {
        None
    } else {
        Some(run_torch(&args, threads)?)
    };
    report(&rust, torch.as_ref(), threads)
}

fn time_a3c_conv(args: &Args) -> Timing {
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
    let conv = |i, o, k, s| Conv2dSpec {
        in_channels: i,
        out_channels: o,
        kernel: k,
        stride: s,
        padding: 0,
    };
    let net = Sequential::default()
        .with(Conv2d::new(conv(4, 16, 8, 4), Init::HeUniform, &mut rng))
        .with(Relu)
        .with(Conv2d::new(conv(16, 32, 4, 2), Init::HeUniform, &mut rng))
        .with(Relu)
        .with(Flatten)
        .with(Linear::new(32 * 9 * 9, 256, Init::HeUniform, &mut rng))
        .with(Relu)
        .with(Linear::new(256, 6, Init::XavierUniform, &mut rng));
    let input = ArrayD::from_shape_simple_fn(vec![32, 4, 84, 84], || rng.random::<f32>());
    time_step(&net, &input, 6, &mut rng, args)
}

fn time_pathway(args: &Args) -> Timing {
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
    let mut net = Sequential::default();
    for inputs in [784, 20, 20] {
        let modules = (0..3)
            .map(|_| {
                Sequential::default()
                    .with(Linear::new(inputs, 20, Init::HeUniform, &mut rng))
                    .with(Relu)
            })
            .collect();
        net.push(Box::new(SumOfModules { modules }));
    }
    let net = net.with(Linear::new(20, 2, Init::XavierUniform, &mut rng));
    let input = ArrayD::from_shape_simple_fn(vec![16, 784], || rng.random::<f32>());
    time_step(&net, &input, 2, &mut rng, args)
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
        std::hint::black_box(net.backward_params(&cache, loss.grad.into_dyn().view()));
    })
    .expect("runs is at least 1")
}

/// A PathNet layer: the sum of several modules applied to the same input.
struct SumOfModules {
    modules: Vec<Sequential<f32>>,
}

impl SumOfModules {
    fn backward_with(
        &self,
        cache: &Cache,
        dy: ArrayViewD<'_, f32>,
        input_grad: bool,
    ) -> Backward<f32> {
        let caches: &Vec<Cache> = cache.get();
        let mut total: Option<ArrayD<f32>> = None;
        let mut param_grads = Vec::new();
        for (module, cache) in self.modules.iter().zip(caches) {
            if !input_grad {
                param_grads.extend(module.backward_params(cache, dy.view()));
                continue;
            }
            let b = module.backward(cache, dy.view());
            total = Some(match total {
                Some(t) => t + b.input_grad,
                None => b.input_grad,
            });
            param_grads.extend(b.param_grads);
        }
        Backward {
            input_grad: total.unwrap_or_default(),
            param_grads,
        }
    }
}

impl Layer<f32> for SumOfModules {
    fn name(&self) -> String {
        format!("sum of {} modules", self.modules.len())
    }

    fn forward(&self, input: ArrayViewD<'_, f32>) -> Forward<f32> {
        let mut caches = Vec::with_capacity(self.modules.len());
        let mut sum: Option<ArrayD<f32>> = None;
        for module in &self.modules {
            let f = module.forward(input.view());
            caches.push(f.cache);
            sum = Some(match sum {
                Some(s) => s + f.output,
                None => f.output,
            });
        }
        Forward {
            output: sum.unwrap_or_default(),
            cache: Cache::new(caches),
        }
    }

    fn backward(&self, cache: &Cache, output_grad: ArrayViewD<'_, f32>) -> Backward<f32> {
        self.backward_with(cache, output_grad, true)
    }

    fn backward_params(&self, cache: &Cache, output_grad: ArrayViewD<'_, f32>) -> Vec<ArrayD<f32>> {
        self.backward_with(cache, output_grad, false).param_grads
    }

    fn params(&self) -> Vec<ArrayViewD<'_, f32>> {
        self.modules.iter().flat_map(|m| m.params()).collect()
    }

    fn params_mut(&mut self) -> Vec<ArrayViewMutD<'_, f32>> {
        self.modules
            .iter_mut()
            .flat_map(|m| m.params_mut())
            .collect()
    }

    fn reinit(&mut self, rng: &mut dyn rand::RngCore) {
        self.modules.iter_mut().for_each(|m| m.reinit(rng));
    }
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn run_torch(args: &Args, threads: usize) -> Result<serde_json::Value> {
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
    rust: &[(&str, Timing)],
    torch: Option<&serde_json::Value>,
    threads: usize,
) -> Result<()> {
    let torch_ms = |name: &str| torch.and_then(|t| t["models"][name]["median_ms"].as_f64());
    println!(
        "{:<12} {:>12} {:>12} {:>12}",
        "model", "rust ms", "torch ms", "rust/torch"
    );
    let mut models = serde_json::Map::new();
    for (name, timing) in rust {
        let t = torch_ms(name);
        let ratio = t.map(|t| timing.median_ms / t);
        let fmt = |v: Option<f64>, p: usize| v.map_or("-".into(), |v| format!("{v:.p$}"));
        println!(
            "{name:<12} {:>12.3} {:>12} {:>12}",
            timing.median_ms,
            fmt(t, 3),
            fmt(ratio, 2)
        );
        models.insert(
            name.to_string(),
            serde_json::json!({
                "rust": timing,
                "torch": torch.map(|t| t["models"][name].clone()),
                "ratio_rust_over_torch": ratio,
            }),
        );
    }
    let summary = serde_json::json!({
        "threads": threads,
        "torch_version": torch.map(|t| t["torch_version"].clone()),
        "models": models,
    });
    println!("{}", serde_json::to_string_pretty(&summary)?);
    Ok(())
}
