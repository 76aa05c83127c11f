//! What TLS, mutual TLS and tokens cost: the same PathNet run (the paper's supervised
//! configuration, as in `runtime_bench`) with a coordinator and N agent processes on
//! loopback, in plain text and secured (TLS + client certificates + agent token), rounds
//! alternating the two. Reports wall time, evaluations per second and the coordinator's
//! CPU time per accepted result, medians over rounds, as a table and JSON.
//!
//! Certificates and tokens are made fresh in a temporary directory (rcgen); the binary
//! `pathnet` is found next to this benchmark's binary unless `--pathnet` is given.

use anyhow::{Context, Result, bail};
use clap::Parser;
use pathnet_bench::machine::{Machine, cpu_times};
use pathnet_bench::process::{check_exit, wait_until};
use pathnet_bench::stats::median;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
#[command(about = "The cost of TLS + mutual TLS + tokens on a PathNet run over agents")]
struct Args {
    /// The pathnet binary [default: `pathnet` next to this benchmark's binary]
    #[arg(long)]
    pathnet: Option<PathBuf>,
    /// Directory with the Fashion-MNIST IDX files.
    #[arg(long, default_value = "/usr/share/datasets/fashion-mnist")]
    data_dir: PathBuf,
    /// Generation cap of each run (two evaluations per generation).
    #[arg(long, default_value_t = 300)]
    generations: usize,
    /// Agent processes, one worker each.
    #[arg(long, default_value_t = 2)]
    agents: usize,
    /// Rounds; each runs plain then secured (the order swapped every other round).
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Longest a single run may take, in seconds.
    #[arg(long, default_value_t = 300)]
    timeout_s: u64,
    /// Also write the JSON to this file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, serde::Serialize)]
struct Run {
    secured: bool,
    wall_s: f64,
    evaluations: u64,
    coordinator_cpu_s: f64,
}

fn main() -> Result<()> {
    let args = Args::parse();
    if args.rounds == 0 || args.agents == 0 || args.generations == 0 {
        bail!("--rounds, --agents and --generations must be at least 1");
    }
    let pathnet = match &args.pathnet {
        Some(path) => path.clone(),
        None => std::env::current_exe()?.with_file_name("pathnet"),
    };
    if !pathnet.is_file() {
        bail!(
            "no pathnet binary at {}: build it with `cargo build --release -p pathnet` or pass --pathnet",
            pathnet.display()
        );
    }
    let dir = std::env::temp_dir().join(format!("pathnet-security-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = bench(&args, &pathnet, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn bench(args: &Args, pathnet: &Path, dir: &Path) -> Result<()> {
    let before = Machine::now();
    let spec = write_spec(args, dir)?;
    let secure = Secure::make(dir)?;
    let mut runs = Vec::new();
    for round in 0..args.rounds {
        let order = if round % 2 == 0 {
            [false, true]
        } else {
            [true, false]
        };
        for secured in order {
            eprintln!(
                "round {}/{}: {}",
                round + 1,
                args.rounds,
                if secured { "secured" } else { "plain" }
            );
            runs.push(run(args, pathnet, dir, &spec, secured.then_some(&secure))?);
        }
    }
    let after = Machine::now();
    let med = |secured: bool, f: fn(&Run) -> f64| {
        median(
            runs.iter()
                .filter(|r| r.secured == secured)
                .map(f)
                .collect(),
        )
        .unwrap_or(f64::NAN)
    };
    let rate = |r: &Run| r.evaluations as f64 / r.wall_s;
    let cpu_ms = |r: &Run| 1e3 * r.coordinator_cpu_s / r.evaluations as f64;
    println!(
        "| configuration | wall s | evaluations/s | coordinator CPU ms per result |\n|---|---|---|---|"
    );
    for secured in [false, true] {
        println!(
            "| {} agents, {} | {:.2} | {:.1} | {:.3} |",
            args.agents,
            if secured {
                "TLS + mTLS + tokens"
            } else {
                "plain text"
            },
            med(secured, |r| r.wall_s),
            med(secured, rate),
            med(secured, cpu_ms),
        );
    }
    let json = serde_json::json!({
        "benchmark": "security",
        "machine_before": before,
        "machine_after": after,
        "config": {
            "agents": args.agents, "generations": args.generations, "rounds": args.rounds,
            "layers": 3, "modules": 10, "active": 3, "units": 20, "batch": 16,
            "minibatches": 50, "population": 64,
        },
        "median": {
            "plain": {"wall_s": med(false, |r| r.wall_s), "evaluations_per_s": med(false, rate),
                      "coordinator_cpu_ms_per_result": med(false, cpu_ms)},
            "secured": {"wall_s": med(true, |r| r.wall_s), "evaluations_per_s": med(true, rate),
                        "coordinator_cpu_ms_per_result": med(true, cpu_ms)},
        },
        "runs": runs,
    });
    let text = serde_json::to_string_pretty(&json)?;
    println!("{text}");
    if let Some(path) = &args.json {
        std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// The files of the secured configuration.
struct Secure {
    ca: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
    agent_token: PathBuf,
    admin_token: PathBuf,
}

impl Secure {
    fn make(dir: &Path) -> Result<Secure> {
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "pathnet bench authority");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;
        let leaf = |names: Vec<String>, usage| -> Result<(String, String)> {
            let key = KeyPair::generate()?;
            let mut params = CertificateParams::new(names)?;
            params.extended_key_usages = vec![usage];
            Ok((params.signed_by(&key, &ca)?.pem(), key.serialize_pem()))
        };
        let (server_cert, server_key) = leaf(
            vec!["127.0.0.1".into()],
            ExtendedKeyUsagePurpose::ServerAuth,
        )?;
        let (client_cert, client_key) =
            leaf(vec!["agent".into()], ExtendedKeyUsagePurpose::ClientAuth)?;
        let write = |name: &str, text: &str| -> Result<PathBuf> {
            let path = dir.join(name);
            std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
            Ok(path)
        };
        Ok(Secure {
            ca: write("ca.pem", &ca.pem())?,
            server_cert: write("server.pem", &server_cert)?,
            server_key: write("server.key", &server_key)?,
            client_cert: write("client.pem", &client_cert)?,
            client_key: write("client.key", &client_key)?,
            agent_token: write("agent.token", "bench-agent-token-5d1c9e\n")?,
            admin_token: write("admin.token", "bench-admin-token-a83f02\n")?,
        })
    }
}

fn arg(path: &Path) -> &str {
    path.to_str().unwrap_or_default()
}

/// One run; the coordinator's CPU time is read from this process's reaped-children time
/// around reaping it (nothing else is reaped in between).
fn run(
    args: &Args,
    pathnet: &Path,
    dir: &Path,
    spec: &Path,
    secure: Option<&Secure>,
) -> Result<Run> {
    let summary = dir.join("summary.json");
    let log = dir.join("coordinator.log");
    let _ = std::fs::remove_file(&summary);
    let mut coordinator_args: Vec<&str> = vec![
        "coordinator",
        "--listen",
        "127.0.0.1:0",
        "--exit-when-done",
        "--spec",
        arg(spec),
        "--summary-json",
        arg(&summary),
    ];
    if let Some(s) = secure {
        coordinator_args.extend([
            "--tls-cert",
            arg(&s.server_cert),
            "--tls-key",
            arg(&s.server_key),
            "--tls-client-ca",
            arg(&s.ca),
            "--agent-token-file",
            arg(&s.agent_token),
            "--admin-token-file",
            arg(&s.admin_token),
        ]);
    }
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.timeout_s);
    let cpu_before = cpu_times(None)?.children_s;
    let mut coordinator = Command::new(pathnet)
        .args(&coordinator_args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(File::create(&log)?)
        .spawn()
        .with_context(|| format!("starting {}", pathnet.display()))?;
    let mut lines = BufReader::new(coordinator.stdout.take().context("no stdout")?).lines();
    let addr = loop {
        let Some(line) = lines.next().transpose()? else {
            let _ = coordinator.wait();
            bail!(
                "the coordinator exited early:\n{}",
                pathnet_bench::process::tail(&log)
            );
        };
        if let Some(addr) = line.strip_prefix("coordinator listening on ") {
            break addr.trim().to_owned();
        }
    };
    std::thread::spawn(move || lines.for_each(drop));
    let url = match secure {
        Some(_) => format!("https://{addr}"),
        None => format!("http://{addr}"),
    };
    let mut agents: Vec<Child> = Vec::new();
    for i in 0..args.agents {
        let mut command = Command::new(pathnet);
        command.args(["agent", "--leave-with-coordinator", "--coordinator", &url]);
        if let Some(s) = secure {
            command
                .args(["--tls-ca", arg(&s.ca)])
                .args(["--tls-cert", arg(&s.client_cert)])
                .args(["--tls-key", arg(&s.client_key)])
                .args(["--agent-token-file", arg(&s.agent_token)]);
        }
        let agent = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting agent {i}"))?;
        agents.push(agent);
    }
    let status = wait_until(&mut coordinator, deadline, "the coordinator");
    let wall_s = started.elapsed().as_secs_f64();
    let coordinator_cpu_s = cpu_times(None)?.children_s - cpu_before;
    for agent in &mut agents {
        if wait_until(agent, Instant::now() + Duration::from_secs(30), "an agent").is_err() {
            let _ = agent.kill();
            let _ = agent.wait();
        }
    }
    check_exit("the coordinator", status?, &log)?;
    let text = std::fs::read_to_string(&summary)
        .with_context(|| format!("reading {}", summary.display()))?;
    let summary: serde_json::Value = serde_json::from_str(&text)?;
    let evaluations = summary["counters"]["results_accepted"]
        .as_u64()
        .context("no counters.results_accepted in the summary")?;
    if evaluations != 2 * args.generations as u64 {
        bail!(
            "{evaluations} results accepted, expected {} (did the run reach its threshold?)",
            2 * args.generations
        );
    }
    Ok(Run {
        secured: secure.is_some(),
        wall_s,
        evaluations,
        coordinator_cpu_s,
    })
}

/// The runtime benchmark's experiment, capped at `--generations` tournaments; the accuracy
/// threshold 1.0 is never reached on T-shirt vs shirt, so every run does the same work.
fn write_spec(args: &Args, dir: &Path) -> Result<PathBuf> {
    let data = serde_json::to_string(args.data_dir.to_str().context("--data-dir is not UTF-8")?)?;
    let spec = format!(
        "name = \"security-bench\"\nseed = 1\n\n[data]\ndir = {data}\n\n\
         [pathnet]\nlayers = 3\nmodules_per_layer = 10\nmax_active = 3\nmodule_units = 20\n\n\
         [evolution]\npopulation = 64\nminibatches_per_evaluation = 50\nbatch_size = 16\n\
         learning_rate = 0.01\naccuracy_threshold = 1.0\nmax_generations = {}\n\n\
         [[tasks]]\nname = \"A\"\nclasses = [0, 6]\n",
        args.generations
    );
    let path = dir.join("spec.toml");
    std::fs::write(&path, spec)?;
    Ok(path)
}
