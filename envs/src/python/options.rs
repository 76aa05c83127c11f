//! How a [`PythonEnv`] is set up: the interpreter, `gymnasium.make`'s keyword arguments and
//! the time limits on replies. What is not set explicitly comes from environment variables,
//! so that `make("gymnasium:<id>")` can be configured too, else from the defaults.

use super::PythonEnv;
use crate::error::EnvError;
use crate::registry::Kwargs;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The variable that names the Python interpreter when no path is given.
pub const PYTHON_ENV_VAR: &str = "PATHNET_PYTHON";

/// The variable that sets the start-up limit (seconds) when the builder does not.
pub const STARTUP_TIMEOUT_VAR: &str = "PATHNET_PYTHON_STARTUP_TIMEOUT";

/// The variable that sets the reply limit (seconds) when the builder does not.
pub const REPLY_TIMEOUT_VAR: &str = "PATHNET_PYTHON_REPLY_TIMEOUT";

/// The first reply waits for the interpreter to start, import gymnasium, numpy (and ale-py)
/// and run `gymnasium.make`: seconds on a quiet machine, far more on a loaded one with a cold
/// file cache.
pub const DEFAULT_STARTUP_TIMEOUT: Duration = Duration::from_secs(300);

/// Far above any real reset or step (an Atari step takes milliseconds), so that only an
/// environment that hangs reaches it.
pub const DEFAULT_REPLY_TIMEOUT: Duration = Duration::from_secs(60);

/// The interpreter used when none is given: `$PATHNET_PYTHON`, else `python3` from `PATH`.
pub fn default_python() -> PathBuf {
    std::env::var_os(PYTHON_ENV_VAR)
        .filter(|p| !p.is_empty())
        .map_or_else(|| PathBuf::from("python3"), PathBuf::from)
}

/// Builds a [`PythonEnv`]; from [`PythonEnv::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct PythonEnvBuilder {
    id: String,
    python: Option<PathBuf>,
    kwargs: Kwargs,
    startup_timeout: Option<Duration>,
    reply_timeout: Option<Duration>,
}

impl PythonEnvBuilder {
    pub(super) fn new(id: &str) -> Self {
        PythonEnvBuilder {
            id: id.to_string(),
            python: None,
            kwargs: Kwargs::new(),
            startup_timeout: None,
            reply_timeout: None,
        }
    }

    /// The interpreter; default [`default_python`].
    pub fn python(mut self, python: &Path) -> Self {
        self.python = Some(python.to_path_buf());
        self
    }

    /// Keyword arguments for `gymnasium.make`; default none.
    pub fn kwargs(mut self, kwargs: &Kwargs) -> Self {
        self.kwargs = kwargs.clone();
        self
    }

    /// How long to wait for the first reply (starting Python, importing Gymnasium,
    /// `gymnasium.make`); default `$PATHNET_PYTHON_STARTUP_TIMEOUT`, else
    /// [`DEFAULT_STARTUP_TIMEOUT`]. `Duration::MAX` waits for ever.
    pub fn startup_timeout(mut self, limit: Duration) -> Self {
        self.startup_timeout = Some(limit);
        self
    }

    /// How long to wait for each later reply (reset, step, set_state, close); default
    /// `$PATHNET_PYTHON_REPLY_TIMEOUT`, else [`DEFAULT_REPLY_TIMEOUT`]. `Duration::MAX` waits
    /// for ever.
    pub fn reply_timeout(mut self, limit: Duration) -> Self {
        self.reply_timeout = Some(limit);
        self
    }

    /// Starts the process and runs `gymnasium.make`.
    pub fn build(self) -> Result<PythonEnv, EnvError> {
        let startup = limit_or_var(self.startup_timeout, STARTUP_TIMEOUT_VAR, || {
            DEFAULT_STARTUP_TIMEOUT
        })?;
        let reply = limit_or_var(self.reply_timeout, REPLY_TIMEOUT_VAR, || {
            DEFAULT_REPLY_TIMEOUT
        })?;
        let python = self.python.unwrap_or_else(default_python);
        PythonEnv::start(&python, &self.id, &self.kwargs, startup, reply)
    }
}

fn limit_or_var(
    explicit: Option<Duration>,
    var: &'static str,
    default: impl FnOnce() -> Duration,
) -> Result<Duration, EnvError> {
    match explicit {
        Some(limit) => Ok(limit),
        None => parse_limit(var, std::env::var_os(var)).map(|l| l.unwrap_or_else(default)),
    }
}

/// The value of the variable `var`: a positive number of seconds; `None` if unset or empty.
fn parse_limit(var: &'static str, value: Option<OsString>) -> Result<Option<Duration>, EnvError> {
    let Some(value) = value.filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let text = value.to_string_lossy();
    let bad = |reason: &str| EnvError::Parse {
        what: var,
        value: text.to_string(),
        reason: reason.to_string(),
    };
    let seconds: f64 = text
        .trim()
        .parse()
        .map_err(|_| bad("expected a number of seconds, such as 60 or 0.5"))?;
    if seconds.is_nan() || seconds <= 0.0 {
        return Err(bad("the limit must be more than 0 seconds"));
    }
    Duration::try_from_secs_f64(seconds)
        .map(Some)
        .map_err(|_| bad("too many seconds to be a duration"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(value: &str) -> Result<Option<Duration>, String> {
        parse_limit(REPLY_TIMEOUT_VAR, Some(value.into())).map_err(|e| e.to_string())
    }

    #[test]
    fn limits_are_positive_seconds() {
        assert_eq!(parse_limit(REPLY_TIMEOUT_VAR, None), Ok(None));
        assert_eq!(parse(""), Ok(None));
        assert_eq!(parse("60"), Ok(Some(Duration::from_secs(60))));
        assert_eq!(parse(" 0.25 "), Ok(Some(Duration::from_millis(250))));
        for (bad, reason) in [
            ("soon", "expected a number of seconds"),
            ("0", "more than 0 seconds"),
            ("-1", "more than 0 seconds"),
            ("NaN", "more than 0 seconds"),
            ("inf", "too many seconds"),
        ] {
            let err = parse(bad).unwrap_err();
            assert!(
                err.contains(REPLY_TIMEOUT_VAR) && err.contains(bad) && err.contains(reason),
                "{err}"
            );
        }
    }
}
