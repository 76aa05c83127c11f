//! Sideways throughput and memory against per-frame backprop and BPTT on the same video
//! network, and the per-frame network in PyTorch (CPU), measured side by side in one run.
//!
//! Speed: frames per second (a frame of each video in the batch counts once) of every engine
//! training clips of noise frames, in rounds that alternate the engines; each engine is
//! reported by its median round, with the spread. Layer calls run on one thread
//! (`set_threads(1)`): the parallelism measured is the pipeline's, one thread per stage.
//!
//! With `--device cuda:N` (feature `cuda`): Sideways with K = 1, 2 and 4 stages (one thread
//! per stage) with every stage placed on the device, next to the same engines on the CPU, in
//! alternating rounds; no memory runs and no PyTorch.
//!
//! Memory: each engine trains one clip of each length in a fresh child process, which
//! reports its peak resident memory (VmHWM) minus its resident memory before the clip.

use anyhow::{Context, Result, bail};
use clap::Parser;
use pathnet_bench::video_net::{Cut, NoiseFrames, VideoNetSpec, video_net};
use pathnet_nn::sideways::{
    Bptt, Combine, OptimizerSpec, PerFrame, Pipeline, SidewaysConfig, ThreadedPipeline,
    UpdateSchedule,
};
use pathnet_nn::{AdamConfig, Device, SgdConfig};
use pathnet_work::sideways::calibrate::{Workload, time_blocks};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(
    about = "Sideways: frames/s and peak memory against per-frame backprop, BPTT and PyTorch"
)]
struct Args {
    /// Frames per clip in the speed runs.
    #[arg(long, default_value_t = 32)]
    frames: usize,
    /// Videos per batch.
    #[arg(long, default_value_t = 8)]
    batch: usize,
    /// Clips per engine per round.
    #[arg(long, default_value_t = 3)]
    clips: usize,
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Clip lengths of the memory runs.
    #[arg(long, value_delimiter = ',', default_value = "8,16,32,64,128")]
    memory_frames: Vec<usize>,
    #[arg(long)]
    no_speed: bool,
    #[arg(long)]
    no_memory: bool,
    /// Python interpreter with torch [default: .venv-bench/bin/python in the repository]
    #[arg(long, env = "PATHNET_BENCH_PYTHON")]
    python: Option<PathBuf>,
    #[arg(long)]
    skip_torch: bool,
    /// Every engine steps Adam (lr 0.002, as the Sideways examples train) instead of SGD
    /// with momentum; the optimiser step per tick then weighs on the head, which holds
    /// nearly all parameters.
    #[arg(long)]
    adam: bool,
    /// Time Sideways with its stages on this device (`cuda:N`) against the same on the CPU.
    #[cfg(feature = "cuda")]
    #[arg(long, default_value = "cpu")]
    device: Device,
    /// Child mode: train one clip of `--frames` with this engine and print the memory used.
    #[arg(long, hide = true)]
    measure_memory: Option<String>,
}

const CLASSES: usize = 10;

/// The engines, by name: what they run and on which split of the network.
const ENGINES: [&str; 10] = [
    "per-frame BP",
    "BPTT K=4",
    "BPTT K=4 skips",
    "Sideways K=1",
    "Sideways K=2 threads",
    TIMED_K2,
    "Sideways K=4 threads",
    "Skip-Sideways K=4 threads",
    "Sideways K=2 one thread",
    "Sideways K=4 one thread",
];

/// Sideways at K = 2 on threads, the blocks cut by their measured times
/// (`pathnet_work::sideways::calibrate`) rather than by count.
const TIMED_K2: &str = "Sideways K=2 threads, cut by time";

/// The engines of a `--device` run, each on the device and on the CPU.
const DEVICE_ENGINES: [&str; 3] = [
    "Sideways K=1",
    "Sideways K=2 threads",
    "Sideways K=4 threads",
];

enum Engine {
    PerFrame(PerFrame<f32>),
    Bptt(Bptt<f32>),
    Reference(Pipeline<f32>),
    Threaded(ThreadedPipeline<f32>),
}

