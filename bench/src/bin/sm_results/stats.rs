//! Statistics of runs over seeds: the median with a distribution-free 95% confidence interval
//! (order statistics of the binomial(n, 1/2)), and the two-sided Mann-Whitney U test (normal
//! approximation with tie correction and continuity correction). A run that did not solve
//! counts as `budget + 1` evaluations: worse than every solved run, tied with the other
//! unsolved ones, which is what the rank test needs.

// The statistics are the shared ones (`pathnet_bench::samples`); this module keeps the
// report's own shapes (U counted as `x` below `y`, `p_x_below`), which the JSON report and its
// readers use.
use pathnet_bench::samples;
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
    let ci = samples::median_ci(values, 0.95)?;
    Some(MedianCi {
        median: ci.median,
        lo: ci.lo?,
        hi: ci.hi?,
        coverage: ci.coverage?,
    })
}

/// The two-sided Mann-Whitney U test of `x` against `y`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub(crate) struct MannWhitney {
    /// U of `x`: the number of pairs with `x < y`, ties counting one half.
    pub u: f64,
    /// `u / (nx ny)`: the probability that a run of `x` is below one of `y` (ties halved).
    pub p_x_below: f64,
    /// Positive when `x` tends below `y` (fewer evaluations).
    pub z: f64,
    /// Two-sided p-value.
    pub p: f64,
}

/// [`samples::mann_whitney`] counted from below: `None` only for an empty sample; samples
/// that tie throughout (every run unsolved, say) give no evidence, p = 1.
pub(crate) fn mann_whitney(x: &[f64], y: &[f64]) -> Option<MannWhitney> {
    if x.is_empty() || y.is_empty() {
        return None;
    }
    let pairs = (x.len() * y.len()) as f64;
    let (u, z, p) = match samples::mann_whitney(x, y) {
        // `u_x` counts the pairs with `x` above, so the pairs below are the rest.
        Some(test) => (pairs - test.u_x, -test.z, test.p),
        None => (pairs / 2.0, 0.0, 1.0),
    };
    Some(MannWhitney {
        u,
        p_x_below: u / pairs,
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
