//! The chart of the loopback runs: throughput against agencies and against batch size, durable vs
//! relaxed, with each data set's floor and the targets; drawn on a [`crate::canvas`].

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::canvas::{render, text_err, FAMILY, INK};
use crate::harness::measure::Status;
use crate::harness::run::{Settings, Sync};
use crate::sections::loopback::{find, floor_of, Role, Row, DEFAULT_BATCH};

/// Image size in pixels.
const SIZE: (u32, u32) = (1200, 640);
/// Durable bars.
const DURABLE: RGBColor = RGBColor(31, 119, 180);
/// Relaxed bars.
const RELAXED: RGBColor = RGBColor(255, 127, 14);
/// Target lines and failures.
const TARGET: RGBColor = RGBColor(214, 39, 40);
/// Secondary text.
const MUTED: RGBColor = RGBColor(110, 110, 110);

/// A bar: its value, or why it has none.
#[derive(Clone, Debug)]
enum Bar {
    /// Median bets/s, and the slowest and fastest run's.
    Value(f64, f64, f64),
    /// The configuration failed.
    Failed,
    /// Not run.
    Missing,
}

/// One panel of grouped bars.
struct Panel {
    /// Title above the plot.
    title: String,
    /// Label under the x axis.
    x_title: String,
    /// Category label, the [durable, relaxed] bars and the floor's bets/s.
    categories: Vec<(String, [Bar; 2], Option<f64>)>,
    /// A dashed target line and its caption.
    target: (f64, String),
}

/// A bets/s value as a short label: `1.6M`, `850K`.
fn short_rate(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.0}K", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

/// An axis tick label: `0`, `500K`, `1.5M`.
fn axis_label(v: f64) -> String {
    let trim = |s: String| {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    };
    if v.abs() < 1e-9 {
        "0".into()
    } else if v.abs() >= 1e6 {
        format!("{}M", trim(format!("{:.2}", v / 1e6)))
    } else if v.abs() >= 1e3 {
        format!("{}K", trim(format!("{:.1}", v / 1e3)))
    } else {
        trim(format!("{v:.1}"))
    }
}

/// The bar of a configuration.
fn bar_of(summary: Option<&Row>) -> Bar {
    match summary {
        None => Bar::Missing,
        Some(s) => match (&s.status, s.rate(), s.rate_range()) {
            (Status::Pass, Some(r), Some((lo, hi))) => Bar::Value(r, lo, hi),
            (Status::Skipped(_), _, _) => Bar::Missing,
            _ => Bar::Failed,
        },
    }
}

/// The two panels from the results.
fn panels(rows: &[Row]) -> [Panel; 2] {
    let (mut agencies, mut batches) = (Vec::new(), Vec::new());
    let (mut agencies_data, mut batch_data) = (String::new(), String::new());
    for r in rows
        .iter()
        .filter(|r| r.settings == Settings::Tuned(Sync::Durable, r.batch()))
    {
        let floor = floor_of(rows, r.tag.0).and_then(|f| f.rate());
        let bars = |batch| {
            [Sync::Durable, Sync::Relaxed].map(|sync| bar_of(find(rows, r.tag.0, sync, batch)))
        };
        match r.tag.1 {
            Role::Agencies if r.batch() == DEFAULT_BATCH => {
                agencies.push((r.agencies.to_string(), bars(DEFAULT_BATCH), floor));
                agencies_data.clone_from(&r.label);
            }
            Role::Batches => {
                batches.push((r.batch().to_string(), bars(r.batch()), floor));
                batch_data = format!("{}, {} agencies", r.label, r.agencies);
            }
            _ => {}
        }
    }
    let clean = |s: &str| {
        s.replace(
            " (generated stand-in: course dataset absent)",
            " (generated)",
        )
    };
    [
        Panel {
            title: format!(
                "vs agencies: {}, batch {DEFAULT_BATCH}",
                clean(&agencies_data)
            ),
            x_title: "agencies (clients)".into(),
            categories: agencies,
            target: (1e6, "target: 1M bets/s with 50 agencies, durable".into()),
        },
        Panel {
            title: format!("vs batch size: {}", clean(&batch_data)),
            x_title: "batch size (bets per batch)".into(),
            categories: batches,
            target: (
                2e6,
                "target: 2M bets/s, course ×20, durable, batch 120".into(),
            ),
        },
    ]
}

