//! Times one PathNet pathway of the paper's supervised configuration (L=3, M=10, N=3,
//! 20-unit `Linear + ReLU` modules, 784 inputs, a 2-class head) at batch 16: the forward and
//! backward pass through the super-network (with the cross-entropy loss between them), and a
//! whole training step (the same plus the SGD update of the active modules and the head).
//! Prints the median, min and max milliseconds of each as JSON.

use anyhow::{Context, Result, bail};
use clap::Parser;
use ndarray::{Array2, Ix2};
use pathnet_bench::time_runs;
use pathnet_nn::pathnet::build::{self, LinearModules};
use pathnet_nn::pathnet::{Batch, ModuleOptimizers, PathNetDims, Pathway};
use pathnet_nn::{Sgd, SgdConfig, cross_entropy};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[derive(Parser, Debug)]
#[command(about = "Benchmark a PathNet pathway's forward and backward pass")]
struct Args {
    #[arg(long, default_value_t = 50)]
    warmup: usize,
    #[arg(long, default_value_t = 500)]
    runs: usize,
    #[arg(long, default_value_t = 16)]
    batch: usize,
    /// Seed for the network, the pathway, inputs and labels.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

const INPUTS: usize = 784;
const UNITS: usize = 20;
const CLASSES: usize = 2;

fn main() -> Result<()> {
    let args = Args::parse();
    if args.runs == 0 {
        bail!("--runs must be at least 1, got 0");
    }
    if args.batch == 0 {
        bail!("--batch must be at least 1, got 0");
    }
    let dims = PathNetDims::new(3, 10, 3)?;
    let modules = LinearModules {
        inputs: INPUTS,
        units: UNITS,
    };
    let mut net = build::linear::<f32>(dims, modules, &[CLASSES], args.seed)?;
    let pathway = Pathway::random(&dims, args.seed)?;
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
    let inputs =
        Array2::from_shape_simple_fn((args.batch, INPUTS), || rng.random_range(0.0f32..1.0))
            .into_dyn();
    let labels: Vec<usize> = (0..args.batch)
        .map(|_| rng.random_range(0..CLASSES))
        .collect();

    let mut failure = None;
    let forward_backward = time_runs(args.warmup, args.runs, || {
        let step = || -> Result<()> {
            let fwd = net.forward(&pathway, 0, inputs.view())?;
            let logits = fwd.output.view().into_dimensionality::<Ix2>()?;
            let loss = cross_entropy(logits, &labels)?;
            net.backward(&fwd.cache, loss.grad.view().into_dyn())?;
            Ok(())
        };
        if let Err(e) = step() {
            failure.get_or_insert(e);
        }
    })
    .context("no timed runs")?;
    if let Some(e) = failure {
        return Err(e.context("forward/backward pass"));
    }

    let mut optimizers = ModuleOptimizers::cloning(Sgd::new(SgdConfig {
        lr: 1e-4,
        momentum: 0.0,
    })?);
    let mut failure = None;
    let train_step = time_runs(args.warmup, args.runs, || {
        let batch = Batch {
            inputs: inputs.view(),
            labels: &labels,
        };
        if let Err(e) = net.train_pathway(&pathway, 0, [batch], &mut optimizers) {
            failure.get_or_insert(e);
        }
    })
    .context("no timed runs")?;
    if let Some(e) = failure {
        return Err(anyhow::Error::from(e).context("training step"));
    }

    let json = serde_json::json!({
        "benchmark": "pathway",
        "config": {
            "layers": dims.layers,
            "modules": dims.modules,
            "max_active": dims.max_active,
            "units": UNITS,
            "inputs": INPUTS,
            "classes": CLASSES,
            "batch": args.batch,
            "pathway": pathway.to_string(),
            "seed": args.seed,
            "warmup": args.warmup,
            "matmul_threads": std::env::var("MATMUL_NUM_THREADS").ok(),
        },
        "forward_backward": forward_backward,
        "train_step": train_step,
    });
    println!("{}", serde_json::to_string_pretty(&json)?);
    Ok(())
}
