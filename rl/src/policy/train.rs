//! Training pass over one segment: the whole segment as a batch through the trunk (step by
//! step through the LSTM, from the state the segment started in), with every cache kept,
//! then the backward pass from the loss gradients to every parameter.

use super::{ActorCritic, RecurrentState};
use crate::loss::{Actions, LossCoefs, LossGrads, LossParts, Outputs, actor_critic_loss};
use ndarray::{Array1, Array2, ArrayD, ArrayView1, ArrayView2, Axis, Ix2, IxDyn};
use pathnet_envs::minatar::GRID;
use pathnet_nn::{Cache, Float, Forward, Layer};

/// The outputs of a segment and what the backward pass needs.
pub struct SegmentPass<F> {
    /// Logits or Gaussian means, `[T, head width]`.
    pub head: Array2<F>,
    /// `[T]`
    pub values: Array1<F>,
    caches: Caches<F>,
}

struct Caches<F> {
    /// The convolution's cache, its activated output flattened to `[T, C·H·W]`, and the
    /// output's shape `[T, C, H, W]`.
    conv: Option<(Cache, ArrayD<F>, Vec<usize>)>,
    /// Each linear layer's cache and its activated output, which feeds the next layer.
    dense: Vec<(Cache, ArrayD<F>)>,
    lstm: Vec<Cache>,
    policy: Cache,
    value: Cache,
}

impl<F: Float> ActorCritic<F> {
    /// Runs the `[T, obs_dim]` observations of a segment. `start` is the recurrent state the
    /// segment began in (zero when `None`); no gradient flows into it.
    pub fn forward_segment(
        &self,
        obs: ArrayView2<'_, F>,
        start: Option<&RecurrentState<F>>,
    ) -> SegmentPass<F> {
        assert_eq!(obs.ncols(), self.obs_dim, "observation width");
        let steps = obs.nrows();
        let act = self.activation;
        // Each stage's activated output is both its cache and the next stage's input.
        let conv = self.conv.as_ref().map(|stem| {
            let input = obs
                .as_standard_layout()
                .into_owned()
                .into_shape_with_order(IxDyn(&[steps, stem.channels, GRID, GRID]))
                .expect("validated as channels x 10 x 10");
            let Forward { output, cache } = stem.layer.forward(input.view());
            let shape = output.shape().to_vec();
            let flat = act
                .forward(output)
                .into_shape_with_order(IxDyn(&[steps, shape[1..].iter().product()]))
                .expect("fresh array");
            (cache, flat, shape)
        });
        let obs = obs.into_dyn();
        let mut dense: Vec<(Cache, ArrayD<F>)> = Vec::with_capacity(self.dense.len());
        for layer in &self.dense {
            let input = match (dense.last(), &conv) {
                (Some((_, y)), _) | (None, Some((_, y, _))) => y.view(),
                (None, None) => obs.view(),
            };
            let Forward { output, cache } = layer.forward(input);
            dense.push((cache, act.forward(output)));
        }
        let trunk = match (dense.last(), &conv) {
            (Some((_, y)), _) | (None, Some((_, y, _))) => y.view(),
            (None, None) => obs.view(),
        };
        let mut lstm = Vec::new();
        let mut lstm_out = None;
        if let Some(cell) = &self.lstm {
            let input = trunk
                .view()
                .into_dimensionality::<Ix2>()
                .expect("[T, features]");
            let (mut h, mut c) = match start {
                Some(s) => (s.h.clone(), s.c.clone()),
                None => cell.zero_state(1),
            };
            let mut hs = Array2::zeros((steps, cell.hidden()));
            for (t, row) in input.outer_iter().enumerate() {
                let step = cell.forward(row.insert_axis(Axis(0)), h.view(), c.view());
                hs.row_mut(t).assign(&step.h.row(0));
                lstm.push(step.cache);
                (h, c) = (step.h, step.c);
            }
            lstm_out = Some(hs.into_dyn());
        }
        let features = lstm_out.as_ref().map_or(trunk, |h| h.view());
        let policy = self.policy.forward(features.view());
        let value = self.value.forward(features);
        SegmentPass {
            head: policy
                .output
                .into_dimensionality()
                .expect("linear output is 2-D"),
            values: value
                .output
                .into_shape_with_order(steps)
                .expect("one value per step"),
            caches: Caches {
                conv,
                dense,
                lstm,
                policy: policy.cache,
                value: value.cache,
            },
        }
    }

