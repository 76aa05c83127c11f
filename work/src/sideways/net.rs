//! The video network of Sideways experiments and benchmarks, and a frame source over
//! generated clips.
//!
//! Four blocks of roughly equal cost on 32x32 single-channel frames, cut into `K` stages of
//! whole blocks, by count (`K` = 1, 2 or 4, equal blocks per stage) or by estimated cost
//! (`K` = 1 to 4, [`Cut::Cost`]):
//! conv 1->8 5x5 (32x32) | conv 8->16 3x3/2 (16x16) | conv 16->32 3x3/2 (8x8) | fc 2048->128->C.
//! Skip-Sideways adds skip edges into the top stage from the nodes `span` below it, each
//! through a strided convolution to the top stage's input shape (32x8x8 when the top stage is
//! the head alone, 16x16x16 when it starts at the third block, ...).

use super::SidewaysJobError;
use ndarray::{ArrayD, IxDyn};
use pathnet_envs::video::{Clip, render_batch};
use pathnet_nn::sideways::{Combine, FrameSource, Stage, StageNet, balanced_cut, chain_costs};
use pathnet_nn::{Conv2d, Conv2dSpec, Flatten, Init, Linear, Relu, Sequential};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Frames are `[1, 32, 32]`.
pub const SIDE: usize = 32;

/// The stage counts the network can be cut into by count (equal whole blocks per stage).
pub const STAGE_COUNTS: [usize; 3] = [1, 2, 4];

/// Blocks of the network: the most stages any cut makes.
pub const BLOCKS: usize = 4;

/// How the network's blocks are cut into stages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cut {
    /// Equal numbers of whole blocks per stage (`stages` 1, 2 or 4).
    #[default]
    Count,
    /// Contiguous whole blocks per stage, chosen so that the most expensive stage costs as
    /// little as possible, by the multiply-adds `pathnet_nn::sideways::layer_cost` estimates
    /// from the layers' shapes (`stages` 1 to 4).
    Cost,
}

impl Cut {
    /// Whether this is the default, count.
    pub fn is_count(&self) -> bool {
        *self == Cut::Count
    }

    /// Whether the network can be cut into `stages` stages this way.
    pub fn allows(&self, stages: usize) -> bool {
        match self {
            Cut::Count => STAGE_COUNTS.contains(&stages),
            Cut::Cost => (1..=BLOCKS).contains(&stages),
        }
    }

    /// What `stages` must be, in words.
    pub fn stages_rule(&self) -> &'static str {
        match self {
            Cut::Count => {
                "must be 1, 2 or 4 (the network's four blocks, equal whole blocks per stage; \
                 `cut = \"cost\"` or `blocks = [...]` allows 3)"
            }
            Cut::Cost => "must be 1 to 4 (the network's four blocks, whole blocks per stage)",
        }
    }
}

/// Which video network to build: how it is cut and what its head predicts.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoNetSpec {
    /// 1, 2 or 4.
    pub stages: usize,
    /// Spans of the skip edges into the top stage (2..=stages).
    pub skips: Vec<usize>,
    /// How the top stage merges its inputs when it has skip edges.
    pub combine: Combine,
    /// Outputs of the head (`C`): the label's classes.
    pub classes: usize,
    /// How the blocks are cut into stages.
    pub cut: Cut,
    /// Blocks per stage, bottom first, overriding `cut` (e.g. `[3, 1]`, the cut
    /// [`super::calibrate`] finds from timings); empty: `cut` decides.
    pub blocks: Vec<usize>,
}

/// Checks explicit blocks per stage: one entry per stage, each at least one block, all
/// [`BLOCKS`] blocks in all.
pub fn check_blocks(blocks: &[usize], stages: usize) -> Result<(), SidewaysJobError> {
    if blocks.len() != stages || blocks.contains(&0) || blocks.iter().sum::<usize>() != BLOCKS {
        return Err(SidewaysJobError::invalid(
            "blocks",
            format!("{blocks:?}"),
            format!(
                "must give each of the {stages} stages (`stages`) at least one of the \
                 network's {BLOCKS} blocks, bottom first, {BLOCKS} in all"
            ),
        ));
    }
    Ok(())
}

