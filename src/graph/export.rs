//! The laid-out graph as an SVG picture with its colouring and legend (what the Graph tab
//! shows), and that SVG rasterised to PNG by `resvg` with a bundled font (Hack, from
//! `epaint_default_fonts`) so the PNG looks the same on a machine without fonts. The CLI's
//! `graph --svg/--png` and the app's export buttons both call these.

use super::colour::{self, ColourBy, Legend, NodeValue};
use super::layout::{node_lines, Layout, Metrics};
use super::matching::NodeMatch;
use super::{Graph, NodeKind};
use maud::{html, Markup};

/// Everything a picture shows.
pub struct Picture<'a> {
    pub graph: &'a Graph,
    pub layout: &'a Layout,
    pub values: &'a [NodeValue],
    pub colour_by: ColourBy,
    /// How each node relates to the float twin (the quantized side of `matching`), if any.
    pub matching: Option<&'a [NodeMatch]>,
    /// Lines between linked nodes of a side-by-side picture ([`super::matching::SideBySide`]).
    pub links: &'a [(usize, usize)],
    /// First line of the legend: the model and what else went into the colouring.
    pub title: String,
}

/// One legend entry: a swatch (filled, or outlined for the twin markings) and its text.
#[derive(Clone, Debug, PartialEq)]
pub struct LegendEntry {
    pub rgb: [u8; 3],
    pub outline: bool,
    pub text: String,
}

pub const INSERTED_RGB: [u8; 3] = [80, 200, 230];
pub const ONLY_HERE_RGB: [u8; 3] = [240, 60, 200];
const BACKGROUND: &str = "#1e1e1e";
const EDGE: &str = "#8c8c8c";
const LEGEND_ROW: f32 = 20.0;
const MARGIN: f32 = 12.0;
/// Characters of a node line drawn before it is cut (node boxes are sized for 48).
const MAX_CHARS: usize = 48;

/// The legend of a colouring (what the app shows above the graph too): one entry per category
/// with its node count, the worst and best value of a numeric colouring, nodes without a
/// value, and the twin markings.
pub fn legend_entries(
    by: ColourBy,
    legend: &Legend,
    matching: Option<&[NodeMatch]>,
) -> Vec<LegendEntry> {
    let mut out = Vec::new();
    for (name, (count, severity)) in &legend.categories {
        out.push(LegendEntry {
            rgb: colour::category_rgb(name, *severity, by),
            outline: false,
            text: format!("{name} ({count})"),
        });
    }
    if let Some((lo, hi)) = legend.range {
        out.push(LegendEntry {
            rgb: colour::severity_rgb(colour::sqnr_severity(lo)),
            outline: false,
            text: format!("{lo:.1} dB (lowest)"),
        });
        out.push(LegendEntry {
            rgb: colour::severity_rgb(colour::sqnr_severity(hi)),
            outline: false,
            text: format!("{hi:.1} dB (highest)"),
        });
    }
    if legend.missing > 0 {
        out.push(LegendEntry {
            rgb: colour::MISSING_RGB,
            outline: false,
            text: format!(
                "no value ({}){}",
                legend.missing,
                colour::missing_reason(by, legend)
            ),
        });
    }
    if let Some(m) = matching {
        let count = |want: NodeMatch| m.iter().filter(|x| **x == want).count();
        out.push(LegendEntry {
            rgb: INSERTED_RGB,
            outline: true,
            text: format!(
                "QUANTIZE/DEQUANTIZE inserted ({})",
                count(NodeMatch::Inserted)
            ),
        });
        out.push(LegendEntry {
            rgb: ONLY_HERE_RGB,
            outline: true,
            text: format!("in one model only ({})", count(NodeMatch::OnlyHere)),
        });
    }
    out
}

fn hex(rgb: [u8; 3]) -> String {
    format!("#{:02x}{:02x}{:02x}", rgb[0], rgb[1], rgb[2])
}

fn cut(line: &str) -> String {
    if line.chars().count() <= MAX_CHARS {
        line.to_string()
    } else {
        let mut s: String = line.chars().take(MAX_CHARS - 3).collect();
        s.push_str("...");
        s
    }
}