impl Engine {
    /// The engine `name` with every stage placed on `device`; `timed_blocks` is the cut of
    /// [`TIMED_K2`].
    fn build(
        name: &str,
        device: Device,
        timed_blocks: &[usize],
        sgd: &OptimizerSpec,
    ) -> Result<Self> {
        let sgd = *sgd;
        let config = schedule();
        let cut = |stages: usize, skips: &[usize], blocks: &[usize]| -> Result<_> {
            let mut net = video_net(
                &VideoNetSpec {
                    stages,
                    skips: skips.to_vec(),
                    combine: Combine::Concat,
                    classes: CLASSES,
                    cut: Cut::Count,
                    blocks: blocks.to_vec(),
                },
                1,
            )?;
            net.place(device)?;
            Ok(net)
        };
        let net = |stages: usize, skips: &[usize]| cut(stages, skips, &[]);
        Ok(match name {
            "per-frame BP" => {
                Engine::PerFrame(PerFrame::new(net(1, &[])?, &sgd, UpdateSchedule::PerTick)?)
            }
            "BPTT K=4" => Engine::Bptt(Bptt::new(net(4, &[])?, &sgd, config)?),
            "BPTT K=4 skips" => Engine::Bptt(Bptt::new(net(4, &[2, 3])?, &sgd, config)?),
            "Sideways K=1" => Engine::Reference(Pipeline::new(net(1, &[])?, &sgd, config)?),
            "Sideways K=2 one thread" => {
                Engine::Reference(Pipeline::new(net(2, &[])?, &sgd, config)?)
            }
            "Sideways K=4 one thread" => {
                Engine::Reference(Pipeline::new(net(4, &[])?, &sgd, config)?)
            }
            "Sideways K=2 threads" => {
                Engine::Threaded(ThreadedPipeline::new(net(2, &[])?, &sgd, config)?)
            }
            TIMED_K2 => Engine::Threaded(ThreadedPipeline::new(
                cut(2, &[], timed_blocks)?,
                &sgd,
                config,
            )?),
            "Sideways K=4 threads" => {
                Engine::Threaded(ThreadedPipeline::new(net(4, &[])?, &sgd, config)?)
            }
            "Skip-Sideways K=4 threads" => {
                Engine::Threaded(ThreadedPipeline::new(net(4, &[2, 3])?, &sgd, config)?)
            }
            other => bail!("unknown engine {other:?}; expected one of {ENGINES:?}"),
        })
    }

    fn train(&mut self, clip: &mut NoiseFrames) -> Result<()> {
        let labels: Vec<usize> = (0..clip.batch).map(|i| i % CLASSES).collect();
        match self {
            Engine::PerFrame(e) => e.train_clip(clip, &labels)?,
            Engine::Bptt(e) => e.train_clip(clip, &labels)?,
            Engine::Reference(e) => e.train_clip(clip, &labels)?,
            Engine::Threaded(e) => e.train_clip(clip, &labels)?,
        };
        Ok(())
    }
}

/// Every engine's optimiser, stepped every tick: SGD with momentum, or Adam with `--adam`.
fn optimizer(adam: bool) -> OptimizerSpec {
    if adam {
        OptimizerSpec::Adam(AdamConfig {
            lr: 0.002,
            ..AdamConfig::default()
        })
    } else {
        OptimizerSpec::Sgd(SgdConfig {
            lr: 0.01,
            momentum: 0.9,
        })
    }
}

fn schedule() -> SidewaysConfig {
    SidewaysConfig {
        update: UpdateSchedule::PerTick,
        drain: true,
    }
}

/// Each block's time per tick under the engines' settings, and the K = 2 cut they balance.
fn calibrate(args: &Args) -> Result<Vec<usize>> {
    let workload = Workload {
        classes: CLASSES,
        optimizer: optimizer(args.adam),
        schedule: schedule(),
        batch: args.batch,
        frames: args.frames,
    };
    let times = time_blocks(&workload, args.clips, 1)?;
    let blocks = times.blocks(2).context("4 blocks cut into 2 stages")?;
    let micros: Vec<String> = times
        .per_tick
        .iter()
        .map(|s| format!("{:.0}", s * 1e6))
        .collect();
    println!(
        "# block times per tick (us, one thread): {}; K=2 cut by time {blocks:?}, slowest \
         stage {:.0}% of a tick (by count [2, 2]: {:.0}%)",
        micros.join(", "),
        100.0 * times.slowest_share(&blocks),
        100.0 * times.slowest_share(&[2, 2])
    );
    Ok(blocks)
}

