//! The far section's chart: end to end against the link's round trip for the course data (the
//! section's first data set), shipped and stop-and-wait, with each one's fastest and slowest run,
//! the speed-up at each round trip, and stop-and-wait's floor (a round trip per batch); drawn
//! like [`crate::chart`], on a [`crate::canvas`].

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::canvas::{render, FAMILY, INK};
use crate::far::{Mode, Row, RATE};
use crate::summary::Status;

/// Image size in pixels.
const SIZE: (u32, u32) = (1000, 580);
/// Shipped.
const SHIPPED: RGBColor = RGBColor(31, 119, 180);
/// Stop-and-wait.
const SAW: RGBColor = RGBColor(255, 127, 14);
/// Failed points.
const FAILED: RGBColor = RGBColor(214, 39, 40);
/// The floor.
const MUTED: RGBColor = RGBColor(140, 140, 140);

/// Any drawing error, as text.
fn text_err<E: std::fmt::Display>(err: E) -> String {
    format!("far chart: {err}")
}

/// A point: round trip (ms), median, fastest and slowest run (s), passed.
type Point = (f64, f64, f64, f64, bool);

/// One mode's points over the emulated links of the first data set, by round trip.
fn points(rows: &[Row], mode: Mode) -> Vec<Point> {
    let Some(first) = rows.first() else {
        return Vec::new();
    };
    let mut out: Vec<Point> = rows
        .iter()
        .filter(|r| r.mode == mode && r.summary.label == first.summary.label)
        .filter(|r| r.summary.agencies == first.summary.agencies)
        .filter_map(|r| {
            let rtt = r.link?.rtt().as_secs_f64() * 1000.0;
            let (lo, hi) = r.summary.e2e_range()?;
            let ok = matches!(r.summary.status, Status::Pass);
            Some((rtt, r.summary.e2e()?, lo, hi, ok))
        })
        .collect();
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    out
}

/// Renders the chart; the PNG file's bytes.
pub(crate) fn chart(rows: &[Row]) -> Result<Vec<u8>, String> {
    let shipped = points(rows, Mode::Shipped);
    let saw = points(rows, Mode::StopAndWait);
    let batches = rows.first().map_or(0, |r| {
        r.largest.div_ceil(u64::from(Mode::StopAndWait.batch()))
    });
    let xmax = shipped.iter().chain(&saw).map(|p| p.0).fold(10.0, f64::max) * 1.12;
    let floor_at = |rtt: f64| batches as f64 * rtt / 1000.0;
    let ymax = saw
        .iter()
        .chain(&shipped)
        .map(|p| p.3)
        .fold(floor_at(xmax), f64::max)
        .max(1.0)
        * 1.12;
    render("far chart", SIZE, |root| {
        let data = rows.first().map_or(String::new(), |r| {
            format!("{}, {} agencies", r.summary.label, r.summary.agencies)
        });
        let mut chart = ChartBuilder::on(root)
            .caption(
                format!(
                    "tp0, agencies far away: end to end against the round trip ({} MB/s links; {data})",
                    RATE as f64 / 1e6
                ),
                (FAMILY, 19).into_font().style(FontStyle::Bold),
            )
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(64)
            .build_cartesian_2d(-1.5f64..xmax, 0f64..ymax)
            .map_err(text_err)?;
        chart
            .configure_mesh()
            .x_desc("round trip of each agency's link (ms)")
            .y_desc("end to end (s), median; bars: fastest to slowest run")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| format!("{y:.0}"))
            .light_line_style(TRANSPARENT)
            .bold_line_style(RGBColor(225, 225, 225))
            .label_style((FAMILY, 14).into_font().color(&INK))
            .axis_desc_style((FAMILY, 15).into_font().color(&INK))
            .draw()
            .map_err(text_err)?;
        if batches > 0 {
            chart
                .draw_series(DashedLineSeries::new(
                    [(0.0, 0.0), (xmax, floor_at(xmax))],
                    10,
                    6,
                    MUTED.stroke_width(2),
                ))
                .map_err(text_err)?
                .label(format!(
                    "stop-and-wait floor: one round trip per batch ({batches} batches of 100 for the largest agency)"
                ))
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], MUTED.stroke_width(2)));
        }
        for (mode, colour, list) in [
            (Mode::Shipped, SHIPPED, &shipped),
            (Mode::StopAndWait, SAW, &saw),
        ] {
            chart
                .draw_series(LineSeries::new(
                    list.iter().map(|p| (p.0, p.1)),
                    colour.stroke_width(3),
                ))
                .map_err(text_err)?
                .label(format!("{} ({})", mode.name(), mode.detail()))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(3))
                });
            for (k, &(rtt, mid, lo, hi, ok)) in list.iter().enumerate() {
                let dot = if ok { colour } else { FAILED };
                chart
                    .draw_series([PathElement::new(
                        vec![(rtt, lo), (rtt, hi)],
                        dot.stroke_width(2),
                    )])
                    .map_err(text_err)?;
                chart
                    .draw_series([Circle::new((rtt, mid), 5, dot.filled())])
                    .map_err(text_err)?;
                let mut label = format!("{mid:.2} s");
                if mode == Mode::Shipped {
                    if let Some(&(_, other, ..)) = saw.get(k).filter(|p| p.0 == rtt) {
                        let x = other / mid.max(1e-9);
                        let digits = usize::from(x < 10.0);
                        label = format!("{label} (×{x:.digits$})");
                    }
                }
                if !ok {
                    label.push_str(" FAILED");
                }
                // Shipped: above and right of its point; stop-and-wait: above and left.
                let (px, py) = chart.backend_coord(&(rtt, mid));
                let style = (FAMILY, 14)
                    .into_font()
                    .color(&INK)
                    .pos(Pos::new(HPos::Left, VPos::Top));
                let (tw, th) = root.estimate_text_size(&label, &style).map_err(text_err)?;
                let (tw, th) = (tw as i32, th as i32);
                // The label's box, cleared first so a line under it does not cross the text.
                let left = match mode {
                    Mode::Shipped => px + 9,
                    Mode::StopAndWait => px - 6 - tw,
                };
                let (top, bottom) = (py - 8 - th, py - 8);
                root.draw(&Rectangle::new(
                    [(left - 2, top - 1), (left + tw + 2, bottom + 1)],
                    WHITE.filled(),
                ))
                .map_err(text_err)?;
                root.draw(&Text::new(label, (left, top), style))
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

    use crate::far::tests::sample_rows;

    #[test]
    fn renders_a_png_of_results() {
        let rows = sample_rows();
        let png = chart(&rows).unwrap_or_default();
        assert_eq!(png.get(..8), Some(&b"\x89PNG\r\n\x1a\n"[..]));
        if let Some(path) = std::env::var_os("TP0_FAR_CHART") {
            std::fs::write(path, &png).unwrap_or_default();
        }
    }

    #[test]
    fn renders_a_png_without_results() {
        let png = chart(&[]).unwrap_or_default();
        assert_eq!(png.get(..8), Some(&b"\x89PNG\r\n\x1a\n"[..]));
    }
}
