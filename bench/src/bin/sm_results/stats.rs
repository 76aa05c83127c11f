//! Statistics of runs over seeds: the median with a distribution-free 95% confidence interval
//! (order statistics of the binomial(n, 1/2)), and the two-sided Mann-Whitney U test (normal
//! approximation with tie correction and continuity correction). A run that did not solve
//! counts as `budget + 1` evaluations: worse than every solved run, tied with the other
//! unsolved ones, which is what the rank test needs.

// The distribution functions are the shared ones; this module keeps the report's own shapes
// (a unit of evaluations, `p_x_below`), which the JSON report and its readers use.
use pathnet_bench::samples::{binomial_half_cdf, normal_upper_tail};
use serde::Serialize;

/// A sample median and its confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub(crate) struct MedianCi {
    pub median: f64,
    pub lo: f64,
    pub hi: f64,
    /// The interval's exact coverage (at least the level asked for).
    pub coverage: f64,
}

/// The median of `values` with the widest-rank interval `[x_(j), x_(n+1-j)]` covering at least
/// 95%; `None` for fewer than 6 values (no such interval exists below that).
pub(crate) fn median_ci(values: &[f64]) -> Option<MedianCi> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    // Coverage of [x_(j), x_(n+1-j)] is 1 - 2 P(B <= j - 1); take the largest such j >= 1.
    let j = (1..=n / 2)
        .take_while(|&j| 1.0 - 2.0 * binomial_half_cdf(n, j - 1) >= 0.95)
        .last()?;
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    Some(MedianCi {
        median,
        lo: v[j - 1],
        hi: v[n - j],
        coverage: 1.0 - 2.0 * binomial_half_cdf(n, j - 1),
    })
}

/// The two-sided Mann-Whitney U test of `x` against `y`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub(crate) struct MannWhitney {
    /// U of `x`: the number of pairs with `x < y`, ties counting one half.
    pub u: f64,
    /// `u / (nx ny)`: the probability that a run of `x` is below one of `y` (ties halved).
    pub p_x_below: f64,
    pub z: f64,
    /// Two-sided p-value.
    pub p: f64,
}

pub(crate) fn mann_whitney(x: &[f64], y: &[f64]) -> Option<MannWhitney> {
    let (nx, ny) = (x.len(), y.len());
    if nx == 0 || ny == 0 {
        return None;
    }
    let mut all: Vec<(f64, bool)> = x
        .iter()
        .map(|&v| (v, true))
        .chain(y.iter().map(|&v| (v, false)))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    let n = all.len();
    let (mut rank_sum_y, mut ties) = (0.0, 0.0);
    let mut i = 0;
    while i < n {
        let mut k = i;
        while k + 1 < n && all[k + 1].0 == all[i].0 {
            k += 1;
        }
        let t = (k - i + 1) as f64;
        ties += t * t * t - t;
        let rank = (i + k) as f64 / 2.0 + 1.0;
        rank_sum_y += rank * all[i..=k].iter().filter(|e| !e.1).count() as f64;
        i = k + 1;
    }
    let (nxf, nyf, nf) = (nx as f64, ny as f64, n as f64);
    // U of y counts pairs with y > x; so U of x (pairs with x < y) is the same number.
    let u = rank_sum_y - nyf * (nyf + 1.0) / 2.0;
    let mean = nxf * nyf / 2.0;
    let var = nxf * nyf / 12.0 * ((nf + 1.0) - ties / (nf * (nf - 1.0)).max(1.0));
    let (z, p) = if var <= 0.0 {
        (0.0, 1.0)
    } else {
        let d = (u - mean).abs() - 0.5;
        let z = d.max(0.0) / var.sqrt() * (u - mean).signum();
        (z, (2.0 * normal_upper_tail(z.abs())).min(1.0))
    };
    Some(MannWhitney {
        u,
        p_x_below: u / (nxf * nyf),
        z,
        p,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use pathnet_bench::samples::erfc;

    #[test]
    fn the_median_interval_uses_the_binomial_ranks() {
        // n = 20: the 95% interval is [x_(6), x_(15)], coverage 0.9586.
        let v: Vec<f64> = (1..=20).map(f64::from).collect();
        let ci = median_ci(&v).unwrap();
        assert_eq!((ci.median, ci.lo, ci.hi), (10.5, 6.0, 15.0));
        assert!((ci.coverage - 0.9586).abs() < 1e-4, "{ci:?}");
        // n = 6: only [x_(1), x_(6)], coverage 0.969.
        let ci = median_ci(&[3.0, 1.0, 2.0, 6.0, 5.0, 4.0]).unwrap();
        assert_eq!((ci.lo, ci.hi), (1.0, 6.0));
        assert_eq!(median_ci(&[1.0, 2.0, 3.0, 4.0, 5.0]), None);
    }

    #[test]
    fn mann_whitney_matches_known_values() {
        // Fully separated samples of 5 and 5: U = 25 (every x below every y); the exact
        // two-sided p is 0.0079, the normal approximation with continuity correction 0.0122.
        let x = [1.0, 2.0, 3.0, 4.0, 5.0];
        let y = [6.0, 7.0, 8.0, 9.0, 10.0];
        let t = mann_whitney(&x, &y).unwrap();
        assert_eq!(t.u, 25.0);
        assert_eq!(t.p_x_below, 1.0);
        assert!((t.p - 0.0122).abs() < 5e-4, "{t:?}");
        let back = mann_whitney(&y, &x).unwrap();
        assert_eq!(back.u, 0.0);
        assert!((back.p - t.p).abs() < 1e-12);
        // Identical samples: no evidence either way.
        let same = mann_whitney(&x, &x).unwrap();
        assert_eq!(same.u, 12.5);
        assert!(same.p > 0.99, "{same:?}");
        // All tied (e.g. every run unsolved): p = 1.
        assert_eq!(mann_whitney(&[9.0; 4], &[9.0; 4]).unwrap().p, 1.0);
    }

    #[test]
    fn erfc_is_accurate() {
        for (x, want) in [
            (0.0, 1.0),
            (0.5, 0.479_500_122),
            (1.96, 0.005_573_7),
            (-1.0, 1.842_700_79),
        ] {
            assert!(
                (erfc(x) - want).abs() < 1e-6 * want.max(1.0),
                "{x}: {}",
                erfc(x)
            );
        }
    }
}
