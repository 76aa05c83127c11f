//! What is fixed for a whole safe-mutation PathNet run (the tasks and the super-network),
//! and the fitness of one pathway: on an environment, its greedy policy's mean episode
//! return; on a two-class dataset task, its accuracy on a fixed, seeded evaluation batch.
//! In hybrid mode a pathway is also trained by `T` minibatches of SGD before it is measured.
//!
//! The shared modules are `Linear + ReLU` over flat observations, or, for environments that
//! observe channel-first `10 x 10` grids (MinAtar), `Conv2d + ReLU` as PathNet-A3C builds them
//! ([`ConvModules`]).

use crate::EvoError;
use crate::task::{BROKEN_FITNESS, evenly_spaced};
use ndarray::{Array2, ArrayD, Axis, IxDyn, s};
use pathnet_envs::minatar::{GRID, grid_channels};
use pathnet_envs::{Action, Env, Space};
use pathnet_nn::pathnet::build::{ConvModules, LinearModules, conv, linear};
use pathnet_nn::pathnet::{Batch, ModuleOptimizers, PathNet, PathNetDims, Pathway};
use pathnet_nn::{Conv2dSpec, Sgd, SgdConfig};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Where a task's fitness comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum PathwayTask {
    /// An environment id: the greedy policy's mean episode return.
    Env(String),
    /// Two classes of a dataset: accuracy on a fixed evaluation batch.
    Data(DataTask),
}

/// A two-class task of a dataset of the MNIST family (28 x 28 images), as the PathNet kind
/// trains on: the first class becomes label 0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataTask {
    /// Directory with the IDX files, as the experiment names it (an executor may read them
    /// from elsewhere on its machine).
    pub dir: PathBuf,
    /// The two dataset labels to tell apart; the first becomes label 0, the second 1.
    pub classes: [u8; 2],
    /// Fraction of pixels replaced by salt-and-pepper noise, in `[0, 1]` (default 0).
    #[serde(default)]
    pub noise: f32,
    /// Seeds which pixels the noise replaces.
    #[serde(default)]
    pub noise_seed: u64,
}

/// Features of a dataset task's example: the MNIST family's 28 x 28 pixels. Fixed, so the
/// coordinator sizes the super-network without reading the dataset; an executor refuses
/// data of another width.
pub const DATA_FEATURES: usize = 28 * 28;

impl PathwayTask {
    /// How summaries and monitoring name the task.
    pub fn name(&self) -> String {
        match self {
            PathwayTask::Env(id) => id.clone(),
            PathwayTask::Data(d) => {
                let set = d
                    .dir
                    .file_name()
                    .map_or_else(|| "data".into(), |n| n.to_string_lossy().into_owned());
                format!("{set} {} vs {}", d.classes[0], d.classes[1])
            }
        }
    }
}

/// Examples one per row, and their labels (0 or 1).
pub type Examples = (Array2<f32>, Vec<usize>);

/// A dataset task's examples, drawn by whoever runs the evaluation (the executor's loader
/// reads each task's files once per process). Implementations must return the same batches
/// for the same arguments on every machine: rebuilds depend on it.
pub trait ExampleSource: Send + Sync {
    /// `count` minibatches of `batch_size` examples (one per row) and their labels (0 or 1),
    /// drawn from `seed`.
    fn minibatches(
        &self,
        task: &DataTask,
        count: usize,
        batch_size: usize,
        seed: u64,
    ) -> Result<Vec<Examples>, String>;

    /// Every example of the task's held-out split (for the MNIST family, the two classes of
    /// the test files), which no evaluation during a run sees; an error where the source
    /// has none.
    fn held_out(&self, task: &DataTask) -> Result<Examples, String> {
        Err(format!(
            "{}: this example source has no held-out split",
            task.dir.display()
        ))
    }
}

