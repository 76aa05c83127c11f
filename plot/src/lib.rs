//! Plot-ready JSON to SVG. Three kinds of figure, told apart by a `"type"` field
//! (`"curves"`, `"bars"`, `"grid"`) or, without one, by which of `series`, `bars` or `paths`
//! the object has:
//!
//! - curves: `{"title","xlabel","ylabel","series":[{"label","points":[[x,y],...]}]}`, one line
//!   per series (fitness against evaluations, say);
//! - bars: `{"title","ylabel","bars":[{"label","median","lo","hi"}]}`, a bar per arm at its
//!   median with `lo..hi` (a confidence interval) as an error bar;
//! - grid: `{"title","layers","modules","paths":[{"label","modules":[[layer,module],...]}],
//!   "frozen":[[layer,module],...]}`, PathNet's picture: the L x M module grid, each pathway
//!   drawn through its modules layer by layer, frozen modules filled.
//!
//! [`parse`] checks everything and names the offending field (`series[1].points[4]`);
//! [`render`] draws a parsed figure. Nothing here knows where the JSON came from.

mod parse;
mod render;

pub use parse::parse;
pub use render::render;

/// A line chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Curves {
    pub title: String,
    pub xlabel: String,
    pub ylabel: String,
    pub series: Vec<Series>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
}

/// Medians with intervals, one bar each.
#[derive(Debug, Clone, PartialEq)]
pub struct Bars {
    pub title: String,
    pub ylabel: String,
    pub bars: Vec<Bar>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub label: String,
    pub median: f64,
    pub lo: f64,
    pub hi: f64,
}

/// PathNet's module grid with pathways through it.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    pub title: String,
    pub layers: usize,
    pub modules: usize,
    pub paths: Vec<GridPath>,
    pub frozen: Vec<(usize, usize)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct GridPath {
    pub label: String,
    /// `(layer, module)` pairs, in any order.
    pub modules: Vec<(usize, usize)>,
}

/// One figure of any kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Figure {
    Curves(Curves),
    Bars(Bars),
    Grid(Grid),
}

#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    #[error("not JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// `field` is a path into the document, e.g. `series[1].points[4]`.
    #[error("`{field}` {problem}")]
    Field { field: String, problem: String },
    #[error("drawing failed: {0}")]
    Draw(String),
}

impl PlotError {
    pub(crate) fn field(field: impl Into<String>, problem: impl Into<String>) -> Self {
        PlotError::Field {
            field: field.into(),
            problem: problem.into(),
        }
    }
}

/// Parses and renders in one step: JSON text in, SVG text out.
pub fn json_to_svg(json: &str) -> Result<String, PlotError> {
    render(&parse(json)?)
}
