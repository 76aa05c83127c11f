//! One stage ("module shard") of a staged video network: a body of layers with exact backprop
//! inside, fed by its primary input (the stage below) and optionally by skip edges from stages
//! further down, each through its own adapter, merged by a [`Combine`].

use super::combine::Combine;
use crate::device::{Device, PlaceError, try_place};
use crate::{Cache, Float, Forward, Layer, Sequential};
use ndarray::{ArrayD, ArrayViewD, ArrayViewMutD, Axis};

/// A skip edge into a stage from `span` nodes below it (span 1 is the primary input, so skip
/// spans start at 2; node 0 is the frame). The adapter (possibly empty) maps the source's
/// activation to a shape the [`Combine`] accepts; its parameters belong to this stage.
pub struct SkipEdge<F> {
    /// How many nodes below the stage the edge starts, at least 2.
    pub span: usize,
    /// Layers from the source's activation to the combined shape; may be empty.
    pub adapter: Sequential<F>,
}

/// A stage: `y = body(combine(x_1, adapter_2(x_2), ...))`, or `y = body(x_1)` without skips.
pub struct Stage<F> {
    body: Sequential<F>,
    skips: Vec<SkipEdge<F>>,
    combine: Combine,
}

/// What a stage's forward pass keeps for its backward pass.
pub struct StageCache {
    body: Cache,
    /// One per skip edge, in edge order.
    adapters: Vec<Cache>,
    /// Axis-1 widths of the combined parts (primary first); empty without skips.
    widths: Vec<usize>,
}

/// The result of a stage's backward pass.
pub struct StageBackward<F> {
    /// d loss / d input per edge (primary first), `None` where not asked for.
    pub input_grads: Vec<Option<ArrayD<F>>>,
    /// In [`Stage::params`] order.
    pub param_grads: Vec<ArrayD<F>>,
}

impl<F: Float> Stage<F> {
    /// A stage fed only by the stage below it.
    pub fn new(body: Sequential<F>) -> Self {
        Stage {
            body,
            skips: Vec::new(),
            combine: Combine::Sum,
        }
    }

    /// Adds a skip edge from `span` nodes below, builder style.
    pub fn with_skip(mut self, span: usize, adapter: Sequential<F>) -> Self {
        self.skips.push(SkipEdge { span, adapter });
        self
    }

    /// Sets how the inputs are merged (default sum), builder style.
    pub fn with_combine(mut self, combine: Combine) -> Self {
        self.combine = combine;
        self
    }

    /// The spans of the stage's input edges, primary (1) first.
    pub fn spans(&self) -> Vec<usize> {
        std::iter::once(1)
            .chain(self.skips.iter().map(|s| s.span))
            .collect()
    }

    /// How its inputs are merged.
    pub fn combine(&self) -> Combine {
        self.combine
    }

    /// Its skip edges, in edge order (after the primary input).
    pub fn skips(&self) -> &[SkipEdge<F>] {
        &self.skips
    }

    /// The layers after the merge.
    pub fn body(&self) -> &Sequential<F> {
        &self.body
    }

    /// The body's name, then each skip edge's span and adapter, for logs and reports.
    pub fn name(&self) -> String {
        let mut name = self.body.name();
        for skip in &self.skips {
            name += &format!(" + skip(span {}, {})", skip.span, skip.adapter.name());
        }
        name
    }

