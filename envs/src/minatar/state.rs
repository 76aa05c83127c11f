//! Reading a game state back from the flat `f64` vector `Env::set_state` takes.

use crate::error::EnvError;

/// Walks a flat state vector field by field, so that a bad value is reported by name.
pub(super) struct Fields<'a> {
    env: &'static str,
    values: &'a [f64],
    at: usize,
}

impl<'a> Fields<'a> {
    pub(super) fn new(
        env: &'static str,
        values: &'a [f64],
        expected: usize,
    ) -> Result<Self, EnvError> {
        crate::env::check_state_len(env, values, expected)?;
        Ok(Fields { env, values, at: 0 })
    }

    /// The next value, which must be an integer in `lo..=hi`.
    pub(super) fn int(&mut self, name: &str, lo: i64, hi: i64) -> Result<i64, EnvError> {
        let v = self.values[self.at];
        self.at += 1;
        if v.fract() == 0.0 && v >= lo as f64 && v <= hi as f64 {
            Ok(v as i64)
        } else {
            Err(EnvError::InvalidOption {
                key: format!("state.{name}"),
                value: v.to_string(),
                reason: format!("{}: must be an integer in {lo}..={hi}", self.env),
            })
        }
    }

    pub(super) fn index(&mut self, name: &str, hi: usize) -> Result<usize, EnvError> {
        Ok(self.int(name, 0, hi as i64)? as usize)
    }

    pub(super) fn flag(&mut self, name: &str) -> Result<bool, EnvError> {
        Ok(self.int(name, 0, 1)? == 1)
    }
}
