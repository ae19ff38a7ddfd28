//! Tensor detail: quantization parameters, histograms (stored integers, every bin; real values
//! with the paired float tensor overlaid), per-channel ranges with the representable range,
//! per-channel scales, error metrics and spec checks - all from `quant::analyze`.

use super::export::{self, StatusLine};
use super::plots::{headroom, legend, page_plot};
use super::{fmt_opt, ViewCtx};
use crate::compare::view::viridis;
use crate::model::Model;
use crate::quant::{
    BlockAnalysis, ChannelAnalysis, Histogram, Reference, Severity, TensorAnalysis,
};
use crate::report::csv;
use eframe::egui;
use egui_plot::{Bar, BarChart, Line, PlotPoints, Points};
use std::sync::Arc;

#[derive(Default)]
pub struct TensorDetailPanel {}

/// One bar per bin; with `integer`, unit bins [q, q+1) are drawn centred on q.
fn hist_bars(h: &Histogram, color: egui::Color32, integer: bool) -> Vec<Bar> {
    h.bins()
        .map(|(a, b, c)| {
            let unit = integer && (b - a - 1.0).abs() < 1e-9 && a.fract() == 0.0;
            let x = if unit { a } else { (a + b) / 2.0 };
            Bar::new(x, c as f64)
                .width((b - a).abs())
                .fill(color)
                .stroke(egui::Stroke::NONE)
        })
        .collect()
}

