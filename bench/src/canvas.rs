//! Every chart of the bench: lines of medians with whiskers from the fastest to the slowest run,
//! dashed lines for floors and targets, drawn with `plotters` into an RGB buffer and encoded as
//! PNG by `png`. Text uses DejaVu Sans embedded in the binary (the `dejavu` crate): no system
//! font is read.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// Axes and text.
const INK: RGBColor = RGBColor(30, 30, 30);
/// Failed points, targets.
pub const RED: RGBColor = RGBColor(214, 39, 40);
/// Floors.
pub const GREY: RGBColor = RGBColor(140, 140, 140);
/// The first line of a chart.
pub const BLUE: RGBColor = RGBColor(31, 119, 180);
/// The second line of a chart.
pub const ORANGE: RGBColor = RGBColor(255, 127, 14);
/// The family every text uses (registered by [`render`]).
const FAMILY: &str = "sans-serif";

/// The font of `size` pixels, in [`INK`].
fn font(size: u32) -> TextStyle<'static> {
    (FAMILY, size).into_font().color(&INK)
}

/// One point of a line: x, the median, the whisker (fastest and slowest run), whether it
/// passed (drawn in [`RED`] otherwise), its label.
pub struct Point(pub f64, pub f64, pub (f64, f64), pub bool, pub String);

/// One line of a chart: its legend, colour, points by x, whether its labels go left of the
/// points, whether it is dashed (a floor, a target: no dots, whiskers or labels).
pub struct Line(pub String, pub RGBColor, pub Vec<Point>, pub bool, pub bool);

impl Line {
    /// A line of points (dots, whiskers, labels), the labels left of the points if `left`.
    pub fn solid(name: &str, colour: RGBColor, points: Vec<Point>, left: bool) -> Line {
        Line(name.into(), colour, points, left, false)
    }

    /// A dashed line through `(x, y)`.
    pub fn dashed(name: &str, colour: RGBColor, xy: impl IntoIterator<Item = (f64, f64)>) -> Line {
        let points = xy
            .into_iter()
            .map(|(x, y)| Point(x, y, (y, y), true, String::new()));
        Line(name.into(), colour, points.collect(), false, true)
    }
}

/// Tick labels of an axis.
pub type Ticks = Box<dyn Fn(f64) -> String>;

/// A panel: its caption, axis descriptions and tick labels (x, y), and lines; the legend goes in
/// its upper left.
pub struct LineChart(
    pub String,
    pub (&'static str, &'static str),
    pub (Ticks, Ticks),
    pub Vec<Line>,
);

/// Tick labels with `decimals`.
pub fn ticks(decimals: usize) -> Ticks {
    Box::new(move |v| format!("{v:.decimals$}"))
}

/// Tick labels for categories at x = 0, 1, 2…: `names[x]` at each whole x, nothing between.
pub fn categories(names: Vec<String>) -> Ticks {
    Box::new(move |x| match names.get(x.round() as usize) {
        Some(name) if (x - x.round()).abs() < 1e-6 && x > -0.5 => name.clone(),
        _ => String::new(),
    })
}

/// What drawing or encoding a chart can fail with.
type Error = Box<dyn std::error::Error>;

/// Draws a panel into `area`.
fn draw(
    area: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
    LineChart(title, axes, ticks, lines): &LineChart,
) -> Result<(), Error> {
    let all = || lines.iter().flat_map(|l| &l.2);
    let x0 = all().map(|p| p.0).fold(f64::INFINITY, f64::min);
    let x0 = if x0.is_finite() { x0 } else { 0.0 };
    let xmax = all().map(|p| p.0).fold(x0 + 1.0, f64::max);
    let pad = ((xmax - x0) * 0.12).max(0.4);
    let ymax = all().map(|p| p.2 .1.max(p.1)).fold(1e-3, f64::max) * 1.25;
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FAMILY, 17).into_font().style(FontStyle::Bold))
        .margin(14)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(x0 - pad..xmax + pad, 0f64..ymax)?;
    chart
        .configure_mesh()
        .x_desc(axes.0)
        .y_desc(axes.1)
        .x_label_formatter(&|x| (ticks.0)(*x))
        .y_label_formatter(&|y| (ticks.1)(*y))
        .light_line_style(TRANSPARENT)
        .bold_line_style(RGBColor(225, 225, 225))
        .label_style(font(14))
        .axis_desc_style(font(15))
        .draw()?;
    for Line(name, colour, points, labels_left, dashed) in lines {
        let (colour, width) = (*colour, if *dashed { 2 } else { 3 });
        let path = points.iter().map(|p| (p.0, p.1));
        let stroke = colour.stroke_width(width);
        let series = if *dashed {
            chart.draw_series(DashedLineSeries::new(path, 10, 6, stroke))?
        } else {
            chart.draw_series(LineSeries::new(path, stroke))?
        };
        let legend = move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], stroke);
        series.label(name).legend(legend);
        for Point(x, mid, (lo, hi), ok, label) in points.iter().filter(|_| !dashed) {
            let dot = if *ok { colour } else { RED };
            let whisker = PathElement::new(vec![(*x, *lo), (*x, *hi)], dot.stroke_width(2));
            chart.draw_series([whisker])?;
            chart.draw_series([Circle::new((*x, *mid), 5, dot.filled())])?;
            // The label's box is cleared first, so a line under it does not cross the text.
            let ((bx, by), (px, py)) = (area.get_base_pixel(), chart.backend_coord(&(*x, *mid)));
            let style = font(13).pos(Pos::new(HPos::Left, VPos::Top));
            let (tw, th) = area.estimate_text_size(label, &style)?;
            let (tw, th) = (tw as i32, th as i32);
            let left = px - bx + if *labels_left { -6 - tw } else { 9 };
            let (top, bottom) = (py - by - 8 - th, py - by - 8);
            let corners = [(left - 2, top - 1), (left + tw + 2, bottom + 1)];
            area.draw(&Rectangle::new(corners, WHITE.filled()))?;
            area.draw(&Text::new(label.as_str(), (left, top), style))?;
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.9))
        .border_style(RGBColor(200, 200, 200))
        .label_font(font(13))
        .draw()?;
    Ok(())
}

/// Renders `charts` side by side under `title` (none if empty), on a white canvas of `size`
/// pixels; the PNG file's bytes.
pub fn render(title: &str, size: (u32, u32), charts: &[LineChart]) -> Result<Vec<u8>, String> {
    paint(title, size, charts).map_err(|err| format!("chart: {err}"))
}

/// [`render`], its errors as they come.
fn paint(title: &str, size: (u32, u32), charts: &[LineChart]) -> Result<Vec<u8>, Error> {
    for (style, bytes) in [
        (FontStyle::Normal, dejavu::sans::regular()),
        (FontStyle::Bold, dejavu::sans::bold()),
    ] {
        plotters::style::register_font(FAMILY, style, bytes)
            .map_err(|_| "the embedded DejaVu Sans font could not be parsed")?;
    }
    let mut rgb = vec![0u8; size.0 as usize * size.1 as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, size).into_drawing_area();
        root.fill(&WHITE)?;
        let bold = (FAMILY, 22).into_font().style(FontStyle::Bold);
        let body = match title {
            "" => root.clone(),
            _ => root.titled(title, bold)?,
        };
        for (area, chart) in body.split_evenly((1, charts.len())).iter().zip(charts) {
            draw(area, chart)?;
        }
        root.present()?;
    }
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, size.0, size.1);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(&rgb)?;
    writer.finish()?;
    Ok(out)
}
