//! Specs a hostile or careless client could send: each size that used to abort the
//! coordinator ("memory allocation failed") or travel truncated to 32 bits is refused when
//! parsed, naming the field, and sizes within their bounds that together would take too much
//! memory are refused by the estimate.

use pathnet_coordinator::spec::{DEFAULT_MAX_EXPERIMENT_BYTES, Spec, limits};

const PATHNET: &str = "name = \"t\"\n[data]\ndir = \"/nonexistent\"\n";
const TASKS: &str = "[[tasks]]\nname = \"a\"\nclasses = [3, 7]\n";

fn pathnet(tables: &str) -> String {
    format!("{PATHNET}{tables}\n{TASKS}")
}

fn a3c(extra: &str) -> String {
    format!("kind = \"a3c\"\nname = \"t\"\n[a3c]\nenv = \"CartPole-v1\"\n{extra}")
}

fn ga(extra: &str) -> String {
    format!(
        "kind = \"neuroevolution\"\nname = \"t\"\n[ga]\ntask = \"parity\"\noperator = \"sm_g_sum\"\n\
         sigma = 0.05\n{extra}"
    )
}

fn pathnet_a3c(extra: &str, tasks: usize) -> String {
    let tasks = vec!["{ env = \"CartPole-v1\" }"; tasks].join(", ");
    format!("kind = \"pathnet_a3c\"\nname = \"t\"\n[pathnet_a3c]\n{extra}\ntasks = [{tasks}]\n")
}

/// The spec is refused, naming `field` and `value`, and the message stays short.
fn refused(text: &str, field: &str, value: &str) {
    let err = Spec::from_toml(text)
        .map(|spec| format!("accepted a {} spec", spec.kind()))
        .unwrap_or_else(|err| err.to_string());
    assert!(
        err.contains(&format!("`{field}`")) && err.contains(value),
        "expected `{field}` = {value} refused, got: {err}"
    );
    assert!(err.len() < 1000, "{} bytes of error", err.len());
}

#[test]
fn sizes_that_aborted_the_coordinator_are_refused_by_name() {
    let huge = "1000000000000";
    let billion = "1000000000";
    refused(
        &pathnet(&format!("[evolution]\npopulation = {huge}")),
        "evolution.population",
        huge,
    );
    for field in ["layers", "modules_per_layer", "module_units"] {
        let text = pathnet(&format!("[pathnet]\n{field} = {billion}\nmax_active = 1"));
        refused(&text, &format!("pathnet.{field}"), billion);
    }
    let many_tasks: String = (0..20_000)
        .map(|i| format!("[[tasks]]\nname = \"t{i}\"\nclasses = [3, 7]\n"))
        .collect();
    refused(&format!("{PATHNET}{many_tasks}"), "tasks", "20000");
    refused(
        &a3c(&format!("[a3c.policy]\nhidden = [{billion}]")),
        "a3c.policy.hidden[0]",
        billion,
    );
    refused(&a3c(&format!("t_max = {billion}")), "a3c.t_max", billion);
    refused(
        &a3c(&format!("workers = {billion}")),
        "a3c.workers",
        billion,
    );
    refused(&ga(&format!("population = {huge}")), "ga.population", huge);
    refused(&ga(&format!("hidden = {billion}")), "ga.hidden", billion);
    refused(&ga("parity_bits = 60"), "ga.parity_bits", "60");
    refused(&pathnet_a3c("", 20_000), "pathnet_a3c.tasks", "20000");
    refused(
        &pathnet_a3c(&format!("units = {billion}"), 1),
        "pathnet_a3c.units",
        billion,
    );
}

#[test]
fn sizes_that_travel_as_32_bits_are_refused_above_their_bound_not_truncated() {
    for t in ["4294967296", "4294967346"] {
        refused(
            &pathnet(&format!("[evolution]\nminibatches_per_evaluation = {t}")),
            "evolution.minibatches_per_evaluation",
            t,
        );
        refused(
            &pathnet(&format!("[evolution]\nbatch_size = {t}")),
            "evolution.batch_size",
            t,
        );
    }
    // The bounds themselves are accepted and fit the wire's 32 bits.
    let text = pathnet(&format!(
        "[evolution]\nminibatches_per_evaluation = {}\nbatch_size = {}",
        limits::MAX_MINIBATCHES,
        limits::MAX_BATCH_SIZE
    ));
    Spec::from_toml(&text).unwrap();
    assert!(u32::try_from(limits::MAX_MINIBATCHES).is_ok());
    assert!(u32::try_from(limits::MAX_BATCH_SIZE).is_ok());
}

