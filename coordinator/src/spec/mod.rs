//! Experiment specs: the TOML a user writes, parsed and validated before anything runs.
//!
//! One file describes one experiment. Its top-level `kind` picks the algorithm and with it
//! the schema of the rest of the file; a file without `kind` is a supervised PathNet
//! experiment, so specs written before other kinds existed keep working.
//!
//! Unknown keys are rejected (a typo must not silently fall back to a default), and every
//! range check names the field and the offending value.

mod a3c;
mod ga;
pub mod limits;
mod pathnet;
mod pathnet_a3c;
mod sideways;
mod sm_pathnet;

pub use a3c::A3cSpec;
pub use ga::GaSpec;
pub use limits::{DEFAULT_MAX_EXPERIMENT_BYTES, MemoryEstimate};
pub use pathnet::*;
pub use pathnet_a3c::PathNetA3cSpec;
pub use sideways::SidewaysSpec;
pub use sm_pathnet::{SmPathNetConfig, SmPathNetSpec};

use crate::kind::{ExperimentKind, Kind, SpecKind};
use crate::local::RunError;
use crate::run::{Progress, Summary};
use pathnet_proto::{quote, quote_lines};
use std::path::{Path, PathBuf};

/// Why a spec was refused: it could not be read, is not valid TOML of its kind's schema, or
/// has a value out of range (named).
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The spec file could not be read.
    ///
    /// The I/O error is quoted in the message, not chained as a source, so that printing the
    /// error with its chain does not say it twice.
    #[error("cannot read spec {path}: {reason}")]
    Read {
        /// The file as given.
        path: PathBuf,
        /// Why reading it failed.
        reason: std::io::Error,
    },
    /// Not TOML, an unknown key, a missing key or a value of the wrong type.
    #[error("invalid spec {path}: {message}")]
    Parse {
        /// The file, or `<inline>` for a spec given as text.
        path: PathBuf,
        /// The parser's message with the offending line, quoted and bounded in length.
        message: String,
    },
    /// A value of the right type but out of range or inconsistent with another.
    #[error("invalid spec: `{field}` = {value}: {reason}")]
    Invalid {
        /// The field's path in the spec, e.g. `evolution.population` or `tasks[1].classes`.
        field: String,
        /// Its value, quoted and bounded in length.
        value: String,
        /// What it must be.
        reason: String,
    },
}

