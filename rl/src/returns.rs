//! n-step returns of one segment, bootstrapped the way Gymnasium's flags say.
//!
//! A segment is at most `t_max` consecutive steps of one episode. Its returns are
//! `R_t = r_t + γ r_{t+1} + … + γ^{n-1} r_{t+n-1} + γ^n B`, where the bootstrap `B` depends on
//! how the segment ended:
//! - the episode `terminated`: the last state is terminal, its value is 0, so `B = 0`;
//! - the episode was `truncated` (a time limit): the state is not terminal, the episode was
//!   merely cut, so `B = V(final observation)`: the observation `step` returned with the flag;
//! - the segment reached `t_max` mid-episode: `B = V(s_{t+n})`, the next state.
//!
//! Treating truncation as termination would teach the critic that states near the time limit
//! are worthless, which on CartPole caps what the policy can learn.

/// How a segment ended, with the value estimate to bootstrap from where there is one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SegmentEnd {
    /// The episode reached a terminal state: bootstrap from 0.
    Terminated,
    /// The episode was cut off (a time limit): bootstrap from the final observation's value.
    Truncated {
        /// `V` of the observation `step` returned with the `truncated` flag.
        final_value: f64,
    },
    /// The segment reached `t_max` mid-episode: bootstrap from the next state's value.
    Continues {
        /// `V(s_{t+n})`, the state the next segment starts from.
        next_value: f64,
    },
}

impl SegmentEnd {
    /// `B`, the value the last return is bootstrapped from.
    pub fn bootstrap(self) -> f64 {
        match self {
            SegmentEnd::Terminated => 0.0,
            SegmentEnd::Truncated { final_value } => final_value,
            SegmentEnd::Continues { next_value } => next_value,
        }
    }

    /// Whether the episode is over, so that the next segment starts from a reset.
    pub fn episode_over(self) -> bool {
        !matches!(self, SegmentEnd::Continues { .. })
    }
}

/// Writes the discounted returns of `rewards` into `out` (cleared first, reused to avoid
/// allocating per segment).
pub fn n_step_returns_into(rewards: &[f64], end: SegmentEnd, gamma: f64, out: &mut Vec<f64>) {
    out.clear();
    out.resize(rewards.len(), 0.0);
    let mut ret = end.bootstrap();
    for (r, slot) in rewards.iter().zip(out.iter_mut()).rev() {
        ret = r + gamma * ret;
        *slot = ret;
    }
}

/// The discounted returns `R_t` of `rewards`, one per step, bootstrapped as `end` says.
pub fn n_step_returns(rewards: &[f64], end: SegmentEnd, gamma: f64) -> Vec<f64> {
    let mut out = Vec::with_capacity(rewards.len());
    n_step_returns_into(rewards, end, gamma, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: &[f64], b: &[f64]) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < 1e-12, "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn terminated_bootstraps_zero() {
        // R2 = 3, R1 = 2 + 0.5*3 = 3.5, R0 = 1 + 0.5*3.5 = 2.75
        let r = n_step_returns(&[1.0, 2.0, 3.0], SegmentEnd::Terminated, 0.5);
        close(&r, &[2.75, 3.5, 3.0]);
    }

    #[test]
    fn truncated_bootstraps_from_the_final_observation() {
        // R1 = 1 + 0.9*10 = 10, R0 = 1 + 0.9*10 = 10: a fixed point of V = 10.
        let end = SegmentEnd::Truncated { final_value: 10.0 };
        close(&n_step_returns(&[1.0, 1.0], end, 0.9), &[10.0, 10.0]);
        assert!(end.episode_over());
    }

    #[test]
    fn a_cut_segment_bootstraps_from_the_next_state() {
        // R1 = 0 + 0.99*(-2) = -1.98, R0 = 1 + 0.99*(-1.98) = -0.9602
        let end = SegmentEnd::Continues { next_value: -2.0 };
        close(&n_step_returns(&[1.0, 0.0], end, 0.99), &[-0.9602, -1.98]);
        assert!(!end.episode_over());
    }

    #[test]
    fn gamma_one_sums_and_gamma_zero_is_myopic() {
        let end = SegmentEnd::Continues { next_value: 4.0 };
        close(&n_step_returns(&[1.0, 2.0], end, 1.0), &[7.0, 6.0]);
        close(&n_step_returns(&[1.0, 2.0], end, 0.0), &[1.0, 2.0]);
    }

    #[test]
    fn the_buffer_is_reused() {
        let mut out = vec![9.0; 5];
        n_step_returns_into(&[1.0], SegmentEnd::Terminated, 0.9, &mut out);
        assert_eq!(out, vec![1.0]);
        n_step_returns_into(&[], SegmentEnd::Terminated, 0.9, &mut out);
        assert!(out.is_empty());
    }
}
