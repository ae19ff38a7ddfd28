//! Tensor detail: quantization parameters, histograms (stored integers, every bin; real values
//! with the paired float tensor overlaid), per-channel ranges with the representable range,
//! per-channel scales, error metrics and spec checks - all from `quant::analyze`.

use super::export::{self, StatusLine};
use super::{fmt_opt, ViewCtx};
use crate::quant::{Histogram, Reference, Severity, TensorAnalysis};
use crate::report::csv;
use eframe::egui;
use egui_plot::{Bar, BarChart, Legend, Line, Plot, PlotPoints, Points};

#[derive(Default)]
pub struct TensorDetailPanel {}

fn hist_bars(h: &Histogram, color: egui::Color32) -> Vec<Bar> {
    h.bins()
        .map(|(a, b, c)| {
            Bar::new((a + b) / 2.0, c as f64)
                .width((b - a).abs())
                .fill(color)
                .stroke(egui::Stroke::NONE)
        })
        .collect()
}

/// The numbers and plots of one analysed tensor (shared with the what-if panel).
pub fn analysis_ui(
    ui: &mut egui::Ui,
    id: &str,
    ta: &TensorAnalysis,
    overlay: Option<(&str, &Histogram)>,
    status: &StatusLine,
) {
    let stem = export::stem(&format!("{id}_{}_{}", ta.index, ta.name));
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
                ui.label(*n);
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
    ui.strong(if ta.dtype.is_float() {
        "Histogram of values"
    } else {
        "Histogram of stored integers (every bin)"
    });
    let h = &ta.histogram;
    let resp = Plot::new(format!("{id}_int_hist"))
        .height(150.0)
        .x_axis_label(if ta.dtype.is_float() {
            "value"
        } else {
            "integer"
        })
        .y_axis_label("count")
        .show(ui, |p| {
            p.bar_chart(BarChart::new(
                "count",
                hist_bars(h, egui::Color32::from_rgb(90, 140, 220)),
            ))
        });
    export::plot_exports(
        ui,
        resp.response.rect,
        &format!("{stem}_int_hist"),
        || csv::histogram(h, None),
        || serde_json::to_value(h).unwrap_or_default(),
        status,
    );

    if let Some(rh) = &ta.real_histogram {
        ui.strong("Histogram of real (dequantized) values");
        let resp = Plot::new(format!("{id}_real_hist"))
            .height(150.0)
            .legend(Legend::default())
            .x_axis_label("value")
            .show(ui, |p| {
                p.bar_chart(BarChart::new(
                    "quantized",
                    hist_bars(rh, egui::Color32::from_rgba_unmultiplied(90, 140, 220, 200)),
                ));
                if let Some((name, fh)) = overlay {
                    // Counts scaled to the same area so the shapes compare.
                    let pts = fh.scaled_to(rh);
                    p.line(
                        Line::new(name.to_string(), PlotPoints::from(pts))
                            .color(egui::Color32::from_rgb(230, 120, 40))
                            .width(2.0),
                    );
                }
            });
        export::plot_exports(
            ui,
            resp.response.rect,
            &format!("{stem}_real_hist"),
            || csv::histogram(rh, overlay),
            || serde_json::json!({ "quantized": rh, "float": overlay.map(|o| o.1) }),
            status,
        );
    }

    if ta.channels.len() > 1 {
        ui.strong(format!(
            "Per-channel ranges ({} channels, axis {})",
            ta.channels.len(),
            ta.axis.map_or("-".into(), |a| a.to_string())
        ));
        let resp = Plot::new(format!("{id}_ch_range"))
            .height(160.0)
            .legend(Legend::default())
            .x_axis_label("channel")
            .show(ui, |p| {
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
            });
        let ch_csv = || csv::channels(ta);
        export::plot_exports(
            ui,
            resp.response.rect,
            &format!("{stem}_channels"),
            ch_csv,
            || serde_json::to_value(&ta.channels).unwrap_or_default(),
            status,
        );

        ui.strong("Per-channel scale");
        let resp = Plot::new(format!("{id}_ch_scale"))
            .height(120.0)
            .x_axis_label("channel")
            .show(ui, |p| {
                let bars: Vec<Bar> = ta
                    .channels
                    .iter()
                    .filter_map(|c| Some(Bar::new(c.channel as f64, c.scale?).width(0.8)))
                    .collect();
                p.bar_chart(BarChart::new("scale", bars));
            });
        export::plot_exports(
            ui,
            resp.response.rect,
            &format!("{stem}_scales"),
            ch_csv,
            || serde_json::to_value(&ta.channels).unwrap_or_default(),
            status,
        );
        if ta.channels.iter().any(|c| c.errors.sqnr_db.is_some()) {
            ui.strong("Per-channel SQNR (dB)");
            Plot::new(format!("{id}_ch_sqnr"))
                .height(110.0)
                .show(ui, |p| {
                    let bars: Vec<Bar> = ta
                        .channels
                        .iter()
                        .filter_map(|c| {
                            Some(Bar::new(c.channel as f64, c.errors.sqnr_db?).width(0.8))
                        })
                        .collect();
                    p.bar_chart(BarChart::new("SQNR", bars));
                });
        }
    }
    ui.horizontal(|ui| {
        if ui.button("Export tensor analysis (JSON)").clicked() {
            let s = serde_json::to_string_pretty(ta).unwrap_or_default();
            status.report(export::save(&format!("{stem}.json"), s.as_bytes(), false));
        }
    });
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
                        "Worst weights: #{} {} ({} dB)",
                        worst.index,
                        worst.name,
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
            } else {
                ui.label("not quantized");
            }
            let ta = weights.and_then(|w| w.tensors.iter().find(|a| a.subgraph == sg && a.index == ti));
            match (ta, weights) {
                (Some(ta), _) => {
                    let overlay = match (&ta.reference, ctx.float_weights) {
                        (Some(Reference::FloatModel { index, .. }), Some(fw)) => fw
                            .tensors
                            .iter()
                            .find(|f| f.subgraph == 0 && f.index == *index)
                            .map(|f| &f.histogram),
                        _ => None,
                    };
                    analysis_ui(ui, "detail", ta, overlay.map(|h| ("float model", h)), status);
                }
                (None, Some(w)) => {
                    if let Some(s) = w.skipped.iter().find(|s| s.subgraph == sg && s.index == ti) {
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
