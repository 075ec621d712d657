//! What every chart of the bench draws on: `plotters` into an RGB buffer (bitmap backend),
//! encoded as PNG by `png`, and the line chart with whiskers that the agencies and the far
//! sections share. Text uses DejaVu Sans embedded in the binary (the `dejavu` crate), through
//! plotters' `ab_glyph` feature: no system font is read.

use std::fmt::Display;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// Axes and text, in every chart.
pub const INK: RGBColor = RGBColor(30, 30, 30);
/// The font family every text uses, in every chart (registered by [`register_fonts`]).
pub const FAMILY: &str = "sans-serif";

/// Failed points, in every chart.
pub const FAILED: RGBColor = RGBColor(214, 39, 40);
/// Floors and secondary lines, in every chart.
pub const MUTED: RGBColor = RGBColor(140, 140, 140);

/// A drawing error, as text.
pub fn text_err<E: Display>(err: E) -> String {
    format!("chart: {err}")
}

/// Makes the embedded DejaVu Sans the `sans-serif` family.
fn register_fonts() -> Result<(), String> {
    let bad = |_| "chart: the embedded DejaVu Sans font could not be parsed".to_string();
    plotters::style::register_font(FAMILY, FontStyle::Normal, dejavu::sans::regular())
        .map_err(bad)?;
    plotters::style::register_font(FAMILY, FontStyle::Bold, dejavu::sans::bold()).map_err(bad)
}

/// Draws a chart of `size` pixels on white with `draw`, in the embedded fonts; the PNG file's
/// bytes. `name` starts the message of an error of the canvas itself.
pub fn render(
    name: &str,
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<BitMapBackend<'_>, Shift>) -> Result<(), String>,
) -> Result<Vec<u8>, String> {
    register_fonts()?;
    let (w, h) = size;
    let mut rgb = vec![0u8; w as usize * h as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, size).into_drawing_area();
        let canvas_err = |err: DrawingAreaErrorKind<_>| format!("{name}: {err}");
        root.fill(&WHITE).map_err(canvas_err)?;
        draw(&root)?;
        root.present().map_err(canvas_err)?;
    }
    encode_png(&rgb, size)
}

/// Encodes an RGB buffer as PNG.
fn encode_png(rgb: &[u8], (w, h): (u32, u32)) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, w, h);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(text_err)?;
    writer.write_image_data(rgb).map_err(text_err)?;
    writer.finish().map_err(text_err)?;
    Ok(out)
}

/// One point of a line: x, the median, the fastest and slowest run, whether it passed, its label.
pub struct Point {
    /// Where on the x axis.
    pub x: f64,
    /// The median, and the whisker's two ends.
    pub mid: f64,
    /// Fastest run.
    pub lo: f64,
    /// Slowest run.
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
    /// A dashed line (a floor), not points.
    pub dashed: bool,
}

/// Lines of medians with whiskers from the fastest to the slowest run, on a white box label
/// each, a legend in the upper left.
pub struct LineChart<'a> {
    /// Caption.
    pub title: String,
    /// Axis descriptions.
    pub axes: (&'a str, &'a str),
    /// Image size.
    pub size: (u32, u32),
    /// The x axis's tick labels.
    pub x_label: &'a dyn Fn(f64) -> String,
    /// The lines.
    pub lines: Vec<Line>,
}

/// Renders a [`LineChart`]; the PNG file's bytes.
pub fn line_chart(spec: &LineChart<'_>) -> Result<Vec<u8>, String> {
    let all = || spec.lines.iter().flat_map(|l| &l.points);
    let x0 = all().map(|p| p.x).fold(f64::INFINITY, f64::min).min(0.0);
    let xmax = all().map(|p| p.x).fold(1.0, f64::max);
    let pad = (xmax - x0).max(1.0) * 0.08;
    let ymax = all().map(|p| p.hi.max(p.mid)).fold(1e-3, f64::max) * 1.15;
    render("chart", spec.size, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(&spec.title, (FAMILY, 19).into_font().style(FontStyle::Bold))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(64)
            .build_cartesian_2d(x0 - pad..xmax + pad, 0f64..ymax)
            .map_err(text_err)?;
        chart
            .configure_mesh()
            .x_desc(spec.axes.0)
            .y_desc(spec.axes.1)
            .x_label_formatter(&|x| (spec.x_label)(*x))
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
                chart.draw_series(DashedLineSeries::new(path, 10, 6, colour.stroke_width(2)))
            } else {
                chart.draw_series(LineSeries::new(path, colour.stroke_width(3)))
            };
            series
                .map_err(text_err)?
                .label(&line.name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(width))
                });
            for p in line.points.iter().filter(|_| !line.dashed) {
                let dot = if p.ok { colour } else { FAILED };
                let whisker = PathElement::new(vec![(p.x, p.lo), (p.x, p.hi)], dot.stroke_width(2));
                chart.draw_series([whisker]).map_err(text_err)?;
                chart
                    .draw_series([Circle::new((p.x, p.mid), 5, dot.filled())])
                    .map_err(text_err)?;
                // The label's box is cleared first, so a line under it does not cross the text.
                let (px, py) = chart.backend_coord(&(p.x, p.mid));
                let style = (FAMILY, 14)
                    .into_font()
                    .color(&INK)
                    .pos(Pos::new(HPos::Left, VPos::Top));
                let (tw, th) = root
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
                root.draw(&clear).map_err(text_err)?;
                root.draw(&Text::new(p.label.as_str(), (left, top), style))
                    .map_err(text_err)?;
            }
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.9))
            .border_style(RGBColor(200, 200, 200))
            .label_font((FAMILY, 14).into_font().color(&INK))
            .draw()
            .map_err(text_err)?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_line_chart_with_and_without_points() {
        let point = |x: f64| Point {
            x,
            mid: x,
            lo: x * 0.9,
            hi: x * 1.1,
            ok: x < 2.0,
            label: format!("{x}"),
        };
        for points in [vec![], vec![point(1.0), point(2.0)]] {
            let lines = vec![Line {
                name: "a".into(),
                colour: INK,
                points,
                labels_left: false,
                dashed: false,
            }];
            let spec = LineChart {
                title: "t".into(),
                axes: ("x", "y"),
                size: (300, 200),
                x_label: &|x| format!("{x}"),
                lines,
            };
            let png = line_chart(&spec).unwrap_or_default();
            assert_eq!(png.get(..8), Some(&b"\x89PNG\r\n\x1a\n"[..]));
        }
    }
}
