//! Every chart of the bench: lines of medians with whiskers from the fastest to the slowest run,
//! dashed lines for floors and targets, drawn with `plotters` into an RGB buffer and encoded as
//! PNG by `png`. Text uses DejaVu Sans embedded in the binary (the `dejavu` crate) through
//! plotters' `ab_glyph` feature: no system font is read.

use std::fmt::Display;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// Axes and text.
pub const INK: RGBColor = RGBColor(30, 30, 30);
/// Failed points.
pub const FAILED: RGBColor = RGBColor(214, 39, 40);
/// Floors.
pub const MUTED: RGBColor = RGBColor(140, 140, 140);
/// The first and the second line of a chart.
pub const BLUE: RGBColor = RGBColor(31, 119, 180);
/// The second line of a chart.
pub const ORANGE: RGBColor = RGBColor(255, 127, 14);
/// The family every text uses (registered by [`render`]).
const FAMILY: &str = "sans-serif";

/// A drawing error, as text.
fn text_err<E: Display>(err: E) -> String {
    format!("chart: {err}")
}

/// One point of a line: x, the median, the fastest and slowest run, whether it passed, its label.
pub struct Point {
    /// Where on the x axis.
    pub x: f64,
    /// The median.
    pub mid: f64,
    /// One end of the whisker.
    pub lo: f64,
    /// The other end.
    pub hi: f64,
    /// Drawn in [`FAILED`] otherwise.
    pub ok: bool,
    /// Written beside the point.
    pub label: String,
}

/// One line of a [`LineChart`].
pub struct Line {
    /// For the legend.
    pub name: String,
    /// Its colour.
    pub colour: RGBColor,
    /// Its points, by x.
    pub points: Vec<Point>,
    /// Labels left of the points instead of right.
    pub labels_left: bool,
    /// A dashed line (a floor, a target): no dots, no whiskers, no labels.
    pub dashed: bool,
}

impl Line {
    /// A solid line with dots, whiskers and labels.
    pub fn solid(name: String, colour: RGBColor, points: Vec<Point>, labels_left: bool) -> Line {
        Line {
            name,
            colour,
            points,
            labels_left,
            dashed: false,
        }
    }

    /// A dashed line through `(x, y)`.
    pub fn dashed(
        name: String,
        colour: RGBColor,
        points: impl IntoIterator<Item = (f64, f64)>,
    ) -> Line {
        let point = |(x, mid)| Point {
            x,
            mid,
            lo: mid,
            hi: mid,
            ok: true,
            label: String::new(),
        };
        Line {
            name,
            colour,
            points: points.into_iter().map(point).collect(),
            labels_left: false,
            dashed: true,
        }
    }
}

/// A chart of [`Line`]s with its legend in the upper left.
pub struct LineChart<'a> {
    /// Caption.
    pub title: String,
    /// Axis descriptions, x then y.
    pub axes: (&'a str, &'a str),
    /// Tick labels, x then y.
    pub ticks: (&'a dyn Fn(f64) -> String, &'a dyn Fn(f64) -> String),
    /// The lines.
    pub lines: Vec<Line>,
}

/// Tick labels for categories at x = 0, 1, 2…: `names[x]` at each whole x, nothing between.
pub fn categories(names: &[String]) -> impl Fn(f64) -> String + '_ {
    move |x| match names.get(x.round() as usize) {
        Some(name) if (x - x.round()).abs() < 1e-6 && x > -0.5 => name.clone(),
        _ => String::new(),
    }
}

