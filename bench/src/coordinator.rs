//! A `pathnet coordinator` process serving one experiment to a benchmark's synthetic
//! clients: started with the spec, sampled for CPU and memory while it runs, stopped over
//! gRPC (`StopExperiment`, after which `--exit-when-done` makes it write its summary and exit).

use crate::machine::{cpu_times, resident_bytes};
use crate::process::{check_exit, wait_until};
use anyhow::{Context, Result, bail};
use pathnet_proto::v1::{
    StopExperimentRequest, experiment_service_client::ExperimentServiceClient,
};
use serde::de::DeserializeOwned;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `pathnet coordinator` child; dropping it kills the child if it still runs.
pub struct CoordinatorProcess {
    child: Child,
    /// The loopback address it listens on, as it printed it.
    pub addr: SocketAddr,
    /// The id of the experiment it started from the spec.
    pub experiment: String,
    summary: PathBuf,
    log: PathBuf,
}

impl CoordinatorProcess {
    /// Starts `pathnet coordinator` on a free loopback port with `spec` and `extra_args`;
    /// `work_dir` receives its summary and stderr.
    pub fn start(
        pathnet: &Path,
        spec: &Path,
        work_dir: &Path,
        extra_args: &[String],
    ) -> Result<Self> {
        let summary = work_dir.join("coordinator-summary.json");
        let log = work_dir.join("coordinator-stderr.log");
        let _ = std::fs::remove_file(&summary);
        let stderr = File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let mut child = Command::new(pathnet)
            .args(["coordinator", "--listen", "127.0.0.1:0", "--exit-when-done"])
            .args(extra_args)
            .arg("--spec")
            .arg(spec)
            .arg("--summary-json")
            .arg(&summary)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .with_context(|| format!("starting {} coordinator", pathnet.display()))?;
        let stdout = child
            .stdout
            .take()
            .context("the coordinator's stdout is not captured")?;
        let mut process = CoordinatorProcess {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            experiment: String::new(),
            summary,
            log,
        };
        let mut lines = BufReader::new(stdout).lines();
        let mut addr = None;
        let experiment = loop {
            let Some(line) = lines.next().transpose()? else {
                bail!(
                    "the coordinator exited before starting the experiment; its stderr ends:\n{}",
                    crate::process::tail(&process.log)
                );
            };
            if let Some(a) = line.strip_prefix("coordinator listening on ") {
                addr = Some(
                    a.trim()
                        .parse()
                        .with_context(|| format!("the address `{a}`"))?,
                );
            } else if let Some(id) = line
                .strip_prefix("experiment ")
                .and_then(|rest| rest.strip_suffix(" started"))
            {
                break id.to_owned();
            }
        };
        // Keeps draining, so the coordinator never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        process.addr = addr.context("the coordinator printed no listening address")?;
        process.experiment = experiment;
        Ok(process)
    }

    /// The URL clients and agents connect to, e.g. `http://127.0.0.1:40123`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// CPU seconds the coordinator has used so far, all threads.
    pub fn cpu_s(&self) -> Result<f64> {
        Ok(cpu_times(Some(self.child.id()))?.own_s)
    }

    /// The coordinator's resident memory now, in bytes.
    pub fn resident_bytes(&self) -> Result<u64> {
        resident_bytes(self.child.id())
    }

    /// Asks the coordinator to stop the experiment (it then exits).
    pub async fn request_stop(&self) -> Result<()> {
        let mut client = ExperimentServiceClient::connect(self.url())
            .await
            .context("connecting to the coordinator to stop it")?;
        client
            .stop_experiment(StopExperimentRequest {
                experiment_id: self.experiment.clone(),
                reason: "benchmark done".into(),
            })
            .await
            .map_err(|s| anyhow::anyhow!("StopExperiment: {}: {}", s.code(), s.message()))?;
        Ok(())
    }

    /// Waits for the exit that follows [`Self::request_stop`] and reads the summary.
    pub fn finish<S: DeserializeOwned>(mut self, timeout: Duration) -> Result<S> {
        let status = wait_until(&mut self.child, Instant::now() + timeout, "the coordinator")?;
        check_exit("the coordinator", status, &self.log)?;
        let text = std::fs::read_to_string(&self.summary)
            .with_context(|| format!("reading {}", self.summary.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parsing {}", self.summary.display()))
    }
}

impl Drop for CoordinatorProcess {
    /// A measurement that failed half way leaves no coordinator behind.
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
