//! The `[pathnet_a3c]` table: parsing, defaults, the TOML round trip and the checks that
//! name a bad key and its value.

use super::*;

#[test]
fn the_task_list_and_dims_parse() {
    let c: PathNetA3cConfig = toml::from_str(
        r#"
        tasks = [{ env = "CartPole-v1", stop = { target_return = 400.0 } }, { env = "Acrobot-v1" }]
        layers = 2
        tournament_size = 3
        "#,
    )
    .unwrap();
    c.validate().unwrap();
    assert_eq!(c.tasks[0].stop.target_return, Some(400.0));
    assert_eq!(c.tasks[1].env, "Acrobot-v1");
    assert_eq!(c.dims(), PathNetDims::new(2, 10, 3).unwrap());
    let shapes = c.task_shapes().unwrap();
    assert_eq!((shapes[0].obs_dim, shapes[0].actions), (4, 2));
    assert_eq!((shapes[1].obs_dim, shapes[1].actions), (6, 3));
}

#[test]
fn unknown_keys_are_rejected() {
    let e = toml::from_str::<PathNetA3cConfig>("tasks = []\nmodule = 3").unwrap_err();
    assert!(e.to_string().contains("module"), "{e}");
    let e = toml::from_str::<PathNetA3cConfig>("tasks = [{ env = \"CartPole-v1\", t = 1 }]")
        .unwrap_err();
    assert!(e.to_string().contains('t'), "{e}");
}

#[test]
fn validation_names_the_field_and_value() {
    let base = PathNetA3cConfig {
        tasks: vec![
            TaskConfig::new("CartPole-v1", StopConfig::default()),
            TaskConfig::new("Acrobot-v1", StopConfig::default()),
        ],
        ..PathNetA3cConfig::default()
    };
    base.validate().unwrap();
    type Edit = Box<dyn Fn(&mut PathNetA3cConfig)>;
    let cases: Vec<(Edit, &str, &str)> = vec![
        (Box::new(|c| c.tasks.clear()), "`tasks`", "[]"),
        (
            Box::new(|c| c.tasks[1].env = "Pendulum-v1".into()),
            "`tasks[1].env`",
            "Pendulum-v1",
        ),
        (
            Box::new(|c| c.tasks[0].env = "Nope-v0".into()),
            "`tasks[0].env`",
            "Nope-v0",
        ),
        (
            Box::new(|c| c.tasks[1].stop.window = 0),
            "`tasks[1].stop.window`",
            "= 0",
        ),
        (Box::new(|c| c.layers = 0), "`layers`", "= 0"),
        (Box::new(|c| c.max_active = 11), "`max_active`", "= 11"),
        (Box::new(|c| c.units = 0), "`units`", "= 0"),
        (
            Box::new(|c| c.episodes_per_fitness = 0),
            "`episodes_per_fitness`",
            "= 0",
        ),
        (Box::new(|c| c.workers = 0), "`workers`", "= 0"),
        (Box::new(|c| c.gamma = 2.0), "`gamma`", "= 2"),
        (Box::new(|c| c.t_max = 0), "`t_max`", "= 0"),
        (
            Box::new(|c| c.module_kind = ModuleKind::Conv),
            "`tasks[0].env`",
            "4 values",
        ),
        (
            Box::new(|c| c.conv_filters = Some(8)),
            "`conv_filters`",
            "only allowed with module_kind = \"conv\"",
        ),
        (
            Box::new(|c| c.conv_padding = Some(1)),
            "`conv_padding`",
            "= 1",
        ),
    ];
    for (edit, field, value) in cases {
        let mut c = base.clone();
        edit(&mut c);
        let message = c.validate().unwrap_err().to_string();
        assert!(message.contains(field), "{message} lacks {field}");
        assert!(message.contains(value), "{message} lacks {value}");
    }
}

fn minatar(module_keys: &str) -> Result<PathNetA3cConfig, PathNetA3cError> {
    let c: PathNetA3cConfig = toml::from_str(&format!(
        "tasks = [{{ env = \"MinAtar/Breakout-v1\" }}, {{ env = \"MinAtar/Freeway-v1\" }}]\n\
         {module_keys}"
    ))
    .unwrap();
    c.validate().map(|()| c)
}

#[test]
fn conv_modules_parse_with_defaults_and_round_trip() {
    let c = minatar("module_kind = \"conv\"").unwrap();
    assert_eq!(
        c.module_spec(),
        ModuleSpec::Conv(PathNetA3cConfig::DEFAULT_CONV)
    );
    let c = minatar(
        "module_kind = \"conv\"\nlayers = 4\nconv_filters = 6\nconv_kernel = 5\n\
         conv_padding = 2\nconv_stride = 1",
    )
    .unwrap();
    let spec = ConvSpec {
        filters: 6,
        kernel: 5,
        stride: 1,
        padding: 2,
    };
    assert_eq!(c.module_spec(), ModuleSpec::Conv(spec));
    // Agents receive the table as TOML text.
    for config in [c, minatar("units = 7").unwrap()] {
        let text = toml::to_string(&config).unwrap();
        let back: PathNetA3cConfig = toml::from_str(&text).unwrap();
        assert_eq!(back, config, "{text}");
        back.validate().unwrap();
    }
    let linear = minatar("units = 7").unwrap();
    assert_eq!(linear.module_spec(), ModuleSpec::Linear { units: 7 });
    assert!(!toml::to_string(&linear).unwrap().contains("conv_"));
    let e = toml::from_str::<PathNetA3cConfig>("module_kind = \"pixels\"").unwrap_err();
    assert!(e.to_string().contains("pixels"), "{e}");
}

#[test]
fn conv_settings_are_checked_by_name() {
    let cases = [
        ("conv_filters = 0", "`conv_filters` = 0"),
        ("conv_kernel = 0", "`conv_kernel` = 0"),
        ("conv_stride = 0", "`conv_stride` = 0"),
        ("units = 64", "`units` = 64"),
        // 3x3 kernels without padding: 10 -> 8 -> 6 -> 4 -> 2, no room for a fifth.
        ("layers = 5", "layer 4 of 5 gets 2x2 maps"),
        ("conv_kernel = 11", "`conv_kernel` = 11"),
    ];
    for (keys, wanted) in cases {
        let e = minatar(&format!("module_kind = \"conv\"\n{keys}"))
            .unwrap_err()
            .to_string();
        assert!(e.contains(wanted), "{keys}: {e} lacks {wanted}");
    }
    minatar("module_kind = \"conv\"\nlayers = 4").unwrap();
    minatar("module_kind = \"conv\"\nlayers = 5\nconv_padding = 1").unwrap();
}
