//! `SafeMutationConfig`: the `[ga]` table of an experiment file.
//!
//! ```toml
//! [ga]
//! task = "parity"            # "parity" | "maze"
//! operator = "sm_g_sum"      # control | sm_r | sm_g_sum | sm_g_abs | sm_g_so
//! sigma = 0.05               # noise std; for sm_r the target output divergence
//! algorithm = "steady_state" # or "truncation"
//! population = 250
//! tournament_size = 5        # steady_state only
//! max_evaluations = 100000
//! seed = 1
//! weight_clip = 0.2          # optional: clip each weight's change to [-0.2, 0.2]
//! ```
//!
//! Network sizes default to the reference code's (`hidden = 15`; `layers = 2` LSTM cells for
//! parity, 6 hidden layers for the maze). `truncation` takes `parents` (top T) and `elites`
//! instead of `tournament_size`.

use crate::EvoError;
use crate::executor::Problem;
use crate::operator::Operator;
use crate::task::{TaskSpec, maze};
use serde::{Deserialize, Serialize};

/// Which task to evolve for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    /// Recurrent parity: an LSTM network reads a bit sequence and outputs its parity.
    Parity,
    /// The breadcrumb hard maze: an MLP drives a robot to the goal.
    Maze,
}

/// Which GA runs the population (`algorithm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Algorithm {
    /// The paper's GA: each finished child replaces a member, parents picked by tournament.
    #[default]
    SteadyState,
    /// Generations: the top `parents` of one generation breed the next, `elites` copied over.
    Truncation,
}

/// An experiment's `[ga]` table: task, mutation operator, GA and run length (Lehman et al.
/// 2018's setups), optional fields left `None` to take their defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SafeMutationConfig {
    /// The task genomes are evaluated on.
    pub task: TaskKind,
    /// The mutation operator every child is made with.
    pub operator: Operator,
    /// Standard deviation of the mutation noise, or SM-R's target divergence.
    pub sigma: f64,
    /// The GA (default `steady_state`).
    #[serde(default)]
    pub algorithm: Algorithm,
    /// Members of the population, at least 2 (default 250).
    #[serde(default = "defaults::population")]
    pub population: usize,
    /// Steady state: members drawn for a tournament; the best is the parent, and the worst of
    /// another such draw makes room for the child.
    #[serde(default)]
    pub tournament_size: Option<usize>,
    /// Truncation: how many of the best of a generation breed the next.
    #[serde(default)]
    pub parents: Option<usize>,
    /// Truncation: how many of the best are copied unchanged into the next generation.
    #[serde(default)]
    pub elites: Option<usize>,
    /// The run stops after this many evaluations if nothing solved the task.
    #[serde(default = "defaults::max_evaluations")]
    pub max_evaluations: u64,
    /// Seeds every initial genome and mutation of the run.
    #[serde(default)]
    pub seed: u64,
    /// Units per LSTM cell (parity) or per hidden layer (maze).
    #[serde(default)]
    pub hidden: Option<usize>,
    /// Stacked LSTM cells (parity) or hidden layers between the input and output layers
    /// (maze).
    #[serde(default)]
    pub layers: Option<usize>,
    /// Parity only: sequence length; all `2^bits` sequences are evaluated.
    #[serde(default)]
    pub parity_bits: Option<usize>,
    /// Maze only: simulation steps per episode.
    #[serde(default)]
    pub maze_steps: Option<usize>,
    /// Most inputs kept from a parent's evaluation for the safe-mutation operators.
    #[serde(default = "defaults::experience")]
    pub experience: usize,
    /// Clips each weight's change to `[-weight_clip, weight_clip]` after the operator computed
    /// it, for every operator (the reference implementation clips 0.2 on the maze). Off when
    /// absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_clip: Option<f64>,
}

mod defaults {
    pub(super) fn population() -> usize {
        250
    }
    pub(super) fn max_evaluations() -> u64 {
        100_000
    }
    pub(super) fn experience() -> usize {
        100
    }
}