/// Draws one panel into `area`.
fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    panel: &Panel,
) -> Result<(), String> {
    let area = area
        .titled(
            &panel.title,
            (FAMILY, 19).into_font().style(FontStyle::Bold),
        )
        .map_err(text_err)?;
    let area = area
        .titled(&panel.target.1, (FAMILY, 14).into_font().color(&TARGET))
        .map_err(text_err)?;
    let n = panel.categories.len().max(1);
    let top = panel
        .categories
        .iter()
        .flat_map(|(_, bars, floor)| {
            bars.iter()
                .filter_map(|b| match b {
                    Bar::Value(_, _, hi) => Some(*hi),
                    _ => None,
                })
                .chain(*floor)
        })
        .fold(panel.target.0, f64::max);
    let ymax = top * 1.15;
    let mut chart = ChartBuilder::on(&area)
        .margin_left(8)
        .margin_right(16)
        .margin_top(6)
        .x_label_area_size(52)
        .y_label_area_size(72)
        .build_cartesian_2d(0f64..n as f64, 0f64..ymax)
        .map_err(text_err)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .light_line_style(TRANSPARENT)
        .bold_line_style(RGBColor(225, 225, 225))
        .y_label_formatter(&|y| axis_label(*y))
        .x_desc(panel.x_title.as_str())
        .y_desc("bets/s (end to end)")
        .label_style((FAMILY, 15).into_font().color(&INK))
        .axis_desc_style((FAMILY, 15).into_font().color(&MUTED))
        .draw()
        .map_err(text_err)?;
    // Category labels under each pair of bars (the mesh labels only "nice" numbers).
    let label_style = (FAMILY, 15)
        .into_font()
        .color(&INK)
        .pos(Pos::new(HPos::Center, VPos::Top));
    let (bx, by) = area.get_base_pixel();
    for (i, (label, _, _)) in panel.categories.iter().enumerate() {
        let (px, py) = chart.backend_coord(&(i as f64 + 0.5, 0.0));
        area.draw(&Text::new(
            label.as_str(),
            (px - bx, py - by + 8),
            label_style.clone(),
        ))
        .map_err(text_err)?;
    }

    let value_style = (FAMILY, 14)
        .into_font()
        .color(&INK)
        .pos(Pos::new(HPos::Center, VPos::Bottom));
    let whisker = INK.stroke_width(2);
    for (i, (_, bars, floor)) in panel.categories.iter().enumerate() {
        let centre = i as f64 + 0.5;
        if let Some(f) = floor {
            // The floor: a black line across the pair, its bets/s above it.
            let across = PathElement::new(
                vec![(centre - 0.42, *f), (centre + 0.42, *f)],
                INK.stroke_width(3),
            );
            chart.draw_series([across]).map_err(text_err)?;
            let label = Text::new(
                format!("floor {}", short_rate(*f)),
                (0, -4),
                value_style.clone(),
            );
            chart
                .draw_series(std::iter::once(EmptyElement::at((centre, *f)) + label))
                .map_err(text_err)?;
        }
        for (k, bar) in bars.iter().enumerate() {
            let (x0, x1, colour) = if k == 0 {
                (centre - 0.37, centre - 0.02, DURABLE)
            } else {
                (centre + 0.02, centre + 0.37, RELAXED)
            };
            let mid = (x0 + x1) / 2.0;
            let (text, at, style) = match bar {
                Bar::Value(v, lo, hi) => {
                    chart
                        .draw_series(std::iter::once(Rectangle::new(
                            [(x0, 0.0), (x1, *v)],
                            colour.filled(),
                        )))
                        .map_err(text_err)?;
                    if hi > lo {
                        let cap = (x1 - x0) / 5.0;
                        chart
                            .draw_series([
                                PathElement::new(vec![(mid, *lo), (mid, *hi)], whisker),
                                PathElement::new(vec![(mid - cap, *lo), (mid + cap, *lo)], whisker),
                                PathElement::new(vec![(mid - cap, *hi), (mid + cap, *hi)], whisker),
                            ])
                            .map_err(text_err)?;
                    }
                    (short_rate(*v), v.max(*hi), value_style.clone())
                }
                Bar::Failed => (
                    "FAILED".to_string(),
                    0.0,
                    value_style.clone().color(&TARGET),
                ),
                Bar::Missing => (
                    "not run".to_string(),
                    0.0,
                    value_style.clone().color(&MUTED),
                ),
            };
            chart
                .draw_series(std::iter::once(
                    EmptyElement::at((mid, at)) + Text::new(text, (0, -4), style),
                ))
                .map_err(text_err)?;
        }
    }
    let target = panel.target.0;
    chart
        .draw_series(DashedLineSeries::new(
            [(0.0, target), (n as f64, target)],
            12,
            7,
            TARGET.stroke_width(2),
        ))
        .map_err(text_err)?;
    Ok(())
}

