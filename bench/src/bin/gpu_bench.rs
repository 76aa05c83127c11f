//! The model benchmarks on a CUDA device (feature `cuda`), next to the same models on this
//! machine's CPU cores, printed as JSON (one object per line, then a summary):
//!
//! - the A3C conv net's training step (forward, cross-entropy, parameters-only backward) at
//!   each `--batch`, with the input already on the device (`device`), through the `Layer`
//!   interface with host input and host gradients (`layer_api`), and on the CPU (`cpu`);
//! - PathNet pathway evaluations per second (the paper's supervised configuration: L=3 layers
//!   of M=10 `Linear(→20) + ReLU` modules, N=3 active, 784 inputs, a 2-class head; an
//!   evaluation trains the pathway on T=50 minibatches of 16 with SGD and counts the
//!   misclassified examples), with modules on the device driven from device tensors
//!   (`device`), with the super-network moved by `PathNet::place` and trained by the CPU code
//!   path (`placed`), and on the CPU (`cpu`).
//!
//! `benches/torch_cuda.py` times the same models with PyTorch on the same device.

use anyhow::{Context, Result, bail};
use clap::Parser;
use ndarray::{ArrayD, Ix2};
use pathnet_bench::{Timing, a3c_conv_net, time_runs};
use pathnet_nn::cuda::{Gpu, GpuNet, GpuOptimizer, GpuTensor, cross_entropy as gpu_cross_entropy};
use pathnet_nn::pathnet::build::{self, LinearModules};
use pathnet_nn::pathnet::{Batch, ModuleOptimizers, PathNet, PathNetDims, Pathway};
use pathnet_nn::{Device, Forward, Layer, Linear, Relu, Sequential, Sgd, SgdConfig, cross_entropy};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

#[derive(Parser, Debug)]
#[command(about = "Benchmark the model core on a CUDA device against the CPU")]
struct Args {
    #[arg(long, default_value_t = 0)]
    device: usize,
    /// Batch sizes of the conv-net step.
    #[arg(long, value_delimiter = ',', default_values_t = [32, 1024])]
    batch: Vec<usize>,
    #[arg(long, default_value_t = 10)]
    warmup: usize,
    #[arg(long, default_value_t = 50)]
    runs: usize,
    /// Timed runs of the CPU side at batches above 64 (a step takes seconds there).
    #[arg(long, default_value_t = 5)]
    cpu_runs_large: usize,
    /// Pathway evaluations timed per variant.
    #[arg(long, default_value_t = 40)]
    evaluations: usize,
    /// Threads of the CPU side [default: available cores].
    #[arg(long)]
    threads: Option<usize>,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Skip the CPU side.
    #[arg(long)]
    skip_cpu: bool,
}

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const MINIBATCHES: usize = 50;
const PATHWAY_BATCH: usize = 16;

fn main() -> Result<()> {
    let args = Args::parse();
    if args.runs == 0 || args.evaluations == 0 {
        bail!("--runs and --evaluations must be at least 1");
    }
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    pathnet_nn::set_threads(threads);
    let count =
        pathnet_nn::cuda_devices().map_err(|why| anyhow::anyhow!("no CUDA device: {why}"))?;
    let gpu = Gpu::open(args.device)?;
    println!(
        "{}",
        json!({"device": gpu.name(), "cuda_devices": count, "cpu_threads": threads})
    );
    let mut summary = Vec::new();
    for &batch in &args.batch {
        for (side, timing) in conv_step(&args, &gpu, batch)? {
            let line = json!({"model": "a3c_conv", "batch": batch, "side": side, "timing": timing});
            println!("{line}");
            summary.push(line);
        }
    }
    for (side, per_s) in pathway_evaluations(&args, &gpu)? {
        let line = json!({"model": "pathnet_pathway_evaluation", "side": side, "evaluations_per_s": per_s});
        println!("{line}");
        summary.push(line);
    }
    println!("{}", json!({"summary": summary}));
    Ok(())
}

