//! JSON to [`Figure`], by hand rather than through derived deserializers, so that every error
//! names the exact field (`bars[2].hi`) and what is wrong with its value.

use crate::{Bar, Bars, Curves, Figure, Grid, GridPath, PlotError, Series};
use serde_json::{Map, Value};

/// Reads one figure; see the crate documentation for the three shapes.
pub fn parse(json: &str) -> Result<Figure, PlotError> {
    let value: Value = serde_json::from_str(json)?;
    let Value::Object(obj) = value else {
        return Err(PlotError::field("(document)", "must be a JSON object"));
    };
    let kind = match obj.get("type") {
        Some(Value::String(t)) => t.clone(),
        Some(other) => {
            return Err(PlotError::field(
                "type",
                format!("must be a string, got {other}"),
            ));
        }
        None if obj.contains_key("series") => "curves".into(),
        None if obj.contains_key("bars") => "bars".into(),
        None if obj.contains_key("paths") => "grid".into(),
        None => {
            return Err(PlotError::field(
                "type",
                "is missing, and the object has none of `series`, `bars` or `paths` to tell the kind by",
            ));
        }
    };
    let o = Obj {
        map: &obj,
        path: String::new(),
    };
    match kind.as_str() {
        "curves" => {
            o.only(&["type", "title", "xlabel", "ylabel", "series"])?;
            curves(&o).map(Figure::Curves)
        }
        "bars" => {
            o.only(&["type", "title", "ylabel", "bars"])?;
            bars(&o).map(Figure::Bars)
        }
        "grid" => {
            o.only(&["type", "title", "layers", "modules", "paths", "frozen"])?;
            grid(&o).map(Figure::Grid)
        }
        other => Err(PlotError::field(
            "type",
            format!("= {other:?}: must be \"curves\", \"bars\" or \"grid\""),
        )),
    }
}

fn curves(o: &Obj) -> Result<Curves, PlotError> {
    let mut series = Vec::new();
    for (i, s) in o.array("series")?.iter().enumerate() {
        let s = o.object_at("series", i, s)?;
        s.only(&["label", "points"])?;
        let mut points = Vec::new();
        for (j, p) in s.array("points")?.iter().enumerate() {
            points.push(s.pair_f64("points", j, p)?);
        }
        series.push(Series {
            label: s.string("label")?,
            points,
        });
    }
    if !series.iter().any(|s| !s.points.is_empty()) {
        return Err(PlotError::field("series", "has no points: nothing to draw"));
    }
    Ok(Curves {
        title: o.string_or("title", "")?,
        xlabel: o.string_or("xlabel", "")?,
        ylabel: o.string_or("ylabel", "")?,
        series,
    })
}

fn bars(o: &Obj) -> Result<Bars, PlotError> {
    let mut bars = Vec::new();
    for (i, b) in o.array("bars")?.iter().enumerate() {
        let b = o.object_at("bars", i, b)?;
        b.only(&["label", "median", "lo", "hi"])?;
        let (median, lo, hi) = (b.f64("median")?, b.f64("lo")?, b.f64("hi")?);
        if !(lo <= median && median <= hi) {
            return Err(PlotError::field(
                format!("{}.median", b.path),
                format!("= {median} must lie within lo = {lo} and hi = {hi}"),
            ));
        }
        bars.push(Bar {
            label: b.string("label")?,
            median,
            lo,
            hi,
        });
    }
    if bars.is_empty() {
        return Err(PlotError::field("bars", "is empty: nothing to draw"));
    }
    Ok(Bars {
        title: o.string_or("title", "")?,
        ylabel: o.string_or("ylabel", "")?,
        bars,
    })
}

/// The grid is drawn one cell per module; more than this is no longer a readable picture.
const MAX_GRID_SIDE: usize = 1000;

fn grid(o: &Obj) -> Result<Grid, PlotError> {
    let layers = o.count("layers")?;
    let modules = o.count("modules")?;
    let cell =
        |owner: &Obj, field: &str, i: usize, v: &Value| -> Result<(usize, usize), PlotError> {
            let (l, m) = owner.pair_usize(field, i, v)?;
            if l >= layers || m >= modules {
                return Err(PlotError::field(
                    format!("{}[{i}]", owner.join(field)),
                    format!("= [{l}, {m}] is outside the {layers} x {modules} grid"),
                ));
            }
            Ok((l, m))
        };
    let mut paths = Vec::new();
    for (i, p) in o.array("paths")?.iter().enumerate() {
        let p = o.object_at("paths", i, p)?;
        p.only(&["label", "modules"])?;
        let mut cells = Vec::new();
        for (j, v) in p.array("modules")?.iter().enumerate() {
            cells.push(cell(&p, "modules", j, v)?);
        }
        paths.push(GridPath {
            label: p.string("label")?,
            modules: cells,
        });
    }
    let mut frozen = Vec::new();
    if o.map.contains_key("frozen") {
        for (i, v) in o.array("frozen")?.iter().enumerate() {
            frozen.push(cell(o, "frozen", i, v)?);
        }
    }
    Ok(Grid {
        title: o.string_or("title", "")?,
        layers,
        modules,
        paths,
        frozen,
    })
}

