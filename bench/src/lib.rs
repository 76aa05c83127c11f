//! Shared timing helpers and models for the benchmark binaries under `src/bin`.

use std::time::Instant;

pub mod coordinator;
pub mod machine;
pub mod process;
pub mod report_file;
pub mod samples;
pub mod stats;
pub mod video_net;

/// Summary of repeated timings, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Timing {
    /// The median run (the mean of the middle two for an even count).
    pub median_ms: f64,
    /// The fastest run.
    pub min_ms: f64,
    /// The slowest run.
    pub max_ms: f64,
    /// Runs timed (at least 1).
    pub runs: usize,
}

impl Timing {
    /// Summarises individual run times; `None` for an empty sample.
    pub fn from_samples(samples_ms: &[f64]) -> Option<Self> {
        let mut sorted = samples_ms.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let median = match n {
            0 => return None,
            _ if n % 2 == 1 => sorted[n / 2],
            _ => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
        };
        Some(Timing {
            median_ms: median,
            min_ms: sorted[0],
            max_ms: sorted[n - 1],
            runs: n,
        })
    }
}

/// Runs `f` `warmup` times untimed (caches, allocator and thread pools settle), then `runs`
/// times individually timed. The median resists the occasional slow run on a shared machine.
pub fn time_runs(warmup: usize, runs: usize, mut f: impl FnMut()) -> Option<Timing> {
    for _ in 0..warmup {
        f();
    }
    let samples: Vec<f64> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    Timing::from_samples(&samples)
}

/// The A3C Atari conv net (`[N,4,84,84]` → conv 16 8×8/4 → ReLU → conv 32 4×4/2 → ReLU → fc
/// 256 → ReLU → fc 6), the model both `model_bench` and `gpu_bench` time.
pub fn a3c_conv_net(rng: &mut impl rand::Rng) -> pathnet_nn::Sequential<f32> {
    use pathnet_nn::{Conv2d, Conv2dSpec, Flatten, Init, Linear, Relu, Sequential};
    let conv = |i, o, k, s| Conv2dSpec {
        in_channels: i,
        out_channels: o,
        kernel: k,
        stride: s,
        padding: 0,
    };
    Sequential::default()
        .with(Conv2d::new(conv(4, 16, 8, 4), Init::HeUniform, rng))
        .with(Relu)
        .with(Conv2d::new(conv(16, 32, 4, 2), Init::HeUniform, rng))
        .with(Relu)
        .with(Flatten)
        .with(Linear::new(32 * 9 * 9, 256, Init::HeUniform, rng))
        .with(Relu)
        .with(Linear::new(256, 6, Init::XavierUniform, rng))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_samples() {
        let t = Timing::from_samples(&[5.0, 1.0, 3.0]).unwrap();
        assert_eq!(
            (t.median_ms, t.min_ms, t.max_ms, t.runs),
            (3.0, 1.0, 5.0, 3)
        );
        assert_eq!(
            Timing::from_samples(&[4.0, 1.0, 2.0, 3.0])
                .unwrap()
                .median_ms,
            2.5
        );
        assert_eq!(Timing::from_samples(&[]), None);
    }

    #[test]
    fn time_runs_calls_warmup_plus_runs_times() {
        let mut calls = 0;
        let t = time_runs(2, 5, || calls += 1).unwrap();
        assert_eq!((calls, t.runs), (7, 5));
    }
}
