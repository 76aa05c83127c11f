//! `pathnet watch`: follow a coordinator's fitness events as they happen, one line each
//! (text or JSON), until the watched experiment ends or the coordinator closes the stream.
//!
//! Events go to stdout, everything else (what is watched, how it ended) to stderr, so the
//! JSON output can be piped as it is.

use crate::security_args::{ClientTlsArgs, operator_token};
use anyhow::{Context, anyhow, bail};
use clap::Args;
use pathnet_proto::security::{AuthChannel, BearerAuth};
use pathnet_proto::v1::{self, experiment_service_client::ExperimentServiceClient};
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;
use tonic::service::interceptor::InterceptedService;

#[derive(Args)]
pub(crate) struct WatchArgs {
    /// Coordinator URL, e.g. http://10.0.0.5:50051.
    #[arg(long, env = "PATHNET_COORDINATOR")]
    pub coordinator: String,
    /// Experiment to watch, as printed when it started (e.g. `fashion-1`); exits when it
    /// ends. Without it every experiment is watched until the coordinator shuts down.
    #[arg(long, env = "PATHNET_EXPERIMENT")]
    pub experiment: Option<String>,
    /// One JSON object per event and line instead of text.
    #[arg(long)]
    pub json: bool,
    /// Give up when the coordinator does not answer within this many milliseconds.
    #[arg(long, env = "PATHNET_CONNECT_TIMEOUT_MS", default_value_t = 5_000)]
    pub connect_timeout_ms: u64,
    /// File holding the token to present (the agent or the admin token), for
    /// coordinators that require one; else the environment variable PATHNET_TOKEN.
    #[arg(long, env = "PATHNET_TOKEN_FILE", value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    #[command(flatten)]
    pub tls: ClientTlsArgs,
}

pub(crate) fn run(args: WatchArgs) -> anyhow::Result<()> {
    if args.connect_timeout_ms == 0 {
        bail!("`--connect-timeout-ms` = 0: must be at least 1");
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(watch(args))
}

async fn watch(args: WatchArgs) -> anyhow::Result<()> {
    let url = &args.coordinator;
    let timeout = Duration::from_millis(args.connect_timeout_ms);
    let unreachable = || format!("cannot reach the coordinator at {url}");
    let no_answer = || anyhow!("no answer within {} ms", args.connect_timeout_ms);
    let token = operator_token(args.token_file.as_deref())?;
    let endpoint = pathnet_proto::security::endpoint(url, &args.tls.files())
        .with_context(|| format!("`--coordinator` = {url}"))?
        .connect_timeout(timeout);
    let channel = tokio::time::timeout(timeout, endpoint.connect())
        .await
        .map_err(|_| no_answer())
        .and_then(|connected| connected.map_err(anyhow::Error::from))
        .with_context(unreachable)?;
    let channel = InterceptedService::new(channel, BearerAuth::new(token.as_ref()));
    let mut client = ExperimentServiceClient::new(channel);
    let request = v1::WatchFitnessRequest {
        experiment_id: args.experiment.clone().unwrap_or_default(),
    };
    // Connected is not answering: a peer that accepts connections but never replies must
    // not hang the command either.
    let mut stream = tokio::time::timeout(timeout, client.watch_fitness(request))
        .await
        .map_err(|_| no_answer())
        .with_context(unreachable)?
        .map_err(|status| anyhow!("the coordinator at {url} refused: {}", status.message()))?
        .into_inner();
    match &args.experiment {
        Some(id) => eprintln!("watching experiment {id} at {url}"),
        None => eprintln!("watching every experiment at {url}"),
    }
    let mut out = std::io::stdout().lock();
    while let Some(event) = stream
        .message()
        .await
        .map_err(|status| anyhow!("the stream from {url} broke: {}", status.message()))?
    {
        let line = if args.json {
            json_line(&event)
        } else {
            text_line(&event)
        };
        let written = writeln!(out, "{line}").and_then(|()| out.flush());
        if let Err(err) = written {
            // A closed pipe (`pathnet watch | head`) is the reader saying it has enough.
            if err.kind() == std::io::ErrorKind::BrokenPipe {
                return Ok(());
            }
            return Err(err).context("writing to stdout");
        }
    }
    drop(out);
    match &args.experiment {
        Some(id) => eprintln!(
            "experiment {id}: {}",
            final_state(client, id, timeout).await
        ),
        None => eprintln!("the coordinator closed the stream"),
    }
    Ok(())
}

/// How the watched experiment ended, as far as the coordinator still says.
async fn final_state(
    mut client: ExperimentServiceClient<AuthChannel>,
    id: &str,
    timeout: Duration,
) -> &'static str {
    use v1::ExperimentState as S;
    let request = v1::GetExperimentStatusRequest {
        experiment_id: id.to_owned(),
    };
    match tokio::time::timeout(timeout, client.get_experiment_status(request)).await {
        Ok(Ok(status)) => match status.into_inner().state() {
            S::Completed => "completed",
            S::Stopped | S::Stopping => "stopped",
            S::Failed => "failed",
            S::Running | S::Pending | S::Unspecified => "stream ended",
        },
        _ => "stream ended (the coordinator is gone)",
    }
}

