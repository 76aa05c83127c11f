//! Finite-difference checks of the LSTM cell: `dx`, `dh`, `dc` and every parameter gradient,
//! probing with `loss = sum(h' ⊙ R_h) + sum(c' ⊙ R_c)`.

use ndarray::{ArrayD, Ix2};
use pathnet_nn::gradcheck::{self, Config};
use pathnet_nn::{Init, LstmCell};

fn two(a: &ArrayD<f64>) -> ndarray::ArrayView2<'_, f64> {
    a.view().into_dimensionality::<Ix2>().unwrap()
}

struct Probe {
    x: ArrayD<f64>,
    h: ArrayD<f64>,
    c: ArrayD<f64>,
    r_h: ArrayD<f64>,
    r_c: ArrayD<f64>,
}

impl Probe {
    fn loss(&self, cell: &LstmCell<f64>, x: &ArrayD<f64>, h: &ArrayD<f64>, c: &ArrayD<f64>) -> f64 {
        let step = cell.forward(two(x), two(h), two(c));
        (&step.h * &two(&self.r_h)).sum() + (&step.c * &two(&self.r_c)).sum()
    }
}

#[test]
fn lstm_cell_gradients() {
    let (seed, mut rng) = gradcheck::test_rng();
    let fail = |e: gradcheck::GradCheckError| -> ! { panic!("seed {seed}: {e}") };
    for (batch, inputs, hidden) in [(1, 1, 1), (3, 4, 5), (2, 6, 3)] {
        let mut cell = LstmCell::<f64>::new(inputs, hidden, Init::XavierUniform, &mut rng);
        // Random bias so every gate operates away from its initial point.
        cell.params_mut()[2].assign(&gradcheck::random_normal(&[4 * hidden], &mut rng));
        let probe = Probe {
            x: gradcheck::random_normal(&[batch, inputs], &mut rng),
            h: gradcheck::random_normal(&[batch, hidden], &mut rng),
            c: gradcheck::random_normal(&[batch, hidden], &mut rng),
            r_h: gradcheck::random_normal(&[batch, hidden], &mut rng),
            r_c: gradcheck::random_normal(&[batch, hidden], &mut rng),
        };
        let step = cell.forward(two(&probe.x), two(&probe.h), two(&probe.c));
        let grads = cell.backward(&step.cache, two(&probe.r_h), two(&probe.r_c));
        let cfg = Config::default();
        let p = &probe;

        gradcheck::check_tensor(
            "lstm dx",
            &p.x,
            &grads.dx.into_dyn(),
            |x| p.loss(&cell, x, &p.h, &p.c),
            &cfg,
        )
        .unwrap_or_else(|e| fail(e));
        gradcheck::check_tensor(
            "lstm dh",
            &p.h,
            &grads.dh.into_dyn(),
            |h| p.loss(&cell, &p.x, h, &p.c),
            &cfg,
        )
        .unwrap_or_else(|e| fail(e));
        gradcheck::check_tensor(
            "lstm dc",
            &p.c,
            &grads.dc.into_dyn(),
            |c| p.loss(&cell, &p.x, &p.h, c),
            &cfg,
        )
        .unwrap_or_else(|e| fail(e));
        assert_eq!(grads.param_grads.len(), 3);
        for (i, analytic) in grads.param_grads.iter().enumerate() {
            let original = cell.params()[i].to_owned();
            let result = gradcheck::check_tensor(
                &format!("lstm param {i}"),
                &original,
                analytic,
                |w| {
                    cell.params_mut()[i].assign(w);
                    p.loss(&cell, &p.x, &p.h, &p.c)
                },
                &cfg,
            );
            cell.params_mut()[i].assign(&original);
            result.unwrap_or_else(|e| fail(e));
        }
    }
}

#[test]
fn forget_bias_starts_at_one() {
    let cell = LstmCell::<f32>::new(3, 4, Init::XavierUniform, &mut gradcheck::test_rng().1);
    let bias = cell.params()[2].to_owned();
    let expect: Vec<f32> = [0.0, 1.0, 0.0, 0.0].iter().flat_map(|&v| [v; 4]).collect();
    assert_eq!(bias.iter().copied().collect::<Vec<_>>(), expect);
}

#[test]
fn lstm_step_by_hand() {
    // One unit, all weights zero, bias [i, f, g, o] = [0, 0, atanh(0.5), 0]:
    // gates σ(0)=0.5, 0.5, 0.5, 0.5; c' = 0.5·c + 0.25; h' = 0.5·tanh(c').
    let mut cell = LstmCell::<f64>::new(1, 1, Init::Zeros, &mut gradcheck::test_rng().1);
    cell.params_mut()[2].assign(&ndarray::arr1(&[0.0, 0.0, 0.5f64.atanh(), 0.0]).into_dyn());
    let x = ndarray::arr2(&[[3.0]]);
    let c = ndarray::arr2(&[[1.0]]);
    let step = cell.forward(x.view(), c.view(), c.view());
    assert!((step.c[[0, 0]] - 0.75).abs() < 1e-12);
    assert!((step.h[[0, 0]] - 0.5 * 0.75f64.tanh()).abs() < 1e-12);
}