/// `tournament_size` when not given.
pub const DEFAULT_TOURNAMENT_SIZE: usize = 5;
/// `parents` (truncation's top T) when not given.
pub const DEFAULT_PARENTS: usize = 20;
/// `elites` when not given.
pub const DEFAULT_ELITES: usize = 1;
/// `hidden` when not given: the reference code's width.
pub const DEFAULT_HIDDEN: usize = 15;
/// `parity_bits` when not given.
pub const DEFAULT_PARITY_BITS: usize = 4;

impl SafeMutationConfig {
    /// A configuration with every optional field at its default.
    pub fn new(task: TaskKind, operator: Operator, sigma: f64) -> Self {
        SafeMutationConfig {
            task,
            operator,
            sigma,
            algorithm: Algorithm::SteadyState,
            population: defaults::population(),
            tournament_size: None,
            parents: None,
            elites: None,
            max_evaluations: defaults::max_evaluations(),
            seed: 0,
            hidden: None,
            layers: None,
            parity_bits: None,
            maze_steps: None,
            experience: defaults::experience(),
            weight_clip: None,
        }
    }

    /// Checks every field; the error names the field and its value.
    pub fn validate(&self) -> Result<(), EvoError> {
        if !(self.sigma.is_finite() && self.sigma > 0.0) {
            return Err(EvoError::invalid(
                "sigma",
                self.sigma,
                "must be finite and positive",
            ));
        }
        if self.population < 2 {
            return Err(EvoError::invalid(
                "population",
                self.population,
                "must be at least 2",
            ));
        }
        if self.max_evaluations == 0 {
            return Err(EvoError::invalid(
                "max_evaluations",
                0,
                "must be at least 1",
            ));
        }
        let only = |field: &'static str, value: Option<usize>, applies: bool, to: &str| match value
        {
            Some(v) if !applies => {
                Err(EvoError::invalid(field, v, format!("applies only to {to}")))
            }
            _ => Ok(()),
        };
        let steady = self.algorithm == Algorithm::SteadyState;
        only(
            "tournament_size",
            self.tournament_size,
            steady,
            "algorithm = \"steady_state\"",
        )?;
        only(
            "parents",
            self.parents,
            !steady,
            "algorithm = \"truncation\"",
        )?;
        only("elites", self.elites, !steady, "algorithm = \"truncation\"")?;
        only(
            "parity_bits",
            self.parity_bits,
            self.task == TaskKind::Parity,
            "task = \"parity\"",
        )?;
        only(
            "maze_steps",
            self.maze_steps,
            self.task == TaskKind::Maze,
            "task = \"maze\"",
        )?;
        if steady {
            let k = self.tournament_size();
            if k == 0 || k > self.population {
                return Err(EvoError::invalid(
                    "tournament_size",
                    k,
                    format!("must be between 1 and population = {}", self.population),
                ));
            }
        } else {
            let t = self.parents();
            if t == 0 || t > self.population {
                return Err(EvoError::invalid(
                    "parents",
                    t,
                    format!("must be between 1 and population = {}", self.population),
                ));
            }
            let e = self.elites();
            if e >= self.population || e > t {
                return Err(EvoError::invalid(
                    "elites",
                    e,
                    format!(
                        "must be below population = {} and at most parents = {t}",
                        self.population
                    ),
                ));
            }
        }
        if self.hidden == Some(0) {
            return Err(EvoError::invalid("hidden", 0, "must be at least 1"));
        }
        if self.task == TaskKind::Parity && self.layers == Some(0) {
            return Err(EvoError::invalid(
                "layers",
                0,
                "parity needs at least 1 LSTM cell",
            ));
        }
        self.problem().validate()
    }

    /// The tournament size in effect (steady state).
    pub fn tournament_size(&self) -> usize {
        self.tournament_size.unwrap_or(DEFAULT_TOURNAMENT_SIZE)
    }

    /// The number of parents in effect (truncation).
    pub fn parents(&self) -> usize {
        self.parents.unwrap_or(DEFAULT_PARENTS)
    }

    /// The number of elites in effect (truncation).
    pub fn elites(&self) -> usize {
        self.elites.unwrap_or(DEFAULT_ELITES)
    }

