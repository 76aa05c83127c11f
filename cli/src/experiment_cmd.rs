//! `pathnet experiment start|stop|status|list`: drive experiments on a running coordinator as an
//! operator, with the admin token (docs/security.md). The client and its error messages
//! live in `pathnet_proto::operator`; this is argument parsing and printing.
//!
//! What a script wants (the started id, the state) goes to stdout; the rest to stderr.

use crate::security_args::{ClientTlsArgs, operator_token};
use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use pathnet_proto::operator::{OperatorClient, state_name};
use pathnet_proto::v1;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Subcommand)]
pub(crate) enum ExperimentCommand {
    /// Start the experiment of a TOML spec; prints its id. Paths in the spec are read on
    /// the coordinator's machine.
    Start {
        /// The experiment spec (the format of `pathnet run`).
        spec: PathBuf,
        #[command(flatten)]
        connection: Connection,
    },
    /// Stop an experiment: its outstanding leases are cancelled and no more are handed out.
    Stop {
        /// The experiment, as printed by `start` (e.g. `fashion-1`).
        id: String,
        /// Why, for the coordinator's log.
        #[arg(long, default_value = "stopped by the operator")]
        reason: String,
        #[command(flatten)]
        connection: Connection,
    },
    /// Where an experiment stands: state, task, generation, evaluations, agents.
    Status {
        /// The experiment, as printed by `start`.
        id: String,
        /// One JSON object instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        connection: Connection,
    },
    /// Every experiment the coordinator holds (the one running, or the last one to have
    /// run), one line each: id, kind, state, start time, progress. Needs the admin token.
    List {
        /// A JSON array of status objects instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        connection: Connection,
    },
}

/// How to reach the coordinator and prove who is asking.
#[derive(Args)]
pub(crate) struct Connection {
    /// Coordinator URL, e.g. http://10.0.0.5:50051 (https:// with the TLS flags).
    #[arg(long, env = "PATHNET_COORDINATOR")]
    coordinator: String,
    /// File holding the admin token (start and stop need it; status takes the agent token
    /// too); else the environment variable PATHNET_TOKEN.
    #[arg(long, env = "PATHNET_TOKEN_FILE", value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// Give up when the coordinator does not answer within this many milliseconds. A start
    /// loads the spec's data first, so give it longer on large data sets.
    #[arg(long, env = "PATHNET_CONNECT_TIMEOUT_MS", default_value_t = 30_000)]
    connect_timeout_ms: u64,
    #[command(flatten)]
    tls: ClientTlsArgs,
}

impl Connection {
    async fn connect(&self) -> anyhow::Result<OperatorClient> {
        if self.connect_timeout_ms == 0 {
            bail!("`--connect-timeout-ms` = 0: must be at least 1");
        }
        let token = operator_token(self.token_file.as_deref())?;
        Ok(OperatorClient::connect(
            &self.coordinator,
            &self.tls.files(),
            token.as_ref(),
            Duration::from_millis(self.connect_timeout_ms),
        )
        .await?)
    }
}

pub(crate) fn run(command: ExperimentCommand) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(execute(command))
}

async fn execute(command: ExperimentCommand) -> anyhow::Result<()> {
    match command {
        ExperimentCommand::Start { spec, connection } => {
            let text = std::fs::read_to_string(&spec)
                .with_context(|| format!("spec {}: cannot read it", spec.display()))?;
            let id = connection
                .connect()
                .await?
                .start(text)
                .await
                .with_context(|| format!("spec {}", spec.display()))?;
            eprintln!(
                "experiment {id} started at {} (follow it with `pathnet watch --experiment {id}`)",
                connection.coordinator
            );
            println!("{id}");
        }
        ExperimentCommand::Stop {
            id,
            reason,
            connection,
        } => {
            let state = connection.connect().await?.stop(&id, &reason).await?;
            eprintln!(
                "experiment {id} at {}: stop requested; its state now:",
                connection.coordinator
            );
            println!("{}", state_name(state));
        }
        ExperimentCommand::Status {
            id,
            json,
            connection,
        } => {
            let status = connection.connect().await?.status(&id).await?;
            if json {
                println!("{}", status_json(&status));
            } else {
                println!("{}", status_text(&status));
            }
        }
        ExperimentCommand::List { json, connection } => {
            let experiments = connection.connect().await?.list().await?;
            if json {
                let all: Vec<serde_json::Value> = experiments.iter().map(status_value).collect();
                println!("{}", serde_json::Value::Array(all));
            } else if experiments.is_empty() {
                eprintln!("no experiments at {}", connection.coordinator);
            } else {
                print!("{}", list_text(&experiments));
            }
        }
    }
    Ok(())
}

