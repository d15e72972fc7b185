//! The digest's chart: a PNG drawn in Rust with plotters, so the bot needs no browser,
//! no Python and no system fonts.
//!
//! Two panels read at a glance: on the left, what is unanswered now by age (green to red as
//! it gets older); on the right, how long first responses took, with the configured targets
//! marked as dashed lines. Text uses DejaVu Sans, embedded in the binary (licence in
//! `src/digest/fonts/LICENSE-DejaVu.txt`) and registered once with plotters' ab_glyph backend.

use std::sync::OnceLock;

use chrono::Duration;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::FontStyle;

use super::{Digest, AGE_BUCKETS};
use crate::sla::format_target;

/// Width and height of the chart in pixels.
pub const CHART_SIZE: (u32, u32) = (1200, 520);

/// The font every piece of text is drawn with.
static FONT_BYTES: &[u8] = include_bytes!("fonts/DejaVuSans.ttf");
const FONT: &str = "sans-serif";

/// First-response histogram bucket edges, in minutes; the last bucket is open-ended.
const RESPONSE_EDGES: [i64; 8] = [0, 15, 30, 60, 120, 240, 480, 1440];
const RESPONSE_EDGE_LABELS: [&str; 8] = ["0", "15m", "30m", "1h", "2h", "4h", "8h", "24h"];

const AGE_COLORS: [RGBColor; 5] = [
    RGBColor(0x43, 0xa0, 0x47),
    RGBColor(0x9e, 0xc2, 0x3a),
    RGBColor(0xf9, 0xa8, 0x25),
    RGBColor(0xef, 0x6c, 0x00),
    RGBColor(0xc6, 0x28, 0x28),
];
const RESPONSE_COLOR: RGBColor = RGBColor(0x1e, 0x6f, 0xc8);
/// One colour per target line, strictest first; the legend says which is which.
const TARGET_COLORS: [RGBColor; 3] = [
    RGBColor(0xc6, 0x28, 0x28),
    RGBColor(0x8e, 0x24, 0xaa),
    RGBColor(0x2e, 0x7d, 0x32),
];
const INK: RGBColor = RGBColor(0x26, 0x2b, 0x33);
const MUTED: RGBColor = RGBColor(0x6b, 0x72, 0x80);

/// Why the chart could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    #[error("the embedded chart font could not be loaded")]
    Font,
    #[error("drawing the digest chart failed: {0}")]
    Draw(String),
    #[error("encoding the digest chart as PNG failed: {0}")]
    Encode(#[from] png::EncodingError),
    #[error("cannot write the chart to {path}: {source}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

fn draw_err<E: std::fmt::Debug>(e: E) -> ChartError {
    ChartError::Draw(format!("{e:?}"))
}

fn register_font() -> Result<(), ChartError> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        plotters::style::register_font(FONT, FontStyle::Normal, FONT_BYTES).is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err(ChartError::Font)
    }
}

/// Where a response time sits on the histogram's x axis (bucket index plus the fraction
/// through the bucket), so target lines land between the right edges.
fn response_position(d: Duration) -> f64 {
    let minutes = d.num_seconds() as f64 / 60.0;
    for (i, pair) in RESPONSE_EDGES.windows(2).enumerate() {
        let (low, high) = (pair[0] as f64, pair[1] as f64);
        if minutes < high {
            return i as f64 + (minutes - low).max(0.0) / (high - low);
        }
    }
    // Beyond 24 h: within the last bucket, which spans another day.
    let last = RESPONSE_EDGES.len() - 1;
    last as f64 + ((minutes - 1440.0) / 1440.0).clamp(0.0, 0.999)
}

fn response_bucket(d: Duration) -> usize {
    (response_position(d).floor() as usize).min(RESPONSE_EDGES.len() - 1)
}

/// A y range with room above the tallest bar for its count label.
fn y_top(max: usize) -> u32 {
    let max = max as u32;
    (max + max.div_ceil(5)).max(max + 1).max(4)
}

/// Renders the chart as PNG bytes of [`CHART_SIZE`].
pub fn render_png(digest: &Digest) -> Result<Vec<u8>, ChartError> {
    register_font()?;
    let (width, height) = CHART_SIZE;
    let mut pixels = vec![0u8; (width * height * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, CHART_SIZE).into_drawing_area();
        draw(digest, &root)?;
        root.present().map_err(draw_err)?;
    }
    let mut png_bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut png_bytes, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(&pixels)?;
    writer.finish()?;
    Ok(png_bytes)
}