    /// Gradients of the loss with respect to every parameter, in [`ActorCritic::params`]
    /// order, given its gradients with respect to the outputs of `pass`.
    ///
    /// # Panics
    /// If `grads` do not match `pass` or lack the log-std gradient of a Gaussian head.
    pub fn backward_segment(&self, pass: &SegmentPass<F>, grads: &LossGrads<F>) -> Vec<ArrayD<F>> {
        let steps = pass.values.len();
        let act = self.activation;
        let caches = &pass.caches;
        let d_values = grads
            .values
            .view()
            .into_shape_with_order((steps, 1))
            .expect("[T]");
        let value = self.value.backward(&caches.value, d_values.into_dyn());
        let policy = self
            .policy
            .backward(&caches.policy, grads.head.view().into_dyn());
        let mut d = value.input_grad + policy.input_grad;
        let mut lstm_grads = Vec::new();
        if let Some(cell) = &self.lstm {
            let d_out = d.view().into_dimensionality::<Ix2>().expect("[T, hidden]");
            let mut d_in = Array2::zeros((steps, cell.inputs()));
            let (mut dh, mut dc) = cell.zero_state(1);
            lstm_grads = cell
                .params()
                .iter()
                .map(|p| ArrayD::zeros(p.raw_dim()))
                .collect();
            for t in (0..steps).rev() {
                dh += &d_out.row(t);
                let g = cell.backward(&caches.lstm[t], dh.view(), dc.view());
                for (acc, p) in lstm_grads.iter_mut().zip(&g.param_grads) {
                    *acc += p;
                }
                d_in.row_mut(t).assign(&g.dx.row(0));
                (dh, dc) = (g.dh, g.dc);
            }
            d = d_in.into_dyn();
        }
        let mut dense_grads = Vec::with_capacity(self.dense.len());
        for (i, (layer, (linear, y))) in self.dense.iter().zip(&caches.dense).enumerate().rev() {
            let dz = act.backward(y, d.view());
            if i == 0 && self.conv.is_none() {
                // The first layer's input is the observation; skip its gradient.
                dense_grads.push(layer.backward_params(linear, dz.view()));
            } else {
                let b = layer.backward(linear, dz.view());
                dense_grads.push(b.param_grads);
                d = b.input_grad;
            }
        }
        let mut out = Vec::new();
        if let (Some(stem), Some((conv, y, shape))) = (&self.conv, &caches.conv) {
            let dz = act
                .backward(y, d.view())
                .into_shape_with_order(IxDyn(shape))
                .expect("fresh array");
            out.extend(stem.layer.backward_params(conv, dz.view()));
        }
        out.extend(dense_grads.into_iter().rev().flatten());
        out.extend(lstm_grads);
        out.extend(policy.param_grads);
        out.extend(value.param_grads);
        if self.log_std.is_some() {
            let d = grads
                .log_std
                .as_ref()
                .expect("a Gaussian head's loss has a log_std gradient");
            out.push(d.clone().into_dyn());
        }
        out
    }

    /// Forward, loss and backward of one segment: the loss parts and the gradients of every
    /// parameter, in [`ActorCritic::params`] order.
    pub fn loss_and_grads(
        &self,
        obs: ArrayView2<'_, F>,
        start: Option<&RecurrentState<F>>,
        actions: Actions<'_, F>,
        returns: ArrayView1<'_, F>,
        coefs: LossCoefs,
    ) -> (LossParts, Vec<ArrayD<F>>) {
        let pass = self.forward_segment(obs, start);
        let outputs = Outputs {
            head: pass.head.view(),
            log_std: self.log_std.as_ref().map(|s| s.view()),
            values: pass.values.view(),
        };
        let (parts, grads) = actor_critic_loss(outputs, actions, returns, coefs);
        (parts, self.backward_segment(&pass, &grads))
    }
}