    /// The task with its size in effect (`parity_bits` or `maze_steps`, else the default).
    pub fn task_spec(&self) -> TaskSpec {
        match self.task {
            TaskKind::Parity => TaskSpec::Parity {
                bits: self.parity_bits.unwrap_or(DEFAULT_PARITY_BITS),
            },
            TaskKind::Maze => TaskSpec::Maze {
                steps: self.maze_steps.unwrap_or(maze::STEPS),
            },
        }
    }

    /// The task, its network and the experience size every job of the run shares.
    pub fn problem(&self) -> Problem {
        let task = self.task_spec();
        let layers = self.layers.unwrap_or(match self.task {
            TaskKind::Parity => 2,
            TaskKind::Maze => 6,
        });
        Problem {
            network: task.network(self.hidden.unwrap_or(DEFAULT_HIDDEN), layers),
            task,
            max_experience: self.experience,
            weight_clip: self.weight_clip,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<SafeMutationConfig, String> {
        #[derive(Deserialize)]
        struct Experiment {
            ga: SafeMutationConfig,
        }
        toml::from_str::<Experiment>(text)
            .map_err(|e| e.to_string())
            .and_then(|e| e.ga.validate().map(|_| e.ga).map_err(|e| e.to_string()))
    }

    #[test]
    fn a_ga_table_parses_with_defaults() {
        let cfg =
            parse("[ga]\ntask = \"parity\"\noperator = \"sm_g_sum\"\nsigma = 0.05\n").unwrap();
        assert_eq!(
            cfg,
            SafeMutationConfig::new(TaskKind::Parity, Operator::SmGSum, 0.05)
        );
        assert_eq!(cfg.tournament_size(), 5);
        assert_eq!(cfg.problem().network.param_count(), 2912);
        let maze = parse(
            "[ga]\ntask = \"maze\"\noperator = \"control\"\nsigma = 0.1\nalgorithm = \"truncation\"\n\
             parents = 10\nelites = 2\npopulation = 50\nmaze_steps = 300\n",
        )
        .unwrap();
        assert_eq!(maze.task_spec(), TaskSpec::Maze { steps: 300 });
        assert_eq!((maze.parents(), maze.elites()), (10, 2));
    }

    #[test]
    fn bad_values_name_the_field_and_value() {
        let base = "[ga]\ntask = \"parity\"\noperator = \"sm_r\"\n";
        for (extra, needle) in [
            ("sigma = 0.0\n", "`sigma` = 0"),
            ("sigma = 0.1\npopulation = 1\n", "`population` = 1"),
            (
                "sigma = 0.1\ntournament_size = 300\n",
                "`tournament_size` = 300",
            ),
            (
                "sigma = 0.1\nparents = 3\n",
                "`parents` = 3: applies only to algorithm",
            ),
            (
                "sigma = 0.1\nmaze_steps = 3\n",
                "`maze_steps` = 3: applies only to task",
            ),
            ("sigma = 0.1\nparity_bits = 40\n", "`parity_bits` = 40"),
            ("sigma = 0.1\nexperience = 0\n", "`experience` = 0"),
            ("sigma = 0.1\nhidden = 0\n", "`hidden` = 0"),
            ("sigma = 0.1\nweight_clip = -0.2\n", "`weight_clip` = -0.2"),
            (
                "sigma = 0.1\nmax_evaluations = 0\n",
                "`max_evaluations` = 0",
            ),
            (
                "sigma = 0.1\nalgorithm = \"truncation\"\nparents = 4\nelites = 5\n",
                "`elites` = 5",
            ),
        ] {
            let err = parse(&format!("{base}{extra}")).unwrap_err();
            assert!(err.contains(needle), "{extra:?}: {err}");
        }
        let unknown = parse(&format!("{base}sigma = 0.1\nsigm = 2\n")).unwrap_err();
        assert!(unknown.contains("sigm"), "{unknown}");
        let bad_op =
            parse("[ga]\ntask = \"parity\"\noperator = \"sm_x\"\nsigma = 1.0\n").unwrap_err();
        assert!(bad_op.contains("sm_x"), "{bad_op}");
    }
}
