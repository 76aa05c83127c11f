//! The wire side of each kind of experiment: how its work goes out to agents and how what
//! they send back is read, behind one trait, [`Served`], so that the runtime, the lease
//! table and the services never ask which kind they serve.
//!
//! Each kind has a module here: its [`Served`] implementation and how it is built from its
//! spec ([`build`] picks it). Everything networking-free about a kind lives in the kind's
//! own module of the crate.

mod a3c;
mod neuroevolution;
mod pathnet;
mod pathnet_a3c;
mod sideways;
mod sm_pathnet;

pub(super) use sideways::place;

use super::limits::Limits;
use crate::a3c::{ExchangeAnswer, ExchangeError, PushDone, PushTicket};
use crate::checkpoint::Tensors;
use crate::kind::{Kind, SpecKind};
use crate::pathnet::{Engine, TestSplit};
use crate::placement::StageRule;
use crate::run::{EvalId, Run};
use crate::spec::Spec;
use ndarray::ArrayD;
use pathnet_nn::pathnet::ModuleId;
use pathnet_proto::v1;
use tonic::Status;

/// An experiment run as the server serves it.
pub(super) trait Served: Run {
    /// The next work the run hands out, if any now.
    fn next_work(&mut self) -> Option<Issued>;

    /// Applies `eval`'s result `report`; module deltas pushed ahead of it are taken from
    /// `pushed(module, base)`. Returns the modules the agent may keep (see
    /// `updated_from_base`).
    fn complete(
        &mut self,
        eval: EvalId,
        report: &v1::ReportResultRequest,
        pushed: &mut Pushed<'_>,
    ) -> Result<Vec<v1::ModuleRef>, Rejected>;

    /// Where its work's stages go when they spread over several agents (Sideways with
    /// `stage_hosts` or `place`): the runtime chooses the hosts among the live agents when
    /// it leases the work, and holds the work back while they are too few. `None`: the
    /// lease holder alone runs the work.
    fn stage_rule(&self) -> Option<&StageRule> {
        None
    }

    /// Whether its work is workers, replaced rather than re-issued when they fail.
    fn work_is_workers(&self) -> bool {
        false
    }

    /// PathNet's engine, whose versioned modules agents pull and push; no other kind has
    /// them.
    fn modules(&self) -> Option<&Engine> {
        None
    }

    /// Admits a gradient push of worker `eval`; carry out the ticket, then hand it to
    /// [`Served::finish_exchange`].
    fn begin_exchange(
        &mut self,
        eval: EvalId,
        push: &v1::GradientPush,
    ) -> Result<PushTicket, PushRefusal> {
        let _ = (eval, push);
        Err(PushRefusal::TakesNoPushes)
    }

    /// The run's spec, state and tensors for a checkpoint; `None` for a kind that has no
    /// checkpoints (see [`checkpointable`]).
    fn save(&self) -> Option<Result<SavedRun, String>> {
        None
    }

    /// Counts a push its ticket carried out and answers it.
    fn finish_exchange(&mut self, done: PushDone) -> Result<ExchangeAnswer, ExchangeError> {
        // Only a kind that admits pushes has tickets to hand back.
        Err(ExchangeError::UnknownWorker(done.lease()))
    }
}

/// A run as a checkpoint holds it: its spec and state as JSON, its tensors.
pub(super) struct SavedRun {
    pub(super) spec: serde_json::Value,
    pub(super) state: serde_json::Value,
    pub(super) tensors: Tensors,
}

/// How a kind's experiment is served: what it reads from disk first, the run built for the
/// server and, for a kind that has checkpoints, how its spec and run are saved and
/// resumed. Implemented by each kind's spec, in the kind's module here.
pub(super) trait ServedKind: SpecKind + Sized {
    /// How its runs are checkpointed and resumed; `None` (the default) for a kind whose
    /// runs cannot be.
    const CHECKPOINTS: Option<Checkpoints<Self>> = None;

    /// Refuses at once what [`ServedKind::load`] would refuse after a slow load.
    fn precheck(&self) -> Result<(), Status> {
        Ok(())
    }

