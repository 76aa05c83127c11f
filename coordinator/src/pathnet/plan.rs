//! The runs an experiment is made of, in order: PathNet over every task with transfer, then
//! each control's own run of the last task (and of the earlier ones where the control needs
//! them), all on the one super-network so agents need nothing new to serve them.

use crate::spec::{Control, ControlPathway, ExperimentSpec};
use pathnet_nn::pathnet::{PathNetDims, PathNetError, Pathway};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Which of the compared methods a task run belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Arm {
    /// Evolve pathways; at each task's end freeze the best one and re-initialise the rest.
    PathnetTransfer,
    /// The last task alone, on a freshly initialised network.
    Scratch,
    /// The tasks in order with nothing frozen, each trained from the previous one's parameters.
    FineTune,
    /// The paper's fine-tuning control: the previous task's best pathway, all of it
    /// trainable, continued on the last task with that task's new head; no evolution.
    PaperFineTune,
}

impl Arm {
    /// The arm's name in summaries and JSON: `pathnet_transfer`, `scratch`, `fine_tune` or
    /// `paper_fine_tune`.
    pub fn as_str(self) -> &'static str {
        match self {
            Arm::PathnetTransfer => "pathnet_transfer",
            Arm::Scratch => "scratch",
            Arm::FineTune => "fine_tune",
            Arm::PaperFineTune => "paper_fine_tune",
        }
    }
}

impl fmt::Display for Arm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<Control> for Arm {
    fn from(control: Control) -> Self {
        match control {
            Control::Scratch => Arm::Scratch,
            Control::FineTune => Arm::FineTune,
            Control::PaperFineTune => Arm::PaperFineTune,
        }
    }
}

/// What happens to the parameters before a phase's population starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Start {
    /// The network as built from the seed (the first phase).
    Built,
    /// Freeze the previous phase's best pathway, re-initialise every other module.
    Transfer,
    /// Every module back to the values built from the seed, nothing frozen.
    Fresh,
    /// The parameters as the previous phase left them, nothing frozen.
    Continue,
    /// The parameters kept by the phase marked `keep_parameters`, nothing frozen.
    Kept,
}

/// One task learnt by one arm, with its own population.
#[derive(Debug, Clone)]
pub(super) struct Phase {
    pub arm: Arm,
    pub task: usize,
    pub start: Start,
    /// Every evaluation trains this pathway and nothing evolves; `None` evolves a population.
    pub fixed: Option<Pathway>,
    /// Keep a copy of the parameters as this phase leaves them, before any transfer step,
    /// and of its best pathway.
    pub keep_parameters: bool,
    /// Every evaluation trains the best pathway kept with the parameters (overrides
    /// `fixed`; nothing evolves).
    pub kept_pathway: bool,
}

/// The pathway of a fixed-path control: the first `N` modules of every layer, the largest
/// pathway the architecture allows, so the control never has less capacity than an evolved
/// pathway. Modules are initialised independently, so which indices are used does not matter.
pub(super) fn fixed_pathway(dims: &PathNetDims) -> Result<Pathway, PathNetError> {
    Pathway::new(vec![(0..dims.max_active).collect(); dims.layers], dims)
}

/// The phases of `spec`, in the order they run.
pub(super) fn plan(spec: &ExperimentSpec, dims: &PathNetDims) -> Result<Vec<Phase>, PathNetError> {
    let last = spec.tasks.len() - 1;
    let mut phases: Vec<Phase> = (0..spec.tasks.len())
        .map(|task| Phase {
            arm: Arm::PathnetTransfer,
            task,
            start: if task == 0 {
                Start::Built
            } else {
                Start::Transfer
            },
            fixed: None,
            keep_parameters: false,
            kept_pathway: false,
        })
        .collect();
    let comparison = &spec.comparison;
    let fixed = match comparison.control_pathway {
        ControlPathway::Fixed => Some(fixed_pathway(dims)?),
        ControlPathway::Evolved => None,
    };
    for &control in &comparison.controls {
        let phase = |task, start| Phase {
            arm: control.into(),
            task,
            start,
            fixed: fixed.clone(),
            keep_parameters: false,
            kept_pathway: false,
        };
        match (control, comparison.control_pathway) {
            (Control::Scratch, _) => phases.push(phase(last, Start::Fresh)),
            // A fixed pathway never ran on the earlier tasks, so the control learns them
            // itself, from fresh parameters.
            (Control::FineTune, ControlPathway::Fixed) => {
                phases.push(phase(0, Start::Fresh));
                phases.extend((1..=last).map(|task| phase(task, Start::Continue)));
            }
            // Evolved pathways on the earlier tasks are exactly what PathNet's arm ran up to
            // its last transfer step, so the control starts from the parameters it left.
            (Control::FineTune, ControlPathway::Evolved) => {
                phases[last - 1].keep_parameters = true;
                phases.push(phase(last, Start::Kept));
            }
            // The previous task's best pathway and the parameters it left, before PathNet's
            // transfer step froze and re-initialised them; the last task's head is still as
            // built, never trained: the "new head".
            (Control::PaperFineTune, _) => {
                phases[last - 1].keep_parameters = true;
                phases.push(Phase {
                    fixed: None,
                    kept_pathway: true,
                    ..phase(last, Start::Kept)
                });
            }
        }
    }
    Ok(phases)
}
