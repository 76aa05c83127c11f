//! A rate over a sliding window, from samples of a running total.
//!
//! Prometheus computes rates itself from counters (`rate()`); this gauge is for people and
//! dashboards that read the endpoint directly and want "how fast now" without PromQL.

use crate::lease::Millis;
use std::collections::VecDeque;
use std::time::Duration;

/// Per-second rate of a running total over roughly the last `window`.
#[derive(Debug, Clone)]
pub struct RateWindow {
    window_ms: u64,
    /// Samples closer together than this are not kept: memory stays bounded however often
    /// the total is sampled.
    spacing_ms: u64,
    /// (time, total), oldest first. The front is the newest sample at least a window old
    /// once there is one, so the rate always spans a whole window.
    samples: VecDeque<(u64, u64)>,
}

impl RateWindow {
    /// An empty window spanning `window` (at least a millisecond).
    pub fn new(window: Duration) -> Self {
        let window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX).max(1);
        RateWindow {
            window_ms,
            spacing_ms: (window_ms / 30).max(1),
            samples: VecDeque::new(),
        }
    }

    /// Forgets every sample and starts again from `total` at `at` (a new running total).
    pub fn reset(&mut self, at: Millis, total: u64) {
        self.samples.clear();
        self.samples.push_back((at.0, total));
    }

    /// Records the running total at `at`.
    pub fn record(&mut self, at: Millis, total: u64) {
        if let Some(&(last, _)) = self.samples.back()
            && at.0 < last.saturating_add(self.spacing_ms)
        {
            return;
        }
        self.samples.push_back((at.0, total));
        let start = at.0.saturating_sub(self.window_ms);
        while self.samples.len() >= 2 && self.samples[1].0 <= start {
            self.samples.pop_front();
        }
    }

    /// Increase per second from the oldest kept sample to `total` at `now`; 0 before any
    /// time has passed.
    pub fn per_second(&self, now: Millis, total: u64) -> f64 {
        let Some(&(since, base)) = self.samples.front() else {
            return 0.0;
        };
        let span_ms = now.0.saturating_sub(since);
        if span_ms == 0 {
            return 0.0;
        }
        total.saturating_sub(base) as f64 * 1000.0 / span_ms as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window() -> RateWindow {
        RateWindow::new(Duration::from_secs(30))
    }

    #[test]
    fn a_steady_rate_is_measured_over_the_window() {
        let mut rate = window();
        rate.reset(Millis(0), 0);
        for second in 1..=120 {
            rate.record(Millis(second * 1000), second * 10);
        }
        assert_eq!(rate.per_second(Millis(120_000), 1200), 10.0);
        assert!(rate.samples.len() <= 32, "{}", rate.samples.len());
    }

    #[test]
    fn a_young_window_counts_from_the_reset() {
        let mut rate = window();
        rate.reset(Millis(5_000), 100);
        assert_eq!(rate.per_second(Millis(5_000), 100), 0.0);
        assert_eq!(rate.per_second(Millis(7_000), 104), 2.0);
    }

    #[test]
    fn the_rate_falls_to_zero_a_window_after_the_total_stops() {
        let mut rate = window();
        rate.reset(Millis(0), 0);
        for second in 1..=60 {
            rate.record(Millis(second * 1000), second * 4);
        }
        for second in 61..=100 {
            rate.record(Millis(second * 1000), 240);
        }
        assert_eq!(rate.per_second(Millis(100_000), 240), 0.0);
        // Halfway through the pause, half the window still saw work.
        let mut half = window();
        half.reset(Millis(0), 0);
        for second in 1..=60 {
            half.record(Millis(second * 1000), second * 4);
        }
        for second in 61..=75 {
            half.record(Millis(second * 1000), 240);
        }
        assert_eq!(half.per_second(Millis(75_000), 240), 2.0);
    }

    #[test]
    fn samples_closer_than_the_spacing_are_not_kept() {
        let mut rate = window();
        rate.reset(Millis(0), 0);
        for ms in 1..=999 {
            rate.record(Millis(ms), ms);
        }
        assert_eq!(rate.samples.len(), 1);
        assert_eq!(rate.per_second(Millis(1_000), 50), 50.0);
    }

    #[test]
    fn no_sample_means_no_rate() {
        assert_eq!(window().per_second(Millis(10_000), 7), 0.0);
    }
}