/// One header line, then one line per experiment, in columns.
fn list_text(experiments: &[v1::ExperimentStatus]) -> String {
    let mut rows = vec![[
        "ID".to_owned(),
        "KIND".to_owned(),
        "STATE".to_owned(),
        "STARTED (UTC)".to_owned(),
        "TASK".to_owned(),
        "GENERATION".to_owned(),
        "EVALUATIONS".to_owned(),
    ]];
    for s in experiments {
        rows.push([
            // Ids and kinds come from the coordinator: bounded, on one line.
            pathnet_proto::quote(&s.experiment_id),
            pathnet_proto::quote(&s.kind),
            state_name(s.state()).to_owned(),
            utc(s.started_unix_ms),
            s.task_index.to_string(),
            s.generation.to_string(),
            s.evaluations.to_string(),
        ]);
    }
    let mut widths = [0usize; 7];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut text = String::new();
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        text.push_str(cells.join("  ").trim_end());
        text.push('\n');
    }
    text
}

/// `unix_ms` as `YYYY-MM-DD HH:MM:SS` in UTC (days to a civil date after H. Hinnant's
/// `civil_from_days`), so that a listing needs no time-zone data.
fn utc(unix_ms: u64) -> String {
    let secs = unix_ms / 1000;
    let days = (secs / 86_400) as i64;
    let rest = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

fn status_text(s: &v1::ExperimentStatus) -> String {
    let best = s
        .best_fitness
        .map_or_else(|| "none yet".to_owned(), |f| format!("{f:.4}"));
    let mut text = format!(
        "{}  {}  task {} ({} completed)  generation {}  evaluations {}  best fitness {}  \
         agents {}  leases outstanding {}",
        s.experiment_id,
        state_name(s.state()),
        s.task_index,
        s.tasks_completed,
        s.generation,
        s.evaluations,
        best,
        s.agents,
        s.leases_outstanding
    );
    if !s.error.is_empty() {
        text.push_str(&format!(
            "\nerror: {}",
            pathnet_proto::quote_lines(&s.error)
        ));
    }
    text
}

fn status_json(s: &v1::ExperimentStatus) -> String {
    status_value(s).to_string()
}

fn status_value(s: &v1::ExperimentStatus) -> serde_json::Value {
    serde_json::json!({
        "experiment_id": s.experiment_id,
        "kind": s.kind,
        "state": state_name(s.state()),
        "task_index": s.task_index,
        "tasks_completed": s.tasks_completed,
        "generation": s.generation,
        "evaluations": s.evaluations,
        "best_fitness": s.best_fitness,
        "agents": s.agents,
        "leases_outstanding": s.leases_outstanding,
        "started_unix_ms": s.started_unix_ms,
        "error": s.error,
        "evaluations_issued": s.evaluations_issued,
        "evaluations_requeued": s.evaluations_requeued,
        "results_refused": s.results_refused,
        "tournaments_resolved": s.tournaments_resolved,
        "leases_expired": s.leases_expired,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status() -> v1::ExperimentStatus {
        v1::ExperimentStatus {
            experiment_id: "cluster-1".into(),
            state: v1::ExperimentState::Running.into(),
            task_index: 1,
            generation: 4,
            evaluations: 40,
            best_fitness: Some(-0.125),
            agents: 2,
            tasks_completed: 1,
            ..Default::default()
        }
    }

    #[test]
    fn the_text_names_the_state_and_progress() {
        let text = status_text(&status());
        for part in [
            "cluster-1  running",
            "task 1 (1 completed)",
            "generation 4",
            "best fitness -0.1250",
            "agents 2",
        ] {
            assert!(text.contains(part), "{part}: {text}");
        }
        let mut failed = status();
        failed.best_fitness = None;
        failed.error = "out of memory".into();
        let text = status_text(&failed);
        assert!(text.contains("best fitness none yet"), "{text}");
        assert!(text.ends_with("\nerror: out of memory"), "{text}");
    }

    #[test]
    fn times_are_utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00");
        assert_eq!(utc(1_796_530_931_999), "2026-12-06 04:22:11");
    }

    #[test]
    fn the_list_is_one_aligned_line_per_experiment() {
        let mut other = status();
        other.experiment_id = "a-much-longer-name-2".into();
        other.kind = "ga".into();
        other.state = v1::ExperimentState::Completed.into();
        let mut first = status();
        first.kind = "pathnet".into();
        let text = list_text(&[first, other]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].starts_with("ID  "), "{text}");
        assert!(lines[1].starts_with("cluster-1  "), "{text}");
        assert!(lines[1].contains("  pathnet  running  "), "{text}");
        assert!(lines[2].contains("  ga       completed"), "{text}");
        // Columns line up: KIND starts at the same place on every line.
        let at = lines[0].find("KIND").unwrap();
        assert_eq!(lines[1].find("pathnet"), Some(at), "{text}");
        assert_eq!(lines[2].find("ga "), Some(at), "{text}");
    }

    #[test]
    fn the_json_holds_the_state_by_name() {
        let value: serde_json::Value = serde_json::from_str(&status_json(&status())).unwrap();
        assert_eq!(value["state"], "running");
        assert_eq!(value["evaluations"], 40);
        assert_eq!(value["best_fitness"], -0.125);
    }
}
