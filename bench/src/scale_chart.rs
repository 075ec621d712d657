//! The agencies section's chart: end-to-end time per agency against the number of agencies
//! (log scale), with the slowest and fastest run, drawn like [`crate::chart`], on a [`crate::canvas`].

use plotters::prelude::*;

use crate::canvas::{render, FAMILY, INK};
use crate::scale::per_agency_ms;
use crate::summary::{Status, Summary};

/// Image size in pixels.
const SIZE: (u32, u32) = (900, 520);
/// The line and its points.
const LINE: RGBColor = RGBColor(31, 119, 180);
/// Failed sizes.
const FAILED: RGBColor = RGBColor(214, 39, 40);

/// Any drawing error, as text.
fn text_err<E: std::fmt::Display>(err: E) -> String {
    format!("agencies chart: {err}")
}

/// Renders the chart; the PNG file's bytes.
pub(crate) fn chart(summaries: &[&Summary]) -> Result<Vec<u8>, String> {
    let points: Vec<(f64, f64, f64, f64, bool)> = summaries
        .iter()
        .filter_map(|s| {
            let n = s.agencies.max(1) as f64;
            let (lo, hi) = s.e2e_range()?;
            let ok = matches!(s.status, Status::Pass);
            Some((n, per_agency_ms(s)?, lo * 1000.0 / n, hi * 1000.0 / n, ok))
        })
        .collect();
    let ymax = points.iter().map(|p| p.3).fold(1.0, f64::max) * 1.2;
    let xmax = points.iter().map(|p| p.0).fold(10.0, f64::max) * 1.5;
    render("agencies chart", SIZE, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(
                "tp0: end-to-end time per agency, shipped defaults, 1,000 bets each",
                (FAMILY, 20).into_font().style(FontStyle::Bold),
            )
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(64)
            .build_cartesian_2d((3f64..xmax).log_scale(), 0f64..ymax)
            .map_err(text_err)?;
        chart
            .configure_mesh()
            .x_desc("agencies at once (log scale)")
            .y_desc("ms per agency (end to end / agencies)")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .label_style((FAMILY, 14).into_font().color(&INK))
            .axis_desc_style((FAMILY, 15).into_font().color(&INK))
            .draw()
            .map_err(text_err)?;
        chart
            .draw_series(LineSeries::new(
                points.iter().map(|p| (p.0, p.1)),
                LINE.stroke_width(2),
            ))
            .map_err(text_err)?;
        for &(n, mid, lo, hi, ok) in &points {
            let colour = if ok { LINE } else { FAILED };
            chart
                .draw_series([PathElement::new(
                    vec![(n, lo), (n, hi)],
                    colour.stroke_width(2),
                )])
                .map_err(text_err)?;
            chart
                .draw_series([Circle::new((n, mid), 5, colour.filled())])
                .map_err(text_err)?;
            let label = if ok {
                format!("{mid:.2} ms")
            } else {
                format!("{mid:.2} ms (FAILED)")
            };
            chart
                .draw_series([Text::new(
                    label,
                    (n, mid),
                    (FAMILY, 14).into_font().color(&INK),
                )])
                .map_err(text_err)?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_png_without_results() {
        let png = chart(&[]).unwrap_or_default();
        assert_eq!(png.get(..8), Some(&b"\x89PNG\r\n\x1a\n"[..]));
    }
}
