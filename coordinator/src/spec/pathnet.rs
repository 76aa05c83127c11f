//! The spec of a supervised PathNet experiment (`kind = "pathnet"`, the default).

use super::limits::{self, MemoryEstimate, dense_parameters};
use super::{SpecError, invalid, parse_error, positive, read_spec};
use pathnet_envs::data::Family;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// A supervised PathNet experiment: evolve pathways on task A, then transfer to task B.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentSpec {
    /// The experiment's name; a coordinator's experiment ids are `<name>-<number>`.
    pub name: String,
    /// Seeds everything the run draws: parameters, pathways, minibatches and the noise
    /// (default 0).
    #[serde(default)]
    pub seed: u64,
    /// The `[data]` table: where the images are and how they are noised.
    pub data: DataSpec,
    /// The `[pathnet]` table: the super-network's shape (default the paper's).
    #[serde(default)]
    pub pathnet: PathNetSpec,
    /// The `[evolution]` table: tournaments, training and stopping (default the paper's).
    #[serde(default)]
    pub evolution: EvolutionSpec,
    /// Tasks in the order they are learnt; each later task starts from the previous task's
    /// best pathway frozen.
    pub tasks: Vec<TaskSpec>,
    /// Controls that learn the last task again without PathNet's transfer.
    #[serde(default)]
    pub comparison: ComparisonSpec,
}

/// Controls run after the PathNet transfer in the same experiment, each a separate run of
/// the last task ("task B"), so that its generations to threshold can be compared with the
/// transfer's under the same evolution settings.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ComparisonSpec {
    /// The controls to run, each at most once (default none); they need at least two tasks.
    pub controls: Vec<Control>,
    /// What the controls train: see [`ControlPathway`].
    pub control_pathway: ControlPathway,
}

/// A run of the last task that PathNet's transfer is measured against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Control {
    /// Independent learning: the last task on a freshly initialised network, no task before it.
    Scratch,
    /// The paper's fine-tuning control: the earlier tasks learnt by PathNet's arm, then the
    /// last task's best pathway so far (the previous task's best pathway) trained on the last
    /// task with that task's own new head, every module trainable and nothing evolving. A
    /// generation is two evaluations of that one pathway, as for a fixed-path control.
    /// `control_pathway` does not apply to it.
    PaperFineTune,
    /// The earlier tasks learnt with nothing frozen, then the last task trained from their
    /// parameters, nothing frozen and nothing re-initialised.
    FineTune,
}

impl Control {
    /// The name a spec uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Control::Scratch => "scratch",
            Control::FineTune => "fine_tune",
            Control::PaperFineTune => "paper_fine_tune",
        }
    }
}

/// How a control chooses the modules it trains.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ControlPathway {
    /// One pathway of the largest size, the first `max_active` modules of every layer, used
    /// by every evaluation: plain SGD on a fixed network. A generation is two evaluations.
    #[default]
    Fixed,
    /// A population of pathways evolved exactly as PathNet's; only the starting parameters
    /// differ (fine-tune starts from the PathNet run's parameters as the second-to-last
    /// task left them, before the transfer step).
    Evolved,
}

/// The `[data]` table: an MNIST-family dataset the tasks' class pairs are drawn from.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DataSpec {
    /// Directory with the IDX files (train-images-idx3-ubyte[.gz], ...); a relative path is
    /// taken from the directory the command runs in.
    pub dir: PathBuf,
    /// Fraction of pixels replaced by salt-and-pepper noise, in [0, 1] (default 0; the
    /// PathNet paper's MNIST experiment uses 0.5).
    #[serde(default)]
    pub noise: f64,
    /// Which images the directory holds, `mnist` or `fashion-mnist` (default); only the
    /// class names in summaries depend on it.
    #[serde(default = "fashion_mnist")]
    pub family: Family,
}

fn fashion_mnist() -> Family {
    Family::FashionMnist
}

/// The `[pathnet]` table: the super-network's shape (Fernando et al. 2017, section 2.1).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PathNetSpec {
    /// `L`: hidden layers (default 3).
    pub layers: usize,
    /// `M`: modules per layer (default 10).
    pub modules_per_layer: usize,
    /// `N`: most modules a pathway uses in one layer, in 1..=`modules_per_layer` (default 3).
    pub max_active: usize,
    /// ReLU units of every module (default 20).
    pub module_units: usize,
}

