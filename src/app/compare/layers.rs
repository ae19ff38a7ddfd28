//! Per-layer error of the selected image (cumulative and local SQNR, plot and list; a click
//! picks a layer) and the picked layer's activations as heat maps.

use super::{texture, ComparePanel};
use crate::app::export;
use crate::app::plots::{headroom, legend, page_plot};
use crate::app::{fmt_opt, ViewCtx};
use crate::compare::Rgb8;
use crate::report::csv;
use eframe::egui;
use egui_plot::{Line, PlotPoints};

impl ComparePanel {
    /// The per-layer plot and list; `spatial_layer` is a layer an output asked to show.
    pub(super) fn layers_ui(
        &mut self,
        ui: &mut egui::Ui,
        ctx: &ViewCtx,
        spatial_layer: Option<usize>,
    ) {
        let Some(Ok(res)) = self.results.get(self.selected) else {
            return;
        };
        let layers = &res.comparison.layers;
        let mut clicked = spatial_layer.or(self.pending_layer.take());
        if !layers.is_empty() {
            let cum: Vec<[f64; 2]> = layers
                .iter()
                .enumerate()
                .filter_map(|(k, l)| Some([k as f64, l.cumulative.sqnr_db?]))
                .collect();
            let loc: Vec<[f64; 2]> = layers
                .iter()
                .enumerate()
                .filter_map(|(k, l)| Some([k as f64, l.local?.sqnr_db?]))
                .collect();
            let sel_layer = self.selected_layer;
            let names: Vec<String> = layers
                .iter()
                .enumerate()
                .map(|(k, l)| layer_title(k, l))
                .collect();
            let (lo, hi) = cum
                .iter()
                .chain(&loc)
                .map(|p| p[1])
                .filter(|v| v.is_finite())
                .fold((0.0f64, 0.0f64), |(a, b), v| (a.min(v), b.max(v)));
            let region = ui.vertical(|ui| {
            ui.strong("Per-layer SQNR (dB): cumulative (error so far) and local (the layer's own); click a layer")
                .on_hover_text(format!(
                    "{}\n{}",
                    crate::app::help::metric("cumulative").unwrap_or_default(),
                    crate::app::help::metric("local").unwrap_or_default()
                ));
            page_plot(ctx.model, "layer_sqnr", 200.0)
                .legend(legend())
                .include_y(lo)
                .include_y(headroom(lo, hi, 200.0, 3))
                .label_formatter(move |h| {
                    // Name the layer under the pointer (the x axis is the layer number).
                    let (series, p) = match h {
                        egui_plot::HoverPosition::NearDataPoint {
                            plot_name,
                            position,
                            ..
                        } => (*plot_name, position),
                        egui_plot::HoverPosition::Elsewhere { position } => ("", position),
                    };
                    let k = p.x.round();
                    let name = (k >= 0.0).then(|| names.get(k as usize)).flatten()?;
                    Some(if series.is_empty() {
                        name.clone()
                    } else {
                        format!("{name}\n{series}: {:.2} dB", p.y)
                    })
                })
                .x_axis_label("layer")
                .y_axis_label("SQNR dB")
                .show(ui, |p| {
                    p.line(Line::new("cumulative", PlotPoints::from(cum.clone())).width(2.0));
                    p.line(Line::new("local", PlotPoints::from(loc.clone())).width(2.0));
                    if let Some(s) = sel_layer {
                        p.vline(
                            egui_plot::VLine::new("selected", s as f64).color(egui::Color32::GRAY),
                        );
                    }
                    crate::app::plots::clicked_index(p)
                })
            });
            let resp = region.inner;
            if let Some(k) = resp.inner.filter(|&k| k < layers.len()) {
                clicked = Some(k);
            }
            export::plot_exports(
                ui,
                region.response.rect,
                &format!("layers_{}", export::stem(&res.comparison.image)),
                || csv::layers(layers),
                || serde_json::to_value(layers).unwrap_or_default(),
                ctx.status,
            );
            // Tall enough to read a dozen layers at once; the page scrolls past it.
            egui::ScrollArea::vertical()
                .id_salt("layer_list")
                .max_height((ui.available_height() * 0.5).max(260.0))
                .show(ui, |ui| {
                    for (k, l) in layers.iter().enumerate() {
                        let txt = format!(
                            "{k:>3}  op {:>3} {:<16} cumulative {:>7} dB  local {:>7} dB  {}",
                            l.op_index.map_or("-".into(), |v| v.to_string()),
                            l.op,
                            fmt_opt(l.cumulative.sqnr_db, 2),
                            fmt_opt(l.local.and_then(|m| m.sqnr_db), 2),
                            l.name
                        );
                        if ui
                            .add(
                                egui::Button::selectable(
                                    self.selected_layer == Some(k),
                                    egui::RichText::new(txt).monospace(),
                                )
                                .frame(false),
                            )
                            .clicked()
                        {
                            clicked = Some(k);
                        }
                    }
                });
        }
        if let Some(k) = clicked {
            self.selected_layer = Some(k);
            self.layer = None;
            self.layer_tex = None;
            self.start_layer(k, ctx.model, ctx.float, ctx.repaint);
        }
        self.layer_ui(ui);
    }