/// Renders the chart and writes it to `path`.
pub fn write_png(digest: &Digest, path: &std::path::Path) -> Result<(), ChartError> {
    let bytes = render_png(digest)?;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|source| ChartError::Write {
            path: parent.display().to_string(),
            source,
        })?;
    }
    std::fs::write(path, bytes).map_err(|source| ChartError::Write {
        path: path.display().to_string(),
        source,
    })
}

fn draw(digest: &Digest, root: &DrawingArea<BitMapBackend<'_>, Shift>) -> Result<(), ChartError> {
    root.fill(&WHITE).map_err(draw_err)?;
    let (header, body) = root.split_vertically(64);
    let title = format!("Ascolto digest · {}", digest.title_day());
    header
        .draw_text(&title, &(FONT, 26).into_font().color(&INK), (24, 14))
        .map_err(draw_err)?;
    let tz = digest.window.tz;
    let subtitle = format!(
        "{} → {} ({})",
        digest
            .window
            .start
            .with_timezone(&tz)
            .format("%a %-d %b %H:%M"),
        digest
            .window
            .end
            .with_timezone(&tz)
            .format("%a %-d %b %H:%M"),
        tz.name()
    );
    let subtitle_style = (FONT, 16)
        .into_font()
        .color(&MUTED)
        .pos(Pos::new(HPos::Right, VPos::Top));
    header
        .draw_text(&subtitle, &subtitle_style, (CHART_SIZE.0 as i32 - 24, 22))
        .map_err(draw_err)?;
    let (left, right) = body.split_horizontally(CHART_SIZE.0 / 2);
    draw_ages(digest, &left)?;
    draw_responses(digest, &right)?;
    Ok(())
}

fn draw_ages(
    digest: &Digest,
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
) -> Result<(), ChartError> {
    let max = digest.by_age.iter().copied().max().unwrap_or(0);
    let caption = format!(
        "Unanswered now: {}, by time waiting",
        digest.unanswered.len()
    );
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (FONT, 20).into_font().color(&INK))
        .margin(18)
        .margin_right(28)
        .x_label_area_size(44)
        .y_label_area_size(56)
        .build_cartesian_2d(
            // A segmented range includes its end value: 0..4 gives the five buckets.
            (0u32..AGE_BUCKETS.len() as u32 - 1).into_segmented(),
            0u32..y_top(max),
        )
        .map_err(draw_err)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .bold_line_style(RGBColor(0xe5, 0xe7, 0xeb))
        .light_line_style(TRANSPARENT)
        .y_labels(6)
        .y_desc("comments")
        .axis_desc_style((FONT, 16).into_font().color(&MUTED))
        .label_style((FONT, 16).into_font().color(&INK))
        .x_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => AGE_BUCKETS
                .get(*i as usize)
                .map(|(label, _)| (*label).to_owned())
                .unwrap_or_default(),
            _ => String::new(),
        })
        .y_label_formatter(&|v| v.to_string())
        .draw()
        .map_err(draw_err)?;
    chart
        .draw_series(digest.by_age.iter().enumerate().map(|(i, n)| {
            let i = i as u32;
            let mut bar = Rectangle::new(
                [
                    (SegmentValue::Exact(i), 0),
                    (SegmentValue::Exact(i + 1), *n as u32),
                ],
                AGE_COLORS[i as usize].filled(),
            );
            bar.set_margin(0, 0, 12, 12);
            bar
        }))
        .map_err(draw_err)?;
    let count_style = (FONT, 18)
        .into_font()
        .color(&INK)
        .pos(Pos::new(HPos::Center, VPos::Bottom));
    chart
        .draw_series(digest.by_age.iter().enumerate().map(|(i, n)| {
            Text::new(
                n.to_string(),
                (SegmentValue::CenterOf(i as u32), *n as u32),
                count_style.clone(),
            )
        }))
        .map_err(draw_err)?;
    Ok(())
}