impl Default for PathNetSpec {
    /// The paper's supervised configuration: L=3, M=10, N=3, 20-unit modules.
    fn default() -> Self {
        PathNetSpec {
            layers: 3,
            modules_per_layer: 10,
            max_active: 3,
            module_units: 20,
        }
    }
}

/// The `[evolution]` table: how pathways compete and train.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvolutionSpec {
    /// Pathways per task, at least 2 (default 64).
    pub population: usize,
    /// T: minibatches each pathway trains for in one evaluation (default 50).
    pub minibatches_per_evaluation: usize,
    /// Examples per minibatch (default 16).
    pub batch_size: usize,
    /// SGD step size, finite and positive (default 0.0001).
    pub learning_rate: f64,
    /// Training accuracy (over one evaluation's minibatches) that ends a task, in (0, 1]
    /// (default 0.998).
    pub accuracy_threshold: f64,
    /// Tournaments after which a task stops even below the threshold (default 1000).
    pub max_generations: usize,
    /// Both contestants of a tournament train on the same minibatches (one data seed per
    /// tournament, sent to whoever evaluates each), so the comparison is not decided by
    /// which contestant drew the easier examples. Off (default): each evaluation draws its
    /// own.
    pub same_minibatches: bool,
    /// Only the tournament winner's parameter updates are kept: each contestant's deltas
    /// are held until both are back, then the winner's are added and the loser's dropped.
    /// Off (default): every evaluation's deltas are added as soon as it is back (shared
    /// training).
    pub winner_only_updates: bool,
}

impl Default for EvolutionSpec {
    /// The paper's supervised defaults: population 64, T=50, batch 16, SGD at 0.0001, stop
    /// at 0.998. (At 0.0001 a 20-unit pathway learns slowly: the examples train faster at 0.01
    /// and say so.)
    fn default() -> Self {
        EvolutionSpec {
            population: 64,
            minibatches_per_evaluation: 50,
            batch_size: 16,
            learning_rate: 1e-4,
            accuracy_threshold: 0.998,
            max_generations: 1000,
            same_minibatches: false,
            winner_only_updates: false,
        }
    }
}

/// One `[[tasks]]` entry: a binary classification task.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TaskSpec {
    /// The task's name in progress and summaries, e.g. `A`.
    pub name: String,
    /// The two dataset classes of this binary task: the first becomes label 0.
    pub classes: [u8; 2],
}

impl ExperimentSpec {
    /// Reads, parses and validates the spec at `path`.
    pub fn from_file(path: &Path) -> Result<Self, SpecError> {
        let (text, path) = read_spec(path)?;
        Self::parse(&text, &path)
    }

    /// Parses and validates a spec given as TOML text (named `<inline>` in errors).
    pub fn from_toml(text: &str) -> Result<Self, SpecError> {
        Self::parse(text, Path::new("<inline>"))
    }

    pub(super) fn parse(text: &str, path: &Path) -> Result<Self, SpecError> {
        let spec: ExperimentSpec = toml::from_str(text).map_err(|err| parse_error(path, err))?;
        spec.validate()?;
        Ok(spec)
    }

