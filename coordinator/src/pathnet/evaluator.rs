//! Measuring a task's best pathway on held-out data when the task ends.

use super::task_seed;
use crate::spec::ExperimentSpec;
use pathnet_envs::data::{DataError, Split};
use pathnet_nn::pathnet::{PathNet, PathNetError, Pathway, batches};
use pathnet_work::{SupervisedTask, TaskData};

/// Measures a pathway on a task's held-out data. The engine calls it when a task ends,
/// before the parameters are re-initialised for the next task.
pub trait TestEvaluator: Send {
    /// The fraction of task `task`'s held-out examples that `pathway` of `net` classifies
    /// correctly, in [0, 1].
    fn test_accuracy(
        &mut self,
        net: &PathNet<f32>,
        pathway: &Pathway,
        task: usize,
    ) -> Result<f64, PathNetError>;
}

/// Salt of the test split's noise seed, so train and test never share a noise pattern.
const TEST_NOISE_SALT: u64 = 0x5eed_7e57;

/// The test split of every task of an experiment, loaded up front so that a missing file
/// is reported before any work starts.
pub struct TestSplit {
    tasks: Vec<TaskData>,
}

impl TestSplit {
    /// Reads the test split of every task of `spec`, noised as its training split is but
    /// with another noise pattern.
    pub fn load(spec: &ExperimentSpec) -> Result<Self, DataError> {
        let tasks = spec
            .tasks
            .iter()
            .enumerate()
            .map(|(index, task)| {
                let task = SupervisedTask {
                    data_dir: spec.data.dir.clone(),
                    classes: task.classes,
                    noise: spec.data.noise as f32,
                    noise_seed: task_seed(spec, index) ^ TEST_NOISE_SALT,
                };
                TaskData::load(&task, &task.data_dir, Split::Test)
            })
            .collect::<Result<_, _>>()?;
        Ok(TestSplit { tasks })
    }

    /// Features of one example (the same for every task of a spec: one dataset).
    pub fn features(&self) -> usize {
        self.tasks.first().map_or(0, TaskData::features)
    }
}

impl TestEvaluator for TestSplit {
    fn test_accuracy(
        &mut self,
        net: &PathNet<f32>,
        pathway: &Pathway,
        task: usize,
    ) -> Result<f64, PathNetError> {
        let data = self.tasks.get(task).ok_or(PathNetError::UnknownTask {
            task,
            tasks: self.tasks.len(),
        })?;
        let report = net.evaluate(
            pathway,
            task,
            batches(data.inputs.view().into_dyn(), &data.labels, 500)?,
        )?;
        Ok(report.accuracy())
    }
}
