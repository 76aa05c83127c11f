//! Python's `x ** 2`, which is not `x * x`.
//!
//! Python floats and numpy scalars evaluate `x ** 2` with the C library's `pow`, whose result
//! differs from the correctly rounded product in the last bit for about one input in a
//! thousand. In Acrobot's chaotic dynamics one such bit grows into visibly different
//! observations within a few hundred steps, so the ports call `pow` as Gymnasium does.
//! (`np.square`, which CartPole uses, is the plain product.)

use std::hint::black_box;

/// `x ** 2` for a Python float or `np.float64`.
pub(crate) fn py_square(x: f64) -> f64 {
    // The opaque exponent keeps LLVM from rewriting `pow(x, 2.0)` as `x * x`.
    x.powf(black_box(2.0))
}

/// `x ** 2` for an `np.float32` (numpy uses `powf`).
pub(crate) fn py_square_f32(x: f32) -> f32 {
    x.powf(black_box(2.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squares_agree_with_the_product_to_the_last_bit_or_so() {
        for x in [0.0, 1.5, -3.25, 1e-3, 7.123456789] {
            let (p, q) = (py_square(x), x * x);
            assert!((p - q).abs() <= q * f64::EPSILON, "{x}: {p} vs {q}");
            let xf = x as f32;
            let (p, q) = (py_square_f32(xf), xf * xf);
            assert!((p - q).abs() <= q * f32::EPSILON, "{x}: {p} vs {q}");
        }
    }
}
