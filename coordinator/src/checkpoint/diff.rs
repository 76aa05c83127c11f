//! Where two specs differ, so that a coordinator refusing to resume on another spec can name
//! the field instead of only saying "different".

use serde_json::Value;

/// The first field (as a dotted path, `evolution.population`, `tasks[1].classes`) where
/// `saved` and `given` differ, with each side's value; `None` when they are equal.
pub fn first_difference(saved: &Value, given: &Value) -> Option<(String, String, String)> {
    walk(saved, given, String::new())
}

fn walk(saved: &Value, given: &Value, path: String) -> Option<(String, String, String)> {
    let differs = |path: String| {
        let show = |v: &Value| pathnet_proto::quote(&v.to_string());
        Some((path, show(saved), show(given)))
    };
    match (saved, given) {
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            keys.into_iter().find_map(|key| {
                let field = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                let null = Value::Null;
                let (x, y) = (a.get(key).unwrap_or(&null), b.get(key).unwrap_or(&null));
                walk(x, y, field)
            })
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => a
            .iter()
            .zip(b)
            .enumerate()
            .find_map(|(i, (x, y))| walk(x, y, format!("{path}[{i}]"))),
        _ if saved == given => None,
        _ => differs(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_the_first_differing_field() {
        let saved = json!({"evolution": {"population": 64, "t": 50}, "tasks": [{"c": [1, 2]}]});
        let same = saved.clone();
        assert_eq!(first_difference(&saved, &same), None);
        let given = json!({"evolution": {"population": 32, "t": 50}, "tasks": [{"c": [1, 2]}]});
        assert_eq!(
            first_difference(&saved, &given),
            Some(("evolution.population".into(), "64".into(), "32".into()))
        );
        let given = json!({"evolution": {"population": 64, "t": 50}, "tasks": [{"c": [1, 3]}]});
        assert_eq!(first_difference(&saved, &given).unwrap().0, "tasks[0].c[1]");
    }
}
