//! Accuracy of Sideways, Skip-Sideways, per-frame backprop and BPTT on the moving
//! Fashion-MNIST video tasks, over several seeds, and how well Sideways' gradients agree with
//! exact backprop by stage depth and object speed.
//!
//! Task (a), the class of the moving item (one frame shows it): Sideways against per-frame
//! backprop on the same 4-stage network. Task (b), the direction of motion (no single frame
//! shows it): Skip-Sideways (skips into the top stage) against Sideways and against BPTT
//! through the skip network. Task (a) steps Adam after every frame (`--class-update`), task
//! (b) once per clip on the clip-mean loss, as BPTT must.
//! Accuracy is per test clip, from the logits summed over its frames.

use anyhow::{Context, Result, bail};
use clap::{Parser, ValueEnum};
use pathnet_bench::video_net::{ClipBatch, Cut, VideoNetSpec, video_net};
use pathnet_envs::data::{Dataset, Split};
use pathnet_envs::video::{MovingObjects, MovingObjectsConfig};
use pathnet_nn::AdamConfig;
use pathnet_nn::sideways::{
    Bptt, ClipReport, Combine, FrameSource, OptimizerSpec, PerFrame, Pipeline, SidewaysConfig,
    Stage, StageNet, UpdateSchedule, evaluate_pipelined,
};
use serde::Serialize;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(about = "Sideways / Skip-Sideways / BPTT / per-frame backprop on moving Fashion-MNIST")]
struct Args {
    #[arg(long, default_value_t = 5)]
    seeds: u64,
    #[arg(long, default_value_t = 1)]
    first_seed: u64,
    /// Training batches of clips per run.
    #[arg(long, default_value_t = 150)]
    train_batches: usize,
    /// Test clips per run (in batches of --batch).
    #[arg(long, default_value_t = 256)]
    test_clips: usize,
    #[arg(long, default_value_t = 8)]
    batch: usize,
    #[arg(long, default_value_t = 16)]
    frames: usize,
    /// Object speed in pixels per frame for the tasks.
    #[arg(long, default_value_t = 2.0)]
    speed: f32,
    /// Adam step size.
    #[arg(long, default_value_t = 2e-3)]
    lr: f64,
    /// When task (a) updates: per tick (default; both of its methods allow it) or per clip.
    /// Task (b) always updates per clip, as BPTT must.
    #[arg(long, value_enum, default_value = "per-tick")]
    class_update: Update,
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "class,direction,agreement"
    )]
    parts: Vec<Part>,
    /// Object speeds of the gradient-agreement figure.
    #[arg(long, value_delimiter = ',', default_value = "0,1,2,4")]
    agreement_speeds: Vec<f32>,
    /// Runs side by side, one thread each.
    #[arg(long, default_value_t = 2)]
    jobs: usize,
    /// Fashion-MNIST IDX directory.
    #[arg(
        long,
        env = "PATHNET_FASHION_MNIST",
        default_value = "/usr/share/datasets/fashion-mnist"
    )]
    data: PathBuf,
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Update {
    PerTick,
    PerClip,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
enum Part {
    Class,
    Direction,
    Agreement,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
enum Method {
    PerFrame,
    Sideways,
    SkipSideways,
    BpttSkips,
}

#[derive(Debug, Clone, Serialize)]
struct Run {
    part: Part,
    method: Method,
    seed: u64,
    clip_accuracy: f64,
    frame_accuracy: f64,
    final_train_loss: f64,
}

fn spec(method: Method, classes: usize) -> VideoNetSpec {
    VideoNetSpec {
        stages: 4,
        skips: match method {
            Method::SkipSideways | Method::BpttSkips => vec![2, 3, 4],
            _ => vec![],
        },
        combine: Combine::Concat,
        classes,
        cut: Cut::Count,
        blocks: Vec::new(),
    }
}

enum Trainer {
    PerFrame(PerFrame<f32>),
    Pipeline(Pipeline<f32>),
    Bptt(Bptt<f32>),
}

fn config() -> SidewaysConfig {
    SidewaysConfig {
        update: UpdateSchedule::PerClip,
        drain: true,
    }
}

fn update_of(args: &Args, part: Part) -> UpdateSchedule {
    match (part, args.class_update) {
        (Part::Class, Update::PerTick) => UpdateSchedule::PerTick,
        _ => UpdateSchedule::PerClip,
    }
}

fn run(
    args: &Args,
    data: Arc<Dataset>,
    test: Arc<Dataset>,
    part: Part,
    method: Method,
    seed: u64,
) -> Result<Run> {
    let mut video = MovingObjectsConfig::small();
    video.frames = args.frames;
    video.speed = args.speed;
    let train = MovingObjects::new(data, video, seed)?;
    let test = MovingObjects::new(test, video, seed + 1_000_000)?;
    let classes = match part {
        Part::Class => train.class_count(),
        _ => train.direction_classes(),
    };
    let net = video_net(&spec(method, classes), seed)?;
    let adam = OptimizerSpec::Adam(AdamConfig {
        lr: args.lr,
        ..AdamConfig::default()
    });
    let update = update_of(args, part);
    let mut trainer = match method {
        Method::PerFrame => Trainer::PerFrame(PerFrame::new(net, &adam, update)?),
        Method::Sideways | Method::SkipSideways => Trainer::Pipeline(Pipeline::new(
            net,
            &adam,
            SidewaysConfig { update, ..config() },
        )?),
        Method::BpttSkips => Trainer::Bptt(Bptt::new(net, &adam, config())?),
    };
    let label = |videos: &MovingObjects, i: u64| {
        let l = videos.clip(i).labels();
        usize::from(if part == Part::Class {
            l.class
        } else {
            l.direction
        })
    };
    let batch = args.batch as u64;
    let mut losses = Vec::new();
    for b in 0..args.train_batches as u64 {
        let ids: Vec<u64> = (b * batch..(b + 1) * batch).collect();
        let labels: Vec<usize> = ids.iter().map(|&i| label(&train, i)).collect();
        let mut clips = ClipBatch::new(ids.iter().map(|&i| train.clip(i)).collect());
        let report = match &mut trainer {
            Trainer::PerFrame(t) => t.train_clip(&mut clips, &labels)?,
            Trainer::Pipeline(t) => t.train_clip(&mut clips, &labels)?,
            Trainer::Bptt(t) => t.train_clip(&mut clips, &labels)?,
        };
        losses.push(report.mean_loss);
    }
    let net = match trainer {
        Trainer::PerFrame(t) => t.into_net(),
        Trainer::Pipeline(t) => t.into_net(),
        Trainer::Bptt(t) => t.into_net(),
    };
    let (mut correct, mut frame_acc, mut count) = (0, 0.0, 0);
    for b in 0..(args.test_clips as u64).div_ceil(batch) {
        let ids: Vec<u64> = (b * batch..(b + 1) * batch).collect();
        let labels: Vec<usize> = ids.iter().map(|&i| label(&test, i)).collect();
        let mut clips = ClipBatch::new(ids.iter().map(|&i| test.clip(i)).collect());
        let r = evaluate(&net, method, &mut clips, &labels)?;
        correct += r.clip_correct;
        frame_acc += r.frame_accuracy * labels.len() as f64;
        count += labels.len();
    }
    let tail = &losses[losses.len().saturating_sub(10)..];
    Ok(Run {
        part,
        method,
        seed,
        clip_accuracy: correct as f64 / count as f64,
        frame_accuracy: frame_acc / count as f64,
        final_train_loss: tail.iter().sum::<f64>() / tail.len() as f64,
    })
}

/// Per-frame backprop's network is scored without delays (the function it trains); the
/// pipelined engines' through the pipeline.
fn evaluate(
    net: &StageNet<f32>,
    method: Method,
    clips: &mut dyn FrameSource<f32>,
    labels: &[usize],
) -> Result<ClipReport> {
    if method == Method::PerFrame {
        let mut scores = Vec::new();
        let stages: Vec<&Stage<f32>> = net.stages().iter().collect();
        // Undelayed forward: stage after stage on each frame.
        for t in 0..clips.len() {
            let mut x = clips.frame(t);
            for s in &stages {
                x = s.forward(&[x.view()]).0;
            }
            scores.push(x);
        }
        return Ok(report_of(&scores, labels));
    }
    let stages: Vec<&Stage<f32>> = net.stages().iter().collect();
    Ok(evaluate_pipelined(
        &stages,
        net.topology(),
        config(),
        clips,
        labels,
    )?)
}

fn report_of(logits: &[ndarray::ArrayD<f32>], labels: &[usize]) -> ClipReport {
    let losses: Vec<pathnet_nn::sideways::FrameLoss> = logits
        .iter()
        .enumerate()
        .map(|(t, l)| pathnet_nn::sideways::FrameLoss {
            frame: t,
            loss: 0.0,
            logits: l.mapv(f64::from),
        })
        .collect();
    ClipReport::from_losses(&losses, labels)
}

fn main() -> Result<()> {
    let args = Args::parse();
    if args.seeds == 0 || args.batch == 0 || args.frames == 0 || args.jobs == 0 {
        bail!("--seeds, --batch, --frames and --jobs must be at least 1");
    }
    pathnet_nn::set_threads(1);
    let train = Arc::new(
        Dataset::load(&args.data, Split::Train)
            .with_context(|| format!("loading Fashion-MNIST from {}", args.data.display()))?,
    );
    let test = Arc::new(Dataset::load(&args.data, Split::Test)?);
    let mut jobs = Vec::new();
    for seed in args.first_seed..args.first_seed + args.seeds {
        if args.parts.contains(&Part::Class) {
            for m in [Method::PerFrame, Method::Sideways] {
                jobs.push((Part::Class, m, seed));
            }
        }
        if args.parts.contains(&Part::Direction) {
            for m in [Method::Sideways, Method::SkipSideways, Method::BpttSkips] {
                jobs.push((Part::Direction, m, seed));
            }
        }
    }
    let queue = Mutex::new(jobs.into_iter());
    let runs = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..args.jobs {
            s.spawn(|| {
                loop {
                    let Some((part, method, seed)) = queue.lock().unwrap().next() else { break };
                    let result = run(&args, train.clone(), test.clone(), part, method, seed);
                    match &result {
                        Ok(r) => eprintln!("{part:?} {method:?} seed {seed}: clip accuracy {:.3}, train loss {:.3}", r.clip_accuracy, r.final_train_loss),
                        Err(e) => eprintln!("{part:?} {method:?} seed {seed}: {e:#}"),
                    }
                    runs.lock().unwrap().push(result);
                }
            });
        }
    });
    let runs: Vec<Run> = runs
        .into_inner()
        .unwrap()
        .into_iter()
        .collect::<Result<_>>()?;
    print_table(&runs);
    let agreement = if args.parts.contains(&Part::Agreement) {
        agreement(&args, train)?
    } else {
        Vec::new()
    };
    if let Some(path) = &args.json {
        std::fs::write(
            path,
            serde_json::to_string_pretty(
                &serde_json::json!({"runs": runs, "agreement": agreement}),
            )?,
        )?;
    }
    Ok(())
}

