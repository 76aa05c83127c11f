//! Parsing, defaults and validation messages of the `[a3c]` table.

use super::*;

fn parse(text: &str) -> Result<A3cConfig, toml::de::Error> {
    toml::from_str(text)
}

#[test]
fn defaults_fill_every_key_but_env() {
    let c = parse("env = \"CartPole-v1\"").unwrap();
    assert_eq!(c, A3cConfig::new("CartPole-v1"));
    c.validate().unwrap();
    let missing = parse("t_max = 5").unwrap_err().to_string();
    assert!(missing.contains("env"), "{missing}");
}

#[test]
fn nested_tables_parse() {
    let c = parse(
        r#"
        env = "MinAtar/Breakout-v1"
        t_max = 20
        policy = { kind = "conv", hidden = [128], conv_channels = 8 }
        stop = { target_return = 10.0, window = 50 }
        "#,
    )
    .unwrap();
    assert_eq!(c.policy.kind, PolicyKind::Conv);
    assert_eq!(c.policy.conv_channels(), 8);
    assert_eq!(c.stop.window, 50);
    assert_eq!(c.stop.max_env_steps, 10_000_000);
    c.validate().unwrap();
}

#[test]
fn toml_text_round_trips() {
    // The coordinator sends the table to agents as TOML text; nothing may change on the way.
    let mut c = A3cConfig::new("Pendulum-v1");
    c.reward_scale = 0.2;
    c.policy.hidden = vec![64, 32];
    c.stop.target_return = Some(-200.0);
    let text = toml::to_string(&c).unwrap();
    assert_eq!(parse(&text).unwrap(), c, "{text}");
    let mut c = A3cConfig::new("CartPole-v1");
    c.policy.kind = PolicyKind::Lstm;
    c.policy.lstm_size = Some(16);
    c.policy.activation = Some(Activation::Relu);
    assert_eq!(parse(&toml::to_string(&c).unwrap()).unwrap(), c);
}

#[test]
fn unknown_keys_are_rejected() {
    let e = parse("env = \"CartPole-v1\"\nlearning_rte = 0.1").unwrap_err();
    assert!(e.to_string().contains("learning_rte"), "{e}");
    let e = parse("env = \"CartPole-v1\"\npolicy = { kind = \"mlp\", width = 3 }").unwrap_err();
    assert!(e.to_string().contains("width"), "{e}");
    let e = parse("env = \"CartPole-v1\"\npolicy = { kind = \"gru\" }").unwrap_err();
    assert!(e.to_string().contains("gru"), "{e}");
}

fn invalid(edit: impl FnOnce(&mut A3cConfig)) -> String {
    let mut c = A3cConfig::new("CartPole-v1");
    edit(&mut c);
    c.validate().unwrap_err().to_string()
}

#[test]
fn validation_names_the_field_and_value() {
    type Edit = Box<dyn FnOnce(&mut A3cConfig)>;
    let cases: Vec<(Edit, &str, &str)> = vec![
        (Box::new(|c| c.env = "Pong-v9".into()), "`env`", "Pong-v9"),
        (Box::new(|c| c.t_max = 0), "`t_max`", "= 0"),
        (Box::new(|c| c.gamma = 1.5), "`gamma`", "1.5"),
        (
            Box::new(|c| c.learning_rate = f64::NAN),
            "`learning_rate`",
            "NaN",
        ),
        (
            Box::new(|c| c.rmsprop_alpha = 1.0),
            "`rmsprop_alpha`",
            "= 1",
        ),
        (Box::new(|c| c.rmsprop_eps = 0.0), "`rmsprop_eps`", "= 0"),
        (
            Box::new(|c| c.entropy_beta = -0.1),
            "`entropy_beta`",
            "-0.1",
        ),
        (Box::new(|c| c.value_coef = -1.0), "`value_coef`", "-1"),
        (
            Box::new(|c| c.max_grad_norm = 0.0),
            "`max_grad_norm`",
            "= 0",
        ),
        (Box::new(|c| c.reward_scale = 0.0), "`reward_scale`", "= 0"),
        (Box::new(|c| c.workers = 0), "`workers`", "= 0"),
        (
            Box::new(|c| c.max_staleness = u64::MAX),
            "`max_staleness`",
            "18446744073709551615",
        ),
        (
            Box::new(|c| c.policy.hidden = vec![64, 0]),
            "`policy.hidden[1]`",
            "= 0",
        ),
        (
            Box::new(|c| c.policy.lstm_size = Some(8)),
            "`policy.lstm_size`",
            "lstm",
        ),
        (
            Box::new(|c| c.policy.kind = PolicyKind::Conv),
            "`policy.kind`",
            "observes 4 values",
        ),
        (Box::new(|c| c.stop.window = 0), "`stop.window`", "= 0"),
        (
            Box::new(|c| c.stop.target_return = Some(f64::INFINITY)),
            "`stop.target_return`",
            "inf",
        ),
        (
            Box::new(|c| c.stop.max_env_steps = 0),
            "`stop.max_env_steps`",
            "= 0",
        ),
    ];
    for (edit, field, value) in cases {
        let message = invalid(edit);
        assert!(message.contains(field), "{message} lacks {field}");
        assert!(message.contains(value), "{message} lacks {value}");
    }
}