fn conv(i: usize, o: usize, kernel: usize, stride: usize, padding: usize) -> Conv2dSpec {
    Conv2dSpec {
        in_channels: i,
        out_channels: o,
        kernel,
        stride,
        padding,
    }
}

/// Channels and side of each block's output (block 0 = the frame).
const BLOCK_OUT: [(usize, usize); 4] = [(1, 32), (8, 32), (16, 16), (32, 8)];

/// The network of `spec`, initialised from `seed`.
///
/// Skip edges feed the top stage, whichever blocks it starts with: each skip's adapter (a
/// strided convolution and ReLU, owned by the top stage) maps its source node to the shape of
/// the top stage's input, and with `Combine::Concat` the top stage's first layer takes
/// `1 + skips` times the channels. With the top stage being the head alone (4 stages, or a
/// cost cut giving the head its own stage) this is the network as it always was, parameters
/// included, since the generator draws the layers in the same order.
pub fn video_net(spec: &VideoNetSpec, seed: u64) -> Result<StageNet<f32>, SidewaysJobError> {
    if !spec.blocks.is_empty() {
        check_blocks(&spec.blocks, spec.stages)?;
    } else if !spec.cut.allows(spec.stages) {
        return Err(SidewaysJobError::invalid(
            "stages",
            spec.stages,
            spec.cut.stages_rule(),
        ));
    }
    for &span in &spec.skips {
        if !(2..=spec.stages).contains(&span) {
            return Err(SidewaysJobError::invalid(
                "skips",
                span,
                format!(
                    "a skip span must be in 2..={} with {} stages",
                    spec.stages, spec.stages
                ),
            ));
        }
    }
    let widen = match spec.combine {
        Combine::Sum => 1,
        Combine::Concat => 1 + spec.skips.len(),
    };
    let sizes = cut_sizes(spec, widen);
    // Node `j` (0: the frame) is the input of block `first_block[j]`.
    let first_block: Vec<usize> = sizes
        .iter()
        .scan(0, |start, &size| {
            let first = *start;
            *start += size;
            Some(first)
        })
        .collect();
    let top_first = first_block[spec.stages - 1];
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let blocks = build_blocks(spec.classes, (top_first, widen), &mut rng);
    let mut stages = Vec::with_capacity(spec.stages);
    let mut blocks = blocks.into_iter();
    for &size in &sizes {
        let mut body = Sequential::default();
        for block in blocks.by_ref().take(size) {
            for layer in block.into_layers() {
                body.push(layer);
            }
        }
        stages.push(Stage::new(body));
    }
    let top = stages.pop().expect("at least one stage");
    let mut top = top.with_combine(spec.combine);
    let (top_channels, top_side) = BLOCK_OUT[top_first];
    for &span in &spec.skips {
        // Node `stages - span` is the input of the first block of stage `stages - span`.
        let (channels, side) = BLOCK_OUT[first_block[spec.stages - span]];
        let stride = side / top_side;
        let adapter = Sequential::default()
            .with(Conv2d::new(
                conv(channels, top_channels, stride, stride, 0),
                Init::HeUniform,
                &mut rng,
            ))
            .with(Relu);
        top = top.with_skip(span, adapter);
    }
    stages.push(top);
    Ok(StageNet::new(stages, &[1, SIDE, SIDE])?)
}