    fn layer_ui(&mut self, ui: &mut egui::Ui) {
        if let Some((li, j)) = &self.layer_job {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label(format!("layer {li}: {}", j.progress()));
            });
        }
        let Some((li, r)) = &self.layer else { return };
        let li = *li;
        let title = self
            .results
            .get(self.selected)
            .and_then(|r| r.as_ref().ok())
            .and_then(|r| r.comparison.layers.get(li))
            .map_or_else(|| format!("layer {li}"), |l| layer_title(li, l));
        match r {
            Err(e) => {
                ui.colored_label(ui.visuals().error_fg_color, format!("error: {e}"));
            }
            Ok(a) => {
                let (h, w, c) = a.dims();
                ui.strong(format!("{title}: activations {:?}", a.float.shape()));
                if c > 1 {
                    // Usable with hundreds of channels: a wide slider, arrows and a typed number.
                    ui.horizontal(|ui| {
                        let label = ui.label("channel");
                        if ui.small_button("<").clicked() {
                            self.layer_channel = self.layer_channel.saturating_sub(1);
                        }
                        ui.spacing_mut().slider_width =
                            (ui.available_width() - 260.0).clamp(120.0, 700.0);
                        ui.add(
                            egui::Slider::new(&mut self.layer_channel, 0..=c - 1).show_value(false),
                        )
                        .labelled_by(label.id);
                        if ui.small_button(">").clicked() {
                            self.layer_channel = (self.layer_channel + 1).min(c - 1);
                        }
                        ui.add(egui::DragValue::new(&mut self.layer_channel).range(0..=c - 1))
                            .labelled_by(label.id);
                        ui.weak(format!("of {c}"));
                        if ui
                            .small_button("worst")
                            .on_hover_text("the channel with the most error energy")
                            .clicked()
                        {
                            self.layer_channel = a.worst_channel();
                        }
                    });
                }
                let key = (li, self.layer_channel);
                if self.layer_tex.as_ref().map(|t| t.0) != Some(key) {
                    // Float and quantized share one colour range; the difference is symmetric
                    // around 0 (the library's slice of this channel).
                    let planes = a.channel(self.layer_channel);
                    let [f, q, d] = planes.heat_maps();
                    let ctx = ui.ctx().clone();
                    let t = |n: &str, im: &Rgb8| texture(&ctx, format!("layer_{n}_{li}"), im);
                    self.layer_tex = Some((key, [t("f", &f), t("q", &q), t("d", &d)], planes));
                }
                if let Some((_, tex, planes)) = &self.layer_tex {
                    let scale = (160.0 / h.max(w) as f32).max(1.0);
                    let size =
                        egui::vec2((w as f32 * scale).min(600.0), (h as f32 * scale).max(12.0));
                    ui.horizontal(|ui| {
                        for (t, n) in tex.iter().zip([
                            "float reference",
                            "quantized (dequantized)",
                            "difference float - quantized",
                        ]) {
                            ui.vertical(|ui| {
                                ui.label(n);
                                let r = ui.add(egui::Image::new((t.id(), size)).sense(egui::Sense::hover()));
                                // The pixel under the pointer: its three values, read from the
                                // library's planes.
                                if let Some(pos) = r.hover_pos() {
                                    let rel = (pos - r.rect.min) / r.rect.size();
                                    let x = ((rel.x * w as f32) as usize).min(w - 1);
                                    let y = ((rel.y * h as f32) as usize).min(h - 1);
                                    let k = y * w + x;
                                    r.on_hover_text(format!(
                                        "y {y}, x {x}\nfloat {:.5}\nquantized {:.5}\ndifference {:+.5}",
                                        planes.float[k], planes.quant[k], planes.diff[k]
                                    ));
                                }
                            });
                        }
                    });
                    ui.small(format!(
                        "colour range of this channel: activations [{:.4}, {:.4}] (viridis); difference ±{:.4} (blue - / red +)",
                        planes.range.0, planes.range.1, planes.diff_max
                    ));
                }
            }
        }
    }
}

/// "layer 37 (op #38 CONV_2D)": the list's layer number with the model's op number and type.
fn layer_title(k: usize, l: &crate::compare::LayerError) -> String {
    match l.op_index {
        Some(op) => format!("layer {k} (op #{op} {})", l.op),
        None => format!("layer {k} ({})", l.op),
    }
}
