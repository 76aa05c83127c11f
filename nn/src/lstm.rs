//! A single LSTM cell with its own step API (it has two recurrent states, so it does not fit
//! the one-tensor [`crate::Layer`] shape).
//!
//! `z = x·W_x + h·W_h + b`, split into gates `i, f, g, o` (in that column order);
//! `c' = σ(f)·c + σ(i)·tanh(g)` and `h' = σ(o)·tanh(c')`.

use crate::layers::sigmoid;
use crate::matmul::{matmul, matmul_into};
use crate::{Cache, Float, Init};
use ndarray::{Array1, Array2, ArrayD, ArrayView2, ArrayViewD, ArrayViewMutD, Axis, Slice};
use rand::Rng;

/// One LSTM cell: `[batch, inputs]` and states `[batch, hidden]` to the next states; see
/// the module docs for the equations.
pub struct LstmCell<F> {
    /// `[input, 4·hidden]`
    w_x: Array2<F>,
    /// `[hidden, 4·hidden]`
    w_h: Array2<F>,
    /// `[4·hidden]`
    bias: Array1<F>,
    init: Init,
}

/// Output of one step.
pub struct LstmStep<F> {
    /// The new hidden state `h'`, `[batch, hidden]` (the cell's output).
    pub h: Array2<F>,
    /// The new cell state `c'`, `[batch, hidden]`.
    pub c: Array2<F>,
    /// What the step's backward pass needs.
    pub cache: Cache,
}

/// Gradients of one step: inputs, previous states, and parameters in [`LstmCell::params`]
/// order (`W_x`, `W_h`, `b`).
pub struct LstmGrads<F> {
    /// d loss / d input, `[batch, inputs]`.
    pub dx: Array2<F>,
    /// d loss / d previous hidden state, `[batch, hidden]`.
    pub dh: Array2<F>,
    /// d loss / d previous cell state, `[batch, hidden]`.
    pub dc: Array2<F>,
    /// d loss / d `W_x`, `W_h`, `b`.
    pub param_grads: Vec<ArrayD<F>>,
}

struct StepCache<F> {
    x: Array2<F>,
    h: Array2<F>,
    c: Array2<F>,
    /// Activated gates `[σ(i), σ(f), tanh(g), σ(o)]` side by side, `[batch, 4·hidden]`.
    gates: Array2<F>,
    tanh_c: Array2<F>,
}

impl<F: Float> LstmCell<F> {
    /// A cell whose weights are drawn by `init`, with zero bias except the forget gate's,
    /// which starts at 1 so that early training does not wipe the cell state.
    pub fn new<R: Rng + ?Sized>(inputs: usize, hidden: usize, init: Init, rng: &mut R) -> Self {
        let mut draw = |rows| -> Array2<F> {
            init.sample(&[rows, 4 * hidden], rows, hidden, rng)
                .into_dimensionality()
                .expect("sampled with two axes")
        };
        let (w_x, w_h) = (draw(inputs), draw(hidden));
        let mut bias = Array1::zeros(4 * hidden);
        bias.slice_axis_mut(Axis(0), Slice::from(hidden..2 * hidden))
            .fill(F::one());
        LstmCell {
            w_x,
            w_h,
            bias,
            init,
        }
    }

    /// Input width.
    pub fn inputs(&self) -> usize {
        self.w_x.nrows()
    }

    /// Hidden (and cell) state width.
    pub fn hidden(&self) -> usize {
        self.w_h.nrows()
    }

    /// E.g. `lstm(4->15)`.
    pub fn name(&self) -> String {
        format!("lstm({}->{})", self.inputs(), self.hidden())
    }

    /// Zero states for a batch, the usual start of an episode.
    pub fn zero_state(&self, batch: usize) -> (Array2<F>, Array2<F>) {
        (
            Array2::zeros((batch, self.hidden())),
            Array2::zeros((batch, self.hidden())),
        )
    }

