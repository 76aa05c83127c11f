//! The end of one phase and the start of the next: the finished task is measured and
//! summarised, then the parameters are prepared as the next phase's [`Start`] says and a
//! fresh population begins.

use super::plan::Start;
use super::population::TaskRun;
use super::report::TaskSummary;
use super::{Engine, EngineError, RunState, store};
use crate::run::Progress;
use pathnet_nn::pathnet::Pathway;

impl Engine {
    pub(super) fn finish_task(&mut self) -> Result<(), EngineError> {
        let index = self.task.index;
        let phase = &self.plan[self.phase];
        let arm = phase.arm;
        let (best_accuracy, best) = self
            .task
            .best
            .clone()
            .expect("a task ends only after a tournament was resolved");
        let test_accuracy = match &mut self.evaluator {
            Some(evaluator) => Some(evaluator.test_accuracy(self.store.net(), &best, index)?),
            None => None,
        };
        let spec = &self.spec.tasks[index];
        let summary = TaskSummary {
            task: index,
            name: spec.name.clone(),
            arm,
            classes: spec.classes,
            description: self
                .spec
                .data
                .family
                .describe_pair(spec.classes[0], spec.classes[1]),
            reached_threshold: self.task.threshold_generation.is_some(),
            generations: self.task.threshold_generation.unwrap_or(self.task.resolved),
            tournaments: self.task.resolved,
            evaluations: self.task.accepted,
            best_train_accuracy: best_accuracy,
            test_accuracy,
            best_pathway: best.layers().to_vec(),
            frozen_modules: self.task.frozen_modules,
            seconds: self.task.clock.elapsed().as_secs_f64(),
        };
        if phase.keep_parameters {
            self.kept = Some(self.store.capture()?);
            self.kept_best = Some(best.clone());
        }
        self.events.push(Progress::TaskFinished(summary.clone()));
        self.summaries.push(summary);
        let next = self.phase + 1;
        if next == self.plan.len() {
            self.state = RunState::Completed;
            self.events.push(Progress::Finished);
            return Ok(());
        }
        self.start_phase(next, &best)
    }

    /// Prepares the parameters for phase `next` and starts its population; `best` is the
    /// best pathway of the phase that just ended.
    fn start_phase(&mut self, next: usize, best: &Pathway) -> Result<(), EngineError> {
        let phase = &self.plan[next];
        match phase.start {
            Start::Built | Start::Continue => {}
            Start::Transfer => {
                self.store.transfer(best, &mut self.rng)?;
            }
            Start::Fresh => {
                let fresh = self.architecture.build(self.spec.seed)?;
                self.store.replace_all(&store::capture(&fresh)?)?;
            }
            Start::Kept => {
                // Cloned, not taken: two controls may start from the same kept parameters.
                let kept = self
                    .kept
                    .as_ref()
                    .expect("the plan marks a phase to keep parameters before any Kept start");
                self.store.replace_all(kept)?;
            }
        }
        let frozen = self.store.net().frozen_ids().len();
        let fixed = if phase.kept_pathway {
            Some(
                self.kept_best
                    .clone()
                    .expect("the plan keeps a pathway before any phase that trains it"),
            )
        } else {
            phase.fixed.clone()
        };
        self.held.clear();
        self.task = TaskRun::new(
            phase.task,
            self.spec.evolution.population,
            &self.architecture.dims,
            frozen,
            fixed,
            &mut self.rng,
        )?;
        self.phase = next;
        self.emit_task_started();
        Ok(())
    }

    pub(super) fn emit_task_started(&mut self) {
        let phase = &self.plan[self.phase];
        let name = &self.spec.tasks[phase.task].name;
        self.events.push(Progress::TaskStarted {
            task: phase.task,
            name: TaskSummary::label_of(name, phase.arm),
            max_generations: self.spec.evolution.max_generations,
        });
    }
}
