//! A stack of LSTM cells read over whole sequences, with a linear softmax head on the last
//! cell's final output: one [`Layer`] from a batch of sequences to class probabilities, so
//! that the safe-mutation operators (which work on any layer) see the network as a whole.

use ndarray::{Array2, Array3, ArrayD, ArrayViewD, ArrayViewMutD, Axis, Ix3};
use pathnet_nn::{Backward, Cache, Float, Forward, Init, Layer, Linear, LstmCell, Softmax};
use rand::Rng;

/// Stacked LSTM cells over a sequence and a softmax head on the last step: input
/// `[batch, steps, features]`, output `[batch, classes]` probabilities.
pub struct StackedLstm<F> {
    cells: Vec<LstmCell<F>>,
    head: Linear<F>,
}

struct StackCache {
    /// `steps[t][l]`: the cache of cell `l` at time step `t`.
    steps: Vec<Vec<Cache>>,
    head: Cache,
    softmax: Cache,
    input_shape: Vec<usize>,
}

impl<F: Float> StackedLstm<F> {
    /// `cells` stacked cells of `hidden` units over `inputs` features per step, and a head of
    /// `outputs` classes. Weights are Xavier-uniform, drawn from `rng` cell by cell, head last.
    pub fn new<R: Rng + ?Sized>(
        inputs: usize,
        hidden: usize,
        cells: usize,
        outputs: usize,
        rng: &mut R,
    ) -> Self {
        let cells = (0..cells)
            .map(|l| {
                let fan_in = if l == 0 { inputs } else { hidden };
                LstmCell::new(fan_in, hidden, Init::XavierUniform, rng)
            })
            .collect();
        StackedLstm {
            cells,
            head: Linear::new(hidden, outputs, Init::XavierUniform, rng),
        }
    }

    /// Units per cell.
    pub fn hidden(&self) -> usize {
        self.head.inputs()
    }

    fn input3<'a>(&self, input: ArrayViewD<'a, F>) -> ndarray::ArrayView3<'a, F> {
        let shape = input.shape().to_vec();
        let x = input.into_dimensionality::<Ix3>().unwrap_or_else(|_| {
            panic!(
                "{}: input must be [batch, steps, features], got {shape:?}",
                self.name()
            )
        });
        assert!(
            x.shape()[1] > 0 && x.shape()[2] == self.cells[0].inputs(),
            "{}: input must be [batch, steps >= 1, {}], got {shape:?}",
            self.name(),
            self.cells[0].inputs()
        );
        x
    }
}

impl<F: Float> Layer<F> for StackedLstm<F> {
    fn name(&self) -> String {
        let cells: Vec<String> = self.cells.iter().map(|c| c.name()).collect();
        format!(
            "stacked[{}] -> {} -> softmax",
            cells.join(", "),
            self.head.name()
        )
    }

    fn forward(&self, input: ArrayViewD<'_, F>) -> Forward<F> {
        let x = self.input3(input);
        let batch = x.shape()[0];
        let mut states: Vec<(Array2<F>, Array2<F>)> =
            self.cells.iter().map(|c| c.zero_state(batch)).collect();
        let mut steps = Vec::with_capacity(x.shape()[1]);
        for t in 0..x.shape()[1] {
            let mut below = x.index_axis(Axis(1), t).to_owned();
            let mut caches = Vec::with_capacity(self.cells.len());
            for (cell, (h, c)) in self.cells.iter().zip(&mut states) {
                let step = cell.forward(below.view(), h.view(), c.view());
                caches.push(step.cache);
                *h = step.h;
                *c = step.c;
                below = h.clone();
            }
            steps.push(caches);
        }
        let top = &states.last().expect("at least one cell").0;
        let head = self.head.forward(top.view().into_dyn());
        let softmax = Layer::<F>::forward(&Softmax, head.output.view());
        Forward {
            output: softmax.output,
            cache: Cache::new(StackCache {
                steps,
                head: head.cache,
                softmax: softmax.cache,
                input_shape: x.shape().to_vec(),
            }),
        }
    }