    /// One step from `x` (`[batch, input]`) and the previous `h`, `c` (`[batch, hidden]`).
    ///
    /// # Panics
    /// On shapes that do not match the cell (a wiring bug).
    pub fn forward(
        &self,
        x: ArrayView2<'_, F>,
        h: ArrayView2<'_, F>,
        c: ArrayView2<'_, F>,
    ) -> LstmStep<F> {
        let hid = self.hidden();
        assert!(
            x.ncols() == self.inputs() && h.dim() == (x.nrows(), hid) && c.dim() == h.dim(),
            "{}: x {:?}, h {:?}, c {:?} do not fit",
            self.name(),
            x.shape(),
            h.shape(),
            c.shape()
        );
        let mut gates = Array2::zeros((x.nrows(), 4 * hid));
        gates += &self.bias;
        matmul_into(gates.view_mut(), x, self.w_x.view(), true);
        matmul_into(gates.view_mut(), h, self.w_h.view(), true);
        for (col, mut column) in gates.axis_iter_mut(Axis(1)).enumerate() {
            if (2 * hid..3 * hid).contains(&col) {
                column.mapv_inplace(F::tanh);
            } else {
                column.mapv_inplace(sigmoid);
            }
        }
        let gate = |k: usize| gates.slice_axis(Axis(1), Slice::from(k * hid..(k + 1) * hid));
        let c_next = &gate(1) * &c + &gate(0) * &gate(2);
        let tanh_c = c_next.mapv(F::tanh);
        let h_next = &gate(3) * &tanh_c;
        let cache = StepCache {
            x: x.to_owned(),
            h: h.to_owned(),
            c: c.to_owned(),
            gates,
            tanh_c,
        };
        LstmStep {
            h: h_next,
            c: c_next,
            cache: Cache::new(cache),
        }
    }

    /// Back-propagates `dh'` and `dc'` through the step that produced `cache`.
    pub fn backward(
        &self,
        cache: &Cache,
        dh_next: ArrayView2<'_, F>,
        dc_next: ArrayView2<'_, F>,
    ) -> LstmGrads<F> {
        let StepCache {
            x,
            h,
            c,
            gates,
            tanh_c,
        } = cache.get();
        let hid = self.hidden();
        let gate = |k: usize| gates.slice_axis(Axis(1), Slice::from(k * hid..(k + 1) * hid));
        let (i, f, g, o) = (gate(0), gate(1), gate(2), gate(3));
        let one = F::one();

        // Total gradient reaching c', through h' = o·tanh(c') and directly.
        let dc_total = &dc_next + &(&dh_next * &o * &tanh_c.mapv(|t| one - t * t));
        let mut dz = Array2::<F>::zeros(gates.raw_dim());
        let mut put = |k: usize, value: Array2<F>| {
            dz.slice_axis_mut(Axis(1), Slice::from(k * hid..(k + 1) * hid))
                .assign(&value)
        };
        put(0, &dc_total * &g * &i.mapv(|v| v * (one - v)));
        put(1, &dc_total * c * &f.mapv(|v| v * (one - v)));
        put(2, &dc_total * &i * &g.mapv(|v| one - v * v));
        put(3, &dh_next * tanh_c * &o.mapv(|v| v * (one - v)));

        LstmGrads {
            dx: matmul(dz.view(), self.w_x.t()),
            dh: matmul(dz.view(), self.w_h.t()),
            dc: &dc_total * &f,
            param_grads: vec![
                matmul(x.t(), dz.view()).into_dyn(),
                matmul(h.t(), dz.view()).into_dyn(),
                dz.sum_axis(Axis(0)).into_dyn(),
            ],
        }
    }

    /// `W_x`, `W_h`, `b`.
    pub fn params(&self) -> Vec<ArrayViewD<'_, F>> {
        vec![
            self.w_x.view().into_dyn(),
            self.w_h.view().into_dyn(),
            self.bias.view().into_dyn(),
        ]
    }

    /// `W_x`, `W_h`, `b`, mutably.
    pub fn params_mut(&mut self) -> Vec<ArrayViewMutD<'_, F>> {
        vec![
            self.w_x.view_mut().into_dyn(),
            self.w_h.view_mut().into_dyn(),
            self.bias.view_mut().into_dyn(),
        ]
    }

    /// Draws fresh weights from `rng` as [`LstmCell::new`] does, with the same initialiser.
    pub fn reinit(&mut self, rng: &mut dyn rand::RngCore) {
        *self = LstmCell::new(self.inputs(), self.hidden(), self.init, rng);
    }
}