/// The four blocks, their layers drawn from `rng` in order; block `widen.0` takes `widen.1`
/// times its usual input channels (the top stage's first block under a concatenating merge).
fn build_blocks(
    classes: usize,
    widen: (usize, usize),
    rng: &mut ChaCha8Rng,
) -> Vec<Sequential<f32>> {
    let inputs = |block: usize| {
        let channels = BLOCK_OUT[block].0;
        if block == widen.0 {
            channels * widen.1
        } else {
            channels
        }
    };
    vec![
        Sequential::default()
            .with(Conv2d::new(
                conv(inputs(0), 8, 5, 1, 2),
                Init::HeUniform,
                rng,
            ))
            .with(Relu),
        Sequential::default()
            .with(Conv2d::new(
                conv(inputs(1), 16, 3, 2, 1),
                Init::HeUniform,
                rng,
            ))
            .with(Relu),
        Sequential::default()
            .with(Conv2d::new(
                conv(inputs(2), 32, 3, 2, 1),
                Init::HeUniform,
                rng,
            ))
            .with(Relu),
        Sequential::default()
            .with(Flatten)
            .with(Linear::new(inputs(3) * 64, 128, Init::HeUniform, rng))
            .with(Relu)
            .with(Linear::new(128, classes, Init::XavierUniform, rng)),
    ]
}

/// Blocks per stage, bottom first. By cost: for every block the top stage may start at, the
/// blocks are costed with that block widened as a concatenating merge widens it, the blocks
/// below are cut by [`balanced_cut`], and the start whose most expensive stage is cheapest
/// wins; among ties the top stage takes as few blocks as it can, as [`balanced_cut`] does.
/// Costs come from shapes alone, so the same spec always gets the same cut.
fn cut_sizes(spec: &VideoNetSpec, widen: usize) -> Vec<usize> {
    if !spec.blocks.is_empty() {
        return spec.blocks.clone();
    }
    let stages = spec.stages;
    if spec.cut == Cut::Count {
        return vec![BLOCKS / stages; stages];
    }
    if stages == 1 {
        return vec![BLOCKS];
    }
    // Weights do not change a cost, so any generator will do.
    let mut scratch = ChaCha8Rng::seed_from_u64(0);
    let mut best: Option<(u64, Vec<usize>)> = None;
    for top_first in (stages - 1..BLOCKS).rev() {
        let blocks = build_blocks(spec.classes, (top_first, widen), &mut scratch);
        let costs = block_costs(&blocks, (top_first, widen));
        let top: u64 = costs[top_first..].iter().sum();
        let Some(mut sizes) = balanced_cut(&costs[..top_first], stages - 1) else {
            continue;
        };
        let mut start = 0;
        let mut most = top;
        for &size in &sizes {
            most = most.max(costs[start..start + size].iter().sum());
            start += size;
        }
        sizes.push(BLOCKS - top_first);
        // Later starts come first, so only a strictly cheaper cut replaces one.
        if best.as_ref().is_none_or(|(cost, _)| most < *cost) {
            best = Some((most, sizes));
        }
    }
    best.expect("1 <= stages <= blocks was checked").1
}

/// Each block's estimated cost per frame (multiply-adds, [`chain_costs`]) in the network
/// without skip edges, bottom first.
pub fn block_estimates(classes: usize) -> Vec<u64> {
    let blocks = build_blocks(classes, (0, 1), &mut ChaCha8Rng::seed_from_u64(0));
    block_costs(&blocks, (0, 1))
}

/// Each block's estimated cost per frame, fed the shapes it is built for (block `widen.0`
/// `widen.1` times its usual channels, as a concatenating merge hands them).
fn block_costs(blocks: &[Sequential<f32>], widen: (usize, usize)) -> Vec<u64> {
    blocks
        .iter()
        .enumerate()
        .map(|(i, block)| {
            let (channels, side) = BLOCK_OUT[i];
            let channels = if i == widen.0 {
                channels * widen.1
            } else {
                channels
            };
            chain_costs(block.layers(), &[channels, side, side])
                .0
                .iter()
                .sum()
        })
        .collect()
}

/// A batch of generated clips as a frame source: frame `t` of every clip, `[batch, 1, H, W]`.
pub struct ClipBatch {
    clips: Vec<Clip>,
    side: usize,
    buffer: Vec<f32>,
}

