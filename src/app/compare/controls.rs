//! The preprocessing controls (pipeline preset, resize, resize library and filter, crop rule,
//! shorter side, EXIF, channel order, layout, value mapping) and what the library said about
//! them: warnings, the detector's reasons, other settings tried.

use super::ComparePanel;
use crate::app::fmt_opt;
use crate::model::Model;
use crate::preprocess::{
    apply_preset, ChannelOrder, CropRule, Exif, InputSpec, Layout, Preprocess, ResizeLib,
    ResizeMode, ValueRange, PRESETS,
};
use eframe::egui;

pub(super) fn pp_label(pp: &Preprocess) -> String {
    format!(
        "{}{}, {} {}, {}, {}, {}",
        pp.pipeline
            .as_ref()
            .map_or(String::new(), |p| format!("[{p}] ")),
        pp.resize,
        pp.resize_lib.name(),
        pp.filter,
        pp.channels,
        pp.layout,
        pp.range.label()
    )
}

impl ComparePanel {
    pub(super) fn controls(&mut self, ui: &mut egui::Ui, quant: &Model) {
        let Some(pp) = &mut self.pp else { return };
        let before = pp.clone();
        let mut preset = None;
        egui::Grid::new("pp_controls")
            .num_columns(2)
            .show(ui, |ui| {
                let lab = ui.label("pipeline");
                egui::ComboBox::from_id_salt("pipeline")
                    .selected_text(pp.pipeline.clone().unwrap_or_else(|| "(custom)".into()))
                    .show_ui(ui, |ui| {
                        for p in &PRESETS {
                            if ui
                                .selectable_label(pp.pipeline.as_deref() == Some(p.name), p.name)
                                .on_hover_text(p.recipe)
                                .clicked()
                            {
                                preset = Some(p.name);
                            }
                        }
                    })
                    .response
                    .labelled_by(lab.id);
                ui.end_row();
                let lab = ui.label("resize");
                egui::ComboBox::from_id_salt("resize")
                    .selected_text(pp.resize.to_string())
                    .show_ui(ui, |ui| {
                        for m in [
                            ResizeMode::Stretch,
                            ResizeMode::CenterCrop,
                            ResizeMode::Letterbox,
                        ] {
                            ui.selectable_value(&mut pp.resize, m, m.to_string());
                        }
                    })
                    .response
                    .labelled_by(lab.id);
                ui.end_row();
                if pp.resize == ResizeMode::CenterCrop {
                    ui.label("crop fraction");
                    ui.add(egui::Slider::new(&mut pp.crop_fraction, 0.3..=1.0));
                    ui.end_row();
                }
                if pp.resize == ResizeMode::CenterCrop {
                    let lab = ui.label("crop rule");
                    let usual = format!("usual for {}", pp.resize_lib.name());
                    egui::ComboBox::from_id_salt("crop_rule")
                        .selected_text(pp.crop_rule.map_or(usual.clone(), |r| r.to_string()))
                        .show_ui(ui, |ui| {
                            ui.selectable_value(&mut pp.crop_rule, None, usual);
                            for r in [CropRule::Floor, CropRule::Round, CropRule::TfCentral] {
                                ui.selectable_value(&mut pp.crop_rule, Some(r), r.to_string());
                            }
                        })
                        .response
                        .labelled_by(lab.id);
                    ui.end_row();
                    ui.label("shorter side first");
                    ui.horizontal(|ui| {
                        let mut on = pp.shorter_side.is_some();
                        if ui.checkbox(&mut on, "").changed() {
                            pp.shorter_side = on.then_some(256);
                        }
                        if let Some(n) = &mut pp.shorter_side {
                            ui.add(egui::DragValue::new(n).range(1..=8192));
                        }
                    });
                    ui.end_row();
                }
                let lab = ui.label("resize library");
                egui::ComboBox::from_id_salt("resize_lib")
                    .selected_text(pp.resize_lib.name())
                    .show_ui(ui, |ui| {
                        for l in ResizeLib::ALL {
                            ui.selectable_value(&mut pp.resize_lib, l, l.name());
                        }
                    })
                    .response
                    .labelled_by(lab.id);
                ui.end_row();
                // Keep the filter one the library has.
                let filters = pp.resize_lib.filters();
                if !filters.iter().any(|(f, _)| *f == pp.filter) {
                    pp.filter = filters[0].0;
                }
                let lab = ui.label("filter");
                egui::ComboBox::from_id_salt("filter")
                    .selected_text(pp.filter.to_string())
                    .show_ui(ui, |ui| {
                        for &(f, name) in filters {
                            ui.selectable_value(&mut pp.filter, f, f.to_string())
                                .on_hover_text(name);
                        }
                    })
                    .response
                    .labelled_by(lab.id);
                ui.end_row();
                radio_row(
                    ui,
                    "EXIF orientation",
                    &mut pp.exif,
                    &[(Exif::Apply, "apply"), (Exif::Ignore, "ignore")],
                );
                radio_row(
                    ui,
                    "channel order",
                    &mut pp.channels,
                    &[(ChannelOrder::Rgb, "RGB"), (ChannelOrder::Bgr, "BGR")],
                );
                radio_row(
                    ui,
                    "layout",
                    &mut pp.layout,
                    &[(Layout::Nhwc, "NHWC"), (Layout::Nchw, "NCHW")],
                );
                let lab = ui.label("values");
                egui::ComboBox::from_id_salt("range")
                    .selected_text(pp.range.label())
                    .show_ui(ui, |ui| {
                        for r in ValueRange::presets() {
                            let l = r.label();
                            ui.selectable_value(&mut pp.range, r, l);
                        }
                    })
                    .response
                    .labelled_by(lab.id);
                ui.end_row();
                let (mut m, mut s) = pp.range.mean_std();
                let lab = ui.label("mean (0..255)");
                let mut changed = false;
                ui.horizontal(|ui| {
                    for v in m.iter_mut() {
                        changed |= ui
                            .add(egui::DragValue::new(v).speed(0.5))
                            .labelled_by(lab.id)
                            .changed();
                    }
                });
                ui.end_row();
                let lab = ui.label("std (0..255)");
                ui.horizontal(|ui| {
                    for v in s.iter_mut() {
                        changed |= ui
                            .add(egui::DragValue::new(v).speed(0.5).range(0.001..=1000.0))
                            .labelled_by(lab.id)
                            .changed();
                    }
                });
                ui.end_row();
                if changed {
                    if let Ok(r) = ValueRange::custom(&m, &s) {
                        pp.range = r;
                    }
                }
            });
        if let Some(name) = preset {
            let (w, h) = InputSpec::from_model(quant, 0, Some(pp.layout))
                .map_or((224, 224), |s| (s.width, s.height));
            if let Ok(steps) = apply_preset(name, pp, w, h) {
                self.user_set.retain(|s| !s.starts_with("pipeline"));
                for st in steps {
                    self.user_set.push(format!("pipeline {name}: {st}"));
                }
            }
        } else if *pp != before {
            // Any step changed by hand: the settings are no longer the preset's.
            pp.pipeline = None;
        }
        if *pp != before {
            let mut note = |what: &str, v: String| {
                self.user_set.retain(|s| !s.starts_with(what));
                self.user_set.push(format!("{what} {v} set in the app"));
            };
            if pp.channels != before.channels {
                note("channel order", pp.channels.to_string());
            }
            if pp.layout != before.layout {
                note("layout", pp.layout.to_string());
            }
            if pp.range != before.range {
                note("value mapping", pp.range.label());
            }
            if pp.resize != before.resize || pp.crop_fraction != before.crop_fraction {
                note("resize", pp.resize.to_string());
            }
            if pp.filter != before.filter {
                note("filter", pp.filter.to_string());
            }
            if pp.resize_lib != before.resize_lib {
                note("resize library", pp.resize_lib.name().to_string());
            }
            if pp.crop_rule != before.crop_rule {
                note(
                    "crop rule",
                    pp.crop_rule
                        .map_or("the pipeline's".into(), |r| r.to_string()),
                );
            }
            if pp.shorter_side != before.shorter_side {
                note(
                    "shorter side",
                    pp.shorter_side
                        .map_or("not set".into(), |v| format!("{v} px")),
                );
            }
            if pp.exif != before.exif {
                note("EXIF orientation", pp.exif.to_string());
            }
            self.need_run = true;
        }
        if ui.button("Reset to detected defaults").clicked() {
            self.model_key = (0, 0);
        }
    }

