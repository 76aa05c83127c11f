//! [`Figure`] to SVG text with plotters' SVG backend.

use crate::{Bars, Curves, Figure, Grid, PlotError};
use plotters::coord::Shift;
use plotters::prelude::*;

/// Distinguishable line colours (Tableau 10), cycled when there are more series.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

fn draw_err(e: impl std::fmt::Display) -> PlotError {
    PlotError::Draw(e.to_string())
}

/// Draws `figure` as a standalone SVG document.
pub fn render(figure: &Figure) -> Result<String, PlotError> {
    let size = match figure {
        Figure::Grid(g) => (
            (220 + 110 * g.layers as u32).min(4000),
            (160 + 48 * g.modules as u32).min(4000),
        ),
        _ => (800, 500),
    };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        match figure {
            Figure::Curves(c) => curves(&root, c)?,
            Figure::Bars(b) => bars(&root, b)?,
            Figure::Grid(g) => grid(&root, g)?,
        }
        root.present().map_err(draw_err)?;
    }
    Ok(svg)
}

/// `lo..hi` widened by 5% each side, and to a unit span if it is a single value.
fn padded(lo: f64, hi: f64) -> std::ops::Range<f64> {
    let span = hi - lo;
    if span <= 0.0 {
        let half = lo.abs().max(1.0) * 0.5;
        return (lo - half)..(hi + half);
    }
    (lo - 0.05 * span)..(hi + 0.05 * span)
}

fn chart_builder<'a, 'b>(
    root: &'a DrawingArea<SVGBackend<'b>, Shift>,
    title: &str,
) -> ChartBuilder<'a, 'b, SVGBackend<'b>> {
    let mut builder = ChartBuilder::on(root);
    builder
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(72);
    if !title.is_empty() {
        builder.caption(title, ("sans-serif", 22));
    }
    builder
}

