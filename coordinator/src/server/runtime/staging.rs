//! Deltas pushed ahead of their result report (ParameterService.PushParameters), held per
//! work id until the report commits them or the lease ends.

use ndarray::ArrayD;
use pathnet_nn::pathnet::ModuleId;
use pathnet_proto::v1::TensorChunk;
use pathnet_work::wire::{self, WireError};
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, thiserror::Error)]
pub(super) enum StagingError {
    #[error("work `{work}`: pushed data exceeds {limit} bytes, the size of every parameter")]
    TooLarge { work: String, limit: usize },
    #[error("work `{work}`, module {module} at version {base}: {source}")]
    Invalid {
        work: String,
        module: ModuleId,
        base: u64,
        source: Box<WireError>,
    },
}

type Key = (ModuleId, u64);

#[derive(Default)]
struct Pushed {
    bytes: usize,
    chunks: BTreeMap<Key, Vec<TensorChunk>>,
    complete: BTreeMap<Key, Vec<ArrayD<f32>>>,
}

#[derive(Default)]
pub(super) struct Staging {
    works: HashMap<String, Pushed>,
}

impl Staging {
    /// Keeps one chunk of a delta; refuses data beyond `limit` bytes per work.
    pub(super) fn add(
        &mut self,
        work: &str,
        module: ModuleId,
        base: u64,
        chunk: TensorChunk,
        limit: usize,
    ) -> Result<(), StagingError> {
        let pushed = self.works.entry(work.to_owned()).or_default();
        pushed.bytes = pushed.bytes.saturating_add(chunk.data.len());
        if pushed.bytes > limit {
            self.works.remove(work);
            return Err(StagingError::TooLarge {
                work: work.to_owned(),
                limit,
            });
        }
        pushed.chunks.entry((module, base)).or_default().push(chunk);
        Ok(())
    }

    /// Assembles every module pushed for `work` since the last seal; returns them, or the
    /// first invalid one (and then forgets everything pushed for the work).
    pub(super) fn seal(&mut self, work: &str) -> Result<Vec<Key>, StagingError> {
        let Some(pushed) = self.works.get_mut(work) else {
            return Ok(Vec::new());
        };
        let mut received = Vec::new();
        for ((module, base), chunks) in std::mem::take(&mut pushed.chunks) {
            match wire::tensors_from_chunks(chunks) {
                Ok(tensors) => {
                    pushed.complete.insert((module, base), tensors);
                    received.push((module, base));
                }
                Err(source) => {
                    self.works.remove(work);
                    return Err(StagingError::Invalid {
                        work: work.to_owned(),
                        module,
                        base,
                        source: Box::new(source),
                    });
                }
            }
        }
        Ok(received)
    }

    /// The sealed delta of one module, taken out.
    pub(super) fn take(
        &mut self,
        work: &str,
        module: ModuleId,
        base: u64,
    ) -> Option<Vec<ArrayD<f32>>> {
        self.works.get_mut(work)?.complete.remove(&(module, base))
    }

    pub(super) fn drop_work(&mut self, work: &str) {
        self.works.remove(work);
    }
}
