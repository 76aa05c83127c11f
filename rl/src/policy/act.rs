//! Acting on one observation at a time: the forward pass through buffers that live in a
//! [`Memory`], so that a step allocates nothing for fully connected and LSTM networks (the
//! convolution goes through its layer and allocates its output). The LSTM's state lives in the
//! memory too: one memory per environment.

use super::ActorCritic;
use crate::config::Activation;
use ndarray::{Array2, ArrayView1, ArrayView2, ArrayViewMut2, Ix2};
use pathnet_envs::minatar::GRID;
use pathnet_nn::{Float, Layer};

/// The LSTM's `h` and `c`, each `[1, hidden]`.
#[derive(Debug, Clone, PartialEq)]
pub struct RecurrentState<F> {
    /// The hidden state, the cell's output.
    pub h: Array2<F>,
    /// The cell state.
    pub c: Array2<F>,
}

/// Per-environment state of an acting network: the recurrent state and scratch buffers.
#[derive(Debug, Clone)]
pub struct Memory<F> {
    state: Option<RecurrentState<F>>,
    x: Vec<F>,
    y: Vec<F>,
    gates: Vec<F>,
    head: Vec<F>,
    value: [F; 1],
}

impl<F: Float> Memory<F> {
    /// The recurrent state the next step starts from; `None` for feed-forward networks.
    pub fn state(&self) -> Option<&RecurrentState<F>> {
        self.state.as_ref()
    }

    /// Zeroes the recurrent state, at the start of an episode.
    pub fn reset(&mut self) {
        if let Some(s) = &mut self.state {
            s.h.fill(F::zero());
            s.c.fill(F::zero());
        }
    }
}

impl<F: Float> ActorCritic<F> {
    /// A fresh memory (zero recurrent state) sized for this network.
    pub fn memory(&self) -> Memory<F> {
        let widest = self
            .dense
            .iter()
            .map(|l| l.outputs())
            .chain([self.obs_dim, self.lstm.as_ref().map_or(0, |c| c.hidden())])
            .max()
            .unwrap_or(0);
        let hidden = self.lstm.as_ref().map_or(0, |c| c.hidden());
        Memory {
            state: self.lstm.as_ref().map(|cell| {
                let (h, c) = cell.zero_state(1);
                RecurrentState { h, c }
            }),
            x: Vec::with_capacity(widest),
            y: Vec::with_capacity(widest),
            gates: Vec::with_capacity(4 * hidden),
            head: Vec::with_capacity(self.head.width()),
            value: [F::zero()],
        }
    }

    /// The policy head's outputs (logits or Gaussian mean) and the value for `obs`, advancing
    /// the recurrent state.
    ///
    /// # Panics
    /// If `obs` does not have [`ActorCritic::obs_dim`] values or `memory` belongs to a
    /// different network.
    pub fn act<'m>(&self, obs: &[F], memory: &'m mut Memory<F>) -> (&'m [F], F) {
        self.forward_one(obs, memory, true);
        (&memory.head, memory.value[0])
    }

    /// The value of `obs` without advancing the recurrent state: the bootstrap value at the
    /// end of a segment.
    pub fn peek_value(&self, obs: &[F], memory: &mut Memory<F>) -> F {
        self.forward_one(obs, memory, false);
        memory.value[0]
    }

    fn forward_one(&self, obs: &[F], memory: &mut Memory<F>, advance: bool) {
        assert_eq!(obs.len(), self.obs_dim, "observation length");
        let Memory {
            state,
            x,
            y,
            gates,
            head,
            value,
        } = memory;
        x.clear();
        match &self.conv {
            Some(stem) => {
                let input = ArrayView2::from_shape((1, obs.len()), obs)
                    .expect("one row")
                    .into_shape_with_order((1, stem.channels, GRID, GRID))
                    .expect("validated as channels x 10 x 10");
                let out = stem.layer.forward(input.into_dyn()).output;
                x.extend(out.iter().copied());
                self.activation.apply_slice(x);
            }
            None => x.extend_from_slice(obs),
        }
        for layer in &self.dense {
            affine(x, layer.weight().view(), layer.bias().view(), y);
            self.activation.apply_slice(y);
            std::mem::swap(x, y);
        }
        if let Some(cell) = &self.lstm {
            let s = state.as_mut().expect("memory of a recurrent network");
            let params = cell.params();
            let matrix = |i: usize| -> ArrayView2<'_, F> {
                params[i]
                    .view()
                    .into_dimensionality::<Ix2>()
                    .expect("LSTM weights are 2-D")
            };
            let bias = params[2]
                .view()
                .into_shape_with_order(4 * cell.hidden())
                .expect("1-D");
            affine(x, matrix(0), bias, gates);
            let h_prev = s.h.as_slice().expect("fresh array");
            add_product(h_prev, matrix(1), gates);
            lstm_update(gates, s.c.as_slice().expect("fresh array"), y);
            // `y` now holds `[h', c']`.
            let hid = cell.hidden();
            if advance {
                s.h.as_slice_mut()
                    .expect("fresh array")
                    .copy_from_slice(&y[..hid]);
                s.c.as_slice_mut()
                    .expect("fresh array")
                    .copy_from_slice(&y[hid..]);
            }
            x.clear();
            x.extend_from_slice(&y[..hid]);
        }
        affine(
            x,
            self.policy.weight().view(),
            self.policy.bias().view(),
            head,
        );
        affine_fixed(
            x,
            self.value.weight().view(),
            self.value.bias().view(),
            value,
        );
    }
}