#[test]
fn sizes_within_bounds_that_together_take_too_much_memory_are_refused_by_the_estimate() {
    let text = pathnet(&format!(
        "[pathnet]\nlayers = {}\nmodules_per_layer = {}\nmodule_units = {}\nmax_active = 3",
        limits::MAX_LAYERS,
        limits::MAX_MODULES_PER_LAYER,
        limits::MAX_UNITS
    ));
    let Spec::PathNet(spec) = Spec::from_toml(&text).unwrap() else {
        panic!("a PathNet spec")
    };
    let estimate = spec.memory_estimate(784);
    let err = estimate
        .check(DEFAULT_MAX_EXPERIMENT_BYTES)
        .unwrap_err()
        .to_string();
    assert!(err.contains("`pathnet`") && err.contains("copies"), "{err}");

    let Spec::A3c(spec) = Spec::from_toml(&a3c("[a3c.policy]\nhidden = [65536, 65536]")).unwrap()
    else {
        panic!("an A3C spec")
    };
    let err = spec
        .memory_estimate()
        .unwrap()
        .check(1 << 30)
        .unwrap_err()
        .to_string();
    assert!(err.contains("`a3c.policy`"), "{err}");
}

#[test]
fn the_papers_experiments_are_far_below_the_default_ceiling() {
    let Spec::PathNet(spec) = Spec::from_toml(&pathnet("")).unwrap() else {
        panic!("a PathNet spec")
    };
    let estimate = spec.memory_estimate(784);
    // L=3, M=10, 20 units on 784 features: 10*(785*20) + 20*(21*20) + (21*2) parameters.
    assert_eq!(estimate.parameters, 157_000 + 8_400 + 42);
    assert!(estimate.bytes() < 10 << 20, "{estimate:?}");
    let Spec::A3c(spec) = Spec::from_toml(&a3c("")).unwrap() else {
        panic!("an A3C spec")
    };
    // CartPole: 4 inputs, 128 hidden, 2 actions and the value.
    assert_eq!(
        spec.memory_estimate().unwrap().parameters,
        5 * 128 + 129 * 3
    );
    let Spec::Neuroevolution(spec) = Spec::from_toml(&ga("")).unwrap() else {
        panic!("a GA spec")
    };
    assert_eq!(spec.memory_estimate().parameters, 2912);
    let Spec::PathNetA3c(spec) = Spec::from_toml(&pathnet_a3c("", 2)).unwrap() else {
        panic!("a PathNet-A3C spec")
    };
    let estimate = spec.memory_estimate().unwrap();
    estimate.check(DEFAULT_MAX_EXPERIMENT_BYTES).unwrap();
}

#[test]
fn errors_quote_at_most_a_bounded_part_of_what_was_sent() {
    let long_line = format!("name = \"{}\"\nx = [", "a".repeat(1 << 20));
    let err = Spec::from_toml(&long_line).unwrap_err().to_string();
    assert!(err.len() < 4000, "{} bytes of error", err.len());
    let long_key = format!("{}{} = 1\n", PATHNET, "k".repeat(10_000));
    let err = Spec::from_toml(&long_key).unwrap_err().to_string();
    assert!(
        err.len() < 4000 && err.contains("kkkk"),
        "{} bytes: {err}",
        err.len()
    );
    let long_kind = format!("kind = \"{}\"\n", "x".repeat(100_000));
    let err = Spec::from_toml(&long_kind).unwrap_err().to_string();
    assert!(err.len() < 1000 && err.contains("`kind`"), "{err}");
    let long_env = a3c("").replace("CartPole-v1", &"E".repeat(100_000));
    let err = Spec::from_toml(&long_env).unwrap_err().to_string();
    assert!(err.len() < 2000 && err.contains("a3c.env"), "{err}");
}
