//! Losses: each returns the scalar loss together with its gradient with respect to the
//! prediction, ready to feed into a backward pass.

use crate::Float;
use crate::layers::log_softmax;
use ndarray::{Array2, ArrayD, ArrayView2, ArrayViewD};

/// A loss value and `d loss / d prediction`.
#[derive(Debug, Clone)]
pub struct Loss<F, G> {
    /// The loss, averaged as the loss function says.
    pub value: F,
    /// `d value / d prediction`, shaped like the prediction.
    pub grad: G,
}

/// Why a loss could not be taken: predictions and targets that do not fit each other.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LossError {
    /// [`mse`] of a prediction and a target of different shapes.
    #[error("prediction has shape {prediction:?} but target has shape {target:?}")]
    ShapeMismatch {
        /// The prediction's shape.
        prediction: Vec<usize>,
        /// The target's shape.
        target: Vec<usize>,
    },
    /// [`cross_entropy`] with another number of targets than rows of logits.
    #[error("logits have {rows} rows but there are {targets} targets")]
    TargetCount {
        /// Rows (samples) of the logits.
        rows: usize,
        /// Targets given.
        targets: usize,
    },
    /// A target class that is not a column of the logits.
    #[error("target class {class} of sample {sample} is out of range for {classes} classes")]
    ClassOutOfRange {
        /// The sample's row.
        sample: usize,
        /// Its target class.
        class: usize,
        /// Columns of the logits.
        classes: usize,
    },
    /// A batch with no samples, whose mean is undefined.
    #[error("cannot take a loss over an empty batch")]
    Empty,
}

/// Mean squared error over all elements: `mean((prediction − target)²)`.
pub fn mse<F: Float>(
    prediction: ArrayViewD<'_, F>,
    target: ArrayViewD<'_, F>,
) -> Result<Loss<F, ArrayD<F>>, LossError> {
    if prediction.shape() != target.shape() {
        return Err(LossError::ShapeMismatch {
            prediction: prediction.shape().to_vec(),
            target: target.shape().to_vec(),
        });
    }
    if prediction.is_empty() {
        return Err(LossError::Empty);
    }
    let n = F::of(prediction.len() as f64);
    let diff = &prediction - &target;
    let value = diff.iter().map(|&d| d * d).sum::<F>() / n;
    let grad = diff * (F::of(2.0) / n);
    Ok(Loss { value, grad })
}

/// Cross-entropy of softmax(`logits`) (shape `[batch, classes]`) against integer class
/// targets, averaged over the batch. The gradient is `(softmax(logits) − onehot) / batch`.
pub fn cross_entropy<F: Float>(
    logits: ArrayView2<'_, F>,
    targets: &[usize],
) -> Result<Loss<F, Array2<F>>, LossError> {
    let (rows, classes) = logits.dim();
    if rows != targets.len() {
        return Err(LossError::TargetCount {
            rows,
            targets: targets.len(),
        });
    }
    if rows == 0 {
        return Err(LossError::Empty);
    }
    if let Some((sample, &class)) = targets.iter().enumerate().find(|&(_, &c)| c >= classes) {
        return Err(LossError::ClassOutOfRange {
            sample,
            class,
            classes,
        });
    }
    let log_p = log_softmax(logits);
    let batch = F::of(rows as f64);
    let value = -targets
        .iter()
        .enumerate()
        .map(|(i, &t)| log_p[[i, t]])
        .sum::<F>()
        / batch;
    let mut grad = log_p.mapv(F::exp);
    for (i, &t) in targets.iter().enumerate() {
        grad[[i, t]] -= F::one();
    }
    grad /= batch;
    Ok(Loss { value, grad })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn mse_by_hand() {
        let p = array![[1.0, 2.0], [3.0, 5.0]].into_dyn();
        let t = array![[1.0, 0.0], [3.0, 4.0]].into_dyn();
        let loss = mse(p.view(), t.view()).unwrap();
        assert!((loss.value - 5.0 / 4.0f64).abs() < 1e-15);
        assert_eq!(loss.grad, array![[0.0, 1.0], [0.0, 0.5]].into_dyn());
    }

    #[test]
    fn cross_entropy_by_hand() {
        let logits = array![[0.0f64, 0.0], [2.0f64.ln(), 0.0]];
        let loss = cross_entropy(logits.view(), &[0, 1]).unwrap();
        // p = [1/2, 1/2] and [2/3, 1/3]: loss = (ln 2 + ln 3) / 2.
        assert!((loss.value - (2.0f64.ln() + 3.0f64.ln()) / 2.0).abs() < 1e-12);
        let want = array![[-0.25, 0.25], [1.0 / 3.0, -1.0 / 3.0]];
        assert!(
            (&loss.grad - &want).iter().all(|d| d.abs() < 1e-12),
            "{}",
            loss.grad
        );
    }

    #[test]
    fn cross_entropy_survives_huge_logits() {
        let logits = array![[1000.0f32, -1000.0, 0.0]];
        let loss = cross_entropy(logits.view(), &[1]).unwrap();
        assert!((loss.value - 2000.0).abs() < 1e-2, "{}", loss.value);
        assert!(loss.grad.iter().all(|g| g.is_finite()));
    }

    #[test]
    fn bad_targets_are_errors_naming_the_value() {
        let logits = array![[0.0f32, 1.0]];
        let err = cross_entropy(logits.view(), &[2]).unwrap_err();
        assert_eq!(
            err,
            LossError::ClassOutOfRange {
                sample: 0,
                class: 2,
                classes: 2
            }
        );
        assert!(err.to_string().contains("class 2"));
        assert!(matches!(
            cross_entropy(logits.view(), &[0, 1]),
            Err(LossError::TargetCount { .. })
        ));
        let p = ndarray::ArrayD::<f32>::zeros(vec![2, 3]);
        let t = ndarray::ArrayD::<f32>::zeros(vec![3, 2]);
        assert!(matches!(
            mse(p.view(), t.view()),
            Err(LossError::ShapeMismatch { .. })
        ));
    }
}