/// Hybrid mode: every evaluated genome is first trained by `minibatches` (the paper's `T`)
/// steps of plain SGD on its pathway's unfrozen modules and head; the minibatches are drawn
/// from a seed derived from the genome's last seed, so the training is part of the genome's
/// rebuild and never travels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hybrid {
    /// SGD steps per evaluation, the paper's `T`.
    pub minibatches: usize,
    /// Examples per minibatch.
    pub batch_size: usize,
    /// Plain SGD's step size.
    pub learning_rate: f64,
}

/// Convolutional shared modules: every module is `Conv2d(.., filters, kernel, stride,
/// padding) + ReLU` over channel-first `10 x 10` grids, the same in every layer, and each
/// task's head is `Flatten + Linear`, as PathNet-A3C builds them for MinAtar. The first layer
/// reads the most channels any task observes; a task with fewer gets zero channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConvLayers {
    /// Output channels of every module.
    pub filters: usize,
    /// Side of the square kernel, in grid cells.
    pub kernel: usize,
    /// Step of the kernel on both axes.
    pub stride: usize,
    /// Zero cells added on every side of a layer's input.
    pub padding: usize,
}

/// The super-network and the tasks its pathways are evaluated on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathwayProblem {
    /// The tasks, in the order they are learned.
    pub tasks: Vec<PathwayTask>,
    /// Shared layers `L`.
    pub layers: usize,
    /// Modules per layer `M`.
    pub modules: usize,
    /// Active modules per layer in a pathway, at most `N`.
    pub max_active: usize,
    /// Units of every `Linear + ReLU` module (unused with `conv`).
    pub units: usize,
    /// Convolutional modules instead of linear ones (every task must observe grids).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conv: Option<ConvLayers>,
    /// Seeds the super-network's base weights (modules and heads).
    pub base_seed: u64,
    /// Episodes per evaluation; episode `e` resets its environment with seed
    /// `episode_seed + e`, so every genome of a task meets the same episodes.
    pub episodes: usize,
    /// The first episode's reset seed; also seeds dataset tasks' evaluation batches.
    pub episode_seed: u64,
    /// The most observations kept from an evaluation for the safe-mutation operators.
    pub max_experience: usize,
    /// Examples in a dataset task's evaluation batch, drawn once per task from
    /// `episode_seed + task`.
    #[serde(default = "default_eval_examples")]
    pub eval_examples: usize,
    /// Train every genome by SGD before measuring it (dataset tasks only).
    #[serde(default)]
    pub hybrid: Option<Hybrid>,
}

fn default_eval_examples() -> usize {
    256
}

/// What an environment looks like to the super-network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnvShape {
    /// Width of its flat observations (before padding to the widest task's).
    pub observations: usize,
    /// Discrete actions: the head's outputs.
    pub actions: usize,
    /// The action the first output stands for (Gymnasium's `Discrete.start`).
    pub first_action: i64,
}

/// Bounds that keep a spec from asking for more than an evaluation can hold.
const MAX_SIZE: usize = 4096;