/// Draws `chart` into `area`.
fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    spec: &LineChart<'_>,
) -> Result<(), String> {
    let all = || spec.lines.iter().flat_map(|l| &l.points);
    let x0 = all().map(|p| p.x).fold(f64::INFINITY, f64::min);
    let x0 = if x0.is_finite() { x0 } else { 0.0 };
    let xmax = all().map(|p| p.x).fold(x0 + 1.0, f64::max);
    let pad = ((xmax - x0) * 0.12).max(0.4);
    let ymax = all().map(|p| p.hi.max(p.mid)).fold(1e-3, f64::max) * 1.25;
    let mut chart = ChartBuilder::on(area)
        .caption(&spec.title, (FAMILY, 17).into_font().style(FontStyle::Bold))
        .margin(14)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(x0 - pad..xmax + pad, 0f64..ymax)
        .map_err(text_err)?;
    chart
        .configure_mesh()
        .x_desc(spec.axes.0)
        .y_desc(spec.axes.1)
        .x_label_formatter(&|x| (spec.ticks.0)(*x))
        .y_label_formatter(&|y| (spec.ticks.1)(*y))
        .light_line_style(TRANSPARENT)
        .bold_line_style(RGBColor(225, 225, 225))
        .label_style((FAMILY, 14).into_font().color(&INK))
        .axis_desc_style((FAMILY, 15).into_font().color(&INK))
        .draw()
        .map_err(text_err)?;
    for line in &spec.lines {
        let (colour, width) = (line.colour, if line.dashed { 2 } else { 3 });
        let path = line.points.iter().map(|p| (p.x, p.mid));
        let series = if line.dashed {
            chart.draw_series(DashedLineSeries::new(
                path,
                10,
                6,
                colour.stroke_width(width),
            ))
        } else {
            chart.draw_series(LineSeries::new(path, colour.stroke_width(width)))
        };
        let legend =
            move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(width));
        series.map_err(text_err)?.label(&line.name).legend(legend);
        for p in line.points.iter().filter(|_| !line.dashed) {
            let dot = if p.ok { colour } else { FAILED };
            let whisker = PathElement::new(vec![(p.x, p.lo), (p.x, p.hi)], dot.stroke_width(2));
            chart.draw_series([whisker]).map_err(text_err)?;
            chart
                .draw_series([Circle::new((p.x, p.mid), 5, dot.filled())])
                .map_err(text_err)?;
            // The label's box is cleared first, so a line under it does not cross the text.
            let (bx, by) = area.get_base_pixel();
            let (px, py) = chart.backend_coord(&(p.x, p.mid));
            let (px, py) = (px - bx, py - by);
            let style = (FAMILY, 13)
                .into_font()
                .color(&INK)
                .pos(Pos::new(HPos::Left, VPos::Top));
            let (tw, th) = area
                .estimate_text_size(&p.label, &style)
                .map_err(text_err)?;
            let (tw, th) = (tw as i32, th as i32);
            let left = if line.labels_left {
                px - 6 - tw
            } else {
                px + 9
            };
            let (top, bottom) = (py - 8 - th, py - 8);
            let clear = Rectangle::new(
                [(left - 2, top - 1), (left + tw + 2, bottom + 1)],
                WHITE.filled(),
            );
            area.draw(&clear).map_err(text_err)?;
            area.draw(&Text::new(p.label.as_str(), (left, top), style))
                .map_err(text_err)?;
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.9))
        .border_style(RGBColor(200, 200, 200))
        .label_font((FAMILY, 13).into_font().color(&INK))
        .draw()
        .map_err(text_err)
}

/// Renders `charts` side by side under `title` (none if empty), on a white canvas of `size`
/// pixels; the PNG file's bytes.
pub fn render(title: &str, size: (u32, u32), charts: &[LineChart<'_>]) -> Result<Vec<u8>, String> {
    let bad = |_| "chart: the embedded DejaVu Sans font could not be parsed".to_string();
    plotters::style::register_font(FAMILY, FontStyle::Normal, dejavu::sans::regular())
        .map_err(bad)?;
    plotters::style::register_font(FAMILY, FontStyle::Bold, dejavu::sans::bold()).map_err(bad)?;
    let (w, h) = size;
    let mut rgb = vec![0u8; w as usize * h as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, size).into_drawing_area();
        root.fill(&WHITE).map_err(text_err)?;
        let body = if title.is_empty() {
            root.clone()
        } else {
            root.titled(title, (FAMILY, 22).into_font().style(FontStyle::Bold))
                .map_err(text_err)?
        };
        let panels = body.split_evenly((1, charts.len().max(1)));
        for (area, chart) in panels.iter().zip(charts) {
            draw(area, chart)?;
        }
        root.present().map_err(text_err)?;
    }
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, w, h);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(text_err)?;
    writer.write_image_data(&rgb).map_err(text_err)?;
    writer.finish().map_err(text_err)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_charts_with_and_without_points() {
        let point = |x: f64| Point {
            x,
            mid: x,
            lo: x * 0.9,
            hi: x * 1.1,
            ok: x < 2.0,
            label: format!("{x}"),
        };
        for points in [vec![], vec![point(1.0), point(2.0)]] {
            let fmt = |x: f64| format!("{x}");
            let lines = vec![
                Line::solid("a".into(), INK, points, false),
                Line::dashed("f".into(), MUTED, [(0.0, 1.0)]),
            ];
            let chart = LineChart {
                title: "t".into(),
                axes: ("x", "y"),
                ticks: (&fmt, &fmt),
                lines,
            };
            let png = render("", (300, 200), &[chart]).unwrap_or_default();
            assert_eq!(png.get(..8), Some(&b"\x89PNG\r\n\x1a\n"[..]));
        }
    }
}