    /// Warnings for the selected image, why these settings, and the alternatives tried.
    pub(super) fn findings_ui(&mut self, ui: &mut egui::Ui) {
        let warnings = self.warnings();
        let prep_warn: Vec<String> = match self.results.get(self.selected) {
            Some(Ok(r)) => r
                .float_input
                .iter()
                .flat_map(|p| p.warnings.clone())
                .filter(|w| !warnings.contains(w))
                .collect(),
            _ => Vec::new(),
        };
        if warnings.is_empty() && prep_warn.is_empty() {
            if matches!(self.results.get(self.selected), Some(Ok(_))) {
                ui.colored_label(
                    egui::Color32::from_rgb(60, 170, 60),
                    "no preprocessing warnings",
                );
            }
        } else {
            ui.strong("Warnings");
            for w in warnings.iter().chain(&prep_warn) {
                ui.colored_label(ui.visuals().warn_fg_color, format!("warning: {w}"));
            }
        }
        ui.separator();
        ui.strong("Why these settings");
        for w in self.why.iter().chain(&self.user_set) {
            ui.label(format!("- {w}"));
        }
        if let Some(Ok(r)) = self.results.get(self.selected) {
            let pending = r.comparison.alternatives_tried.starts_with("pending");
            if pending && self.alternatives_pending() {
                ui.separator();
                ui.horizontal_wrapped(|ui| {
                    ui.spinner();
                    ui.label("trying other settings (channel order, value range)...");
                    if ui.small_button("Cancel").clicked() {
                        if let Some(j) = &self.job {
                            j.cancel();
                        }
                    }
                });
            }
            if !r.comparison.alternatives.is_empty() {
                ui.separator();
                ui.strong("Other settings tried");
                egui::Grid::new("alts").striped(true).show(ui, |ui| {
                    for h in [
                        "channels", "values", "top-1", "SQNR dB", "float p", "clipped",
                    ] {
                        ui.strong(h);
                    }
                    ui.end_row();
                    for a in &r.comparison.alternatives {
                        ui.label(a.channels.to_string());
                        ui.label(&a.range);
                        ui.label(match a.top1_agree {
                            Some(true) => "agree",
                            Some(false) => "differ",
                            None => "-",
                        });
                        ui.label(fmt_opt(a.output_sqnr_db, 1));
                        ui.label(fmt_opt(a.float_top1_prob, 2));
                        ui.label(format!("{:.1}%", a.input_clipped_fraction * 100.0));
                        ui.end_row();
                    }
                });
            }
        }
    }
}

/// One grid row: `label`, then a radio button per choice of `value`.
fn radio_row<T: PartialEq + Copy>(
    ui: &mut egui::Ui,
    label: &str,
    value: &mut T,
    choices: &[(T, &str)],
) {
    ui.label(label);
    ui.horizontal(|ui| {
        for &(v, text) in choices {
            ui.radio_value(value, v, text);
        }
    });
    ui.end_row();
}