fn curves(root: &DrawingArea<SVGBackend<'_>, Shift>, c: &Curves) -> Result<(), PlotError> {
    let points = || c.series.iter().flat_map(|s| s.points.iter());
    let (x0, x1) = points().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
        (a.min(p.0), b.max(p.0))
    });
    let (y0, y1) = points().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
        (a.min(p.1), b.max(p.1))
    });
    let mut chart = chart_builder(root, &c.title)
        .build_cartesian_2d(padded(x0, x1), padded(y0, y1))
        .map_err(draw_err)?;
    chart
        .configure_mesh()
        .x_desc(c.xlabel.as_str())
        .y_desc(c.ylabel.as_str())
        .draw()
        .map_err(draw_err)?;
    for (i, s) in c.series.iter().enumerate() {
        let style = color(i).stroke_width(2);
        chart
            .draw_series(LineSeries::new(s.points.iter().copied(), style))
            .map_err(draw_err)?
            .label(s.label.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(draw_err)?;
    Ok(())
}

fn bars(root: &DrawingArea<SVGBackend<'_>, Shift>, b: &Bars) -> Result<(), PlotError> {
    let n = b.bars.len() as u32;
    let lo = b.bars.iter().map(|x| x.lo).fold(0.0f64, f64::min);
    let hi = b.bars.iter().map(|x| x.hi).fold(0.0f64, f64::max);
    let mut chart = chart_builder(root, &b.title)
        .build_cartesian_2d((0..n).into_segmented(), padded(lo, hi))
        .map_err(draw_err)?;
    let label = |v: &SegmentValue<u32>| match v {
        SegmentValue::CenterOf(i) => b
            .bars
            .get(*i as usize)
            .map(|x| x.label.clone())
            .unwrap_or_default(),
        _ => String::new(),
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(b.bars.len())
        .x_label_formatter(&label)
        .y_desc(b.ylabel.as_str())
        .draw()
        .map_err(draw_err)?;
    // Bars rise from zero (or the axis edge nearest it) to the median.
    let base = 0.0;
    chart
        .draw_series(b.bars.iter().enumerate().map(|(i, x)| {
            let i = i as u32;
            let mut bar = Rectangle::new(
                [
                    (SegmentValue::Exact(i), base),
                    (SegmentValue::Exact(i + 1), x.median),
                ],
                color(i as usize).mix(0.75).filled(),
            );
            bar.set_margin(0, 0, 12, 12);
            bar
        }))
        .map_err(draw_err)?;
    chart
        .draw_series(b.bars.iter().enumerate().map(|(i, x)| {
            ErrorBar::new_vertical(
                SegmentValue::CenterOf(i as u32),
                x.lo,
                x.median,
                x.hi,
                BLACK.stroke_width(2),
                14,
            )
        }))
        .map_err(draw_err)?;
    Ok(())
}

fn grid(root: &DrawingArea<SVGBackend<'_>, Shift>, g: &Grid) -> Result<(), PlotError> {
    let whole = |v: &f64| {
        if (v - v.round()).abs() < 1e-9 && *v >= 0.0 {
            format!("{}", v.round() as i64)
        } else {
            String::new()
        }
    };
    let mut chart = chart_builder(root, &g.title)
        .build_cartesian_2d(-0.5..g.layers as f64 - 0.5, -0.5..g.modules as f64 - 0.5)
        .map_err(draw_err)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_labels(g.layers + 1)
        .y_labels(g.modules + 1)
        .x_label_formatter(&whole)
        .y_label_formatter(&whole)
        .x_desc("layer")
        .y_desc("module")
        .draw()
        .map_err(draw_err)?;
    let frozen_fill = RGBColor(170, 170, 170).filled();
    let outline = RGBColor(90, 90, 90).stroke_width(1);
    chart
        .draw_series((0..g.layers).flat_map(|l| {
            (0..g.modules).map(move |m| {
                let (x, y) = (l as f64, m as f64);
                let style = if g.frozen.contains(&(l, m)) {
                    frozen_fill
                } else {
                    outline
                };
                Rectangle::new([(x - 0.3, y - 0.3), (x + 0.3, y + 0.3)], style)
            })
        }))
        .map_err(draw_err)?;
    let np = g.paths.len();
    for (p, path) in g.paths.iter().enumerate() {
        // Paths sharing a module are drawn side by side rather than on top of each other.
        let offset = (p as f64 - (np as f64 - 1.0) / 2.0) * 0.1;
        let at = |(l, m): (usize, usize)| (l as f64 + offset, m as f64 + offset);
        let mut by_layer: Vec<Vec<(usize, usize)>> = vec![Vec::new(); g.layers];
        for &(l, m) in &path.modules {
            if !by_layer[l].contains(&(l, m)) {
                by_layer[l].push((l, m));
            }
        }
        let used: Vec<&Vec<(usize, usize)>> = by_layer.iter().filter(|v| !v.is_empty()).collect();
        // Every module of one used layer feeds every module of the next, as in PathNet.
        let segments: Vec<Vec<(f64, f64)>> = used
            .windows(2)
            .flat_map(|w| {
                w[0].iter()
                    .flat_map(move |&a| w[1].iter().map(move |&b| vec![at(a), at(b)]))
            })
            .collect();
        let style = color(p).stroke_width(3);
        chart
            .draw_series(segments.into_iter().map(|s| PathElement::new(s, style)))
            .map_err(draw_err)?
            .label(path.label.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        chart
            .draw_series(
                used.iter()
                    .flat_map(|v| v.iter())
                    .map(|&c| Circle::new(at(c), 5, color(p).filled())),
            )
            .map_err(draw_err)?;
    }
    if !g.frozen.is_empty() {
        chart
            .draw_series(std::iter::empty::<Rectangle<(f64, f64)>>())
            .map_err(draw_err)?
            .label("frozen")
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 20, y + 5)], frozen_fill));
    }
    if np > 0 || !g.frozen.is_empty() {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(draw_err)?;
    }
    Ok(())
}
