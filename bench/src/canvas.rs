//! What every chart of the bench draws on: `plotters` into an RGB buffer (bitmap backend),
//! encoded as PNG by `png`. Text uses DejaVu Sans embedded in the binary (the `dejavu` crate),
//! through plotters' `ab_glyph` feature: no system font is read.

use std::fmt::Display;

use plotters::coord::Shift;
use plotters::prelude::*;

/// Axes and text, in every chart.
pub(crate) const INK: RGBColor = RGBColor(30, 30, 30);
/// The font family every text uses, in every chart (registered by [`register_fonts`]).
pub(crate) const FAMILY: &str = "sans-serif";

/// An encoding error, as text.
fn text_err<E: Display>(err: E) -> String {
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
pub(crate) fn render(
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