impl PathwayProblem {
    /// Checks every field, bounded so that a spec from the network cannot ask for more than
    /// an evaluation can hold; the error names the field.
    pub fn validate(&self) -> Result<(), EvoError> {
        if self.tasks.is_empty() {
            return Err(EvoError::invalid("tasks", "[]", "name at least one task"));
        }
        for (field, value) in [
            ("layers", self.layers),
            ("modules", self.modules),
            ("max_active", self.max_active),
            ("units", self.units),
            ("episodes", self.episodes),
            ("experience", self.max_experience),
            ("eval_examples", self.eval_examples),
        ] {
            if value == 0 || value > MAX_SIZE {
                return Err(EvoError::invalid(
                    field,
                    value,
                    format!("must be between 1 and {MAX_SIZE}"),
                ));
            }
        }
        for task in &self.tasks {
            if let PathwayTask::Data(d) = task {
                let [a, b] = d.classes;
                if a == b || usize::from(a.max(b)) >= pathnet_envs::data::MNIST_NUM_CLASSES {
                    return Err(EvoError::invalid(
                        "classes",
                        format!("{:?}", d.classes),
                        "two different classes of the ten",
                    ));
                }
                if !(0.0..=1.0).contains(&d.noise) {
                    return Err(EvoError::invalid("noise", d.noise, "must be in [0, 1]"));
                }
            }
        }
        if let Some(h) = &self.hybrid {
            for (field, value) in [
                ("hybrid.minibatches", h.minibatches),
                ("hybrid.batch_size", h.batch_size),
            ] {
                if value == 0 || value > MAX_SIZE {
                    return Err(EvoError::invalid(
                        field,
                        value,
                        format!("must be between 1 and {MAX_SIZE}"),
                    ));
                }
            }
            if !(h.learning_rate.is_finite() && h.learning_rate > 0.0) {
                return Err(EvoError::invalid(
                    "hybrid.learning_rate",
                    h.learning_rate,
                    "must be finite and positive",
                ));
            }
            if let Some(PathwayTask::Env(id)) =
                self.tasks.iter().find(|t| matches!(t, PathwayTask::Env(_)))
            {
                return Err(EvoError::invalid(
                    "hybrid",
                    id,
                    "SGD needs labelled examples: every task must be a dataset task",
                ));
            }
        }
        self.dims()?;
        self.shapes()?;
        self.validate_conv()
    }

    /// Conv modules: sizes in bounds, a kernel that fits every layer's maps, and tasks that
    /// all observe channel-first grids.
    fn validate_conv(&self) -> Result<(), EvoError> {
        let Some(c) = self.conv else {
            return Ok(());
        };
        for (field, value, least) in [
            ("conv_filters", c.filters, 1),
            ("conv_kernel", c.kernel, 1),
            ("conv_stride", c.stride, 1),
            ("conv_padding", c.padding, 0),
        ] {
            if value < least || value > MAX_SIZE {
                return Err(EvoError::invalid(
                    field,
                    value,
                    format!("must be between {least} and {MAX_SIZE}"),
                ));
            }
        }
        self.grid_output(&c)?;
        for (task, shape) in self.tasks.iter().zip(self.shapes()?) {
            if let PathwayTask::Env(_) = task
                && grid_channels(shape.observations).is_some()
            {
                continue;
            }
            return Err(EvoError::invalid(
                "module_kind",
                "conv",
                format!(
                    "conv modules read channel-first {GRID}x{GRID} grids (MinAtar); task {} \
                     observes {} flat values",
                    task.name(),
                    shape.observations
                ),
            ));
        }
        Ok(())
    }

    /// The maps' height and width after every layer of `c` on a grid; the error names the
    /// first layer whose input is smaller than the kernel.
    fn grid_output(&self, c: &ConvLayers) -> Result<(usize, usize), EvoError> {
        let spec = Conv2dSpec {
            in_channels: 1,
            out_channels: c.filters,
            kernel: c.kernel,
            stride: c.stride,
            padding: c.padding,
        };
        let (mut height, mut width) = (GRID, GRID);
        for layer in 0..self.layers {
            (height, width) = spec.output_size(height, width).ok_or_else(|| {
                EvoError::invalid(
                    "conv_kernel",
                    c.kernel,
                    format!(
                        "layer {layer} of {} gets {height}x{width} maps (padding {}, stride \
                         {}): use a smaller kernel or stride, more conv_padding or fewer layers",
                        self.layers, c.padding, c.stride
                    ),
                )
            })?;
        }
        Ok((height, width))
    }

    /// The super-network's `L`, `M` and `N`.
    ///
    /// # Errors
    /// `max_active` (or another size) that does not fit the others.
    pub fn dims(&self) -> Result<PathNetDims, EvoError> {
        PathNetDims::new(self.layers, self.modules, self.max_active).map_err(|err| {
            EvoError::invalid(
                "max_active",
                self.max_active,
                format!("with {} modules per layer: {err}", self.modules),
            )
        })
    }