/// Bounding box of everything the layout places: (min x, min y, max x, max y).
fn bounds(l: &Layout) -> (f32, f32, f32, f32) {
    let mut b = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
    let mut add = |x: f32, y: f32| {
        if x.is_finite() && y.is_finite() {
            b = (b.0.min(x), b.1.min(y), b.2.max(x), b.3.max(y));
        }
    };
    for n in &l.nodes {
        add(n.x - n.w / 2.0, n.y - n.h / 2.0);
        add(n.x + n.w / 2.0, n.y + n.h / 2.0);
    }
    for p in l.edges.iter().flatten() {
        add(p[0], p[1]);
    }
    if b.0 > b.2 {
        (0.0, 0.0, 1.0, 1.0)
    } else {
        b
    }
}

/// Places legend entries left to right, wrapping at `width`: (x, row) of each and the rows.
fn flow(entries: &[LegendEntry], width: f32, m: &Metrics) -> (Vec<(f32, usize)>, usize) {
    let (mut x, mut row, mut at) = (0.0f32, 1usize, Vec::new());
    for e in entries {
        let w = 18.0 + e.text.chars().count() as f32 * m.char_width + 16.0;
        if x > 0.0 && x + w > width {
            x = 0.0;
            row += 1;
        }
        at.push((x, row));
        x += w;
    }
    (at, row + 1)
}

/// The picture as an SVG document: a title line, the legend, then the graph (boxes filled by
/// value, edges with arrowheads, each edge's shape and dtype as its hover title).
pub fn svg(p: &Picture) -> String {
    let m = Metrics::default();
    let (x0, y0, x1, y1) = bounds(p.layout);
    let values = colour::legend(p.values);
    let entries = legend_entries(p.colour_by, &values, p.matching);
    let width = (x1 - x0).max(480.0) + 2.0 * MARGIN;
    let (at, rows) = flow(&entries, width - 2.0 * MARGIN, &m);
    let top = MARGIN + rows as f32 * LEGEND_ROW + MARGIN;
    let height = top + (y1 - y0) + MARGIN;
    let (dx, dy) = (MARGIN - x0, top - y0);
    let f = |v: f32| format!("{v:.1}");
    let edge_path = |pts: &[[f32; 2]]| {
        let mut d = String::new();
        for (i, q) in pts.iter().enumerate() {
            d.push_str(if i == 0 { "M" } else { " L" });
            d.push_str(&format!("{},{}", f(q[0] + dx), f(q[1] + dy)));
        }
        d
    };
    let node = |i: usize| -> Markup {
        let (n, b) = (&p.graph.nodes[i], p.layout.nodes[i]);
        let v = p.values.get(i).unwrap_or(&NodeValue::Missing);
        let fill = hex(colour::value_rgb(v, p.colour_by));
        let (stroke, sw) = match p.matching.and_then(|mm| mm.get(i)) {
            Some(NodeMatch::Inserted) => (hex(INSERTED_RGB), 2.5),
            Some(NodeMatch::OnlyHere) => (hex(ONLY_HERE_RGB), 2.5),
            _ => ("#202020".to_string(), 1.0),
        };
        let radius = if matches!(n.kind, NodeKind::Op { .. }) {
            3.0
        } else {
            10.0
        };
        let (left, top) = (b.x - b.w / 2.0 + dx, b.y - b.h / 2.0 + dy);
        let value = match v {
            NodeValue::Category { name, .. } => name.clone(),
            NodeValue::Number { value, .. } => format!("{value:.2} dB"),
            NodeValue::Missing => "no value".into(),
        };
        html! {
            g class="node" {
                title { (n.title) ": " (value) }
                rect class="node-box" x=(f(left)) y=(f(top)) width=(f(b.w)) height=(f(b.h))
                    rx=(radius) fill=(fill) stroke=(stroke) stroke-width=(sw) {}
                @for (k, line) in node_lines(n).iter().enumerate() {
                    text x=(f(b.x + dx)) y=(f(top + m.padding + m.line_height * (k as f32 + 0.5)))
                        text-anchor="middle" dominant-baseline="central"
                        font-weight=(if k == 0 { "bold" } else { "normal" }) { (cut(line)) }
                }
            }
        }
    };
    let doc = html! {
        svg xmlns="http://www.w3.org/2000/svg" width=(f(width)) height=(f(height))
            viewBox={ "0 0 " (f(width)) " " (f(height)) }
            font-family="Hack, DejaVu Sans Mono, monospace" font-size="11" {
            defs {
                marker id="arrow" viewBox="0 0 8 8" refX="8" refY="4" markerWidth="8"
                    markerHeight="8" orient="auto" {
                    path d="M0,0 L8,4 L0,8 z" fill=(EDGE) {}
                }
            }
            rect width=(f(width)) height=(f(height)) fill=(BACKGROUND) {}
            g class="legend" fill="#e6e6e6" {
                text x=(f(MARGIN)) y=(f(MARGIN + LEGEND_ROW * 0.5)) dominant-baseline="central"
                    font-weight="bold" {
                    (p.title) " - colour by " (p.colour_by.label()) " - "
                    (p.graph.nodes.len()) " nodes, " (p.graph.edges.len()) " edges"
                }
                @for (e, (x, row)) in entries.iter().zip(&at) {
                    @let y = MARGIN + LEGEND_ROW * *row as f32;
                    g class="legend-entry" {
                        @if e.outline {
                            rect x=(f(MARGIN + x)) y=(f(y + 3.0)) width="14" height="14" rx="2"
                                fill="none" stroke=(hex(e.rgb)) stroke-width="2.5" {}
                        } @else {
                            rect x=(f(MARGIN + x)) y=(f(y + 3.0)) width="14" height="14" rx="2"
                                fill=(hex(e.rgb)) {}
                        }
                        text x=(f(MARGIN + x + 18.0)) y=(f(y + 10.0)) dominant-baseline="central" {
                            (e.text)
                        }
                    }
                }
            }
            g class="edges" fill="none" stroke=(EDGE) stroke-width="1.2" {
                @for (e, pts) in p.graph.edges.iter().zip(&p.layout.edges) {
                    path class="edge" d=(edge_path(pts)) marker-end="url(#arrow)" {
                        title { (e.label) }
                    }
                }
            }
            g class="links" stroke="#fadc3c" stroke-opacity="0.45" stroke-width="1" {
                @for &(a, b) in p.links {
                    @if let (Some(a), Some(b)) = (p.layout.nodes.get(a), p.layout.nodes.get(b)) {
                        line class="link" x1=(f(a.x + a.w / 2.0 + dx)) y1=(f(a.y + dy))
                            x2=(f(b.x - b.w / 2.0 + dx)) y2=(f(b.y + dy)) {}
                    }
                }
            }
            g class="nodes" fill="#ffffff" {
                @for i in 0..p.graph.nodes.len().min(p.layout.nodes.len()) {
                    (node(i))
                }
            }
        }
    };
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    s.push_str(&doc.into_string());
    s.push('\n');
    s
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("the SVG does not parse: {0}")]
    Svg(String),
    #[error("cannot make a {0}x{1} pixel image")]
    Size(u32, u32),
    #[error("PNG encoding failed: {0}")]
    Png(String),
}