/// The numbers and plots of one analysed tensor (shared with the what-if panel); plot ids are
/// salted with the tab's `model`, `id` and the tensor.
pub fn analysis_ui(
    ui: &mut egui::Ui,
    model: &Arc<Model>,
    id: &str,
    ta: &TensorAnalysis,
    overlay: Option<(&str, &Histogram)>,
    status: &StatusLine,
) {
    let stem = export::stem(&format!("{id}_{}_{}", ta.tensor.index, ta.tensor.name));
    egui::Grid::new(format!("{id}_metrics"))
        .num_columns(4)
        .striped(true)
        .show(ui, |ui| {
            let e = &ta.errors;
            let r = &ta.range;
            let cells: [(&str, String); 12] = [
                ("SQNR", format!("{} dB", fmt_opt(e.sqnr_db, 2))),
                ("RMSE / scale", fmt_opt(e.rmse_over_scale, 3)),
                (
                    "max |err|",
                    format!(
                        "{} ({} LSB)",
                        fmt_opt(e.max_abs_err, 5),
                        fmt_opt(e.max_abs_err_lsb, 2)
                    ),
                ),
                ("cosine", fmt_opt(e.cosine, 6)),
                ("clip rate", fmt_opt(e.clip_rate, 5)),
                (
                    "levels used",
                    r.levels_used.map_or("-".into(), |v| v.to_string()),
                ),
                ("effective bits", fmt_opt(r.effective_bits, 2)),
                ("range used", fmt_opt(r.range_used, 3)),
                (
                    "saturated",
                    r.saturated.map_or("-".into(), |v| v.to_string()),
                ),
                ("scale spread", fmt_opt(ta.scale_spread, 2)),
                ("dead channels", ta.dead_channels.len().to_string()),
                ("role", ta.role.clone().unwrap_or_else(|| "-".into())),
            ];
            for (k, (n, v)) in cells.iter().enumerate() {
                let l = ui.label(*n);
                if let Some(h) = super::help::metric(n) {
                    l.on_hover_text(h);
                }
                ui.strong(v);
                if k % 2 == 1 {
                    ui.end_row();
                }
            }
        });
    if let Some(s) = &ta.real_stats {
        ui.label(format!(
            "real values: min {:.5} max {:.5} mean {:.5} std {:.5}",
            s.min, s.max, s.mean, s.std
        ));
    }
    if let Some(rf) = &ta.reference {
        ui.weak(match rf {
            Reference::FloatModel { index, name, .. } => {
                format!("error against float tensor #{index} {name}")
            }
            Reference::Simulated { scheme, .. } => format!("error against simulated {scheme}"),
        });
    }
    if !ta.checks.is_empty() {
        ui.strong("Spec checks");
        for c in &ta.checks {
            let col = match c.severity {
                Severity::Error => ui.visuals().error_fg_color,
                Severity::Warning => ui.visuals().warn_fg_color,
                Severity::Info => ui.visuals().weak_text_color(),
            };
            ui.colored_label(col, format!("{:?} {}: {}", c.severity, c.code, c.message));
        }
    }

    ui.separator();
    let h = &ta.histogram;
    // Stored integers: one bar per integer q, centred on q (the bins are [q, q+1)).
    let integer = !ta.dtype.is_float();
    let blue = egui::Color32::from_rgb(90, 140, 220);
    let ymax = h.counts.iter().copied().max().unwrap_or(1) as f64;
    let r = ui.vertical(|ui| {
        ui.strong(if integer {
            "Histogram of stored integers (every bin)"
        } else {
            "Histogram of values"
        });
        page_plot(model, (id, ta.tensor.index, "int_hist"), 170.0)
            .include_y(0.0)
            .include_y(headroom(0.0, ymax, 170.0, 0))
            .x_axis_label(if integer { "integer" } else { "value" })
            .y_axis_label("count")
            .show(ui, |p| {
                p.bar_chart(BarChart::new("count", hist_bars(h, blue, integer)).color(blue))
            })
    });
    export::plot_exports(
        ui,
        r.response.rect,
        &format!("{stem}_int_hist"),
        || csv::histogram(h, None),
        || serde_json::to_value(h).unwrap_or_default(),
        status,
    );

    if let Some(rh) = &ta.real_histogram {
        let fill = egui::Color32::from_rgba_unmultiplied(90, 140, 220, 200);
        let pts = overlay.map(|(_, fh)| fh.scaled_to(rh));
        let ymax = rh
            .counts
            .iter()
            .map(|&c| c as f64)
            .chain(pts.iter().flatten().map(|p| p[1]))
            .fold(1.0, f64::max);
        let rows = 1 + overlay.is_some() as usize;
        let r = ui.vertical(|ui| {
            ui.strong("Histogram of real (dequantized) values");
            page_plot(model, (id, ta.tensor.index, "real_hist"), 170.0)
                .legend(legend())
                .include_y(0.0)
                .include_y(headroom(0.0, ymax, 170.0, rows))
                .x_axis_label("value")
                .y_axis_label("count")
                .show(ui, |p| {
                    // The chart's colour is the legend swatch: the same as its bars.
                    p.bar_chart(BarChart::new("quantized", hist_bars(rh, fill, false)).color(fill));
                    if let (Some((name, _)), Some(pts)) = (overlay, pts) {
                        // Counts scaled to the same area so the shapes compare.
                        p.line(
                            Line::new(name.to_string(), PlotPoints::from(pts))
                                .color(egui::Color32::from_rgb(230, 120, 40))
                                .width(2.0),
                        );
                    }
                })
        });
        export::plot_exports(
            ui,
            r.response.rect,
            &format!("{stem}_real_hist"),
            || csv::histogram(rh, overlay),
            || serde_json::json!({ "quantized": rh, "float": overlay.map(|o| o.1) }),
            status,
        );
    }

    if let Some(b) = &ta.blocks {
        blocks_ui(ui, id, &stem, b, status);
    }

    if ta.channels.len() > 1 {
        channels_ui(ui, model, id, &stem, ta, status);
    }
    ui.horizontal(|ui| {
        if ui.button("Export tensor analysis (JSON)").clicked() {
            let s = serde_json::to_string_pretty(ta).unwrap_or_default();
            status.report(export::save(&format!("{stem}.json"), s.as_bytes(), false));
        }
    });
}