/// The legend and the footnote, in the strip under the panels.
fn draw_footer<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>) -> Result<(), String> {
    let style = (FAMILY, 16).into_font().color(&INK);
    let items = [
        (DURABLE, "durable (SYNC=true, fdatasync)"),
        (RELAXED, "relaxed (SYNC=false)"),
    ];
    let mut x = 90;
    for (colour, label) in items {
        area.draw(&Rectangle::new([(x, 8), (x + 18, 26)], colour.filled()))
            .map_err(text_err)?;
        area.draw(&Text::new(label, (x + 26, 8), style.clone()))
            .map_err(text_err)?;
        let (w, _) = area.estimate_text_size(label, &style).map_err(text_err)?;
        x += 26 + w as i32 + 40;
    }
    area.draw(&PathElement::new(
        vec![(x, 17), (x + 26, 17)],
        INK.stroke_width(3),
    ))
    .map_err(text_err)?;
    area.draw(&Text::new(
        "floor (bytes over loopback, one fdatasync)",
        (x + 34, 8),
        style.clone(),
    ))
    .map_err(text_err)?;
    let (w, _) = area
        .estimate_text_size("floor (bytes over loopback, one fdatasync)", &style)
        .map_err(text_err)?;
    let x = x + 34 + w as i32 + 40;
    for dash in 0..3 {
        let x0 = x + dash * 14;
        area.draw(&PathElement::new(
            vec![(x0, 17), (x0 + 8, 17)],
            TARGET.stroke_width(2),
        ))
        .map_err(text_err)?;
    }
    area.draw(&Text::new("target", (x + 48, 8), style.clone()))
        .map_err(text_err)?;
    area.draw(&Text::new(
        "End to end: first client's start to last client's exit. Bar: median; whiskers: slowest to fastest run.",
        (90, 36),
        (FAMILY, 13).into_font().color(&MUTED),
    ))
    .map_err(text_err)?;
    Ok(())
}

/// Renders the chart; the PNG file's bytes.
pub fn chart(rows: &[Row], quick: bool) -> Result<Vec<u8>, String> {
    let (w, _) = SIZE;
    render("chart", SIZE, |root| {
        let title = if quick {
            "tp0 end-to-end throughput (bets/s) — quick smoke run, one run each"
        } else {
            "tp0 end-to-end throughput (bets/s), median of 3 runs"
        };
        let body = root
            .titled(title, (FAMILY, 24).into_font().style(FontStyle::Bold))
            .map_err(text_err)?;
        let body_h = body.dim_in_pixel().1 as i32;
        let (plots, footer) = body.split_vertically(body_h - 62);
        let [a, b] = panels(rows);
        let (left, right) = plots.split_horizontally(w as i32 / 2);
        draw_panel(&left, &a)?;
        draw_panel(&right, &b)?;
        draw_footer(&footer)?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        assert_eq!(axis_label(0.0), "0");
        assert_eq!(axis_label(1_500_000.0), "1.5M");
        assert_eq!(axis_label(2_000_000.0), "2M");
        assert_eq!(axis_label(250_000.0), "250K");
        assert_eq!(short_rate(2_445_916.0), "2.45M");
        assert_eq!(short_rate(850_400.0), "850K");
    }

    #[test]
    fn renders_a_png_without_results() {
        let png = chart(&[], true).unwrap_or_default();
        assert_eq!(png.get(..8), Some(&b"\x89PNG\r\n\x1a\n"[..]));
    }
}
