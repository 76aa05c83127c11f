//! The A3C parameters an agent holds: one copy per experiment (phase), which all worker
//! threads of this agent read and overwrite without a lock (Hogwild), so a worker always acts
//! on the newest parameters any worker of the agent has received.

use ndarray::ArrayD;
use pathnet_nn::AtomicTensors;
use pathnet_rl::RlError;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

/// The newest parameters this agent has of one experiment.
#[derive(Default)]
pub(crate) struct LatestParameters {
    /// The newest version any answer carried.
    version: AtomicU64,
    tensors: OnceLock<AtomicTensors<f32>>,
    /// The version each tensor was last stored at: answers may carry only some tensors.
    versions: OnceLock<Vec<AtomicU64>>,
}

impl LatestParameters {
    /// Keeps each tensor of `tensors` (position, values) unless a newer version of it is
    /// already held. The first answer must carry every tensor. Two workers storing at once
    /// may interleave elements, which Hogwild accepts.
    pub(crate) fn offer(
        &self,
        version: u64,
        tensors: &[(usize, ArrayD<f32>)],
    ) -> Result<(), RlError> {
        let held = match self.tensors.get() {
            Some(held) => held,
            None => {
                if tensors.iter().enumerate().any(|(p, (i, _))| p != *i) {
                    return Err(RlError::Remote(
                        "the coordinator's first answer lacks parameter tensors".into(),
                    ));
                }
                let views: Vec<_> = tensors.iter().map(|(_, t)| t.view()).collect();
                self.tensors
                    .get_or_init(|| AtomicTensors::from_views(&views))
            }
        };
        let versions = self
            .versions
            .get_or_init(|| (0..held.len()).map(|_| AtomicU64::new(version)).collect());
        for (index, tensor) in tensors {
            let Some(shape) = held.shapes().get(*index) else {
                return Err(RlError::Remote(
                    format!(
                        "parameters: tensor param{index} beyond the {} of the network",
                        held.len()
                    )
                    .into(),
                ));
            };
            if tensor.shape() != shape.as_slice() {
                return Err(RlError::Shape {
                    what: "parameters from the coordinator",
                    index: *index,
                    expected: shape.clone(),
                    got: tensor.shape().to_vec(),
                });
            }
            if versions[*index].load(Relaxed) <= version {
                held.store_one(*index, tensor.view());
                versions[*index].fetch_max(version, Relaxed);
            }
        }
        self.version.fetch_max(version, Relaxed);
        Ok(())
    }
}

impl LatestParameters {
    /// The newest version any answer carried; the tensors may be newer, never older.
    pub(crate) fn version(&self) -> u64 {
        self.version.load(Relaxed)
    }

    /// The tensors, once the first answer came.
    pub(crate) fn tensors(&self) -> Option<&AtomicTensors<f32>> {
        self.tensors.get()
    }
}

/// Per-experiment parameter copies of one agent session.
#[derive(Default)]
pub(crate) struct A3cCopies {
    by_experiment: Mutex<HashMap<String, Arc<LatestParameters>>>,
}

impl A3cCopies {
    /// The copy of `parameters` (an experiment, or one phase of it, whose parameters are
    /// unrelated to any other's).
    pub(crate) fn of(&self, parameters: &str) -> Arc<LatestParameters> {
        let mut map = self
            .by_experiment
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // One experiment (phase) runs at a time; older copies are dead weight.
        map.retain(|id, _| id == parameters);
        Arc::clone(map.entry(parameters.to_owned()).or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled(shape: &[usize], value: f32) -> ArrayD<f32> {
        ArrayD::from_elem(shape, value)
    }

    fn held(latest: &LatestParameters) -> Vec<ArrayD<f32>> {
        latest.tensors.get().unwrap().to_arrays()
    }

    #[test]
    fn answers_update_only_the_tensors_they_carry_and_never_with_older_ones() {
        let latest = LatestParameters::default();
        let partial = [(1, filled(&[2], 1.0))];
        assert!(
            latest.offer(1, &partial).is_err(),
            "the first answer must be whole"
        );
        let whole = [(0, filled(&[3], 0.0)), (1, filled(&[2], 0.0))];
        latest.offer(1, &whole).unwrap();
        latest.offer(5, &[(1, filled(&[2], 5.0))]).unwrap();
        assert_eq!(held(&latest), [filled(&[3], 0.0), filled(&[2], 5.0)]);
        // Another worker's answer, older for tensor 1 but newer for tensor 0.
        latest
            .offer(3, &[(0, filled(&[3], 3.0)), (1, filled(&[2], 3.0))])
            .unwrap();
        assert_eq!(held(&latest), [filled(&[3], 3.0), filled(&[2], 5.0)]);
        assert_eq!(latest.version.load(Relaxed), 5);
        assert!(latest.offer(6, &[(2, filled(&[1], 0.0))]).is_err());
        assert!(latest.offer(6, &[(0, filled(&[2], 0.0))]).is_err());
    }
}
