//! Statistics for comparing methods over seeds: the median with a distribution-free
//! confidence interval from order statistics, the two-sided Mann-Whitney U test and paired
//! win counts. Values censored at a cap (a run that never reached its threshold) are passed
//! as the cap itself, so they tie with each other and rank above every value that reached it.

use serde::Serialize;

/// A sample's median with a confidence interval for it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MedianCi {
    /// Sample size.
    pub n: usize,
    /// The sample median (the mean of the middle two for an even `n`).
    pub median: f64,
    /// Order-statistic interval `[x_(k), x_(n+1-k)]` (1-based, sorted): the largest `k` with
    /// `P(Binomial(n, 1/2) < k) <= (1 - level) / 2`, so its coverage is at least `level`.
    /// Absent when `n` is too small for any such `k`.
    pub lo: Option<f64>,
    /// The interval's upper end, `x_(n+1-k)`; absent with `lo`.
    pub hi: Option<f64>,
    /// The interval's exact coverage, `1 - 2 P(Binomial(n, 1/2) < k)`.
    pub coverage: Option<f64>,
}

/// `P(Binomial(n, 1/2) <= k)`.
pub fn binomial_half_cdf(n: usize, k: usize) -> f64 {
    // Sums of binomial coefficients scaled step by step, exact enough for any n used here.
    let mut term = 0.5f64.powi(n as i32);
    let mut sum = 0.0;
    for i in 0..=k.min(n) {
        if i > 0 {
            term *= (n - i + 1) as f64 / i as f64;
        }
        sum += term;
    }
    sum
}

/// The rank `k` of the order-statistic interval at `level` (see [`MedianCi`]); `None` when
/// even `[min, max]` covers less than `level`.
pub fn median_ci_rank(n: usize, level: f64) -> Option<usize> {
    let alpha = (1.0 - level) / 2.0;
    let mut best = None;
    for k in 1..=n.div_ceil(2) {
        // P(X < k) = P(X <= k - 1)
        if binomial_half_cdf(n, k - 1) <= alpha {
            best = Some(k);
        } else {
            break;
        }
    }
    best
}

/// The median of `values` with its order-statistic interval at confidence `level` (e.g.
/// 0.95); `None` for an empty sample.
pub fn median_ci(values: &[f64], level: f64) -> Option<MedianCi> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let median = crate::stats::median(sorted.clone())?;
    let rank = median_ci_rank(n, level);
    Some(MedianCi {
        n,
        median,
        lo: rank.map(|k| sorted[k - 1]),
        hi: rank.map(|k| sorted[n - k]),
        coverage: rank.map(|k| 1.0 - 2.0 * binomial_half_cdf(n, k - 1)),
    })
}

/// The result of a two-sided Mann-Whitney U test of `x` against `y`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MannWhitney {
    /// U of `x`: pairs with the `x` value larger, ties counting one half.
    pub u_x: f64,
    /// Standardised statistic with continuity correction; negative when `x` tends smaller.
    pub z: f64,
    /// Two-sided p-value from the normal approximation with tie-corrected variance.
    pub p: f64,
}

/// Mann-Whitney U by mid-ranks, normal approximation with tie correction and continuity
/// correction (what `scipy.stats.mannwhitneyu(method="asymptotic")` computes). `None` for an
/// empty sample or when every value ties (no information).
pub fn mann_whitney(x: &[f64], y: &[f64]) -> Option<MannWhitney> {
    let (n1, n2) = (x.len(), y.len());
    if n1 == 0 || n2 == 0 {
        return None;
    }
    let mut all: Vec<(f64, bool)> = x
        .iter()
        .map(|&v| (v, true))
        .chain(y.iter().map(|&v| (v, false)))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    let n = all.len();
    let mut rank_sum_x = 0.0;
    let mut tie_term = 0.0;
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        let mid_rank = (i + j + 2) as f64 / 2.0;
        let t = (j - i + 1) as f64;
        tie_term += t * t * t - t;
        rank_sum_x += mid_rank * all[i..=j].iter().filter(|(_, in_x)| *in_x).count() as f64;
        i = j + 1;
    }
    let (n1f, n2f, nf) = (n1 as f64, n2 as f64, n as f64);
    let u_x = rank_sum_x - n1f * (n1f + 1.0) / 2.0;
    let mean = n1f * n2f / 2.0;
    let variance = n1f * n2f / 12.0 * ((nf + 1.0) - tie_term / (nf * (nf - 1.0)));
    if variance <= 0.0 {
        return None;
    }
    let diff = u_x - mean;
    let corrected = (diff.abs() - 0.5).max(0.0) * diff.signum();
    let z = corrected / variance.sqrt();
    let p = (2.0 * normal_upper_tail(z.abs())).min(1.0);
    Some(MannWhitney { u_x, z, p })
}

/// `P(Z > z)` for a standard normal `Z`.
pub fn normal_upper_tail(z: f64) -> f64 {
    0.5 * erfc(z / std::f64::consts::SQRT_2)
}

