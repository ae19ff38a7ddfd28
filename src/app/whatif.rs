//! What-if: simulated quantization of a float model's weights (`quant::analyze` with
//! `Options::simulate`): pick a scheme (int8/int4; per channel, per tensor or blockwise
//! 32/64/128), see the per-tensor error and the chosen tensor's plots (per-block for blockwise).

use super::export;
use super::jobs::Job;
use super::plots::{category_grid, clicked_index, headroom, page_plot};
use super::tensor_detail::analysis_ui;
use super::{fmt_opt, ViewCtx};
use crate::model::human_bytes;
use crate::model::Model;
use crate::quant::{self, Bits, Clip, Scheme, WeightsReport};
use crate::report::csv;
use eframe::egui;
use egui_plot::{Bar, BarChart};
use std::sync::Arc;

pub struct WhatIfPanel {
    pub scheme: Scheme,
    percentile: f64,
    /// None = whole model.
    pub tensor: Option<usize>,
    pub report: Option<Result<Arc<WeightsReport>, String>>,
    report_scheme: Option<Scheme>,
    model_key: usize,
    job: Option<(Scheme, Job<WeightsReport>)>,
}

impl Default for WhatIfPanel {
    fn default() -> Self {
        WhatIfPanel {
            scheme: Scheme::default(),
            percentile: 99.99,
            tensor: None,
            report: None,
            report_scheme: None,
            model_key: 0,
            job: None,
        }
    }
}

impl WhatIfPanel {
    pub fn is_running(&self) -> bool {
        self.job.is_some()
    }

    /// Takes a finished simulation (waiting for it when `block`); true when one finished.
    pub fn collect(&mut self, block: bool) -> bool {
        let Some((s, j)) = &mut self.job else {
            return false;
        };
        let Some(r) = j.take(block) else {
            return false;
        };
        self.report = Some(r.map(Arc::new));
        self.report_scheme = Some(*s);
        self.job = None;
        true
    }

    /// The last simulation's report, for the app's export.
    pub fn report(&self) -> Option<&WeightsReport> {
        match &self.report {
            Some(Ok(r)) => Some(r),
            _ => None,
        }
    }

    fn start(&mut self, model: &Arc<Model>, repaint: Option<&egui::Context>) {
        if let Some((_, j)) = self.job.take() {
            j.cancel();
        }
        let m = model.clone();
        let scheme = self.scheme;
        self.job = Some((
            scheme,
            Job::spawn(
                format!("simulating {scheme}"),
                repaint.cloned(),
                move |jc| {
                    jc.set_progress("quantizing the float weights in simulation");
                    quant::analyze(
                        &m,
                        None,
                        &quant::Options {
                            simulate: Some(scheme),
                            channel_histograms: false,
                        },
                    )
                    .map_err(|e| e.to_string())
                },
            ),
        ));
    }

