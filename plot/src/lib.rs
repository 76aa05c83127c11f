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
    /// Drawn above the chart.
    pub title: String,
    /// The x axis' label.
    pub xlabel: String,
    /// The y axis' label.
    pub ylabel: String,
    /// One line each, in the legend's order.
    pub series: Vec<Series>,
}

/// One line of a [`Curves`] chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Its name in the legend.
    pub label: String,
    /// `(x, y)` points, joined in the order given.
    pub points: Vec<(f64, f64)>,
}

/// Medians with intervals, one bar each.
#[derive(Debug, Clone, PartialEq)]
pub struct Bars {
    /// Drawn above the chart.
    pub title: String,
    /// The y axis' label.
    pub ylabel: String,
    /// One bar each, left to right.
    pub bars: Vec<Bar>,
}

/// One bar of a [`Bars`] chart: a median and its interval.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    /// Written under the bar.
    pub label: String,
    /// The bar's height.
    pub median: f64,
    /// The error bar's lower end.
    pub lo: f64,
    /// The error bar's upper end.
    pub hi: f64,
}

/// PathNet's module grid with pathways through it.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    /// Drawn above the grid.
    pub title: String,
    /// L, the grid's columns.
    pub layers: usize,
    /// M, the modules per layer (the grid's rows).
    pub modules: usize,
    /// Pathways drawn through their modules, one colour each.
    pub paths: Vec<GridPath>,
    /// `(layer, module)` pairs drawn filled: modules a finished task froze.
    pub frozen: Vec<(usize, usize)>,
}

/// One pathway of a [`Grid`].
#[derive(Debug, Clone, PartialEq)]
pub struct GridPath {
    /// Its name in the legend.
    pub label: String,
    /// `(layer, module)` pairs, in any order.
    pub modules: Vec<(usize, usize)>,
}

/// One figure of any kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Figure {
    /// A line chart.
    Curves(Curves),
    /// Medians with intervals.
    Bars(Bars),
    /// PathNet's module grid.
    Grid(Grid),
}

/// Why a figure could not be read or drawn.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// The input is not JSON at all.
    #[error("not JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// `field` is a path into the document, e.g. `series[1].points[4]`.
    #[error("`{field}` {problem}")]
    Field {
        /// Where in the document.
        field: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The SVG backend refused to draw.
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