    /// Reads what the kind needs from disk before it starts (PathNet: the test split).
    fn load(&self) -> Result<Option<TestSplit>, Status> {
        Ok(None)
    }

    /// Builds the run of experiment `id` from the spec and what [`ServedKind::load`] read.
    fn build(self, id: &str, test: Option<TestSplit>, limits: &Limits) -> Result<Built, Status>;
}

/// Resumes the run a checkpoint saved as experiment `id` from its spec, what
/// [`ServedKind::load`] read, the saved state and tensors, under the coordinator's limits
/// (as [`ServedKind::build`]); with how much of its work that was handed out went back to
/// the queue.
pub(super) type Restore<S> = fn(
    S,
    &str,
    Option<TestSplit>,
    serde_json::Value,
    Tensors,
    &Limits,
) -> Result<(Built, usize), String>;

/// How a kind's runs are checkpointed: its spec as JSON and back, and its run resumed. Every
/// kind saves its spec the same way, so a kind names only how its run is resumed
/// ([`Checkpoints::new`]).
pub(super) struct Checkpoints<S> {
    to_saved: fn(&S) -> Result<serde_json::Value, String>,
    from_saved: fn(serde_json::Value) -> Result<S, String>,
    restore: Restore<S>,
}

impl<S: serde::Serialize + serde::de::DeserializeOwned> Checkpoints<S> {
    /// The checkpoints of a kind whose saved runs `restore` resumes.
    pub(super) const fn new(restore: Restore<S>) -> Self {
        Checkpoints {
            to_saved: saved_json::<S>,
            from_saved: from_saved_json::<S>,
            restore,
        }
    }
}

/// The spec as a checkpoint saves it.
fn to_saved<S: ServedKind>(spec: &S) -> Result<serde_json::Value, String> {
    match S::CHECKPOINTS {
        Some(checkpoints) => (checkpoints.to_saved)(spec),
        None => Err(not_checkpointable(S::KIND)),
    }
}

/// The spec a checkpoint saved.
fn from_saved<S: ServedKind>(spec: serde_json::Value) -> Result<S, String> {
    match S::CHECKPOINTS {
        Some(checkpoints) => (checkpoints.from_saved)(spec),
        None => Err(not_checkpointable(S::KIND)),
    }
}

/// The run a checkpoint saved as experiment `id`, resumed; with how much of its work that
/// was handed out went back to the queue.
fn restore_run<S: ServedKind>(
    spec: S,
    id: &str,
    test: Option<TestSplit>,
    state: serde_json::Value,
    tensors: Tensors,
    limits: &Limits,
) -> Result<(Built, usize), String> {
    match S::CHECKPOINTS {
        Some(checkpoints) => (checkpoints.restore)(spec, id, test, state, tensors, limits),
        None => Err(not_checkpointable(S::KIND)),
    }
}

/// A spec as a checkpoint saves it, for the kinds that have checkpoints.
fn saved_json<S: serde::Serialize>(spec: &S) -> Result<serde_json::Value, String> {
    serde_json::to_value(spec).map_err(|err| err.to_string())
}

/// A spec a checkpoint saved, for the kinds that have checkpoints.
fn from_saved_json<S: serde::de::DeserializeOwned>(spec: serde_json::Value) -> Result<S, String> {
    serde_json::from_value(spec).map_err(|err| format!("`experiment.spec`: {err}"))
}

/// Refuses tensors in the checkpoint of a kind whose whole state is in its manifest: a stray
/// tensor means the files are not the ones this kind wrote.
fn no_tensors(kind: &str, tensors: &Tensors) -> Result<(), String> {
    match tensors.first() {
        Some((name, _)) => Err(format!(
            "tensor `{}`: a {kind} state has no tensors",
            pathnet_proto::quote(name)
        )),
        None => Ok(()),
    }
}

/// A run's saved state (`experiment.run` of the checkpoint), read back.
fn saved_state<T: serde::de::DeserializeOwned>(state: serde_json::Value) -> Result<T, String> {
    serde_json::from_value(state).map_err(|err| format!("`experiment.run`: {err}"))
}