fn print_table(runs: &[Run]) {
    println!(
        "| task | method | seeds | clip accuracy (mean ± sd) | min-max | frame accuracy | final train loss |"
    );
    println!("|---|---|---|---|---|---|---|");
    let mut keys: Vec<(Part, Method)> = runs.iter().map(|r| (r.part, r.method)).collect();
    keys.dedup();
    keys.sort_by_key(|k| format!("{k:?}"));
    keys.dedup();
    for (part, method) in keys {
        let rs: Vec<&Run> = runs
            .iter()
            .filter(|r| r.part == part && r.method == method)
            .collect();
        let acc: Vec<f64> = rs.iter().map(|r| r.clip_accuracy).collect();
        let (mean, sd) = mean_sd(&acc);
        let fa = mean_sd(&rs.iter().map(|r| r.frame_accuracy).collect::<Vec<_>>()).0;
        let loss = mean_sd(&rs.iter().map(|r| r.final_train_loss).collect::<Vec<_>>()).0;
        println!(
            "| {part:?} | {method:?} | {} | {mean:.3} ± {sd:.3} | {:.3}-{:.3} | {fa:.3} | {loss:.3} |",
            rs.len(),
            acc.iter().cloned().fold(f64::INFINITY, f64::min),
            acc.iter().cloned().fold(0.0, f64::max)
        );
    }
}