fn noise(frames: usize, batch: usize, seed: u64) -> NoiseFrames {
    NoiseFrames {
        frames,
        batch,
        rng: ChaCha8Rng::seed_from_u64(seed),
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    if args.frames == 0 || args.batch == 0 || args.clips == 0 || args.rounds == 0 {
        bail!("--frames, --batch, --clips and --rounds must be at least 1");
    }
    pathnet_nn::set_threads(1);
    if let Some(engine) = &args.measure_memory {
        return measure_memory(engine, args.frames, args.batch);
    }
    println!(
        "# machine: {} cores, load average {}; optimiser {}, stepped every tick",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        load_average(),
        if args.adam {
            "Adam"
        } else {
            "SGD with momentum"
        }
    );
    let device = run_device(&args);
    if device != Device::Cpu {
        let devices = pathnet_nn::cuda_device_descriptions();
        let described = devices.iter().find(|d| d.device == device);
        println!(
            "# device: {device} ({})",
            described.map_or("not found", |d| d.name.as_str())
        );
        let engines: Vec<(String, Device)> = [device, Device::Cpu]
            .into_iter()
            .flat_map(|d| DEVICE_ENGINES.iter().map(move |n| (n.to_string(), d)))
            .collect();
        return speed(&args, &engines, false);
    }
    if !args.no_speed {
        let engines: Vec<(String, Device)> = ENGINES
            .iter()
            .map(|n| (n.to_string(), Device::Cpu))
            .collect();
        speed(&args, &engines, !args.skip_torch)?;
    }
    if !args.no_memory {
        memory(&args)?;
    }
    println!("# load average at the end {}", load_average());
    Ok(())
}

#[cfg(feature = "cuda")]
fn run_device(args: &Args) -> Device {
    args.device
}

#[cfg(not(feature = "cuda"))]
fn run_device(_: &Args) -> Device {
    Device::Cpu
}

/// Frames/s of each `(engine, device)`, in rounds that alternate them; ratios are to the first.
fn speed(args: &Args, names: &[(String, Device)], torch_too: bool) -> Result<()> {
    let timed_blocks = if names.iter().any(|(n, _)| n == TIMED_K2) {
        calibrate(args)?
    } else {
        Vec::new()
    };
    let mut engines: Vec<Engine> = names
        .iter()
        .map(|(n, d)| Engine::build(n, *d, &timed_blocks, &optimizer(args.adam)))
        .collect::<Result<_>>()?;
    // Every clip an engine trains, warm-up included, as its threads' busy times count them.
    let mut walls = vec![Duration::ZERO; names.len()];
    for (engine, wall) in engines.iter_mut().zip(&mut walls) {
        let start = Instant::now();
        engine.train(&mut noise(args.frames, args.batch, 0))?;
        *wall += start.elapsed();
    }
    let mut rates = vec![Vec::new(); names.len()];
    let mut torch = Vec::new();
    for round in 0..args.rounds {
        for (i, engine) in engines.iter_mut().enumerate() {
            let start = Instant::now();
            for c in 0..args.clips {
                engine.train(&mut noise(
                    args.frames,
                    args.batch,
                    (round * 100 + c) as u64,
                ))?;
            }
            let elapsed = start.elapsed();
            walls[i] += elapsed;
            let frames = (args.clips * args.frames * args.batch) as f64;
            rates[i].push(frames / elapsed.as_secs_f64());
        }
        if torch_too {
            torch.push(run_torch(args)?);
        }
    }
    let first = median(&rates[0]);
    let label = |(name, device): &(String, Device)| match device {
        Device::Cpu => name.clone(),
        device => format!("{name} on {device}"),
    };
    println!(
        "\n## frames/s, clips of {} frames, batch {}, {} rounds of {} clips",
        args.frames, args.batch, args.rounds, args.clips
    );
    println!(
        "| engine | frames/s (median) | min-max | / {} | stage busy fractions |",
        label(&names[0])
    );
    println!("|---|---|---|---|---|");
    for (((name, r), engine), wall) in names.iter().zip(&rates).zip(&engines).zip(&walls) {
        let busy = match engine {
            Engine::Threaded(pipeline) => pipeline
                .busy()
                .iter()
                .map(|b| format!("{:.2}", b.as_secs_f64() / wall.as_secs_f64()))
                .collect::<Vec<_>>()
                .join(", "),
            _ => "-".into(),
        };
        println!(
            "| {} | {:.0} | {:.0}-{:.0} | {:.2} | {busy} |",
            label(name),
            median(r),
            r.iter().cloned().fold(f64::INFINITY, f64::min),
            r.iter().cloned().fold(0.0, f64::max),
            median(r) / first
        );
    }
    if !torch.is_empty() {
        println!(
            "| PyTorch per-frame BP (1 thread) | {:.0} | {:.0}-{:.0} | {:.2} | - |",
            median(&torch),
            torch.iter().cloned().fold(f64::INFINITY, f64::min),
            torch.iter().cloned().fold(0.0, f64::max),
            median(&torch) / first
        );
    }
    Ok(())
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn run_torch(args: &Args) -> Result<f64> {
    let python = args.python.clone().unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv-bench/bin/python")
    });
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../benches/torch_sideways.py");
    let out = Command::new(&python)
        .arg(&script)
        .args(["--frames", &args.frames.to_string()])
        .args(["--batch", &args.batch.to_string()])
        .args(["--clips", &args.clips.to_string()])
        .output()
        .with_context(|| {
            format!(
                "running {} (pass --python or --skip-torch)",
                python.display()
            )
        })?;
    if !out.status.success() {
        bail!(
            "{} failed: {}",
            script.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    json["frames_per_s"]
        .as_f64()
        .context("torch_sideways.py printed no frames_per_s")
}

fn memory(args: &Args) -> Result<()> {
    let engines = [
        "per-frame BP",
        "Sideways K=4 one thread",
        "Sideways K=4 threads",
        "BPTT K=4",
        "BPTT K=4 skips",
    ];
    println!(
        "\n## peak memory over resident-before-clip (MiB), batch {}",
        args.batch
    );
    let header: Vec<String> = args
        .memory_frames
        .iter()
        .map(|t| format!("T={t}"))
        .collect();
    println!("| engine | {} |", header.join(" | "));
    println!("|---|{}", "---|".repeat(header.len()));
    let exe = std::env::current_exe()?;
    for engine in engines {
        let mut cells = Vec::new();
        for &t in &args.memory_frames {
            let out = Command::new(&exe)
                .args([
                    "--measure-memory",
                    engine,
                    "--frames",
                    &t.to_string(),
                    "--batch",
                    &args.batch.to_string(),
                ])
                .output()?;
            if !out.status.success() {
                bail!(
                    "memory run {engine} T={t}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            let kib: f64 = String::from_utf8_lossy(&out.stdout).trim().parse()?;
            cells.push(format!("{:.1}", kib / 1024.0));
        }
        println!("| {engine} | {} |", cells.join(" | "));
    }
    Ok(())
}

fn measure_memory(engine: &str, frames: usize, batch: usize) -> Result<()> {
    let mut engine = Engine::build(engine, Device::Cpu, &[], &optimizer(false))?;
    let before = status_kib("VmRSS")?;
    engine.train(&mut noise(frames, batch, 0))?;
    let peak = status_kib("VmHWM")?;
    println!("{}", peak.saturating_sub(before));
    Ok(())
}

fn status_kib(field: &str) -> Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .with_context(|| format!("no {field} in /proc/self/status"))?;
    Ok(line
        .split_whitespace()
        .nth(1)
        .context("malformed status line")?
        .parse()?)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}