fn draw_responses(
    digest: &Digest,
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
) -> Result<(), ChartError> {
    let samples = &digest.first_response.samples;
    let mut counts = [0usize; RESPONSE_EDGES.len()];
    for d in samples {
        counts[response_bucket(*d)] += 1;
    }
    let max = counts.iter().copied().max().unwrap_or(0);
    let caption = match digest.first_response.median {
        Some(median) => format!(
            "First response: {} answered, median {}",
            samples.len(),
            crate::sla::format_wait(median)
        ),
        None => "First response: none in this window".to_owned(),
    };
    let buckets = RESPONSE_EDGES.len() as f64;
    let top = y_top(max);
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (FONT, 20).into_font().color(&INK))
        .margin(18)
        .margin_right(36)
        .x_label_area_size(44)
        .y_label_area_size(56)
        .build_cartesian_2d(0f64..buckets, 0u32..top)
        .map_err(draw_err)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .bold_line_style(RGBColor(0xe5, 0xe7, 0xeb))
        .light_line_style(TRANSPARENT)
        .x_labels(RESPONSE_EDGES.len() + 1)
        .y_labels(6)
        .y_desc("comments")
        .x_desc("time to first reply or answer")
        .axis_desc_style((FONT, 16).into_font().color(&MUTED))
        .label_style((FONT, 16).into_font().color(&INK))
        .x_label_formatter(&|x| {
            let rounded = x.round();
            if (x - rounded).abs() > 1e-6 {
                return String::new();
            }
            RESPONSE_EDGE_LABELS
                .get(rounded as usize)
                .map(|l| (*l).to_owned())
                .unwrap_or_default()
        })
        .y_label_formatter(&|v| v.to_string())
        .draw()
        .map_err(draw_err)?;
    chart
        .draw_series(counts.iter().enumerate().map(|(i, n)| {
            let x = i as f64;
            Rectangle::new(
                [(x + 0.1, 0), (x + 0.9, *n as u32)],
                RESPONSE_COLOR.filled(),
            )
        }))
        .map_err(draw_err)?;
    let count_style = (FONT, 18)
        .into_font()
        .color(&INK)
        .pos(Pos::new(HPos::Center, VPos::Bottom));
    chart
        .draw_series(
            counts
                .iter()
                .enumerate()
                .filter(|(_, n)| **n > 0)
                .map(|(i, n)| {
                    Text::new(
                        n.to_string(),
                        (i as f64 + 0.5, *n as u32),
                        count_style.clone(),
                    )
                }),
        )
        .map_err(draw_err)?;
    // Targets: a dashed line each, named in a legend (labels beside lines collide when
    // targets are close, e.g. 15 and 30 minutes). Without answers there is nothing to
    // compare them with, and the lines would run through the "none" message.
    let targets: &[_] = if samples.is_empty() {
        &[]
    } else {
        &digest.target_settings
    };
    for (i, (label, target)) in targets.iter().enumerate() {
        let x = response_position(*target);
        let color = TARGET_COLORS[i % TARGET_COLORS.len()];
        chart
            .draw_series(DashedLineSeries::new(
                [(x, 0), (x, top)],
                7,
                5,
                color.stroke_width(3),
            ))
            .map_err(draw_err)?
            .label(format!(
                "target: {} {}",
                label.as_str(),
                format_target(*target)
            ))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 22, y)], color.stroke_width(3))
            });
    }
    if !targets.is_empty() {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .margin(10)
            .background_style(WHITE.mix(0.92))
            .border_style(RGBColor(0xd1, 0xd5, 0xdb))
            .label_font((FONT, 15).into_font().color(&INK))
            .draw()
            .map_err(draw_err)?;
    }
    if samples.is_empty() {
        let style = (FONT, 18)
            .into_font()
            .color(&MUTED)
            .pos(Pos::new(HPos::Center, VPos::Center));
        chart
            .draw_series(std::iter::once(Text::new(
                "no comment was answered in this window".to_owned(),
                (buckets / 2.0, top / 2),
                style,
            )))
            .map_err(draw_err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_land_between_the_right_edges() {
        assert_eq!(response_position(Duration::minutes(15)), 1.0);
        assert_eq!(response_position(Duration::minutes(30)), 2.0);
        assert_eq!(response_position(Duration::minutes(45)), 2.5);
        assert_eq!(response_position(Duration::hours(2)), 4.0);
        assert_eq!(response_bucket(Duration::minutes(14)), 0);
        assert_eq!(response_bucket(Duration::hours(30)), 7);
        assert_eq!(response_bucket(Duration::days(30)), 7);
    }
}
