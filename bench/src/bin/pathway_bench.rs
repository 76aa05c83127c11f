//! Times one PathNet pathway of the paper's supervised configuration (L=3, M=10, N=3,
//! 20-unit `Linear + ReLU` modules, 784 inputs, a 2-class head) at batch 16: the forward pass,
//! cross-entropy loss and full backward pass (input gradient included) through the
//! super-network; the same with the parameters-only backward that training uses; and a whole
//! training step (`train_pathway` on one batch: that plus the SGD update of the active modules
//! and the head). Prints the median, min and max milliseconds of each as JSON.

use anyhow::{Context, Result, bail};
use clap::Parser;
use ndarray::{Array2, Ix2};
use pathnet_bench::{Timing, time_runs};
use pathnet_nn::pathnet::build::{self, LinearModules};
use pathnet_nn::pathnet::{Batch, ModuleOptimizers, PathNetDims, Pathway};
use pathnet_nn::{Sgd, SgdConfig, cross_entropy};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::hint::black_box;

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

// As in model_bench: glibc's malloc hands the gradient buffers back to the OS and faults them
// in again on the next step, which cost the pathway step about 0.1 ms; training binaries use
// mimalloc too.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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

    let forward_backward = time_pass(&args, "forward/backward pass", || {
        let fwd = net.forward(&pathway, 0, inputs.view())?;
        let logits = fwd.output.view().into_dimensionality::<Ix2>()?;
        let loss = cross_entropy(logits, &labels)?;
        black_box(net.backward(&fwd.cache, loss.grad.view().into_dyn())?);
        Ok(())
    })?;
    let forward_backward_params = time_pass(&args, "forward/parameters-only backward", || {
        let fwd = net.forward(&pathway, 0, inputs.view())?;
        let logits = fwd.output.view().into_dimensionality::<Ix2>()?;
        let loss = cross_entropy(logits, &labels)?;
        black_box(net.backward_params(&fwd.cache, loss.grad.view().into_dyn())?);
        Ok(())
    })?;

    let mut optimizers = ModuleOptimizers::cloning(Sgd::new(SgdConfig {
        lr: 1e-4,
        momentum: 0.0,
    })?);
    let train_step = time_pass(&args, "training step", || {
        let batch = Batch {
            inputs: inputs.view(),
            labels: &labels,
        };
        net.train_pathway(&pathway, 0, [batch], &mut optimizers)?;
        Ok(())
    })?;

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
        "allocator": "mimalloc",
        "forward_backward": forward_backward,
        "forward_backward_params": forward_backward_params,
        "train_step": train_step,
    });
    println!("{}", serde_json::to_string_pretty(&json)?);
    Ok(())
}

/// Times `step`, stopping at its first error.
fn time_pass(args: &Args, what: &str, mut step: impl FnMut() -> Result<()>) -> Result<Timing> {
    let mut failure = None;
    let timing = time_runs(args.warmup, args.runs, || {
        if failure.is_none()
            && let Err(e) = step()
        {
            failure = Some(e);
        }
    })
    .context("no timed runs")?;
    match failure {
        Some(e) => Err(e.context(what.to_owned())),
        None => Ok(timing),
    }
}