    fn backward(&self, cache: &Cache, output_grad: ArrayViewD<'_, F>) -> Backward<F> {
        let c: &StackCache = cache.get();
        let d_logits = Layer::<F>::backward(&Softmax, &c.softmax, output_grad).input_grad;
        let head = self.head.backward(&c.head, d_logits.view());
        let (batch, steps) = (c.input_shape[0], c.input_shape[1]);
        let hid = self.hidden();
        let mut dh: Vec<Array2<F>> = vec![Array2::zeros((batch, hid)); self.cells.len()];
        let mut dc = dh.clone();
        let top = self.cells.len() - 1;
        dh[top] = head
            .input_grad
            .into_dimensionality()
            .expect("the head's input is [batch, hidden]");
        let mut grads: Vec<Vec<ArrayD<F>>> = self
            .cells
            .iter()
            .map(|cell| {
                cell.params()
                    .iter()
                    .map(|p| ArrayD::zeros(p.shape()))
                    .collect()
            })
            .collect();
        let mut input_grad = Array3::<F>::zeros((batch, steps, c.input_shape[2]));
        for t in (0..steps).rev() {
            for l in (0..self.cells.len()).rev() {
                let g = self.cells[l].backward(&c.steps[t][l], dh[l].view(), dc[l].view());
                for (acc, p) in grads[l].iter_mut().zip(&g.param_grads) {
                    *acc += p;
                }
                dh[l] = g.dh;
                dc[l] = g.dc;
                if l > 0 {
                    dh[l - 1] += &g.dx;
                } else {
                    input_grad.index_axis_mut(Axis(1), t).assign(&g.dx);
                }
            }
        }
        let mut param_grads: Vec<ArrayD<F>> = grads.into_iter().flatten().collect();
        param_grads.extend(head.param_grads);
        Backward {
            input_grad: input_grad.into_dyn(),
            param_grads,
        }
    }

    /// Cells in order (`W_x`, `W_h`, `b` each), then the head's weight and bias.
    fn params(&self) -> Vec<ArrayViewD<'_, F>> {
        let mut out: Vec<ArrayViewD<'_, F>> = self.cells.iter().flat_map(|c| c.params()).collect();
        out.extend(self.head.params());
        out
    }

    fn params_mut(&mut self) -> Vec<ArrayViewMutD<'_, F>> {
        let mut out: Vec<ArrayViewMutD<'_, F>> =
            self.cells.iter_mut().flat_map(|c| c.params_mut()).collect();
        out.extend(self.head.params_mut());
        out
    }

    fn reinit(&mut self, rng: &mut dyn rand::RngCore) {
        for cell in &mut self.cells {
            cell.reinit(rng);
        }
        self.head.reinit(rng);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pathnet_nn::gradcheck::{self, Config};
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn gradients_match_finite_differences() {
        let (_, mut rng) = gradcheck::test_rng();
        let mut net = StackedLstm::<f64>::new(2, 3, 2, 2, &mut rng);
        let input = gradcheck::random_normal(&[3, 4, 2], &mut rng);
        gradcheck::check_layer(&mut net, &input, &mut rng, &Config::default()).unwrap();
    }

    #[test]
    fn outputs_are_probabilities_and_depend_on_the_whole_sequence() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let net = StackedLstm::<f32>::new(1, 5, 2, 2, &mut rng);
        let a = ndarray::arr3(&[[[1.0f32], [0.0], [0.0], [0.0]]]).into_dyn();
        let b = ndarray::arr3(&[[[0.0f32], [0.0], [0.0], [0.0]]]).into_dyn();
        let ya = net.forward(a.view()).output;
        let yb = net.forward(b.view()).output;
        assert_eq!(ya.shape(), &[1, 2]);
        assert!((ya.sum() - 1.0).abs() < 1e-6);
        assert_ne!(ya, yb, "the first step must reach the final output");
    }
}