    /// Checks every size against the coordinator's bounds and every range; the error names
    /// the first bad field and its value.
    pub fn validate(&self) -> Result<(), SpecError> {
        let p = &self.pathnet;
        let e = &self.evolution;
        self.check_bounds()?;
        positive("pathnet.layers", p.layers)?;
        positive("pathnet.modules_per_layer", p.modules_per_layer)?;
        positive("pathnet.module_units", p.module_units)?;
        if p.max_active == 0 || p.max_active > p.modules_per_layer {
            return Err(invalid(
                "pathnet.max_active",
                p.max_active,
                format!("must be in 1..={} (modules_per_layer)", p.modules_per_layer),
            ));
        }
        if e.population < 2 {
            return Err(invalid(
                "evolution.population",
                e.population,
                "a binary tournament needs at least 2 pathways",
            ));
        }
        positive(
            "evolution.minibatches_per_evaluation",
            e.minibatches_per_evaluation,
        )?;
        positive("evolution.batch_size", e.batch_size)?;
        positive("evolution.max_generations", e.max_generations)?;
        if !(e.learning_rate.is_finite() && e.learning_rate > 0.0) {
            return Err(invalid(
                "evolution.learning_rate",
                e.learning_rate,
                "must be a finite number > 0",
            ));
        }
        if !(e.accuracy_threshold > 0.0 && e.accuracy_threshold <= 1.0) {
            return Err(invalid(
                "evolution.accuracy_threshold",
                e.accuracy_threshold,
                "must be in (0, 1]",
            ));
        }
        if !(0.0..=1.0).contains(&self.data.noise) {
            return Err(invalid("data.noise", self.data.noise, "must be in [0, 1]"));
        }
        if self.tasks.is_empty() {
            return Err(invalid("tasks", "[]", "at least one task is needed"));
        }
        let controls = &self.comparison.controls;
        let listed = || {
            let names: Vec<String> = controls
                .iter()
                .map(|c| format!("\"{}\"", c.as_str()))
                .collect();
            format!("[{}]", names.join(", "))
        };
        if !controls.is_empty() && self.tasks.len() < 2 {
            return Err(invalid(
                "comparison.controls",
                listed(),
                "controls re-learn the last task after the earlier ones: at least two tasks are needed",
            ));
        }
        if let Some(twice) = controls
            .iter()
            .enumerate()
            .find_map(|(i, c)| controls[..i].contains(c).then_some(c))
        {
            return Err(invalid(
                "comparison.controls",
                listed(),
                format!("\"{}\" is listed more than once", twice.as_str()),
            ));
        }
        for (i, task) in self.tasks.iter().enumerate() {
            let [a, b] = task.classes;
            if a == b {
                return Err(invalid(
                    &format!("tasks[{i}].classes"),
                    format!("[{a}, {b}]"),
                    "the two classes must differ",
                ));
            }
        }
        Ok(())
    }
}

impl ExperimentSpec {
    /// The sizes, each below its bound, so that nothing the spec asks for aborts the process.
    fn check_bounds(&self) -> Result<(), SpecError> {
        use limits::*;
        let (p, e) = (&self.pathnet, &self.evolution);
        #[rustfmt::skip]
        let bounds = [
            ("pathnet.layers", p.layers, MAX_LAYERS, "hidden layers"),
            ("pathnet.modules_per_layer", p.modules_per_layer, MAX_MODULES_PER_LAYER, "modules per layer"),
            ("pathnet.module_units", p.module_units, MAX_UNITS, "units per module"),
            ("evolution.population", e.population, MAX_POPULATION, "pathways"),
            ("evolution.minibatches_per_evaluation", e.minibatches_per_evaluation, MAX_MINIBATCHES, "minibatches per evaluation"),
            ("evolution.batch_size", e.batch_size, MAX_BATCH_SIZE, "examples per minibatch"),
            ("evolution.max_generations", e.max_generations, MAX_STEPS, "tournaments per task"),
            ("tasks", self.tasks.len(), MAX_TASKS, "tasks, each with a head"),
        ];
        at_most_each(&bounds)
    }