    /// `model`: the float model to quantize in simulation and how to name it.
    pub fn ui(&mut self, ui: &mut egui::Ui, ctx: &ViewCtx, model: Option<(&Arc<Model>, &str)>) {
        let (repaint, status) = (ctx.repaint, ctx.status);
        self.collect(false);
        let Some((model, name)) = model else {
            ui.label("What-if simulates quantizing a float model's weights. Open a float (or float16) model, or pair this model with its float original.");
            return;
        };
        let mk = Arc::as_ptr(model) as usize;
        if mk != self.model_key {
            self.model_key = mk;
            self.report = None;
            self.report_scheme = None;
            self.tensor = None;
        }
        let before = self.scheme;
        ui.horizontal_wrapped(|ui| {
            ui.label(format!("simulate on {name}:"));
            ui.selectable_value(&mut self.scheme.bits, Bits::Int8, "int8");
            ui.selectable_value(&mut self.scheme.bits, Bits::Int4, "int4");
            ui.separator();
            // Granularity: per channel, per tensor, or blocks of 32/64/128 along a row.
            let mut g = (self.scheme.per_channel, self.scheme.block_size);
            ui.selectable_value(&mut g, (true, None), "per-channel");
            ui.selectable_value(&mut g, (false, None), "per-tensor");
            for bs in [32, 64, 128] {
                ui.selectable_value(&mut g, (true, Some(bs)), format!("blockwise-{bs}"))
                    .on_hover_text("one float16 scale per block of a row, symmetric, min-max (AI Edge Quantizer's BLOCKWISE)");
            }
            (self.scheme.per_channel, self.scheme.block_size) = g;
            let blockwise = self.scheme.block_size.is_some();
            if blockwise {
                // Blockwise is symmetric min-max only (the quantizer and TFLite's kernels).
                self.scheme.symmetric = true;
                self.scheme.clip = Clip::MinMax;
            }
            ui.separator();
            ui.add_enabled(
                !blockwise,
                egui::Checkbox::new(&mut self.scheme.symmetric, "symmetric"),
            );
            ui.separator();
            ui.label("clipping");
            let is_pct = matches!(self.scheme.clip, Clip::Percentile(_));
            if ui
                .selectable_label(self.scheme.clip == Clip::MinMax, "min-max")
                .clicked()
            {
                self.scheme.clip = Clip::MinMax;
            }
            if ui
                .add_enabled(
                    !blockwise,
                    egui::Button::selectable(self.scheme.clip == Clip::Mse, "MSE"),
                )
                .clicked()
            {
                self.scheme.clip = Clip::Mse;
            }
            if ui
                .add_enabled(!blockwise, egui::Button::selectable(is_pct, "percentile"))
                .clicked()
            {
                self.scheme.clip = Clip::Percentile(self.percentile);
            }
            if is_pct
                && ui
                    .add(
                        egui::DragValue::new(&mut self.percentile)
                            .range(90.0..=100.0)
                            .speed(0.01)
                            .suffix(" %"),
                    )
                    .on_hover_text("percentile")
                    .changed()
            {
                self.scheme.clip = Clip::Percentile(self.percentile);
            }
        });
        let stale = self.report_scheme != Some(self.scheme);
        if (self.scheme != before || stale)
            && self.job.as_ref().is_none_or(|(s, _)| *s != self.scheme)
        {
            self.start(model, repaint);
        }
        if let Some((_, j)) = &self.job {
            j.status_ui(ui);
        }
        let report = match &self.report {
            None => return,
            Some(Err(e)) => {
                ui.colored_label(ui.visuals().error_fg_color, format!("error: {e}"));
                return;
            }
            Some(Ok(r)) => r.clone(),
        };
        if let Some(s) = self.report_scheme {
            ui.label(format!(
                "{s}: overall weights SQNR {} dB over {} tensors; {} of constants would become {}",
                fmt_opt(report.rollup.overall_sqnr_db, 2),
                report.rollup.tensors_compared,
                human_bytes(report.rollup.constant_bytes),
                report
                    .rollup
                    .simulated_bytes
                    .map_or("-".into(), human_bytes)
            ));
        }
        let simulated: Vec<usize> = (0..report.tensors.len())
            .filter(|&k| report.tensors[k].errors.sqnr_db.is_some())
            .collect();
        ui.horizontal(|ui| {
            let lab = ui.label("tensor:");
            egui::ComboBox::from_id_salt("whatif_tensor")
                .width(420.0)
                .selected_text(
                    self.tensor
                        .and_then(|k| report.tensors.get(k))
                        .map_or("whole model".into(), |t| t.tensor.to_string()),
                )
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut self.tensor, None, "whole model");
                    for &k in &simulated {
                        let t = &report.tensors[k];
                        ui.selectable_value(
                            &mut self.tensor,
                            Some(k),
                            format!("{} ({} dB)", t.tensor, fmt_opt(t.errors.sqnr_db, 1)),
                        );
                    }
                })
                .response
                .labelled_by(lab.id);
        });
        egui::ScrollArea::vertical()
            .id_salt("whatif_scroll")
            .auto_shrink(false)
            .show(ui, |ui| {
                match self.tensor.and_then(|k| report.tensors.get(k)) {
                    Some(ta) => analysis_ui(ui, ctx.model, "whatif", ta, None, status),
                    None => {
                        let ymax = simulated
                            .iter()
                            .filter_map(|&k| report.tensors[k].errors.sqnr_db)
                            .filter(|v| v.is_finite())
                            .fold(0.0, f64::max);
                        let bars: Vec<Bar> = simulated
                            .iter()
                            .enumerate()
                            .map(|(x, &k)| {
                                let t = &report.tensors[k];
                                Bar::new(x as f64, t.errors.sqnr_db.unwrap_or(0.0))
                                    .width(0.8)
                                    .name(t.tensor.to_string())
                            })
                            .collect();
                        let r = ui.vertical(|ui| {
                            ui.strong(
                                "SQNR per weight tensor (dB); click a bar to open the tensor",
                            );
                            page_plot(ctx.model, "whatif_sqnr", 220.0)
                                .include_y(0.0)
                                .include_y(headroom(0.0, ymax, 220.0, 0))
                                .x_axis_label("weight tensor")
                                .x_grid_spacer(category_grid)
                                .y_axis_label("SQNR dB")
                                .show(ui, |p| {
                                    p.bar_chart(BarChart::new("SQNR", bars));
                                    clicked_index(p)
                                })
                        });
                        let resp = r.inner;
                        if let Some(x) = resp.inner.and_then(|x| simulated.get(x)) {
                            self.tensor = Some(*x);
                        }
                        export::plot_exports(
                            ui,
                            r.response.rect,
                            "whatif_sqnr",
                            || {
                                let ts: Vec<_> =
                                    simulated.iter().map(|&k| &report.tensors[k]).collect();
                                csv::tensor_errors(&ts)
                            },
                            || serde_json::to_value(report.as_ref()).unwrap_or_default(),
                            status,
                        );
                        ui.strong("Worst tensors");
                        for w in report.rollup.worst.iter().take(10) {
                            ui.label(format!(
                                "{} - {} dB{}",
                                w.tensor,
                                fmt_opt(w.sqnr_db, 2),
                                w.role.as_ref().map_or(String::new(), |r| format!(" ({r})"))
                            ));
                        }
                    }
                }
            });
    }
}