/// `out = b + x·W` for `W` of shape `[in, out]`: row-wise accumulation, which vectorises over
/// the contiguous rows of `W`.
fn affine<F: Float>(x: &[F], w: ArrayView2<'_, F>, b: ArrayView1<'_, F>, out: &mut Vec<F>) {
    out.clear();
    out.extend(b.iter().copied());
    add_product(x, w, out);
}

fn affine_fixed<F: Float>(x: &[F], w: ArrayView2<'_, F>, b: ArrayView1<'_, F>, out: &mut [F]) {
    out.iter_mut().zip(b).for_each(|(o, &b)| *o = b);
    add_product(x, w, out);
}

/// Products at least this large go to faer's kernels, which use the widest vector unit the
/// CPU has; below it their dispatch costs more than the plain loops.
const GEMM_MACS: usize = 8192;

/// `out += x·W`: large products through faer; otherwise, for wide `W`, an `x_i`-weighted sum
/// of its contiguous rows, and for the narrow heads (a value, a few logits) one dot product
/// per column.
fn add_product<F: Float>(x: &[F], w: ArrayView2<'_, F>, out: &mut [F]) {
    assert!(
        x.len() == w.nrows() && out.len() == w.ncols(),
        "affine shapes"
    );
    let n = w.ncols();
    if x.len() * n >= GEMM_MACS {
        let x = ArrayView2::from_shape((1, x.len()), x).expect("one row");
        let out = ArrayViewMut2::from_shape((1, n), out).expect("one row");
        F::gemm(out, x, w, true, 1);
        return;
    }
    match w.as_slice() {
        Some(flat) if n < 8 => {
            for (j, o) in out.iter_mut().enumerate() {
                let column = flat[j..].iter().step_by(n);
                *o += x
                    .iter()
                    .zip(column)
                    .fold(F::zero(), |s, (&a, &b)| s + a * b);
            }
        }
        Some(flat) => {
            for (&xi, row) in x.iter().zip(flat.chunks_exact(n)) {
                out.iter_mut().zip(row).for_each(|(o, &wv)| *o += xi * wv);
            }
        }
        None => {
            for (&xi, row) in x.iter().zip(w.rows()) {
                out.iter_mut().zip(row).for_each(|(o, &wv)| *o += xi * wv);
            }
        }
    }
}

/// LSTM gates `z = [i, f, g, o]` (pre-activation) and `c` to `[h', c']` in `out`, with
/// `c' = σ(f)·c + σ(i)·tanh(g)`, `h' = σ(o)·tanh(c')`, as `LstmCell::forward` computes them.
fn lstm_update<F: Float>(z: &[F], c: &[F], out: &mut Vec<F>) {
    let hid = c.len();
    out.clear();
    out.resize(2 * hid, F::zero());
    let (h_next, c_next) = out.split_at_mut(hid);
    for k in 0..hid {
        let (i, f) = (sigmoid(z[k]), sigmoid(z[hid + k]));
        let (g, o) = (tanh(z[2 * hid + k]), sigmoid(z[3 * hid + k]));
        c_next[k] = f * c[k] + i * g;
        h_next[k] = o * tanh(c_next[k]);
    }
}

fn tanh<F: Float>(x: F) -> F {
    Activation::Tanh.apply(x)
}

/// The logistic function, stable for large negative inputs.
fn sigmoid<F: Float>(x: F) -> F {
    if x >= F::zero() {
        F::one() / (F::one() + (-x).exp())
    } else {
        let e = x.exp();
        e / (F::one() + e)
    }
}