    /// The memory of the run on examples of `input_features` features: the super-network
    /// and its heads held three times (the current parameters, the deltas of results in
    /// flight and the pull answers being sent), plus the population of pathways.
    pub fn memory_estimate(&self, input_features: usize) -> MemoryEstimate {
        let p = &self.pathnet;
        let modules = p.modules_per_layer as u128;
        let first = modules * dense_parameters(&[input_features, p.module_units]);
        let rest = (p.layers as u128).saturating_sub(1)
            * modules
            * dense_parameters(&[p.module_units, p.module_units]);
        let heads = self.tasks.len() as u128 * dense_parameters(&[p.module_units, 2]);
        let pathway_bytes = (p.layers * p.max_active * std::mem::size_of::<usize>() + 64) as u128;
        MemoryEstimate {
            field: "pathnet",
            parameters: first + rest + heads,
            copies: 3,
            other_bytes: self.evolution.population as u128 * pathway_bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
        name = "t"
        [data]
        dir = "/nonexistent"
        [[tasks]]
        name = "a"
        classes = [3, 7]
    "#;

    #[test]
    fn minimal_spec_takes_paper_defaults() {
        let spec = ExperimentSpec::from_toml(MINIMAL).unwrap();
        assert_eq!(spec.pathnet.layers, 3);
        assert_eq!(spec.pathnet.modules_per_layer, 10);
        assert_eq!(spec.evolution.population, 64);
        assert_eq!(spec.evolution.minibatches_per_evaluation, 50);
        assert_eq!(spec.evolution.batch_size, 16);
        assert_eq!(spec.evolution.learning_rate, 1e-4);
        assert_eq!(spec.tasks[0].classes, [3, 7]);
    }

    #[test]
    fn unknown_field_is_rejected_by_name() {
        let text = MINIMAL.replace("[data]", "populaton = 3\n[data]");
        let err = ExperimentSpec::from_toml(&text).unwrap_err().to_string();
        assert!(err.contains("populaton"), "{err}");
    }

    #[test]
    fn out_of_range_values_name_field_and_value() {
        let cases = [
            ("[evolution]\npopulation = 1\n", "evolution.population", "1"),
            ("[pathnet]\nmax_active = 11\n", "pathnet.max_active", "11"),
            (
                "[evolution]\nlearning_rate = -0.5\n",
                "evolution.learning_rate",
                "-0.5",
            ),
        ];
        for (extra, field, value) in cases {
            let text = MINIMAL.replace("[data]", &format!("{extra}[data]"));
            let err = ExperimentSpec::from_toml(&text).unwrap_err().to_string();
            assert!(err.contains(field) && err.contains(value), "{err}");
        }
    }

    #[test]
    fn identical_task_classes_are_rejected() {
        let text = MINIMAL.replace("[3, 7]", "[4, 4]");
        let err = ExperimentSpec::from_toml(&text).unwrap_err().to_string();
        assert!(err.contains("tasks[0].classes"), "{err}");
    }

    #[test]
    fn comparison_is_off_by_default_and_parses_controls() {
        let spec = ExperimentSpec::from_toml(MINIMAL).unwrap();
        assert!(spec.comparison.controls.is_empty());
        let two_tasks = format!(
            "{MINIMAL}\n[[tasks]]\nname = \"b\"\nclasses = [1, 2]\n[comparison]\ncontrols = [\"scratch\", \"fine_tune\"]\ncontrol_pathway = \"evolved\"\n"
        );
        let spec = ExperimentSpec::from_toml(&two_tasks).unwrap();
        assert_eq!(
            spec.comparison.controls,
            vec![Control::Scratch, Control::FineTune]
        );
        assert_eq!(spec.comparison.control_pathway, ControlPathway::Evolved);
    }

    #[test]
    fn bad_comparisons_name_the_field() {
        let one_task = format!("{MINIMAL}\n[comparison]\ncontrols = [\"scratch\"]\n");
        let err = ExperimentSpec::from_toml(&one_task)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("comparison.controls") && err.contains(r#"["scratch"]"#),
            "{err}"
        );
        let twice = format!(
            "{MINIMAL}\n[[tasks]]\nname = \"b\"\nclasses = [1, 2]\n[comparison]\ncontrols = [\"scratch\", \"scratch\"]\n"
        );
        let err = ExperimentSpec::from_toml(&twice).unwrap_err().to_string();
        assert!(err.contains("more than once"), "{err}");
        let unknown = format!("{MINIMAL}\n[comparison]\ncontrols = [\"finetune\"]\n");
        let err = ExperimentSpec::from_toml(&unknown).unwrap_err().to_string();
        assert!(err.contains("finetune"), "{err}");
        let pathway = format!("{MINIMAL}\n[comparison]\ncontrol_pathway = \"random\"\n");
        let err = ExperimentSpec::from_toml(&pathway).unwrap_err().to_string();
        assert!(err.contains("random"), "{err}");
    }

    #[test]
    fn malformed_toml_is_an_error_not_a_panic() {
        assert!(ExperimentSpec::from_toml("name = [").is_err());
        assert!(ExperimentSpec::from_toml("name = 3").is_err());
    }
}
