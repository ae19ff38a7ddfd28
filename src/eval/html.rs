//! `--html`: one self-contained page a user can send on — the trade-off table, scatter plots as
//! inline SVG (plotters' SVG backend), per-class changes and thumbnails of flipped images as
//! data URIs. Markup is written with maud (escaped by construction), not string concatenation.

use super::report::{Report, VariantReport};
use base64::Engine as _;
use maud::{html, Markup, PreEscaped, DOCTYPE};
use plotters::prelude::*;
use std::path::Path;

/// Thumbnails per variant (the page stays small on large sets).
const MAX_THUMBS: usize = 48;

fn short(model: &str) -> String {
    Path::new(model)
        .file_name()
        .map_or(model.to_string(), |f| f.to_string_lossy().into_owned())
}

/// One point per model: (x, y, name).
type Points = Vec<(f64, f64, String)>;

/// A scatter plot as an SVG string; `None` when fewer than one point has both coordinates.
pub fn scatter_svg(title: &str, x_label: &str, y_label: &str, pts: &Points) -> Option<String> {
    if pts.is_empty() {
        return None;
    }
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for (x, y, _) in pts {
        (x0, x1, y0, y1) = (x0.min(*x), x1.max(*x), y0.min(*y), y1.max(*y));
    }
    let pad = |a: f64, b: f64| {
        let d = ((b - a) * 0.15).max(b.abs() * 0.02).max(1e-9);
        (a - d, b + d)
    };
    let ((x0, x1), (y0, y1)) = (pad(x0, x1), pad(y0, y1));
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (460, 320)).into_drawing_area();
        root.fill(&WHITE).ok()?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d(x0..x1, y0..y1)
            .ok()?;
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc(y_label)
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .ok()?;
        chart
            .draw_series(pts.iter().enumerate().map(|(i, (x, y, name))| {
                let c = Palette99::pick(i).to_rgba();
                EmptyElement::at((*x, *y))
                    + Circle::new((0, 0), 5, c.filled())
                    + Text::new(name.clone(), (7, -12), ("sans-serif", 12))
            }))
            .ok()?;
        root.present().ok()?;
    }
    Some(svg)
}

fn pct(v: Option<f64>) -> String {
    v.map_or("–".into(), |x| format!("{:.2} %", x * 100.0))
}

fn thumb(root: &Path, name: &str) -> Option<String> {
    let img =
        crate::preprocess::load_image(&root.join(name), crate::preprocess::ImageLimits::default())
            .ok()?;
    let t = image::DynamicImage::ImageRgb8(img).thumbnail(72, 72);
    let mut png = Vec::new();
    t.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .ok()?;
    Some(format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(png)
    ))
}

fn table(r: &Report) -> Markup {
    let cols: Vec<&VariantReport> = std::iter::once(&r.reference).chain(&r.variants).collect();
    let md = super::report::markdown_table(r);
    // The same rows as the text table (one formatting of every metric), laid out as HTML.
    let rows: Vec<Vec<String>> = md
        .lines()
        .filter(|l| !l.starts_with("|---"))
        .map(|l| {
            l.trim_matches('|')
                .split(" | ")
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect();
    html! {
        table {
            @for (i, row) in rows.iter().enumerate() {
                tr {
                    @for c in row {
                        @if i == 0 { th { (c) } } @else { td { (c) } }
                    }
                }
            }
        }
        p.note { (cols.len()) " models; constant bytes by dtype: "
            @for c in &cols {
                br; b { (short(&c.file.model)) } ": "
                @for (d, n) in &c.file.constant_bytes { (d) " " (n) " B; " }
            }
        }
    }
}

/// The page. `images_root`: where flipped images are read for thumbnails (none without it).
pub fn render(r: &Report, images_root: Option<&Path>) -> anyhow::Result<String> {
    let all: Vec<&VariantReport> = std::iter::once(&r.reference).chain(&r.variants).collect();
    let kb = |v: &VariantReport| v.file.file_bytes as f64 / 1024.0;
    let pts = |x: &dyn Fn(&VariantReport) -> Option<f64>,
               y: &dyn Fn(&VariantReport) -> Option<f64>|
     -> Points {
        all.iter()
            .filter_map(|v| Some((x(v)?, y(v)?, short(&v.file.model))))
            .collect()
    };
    let acc = |v: &VariantReport| v.top1_accuracy.map(|a| a * 100.0);
    let agree = |v: &VariantReport| v.top1_agreement.map(|a| a * 100.0);
    let mut plots = Vec::new();
    if r.labelled_images > 0 {
        plots.push(scatter_svg(
            "size vs accuracy",
            "file size (KB)",
            "top-1 accuracy (%)",
            &pts(&|v| Some(kb(v)), &acc),
        ));
        plots.push(scatter_svg(
            "latency vs accuracy",
            "median latency (ms)",
            "top-1 accuracy (%)",
            &pts(&|v| v.latency_ms, &acc),
        ));
    }
    plots.push(scatter_svg(
        "size vs agreement",
        "file size (KB)",
        "top-1 agreement with float (%)",
        &pts(&|v| Some(kb(v)), &agree),
    ));
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { "quantscope trade-offs" }
                style { (PreEscaped("body{font-family:sans-serif;margin:24px;color:#222}table{border-collapse:collapse;margin:12px 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}td:first-child,th:first-child{text-align:left}.plots svg{margin:6px}.note{color:#666;font-size:90%}figure{display:inline-block;margin:4px;text-align:center;font-size:11px}img{image-rendering:pixelated;width:72px;height:72px;border:1px solid #ccc}")) }
            }
            body {
                h1 { "Accuracy trade-offs" }
                p {
                    (r.images) " inputs (" (r.labelled_images) " labelled"
                    @if let Some(s) = &r.settings.labels_source { ", labels from " (s) }
                    "), " (r.settings.threads) " thread(s); float reference " b { (short(&r.reference.file.model)) } "."
                }
                @if let Some(p) = &r.settings.preprocess {
                    p.note { "preprocessing: " (serde_json::to_string(p).unwrap_or_default()) }
                }
                h2 { "Table" }
                (table(r))
                h2 { "Plots" }
                div.plots { @for svg in plots.iter().flatten() { (PreEscaped(svg)) } }
                @for v in &r.variants {
                    h2 { (short(&v.file.model)) }
                    @if !v.per_class.is_empty() {
                        table {
                            tr { th { "class" } th { "images" } th { "float" } th { "variant" } th { "change" } }
                            @for c in &v.per_class {
                                tr { td { (c.label) } td { (c.images) } td { (pct(Some(c.float_accuracy))) }
                                     td { (pct(Some(c.accuracy))) } td { (format!("{:+.2} pp", c.change * 100.0)) } }
                            }
                        }
                    }
                    p { (v.flips.len()) " flipped: " (v.flips_lost.len()) " float right / variant wrong, "
                        (v.flips_gained.len()) " the reverse" }
                    @for (what, list) in [("float right, variant wrong", &v.flips_lost), ("float wrong, variant right", &v.flips_gained)] {
                        @if !list.is_empty() {
                            h3 { (what) }
                            div {
                                @for name in list.iter().take(MAX_THUMBS) {
                                    figure {
                                        @if let Some(uri) = images_root.and_then(|root| thumb(root, name)) {
                                            img src=(uri) alt=(name);
                                        }
                                        figcaption { (name) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(page.into_string())
}
