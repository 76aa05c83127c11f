//! The kinds of experiment: the `kind` of a spec, the label of a summary and of monitoring.
//!
//! Adding a kind starts here: one variant and its name; the compiler then points at every
//! place that must say how the new kind is parsed, run and served (see
//! `docs/architecture.md`, "Adding an experiment kind").

use std::fmt;
use std::str::FromStr;

/// An experiment's algorithm, as its spec's `kind` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// PathNet pathways evolved by binary tournaments on supervised tasks, with transfer.
    PathNet,
    /// Asynchronous advantage actor-critic with the coordinator as parameter server.
    A3c,
    /// A genetic algorithm with safe mutations over seed-list genomes.
    Neuroevolution,
    /// PathNet pathways evolved by A3C workers, with transfer between tasks.
    PathNetA3c,
    /// A video network trained with Sideways or Skip-Sideways, leased segment by segment.
    Sideways,
    /// Safe-mutation GAs over PathNet pathways (seed-list genomes), with transfer.
    SmPathNet,
}

impl Kind {
    /// Every kind, in the order error messages list them.
    pub const ALL: [Kind; 6] = [
        Kind::PathNet,
        Kind::A3c,
        Kind::Neuroevolution,
        Kind::PathNetA3c,
        Kind::Sideways,
        Kind::SmPathNet,
    ];

    /// The name a spec's `kind` gives it, and summaries and logs use.
    pub const fn as_str(self) -> &'static str {
        match self {
            Kind::PathNet => "pathnet",
            Kind::A3c => "a3c",
            Kind::Neuroevolution => "neuroevolution",
            Kind::PathNetA3c => "pathnet_a3c",
            Kind::Sideways => "sideways",
            Kind::SmPathNet => "sm_pathnet",
        }
    }
}

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
