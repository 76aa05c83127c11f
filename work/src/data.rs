//! Task datasets ready for training: the two classes of a task, noised, as one matrix, built
//! once per task and shared by every executor of the process.

use crate::job::SupervisedTask;
use ndarray::{Array2, Axis};
use pathnet_envs::data::{BatchSampler, BinaryTaskSpec, DataError, Dataset, Split};
use pathnet_evo::sm_pathnet::{DataTask, ExampleSource};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

/// A minibatch: inputs one example per row, and their labels.
pub type Minibatch = (Array2<f32>, Vec<usize>);

/// One split of a two-class task: inputs one example per row, labels 0 or 1.
#[derive(Debug)]
pub struct TaskData {
    /// Pixel intensities, one example per row, after the task's noise.
    pub inputs: Array2<f32>,
    /// One per row of `inputs`: 0 for the task's first class, 1 for its second.
    pub labels: Vec<usize>,
}

impl TaskData {
    /// Reads `split` of the task's dataset from `dir` and keeps the task's two classes.
    pub fn load(task: &SupervisedTask, dir: &Path, split: Split) -> Result<Self, DataError> {
        let dataset = Dataset::load(dir, split)?;
        let [negative, positive] = task.classes;
        let binary = BinaryTaskSpec::new(negative, positive)
            .with_noise(task.noise)
            .with_seed(task.noise_seed)
            .build(&dataset)?
            .into_dataset();
        let inputs =
            Array2::from_shape_vec((binary.len(), binary.features()), binary.images().to_vec())
                .expect("a Dataset's image buffer is len x features by construction");
        Ok(TaskData {
            inputs,
            labels: binary.labels().iter().map(|&l| usize::from(l)).collect(),
        })
    }

    /// Features of one example.
    pub fn features(&self) -> usize {
        self.inputs.ncols()
    }

    /// `count` minibatches of `batch_size` rows, drawn without replacement epoch by epoch
    /// from `seed`.
    pub fn minibatches(
        &self,
        count: usize,
        batch_size: usize,
        seed: u64,
    ) -> Result<Vec<Minibatch>, DataError> {
        let mut sampler = BatchSampler::new(self.labels.len(), batch_size, seed)?;
        Ok((0..count)
            .map(|_| {
                let indices = sampler.next_indices();
                let labels = indices.iter().map(|&i| self.labels[i]).collect();
                (self.inputs.select(Axis(0), indices), labels)
            })
            .collect())
    }
}

/// Tasks' splits (training, and test for held-out measures), loaded on first use. Cloning shares the cache, so several
/// executors in one process hold each task's examples once.
#[derive(Debug, Clone, Default)]
pub struct TaskDataCache {
    /// Read the IDX files from here instead of the directory the experiment names.
    data_dir: Option<PathBuf>,
    tasks: Arc<Mutex<HashMap<TaskKey, Arc<TaskData>>>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct TaskKey {
    dir: PathBuf,
    classes: [u8; 2],
    noise_bits: u32,
    noise_seed: u64,
    split: Split,
}

impl TaskDataCache {
    /// A cache reading each task's files from the directory its experiment names, or from
    /// `data_dir` when given (for machines that keep the dataset elsewhere).
    pub fn new(data_dir: Option<PathBuf>) -> Self {
        TaskDataCache {
            data_dir,
            tasks: Arc::default(),
        }
    }

    /// The directory the task's files are read from on this machine.
    pub fn dir_for<'a>(&'a self, task: &'a SupervisedTask) -> &'a Path {
        self.data_dir.as_deref().unwrap_or(&task.data_dir)
    }

    /// The training split of `task`, loading it on first use.
    pub fn train(&self, task: &SupervisedTask) -> Result<Arc<TaskData>, DataError> {
        self.split(task, Split::Train)
    }

    /// The test split of `task` (the dataset's `t10k-*` files), loading it on first use.
    pub fn test(&self, task: &SupervisedTask) -> Result<Arc<TaskData>, DataError> {
        self.split(task, Split::Test)
    }

    fn split(&self, task: &SupervisedTask, split: Split) -> Result<Arc<TaskData>, DataError> {
        let dir = self.dir_for(task).to_path_buf();
        let key = TaskKey {
            dir: dir.clone(),
            classes: task.classes,
            noise_bits: task.noise.to_bits(),
            noise_seed: task.noise_seed,
            split,
        };
        // Loading happens under the lock on purpose: two executors asking for the same new
        // task should wait for one load rather than both read 60 000 images.
        let mut tasks = self.tasks.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(data) = tasks.get(&key) {
            return Ok(Arc::clone(data));
        }
        let data = Arc::new(TaskData::load(task, &dir, split)?);
        tasks.insert(key, Arc::clone(&data));
        Ok(data)
    }
}

/// Safe-mutation PathNet's dataset tasks read their examples through the same cache as the
/// PathNet kind: one load per task and process, and the executor's `--data-dir` applies.
impl ExampleSource for TaskDataCache {
    fn minibatches(
        &self,
        task: &DataTask,
        count: usize,
        batch_size: usize,
        seed: u64,
    ) -> Result<Vec<Minibatch>, String> {
        self.train(&supervised(task))
            .and_then(|data| data.minibatches(count, batch_size, seed))
            .map_err(|err| err.to_string())
    }

    /// The task's two classes of the test files, with the task's noise (its pixels drawn
    /// from the same `noise_seed`, as for the training split).
    fn held_out(&self, task: &DataTask) -> Result<Minibatch, String> {
        let data = self
            .test(&supervised(task))
            .map_err(|err| err.to_string())?;
        Ok((data.inputs.clone(), data.labels.clone()))
    }
}

fn supervised(task: &DataTask) -> SupervisedTask {
    SupervisedTask {
        data_dir: task.dir.clone(),
        classes: task.classes,
        noise: task.noise,
        noise_seed: task.noise_seed,
    }
}
