//! What `--state-dir` costs a PathNet coordinator, on the experiment of
//! `examples/pathnet_fashion.toml` (L=3, M=10, N=3, 20-unit modules, 784 inputs, two tasks,
//! population 64): the state's size on disk, how long a save holds the runtime's lock (the
//! engine's snapshot and its spec and state as JSON: what the runtime does under its lock),
//! how long the write off the lock takes (safetensors and manifest, each through a temporary
//! file, fsync and rename), and how long reading the state back and resuming the engine
//! takes. Prints a table and JSON.
//!
//! The engine runs without data or network: evaluations get synthetic results (with a delta
//! on every module they train) until `--evaluations` were applied, and `--in-flight` stay
//! handed out, so the state has a population with fitness, tournaments and evaluations in
//! flight as a running coordinator's does. Every round takes a save, writes it and resumes
//! it, in that order; each figure is the median over rounds.

use anyhow::{Context, Result, bail};
use clap::Parser;
use ndarray::ArrayD;
use pathnet_bench::machine::Machine;
use pathnet_bench::stats::median;
use pathnet_coordinator::checkpoint::{
    self, FORMAT, FORMAT_VERSION, Manifest, SavedExperiment, StateDir, Tensors,
};
use pathnet_coordinator::pathnet::{Engine, EngineState, EvaluationRequest};
use pathnet_coordinator::spec::{ExperimentSpec, Spec};
use pathnet_work::{JobOutcome, ModuleDelta};
use std::path::PathBuf;
use std::time::Instant;

#[derive(Parser, Debug)]
#[command(about = "Benchmark saving and resuming a PathNet coordinator's state")]
struct Args {
    /// The experiment spec.
    #[arg(long, default_value = "examples/pathnet_fashion.toml")]
    spec: PathBuf,
    /// Features of one input example (Fashion-MNIST: 28x28).
    #[arg(long, default_value_t = 784)]
    input_features: usize,
    /// Directory the state is written to (its disk is what the write time measures)
    /// [default: a fresh directory under the system's temporary directory].
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Evaluations applied before the first save.
    #[arg(long, default_value_t = 200)]
    evaluations: usize,
    /// Evaluations handed out and not yet reported at every save.
    #[arg(long, default_value_t = 8)]
    in_flight: usize,
    #[arg(long, default_value_t = 21)]
    rounds: usize,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let spec = match Spec::from_file(&args.spec)? {
        Spec::PathNet(spec) => spec,
        other => bail!(
            "{}: a `{}` spec, not `pathnet`",
            args.spec.display(),
            other.kind()
        ),
    };
    let dir = args.dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("pathnet-checkpoint-bench-{}", std::process::id()))
    });
    std::fs::remove_dir_all(&dir).ok();
    let mut engine = Engine::new("bench", spec.clone(), args.input_features, None)?;
    let mut held = drive(&mut engine, args.evaluations, args.in_flight)?;
    let (mut state_dir, _) = StateDir::open(&dir)?;

    let (mut lock_ms, mut write_ms, mut resume_ms, mut bytes) = (vec![], vec![], vec![], 0);
    for round in 0..args.rounds {
        let started = Instant::now();
        let (manifest, tensors) = save(&engine, round as u64)?;
        lock_ms.push(started.elapsed().as_secs_f64() * 1e3);

        let started = Instant::now();
        let stats = state_dir.write(manifest, &tensors)?;
        write_ms.push(started.elapsed().as_secs_f64() * 1e3);
        bytes = stats.bytes;

        let started = Instant::now();
        let (resumed, requeued) = resume(&dir, args.input_features)?;
        resume_ms.push(started.elapsed().as_secs_f64() * 1e3);
        if requeued != held.len() || resumed.status().generation != engine.status().generation {
            bail!("the resumed engine is not the saved one ({requeued} re-queued)");
        }
        // Move the run on a little so that every round saves a changed state.
        let request = held.remove(0);
        let outcome = outcome(&engine, &request, 0.6);
        engine.complete(request.id, &outcome)?;
        held.extend(engine.next_evaluation());
    }
    let on_disk: u64 = std::fs::read_dir(&dir)?
        .map(|e| Ok(e?.metadata()?.len()))
        .sum::<std::io::Result<u64>>()?;
    if args.dir.is_none() {
        std::fs::remove_dir_all(&dir).ok();
    }

    let machine = Machine::now();
    let m = |v: Vec<f64>| median(v).unwrap_or(f64::NAN);
    let (lock, write, resume) = (m(lock_ms), m(write_ms), m(resume_ms));
    println!(
        "checkpoint of {} ({} rounds)",
        args.spec.display(),
        args.rounds
    );
    println!(
        "  state on disk            {:>10.1} KiB ({bytes} bytes written per save)",
        on_disk as f64 / 1024.0
    );
    println!("  lock held per save       {lock:>10.3} ms (median)");
    println!("  write off the lock       {write:>10.3} ms (median)");
    println!("  read + resume            {resume:>10.3} ms (median)");
    let json = serde_json::json!({
        "spec": args.spec,
        "rounds": args.rounds,
        "evaluations": args.evaluations,
        "in_flight": args.in_flight,
        "state_bytes_on_disk": on_disk,
        "bytes_per_save": bytes,
        "lock_ms_median": lock,
        "write_ms_median": write,
        "read_resume_ms_median": resume,
        "machine": machine,
    });
    println!("{}", serde_json::to_string_pretty(&json)?);
    Ok(())
}

