//! Medians and percentiles of measured samples.

use serde::Serialize;

/// The median (the mean of the middle two for an even count); `None` for no values.
pub fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(values[n / 2]),
        _ => Some((values[n / 2 - 1] + values[n / 2]) / 2.0),
    }
}

/// A latency distribution in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Latency {
    /// The mean.
    pub mean_us: f64,
    /// The median, by nearest rank: the smallest sample with half the samples at or below it.
    pub p50_us: f64,
    /// The 90th percentile, by nearest rank.
    pub p90_us: f64,
    /// The 99th percentile, by nearest rank.
    pub p99_us: f64,
    /// The slowest sample.
    pub max_us: f64,
}

impl Latency {
    /// `None` for no samples.
    pub fn of(samples_us: &[f64]) -> Option<Self> {
        let mut sorted = samples_us.to_vec();
        sorted.sort_by(f64::total_cmp);
        let max_us = *sorted.last()?;
        Some(Latency {
            mean_us: sorted.iter().sum::<f64>() / sorted.len() as f64,
            p50_us: nearest_rank(&sorted, 50.0),
            p90_us: nearest_rank(&sorted, 90.0),
            p99_us: nearest_rank(&sorted, 99.0),
            max_us,
        })
    }
}

/// The smallest sample with at least `p` percent of the samples at or below it.
fn nearest_rank(sorted: &[f64], p: f64) -> f64 {
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(Vec::new()), None);
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let samples: Vec<f64> = (1..=200).rev().map(f64::from).collect();
        let l = Latency::of(&samples).unwrap();
        assert_eq!(
            (l.p50_us, l.p90_us, l.p99_us, l.max_us),
            (100.0, 180.0, 198.0, 200.0)
        );
        assert_eq!(l.mean_us, 100.5);
        let one = Latency::of(&[7.0]).unwrap();
        assert_eq!((one.p50_us, one.p99_us, one.mean_us), (7.0, 7.0, 7.0));
        assert_eq!(Latency::of(&[]), None);
    }
}
