//! The kinds of experiment: the `kind` of a spec, the label of a summary and of monitoring.
//!
//! Adding a kind is one line in `with_kinds!` (its name, spec and summary types) plus the
//! kind's own modules, whose spec implements [`ExperimentKind`] (and the server's
//! `ServedKind`). Everything that depends on the kind (the [`Kind`] enum here, `Spec`,
//! `Summary`, parsing, the in-process run, serving, checkpoints) is generated from that one
//! table, so no `match` elsewhere names the kinds (see `docs/architecture.md`, "Adding an
//! experiment kind").

use crate::local::RunError;
use crate::run::Progress;
use crate::spec::{MemoryEstimate, SpecError};
use std::fmt;
use std::str::FromStr;

/// Calls `$callback!` with the table of every kind, one line each: doc, variant, the name a
/// spec's `kind` gives it, its spec type and its summary type, in the order error messages
/// list them. Each place that depends on the kind expands the table with its own callback.
macro_rules! with_kinds {
    ($callback:ident) => {
        $callback! {
            /// PathNet pathways evolved by binary tournaments on supervised tasks, with transfer.
            PathNet = "pathnet": crate::spec::ExperimentSpec => crate::pathnet::RunSummary,
            /// Asynchronous advantage actor-critic with the coordinator as parameter server.
            A3c = "a3c": crate::spec::A3cSpec => crate::a3c::A3cSummary,
            /// A genetic algorithm with safe mutations over seed-list genomes.
            Neuroevolution = "neuroevolution": crate::spec::GaSpec => crate::ga::GaSummary,
            /// PathNet pathways evolved by A3C workers, with transfer between tasks.
            PathNetA3c = "pathnet_a3c": crate::spec::PathNetA3cSpec => crate::pathnet_a3c::PathNetA3cSummary,
            /// A video network trained with Sideways or Skip-Sideways, leased segment by segment.
            Sideways = "sideways": crate::spec::SidewaysSpec => crate::sideways::SidewaysSummary,
            /// Safe-mutation GAs over PathNet pathways (seed-list genomes), with transfer.
            SmPathNet = "sm_pathnet": crate::spec::SmPathNetSpec => crate::sm_pathnet::SmPathNetSummary,
        }
    };
}
pub(crate) use with_kinds;

/// What a kind's spec says about its experiment beyond the fields every spec has (`name`,
/// `seed`, `validate`): what it costs and how it runs in one process.
pub trait ExperimentKind: SpecKind {
    /// What a run of this kind ends with.
    type Summary;

    /// The memory the experiment would take (PathNet: on examples of `input_features`
    /// features), checked against the coordinator's ceiling before anything is built.
    fn memory_estimate(&self, input_features: usize) -> Result<MemoryEstimate, SpecError>;

    /// Runs the experiment in this process, reporting progress to `observe`.
    fn run_local(&self, observe: &mut dyn FnMut(&Progress)) -> Result<Self::Summary, RunError>;

    /// The worker leases the whole experiment trains at once, for the kinds whose work is
    /// a population of workers, so that agents started for it can take them all.
    fn worker_leases(&self) -> Option<usize> {
        None
    }
}

/// The [`Kind`] a spec type belongs to; generated from the table for every kind's spec.
pub trait SpecKind {
    /// The kind whose spec this is.
    const KIND: Kind;
}

macro_rules! define_kind {
    ($( $(#[$doc:meta])* $variant:ident = $name:literal : $spec:ty => $summary:ty ),* $(,)?) => {
        /// An experiment's algorithm, as its spec's `kind` names it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Kind {
            $( $(#[$doc])* $variant, )*
        }

        impl Kind {
            /// Every kind, in the order error messages list them.
            pub const ALL: [Kind; [$(Kind::$variant),*].len()] = [$(Kind::$variant),*];

            /// The name a spec's `kind` gives it, and summaries and logs use.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( Kind::$variant => $name, )*
                }
            }
        }

        $( impl SpecKind for $spec {
            const KIND: Kind = Kind::$variant;
        } )*
    };
}
with_kinds!(define_kind);

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is no kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("\"{0}\" is no kind: must be one of {names:?}", names = Kind::ALL.map(Kind::as_str))]
pub struct UnknownKind(pub String);

impl FromStr for Kind {
    type Err = UnknownKind;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Kind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == name)
            .ok_or_else(|| UnknownKind(name.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_parses_from_its_name() {
        for kind in Kind::ALL {
            assert_eq!(kind.as_str().parse::<Kind>(), Ok(kind));
        }
        let err = "pathnett".parse::<Kind>().unwrap_err().to_string();
        assert!(
            err.contains("pathnett") && err.contains("pathnet_a3c"),
            "{err}"
        );
    }
}