/// The complementary error function, from the Chebyshev fit of Numerical Recipes
/// (`erfcc`, fractional error below 1.2e-7 everywhere).
pub fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

/// Paired outcomes of two methods over the same seeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Wins {
    /// Seeds where the first method's value is smaller (fewer generations: better).
    pub first: usize,
    /// Seeds where the second method's value is smaller.
    pub second: usize,
    /// Seeds where both values are equal, e.g. both runs censored at the cap.
    pub ties: usize,
}

/// Counts, pair by pair over the shorter of the two slices, which method's value is smaller.
pub fn paired_wins(first: &[f64], second: &[f64]) -> Wins {
    let mut wins = Wins {
        first: 0,
        second: 0,
        ties: 0,
    };
    for (a, b) in first.iter().zip(second) {
        match a.total_cmp(b) {
            std::cmp::Ordering::Less => wins.first += 1,
            std::cmp::Ordering::Greater => wins.second += 1,
            std::cmp::Ordering::Equal => wins.ties += 1,
        }
    }
    wins
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn binomial_tails_of_known_values() {
        assert!(close(binomial_half_cdf(10, 1), 11.0 / 1024.0, 1e-15));
        assert!(close(binomial_half_cdf(10, 2), 56.0 / 1024.0, 1e-15));
        assert!(close(binomial_half_cdf(4, 4), 1.0, 1e-15));
    }

    #[test]
    fn median_interval_ranks_match_the_tables() {
        // Conover's table of distribution-free 95% intervals for the median.
        assert_eq!(median_ci_rank(5, 0.95), None);
        assert_eq!(median_ci_rank(6, 0.95), Some(1));
        assert_eq!(median_ci_rank(10, 0.95), Some(2));
        assert_eq!(median_ci_rank(20, 0.95), Some(6));
        assert_eq!(median_ci_rank(30, 0.95), Some(10));
    }

    #[test]
    fn median_interval_of_a_sample() {
        let values: Vec<f64> = (1..=10).rev().map(f64::from).collect();
        let ci = median_ci(&values, 0.95).unwrap();
        assert_eq!((ci.median, ci.lo, ci.hi), (5.5, Some(2.0), Some(9.0)));
        assert!(close(ci.coverage.unwrap(), 1.0 - 22.0 / 1024.0, 1e-12));
        let few = median_ci(&[3.0, 1.0, 2.0], 0.95).unwrap();
        assert_eq!((few.median, few.lo, few.coverage), (2.0, None, None));
        assert!(median_ci(&[], 0.95).is_none());
    }

    #[test]
    fn normal_tail_of_known_values() {
        assert!(close(normal_upper_tail(0.0), 0.5, 1e-7));
        assert!(close(normal_upper_tail(1.959_964), 0.025, 1e-7));
        assert!(close(normal_upper_tail(-1.0), 0.841_344_746, 1e-7));
        assert!(close(erfc(1.0), 0.157_299_207, 1e-7));
    }

    #[test]
    fn mann_whitney_matches_scipy() {
        // scipy.stats.mannwhitneyu([1,2,3], [4,5,6], method="asymptotic"):
        // U = 0, p = 0.080856...
        let r = mann_whitney(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]).unwrap();
        assert_eq!(r.u_x, 0.0);
        assert!(close(r.p, 0.080_856_5, 1e-5), "{r:?}");
        assert!(r.z < 0.0);
        // With ties (values censored at a cap of 10), worked by hand: mid-rank 7 for the five
        // tens, rank sum of x 17, U = 7 against a mean of 10, tie term 5^3 - 5 = 120,
        // variance 20 / 12 * (10 - 120 / 72) = 13.889, z = -2.5 / 3.7268 = -0.67082,
        // p = 0.502335.
        let r = mann_whitney(&[1.0, 2.0, 10.0, 10.0], &[3.0, 10.0, 10.0, 10.0, 4.0]).unwrap();
        assert_eq!(r.u_x, 7.0);
        assert!(close(r.z, -0.670_820_4, 1e-6), "{r:?}");
        assert!(close(r.p, 0.502_335, 1e-5), "{r:?}");
        // Symmetric: swapping the samples changes only the sign.
        let s = mann_whitney(&[3.0, 10.0, 10.0, 10.0, 4.0], &[1.0, 2.0, 10.0, 10.0]).unwrap();
        assert_eq!(s.u_x, 13.0);
        assert!(close(s.p, r.p, 1e-12) && close(s.z, -r.z, 1e-12));
        assert!(mann_whitney(&[5.0, 5.0], &[5.0]).is_none());
        assert!(mann_whitney(&[], &[1.0]).is_none());
    }

    #[test]
    fn paired_wins_count_each_seed_once() {
        let w = paired_wins(&[1.0, 5.0, 3.0, 3.0], &[2.0, 4.0, 3.0, 9.0]);
        assert_eq!(
            w,
            Wins {
                first: 2,
                second: 1,
                ties: 1
            }
        );
    }
}