    /// Every task's observation width and action count; only flat observations and discrete
    /// actions can drive a pathway's greedy policy. A dataset task has two "actions", its
    /// classes.
    pub fn shapes(&self) -> Result<Vec<EnvShape>, EvoError> {
        self.tasks
            .iter()
            .map(|task| match task {
                PathwayTask::Env(id) => env_shape(id),
                PathwayTask::Data(_) => Ok(EnvShape {
                    observations: DATA_FEATURES,
                    actions: 2,
                    first_action: 0,
                }),
            })
            .collect()
    }

    /// The width of the first layer's input: the widest observation. Narrower observations
    /// are padded with zeros, so every task can reuse every module.
    pub fn inputs(&self) -> Result<usize, EvoError> {
        Ok(self
            .shapes()?
            .iter()
            .map(|s| s.observations)
            .max()
            .unwrap_or(1))
    }

    /// The shape of one example as the first layer reads it: `[inputs]` for linear modules,
    /// `[channels, 10, 10]` for conv modules (the padded flat observation, channel first).
    pub fn input_shape(&self) -> Result<Vec<usize>, EvoError> {
        let inputs = self.inputs()?;
        Ok(match self.conv {
            None => vec![inputs],
            Some(_) => vec![grid_channels(inputs).unwrap_or(1), GRID, GRID],
        })
    }

    /// The base super-network: every module and head drawn from `base_seed`.
    pub fn base_network(&self) -> Result<PathNet<f32>, EvoError> {
        let heads: Vec<usize> = self.shapes()?.iter().map(|s| s.actions).collect();
        let dims = self.dims()?;
        let net = match self.conv {
            None => {
                let modules = LinearModules {
                    inputs: self.inputs()?,
                    units: self.units,
                };
                linear::<f32>(dims, modules, &heads, self.base_seed)?
            }
            Some(c) => {
                let modules = ConvModules {
                    channels: self.input_shape()?[0],
                    height: GRID,
                    width: GRID,
                    filters: c.filters,
                    kernel: c.kernel,
                    stride: c.stride,
                    padding: c.padding,
                };
                conv::<f32>(dims, modules, &heads, self.base_seed)?
            }
        };
        Ok(net)
    }

    fn task(&self, task: usize) -> Result<&PathwayTask, EvoError> {
        self.tasks
            .get(task)
            .ok_or_else(|| EvoError::invalid("task", task, "no such task"))
    }

    /// Evaluates `pathway` with task `task`'s head: on that task's episodes, or on its
    /// evaluation batch (drawn from `examples`).
    pub fn evaluate(
        &self,
        net: &PathNet<f32>,
        pathway: &Pathway,
        task: usize,
        examples: Option<&dyn ExampleSource>,
    ) -> Result<Evaluation, EvoError> {
        match self.task(task)? {
            PathwayTask::Env(id) => self.evaluate_env(net, pathway, task, id),
            PathwayTask::Data(data) => {
                let (inputs, labels) = self
                    .draw(examples, data, 1, self.eval_examples, self.eval_seed(task))?
                    .pop()
                    .expect("one batch asked for");
                let report = net.evaluate(
                    pathway,
                    task,
                    [Batch {
                        inputs: inputs.view().into_dyn(),
                        labels: &labels,
                    }],
                )?;
                let keep = evenly_spaced(inputs.nrows(), self.max_experience);
                let experience = inputs.select(Axis(0), &keep).into_dyn();
                Ok(Evaluation {
                    fitness: report.accuracy(),
                    steps: report.examples,
                    experience,
                })
            }
        }
    }