impl ClipBatch {
    /// The frames of `clips`, which all have the same square frames and length.
    pub fn new(clips: Vec<Clip>) -> Self {
        let side = clips
            .first()
            .map_or(0, |c| (c.frame_len() as f64).sqrt() as usize);
        ClipBatch {
            clips,
            side,
            buffer: Vec::new(),
        }
    }
}

impl FrameSource<f32> for ClipBatch {
    fn len(&self) -> usize {
        self.clips.first().map_or(0, Clip::len)
    }

    fn batch(&self) -> usize {
        self.clips.len()
    }

    fn frame(&mut self, t: usize) -> ArrayD<f32> {
        render_batch(&self.clips, t, &mut self.buffer);
        ArrayD::from_shape_vec(
            IxDyn(&[self.clips.len(), 1, self.side, self.side]),
            self.buffer.clone(),
        )
        .expect("one frame per clip")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sideways::{Method, SidewaysTask};
    use pathnet_nn::sideways::{
        FramesVec, OptimizerSpec, Pipeline, SidewaysConfig, UpdateSchedule,
    };

    fn spec(stages: usize, cut: Cut, skips: Vec<usize>) -> VideoNetSpec {
        VideoNetSpec {
            stages,
            skips,
            combine: Combine::Sum,
            classes: 10,
            cut,
            blocks: Vec::new(),
        }
    }

    /// Layers per stage: a conv block is conv and ReLU, the head flatten, linear, ReLU, linear.
    fn layers(spec: &VideoNetSpec) -> Vec<usize> {
        video_net(spec, 3)
            .unwrap()
            .stages()
            .iter()
            .map(|stage| stage.body().layers().len())
            .collect()
    }

    #[test]
    fn the_blocks_cost_about_the_same() {
        let blocks = build_blocks(10, (3, 1), &mut ChaCha8Rng::seed_from_u64(0));
        let costs = block_costs(&blocks, (3, 1));
        // conv 5x5 on 32x32, two 3x3/2 convs, the head: within 40% of each other.
        assert_eq!(costs, [221_184, 303_104, 299_008, 265_738]);
    }

    #[test]
    fn the_cost_cut_balances_the_blocks_and_allows_three_stages() {
        assert_eq!(layers(&spec(3, Cut::Cost, vec![])), [4, 2, 4]);
        // On this network it agrees with the count where the count can cut.
        for stages in STAGE_COUNTS {
            assert_eq!(
                layers(&spec(stages, Cut::Cost, vec![])),
                layers(&spec(stages, Cut::Count, vec![])),
                "{stages} stages"
            );
        }
        // Skip edges start at the stage boundaries the cut chose.
        let net = video_net(&spec(3, Cut::Cost, vec![2, 3]), 3).unwrap();
        assert_eq!(net.stages()[2].spans(), [1, 2, 3]);
    }

    #[test]
    fn a_heavy_head_gets_a_stage_of_its_own() {
        // Concatenating a skip doubles the head's first layer (4096 inputs): 530k
        // multiply-adds against the three conv blocks' 823k together.
        let mut heavy = spec(2, Cut::Cost, vec![2]);
        heavy.combine = Combine::Concat;
        assert_eq!(layers(&heavy), [6, 4]);
        // By count the top stage starts at the third block, whose convolution then takes
        // the frame's adapted 16 channels beside the stage below's 16.
        heavy.cut = Cut::Count;
        assert_eq!(layers(&heavy), [4, 6]);
    }

    /// The bug this guards: 2 stages by count with a skip of span 2 built its adapter for
    /// the head's input (32x8x8), which is not the top stage's input (16x16x16).
    #[test]
    fn a_skip_into_a_top_stage_of_two_blocks_builds_and_trains() {
        for combine in [Combine::Sum, Combine::Concat] {
            let mut two = spec(2, Cut::Count, vec![2]);
            two.combine = combine;
            let net = video_net(&two, 3).unwrap();
            assert_eq!(net.stages()[1].spans(), [1, 2]);
            let mut pipeline = Pipeline::new(
                net,
                &OptimizerSpec::Adam(pathnet_nn::AdamConfig::default()),
                SidewaysConfig {
                    update: UpdateSchedule::PerClip,
                    drain: true,
                },
            )
            .unwrap();
            let frames = (0..3)
                .map(|t| ArrayD::from_elem(IxDyn(&[2, 1, SIDE, SIDE]), 0.1 * t as f32))
                .collect();
            let report = pipeline
                .train_clip(&mut FramesVec(frames), &[1, 7])
                .unwrap();
            assert!(
                report.frames == 3 && report.mean_loss.is_finite(),
                "{combine:?}: {report:?}"
            );
        }
    }

    /// Every `[sideways]` table the task accepts builds its network: every method, stage
    /// count, cut, set of skip spans and merge.
    #[test]
    fn every_accepted_skip_and_stage_combination_builds() {
        let mut built = 0;
        for cut in [Cut::Count, Cut::Cost] {
            for stages in 1..=BLOCKS {
                // Every subset of the spans 2..=stages, as a bit mask (bit 0: span 2).
                for mask in 0u32..(1 << (stages - 1)) {
                    let skips: Vec<usize> = (2..=stages)
                        .filter(|s| mask & (1 << (s - 2)) != 0)
                        .collect();
                    for method in [Method::Sideways, Method::SkipSideways] {
                        for combine in [Combine::Sum, Combine::Concat] {
                            let task = SidewaysTask {
                                stages,
                                cut,
                                method,
                                skips: skips.clone(),
                                combine,
                                ..SidewaysTask::default()
                            };
                            if task.validate().is_err() {
                                continue;
                            }
                            let net = video_net(&task.net_spec(), 1);
                            assert!(net.is_ok(), "{task:?}: {:?}", net.err());
                            built += 1;
                        }
                    }
                }
            }
        }
        // Sideways once per merge and stage count (count: 1, 2, 4; cost: 1 to 4), and
        // Skip-Sideways once per merge and set of spans (2, 4 and 8 sets at 2, 3 and 4
        // stages, the empty one meaning the whole depth): 2 * (3 + 10) + 2 * (4 + 14).
        assert_eq!(built, 62);
    }

    #[test]
    fn stage_counts_the_cut_cannot_make_are_refused_naming_stages() {
        for (stages, cut) in [(3, Cut::Count), (0, Cut::Cost), (5, Cut::Cost)] {
            let err = video_net(&spec(stages, cut, vec![]), 0).err().unwrap();
            let text = err.to_string();
            assert!(
                text.contains("sideways.stages") && text.contains(&stages.to_string()),
                "{text}"
            );
        }
    }

    #[test]
    fn explicit_blocks_override_the_cut_and_are_checked() {
        let mut three_one = spec(2, Cut::Count, vec![]);
        three_one.blocks = vec![3, 1];
        assert_eq!(layers(&three_one), [6, 4]);
        // Any stage count the blocks add up to, whatever `cut` says.
        let mut three = spec(3, Cut::Count, vec![3]);
        three.blocks = vec![1, 1, 2];
        let net = video_net(&three, 3).unwrap();
        assert_eq!(
            net.stages()
                .iter()
                .map(|s| s.body().layers().len())
                .collect::<Vec<_>>(),
            [2, 2, 6]
        );
        assert_eq!(net.stages()[2].spans(), [1, 3]);
        for (stages, blocks) in [
            (2, vec![2, 1]),
            (2, vec![4, 0]),
            (2, vec![1, 1, 2]),
            (1, vec![5]),
        ] {
            let mut bad = spec(stages, Cut::Count, vec![]);
            bad.blocks = blocks.clone();
            let text = video_net(&bad, 0).err().unwrap().to_string();
            assert!(
                text.contains("sideways.blocks") && text.contains(&format!("{blocks:?}")),
                "{text}"
            );
        }
    }
}