fn mean_sd(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (mean, var.sqrt())
}

#[derive(Debug, Serialize)]
struct Agreement {
    speed: f32,
    /// Cosine between Sideways' per-clip gradient and the exact one, per stage (1 = bottom).
    cosine: Vec<f64>,
}

/// Cosine similarity, per stage, between the gradient Sideways accumulates over a clip and the
/// exact gradient of the same clip loss (per-frame backprop summed over frames, which is BPTT
/// for this network without temporal edges), at initialisation, on the class task.
fn agreement(args: &Args, data: Arc<Dataset>) -> Result<Vec<Agreement>> {
    let mut rows = Vec::new();
    println!("\n| speed (px/frame) | cosine stage 1 | stage 2 | stage 3 | stage 4 (top) |");
    println!("|---|---|---|---|---|");
    for &speed in &args.agreement_speeds {
        let mut video = MovingObjectsConfig::small();
        video.frames = args.frames;
        video.speed = speed;
        let mut sums = [0.0; 4];
        let mut n = 0.0;
        for seed in args.first_seed..args.first_seed + args.seeds {
            let videos = MovingObjects::new(data.clone(), video, seed)?;
            let ids: Vec<u64> = (0..args.batch as u64).collect();
            let labels: Vec<usize> = ids
                .iter()
                .map(|&i| usize::from(videos.clip(i).labels().class))
                .collect();
            let clips = || ClipBatch::new(ids.iter().map(|&i| videos.clip(i)).collect());
            let spec = spec(Method::Sideways, 10);
            let adam = OptimizerSpec::Adam(AdamConfig::default());
            let mut pipeline = Pipeline::new(video_net(&spec, seed)?, &adam, config())?;
            pipeline.set_recording(true);
            let mut sideways: Vec<Vec<ndarray::ArrayD<f32>>> = vec![Vec::new(); 4];
            pipeline.train_clip_observed(&mut clips(), &labels, &mut |_, stage, out| {
                if let Some(g) = &out.param_grads {
                    add(&mut sideways[stage], g);
                }
            })?;
            let exact_engine =
                PerFrame::new(video_net(&spec, seed)?, &adam, UpdateSchedule::PerClip)?;
            let mut exact: Vec<Vec<ndarray::ArrayD<f32>>> = vec![Vec::new(); 4];
            let mut source = clips();
            for t in 0..source.len() {
                let frame = source.frame(t);
                let (_, grads, _) =
                    exact_engine.gradients(t, &frame, &labels, 1.0 / args.frames as f64);
                for (s, g) in grads.iter().enumerate() {
                    add(&mut exact[s], g);
                }
            }
            for s in 0..4 {
                sums[s] += cosine(&sideways[s], &exact[s]);
            }
            n += 1.0;
        }
        let cosine: Vec<f64> = sums.iter().map(|s| s / n).collect();
        println!(
            "| {speed} | {:.3} | {:.3} | {:.3} | {:.3} |",
            cosine[0], cosine[1], cosine[2], cosine[3]
        );
        rows.push(Agreement { speed, cosine });
    }
    Ok(rows)
}

fn add(sum: &mut Vec<ndarray::ArrayD<f32>>, grads: &[ndarray::ArrayD<f32>]) {
    if sum.is_empty() {
        *sum = grads.to_vec();
    } else {
        for (s, g) in sum.iter_mut().zip(grads) {
            *s += g;
        }
    }
}

fn cosine(a: &[ndarray::ArrayD<f32>], b: &[ndarray::ArrayD<f32>]) -> f64 {
    let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        for (&p, &q) in x.iter().zip(y) {
            let (p, q) = (f64::from(p), f64::from(q));
            ab += p * q;
            aa += p * p;
            bb += q * q;
        }
    }
    ab / (aa.sqrt() * bb.sqrt()).max(1e-30)
}
