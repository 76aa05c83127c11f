use ndarray::Array2;
use rand::{Rng, SeedableRng};
use std::time::Instant;
fn bench(name: &str, mut f: impl FnMut()) {
    let mut v = vec![];
    for _ in 0..60 { let t = Instant::now(); f(); v.push(t.elapsed().as_secs_f64() * 1e3); }
    v.sort_by(f64::total_cmp);
    println!("{name:<50} min {:.3} med {:.3}", v[0], v[30]);
}
fn main() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let mut r = |s| Array2::<f32>::from_shape_simple_fn(s, || rng.random());
    let w = r((16, 256)); // W [O, CKK]
    let c = r((256, 12800)); // cols [CKK, NP]
    let ct = c.t().as_standard_layout().into_owned(); // [NP, CKK]
    let dy = r((16, 12800)); // [O, NP]
    let dyt = dy.t().as_standard_layout().into_owned(); // [NP, O]
    use std::hint::black_box as bb;
    bench("fwd W·C   [16,256]x[256,12800]", || { bb(w.dot(&c)); });
    bench("fwd Ct·Wt (Ct std)", || { bb(ct.dot(&w.t())); });
    bench("fwd Ct·Wt (Ct = C.t view)", || { bb(c.t().dot(&w.t())); });
    bench("dW dY·Ct (C std)", || { bb(dy.dot(&c.t())); });
    bench("dWt C·dYt (C std, dYt std)", || { bb(c.dot(&dyt)); });
    bench("dWt Ct.t·dYt (Ct std, dYt std)", || { bb(ct.t().dot(&dyt)); });
    bench("dCt dYt·W (dYt std)", || { bb(dyt.dot(&w)); });
    bench("dC Wt·dY", || { bb(w.t().dot(&dy)); });
    bench("dC Wt·dYt.t", || { bb(w.t().dot(&dyt.t())); });
    let w2 = r((32, 256));
    let dy2 = r((32, 2592));
    let dy2t = dy2.t().as_standard_layout().into_owned();
    bench("conv2 dC W2t·dY2", || { bb(w2.t().dot(&dy2)); });
    bench("conv2 dC W2t·dY2t.t", || { bb(w2.t().dot(&dy2t.t())); });
    bench("conv2 dCt dY2t·W2", || { bb(dy2t.dot(&w2)); });
}