fn conv_step(args: &Args, gpu: &Arc<Gpu>, batch: usize) -> Result<Vec<(&'static str, Timing)>> {
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
    let cpu_net = a3c_conv_net(&mut rng);
    let net = GpuNet::new(
        Box::new(a3c_conv_net(&mut ChaCha8Rng::seed_from_u64(args.seed))),
        gpu,
    )?;
    let input = ArrayD::from_shape_simple_fn(vec![batch, 4, 84, 84], || rng.random::<f32>());
    let targets: Vec<usize> = (0..batch).map(|_| rng.random_range(0..6)).collect();
    let device_input = GpuTensor::upload(gpu, input.view())?;
    let mut results = Vec::new();

    let device = time_runs(args.warmup, args.runs, || {
        let (logits, cache) = net.forward_device(&device_input).expect("forward");
        // The loss value is read back, which waits for the step's work.
        let (loss, grad) = gpu_cross_entropy(&logits, &targets).expect("loss");
        let (_, grads) = net.backward_device(&cache, &grad, false).expect("backward");
        black_box((loss, grads));
        gpu.synchronize().expect("synchronize");
    })
    .context("no runs")?;
    results.push(("device", device));

    let layer_api = time_runs(args.warmup, args.runs, || {
        black_box(step(&net, &input, &targets));
    })
    .context("no runs")?;
    results.push(("layer_api", layer_api));

    if !args.skip_cpu {
        let (warmup, runs) = if batch > 64 {
            (1, args.cpu_runs_large)
        } else {
            (args.warmup, args.runs)
        };
        let cpu = time_runs(warmup, runs, || {
            black_box(step(&cpu_net, &input, &targets));
        })
        .context("no runs")?;
        results.push(("cpu", cpu));
    }
    Ok(results)
}

fn step(net: &dyn Layer<f32>, input: &ArrayD<f32>, targets: &[usize]) -> Vec<ArrayD<f32>> {
    let Forward { output, cache } = net.forward(input.view());
    let logits = output.into_dimensionality::<Ix2>().expect("2-D logits");
    let loss = cross_entropy(logits.view(), targets).expect("targets in range");
    net.backward_params(&cache, loss.grad.into_dyn().view())
}

/// Synthetic two-class data: timing does not depend on the values.
struct Data {
    inputs: Vec<ArrayD<f32>>,
    labels: Vec<Vec<usize>>,
}

fn data(rng: &mut ChaCha8Rng) -> Data {
    Data {
        inputs: (0..MINIBATCHES)
            .map(|_| ArrayD::from_shape_simple_fn(vec![PATHWAY_BATCH, 784], || rng.random::<f32>()))
            .collect(),
        labels: (0..MINIBATCHES)
            .map(|_| (0..PATHWAY_BATCH).map(|_| rng.random_range(0..2)).collect())
            .collect(),
    }
}

fn super_network(seed: u64) -> Result<PathNet<f32>> {
    let dims = PathNetDims::new(3, 10, 3)?;
    let modules = LinearModules {
        inputs: 784,
        units: 20,
    };
    Ok(build::linear::<f32>(dims, modules, &[2], seed)?)
}

fn pathway_evaluations(args: &Args, gpu: &Arc<Gpu>) -> Result<Vec<(&'static str, f64)>> {
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
    let data = data(&mut rng);
    let dims = PathNetDims::new(3, 10, 3)?;
    let pathways: Vec<Pathway> = (0..args.evaluations as u64)
        .map(|i| Pathway::random(&dims, args.seed + i))
        .collect::<Result<_, _>>()?;
    let sgd = SgdConfig {
        lr: 0.01,
        momentum: 0.0,
    };
    let mut results = Vec::new();

    let mut device_net = DevicePathNet::new(super_network(args.seed)?, gpu)?;
    let per_s = evaluations_per_s(&pathways, |p| device_net.evaluate(p, &data, sgd))?;
    results.push(("device", per_s));

    let mut placed = super_network(args.seed)?;
    placed.place(Device::Cuda(gpu.ordinal()))?;
    let per_s = evaluations_per_s(&pathways, |p| host_evaluate(&mut placed, p, &data, sgd))?;
    results.push(("placed", per_s));

    if !args.skip_cpu {
        let mut cpu = super_network(args.seed)?;
        pathnet_nn::set_threads(1);
        let per_s = evaluations_per_s(&pathways, |p| host_evaluate(&mut cpu, p, &data, sgd))?;
        results.push(("cpu_1_thread", per_s));
    }
    Ok(results)
}

/// Evaluations per second over all pathways, after one untimed evaluation.
fn evaluations_per_s(
    pathways: &[Pathway],
    mut evaluate: impl FnMut(&Pathway) -> Result<usize>,
) -> Result<f64> {
    evaluate(&pathways[0])?;
    let start = Instant::now();
    for p in pathways {
        black_box(evaluate(p)?);
    }
    Ok(pathways.len() as f64 / start.elapsed().as_secs_f64())
}

