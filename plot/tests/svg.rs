//! Each kind of figure renders to well-formed SVG with the elements it should have; bad input is
//! refused with the field named.

use pathnet_plot::{Figure, json_to_svg, parse};

/// Parses `svg` as XML and counts elements by tag name.
fn count(svg: &str, tag: &str) -> usize {
    let doc = roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("not XML: {e}\n{svg}"));
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    doc.descendants()
        .filter(|n| n.is_element() && n.tag_name().name() == tag)
        .count()
}

fn texts(svg: &str) -> Vec<String> {
    let doc = roxmltree::Document::parse(svg).unwrap();
    doc.descendants()
        .filter(|n| n.is_element() && n.tag_name().name() == "text")
        .map(|n| n.text().unwrap_or("").trim().to_string())
        .collect()
}

const CURVES: &str = r#"{"type":"curves","title":"Fitness","xlabel":"evaluations","ylabel":"best",
  "series":[{"label":"control","points":[[0,0.1],[100,0.4],[200,0.5]]},
            {"label":"sm_g_sum","points":[[0,0.1],[100,0.6],[200,0.9]]},
            {"label":"sm_r","points":[[0,0.2],[150,0.7]]}]}"#;

#[test]
fn curves_render_a_line_per_series_with_a_legend() {
    let svg = json_to_svg(CURVES).unwrap();
    // Three series lines and three legend swatches.
    assert!(count(&svg, "polyline") >= 6, "{svg}");
    let t = texts(&svg);
    for needle in [
        "Fitness",
        "evaluations",
        "best",
        "control",
        "sm_g_sum",
        "sm_r",
    ] {
        assert!(t.iter().any(|s| s == needle), "{needle} missing from {t:?}");
    }
    // Without a "type" the shape tells.
    let untyped = CURVES.replacen(r#""type":"curves","#, "", 1);
    assert!(matches!(parse(&untyped).unwrap(), Figure::Curves(_)));
}

#[test]
fn bars_render_a_bar_and_an_error_bar_each() {
    let json = r#"{"title":"Evaluations to solve","ylabel":"evaluations",
      "bars":[{"label":"control","median":5000,"lo":4000,"hi":7000},
              {"label":"sm_g_sum","median":3000,"lo":2500,"hi":3600},
              {"label":"sm_r","median":3500,"lo":3500,"hi":3500}]}"#;
    let svg = json_to_svg(json).unwrap();
    // A background, the plotting area and a rect per bar.
    assert!(count(&svg, "rect") >= 4, "{svg}");
    // Each error bar is a vertical line and two whiskers.
    assert!(count(&svg, "line") + count(&svg, "polyline") >= 9, "{svg}");
    let t = texts(&svg);
    for needle in ["control", "sm_g_sum", "sm_r", "Evaluations to solve"] {
        assert!(t.iter().any(|s| s == needle), "{needle} missing from {t:?}");
    }
}

#[test]
fn the_grid_draws_every_module_each_path_and_the_frozen_ones() {
    let json = r#"{"type":"grid","title":"Pathways","layers":3,"modules":4,
      "paths":[{"label":"task A","modules":[[0,0],[0,1],[1,2],[2,3]]},
               {"label":"task B","modules":[[0,1],[1,0],[1,2],[2,2]]}],
      "frozen":[[0,0],[0,1],[1,2],[2,3]]}"#;
    let svg = json_to_svg(json).unwrap();
    assert!(count(&svg, "rect") >= 3 * 4, "{svg}");
    // Task A: 2x1 + 1x1 links; task B: 1x2 + 2x1 links; plus three legend swatches.
    assert!(count(&svg, "polyline") >= 3 + 4, "{svg}");
    // One dot per module of each path.
    assert!(count(&svg, "circle") >= 8, "{svg}");
    let t = texts(&svg);
    for needle in ["task A", "task B", "frozen", "layer", "module"] {
        assert!(t.iter().any(|s| s == needle), "{needle} missing from {t:?}");
    }
}

#[test]
fn bad_input_is_refused_with_the_field_named() {
    for (json, needle) in [
        ("not json", "not JSON"),
        ("[1,2]", "must be a JSON object"),
        (r#"{"title":"x"}"#, "`type` is missing"),
        (r#"{"type":"pie","series":[]}"#, "\"pie\""),
        (r#"{"type":7}"#, "`type` must be a string"),
        (
            r#"{"series":[{"label":"a","points":[[0,1],[2]]}]}"#,
            "`series[0].points[1]` must be a pair",
        ),
        (
            r#"{"series":[{"label":"a","points":[[0,"x"]]}]}"#,
            "`series[0].points[0]` must be two finite numbers",
        ),
        (
            r#"{"series":[{"points":[[0,1]]}]}"#,
            "`series[0].label` is missing",
        ),
        (
            r#"{"series":[{"label":"a","points":[]}]}"#,
            "`series` has no points",
        ),
        (
            r#"{"series":[{"label":"a","points":[[0,1]]}],"xlable":"x"}"#,
            "`xlable` is not a field here",
        ),
        (
            r#"{"bars":[{"label":"a","median":5,"lo":6,"hi":7}]}"#,
            "`bars[0].median` = 5 must lie within lo = 6",
        ),
        (
            r#"{"bars":[{"label":"a","median":5,"lo":4}]}"#,
            "`bars[0].hi` is missing",
        ),
        (r#"{"bars":[]}"#, "`bars` is empty"),
        (
            r#"{"layers":2,"modules":3,"paths":[{"label":"p","modules":[[0,0],[2,1]]}]}"#,
            "`paths[0].modules[1]` = [2, 1] is outside the 2 x 3 grid",
        ),
        (
            r#"{"layers":0,"modules":3,"paths":[]}"#,
            "`layers` must be a whole number",
        ),
        (
            r#"{"layers":2,"modules":3,"paths":[],"frozen":[[1,-1]]}"#,
            "`frozen[0]` must be two whole numbers",
        ),
    ] {
        let err = json_to_svg(json).unwrap_err().to_string();
        assert!(err.contains(needle), "{json}: {err}");
    }
}