macro_rules! define_spec {
    ($( $(#[$doc:meta])* $variant:ident = $name:literal : $spec:ty => $summary:ty ),* $(,)?) => {
        /// An experiment of any kind.
        #[derive(Debug, Clone)]
        pub enum Spec {
            $( $(#[$doc])* $variant($spec), )*
        }

        /// Evaluates `$body` with `$s` bound to the spec inside `$spec`, whatever its kind.
        macro_rules! each_kind {
            ($any:expr, $s:ident => $body:expr) => {
                match $any {
                    $( Spec::$variant($s) => $body, )*
                }
            };
        }

        impl Spec {
            /// The spec of `kind` in `table` (without its `kind` key).
            fn schema(
                kind: Kind,
                table: toml::Table,
            ) -> Result<Self, toml::de::Error> {
                Ok(match kind {
                    $( Kind::$variant => Spec::$variant(table.try_into()?), )*
                })
            }
        }

        $( impl From<$spec> for Spec {
            fn from(spec: $spec) -> Self {
                Spec::$variant(spec)
            }
        } )*
    };
}
crate::kind::with_kinds!(define_spec);

impl Spec {
    /// Reads the spec at `path`, picks the schema its `kind` names (`pathnet` when absent),
    /// parses and validates it.
    pub fn from_file(path: &Path) -> Result<Self, SpecError> {
        let (text, path) = read_spec(path)?;
        Self::parse(&text, &path)
    }

    /// As [`Spec::from_file`], for a spec given as TOML text (named `<inline>` in errors).
    pub fn from_toml(text: &str) -> Result<Self, SpecError> {
        Self::parse(text, Path::new("<inline>"))
    }

    fn parse(text: &str, path: &Path) -> Result<Self, SpecError> {
        let parse_error = |message: String| parse_error(path, message);
        let mut table: toml::Table =
            toml::from_str(text).map_err(|e| parse_error(e.to_string()))?;
        let kind = match table.remove("kind") {
            None => Kind::PathNet,
            Some(toml::Value::String(kind)) => kind.parse().map_err(|_| {
                let names = Kind::ALL.map(Kind::as_str);
                invalid(
                    "kind",
                    format!("\"{kind}\""),
                    format!("must be one of {names:?}"),
                )
            })?,
            Some(other) => return Err(invalid("kind", other, "must be a string")),
        };
        // The kind is taken out so each kind's schema can reject unknown keys as usual.
        let spec = Self::schema(kind, table).map_err(|e| parse_error(e.to_string()))?;
        spec.validate()?;
        Ok(spec)
    }

    /// The `kind` that selects this spec's algorithm.
    pub fn kind(&self) -> Kind {
        fn kind_of<S: SpecKind>(_: &S) -> Kind {
            S::KIND
        }
        each_kind!(self, spec => kind_of(spec))
    }

    /// The experiment's `name`.
    pub fn name(&self) -> &str {
        each_kind!(self, spec => &spec.name)
    }

    /// The experiment's top-level `seed`.
    pub fn seed(&self) -> u64 {
        each_kind!(self, spec => spec.seed)
    }

    /// Replaces the top-level `seed` (a command line's `--seed` over the file's).
    pub fn set_seed(&mut self, seed: u64) {
        each_kind!(self, spec => spec.seed = seed)
    }

    /// The memory the experiment would take (for PathNet, on examples of `input_features`
    /// features), for the coordinator to check against its ceiling before it builds anything.
    pub fn memory_estimate(&self, input_features: usize) -> Result<MemoryEstimate, SpecError> {
        each_kind!(self, spec => ExperimentKind::memory_estimate(spec, input_features))
    }

    /// Checks the spec as its kind does (parsing already did); the error names the first bad
    /// field.
    pub fn validate(&self) -> Result<(), SpecError> {
        each_kind!(self, spec => spec.validate())
    }

    /// The worker leases the whole experiment trains at once, for the kinds whose work is a
    /// population of workers (see [`ExperimentKind::worker_leases`]).
    pub fn worker_leases(&self) -> Option<usize> {
        each_kind!(self, spec => spec.worker_leases())
    }

    /// The agents one piece of its work spreads over (Sideways' `stage_hosts`; 1 for every
    /// other kind), and whether it asks for agents by label (`place`).
    pub fn stage_hosts(&self) -> (usize, bool) {
        match self {
            Spec::Sideways(spec) => (
                spec.hosts(),
                spec.place.iter().any(|entry| !entry.is_empty()),
            ),
            _ => (1, false),
        }
    }

    /// For a local run on `agents` agents that all serve stage links: spreads a Sideways
    /// spec's stages over them when the spec leaves placement open (see
    /// [`SidewaysSpec::spread_over`]); returns the agents one piece of work now spreads over
    /// (1 for every other kind).
    pub fn spread_stages(&mut self, agents: usize) -> usize {
        match self {
            Spec::Sideways(spec) => spec.spread_over(agents),
            _ => 1,
        }
    }

    /// Runs the experiment in this process, reporting progress to `observe`.
    pub(crate) fn run_local(
        &self,
        observe: &mut dyn FnMut(&Progress),
    ) -> Result<Summary, RunError> {
        each_kind!(self, spec => spec.run_local(observe).map(Summary::from))
    }
}

pub(crate) fn read_spec(path: &Path) -> Result<(String, PathBuf), SpecError> {
    let text = std::fs::read_to_string(path).map_err(|reason| SpecError::Read {
        path: path.to_path_buf(),
        reason,
    })?;
    Ok((text, path.to_path_buf()))
}

pub(crate) fn positive(field: &str, value: usize) -> Result<(), SpecError> {
    if value == 0 {
        Err(invalid(field, value, "must be at least 1"))
    } else {
        Ok(())
    }
}

/// An invalid value of `field`; the value and reason are quoted bounded, since both may
/// carry what a client sent.
pub(crate) fn invalid(
    field: &str,
    value: impl std::fmt::Display,
    reason: impl Into<String>,
) -> SpecError {
    SpecError::Invalid {
        field: quote(field),
        value: quote(&value.to_string()),
        reason: quote_lines(&reason.into()),
    }
}

/// A parser's error about the spec at `path`, quoted bounded: it shows the offending line,
/// which may be as long as the whole spec.
pub(crate) fn parse_error(path: &Path, message: impl std::fmt::Display) -> SpecError {
    SpecError::Parse {
        path: path.to_path_buf(),
        message: quote_lines(&message.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATHNET: &str = r#"
        name = "t"
        [data]
        dir = "/nonexistent"
        [[tasks]]
        name = "a"
        classes = [3, 7]
    "#;

    #[test]
    fn a_spec_without_kind_is_pathnet() {
        let spec = Spec::from_toml(PATHNET).unwrap();
        assert_eq!(spec.kind(), Kind::PathNet);
        assert_eq!(spec.name(), "t");
        let explicit = Spec::from_toml(&format!("kind = \"pathnet\"\n{PATHNET}")).unwrap();
        assert_eq!(explicit.kind(), Kind::PathNet);
    }

    const A3C: &str = r#"
        kind = "a3c"
        name = "cartpole"
        [a3c]
        env = "CartPole-v1"
    "#;

    #[test]
    fn an_a3c_spec_takes_the_rl_defaults_and_names_bad_fields() {
        let Spec::A3c(spec) = Spec::from_toml(A3C).unwrap() else {
            panic!("expected an A3C spec");
        };
        assert_eq!(spec.a3c.env, "CartPole-v1");
        assert_eq!(spec.max_workers, 64);
        let round_trip: pathnet_rl::A3cConfig = toml::from_str(&spec.config_toml()).unwrap();
        assert_eq!(round_trip, spec.a3c);
        let err = Spec::from_toml(&format!("{A3C}gamma = 1.5\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("a3c.gamma") && err.contains("1.5"), "{err}");
        let err = Spec::from_toml(&format!("{A3C}t_maks = 5\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("t_maks"), "{err}");
        let err = Spec::from_toml(&A3C.replace("CartPole-v1", "CartPole-v9"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("CartPole-v9"), "{err}");
    }

    #[test]
    fn unknown_kind_is_named() {
        let err = Spec::from_toml(&format!("kind = \"pathnett\"\n{PATHNET}"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("`kind`") && err.contains("pathnett"), "{err}");
        let err = Spec::from_toml(&format!("kind = 3\n{PATHNET}"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("`kind`") && err.contains('3'), "{err}");
    }

    #[test]
    fn the_kinds_schema_still_rejects_unknown_keys() {
        let err = Spec::from_toml(&format!("kind = \"pathnet\"\npopulaton = 3\n{PATHNET}"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("populaton"), "{err}");
    }
}