fn text_line(e: &v1::FitnessEvent) -> String {
    if let Some(v) = &e.sideways {
        let busy: Vec<String> = v.stage_busy.iter().map(|b| format!("{b:.2}")).collect();
        return format!(
            "{}  segment {:>4}  batches {:>5}/{}  frames {:>8}  {:>7.0} frames/s  loss {:>7.4}  accuracy {:>6.4}  stage busy [{}]",
            e.experiment_id,
            e.generation,
            v.batches,
            v.max_batches,
            v.frames,
            v.frames_per_second,
            v.loss,
            v.accuracy,
            busy.join(", ")
        );
    }
    format!(
        "{}  task {}  generation {:>4}  evaluations {:>6}  best fitness {:>8.4}  mean fitness {:>8.4}",
        e.experiment_id, e.task_index, e.generation, e.evaluations, e.best_fitness, e.mean_fitness
    )
}

fn json_line(e: &v1::FitnessEvent) -> String {
    let mut line = serde_json::json!({
        "experiment_id": e.experiment_id,
        "task_index": e.task_index,
        "generation": e.generation,
        "evaluations": e.evaluations,
        "best_fitness": e.best_fitness,
        "mean_fitness": e.mean_fitness,
        "unix_ms": e.unix_ms,
    });
    if let Some(v) = &e.sideways {
        line["sideways"] = serde_json::json!({
            "batches": v.batches,
            "max_batches": v.max_batches,
            "frames": v.frames,
            "frames_per_second": v.frames_per_second,
            "loss": v.loss,
            "accuracy": v.accuracy,
            "stage_busy": v.stage_busy,
        });
    }
    line.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> v1::FitnessEvent {
        v1::FitnessEvent {
            experiment_id: "fashion-1".into(),
            task_index: 1,
            generation: 7,
            evaluations: 30,
            best_fitness: -0.0625,
            mean_fitness: -0.25,
            unix_ms: 1_700_000_000_000,
            sideways: None,
        }
    }

    #[test]
    fn a_json_line_holds_every_field() {
        let value: serde_json::Value = serde_json::from_str(&json_line(&event())).unwrap();
        assert_eq!(value["experiment_id"], "fashion-1");
        assert_eq!(value["task_index"], 1);
        assert_eq!(value["generation"], 7);
        assert_eq!(value["evaluations"], 30);
        assert_eq!(value["best_fitness"], -0.0625);
        assert_eq!(value["mean_fitness"], -0.25);
        assert_eq!(value["unix_ms"], 1_700_000_000_000u64);
    }

    #[test]
    fn a_sideways_event_shows_its_video_progress() {
        let mut e = event();
        e.sideways = Some(v1::SidewaysProgress {
            batches: 24,
            max_batches: 96,
            frames: 3072,
            frames_per_second: 812.4,
            loss: 1.9,
            accuracy: 0.3,
            stage_busy: vec![0.9, 0.45],
        });
        let line = text_line(&e);
        for part in [
            "batches    24/96",
            "frames     3072",
            "812 frames/s",
            "loss  1.9000",
        ] {
            assert!(line.contains(part), "{part}: {line}");
        }
        assert!(line.contains("stage busy [0.90, 0.45]"), "{line}");
        let value: serde_json::Value = serde_json::from_str(&json_line(&e)).unwrap();
        assert_eq!(value["sideways"]["frames"], 3072);
        assert_eq!(value["sideways"]["stage_busy"][1], 0.45);
    }

    #[test]
    fn a_text_line_names_the_experiment_task_and_fitness() {
        let line = text_line(&event());
        assert!(
            line.starts_with("fashion-1  task 1  generation    7"),
            "{line}"
        );
        assert!(line.contains("best fitness  -0.0625"), "{line}");
        assert!(line.contains("mean fitness  -0.2500"), "{line}");
    }
}