    /// The adapted inputs of each edge, for the shape check at build time and the forward
    /// pass: the primary input unchanged, skip inputs through their adapters.
    fn adapt(&self, inputs: &[ArrayViewD<'_, F>]) -> (Vec<ArrayD<F>>, Vec<Cache>) {
        self.skips
            .iter()
            .zip(&inputs[1..])
            .map(|(skip, x)| {
                let Forward { output, cache } = skip.adapter.forward(x.view());
                (output, cache)
            })
            .unzip()
    }

    /// Shapes of the parts the combine sees, for the build-time check.
    pub(super) fn part_shapes(&self, inputs: &[ArrayViewD<'_, F>]) -> Vec<Vec<usize>> {
        let (adapted, _) = self.adapt(inputs);
        std::iter::once(inputs[0].shape().to_vec())
            .chain(adapted.iter().map(|a| a.shape().to_vec()))
            .collect()
    }

    /// `inputs` holds one tensor per edge, primary first.
    pub fn forward(&self, inputs: &[ArrayViewD<'_, F>]) -> (ArrayD<F>, StageCache) {
        assert_eq!(
            inputs.len(),
            1 + self.skips.len(),
            "stage with {} edges got {} inputs",
            1 + self.skips.len(),
            inputs.len()
        );
        if self.skips.is_empty() {
            let Forward { output, cache } = self.body.forward(inputs[0].view());
            let cache = StageCache {
                body: cache,
                adapters: Vec::new(),
                widths: Vec::new(),
            };
            return (output, cache);
        }
        let (adapted, adapters) = self.adapt(inputs);
        let parts: Vec<ArrayViewD<'_, F>> = std::iter::once(inputs[0].view())
            .chain(adapted.iter().map(|a| a.view()))
            .collect();
        let widths = parts.iter().map(|p| p.len_of(Axis(1))).collect();
        let combined = self.combine.forward(&parts);
        let Forward { output, cache } = self.body.forward(combined.view());
        let cache = StageCache {
            body: cache,
            adapters,
            widths,
        };
        (output, cache)
    }

    /// Vector-Jacobian product at the point `cache` was recorded. `need_input[e]` says whether
    /// edge `e`'s input gradient is wanted (not for frames, which are data).
    pub fn backward(
        &self,
        cache: &StageCache,
        output_grad: ArrayViewD<'_, F>,
        need_input: &[bool],
    ) -> StageBackward<F> {
        let any_input = need_input.iter().any(|&n| n);
        if self.skips.is_empty() {
            let (input_grad, param_grads) =
                backward_of(&self.body, &cache.body, output_grad, any_input);
            return StageBackward {
                input_grads: vec![input_grad],
                param_grads,
            };
        }
        // The adapters' parameters need the combined gradient even where no input gradient
        // is wanted, so the body's input gradient is always computed here.
        let (combined_grad, mut param_grads) =
            backward_of(&self.body, &cache.body, output_grad, true);
        let combined_grad = combined_grad.expect("asked for");
        let mut parts = self
            .combine
            .backward(combined_grad.view(), &cache.widths)
            .into_iter();
        let primary = parts.next().expect("one part per edge");
        let mut input_grads = vec![need_input[0].then_some(primary)];
        for ((skip, adapter_cache), (part, &need)) in self
            .skips
            .iter()
            .zip(&cache.adapters)
            .zip(parts.zip(&need_input[1..]))
        {
            let (input_grad, grads) = backward_of(&skip.adapter, adapter_cache, part.view(), need);
            input_grads.push(input_grad);
            param_grads.extend(grads);
        }
        StageBackward {
            input_grads,
            param_grads,
        }
    }

    /// Moves the body and every adapter to `device` (see [`crate::place`]), each as one placed
    /// layer, so that a stage's pass crosses to the device once per part rather than once per
    /// layer. Parameter order is unchanged. A part that cannot be placed stays where it was,
    /// and the error names it; parts placed before it stay placed.
    pub fn place(&mut self, device: Device) -> Result<(), PlaceError> {
        place_sequential(&mut self.body, device)?;
        for skip in &mut self.skips {
            place_sequential(&mut skip.adapter, device)?;
        }
        Ok(())
    }

    /// The body's parameters, then each adapter's, in edge order.
    pub fn params(&self) -> Vec<ArrayViewD<'_, F>> {
        let mut params = self.body.params();
        for skip in &self.skips {
            params.extend(skip.adapter.params());
        }
        params
    }

    /// The parameters mutably, in [`Stage::params`] order.
    pub fn params_mut(&mut self) -> Vec<ArrayViewMutD<'_, F>> {
        let mut params = self.body.params_mut();
        for skip in &mut self.skips {
            params.extend(skip.adapter.params_mut());
        }
        params
    }
}

/// Backward through `layers`, with the input gradient only when `input` is set.
fn backward_of<F: Float>(
    layers: &Sequential<F>,
    cache: &Cache,
    output_grad: ArrayViewD<'_, F>,
    input: bool,
) -> (Option<ArrayD<F>>, Vec<ArrayD<F>>) {
    if input {
        let b = layers.backward(cache, output_grad);
        (Some(b.input_grad), b.param_grads)
    } else {
        (None, layers.backward_params(cache, output_grad))
    }
}

/// `layers` as a sequential of one placed layer; an empty sequential has nothing to place.
fn place_sequential<F: Float>(
    layers: &mut Sequential<F>,
    device: Device,
) -> Result<(), PlaceError> {
    if layers.layers().is_empty() {
        return Ok(());
    }
    let whole: Box<dyn Layer<F>> = Box::new(std::mem::take(layers));
    match try_place(whole, device) {
        Ok(placed) => {
            *layers = Sequential::new(vec![placed]);
            Ok(())
        }
        Err((e, whole)) => {
            *layers = Sequential::new(vec![whole]);
            Err(e)
        }
    }
}
