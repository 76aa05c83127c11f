//! The PathNet actor-critic: nn's [`PathNet`] super-network of `Linear + ReLU` or
//! `Conv2d + ReLU` modules ([`ModuleSpec`]) with one head per task, `Linear(features,
//! actions + 1)` (after a `Flatten` for convolutions), whose outputs are the policy logits
//! followed by the value.
//!
//! Its parameters travel as ONE ordered list of tensors, every module's in
//! [`PathNet::module_ids`] order (shared layers, then the heads), so that A3C's
//! [`crate::SharedParameters`] and [`crate::ParameterServer`] serve it unchanged. A pathway's
//! gradients fill that list with zeros everywhere except its active, unfrozen modules and
//! its task's head.
//!
//! Observations narrower than the widest task are padded with zeros: the first layer's
//! modules see the widest width, and the weights of a task's padding inputs get no gradient
//! from that task (their inputs are 0). Convolutional modules read channel-first
//! `channels x 10 x 10` grids (MinAtar's layout here), so padding the flat observation at
//! its end adds whole zero channels: a task with fewer channels than the widest feeds zeros
//! to the first layer's extra input channels.

use super::config::TaskShape;
use super::error::PathNetA3cError;
use crate::error::RlError;
use crate::loss::{Actions, LossCoefs, LossParts, Outputs, actor_critic_loss};
use ndarray::{
    Array2, ArrayD, ArrayView1, ArrayView2, ArrayViewD, Axis, CowArray, Ix2, IxDyn, Slice,
};
use pathnet_envs::minatar::GRID;
use pathnet_nn::pathnet::build::{self, ConvModules, LinearModules};
use pathnet_nn::pathnet::{ModuleGrads, ModuleId, PathNet, PathNetDims, PathNetError, Pathway};
use pathnet_nn::{Conv2dSpec, Float};
use std::ops::Range;

/// The policy logits start this much smaller than the head's initialiser draws them, so the
/// first policy of every task is close to uniform (as [`crate::ActorCritic`] does).
const POLICY_INIT_SCALE: f64 = 0.01;

/// The kind and size of the shared modules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModuleSpec {
    /// `Linear(in, units) + ReLU` over flat observations.
    Linear {
        /// Output width of every module, at least 1.
        units: usize,
    },
    /// `Conv2d + ReLU` over channel-first `GRID x GRID` grids.
    Conv(ConvSpec),
}

/// The convolution of every conv module: `filters` output channels, a square `kernel`, and
/// the same `stride` and zero `padding` on both axes, in every layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvSpec {
    /// Output channels of every module.
    pub filters: usize,
    /// Side of the square kernel, in grid cells.
    pub kernel: usize,
    /// Step of the kernel on both axes.
    pub stride: usize,
    /// Zero cells added on every side of a layer's input.
    pub padding: usize,
}

impl ConvSpec {
    /// Height and width of the feature maps after `layers` layers on a `GRID x GRID` grid,
    /// or the first layer whose input is smaller than the kernel, with that input's size.
    pub fn output_grid(&self, layers: usize) -> Result<(usize, usize), (usize, usize, usize)> {
        // The channel counts do not change the size of the maps.
        let spec = Conv2dSpec {
            in_channels: 1,
            out_channels: self.filters,
            kernel: self.kernel,
            stride: self.stride,
            padding: self.padding,
        };
        let (mut height, mut width) = (GRID, GRID);
        for layer in 0..layers {
            (height, width) = spec
                .output_size(height, width)
                .ok_or((layer, height, width))?;
        }
        Ok((height, width))
    }
}

pub use pathnet_envs::minatar::grid_channels;