/// Per-channel ranges (with the representable range), scales and SQNR.
fn channels_ui(
    ui: &mut egui::Ui,
    model: &Arc<Model>,
    id: &str,
    stem: &str,
    ta: &TensorAnalysis,
    status: &StatusLine,
) {
    let mut rep_lo = Vec::new();
    let mut rep_hi = Vec::new();
    let mut vmin = Vec::new();
    let mut vmax = Vec::new();
    for c in &ta.channels {
        let x = c.channel as f64;
        if let Some(s) = &c.real_stats {
            vmin.push([x, s.min]);
            vmax.push([x, s.max]);
        }
        if let Some((a, b)) = c.representable {
            rep_lo.push([x, a]);
            rep_hi.push([x, b]);
        }
    }
    let (lo, hi) = rep_lo
        .iter()
        .chain(&rep_hi)
        .chain(&vmin)
        .chain(&vmax)
        .fold((0.0f64, 0.0f64), |(a, b), p| (a.min(p[1]), b.max(p[1])));
    let r = ui.vertical(|ui| {
        ui.strong(format!(
            "Per-channel ranges ({} channels, axis {})",
            ta.channels.len(),
            ta.axis.map_or("-".into(), |a| a.to_string())
        ));
        page_plot(model, (id, ta.tensor.index, "ch_range"), 190.0)
            .legend(legend())
            .include_y(lo)
            .include_y(headroom(lo, hi, 190.0, 3))
            .x_axis_label("channel")
            .y_axis_label("real value")
            .show(ui, |p| {
                let grey = egui::Color32::from_gray(150);
                p.line(Line::new("representable (±1/2 LSB)", PlotPoints::from(rep_lo)).color(grey));
                p.line(Line::new("representable (±1/2 LSB)", PlotPoints::from(rep_hi)).color(grey));
                p.points(
                    Points::new("min", PlotPoints::from(vmin))
                        .radius(2.0)
                        .color(egui::Color32::from_rgb(90, 140, 220)),
                );
                p.points(
                    Points::new("max", PlotPoints::from(vmax))
                        .radius(2.0)
                        .color(egui::Color32::from_rgb(230, 120, 40)),
                );
            })
    });
    let ch_csv = || csv::channels(ta);
    export::plot_exports(
        ui,
        r.response.rect,
        &format!("{stem}_channels"),
        ch_csv,
        || serde_json::to_value(&ta.channels).unwrap_or_default(),
        status,
    );

    let r = channel_bars(
        ui,
        model,
        (id, ta.tensor.index, "ch_scale"),
        ta,
        "scale",
        |c| c.scale,
    );
    export::plot_exports(
        ui,
        r.rect,
        &format!("{stem}_scales"),
        ch_csv,
        || serde_json::to_value(&ta.channels).unwrap_or_default(),
        status,
    );
    if ta.channels.iter().any(|c| c.errors.sqnr_db.is_some()) {
        channel_bars(
            ui,
            model,
            (id, ta.tensor.index, "ch_sqnr"),
            ta,
            "SQNR",
            |c| c.errors.sqnr_db,
        );
    }
}

/// One bar per channel of `value` (`scale` or `SQNR`; channels without one have no bar),
/// titled "Per-channel ...".
fn channel_bars(
    ui: &mut egui::Ui,
    model: &Arc<Model>,
    key: (&str, usize, &str),
    ta: &TensorAnalysis,
    what: &str,
    value: impl Fn(&ChannelAnalysis) -> Option<f64>,
) -> egui::Response {
    let scale = what == "scale";
    let vmax = (ta.channels.iter().filter_map(&value))
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max);
    ui.vertical(|ui| {
        ui.strong(if scale {
            "Per-channel scale"
        } else {
            "Per-channel SQNR (dB)"
        });
        let plot = page_plot(model, key, 150.0)
            .include_y(0.0)
            .include_y(headroom(0.0, vmax, 150.0, 0))
            .x_axis_label("channel")
            .y_axis_label(if scale { "scale" } else { "SQNR dB" });
        let plot = if scale {
            plot.y_axis_formatter(|m, _| format!("{:.2e}", m.value))
        } else {
            plot
        };
        plot.show(ui, |p| {
            let bars: Vec<Bar> = (ta.channels.iter())
                .filter_map(|c| Some(Bar::new(c.channel as f64, value(c)?).width(0.8)))
                .collect();
            let blue = egui::Color32::from_rgb(90, 140, 220);
            p.bar_chart(BarChart::new(what, bars).color(blue));
        })
    })
    .response
}

/// What the per-block heat map colours.
#[derive(Clone, Copy, Default, PartialEq)]
enum BlockMetric {
    #[default]
    Scale,
    Sqnr,
    MaxErrLsb,
}

/// Colour of `v` between `lo` and `hi` (viridis; grey for no value).
fn cell_colour(v: Option<f64>, lo: f64, hi: f64) -> egui::Color32 {
    match v {
        Some(v) if v.is_finite() => {
            let t = if hi > lo { (v - lo) / (hi - lo) } else { 0.5 };
            let [r, g, b] = viridis(t as f32);
            egui::Color32::from_rgb(r, g, b)
        }
        _ => egui::Color32::from_gray(200),
    }
}