impl SavedRun {
    /// A run's spec, state and tensors as a checkpoint holds them.
    fn of(
        spec: &impl serde::Serialize,
        state: &impl serde::Serialize,
        tensors: Tensors,
    ) -> Result<SavedRun, String> {
        Ok(SavedRun {
            spec: serde_json::to_value(spec).map_err(|err| err.to_string())?,
            state: serde_json::to_value(state).map_err(|err| err.to_string())?,
            tensors,
        })
    }
}

macro_rules! dispatch_served {
    ($( $(#[$doc:meta])* $variant:ident = $name:literal : $spec:ty => $summary:ty ),* $(,)?) => {
        /// Whether runs of `kind` can be checkpointed and resumed.
        pub(crate) fn checkpointable(kind: Kind) -> bool {
            match kind {
                $( Kind::$variant => <$spec as ServedKind>::CHECKPOINTS.is_some(), )*
            }
        }

        /// The spec a checkpoint saved for a run of kind `kind`.
        fn saved_spec_of(kind: Kind, spec: serde_json::Value) -> Result<Spec, String> {
            match kind {
                $( Kind::$variant => from_saved::<$spec>(spec).map(Spec::$variant), )*
            }
        }

        /// The spec of a kind that has checkpoints as JSON, to compare with a saved one.
        pub(crate) fn spec_json(spec: &Spec) -> Result<serde_json::Value, String> {
            match spec {
                $( Spec::$variant(spec) => to_saved(spec), )*
            }
        }

        /// The run a checkpoint saved as experiment `id`, resumed; with how much of its work
        /// that was handed out went back to the queue.
        pub(super) fn restore(
            ready: Ready,
            id: &str,
            state: serde_json::Value,
            tensors: Tensors,
            limits: &Limits,
        ) -> Result<(Built, usize), String> {
            let Ready { spec, test } = ready;
            match spec {
                $( Spec::$variant(spec) => restore_run(spec, id, test, state, tensors, limits), )*
            }
        }

        impl Ready {
            /// Reads what `spec`'s kind needs from disk, blocking: call it off the async threads.
            pub(crate) fn load(spec: Spec) -> Result<Ready, Status> {
                let test = match &spec {
                    $( Spec::$variant(spec) => spec.load()?, )*
                };
                Ok(Ready { spec, test })
            }

            /// The checks of what [`Ready::load`] reads that can refuse the spec at once, before a
            /// slow load.
            pub(crate) fn precheck(spec: &Spec) -> Result<(), Status> {
                match spec {
                    $( Spec::$variant(spec) => spec.precheck(), )*
                }
            }
        }

        /// Builds the run of experiment `id`, unless its estimated memory is over the
        /// coordinator's ceiling: checked before anything of the run is allocated.
        pub(super) fn build(ready: Ready, id: &str, limits: &Limits) -> Result<Built, Status> {
            let Ready { spec, test } = ready;
            let input_features = test.as_ref().map_or(0, TestSplit::features);
            spec.memory_estimate(input_features)
                .and_then(|estimate| estimate.check(limits.max_experiment_bytes))
                .map_err(|err| Status::invalid_argument(err.to_string()))?;
            match spec {
                $( Spec::$variant(spec) => spec.build(id, test, limits), )*
            }
        }
    };
}
crate::kind::with_kinds!(dispatch_served);

/// Why a coordinator with a state directory refuses an experiment of `kind`.
pub(crate) fn not_checkpointable(kind: Kind) -> String {
    let kinds: Vec<&str> = Kind::ALL
        .into_iter()
        .filter(|kind| checkpointable(*kind))
        .map(Kind::as_str)
        .collect();
    format!(
        "experiments of kind `{kind}` cannot be checkpointed yet (only {}), and \
         this coordinator keeps its state in a directory (--state-dir) that could not \
         resume it after a restart; run it on a coordinator without --state-dir",
        checkpointable_list(&kinds)
    )
}

/// The kinds that have checkpoints as the refusal names them: `pathnet` and `a3c` can.
fn checkpointable_list(kinds: &[&str]) -> String {
    let quoted: Vec<String> = kinds.iter().map(|kind| format!("`{kind}`")).collect();
    match quoted.as_slice() {
        [] => "none can".to_owned(),
        [one] => format!("{one} can"),
        [rest @ .., last] => format!("{} and {last} can", rest.join(", ")),
    }
}

/// The spec a checkpoint saved for a run of kind `kind`.
pub(crate) fn saved_spec(kind: &str, spec: serde_json::Value) -> Result<Spec, String> {
    let kind: Kind = kind.parse().map_err(|_| {
        format!(
            "`experiment.kind` = {}: not a kind",
            pathnet_proto::quote(kind)
        )
    })?;
    let spec = saved_spec_of(kind, spec)?;
    spec.validate()
        .map_err(|err| format!("`experiment.spec`: {err}"))?;
    Ok(spec)
}

/// Where a report's module deltas pushed ahead of it come from: the tensors of `(module,
/// base version)`, if they were pushed.
pub(super) type Pushed<'a> = dyn FnMut(ModuleId, u64) -> Option<Vec<ArrayD<f32>>> + 'a;

/// Work a run hands out.
pub(super) struct Issued {
    pub(super) eval: EvalId,
    pub(super) payload: v1::work_item::Payload,
    /// The work as an error names it: kind, evaluation or worker, task or genome.
    pub(super) what: String,
}

/// A result report not applied.
#[derive(Debug)]
pub(super) enum Rejected {
    /// The result is unusable (malformed, invalid, not outstanding); nothing changed.
    Refused(String),
    /// The run failed applying it; the experiment cannot go on.
    Failed(String),
}

/// A gradient push not admitted.
#[derive(Debug)]
pub(super) enum PushRefusal {
    /// The experiment's kind takes no gradient pushes.
    TakesNoPushes,
    /// The push has a field its kind does not take.
    Unfit(&'static str),
    /// The run refused it.
    Refused(ExchangeError),
}

impl From<ExchangeError> for PushRefusal {
    fn from(err: ExchangeError) -> Self {
        PushRefusal::Refused(err)
    }
}

/// A run built for the server, with the bytes of all its parameters (the most one result
/// may push).
pub(super) struct Built {
    pub(super) run: Box<dyn Served>,
    pub(super) parameter_bytes: usize,
}

/// A spec and what its kind reads from disk before it starts (PathNet: the test split).
pub(crate) struct Ready {
    spec: Spec,
    test: Option<TestSplit>,
}

impl Ready {
    pub(crate) fn spec(&self) -> &Spec {
        &self.spec
    }
}

/// A worker's final report, as its run took it: the worker's episodes (and fitness
/// reports) were counted as they were pushed, so the report only ends the lease.
fn worker_reported(ended: Result<(), ExchangeError>) -> Result<Vec<v1::ModuleRef>, Rejected> {
    ended.map_err(|err| Rejected::Refused(err.to_string()))?;
    Ok(Vec::new())
}

/// A run whose every push answer carries its `parameter_bytes` of parameters (`field` of
/// its spec), refused unless they fit a push answer under the coordinator's message limit;
/// chunk headers and the answer's other fields need room too.
fn fitting(
    run: Box<dyn Served>,
    parameter_bytes: usize,
    field: &str,
    limits: &Limits,
) -> Result<Built, Status> {
    let (bytes, limit) = (parameter_bytes, limits.max_message_bytes);
    if bytes + bytes / 8 + 1024 > limit {
        return Err(Status::invalid_argument(format!(
            "invalid spec: `{field}`: the network's {bytes} parameter bytes do not fit the \
             coordinator's max message size of {limit} bytes (raise --max-message-bytes)"
        )));
    }
    Ok(Built {
        run,
        parameter_bytes,
    })
}

/// A spec the run refused to build from.
fn invalid_spec(err: impl std::fmt::Display) -> Status {
    Status::invalid_argument(format!("invalid spec: {err}"))
}