/// The PathNet super-network as an actor-critic: `L` layers of `M` shared modules plus one
/// head per task (its actions' logits and the value), with all parameters in one ordered
/// list so that the A3C parameter store serves it unchanged.
pub struct PathNetActorCritic<F: Float> {
    net: PathNet<F>,
    tasks: Vec<TaskShape>,
    input_dim: usize,
    /// `starts[k]..starts[k + 1]` are the tensors of the `k`-th module in parameter order.
    starts: Vec<usize>,
    shapes: Vec<Vec<usize>>,
}

impl<F: Float> PathNetActorCritic<F> {
    /// A super-network of `dims` modules as `modules` says, with a head per task, every
    /// parameter drawn from `seed`. Conv modules need every task to observe a grid (see
    /// [`grid_channels`]); the first layer takes the most channels any task has.
    pub fn new(
        dims: PathNetDims,
        modules: ModuleSpec,
        tasks: Vec<TaskShape>,
        seed: u64,
    ) -> Result<Self, PathNetA3cError> {
        let input_dim = tasks.iter().map(|t| t.obs_dim).max().unwrap_or(0);
        let outputs: Vec<usize> = tasks.iter().map(|t| t.actions + 1).collect();
        let net = match modules {
            ModuleSpec::Linear { units } => {
                let modules = LinearModules {
                    inputs: input_dim,
                    units,
                };
                build::linear(dims, modules, &outputs, seed)?
            }
            ModuleSpec::Conv(conv) => {
                check_grids(&tasks)?;
                let modules = ConvModules {
                    channels: grid_channels(input_dim).unwrap_or(0),
                    height: GRID,
                    width: GRID,
                    filters: conv.filters,
                    kernel: conv.kernel,
                    stride: conv.stride,
                    padding: conv.padding,
                };
                build::conv(dims, modules, &outputs, seed)?
            }
        };
        let mut starts = vec![0];
        let mut shapes = Vec::new();
        for id in net.module_ids() {
            let params = net.params(id)?;
            shapes.extend(params.iter().map(|p| p.shape().to_vec()));
            starts.push(shapes.len());
        }
        let mut this = PathNetActorCritic {
            net,
            tasks,
            input_dim,
            starts,
            shapes,
        };
        for task in 0..this.tasks.len() {
            this.shrink_policy(task)?;
        }
        Ok(this)
    }

    /// The underlying super-network.
    pub fn net(&self) -> &PathNet<F> {
        &self.net
    }

    /// Its `L`, `M` and `N`.
    pub fn dims(&self) -> &PathNetDims {
        self.net.dims()
    }

    /// The tasks it has a head for, in task order.
    pub fn tasks(&self) -> &[TaskShape] {
        &self.tasks
    }

    /// Width of the padded (flat) observations every task feeds in; conv modules see them
    /// as [`PathNet::input_shape`].
    pub fn input_dim(&self) -> usize {
        self.input_dim
    }