/// The per-block view of a blockwise tensor: a heat map over [row, block] of the scale (or
/// SQNR, or max error), hover values, the scale summary and the worst blocks.
fn blocks_ui(ui: &mut egui::Ui, id: &str, stem: &str, b: &BlockAnalysis, status: &StatusLine) {
    ui.separator();
    ui.strong(format!(
        "Blocks: {} rows x {} blocks of {} ({} blocks), integers in [{}, {}]",
        b.rows,
        b.blocks_per_row,
        b.block_size,
        b.scale.len(),
        b.int_range.0,
        b.int_range.1
    ));
    ui.label(b.scale_summary(4));
    let mid = egui::Id::unique((id, "block_metric"));
    let mut metric: BlockMetric = ui.data(|d| d.get_temp(mid)).unwrap_or_default();
    ui.horizontal(|ui| {
        ui.label("colour by:");
        ui.selectable_value(&mut metric, BlockMetric::Scale, "scale");
        if b.has_errors() {
            ui.selectable_value(&mut metric, BlockMetric::Sqnr, "SQNR (dB)");
            ui.selectable_value(&mut metric, BlockMetric::MaxErrLsb, "max |err| (LSB)");
        }
    });
    if !b.has_errors() {
        metric = BlockMetric::Scale;
    }
    ui.data_mut(|d| d.insert_temp(mid, metric));
    let value = |k: usize| -> Option<f64> {
        match metric {
            BlockMetric::Scale => b.scale.get(k).copied(),
            BlockMetric::Sqnr => b.sqnr_db.get(k).copied().flatten(),
            BlockMetric::MaxErrLsb => b.max_abs_err_lsb.get(k).copied(),
        }
    };
    // The colour range: the extremes of what is shown.
    let (lo, hi) = (0..b.scale.len())
        .filter_map(value)
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, c), v| {
            (a.min(v), c.max(v))
        });
    ui.weak(format!(
        "rows down, blocks across; colour {} (dark) to {} (bright){}; hover a cell for its numbers",
        fmt_opt(lo.is_finite().then_some(lo), 5),
        fmt_opt(hi.is_finite().then_some(hi), 5),
        if metric == BlockMetric::Sqnr {
            ", grey = exact"
        } else {
            ""
        }
    ));
    let cols = b.blocks_per_row.max(1);
    let cell = (ui.available_width().min(720.0) / cols as f32).clamp(3.0, 28.0);
    let cell_h = cell.min(14.0);
    let resp = egui::ScrollArea::both()
        .id_salt((id, "blocks_scroll"))
        .max_height(280.0)
        .show(ui, |ui| {
            let size = egui::vec2(cell * cols as f32, cell_h * b.rows as f32);
            let (rect, resp) = ui.allocate_exact_size(size, egui::Sense::hover());
            let clip = ui.clip_rect().intersect(rect);
            let painter = ui.painter_at(rect);
            let r0 = ((clip.top() - rect.top()) / cell_h).floor().max(0.0) as usize;
            let r1 = (((clip.bottom() - rect.top()) / cell_h).ceil().max(0.0) as usize).min(b.rows);
            let c0 = ((clip.left() - rect.left()) / cell).floor().max(0.0) as usize;
            let c1 = (((clip.right() - rect.left()) / cell).ceil().max(0.0) as usize).min(cols);
            for r in r0..r1 {
                for c in c0..c1 {
                    let k = r * cols + c;
                    let min = rect.min + egui::vec2(c as f32 * cell, r as f32 * cell_h);
                    painter.rect_filled(
                        egui::Rect::from_min_size(min, egui::vec2(cell, cell_h)),
                        0.0,
                        cell_colour(value(k), lo, hi),
                    );
                }
            }
            if let Some(p) = resp.hover_pos() {
                let r = ((p.y - rect.top()) / cell_h) as usize;
                let c = ((p.x - rect.left()) / cell) as usize;
                if r < b.rows && c < cols {
                    let k = r * cols + c;
                    resp.clone().on_hover_ui_at_pointer(|ui| {
                        ui.label(block_text(b, k));
                    });
                }
            }
            rect
        });
    export::plot_exports(
        ui,
        resp.inner,
        &format!("{stem}_blocks"),
        || csv::blocks(b),
        || serde_json::to_value(b).unwrap_or_default(),
        status,
    );
    ui.strong(if b.has_errors() {
        "Worst blocks (lowest SQNR)"
    } else {
        "Coarsest blocks (largest scale; no float reference)"
    });
    for w in &b.worst {
        ui.monospace(block_text(b, w.block));
    }
}