/// An object and its path in the document, for error messages.
struct Obj<'a> {
    map: &'a Map<String, Value>,
    path: String,
}

impl<'a> Obj<'a> {
    fn join(&self, field: &str) -> String {
        if self.path.is_empty() {
            field.to_string()
        } else {
            format!("{}.{field}", self.path)
        }
    }

    fn bad(&self, field: &str, problem: impl Into<String>) -> PlotError {
        PlotError::field(self.join(field), problem)
    }

    /// Refuses fields the figure does not have: a typo must not be silently ignored.
    fn only(&self, allowed: &[&str]) -> Result<(), PlotError> {
        match self.map.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(k) => Err(self.bad(
                k,
                format!("is not a field here (expected one of {allowed:?})"),
            )),
            None => Ok(()),
        }
    }

    fn get(&self, field: &str) -> Result<&'a Value, PlotError> {
        self.map
            .get(field)
            .ok_or_else(|| self.bad(field, "is missing"))
    }

    fn string(&self, field: &str) -> Result<String, PlotError> {
        match self.get(field)? {
            Value::String(s) => Ok(s.clone()),
            other => Err(self.bad(field, format!("must be a string, got {other}"))),
        }
    }

    fn string_or(&self, field: &str, default: &str) -> Result<String, PlotError> {
        if self.map.contains_key(field) {
            self.string(field)
        } else {
            Ok(default.to_string())
        }
    }

    fn f64(&self, field: &str) -> Result<f64, PlotError> {
        let v = self.get(field)?;
        finite(v).ok_or_else(|| self.bad(field, format!("must be a finite number, got {v}")))
    }

    fn count(&self, field: &str) -> Result<usize, PlotError> {
        let v = self.get(field)?;
        match v.as_u64() {
            Some(n) if (1..=MAX_GRID_SIDE as u64).contains(&n) => Ok(n as usize),
            _ => Err(self.bad(
                field,
                format!("must be a whole number from 1 to {MAX_GRID_SIDE}, got {v}"),
            )),
        }
    }

    fn array(&self, field: &str) -> Result<&'a Vec<Value>, PlotError> {
        match self.get(field)? {
            Value::Array(a) => Ok(a),
            other => Err(self.bad(field, format!("must be an array, got {other}"))),
        }
    }

    fn object_at(&self, field: &str, i: usize, v: &'a Value) -> Result<Obj<'a>, PlotError> {
        let path = format!("{}[{i}]", self.join(field));
        match v {
            Value::Object(map) => Ok(Obj { map, path }),
            other => Err(PlotError::field(
                path,
                format!("must be an object, got {other}"),
            )),
        }
    }

    fn pair<'v>(&self, field: &str, i: usize, v: &'v Value) -> Result<[&'v Value; 2], PlotError> {
        match v {
            Value::Array(a) if a.len() == 2 => Ok([&a[0], &a[1]]),
            other => Err(PlotError::field(
                format!("{}[{i}]", self.join(field)),
                format!("must be a pair [a, b], got {other}"),
            )),
        }
    }

    fn pair_f64(&self, field: &str, i: usize, v: &Value) -> Result<(f64, f64), PlotError> {
        let [a, b] = self.pair(field, i, v)?;
        match (finite(a), finite(b)) {
            (Some(x), Some(y)) => Ok((x, y)),
            _ => Err(PlotError::field(
                format!("{}[{i}]", self.join(field)),
                format!("must be two finite numbers [x, y], got {v}"),
            )),
        }
    }

    fn pair_usize(&self, field: &str, i: usize, v: &Value) -> Result<(usize, usize), PlotError> {
        let [a, b] = self.pair(field, i, v)?;
        match (a.as_u64(), b.as_u64()) {
            (Some(l), Some(m)) => Ok((l as usize, m as usize)),
            _ => Err(PlotError::field(
                format!("{}[{i}]", self.join(field)),
                format!("must be two whole numbers [layer, module], got {v}"),
            )),
        }
    }
}

fn finite(v: &Value) -> Option<f64> {
    v.as_f64().filter(|x| x.is_finite())
}
