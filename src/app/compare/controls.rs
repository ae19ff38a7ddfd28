//! The preprocessing controls (resize, filter, channel order, layout, value mapping) and what
//! the library said about them: warnings, the detector's reasons, other settings tried.

use super::ComparePanel;
use crate::app::fmt_opt;
use crate::preprocess::{ChannelOrder, Filter, Layout, Preprocess, ResizeMode, ValueRange};
use eframe::egui;

pub(super) fn pp_label(pp: &Preprocess) -> String {
    format!(
        "{:?} {:?} {:?} {:?} {}",
        pp.resize,
        pp.filter,
        pp.channels,
        pp.layout,
        pp.range.label()
    )
}

impl ComparePanel {
    pub(super) fn controls(&mut self, ui: &mut egui::Ui) {
        let Some(pp) = &mut self.pp else { return };
        let before = pp.clone();
        egui::Grid::new("pp_controls")
            .num_columns(2)
            .show(ui, |ui| {
                let lab = ui.label("resize");
                egui::ComboBox::from_id_salt("resize")
                    .selected_text(format!("{:?}", pp.resize))
                    .show_ui(ui, |ui| {
                        for m in [
                            ResizeMode::Stretch,
                            ResizeMode::CenterCrop,
                            ResizeMode::Letterbox,
                        ] {
                            ui.selectable_value(&mut pp.resize, m, format!("{m:?}"));
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
                let lab = ui.label("filter");
                egui::ComboBox::from_id_salt("filter")
                    .selected_text(format!("{:?}", pp.filter))
                    .show_ui(ui, |ui| {
                        for f in [Filter::Nearest, Filter::Bilinear, Filter::Area] {
                            ui.selectable_value(&mut pp.filter, f, format!("{f:?}"));
                        }
                    })
                    .response
                    .labelled_by(lab.id);
                ui.end_row();
                ui.label("channel order");
                ui.horizontal(|ui| {
                    ui.radio_value(&mut pp.channels, ChannelOrder::Rgb, "RGB");
                    ui.radio_value(&mut pp.channels, ChannelOrder::Bgr, "BGR");
                });
                ui.end_row();
                ui.label("layout");
                ui.horizontal(|ui| {
                    ui.radio_value(&mut pp.layout, Layout::Nhwc, "NHWC");
                    ui.radio_value(&mut pp.layout, Layout::Nchw, "NCHW");
                });
                ui.end_row();
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
        if *pp != before {
            let mut note = |what: &str, v: String| {
                self.user_set.retain(|s| !s.starts_with(what));
                self.user_set.push(format!("{what} {v} set in the app"));
            };
            if pp.channels != before.channels {
                note("channel order", format!("{:?}", pp.channels));
            }
            if pp.layout != before.layout {
                note("layout", format!("{:?}", pp.layout));
            }
            if pp.range != before.range {
                note("value mapping", pp.range.label());
            }
            if pp.resize != before.resize || pp.crop_fraction != before.crop_fraction {
                note("resize", format!("{:?}", pp.resize));
            }
            if pp.filter != before.filter {
                note("filter", format!("{:?}", pp.filter));
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
                        ui.label(format!("{:?}", a.channels));
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
