//! "Match my tensor...": the tensor a user's app fed the model for the selected image is matched
//! to the pipeline that made it, off the UI thread ([`crate::compare::pipeline_match`]); shown
//! are the ranked pipelines, what each step where the current one differs costs (input levels,
//! top-1 flips, output SQNR) and the two input tensors with their difference as images.

use super::{texture, ComparePanel};
use crate::app::fmt_opt;
use crate::app::jobs::Job;
use crate::compare::pipeline_match::{
    accepts, match_pipeline, tensor_images, MatchPhoto, PipelineMatch,
};
use crate::compare::Rgb8;
use crate::model::Model;
use crate::preprocess::InputSpec;
use eframe::egui;
use std::path::PathBuf;
use std::sync::Arc;

/// A finished match with its images (user's tensor, current pipeline's, difference).
pub struct MatchView {
    pub report: PipelineMatch,
    pub images: [Rgb8; 3],
    /// The largest |difference| in the tensor's units (the difference map's scale).
    pub max_diff: f32,
}

#[derive(Default)]
pub struct MatchState {
    /// The .npy path (typed, or from the file dialog).
    pub path: String,
    job: Option<Job<MatchView>>,
    pub result: Option<Result<MatchView, String>>,
    tex: Option<[egui::TextureHandle; 3]>,
}

impl MatchState {
    pub fn is_running(&self) -> bool {
        self.job.is_some()
    }
}

impl ComparePanel {
    /// Starts matching the tensor at `path` against the selected image with the current
    /// preprocessing (what the button does).
    pub fn start_match(
        &mut self,
        path: PathBuf,
        quant: &Arc<Model>,
        float: Option<&Arc<Model>>,
        repaint: Option<&egui::Context>,
    ) {
        let (Some(pp), Some(e)) = (self.pp.clone(), self.images.get(self.selected)) else {
            return;
        };
        let (name, raw, oriented) = (e.name.clone(), e.raw.clone(), e.rgb.clone());
        let (quant, float) = (quant.clone(), float.cloned());
        if let Some(j) = self.matching.job.take() {
            j.cancel();
        }
        self.matching.result = None;
        self.matching.tex = None;
        self.matching.job = Some(Job::spawn(
            format!("matching {}", path.display()),
            repaint.cloned(),
            move |jc| {
                let tensor = crate::engine::npy::read(&path)
                    .and_then(|v| v.to_f32_lossy())
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                let photos = [MatchPhoto {
                    name,
                    raw: (*raw).clone(),
                    oriented: (*oriented).clone(),
                    tensor,
                }];
                let model = match &float {
                    Some(f) if accepts(f, &photos) && !accepts(&quant, &photos) => f,
                    _ => &quant,
                };
                jc.set_progress("trying every pipeline");
                let report = match_pipeline(
                    model,
                    &path.display().to_string(),
                    &photos,
                    &pp,
                    jc.engine_options("matching"),
                )
                .map_err(|e| e.to_string())?;
                let spec =
                    InputSpec::from_model(model, 0, Some(pp.layout)).map_err(|e| e.to_string())?;
                let (images, max_diff) =
                    tensor_images(&photos[0], &spec, &pp).map_err(|e| e.to_string())?;
                Ok(MatchView {
                    report,
                    images,
                    max_diff,
                })
            },
        ));
    }

    /// Collects a finished match (waiting for it when `block`); true when one finished.
    pub(super) fn collect_match(&mut self, block: bool) -> bool {
        match self.matching.job.as_mut().and_then(|j| j.take(block)) {
            Some(r) => {
                self.matching.job = None;
                self.matching.result = Some(r);
                self.matching.tex = None;
                true
            }
            None => false,
        }
    }