    /// The accuracy of `pathway` with task `task`'s head on the task's whole held-out split
    /// (see [`ExampleSource::held_out`]), examples no evaluation of the run has seen;
    /// `None` for an environment task, whose fitness has no held-out counterpart.
    pub fn held_out_accuracy(
        &self,
        net: &PathNet<f32>,
        pathway: &Pathway,
        task: usize,
        examples: Option<&dyn ExampleSource>,
    ) -> Result<Option<f64>, EvoError> {
        let PathwayTask::Data(data) = self.task(task)? else {
            return Ok(None);
        };
        let source = examples.ok_or_else(|| {
            EvoError::Data(format!(
                "{}: this executor has no dataset loader",
                data.dir.display()
            ))
        })?;
        let (inputs, labels) = source
            .held_out(data)
            .map_err(|err| EvoError::Data(format!("{}: {err}", data.dir.display())))?;
        let (inputs, labels) = pad(data, self.inputs()?, inputs, labels)?;
        if labels.is_empty() {
            return Err(EvoError::Data(format!(
                "{}: the held-out split has no example of classes {:?}",
                data.dir.display(),
                data.classes
            )));
        }
        let report = net.evaluate(
            pathway,
            task,
            [Batch {
                inputs: inputs.view().into_dyn(),
                labels: &labels,
            }],
        )?;
        Ok(Some(report.accuracy()))
    }

    /// The seed of task `task`'s evaluation batch: fixed for the run, so every genome of a
    /// task is measured on the same examples.
    fn eval_seed(&self, task: usize) -> u64 {
        self.episode_seed.wrapping_add(task as u64)
    }

    /// Hybrid mode: trains `pathway` on task `task` by the mode's SGD minibatches drawn from
    /// `seed` (see [`Hybrid`]); nothing without hybrid mode.
    pub fn train(
        &self,
        net: &mut PathNet<f32>,
        pathway: &Pathway,
        task: usize,
        seed: u64,
        examples: Option<&dyn ExampleSource>,
    ) -> Result<(), EvoError> {
        let Some(h) = self.hybrid else {
            return Ok(());
        };
        let PathwayTask::Data(data) = self.task(task)? else {
            return Err(EvoError::invalid(
                "hybrid",
                self.task(task)?.name(),
                "SGD needs a dataset task",
            ));
        };
        let batches = self.draw(examples, data, h.minibatches, h.batch_size, seed)?;
        let sgd = Sgd::<f32>::new(SgdConfig {
            lr: h.learning_rate,
            momentum: 0.0,
        })
        .map_err(|err| {
            EvoError::invalid("hybrid.learning_rate", h.learning_rate, err.to_string())
        })?;
        let mut optimizers = ModuleOptimizers::cloning(sgd);
        net.train_pathway(
            pathway,
            task,
            batches.iter().map(|(inputs, labels)| Batch {
                inputs: inputs.view().into_dyn(),
                labels,
            }),
            &mut optimizers,
        )?;
        Ok(())
    }

    /// Minibatches of a dataset task, padded with zero columns to the super-network's input.
    fn draw(
        &self,
        examples: Option<&dyn ExampleSource>,
        data: &DataTask,
        count: usize,
        batch_size: usize,
        seed: u64,
    ) -> Result<Vec<Examples>, EvoError> {
        let examples = examples.ok_or_else(|| {
            EvoError::Data(format!(
                "{}: this executor has no dataset loader",
                data.dir.display()
            ))
        })?;
        let batches = examples
            .minibatches(data, count, batch_size, seed)
            .map_err(|err| EvoError::Data(format!("{}: {err}", data.dir.display())))?;
        let width = self.inputs()?;
        batches
            .into_iter()
            .map(|(inputs, labels)| pad(data, width, inputs, labels))
            .collect()
    }