/// One block's numbers, as the library reports them.
fn block_text(b: &BlockAnalysis, k: usize) -> String {
    let (r, c) = b.position(k);
    let mut s = format!(
        "row {r}, block {c}: scale {:.4e}, integers [{}, {}], saturated {}",
        b.scale[k], b.int_min[k], b.int_max[k], b.saturated[k]
    );
    if b.has_errors() {
        s += &format!(
            ", SQNR {} dB, max |err| {} LSB, clipped {}",
            b.sqnr_db[k].map_or("exact".into(), |v| format!("{v:.2}")),
            fmt_opt(b.max_abs_err_lsb.get(k).copied(), 3),
            b.clipped[k]
        );
    }
    s
}

impl TensorDetailPanel {
    /// The detail of tensor `selected` (subgraph, index) of the tab in `ctx`.
    pub fn ui(&mut self, ui: &mut egui::Ui, ctx: &ViewCtx, selected: Option<(usize, usize)>) {
        let (model, weights, weights_error, status) =
            (ctx.model, ctx.weights, ctx.weights_error, ctx.status);
        let Some((sg, ti)) = selected else {
            ui.weak("Click a row of the table to see the tensor here.");
            if let Some(w) = weights {
                if let Some(worst) = w.rollup.worst.first() {
                    ui.label(format!(
                        "Worst weights: {} ({} dB)",
                        worst.tensor,
                        fmt_opt(worst.sqnr_db, 2)
                    ));
                }
            }
            return;
        };
        let Some(t) = model.subgraphs.get(sg).and_then(|g| g.tensors.get(ti)) else {
            return;
        };
        egui::ScrollArea::vertical().id_salt("detail_scroll").auto_shrink(false).show(ui, |ui| {
            ui.heading(format!("#{ti} {}", t.name));
            ui.label(format!(
                "{} {:?}, {} bytes, {}{}",
                t.dtype.name(),
                t.shape,
                t.buffer_bytes,
                if t.is_constant { "constant" } else { "activation" },
                if t.is_variable { ", variable" } else { "" }
            ));
            if let Some(q) = t.quantization.as_ref().filter(|q| !q.scales.is_empty()) {
                if q.is_per_channel() {
                    ui.label(format!("per-channel: {} scales along axis {}", q.scales.len(), q.quantized_dimension));
                    egui::CollapsingHeader::new("scales and zero points").id_salt("szp").show(ui, |ui| {
                        for c in 0..q.scales.len().min(2048) {
                            let (s, z) = q.channel(c);
                            ui.monospace(format!("{c:>5}: scale {s:.6e}  zero point {z}"));
                        }
                    });
                } else {
                    ui.label(format!("scale {:.6e}, zero point {}", q.scales[0], q.zero_points.first().copied().unwrap_or(0)));
                }
            } else if let Some(bw) = t.quantization.as_ref().and_then(|q| q.blockwise.as_ref()) {
                ui.label(format!(
                    "blockwise: {} scales (float16 tensor #{}), one per {} elements of a row{}",
                    bw.scales.len(),
                    bw.scales_tensor,
                    bw.block_size,
                    bw.problem.as_ref().map_or(String::new(), |p| format!(" - {p}"))
                ));
            } else {
                ui.label("not quantized");
            }
            let ta = weights.and_then(|w| w.tensors.iter().find(|a| a.tensor.subgraph == sg && a.tensor.index == ti));
            match (ta, weights) {
                (Some(ta), _) => {
                    let overlay = match (&ta.reference, ctx.float_weights) {
                        (Some(Reference::FloatModel { index, .. }), Some(fw)) => fw
                            .tensors
                            .iter()
                            .find(|f| f.tensor.subgraph == 0 && f.tensor.index == *index)
                            .map(|f| &f.histogram),
                        _ => None,
                    };
                    analysis_ui(ui, ctx.model, "detail", ta, overlay.map(|h| ("float model", h)), status);
                }
                (None, Some(w)) => {
                    if let Some(s) = w.skipped.iter().find(|s| s.tensor.subgraph == sg && s.tensor.index == ti) {
                        ui.weak(format!("not analysed: {}", s.reason));
                    } else if !t.is_constant {
                        ui.weak("An activation: its error shows in Compare (per-layer SQNR on an image).");
                    }
                }
                (None, None) => match weights_error {
                    Some(e) => {
                        ui.colored_label(ui.visuals().error_fg_color, format!("weight analysis failed: {e}"));
                    }
                    None => {
                        ui.horizontal(|ui| {
                            ui.spinner();
                            ui.label("analysing the weights...");
                        });
                    }
                },
            }
        });
    }
}
