//! Trains A3C in this process from the `[a3c]` table of a TOML file and prints progress.
//!
//! ```sh
//! cargo run --release -p pathnet-rl --example a3c -- rl/examples/cartpole.toml --seed 1 --workers 1
//! ```

use pathnet_rl::{A3cConfig, local_server, run_workers};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .ok_or("usage: a3c CONFIG.toml [--seed N] [--workers N] [--threads N]")?;
    let (mut seed, mut workers) = (1u64, None);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--threads" => pathnet_nn::set_threads(
                value
                    .parse()
                    .map_err(|e| format!("--threads {value:?}: {e}"))?,
            ),
            "--seed" => {
                seed = value
                    .parse()
                    .map_err(|e| format!("--seed {value:?}: {e}"))?
            }
            "--workers" => {
                workers = Some(
                    value
                        .parse()
                        .map_err(|e| format!("--workers {value:?}: {e}"))?,
                )
            }
            _ => return Err(format!("unknown flag {flag}").into()),
        }
    }
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    let mut table: toml::Table = toml::from_str(&text)?;
    let a3c = table
        .remove("a3c")
        .ok_or(format!("{path}: no [a3c] table"))?;
    let mut config: A3cConfig = a3c.try_into()?;
    if let Some(w) = workers {
        config.workers = w;
    }
    config.validate()?;

    let server = local_server(&config, seed)?;
    let done = AtomicBool::new(false);
    let started = Instant::now();
    let reports = std::thread::scope(|scope| {
        scope.spawn(|| {
            let mut last = Instant::now();
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(50));
                if last.elapsed() >= Duration::from_secs(2) {
                    last = Instant::now();
                    print_stats(&server, started);
                }
            }
        });
        let result = run_workers(&config, &server, seed, 0..config.workers as u64);
        done.store(true, Ordering::Relaxed);
        result
    })?;
    print_stats(&server, started);
    let stats = server.stats();
    println!(
        "stopped: {:?} after {} env steps, {} episodes, {:.2} s; {} workers, last loss {:?}",
        stats.stop,
        stats.env_steps,
        stats.episodes,
        started.elapsed().as_secs_f64(),
        reports.len(),
        reports[0].last_loss
    );
    Ok(())
}

fn print_stats(server: &pathnet_rl::ParameterServer, started: Instant) {
    let s = server.stats();
    println!(
        "{:7.1}s steps {:>9} episodes {:>6} mean return {:>8.2} lr {:.2e} staleness max {} mean {:.2} dropped {}",
        started.elapsed().as_secs_f64(),
        s.env_steps,
        s.episodes,
        s.mean_return.unwrap_or(f64::NAN),
        s.learning_rate,
        s.max_staleness,
        s.mean_staleness,
        s.dropped_stale
    );
}