    fn evaluate_env(
        &self,
        net: &PathNet<f32>,
        pathway: &Pathway,
        task: usize,
        id: &str,
    ) -> Result<Evaluation, EvoError> {
        let inputs = self.inputs()?;
        let input_shape = self.input_shape()?;
        let one: Vec<usize> = std::iter::once(1)
            .chain(input_shape.iter().copied())
            .collect();
        let first_action = env_shape(id)?.first_action;
        let mut env = pathnet_envs::make(id).map_err(|err| EvoError::Env(err.to_string()))?;
        let mut seen: Vec<f32> = Vec::new();
        let mut total = 0.0;
        let mut steps = 0usize;
        'episodes: for e in 0..self.episodes {
            let (obs, _) = env
                .reset(Some(self.episode_seed.wrapping_add(e as u64)))
                .map_err(|err| EvoError::Env(err.to_string()))?;
            let mut obs = obs.to_vec();
            loop {
                let row = seen.len();
                seen.extend_from_slice(&obs);
                seen.resize(row + inputs, 0.0);
                let input = ArrayD::from_shape_vec(IxDyn(&one), seen[row..].to_vec())
                    .expect("one padded observation");
                let out = net.forward(pathway, task, input.view())?.output;
                let Some(action) = greedy(out.view().index_axis(Axis(0), 0).iter()) else {
                    total = BROKEN_FITNESS * self.episodes as f64;
                    break 'episodes;
                };
                let step = env
                    .step(&Action::Discrete(first_action + action as i64))
                    .map_err(|err| EvoError::Env(err.to_string()))?;
                total += step.reward;
                steps += 1;
                if step.terminated || step.truncated {
                    break;
                }
                obs = step.obs.to_vec();
            }
        }
        let rows = seen.len() / inputs;
        let keep = evenly_spaced(rows, self.max_experience);
        let mut experience = Array2::<f32>::zeros((keep.len(), inputs));
        for (out, &row) in keep.iter().enumerate() {
            experience.row_mut(out).assign(&ndarray::ArrayView1::from(
                &seen[row * inputs..(row + 1) * inputs],
            ));
        }
        // Conv modules read each kept observation as its grid (a reshape, channel first).
        let shape: Vec<usize> = std::iter::once(keep.len()).chain(input_shape).collect();
        let experience = experience
            .into_shape_with_order(IxDyn(&shape))
            .expect("rows of the first layer's input");
        Ok(Evaluation {
            fitness: total / self.episodes as f64,
            steps,
            experience,
        })
    }
}

/// Checks a dataset task's examples are 28 x 28 images and pads them with zero columns to
/// the super-network's input `width`.
fn pad(
    data: &DataTask,
    width: usize,
    inputs: Array2<f32>,
    labels: Vec<usize>,
) -> Result<Examples, EvoError> {
    if inputs.ncols() != DATA_FEATURES {
        return Err(EvoError::Data(format!(
            "{}: examples have {} features, expected {DATA_FEATURES} (28 x 28 images)",
            data.dir.display(),
            inputs.ncols()
        )));
    }
    if inputs.ncols() == width {
        return Ok((inputs, labels));
    }
    let mut padded = Array2::<f32>::zeros((inputs.nrows(), width));
    padded.slice_mut(s![.., ..DATA_FEATURES]).assign(&inputs);
    Ok((padded, labels))
}

/// One evaluation of a pathway.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// Mean return per episode.
    pub fitness: f64,
    /// Environment steps taken over all episodes.
    pub steps: usize,
    /// Observations seen (batch axis first), for the safe mutations of its children.
    pub experience: ArrayD<f32>,
}

/// The first index of the largest output; `None` when an output is not finite.
fn greedy<'a>(outputs: impl Iterator<Item = &'a f32>) -> Option<usize> {
    let mut best: Option<(usize, f32)> = None;
    for (i, &v) in outputs.enumerate() {
        if !v.is_finite() {
            return None;
        }
        if best.is_none_or(|(_, b)| v > b) {
            best = Some((i, v));
        }
    }
    best.map(|(i, _)| i)
}

fn env_shape(id: &str) -> Result<EnvShape, EvoError> {
    let env = pathnet_envs::make(id)
        .map_err(|err| EvoError::invalid("envs", id, format!("no such environment: {err}")))?;
    let (actions, first_action) = match env.action_space() {
        Space::Discrete(d) if d.n > 0 => (d.n as usize, d.start),
        other => {
            return Err(EvoError::invalid(
                "envs",
                id,
                format!("its actions are {other}: a pathway's greedy policy needs discrete ones"),
            ));
        }
    };
    Ok(EnvShape {
        observations: env.observation_space().dim(),
        actions,
        first_action,
    })
}