    /// Every parameter tensor, in parameter order.
    pub fn params(&self) -> Vec<ArrayViewD<'_, F>> {
        self.net
            .module_ids()
            .flat_map(|id| self.net.params(id).expect("ids come from the network"))
            .collect()
    }

    /// Every parameter tensor's shape, in parameter order.
    pub fn param_shapes(&self) -> &[Vec<usize>] {
        &self.shapes
    }

    /// `layer{l}.module{m}.weight`, `head{t}.bias`, … in parameter order.
    pub fn param_names(&self) -> Vec<String> {
        let mut names = Vec::with_capacity(self.shapes.len());
        for id in self.net.module_ids() {
            let prefix = if self.net.is_head(id) {
                format!("head{}", id.index)
            } else {
                format!("layer{}.module{}", id.layer, id.index)
            };
            let count = self.tensors(id).len();
            for k in 0..count {
                let name = match (count, k) {
                    (2, 0) => "weight".to_string(),
                    (2, 1) => "bias".to_string(),
                    _ => k.to_string(),
                };
                names.push(format!("{prefix}.{name}"));
            }
        }
        names
    }

    /// Where module `id`'s tensors sit in the parameter list.
    ///
    /// # Panics
    /// If `id` is not a module of this network.
    pub fn tensors(&self, id: ModuleId) -> Range<usize> {
        let dims = self.net.dims();
        let k = if self.net.is_head(id) {
            dims.layers * dims.modules + id.index
        } else {
            assert!(id.index < dims.modules, "module {id} out of range");
            id.layer * dims.modules + id.index
        };
        self.starts[k]..self.starts[k + 1]
    }

    /// Copies the given modules' tensors out of a full parameter list (e.g. just fetched).
    pub fn load(
        &mut self,
        params: &[ArrayD<F>],
        ids: impl IntoIterator<Item = ModuleId>,
    ) -> Result<(), PathNetA3cError> {
        if params.len() != self.shapes.len() {
            return Err(RlError::TensorCount {
                what: "PathNet parameter list",
                expected: self.shapes.len(),
                got: params.len(),
            }
            .into());
        }
        for id in ids {
            self.net.set_params(id, &params[self.tensors(id)])?;
        }
        Ok(())
    }

    /// Copies every module's tensors out of a full parameter list.
    pub fn load_all(&mut self, params: &[ArrayD<F>]) -> Result<(), PathNetA3cError> {
        let ids: Vec<ModuleId> = self.net.module_ids().collect();
        self.load(params, ids)
    }

    /// The modules a pathway of `task` reads and trains: its shared modules, then the head.
    pub fn pathway_modules(
        &self,
        pathway: &Pathway,
        task: usize,
    ) -> Result<Vec<ModuleId>, PathNetA3cError> {
        pathway.validate(self.net.dims())?;
        let head = self.net.head_id(task)?;
        Ok(pathway.module_ids().chain(std::iter::once(head)).collect())
    }

    /// Freezes the modules `ids` (shared or heads): training and re-initialisation leave them
    /// unchanged; forward passes still use them.
    ///
    /// # Errors
    /// An id that is not a module of this network.
    pub fn freeze(&mut self, ids: &[ModuleId]) -> Result<(), PathNetA3cError> {
        for &id in ids {
            self.net.freeze(id)?;
        }
        Ok(())
    }

    /// The frozen modules, in module order.
    pub fn frozen_ids(&self) -> Vec<ModuleId> {
        self.net.frozen_ids()
    }

    /// The transfer step: freezes `best`'s shared modules and draws every other parameter
    /// afresh from `rng` (heads included). Returns the re-initialised modules.
    pub fn transfer(
        &mut self,
        best: &Pathway,
        rng: &mut dyn rand::RngCore,
    ) -> Result<Vec<ModuleId>, PathNetA3cError> {
        self.net.freeze_pathway(best)?;
        let redrawn = self.net.reinit_unfrozen(rng);
        for id in &redrawn {
            if self.net.is_head(*id) {
                self.shrink_policy(id.index)?;
            }
        }
        Ok(redrawn)
    }

    /// The policy logits and the value of one padded observation.
    pub fn act(
        &self,
        pathway: &Pathway,
        task: usize,
        obs: &[F],
    ) -> Result<(Vec<F>, F), PathNetA3cError> {
        let input = ArrayView2::from_shape((1, obs.len()), obs).expect("one row");
        let out = self
            .net
            .forward(pathway, task, self.batch(&input)?.view())?
            .output;
        let mut logits: Vec<F> = out.iter().copied().collect();
        let value = logits.pop().expect("a head has the value output");
        Ok((logits, value))
    }

    /// The actor-critic loss of one segment (`obs` padded, `[T, input_dim]`) played by
    /// `pathway` on `task`, and its gradients as a full parameter list.
    pub fn loss_and_grads(
        &self,
        pathway: &Pathway,
        task: usize,
        obs: ArrayView2<'_, F>,
        actions: &[usize],
        returns: ArrayView1<'_, F>,
        coefs: LossCoefs,
    ) -> Result<(LossParts, Vec<ArrayD<F>>), PathNetA3cError> {
        let pass = self.net.forward(pathway, task, self.batch(&obs)?.view())?;
        let out = pass
            .output
            .view()
            .into_dimensionality::<Ix2>()
            .expect("a linear head's output is [batch, outputs]");
        let (head, values) = split_outputs(out);
        let outputs = Outputs {
            head,
            log_std: None,
            values,
        };
        let (parts, grads) = actor_critic_loss(outputs, Actions::Discrete(actions), returns, coefs);
        let mut d_out = Array2::zeros(out.raw_dim());
        let actions = head.ncols();
        let (mut d_head, mut d_value) = d_out.view_mut().split_at(Axis(1), actions);
        d_head.assign(&grads.head);
        d_value.column_mut(0).assign(&grads.values);
        let module_grads = self
            .net
            .backward_params(&pass.cache, d_out.view().into_dyn())?;
        Ok((parts, self.scatter(module_grads)))
    }

    /// Padded observations (`[batch, input_dim]`) in the shape the super-network takes: as
    /// they are for linear modules, `[batch, channels, GRID, GRID]` for conv modules (a
    /// reshape, no copy, when `obs` is in standard layout).
    fn batch<'a>(
        &self,
        obs: &'a ArrayView2<'_, F>,
    ) -> Result<CowArray<'a, F, IxDyn>, PathNetError> {
        let mut shape = vec![obs.nrows()];
        shape.extend_from_slice(self.net.input_shape());
        obs.to_shape(shape).map_err(|_| PathNetError::BatchShape {
            what: "observations",
            expected: format!("[batch, {}]", self.input_dim),
            actual: obs.shape().to_vec(),
        })
    }

    /// A full gradient list: the given modules' gradients in place, zeros elsewhere.
    fn scatter(&self, grads: Vec<ModuleGrads<F>>) -> Vec<ArrayD<F>> {
        let mut out: Vec<ArrayD<F>> = self
            .shapes
            .iter()
            .map(|s| ArrayD::zeros(s.as_slice()))
            .collect();
        for ModuleGrads { id, grads } in grads {
            for (slot, g) in out[self.tensors(id)].iter_mut().zip(grads) {
                *slot = g;
            }
        }
        out
    }

    /// Scales the policy columns of `task`'s head by [`POLICY_INIT_SCALE`].
    fn shrink_policy(&mut self, task: usize) -> Result<(), PathNetError> {
        let id = self.net.head_id(task)?;
        let mut params: Vec<ArrayD<F>> =
            self.net.params(id)?.iter().map(|p| p.to_owned()).collect();
        let actions = self.tasks[task].actions;
        params[0]
            .slice_axis_mut(Axis(1), Slice::from(..actions))
            .mapv_inplace(|w| w * F::of(POLICY_INIT_SCALE));
        self.net.set_params(id, &params).map(drop)
    }
}

/// Conv modules read every task's observations as channel-first `GRID x GRID` grids.
pub(super) fn check_grids(tasks: &[TaskShape]) -> Result<(), PathNetA3cError> {
    match tasks
        .iter()
        .enumerate()
        .find(|(_, t)| grid_channels(t.obs_dim).is_none())
    {
        None => Ok(()),
        Some((task, shape)) => Err(PathNetA3cError::config(
            format!("tasks[{task}].env"),
            format!("{:?}", shape.env),
            format!(
                "an environment with channel-first {GRID}x{GRID} grid observations for \
                 module_kind = \"conv\"; it observes {} values",
                shape.obs_dim
            ),
        )),
    }
}

/// A head's `[T, actions + 1]` output as the logits and the values.
pub(super) fn split_outputs<F>(out: ArrayView2<'_, F>) -> (ArrayView2<'_, F>, ArrayView1<'_, F>) {
    let actions = out.ncols() - 1;
    let (head, value) = out.split_at(Axis(1), actions);
    (head, value.index_axis_move(Axis(1), 0))
}