/// Largest PNG side, in pixels: big graphs are scaled down to fit.
pub const MAX_PNG_SIDE: f32 = 16384.0;
/// Largest PNG area, in pixels (256 MB of RGBA).
pub const MAX_PNG_PIXELS: f32 = 64.0 * 1024.0 * 1024.0;

/// Rasterises an SVG made by [`svg`] at `scale` (2 for a sharp picture on a high-DPI screen),
/// shrunk further if the image would pass [`MAX_PNG_SIDE`] or [`MAX_PNG_PIXELS`].
pub fn png(svg: &str, scale: f32) -> Result<Vec<u8>, ExportError> {
    let mut opt = resvg::usvg::Options::default();
    let db = opt.fontdb_mut();
    db.load_font_data(epaint_default_fonts::HACK_REGULAR.to_vec());
    db.set_monospace_family("Hack");
    db.set_sans_serif_family("Hack");
    opt.font_family = "Hack".into();
    let tree =
        resvg::usvg::Tree::from_str(svg, &opt).map_err(|e| ExportError::Svg(e.to_string()))?;
    let size = tree.size();
    let (w, h) = (size.width(), size.height());
    let s = scale
        .min(MAX_PNG_SIDE / w.max(h))
        .min((MAX_PNG_PIXELS / (w * h)).sqrt());
    let (pw, ph) = ((w * s).ceil() as u32, (h * s).ceil() as u32);
    let mut pixmap =
        resvg::tiny_skia::Pixmap::new(pw.max(1), ph.max(1)).ok_or(ExportError::Size(pw, ph))?;
    resvg::render(
        &tree,
        resvg::tiny_skia::Transform::from_scale(s, s),
        &mut pixmap.as_mut(),
    );
    pixmap
        .encode_png()
        .map_err(|e| ExportError::Png(e.to_string()))
}