/// What the runtime builds under its lock for a save of `engine`.
fn save(engine: &Engine, written_unix_ms: u64) -> Result<(Manifest, Tensors)> {
    let (state, tensors) = engine.snapshot()?;
    let manifest = Manifest {
        format: FORMAT.into(),
        format_version: FORMAT_VERSION,
        incarnation: 1,
        written_unix_ms,
        next_experiment: 2,
        experiment: Some(SavedExperiment {
            id: "bench".into(),
            kind: "pathnet".into(),
            spec: serde_json::to_value(engine.spec())?,
            started_unix_ms: 0,
            error: None,
            leases: Default::default(),
            bytes_pulled: 0,
            bytes_pushed: 0,
            run: serde_json::to_value(state)?,
            tensors: String::new(),
        }),
    };
    Ok((manifest, tensors))
}

/// The state in `dir` read back and its engine resumed, as a restarted coordinator does.
fn resume(dir: &std::path::Path, input_features: usize) -> Result<(Engine, usize)> {
    let state = checkpoint::read(dir)?.context("no state written")?;
    let experiment = state.manifest.experiment.context("no experiment saved")?;
    let spec: ExperimentSpec = serde_json::from_value(experiment.spec)?;
    let run: EngineState = serde_json::from_value(experiment.run)?;
    Ok(Engine::restore(
        experiment.id,
        spec,
        input_features,
        None,
        run,
        state.tensors,
    )?)
}

/// Applies `evaluations` synthetic results (never reaching the threshold) and leaves
/// `in_flight` handed out; returns those.
fn drive(
    engine: &mut Engine,
    evaluations: usize,
    in_flight: usize,
) -> Result<Vec<EvaluationRequest>> {
    let mut held: Vec<EvaluationRequest> = Vec::new();
    for done in 0..evaluations + in_flight {
        while held.len() < in_flight.max(1) {
            held.push(
                engine
                    .next_evaluation()
                    .context("the engine ran out of work")?,
            );
        }
        if done == evaluations {
            break;
        }
        let request = held.remove(0);
        let accuracy = 0.5 + (request.job.data_seed % 400) as f64 * 1e-3;
        let outcome = outcome(engine, &request, accuracy);
        engine.complete(request.id, &outcome)?;
    }
    held.truncate(in_flight);
    Ok(held)
}

/// A result at `accuracy` with a small delta on every module the evaluation trains.
fn outcome(engine: &Engine, request: &EvaluationRequest, accuracy: f64) -> JobOutcome {
    let deltas = request
        .job
        .modules
        .iter()
        .filter(|(id, _)| !request.job.frozen.contains(id))
        .map(|&(id, base_version)| ModuleDelta {
            id,
            base_version,
            tensors: engine
                .parameters()
                .params(id)
                .map(|ps| {
                    ps.iter()
                        .map(|p| ArrayD::from_elem(p.shape(), 1e-4))
                        .collect()
                })
                .unwrap_or_default(),
        })
        .collect();
    JobOutcome {
        fitness: accuracy - 1.0,
        training_accuracy: accuracy,
        mean_loss: 0.5,
        examples: 16,
        deltas,
    }
}