    pub(super) fn match_ui(
        &mut self,
        ui: &mut egui::Ui,
        quant: &Arc<Model>,
        float: Option<&Arc<Model>>,
        repaint: Option<&egui::Context>,
    ) {
        ui.strong("Match my tensor");
        ui.small("the tensor your app fed the model for the selected image (.npy)");
        ui.horizontal(|ui| {
            let lab = ui.label("npy");
            ui.add(
                egui::TextEdit::singleline(&mut self.matching.path)
                    .desired_width(180.0)
                    .hint_text("/path/to/app_input.npy"),
            )
            .labelled_by(lab.id);
            if ui.button("Browse...").clicked() {
                if let Some(f) = rfd::FileDialog::new()
                    .add_filter("numpy", &["npy"])
                    .pick_file()
                {
                    self.matching.path = f.display().to_string();
                }
            }
        });
        let path = PathBuf::from(self.matching.path.trim());
        if ui
            .add_enabled(
                !self.matching.path.trim().is_empty() && self.matching.job.is_none(),
                egui::Button::new("Match my tensor..."),
            )
            .clicked()
        {
            self.start_match(path, quant, float, repaint);
        }
        if let Some(j) = &self.matching.job {
            j.status_ui(ui);
        }
        match &self.matching.result {
            None => {}
            Some(Err(e)) => {
                ui.colored_label(ui.visuals().error_fg_color, format!("error: {e}"));
            }
            Some(Ok(v)) => {
                let tex = self.matching.tex.get_or_insert_with(|| {
                    let names = ["match_user", "match_ours", "match_diff"];
                    [0, 1, 2].map(|k| texture(ui.ctx(), names[k].into(), &v.images[k]))
                });
                match_result_ui(ui, v, tex);
            }
        }
    }
}

fn match_result_ui(ui: &mut egui::Ui, v: &MatchView, tex: &[egui::TextureHandle; 3]) {
    let r = &v.report;
    let Some(p) = r.per_photo.first() else {
        return;
    };
    ui.label(if p.report.reproduced {
        format!("reproduced exactly ({} pipelines tried)", p.report.tried)
    } else {
        format!(
            "no exact reproduction; closest first ({} pipelines tried)",
            p.report.tried
        )
    });
    egui::Grid::new("match_ranked")
        .striped(true)
        .show(ui, |ui| {
            for h in ["#", "pipeline", "max lv", "mean lv"] {
                ui.strong(h);
            }
            ui.end_row();
            for (i, c) in p.report.ranked.iter().take(5).enumerate() {
                ui.label(format!("{}", i + 1));
                ui.label(&c.label);
                ui.label(format!("{:.2}", c.distance.max_pixel_levels));
                ui.label(format!("{:.3}", c.distance.mean_pixel_levels));
                ui.end_row();
            }
            ui.label("now");
            ui.label(&p.report.current.label);
            ui.label(format!("{:.2}", p.report.current.distance.max_pixel_levels));
            ui.label(format!(
                "{:.3}",
                p.report.current.distance.mean_pixel_levels
            ));
            ui.end_row();
        });
    ui.label(format!(
        "model output on your tensor: top-1 class {}; current pipeline: top-1 {} ({}), output SQNR {} dB",
        p.user_top1,
        p.current.top1,
        if p.current.top1_flip { "flipped" } else { "same" },
        fmt_opt(p.current.output_sqnr_db, 1)
    ));
    if !r.steps.is_empty() {
        ui.strong("Each differing step alone");
        egui::Grid::new("match_steps").striped(true).show(ui, |ui| {
            for h in ["step", "yours", "current", "mean lv", "top-1", "SQNR dB"] {
                ui.strong(h);
            }
            ui.end_row();
            for s in &r.steps {
                ui.label(&s.step);
                ui.label(s.matched.join(" / "));
                ui.label(&s.current);
                ui.label(format!("{:.3}", s.cost.mean_pixel_levels));
                ui.label(if s.cost.top1_flips > 0 {
                    "flips"
                } else {
                    "same"
                });
                ui.label(fmt_opt(s.cost.output_sqnr_db, 1));
                ui.end_row();
            }
        });
    }
    ui.horizontal(|ui| {
        let size = egui::vec2(128.0, 128.0);
        for (t, n) in tex.iter().zip([
            "your tensor".to_string(),
            "current pipeline".to_string(),
            format!("difference (max {:.2})", v.max_diff),
        ]) {
            ui.vertical(|ui| {
                ui.label(n);
                ui.image((t.id(), size));
            });
        }
    });
}
