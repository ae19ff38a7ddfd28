//! The selected image's result: the image and the exact input tensor of each model, then
//! each output (metrics, top-1 of both, the union of both top-k lists as bars).

use super::controls::pp_label;
use super::{texture, ComparePanel};
use crate::app::export;
use crate::app::plots::{category_grid, headroom, legend, page_plot};
use crate::app::{fmt_opt, plural, ViewCtx};
use crate::compare::view;
use crate::preprocess::{Layout, Prepared};
use crate::report::csv;
use eframe::egui;
use egui_plot::{Bar, BarChart};

impl ComparePanel {
    /// The selected image's result: the image, both input tensors, the outputs, then the
    /// per-layer error ([`Self::layers_ui`]).
    pub(super) fn result_ui(&mut self, ui: &mut egui::Ui, ctx: &ViewCtx) {
        let (quant, status) = (ctx.model, ctx.status);
        let sel = self.selected;
        let Some(res) = self.results.get(sel) else {
            ui.weak("running...");
            return;
        };
        let res = match res {
            Ok(r) => r,
            Err(e) => {
                ui.colored_label(ui.visuals().error_fg_color, format!("error: {e}"));
                return;
            }
        };
        ui.heading(&res.comparison.image);
        ui.weak(format!(
            "reference: {}; preprocessing: {}",
            res.comparison.reference,
            self.results_pp.as_ref().map(pp_label).unwrap_or_default()
        ));
        // The image and the exact input tensors.
        let key = (sel, self.results_gen);
        if self.input_tex.as_ref().map(|t| t.0) != Some(key) {
            let layout = self.results_pp.as_ref().map_or(Layout::Nhwc, |p| p.layout);
            let mk = |p: Option<&Prepared>, n: &str| {
                p.and_then(|p| view::input_pixels(&p.tensor, layout))
                    .map(|im| texture(ui.ctx(), format!("input_{n}_{sel}"), &im))
            };
            self.input_tex = Some((
                key,
                [
                    mk(res.float_input.as_ref(), "float"),
                    mk(Some(&res.quant_input), "quant"),
                ],
            ));
        }
        ui.horizontal(|ui| {
            let size = egui::vec2(128.0, 128.0);
            ui.vertical(|ui| {
                ui.label("image");
                if let Some(t) = &self.images.get(sel).and_then(|e| e.tex.clone()) {
                    ui.image((t.id(), size));
                }
            });
            if let Some((_, [ft, qt])) = &self.input_tex {
                for (t, n, p) in [
                    (ft, "float input tensor", res.float_input.as_ref()),
                    (qt, "quantized input tensor", Some(&res.quant_input)),
                ] {
                    if let Some(t) = t {
                        ui.vertical(|ui| {
                            ui.label(n);
                            ui.image((t.id(), size));
                            if let Some(p) = p {
                                let dt = view::input_dtype(&p.tensor);
                                // A float tensor has no levels to count.
                                ui.small(if p.levels_used == 0 {
                                    format!("{dt}, {:.1}% clipped", p.clipped_fraction * 100.0)
                                } else {
                                    format!(
                                        "{dt}, {} {}, {:.1}% clipped",
                                        p.levels_used,
                                        plural(p.levels_used, "level", "levels"),
                                        p.clipped_fraction * 100.0
                                    )
                                });
                            }
                        });
                    }
                }
            }
        });
        ui.separator();
        // Outputs.
        let mut spatial_layer = None;
        for o in &res.comparison.outputs {
            ui.strong(format!("output {} '{}' {:?}", o.index, o.name, o.shape));
            ui.label(format!(
                "SQNR {} dB, cosine {}, max |err| {:.5} ({} LSB){}{}",
                fmt_opt(o.metrics.sqnr_db, 2),
                fmt_opt(o.metrics.cosine, 5),
                o.metrics.max_abs_err,
                fmt_opt(o.metrics.max_abs_err_lsb, 1),
                if o.has_negative {
                    format!(", sign agreement {:.1}%", o.bit_accuracy * 100.0)
                } else {
                    String::new()
                },
                o.mask_iou
                    .map_or(String::new(), |v| format!(", mask IoU {v:.4}"))
            ));
            if let Some(c) = &o.classification {
                if let (Some(f), Some(q)) = (c.top_k_float.first(), c.top_k_quant.first()) {
                    ui.horizontal(|ui| {
                        ui.label(
                            egui::RichText::new(format!(
                                "float model top-1: {} ({:.3})",
                                f.name(),
                                f.score
                            ))
                            .size(16.0),
                        );
                        ui.label(
                            egui::RichText::new(format!(
                                "INT8 top-1: {} ({:.3})",
                                q.name(),
                                q.score
                            ))
                            .size(16.0),
                        );
                        if c.top1_agree {
                            ui.colored_label(
                                egui::Color32::from_rgb(60, 170, 60),
                                egui::RichText::new("top-1 agrees").size(16.0),
                            );
                        } else {
                            ui.colored_label(
                                ui.visuals().error_fg_color,
                                egui::RichText::new("top-1 DISAGREES").size(16.0),
                            );
                        }
                    });
                }
                ui.label(format!(
                    "top-k overlap {:.2}, KL {:.5}, max probability delta {:.4} ({})",
                    c.top_k_overlap, c.kl_divergence, c.max_prob_delta, c.probabilities_from
                ));
                // Top-k bars: the union of both top-k classes, float and quantized side by side.
                let classes = c.top_k_union();
                let fb: Vec<Bar> = classes
                    .iter()
                    .enumerate()
                    .map(|(k, r)| {
                        Bar::new(k as f64 - 0.2, r.float)
                            .width(0.4)
                            .name(format!("float {}", r.class))
                    })
                    .collect();
                let qb: Vec<Bar> = classes
                    .iter()
                    .enumerate()
                    .map(|(k, r)| {
                        Bar::new(k as f64 + 0.2, r.quant)
                            .width(0.4)
                            .name(format!("INT8 {}", r.class))
                    })
                    .collect();
                let names: Vec<String> = classes.iter().map(|r| r.class.clone()).collect();
                let resp = ui.vertical(|ui| {
                    ui.strong(format!(
                        "Top-{} scores of output {}: float and INT8",
                        classes.len(),
                        o.index
                    ));
                    page_plot(ctx.model, ("topk", o.index), 170.0)
                        .legend(legend())
                        .include_y(0.0)
                        .include_y(headroom(0.0, 1.0, 170.0, 2))
                        .y_axis_label("score")
                        .x_axis_formatter(crate::app::category_axis(names))
                        .x_grid_spacer(category_grid)
                        .show(ui, |p| {
                            p.bar_chart(
                                BarChart::new("float", fb)
                                    .color(egui::Color32::from_rgb(90, 140, 220)),
                            );
                            p.bar_chart(
                                BarChart::new("INT8", qb)
                                    .color(egui::Color32::from_rgb(230, 120, 40)),
                            );
                        })
                });
                export::plot_exports(
                    ui,
                    resp.response.rect,
                    &format!("topk_{}", export::stem(&res.comparison.image)),
                    || csv::top_k(&classes),
                    || serde_json::to_value(c).unwrap_or_default(),
                    status,
                );
            } else if o.is_spatial() {
                if let Some(li) = res.comparison.output_layer(quant, o.index) {
                    // A spatial output (mask, heat map) is shown as heat maps right away.
                    if ui.button("Show this output as heat maps").clicked()
                        || (self.selected_layer.is_none() && spatial_layer.is_none())
                    {
                        spatial_layer = Some(li);
                    }
                }
            }
            ui.add_space(6.0);
        }
        // A float model alone is its own twin: every layer would show "identical".
        if !ctx.float_alone {
            ui.separator();
            self.layers_ui(ui, ctx, spatial_layer);
        }
    }
}