fn host_evaluate(
    net: &mut PathNet<f32>,
    pathway: &Pathway,
    data: &Data,
    sgd: SgdConfig,
) -> Result<usize> {
    let mut optimizers = ModuleOptimizers::cloning(Sgd::new(sgd)?);
    let batches = data
        .inputs
        .iter()
        .zip(&data.labels)
        .map(|(inputs, labels)| Batch {
            inputs: inputs.view(),
            labels,
        });
    Ok(net
        .train_pathway(pathway, 0, batches, &mut optimizers)?
        .misclassified)
}

/// A PathNet whose modules are driven from device tensors: a layer's active modules see the
/// same device input, their outputs are summed on the device, and only the labels go up and
/// the logits (for the misclassification count) come down per minibatch.
struct DevicePathNet {
    gpu: Arc<Gpu>,
    modules: Vec<Vec<GpuNet>>,
    head: GpuNet,
}

impl DevicePathNet {
    fn new(net: PathNet<f32>, gpu: &Arc<Gpu>) -> Result<Self> {
        // Rebuild each module from its parameters: the super-network's modules are
        // `Linear + ReLU` sequentials of known sizes.
        let dims = *net.dims();
        let mut modules = Vec::new();
        for layer in 0..dims.layers {
            let mut row = Vec::new();
            for index in 0..dims.modules {
                let params = net.params(pathnet_nn::pathnet::ModuleId::new(layer, index))?;
                let linear = Linear::from_params(
                    params[0].to_owned().into_dimensionality()?,
                    params[1].to_owned().into_dimensionality()?,
                );
                row.push(GpuNet::new(
                    Box::new(Sequential::default().with(linear).with(Relu)),
                    gpu,
                )?);
            }
            modules.push(row);
        }
        let head = net.params(net.head_id(0)?)?;
        let head = Linear::from_params(
            head[0].to_owned().into_dimensionality()?,
            head[1].to_owned().into_dimensionality()?,
        );
        Ok(DevicePathNet {
            gpu: gpu.clone(),
            modules,
            head: GpuNet::new(Box::new(head), gpu)?,
        })
    }

    fn evaluate(&mut self, pathway: &Pathway, data: &Data, sgd: SgdConfig) -> Result<usize> {
        let mut wrong = 0;
        let mut optimizer = GpuOptimizer::sgd(sgd)?;
        for (inputs, labels) in data.inputs.iter().zip(&data.labels) {
            let x = GpuTensor::upload(&self.gpu, inputs.view())?;
            let mut current = x;
            let mut caches = Vec::new();
            for (layer, active) in pathway.layers().iter().enumerate() {
                let mut sum: Option<GpuTensor> = None;
                let mut layer_caches = Vec::new();
                for &m in active {
                    let (y, cache) = self.modules[layer][m].forward_device(&current)?;
                    layer_caches.push(cache);
                    match &mut sum {
                        None => sum = Some(y.to(&self.gpu)?),
                        Some(s) => s.add_assign(&y)?,
                    }
                }
                caches.push(layer_caches);
                current = sum.expect("a pathway layer has active modules");
            }
            let (logits, head_cache) = self.head.forward_device(&current)?;
            let (_, grad) = gpu_cross_entropy(&logits, labels)?;
            let host_logits = logits.download()?;
            wrong += host_logits
                .outer_iter()
                .zip(labels)
                .filter(|(row, label)| {
                    let best = (0..row.len()).fold(0, |b, i| if row[i] > row[b] { i } else { b });
                    best != **label
                })
                .count();
            let (dx, grads) = self.head.backward_device(&head_cache, &grad, true)?;
            self.head.step(&mut optimizer, &grads)?;
            let mut dy = dx.expect("asked for");
            for (layer, active) in pathway.layers().iter().enumerate().rev() {
                let mut dx_sum: Option<GpuTensor> = None;
                for (&m, cache) in active.iter().zip(&caches[layer]) {
                    let module = &mut self.modules[layer][m];
                    let (dx, grads) = module.backward_device(cache, &dy, layer > 0)?;
                    module.step(&mut optimizer, &grads)?;
                    if let Some(dx) = dx {
                        match &mut dx_sum {
                            None => dx_sum = Some(dx),
                            Some(s) => s.add_assign(&dx)?,
                        }
                    }
                }
                match dx_sum {
                    Some(next) => dy = next,
                    None => break,
                }
            }
        }
        Ok(wrong)
    }
}
