//! The hyperparameters both sides train with: the example spec's `[a3c]` table read with our
//! own schema, so every key the example leaves out takes our default, then handed to
//! `benches/torch_a3c.py` as flags. Settings the PyTorch script cannot express are refused
//! rather than silently dropped.

use anyhow::{Context, Result, bail};
use pathnet_rl::{A3cConfig, Activation, PolicyKind};
use std::path::Path;

/// The example spec: its whole table (to write run copies) and its `[a3c]` settings.
#[derive(Debug, Clone)]
pub(crate) struct Example {
    pub table: toml::Table,
    pub config: A3cConfig,
    /// The return the runs race to.
    pub target_return: f64,
}

impl Example {
    pub(crate) fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the example spec {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("the example spec {}", path.display()))
    }

    pub(crate) fn parse(text: &str) -> Result<Self> {
        let table: toml::Table = toml::from_str(text)?;
        match table.get("kind").and_then(toml::Value::as_str) {
            Some("a3c") => {}
            other => bail!("`kind` = {other:?}: this benchmark needs an \"a3c\" spec"),
        }
        let a3c = table
            .get("a3c")
            .context("no `[a3c]` table")?
            .clone()
            .try_into::<A3cConfig>()
            .context("the `[a3c]` table")?;
        a3c.validate()?;
        let target_return = a3c.stop.target_return.context(
            "`a3c.stop.target_return` is not set: the benchmark times runs to that return",
        )?;
        if a3c.policy.kind != PolicyKind::Mlp {
            bail!(
                "`a3c.policy.kind` = {:?}: benches/torch_a3c.py builds only \"mlp\" policies",
                a3c.policy.kind
            );
        }
        if a3c.reward_scale != 1.0 {
            bail!(
                "`a3c.reward_scale` = {}: benches/torch_a3c.py has no reward scale, so only 1 \
                 compares like with like",
                a3c.reward_scale
            );
        }
        Ok(Example {
            table,
            config: a3c,
            target_return,
        })
    }

    /// The spec a run of ours executes: the example with `a3c.workers` set to `workers`,
    /// which only the in-process run reads (agents run one worker each).
    pub(crate) fn run_spec(&self, workers: usize) -> Result<String> {
        let mut table = self.table.clone();
        let a3c = table
            .get_mut("a3c")
            .and_then(toml::Value::as_table_mut)
            .context("no `[a3c]` table")?;
        a3c.insert(
            "workers".into(),
            toml::Value::Integer(i64::try_from(workers)?),
        );
        Ok(toml::to_string(&table)?)
    }

    /// Flags for `benches/torch_a3c.py` giving it exactly these settings.
    pub(crate) fn torch_flags(&self, workers: usize, seed: u64) -> Vec<String> {
        let c = &self.config;
        let hidden: Vec<String> = c.policy.hidden.iter().map(usize::to_string).collect();
        let activation = match c.policy.activation() {
            Activation::Relu => "relu",
            Activation::Tanh => "tanh",
        };
        let mut flags: Vec<String> = [
            ("--env", c.env.clone()),
            ("--workers", workers.to_string()),
            ("--seed", seed.to_string()),
            ("--t-max", c.t_max.to_string()),
            ("--gamma", c.gamma.to_string()),
            ("--learning-rate", c.learning_rate.to_string()),
            ("--rmsprop-alpha", c.rmsprop_alpha.to_string()),
            ("--rmsprop-eps", c.rmsprop_eps.to_string()),
            ("--entropy-beta", c.entropy_beta.to_string()),
            ("--value-coef", c.value_coef.to_string()),
            ("--max-grad-norm", c.max_grad_norm.to_string()),
            ("--hidden", hidden.join(",")),
            ("--activation", activation.to_owned()),
            ("--target-return", self.target_return.to_string()),
            ("--window", c.stop.window.to_string()),
            ("--max-env-steps", c.stop.max_env_steps.to_string()),
        ]
        .into_iter()
        .flat_map(|(flag, value)| [flag.to_owned(), value])
        .collect();
        if c.anneal_learning_rate {
            flags.push("--lr-anneal".into());
        }
        flags
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
kind = "a3c"
name = "t"
seed = 1

[a3c]
env = "CartPole-v1"
t_max = 20
learning_rate = 0.001
workers = 7
policy = { kind = "mlp", hidden = [128, 64], activation = "relu" }
stop = { target_return = 475.0, window = 100, max_env_steps = 1000000 }
"#;

    fn flag<'a>(flags: &'a [String], name: &str) -> Option<&'a str> {
        let i = flags.iter().position(|f| f == name)?;
        flags.get(i + 1).map(String::as_str)
    }

    #[test]
    fn flags_carry_the_example_and_our_defaults_where_it_is_silent() {
        let example = Example::parse(EXAMPLE).unwrap();
        let flags = example.torch_flags(2, 9);
        for (name, value) in [
            ("--env", "CartPole-v1"),
            ("--workers", "2"),
            ("--seed", "9"),
            ("--t-max", "20"),
            ("--learning-rate", "0.001"),
            ("--hidden", "128,64"),
            ("--activation", "relu"),
            ("--target-return", "475"),
            ("--window", "100"),
            ("--max-env-steps", "1000000"),
            // Not in the example: our defaults.
            ("--gamma", "0.99"),
            ("--rmsprop-alpha", "0.99"),
            ("--rmsprop-eps", "0.1"),
            ("--entropy-beta", "0.01"),
            ("--value-coef", "0.5"),
            ("--max-grad-norm", "40"),
        ] {
            assert_eq!(flag(&flags, name), Some(value), "{name} in {flags:?}");
        }
        assert!(flags.iter().any(|f| f == "--lr-anneal"), "{flags:?}");
        let off = EXAMPLE.replace("t_max = 20", "t_max = 20\nanneal_learning_rate = false");
        let flags = Example::parse(&off).unwrap().torch_flags(2, 9);
        assert!(!flags.iter().any(|f| f == "--lr-anneal"), "{flags:?}");
    }

    #[test]
    fn the_run_spec_sets_the_workers_and_keeps_the_rest() {
        let example = Example::parse(EXAMPLE).unwrap();
        let spec = Example::parse(&example.run_spec(2).unwrap()).unwrap();
        assert_eq!(spec.config.workers, 2);
        let mut expected = example.config.clone();
        expected.workers = 2;
        assert_eq!(spec.config, expected);
        assert_eq!(spec.table["name"].as_str(), Some("t"));
    }

    #[test]
    fn settings_the_reference_cannot_express_are_refused() {
        for (edit, wanted) in [
            (
                ("t_max = 20", "t_max = 20\nreward_scale = 0.1"),
                "reward_scale",
            ),
            (
                (
                    r#"kind = "mlp", hidden = [128, 64], activation = "relu""#,
                    r#"kind = "lstm""#,
                ),
                "policy.kind",
            ),
            (("target_return = 475.0, ", ""), "target_return"),
            ((r#"kind = "a3c""#, r#"kind = "pathnet""#), "`kind`"),
            (("t_max = 20", "t_max = 0"), "t_max"),
        ] {
            let text = EXAMPLE.replace(edit.0, edit.1);
            assert_ne!(text, EXAMPLE, "the edit {edit:?} must apply");
            let err = format!("{:#}", Example::parse(&text).unwrap_err());
            assert!(err.contains(wanted), "{err} lacks {wanted}");
        }
    }
}
