//! Property tests of the spec parser: valid specs of every kind with bytes flipped, lines
//! dropped or repeated, and every size field set to any number. Parsing never panics; an
//! error names the field (or the parser's position) in a message a reply can carry; and a
//! spec that parses has a memory estimate that can be computed without overflow.
//!
//! `PROPTEST_CASES` sets the cases per property (proptest's default, 256, takes about a
//! second); a failing case is saved under `proptest-regressions/` to be replayed first.

use pathnet_coordinator::spec::{DEFAULT_MAX_EXPERIMENT_BYTES, Spec};
use proptest::prelude::*;

const MAX_ERROR_BYTES: usize = 4096;

const SPECS: [&str; 4] = [
    "name = \"p\"\nseed = 1\n[data]\ndir = \"/nonexistent\"\nnoise = 0.5\n[pathnet]\nlayers = 3\n\
     modules_per_layer = 10\nmax_active = 3\nmodule_units = 20\n[evolution]\npopulation = 64\n\
     minibatches_per_evaluation = 50\nbatch_size = 16\n[[tasks]]\nname = \"a\"\nclasses = [3, 7]\n",
    "kind = \"a3c\"\nname = \"c\"\nmax_workers = 4\n[a3c]\nenv = \"CartPole-v1\"\nt_max = 5\n\
     workers = 2\n[a3c.policy]\nhidden = [16, 8]\n",
    "kind = \"neuroevolution\"\nname = \"g\"\n[ga]\ntask = \"parity\"\noperator = \"sm_g_sum\"\n\
     sigma = 0.05\npopulation = 20\nhidden = 4\nlayers = 1\nparity_bits = 3\n",
    "kind = \"pathnet_a3c\"\nname = \"x\"\n[pathnet_a3c]\nlayers = 2\nmodules = 4\nmax_active = 2\n\
     units = 8\nworkers = 2\ntasks = [{ env = \"CartPole-v1\" }]\n",
];

/// Size fields of each spec above, as they appear in it (`key = value` lines).
const SIZE_KEYS: [&[&str]; 4] = [
    &[
        "layers",
        "modules_per_layer",
        "max_active",
        "module_units",
        "population",
        "minibatches_per_evaluation",
        "batch_size",
    ],
    &["max_workers", "t_max", "workers", "hidden"],
    &["population", "hidden", "layers", "parity_bits"],
    &["layers", "modules", "max_active", "units", "workers"],
];

/// Parses `text`; on success the estimate is computed, on failure the error is checked.
fn parse(text: &str) -> Result<(), TestCaseError> {
    match Spec::from_toml(text) {
        Ok(spec) => {
            if let Ok(estimate) = spec.memory_estimate(784)
                && let Err(err) = estimate.check(DEFAULT_MAX_EXPERIMENT_BYTES)
            {
                let message = err.to_string();
                prop_assert!(message.len() <= MAX_ERROR_BYTES);
            }
        }
        Err(err) => {
            let message = err.to_string();
            prop_assert!(message.len() <= MAX_ERROR_BYTES, "{} bytes", message.len());
            prop_assert!(
                message.contains('`') || message.contains("line"),
                "names no field: {}",
                message
            );
        }
    }
    Ok(())
}

/// A number as TOML may spell it, including values no size could take.
fn any_number() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u64..100).prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        Just("4294967296".to_owned()),
        Just("4294967346".to_owned()),
        Just("1e300".to_owned()),
        Just("nan".to_owned()),
        Just("inf".to_owned()),
        Just("\"12\"".to_owned()),
    ]
}

proptest! {
    #[test]
    fn any_size_is_accepted_within_its_bounds_or_refused_by_name(
        which in 0usize..4,
        key_pick in any::<usize>(),
        number in any_number(),
    ) {
        let keys = SIZE_KEYS[which];
        let key = keys[key_pick % keys.len()];
        let text: String = SPECS[which]
            .lines()
            .map(|line| {
                if line.starts_with(&format!("{key} = ")) {
                    if line.contains('[') {
                        format!("{key} = [{number}]")
                    } else {
                        format!("{key} = {number}")
                    }
                } else {
                    line.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        parse(&text)?;
    }

    #[test]
    fn specs_with_bytes_flipped_parse_or_fail_cleanly(
        which in 0usize..4,
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
    ) {
        let mut bytes = SPECS[which].as_bytes().to_vec();
        for (at, value) in flips {
            let i = at % bytes.len();
            bytes[i] = value;
        }
        // Invalid UTF-8 never reaches the parser as text; a lossy view of it does.
        parse(&String::from_utf8_lossy(&bytes))?;
    }

    #[test]
    fn specs_with_lines_dropped_or_repeated_parse_or_fail_cleanly(
        which in 0usize..4,
        drop in any::<usize>(),
        repeat in any::<usize>(),
    ) {
        let lines: Vec<&str> = SPECS[which].lines().collect();
        let (drop, repeat) = (drop % lines.len(), repeat % lines.len());
        let mut text = String::new();
        for (i, line) in lines.iter().enumerate() {
            if i != drop {
                text.push_str(line);
                text.push('\n');
            }
            if i == repeat {
                text.push_str(line);
                text.push('\n');
            }
        }
        parse(&text)?;
    }

    #[test]
    fn random_text_fails_cleanly(text in "\\PC{0,200}") {
        parse(&text)?;
    }
}

#[test]
fn the_unmutated_specs_parse() {
    for text in SPECS {
        Spec::from_toml(text).unwrap();
    }
}
