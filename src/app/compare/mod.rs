//! Compare: images through the float model (or the INT8 model's float twin) and the quantized
//! model side by side - the image, preprocessing controls with the detector's reasons and
//! warnings, the exact input tensor of each model, top-k for both, and per-layer error
//! (cumulative and local SQNR) where a click shows both activations and their difference.
//!
//! Files: this one holds the panel's state, its runs and the image strip; [`controls`] the
//! preprocessing controls and what the detector said; [`outputs`] the image, input tensors
//! and outputs; [`layers`] the per-layer error and the activation heat maps. Every number,
//! slice and colour comes from [`crate::compare`] and [`crate::report`].

mod controls;
mod layers;
mod matching;
mod outputs;

use super::jobs::Job;
use super::ViewCtx;
use crate::compare::{Comparator, CompareOptions, ComparedImage, LayerActivations, Rgb8};
use crate::model::Model;
use crate::preprocess::{
    detect_defaults, load_image_bytes, load_image_bytes_with, ChannelOrder, Exif, ImageLimits,
    Preprocess, ValueRange,
};
use crate::report::CompareReport;
use eframe::egui;
use image::RgbImage;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

pub struct ImageEntry {
    pub name: String,
    /// Decoded with EXIF orientation applied.
    pub rgb: Arc<RgbImage>,
    /// Decoded without it (`--exif ignore`, as PIL.Image.open does).
    pub raw: Arc<RgbImage>,
    tex: Option<egui::TextureHandle>,
}

type RunResult = Vec<Result<ComparedImage, String>>;

#[derive(Default)]
pub struct ComparePanel {
    pub images: Vec<ImageEntry>,
    pub selected: usize,
    pub pp: Option<Preprocess>,
    why: Vec<String>,
    user_set: Vec<String>,
    pub detect_error: Option<String>,
    model_key: (usize, usize),
    /// One result per image: the comparison and the exact input tensors fed to each model.
    pub results: RunResult,
    /// The comparisons that succeeded with their aggregate, computed when `results` change.
    report: Option<CompareReport>,
    /// The preprocessing the results were computed with.
    results_pp: Option<Preprocess>,
    job: Option<Job<RunResult>>,
    need_run: bool,
    pub image_errors: Vec<String>,
    pub selected_layer: Option<usize>,
    /// "Add images..." found no native dialog: the app shows its path field instead.
    pub wants_path_field: bool,
    layer_job: Option<(usize, Job<LayerActivations>)>,
    layer: Option<(usize, Result<LayerActivations, String>)>,
    pub layer_channel: usize,
    pending_layer: Option<usize>,
    /// The shown layer channel's textures and the library's planes (colour ranges, and the
    /// values a hovered pixel reports).
    layer_tex: Option<(
        (usize, usize),
        [egui::TextureHandle; 3],
        crate::compare::ChannelPlanes,
    )>,
    /// Input previews keyed by (selected image, results generation) so a finished run replaces
    /// them (they once lagged one run behind).
    input_tex: Option<((usize, u64), [Option<egui::TextureHandle>; 2])>,
    /// Bumped whenever `results` are replaced.
    results_gen: u64,
    /// "Match my tensor...": its path, job and result.
    pub matching: matching::MatchState,
    /// Test hook: while this is true, a run holds before trying other preprocessing settings
    /// (after its main results were handed over), so a test can see them first.
    pub hold_alternatives: Option<Arc<AtomicBool>>,
}

/// Uploads a library image as a texture.
fn texture(ctx: &egui::Context, name: String, im: &Rgb8) -> egui::TextureHandle {
    let ci = egui::ColorImage::from_rgb([im.width, im.height], &im.pixels);
    ctx.load_texture(name, ci, egui::TextureOptions::NEAREST)
}

impl ComparePanel {
    pub fn add_image(&mut self, name: String, bytes: &[u8]) {
        let raw = load_image_bytes_with(bytes, ImageLimits::default(), Exif::Ignore);
        match load_image_bytes(bytes, ImageLimits::default()).and_then(|img| Ok((img, raw?))) {
            Ok((img, raw)) => {
                self.images.push(ImageEntry {
                    name,
                    rgb: Arc::new(img),
                    raw: Arc::new(raw),
                    tex: None,
                });
                self.selected = self.images.len() - 1;
                self.need_run = true;
            }
            Err(e) => self.image_errors.push(format!("{name}: {e}")),
        }
    }

    /// Run again with the current preprocessing, overrides kept: the Rerun button and F5 (one
    /// action, one behaviour).
    pub fn rerun(&mut self) {
        self.need_run = true;
    }

    /// Forget results and detected defaults and run again (the pairing changed).
    pub fn reset_run(&mut self) {
        self.model_key = (0, 0);
        self.need_run = true;
    }

    /// Whether the input previews shown are those of the current results (tests).
    pub fn input_previews_are_current(&self) -> bool {
        self.input_tex
            .as_ref()
            .is_some_and(|t| t.0 == (self.selected, self.results_gen))
    }

    /// Whether the shown results wait for other preprocessing settings still being tried.
    pub fn alternatives_pending(&self) -> bool {
        self.job.is_some()
            && self
                .results
                .iter()
                .flatten()
                .any(|r| r.comparison.alternatives_tried.starts_with("pending"))
    }

    pub fn is_running(&self) -> bool {
        self.job.is_some() || self.layer_job.is_some() || self.matching.is_running()
    }

    /// The successful comparisons with their aggregate (the app's report export).
    pub fn report(&self) -> Option<&CompareReport> {
        self.report.as_ref()
    }

    /// Recomputes the aggregate once, when the results change (not every frame).
    fn results_changed(&mut self) {
        self.results_gen += 1;
        let ok: Vec<_> = self
            .results
            .iter()
            .filter_map(|r| r.as_ref().ok())
            .map(|r| r.comparison.clone())
            .collect();
        self.report = (!ok.is_empty()).then(|| CompareReport::new(ok));
    }

    fn ensure_defaults(&mut self, quant: &Arc<Model>, float: Option<&Arc<Model>>) {
        let key = (
            Arc::as_ptr(quant) as usize,
            float.map_or(0, |f| Arc::as_ptr(f) as usize),
        );
        if key == self.model_key {
            return;
        }
        self.model_key = key;
        self.user_set.clear();
        match detect_defaults(quant, 0, float.map(|f| f.as_ref())) {
            Ok((pp, why)) => {
                self.pp = Some(pp);
                self.why = why;
                self.detect_error = None;
            }
            Err(e) => {
                self.pp = None;
                self.detect_error = Some(e.to_string());
            }
        }
        self.need_run = true;
    }

    fn start(
        &mut self,
        quant: &Arc<Model>,
        float: Option<&Arc<Model>>,
        labels: Option<&Vec<String>>,
        repaint: Option<&egui::Context>,
    ) {
        let Some(pp) = self.pp.clone() else { return };
        if self.images.is_empty() {
            return;
        }
        if let Some(j) = self.job.take() {
            j.cancel();
        }
        self.need_run = false;
        let images: Vec<(String, Arc<RgbImage>)> = self
            .images
            .iter()
            .map(|e| {
                let img = if pp.exif == Exif::Apply {
                    &e.rgb
                } else {
                    &e.raw
                };
                (e.name.clone(), img.clone())
            })
            .collect();
        let quant = quant.clone();
        let float = float.cloned();
        let labels = labels.cloned();
        let mut why = self.why.clone();
        why.extend(self.user_set.iter().cloned());
        self.results_pp = Some(pp.clone());
        self.layer = None;
        self.layer_tex = None;
        self.input_tex = None;
        let hold = self.hold_alternatives.clone();
        // The main comparison of every image is handed over first; the other preprocessing
        // settings (tried only when the models disagree or the float model is unsure) follow
        // as the job's last result.
        self.job = Some(Job::spawn_streaming(
            if float.is_some() {
                "comparing float and quantized"
            } else {
                "comparing with the float twin"
            },
            repaint.cloned(),
            move |jc, partial| {
                let prefix = Arc::new(Mutex::new(String::new()));
                let opts = CompareOptions {
                    labels,
                    engine: jc.engine_options_prefixed(prefix.clone()),
                    ..Default::default()
                };
                let mut cmp =
                    Comparator::new(float.as_deref(), &quant, opts).map_err(|e| e.to_string())?;
                let n = images.len();
                let mut out = Vec::new();
                for (k, (name, img)) in images.iter().enumerate() {
                    if let Ok(mut p) = prefix.lock() {
                        *p = format!("image {}/{n} {name}: ", k + 1);
                    }
                    let r = cmp
                        .compare_main(img, name, &pp, why.clone())
                        .map_err(|e| e.to_string());
                    if jc.cancelled() {
                        return Err("cancelled".into());
                    }
                    out.push(r);
                }
                let due: Vec<usize> = (0..n)
                    .filter(|&k| {
                        matches!(&out[k], Ok(c) if cmp.alternatives_due(&c.comparison.outputs).0)
                    })
                    .collect();
                if due.is_empty() {
                    return Ok(out);
                }
                partial(out.clone());
                while hold.as_ref().is_some_and(|h| h.load(Ordering::Relaxed)) && !jc.cancelled() {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                for (i, &k) in due.iter().enumerate() {
                    if let Ok(mut p) = prefix.lock() {
                        *p = format!("trying other settings, image {}/{}: ", i + 1, due.len());
                    }
                    let tried = match &mut out[k] {
                        Ok(c) => cmp.add_alternatives(&images[k].1, &pp, &mut c.comparison),
                        Err(_) => Ok(()),
                    };
                    if tried.is_err() || jc.cancelled() {
                        // Keep the main results; say the other settings were not finished.
                        for c in out.iter_mut().flatten() {
                            if c.comparison.alternatives_tried.starts_with("pending") {
                                c.comparison.alternatives.clear();
                                c.comparison.alternatives_tried = "no: cancelled in the app".into();
                            }
                        }
                        break;
                    }
                }
                Ok(out)
            },
        ));
    }

    fn start_layer(
        &mut self,
        li: usize,
        quant: &Arc<Model>,
        float: Option<&Arc<Model>>,
        repaint: Option<&egui::Context>,
    ) {
        let (Some(Ok(res)), Some(pp), Some(img)) = (
            self.results.get(self.selected),
            self.results_pp.clone(),
            self.images
                .get(self.selected)
                .map(|e| match self.results_pp.as_ref() {
                    Some(p) if p.exif == Exif::Ignore => e.raw.clone(),
                    _ => e.rgb.clone(),
                }),
        ) else {
            return;
        };
        let Some(l) = res.comparison.layers.get(li) else {
            return;
        };
        let (ft, qt) = (l.float_tensor.unwrap_or(l.quant_tensor), l.quant_tensor);
        if let Some((_, j)) = self.layer_job.take() {
            j.cancel();
        }
        let quant = quant.clone();
        let float = float.cloned();
        self.layer_job = Some((
            li,
            Job::spawn(
                format!("activations of layer {li}"),
                repaint.cloned(),
                move |jc| {
                    let opts = CompareOptions {
                        try_alternatives: false,
                        engine: jc.engine_options("activations"),
                        ..Default::default()
                    };
                    let mut cmp = Comparator::new(float.as_deref(), &quant, opts)
                        .map_err(|e| e.to_string())?;
                    cmp.activations(&img, &pp, ft, qt)
                        .map_err(|e| e.to_string())
                },
            ),
        ));
    }

    /// Starts runs that are due and collects finished ones (waiting for them when `block`);
    /// true when a run finished.
    pub fn collect(
        &mut self,
        quant: &Arc<Model>,
        float: Option<&Arc<Model>>,
        labels: Option<&Vec<String>>,
        repaint: Option<&egui::Context>,
        block: bool,
    ) -> bool {
        self.ensure_defaults(quant, float);
        if self.need_run {
            self.start(quant, float, labels, repaint);
        }
        let mut done = false;
        if let Some(r) = self.job.as_mut().and_then(|j| j.take(block)) {
            if self.job.as_ref().is_some_and(|j| j.finished()) {
                self.job = None;
            }
            self.results = r.unwrap_or_else(|e| vec![Err(e)]);
            self.results_changed();
            done = true;
        }
        done |= self.collect_match(block);
        if let Some(r) = self.layer_job.as_mut().and_then(|(_, j)| j.take(block)) {
            let li = self.layer_job.take().map_or(0, |(li, _)| li);
            if let Ok(a) = &r {
                // Open on the channel with the largest error, not on channel 0 (often dead).
                self.layer_channel = a.worst_channel();
                self.layer_tex = None;
            }
            self.layer = Some((li, r));
            self.layer_tex = None;
            done = true;
        }
        done
    }

    /// Shows layer `k`'s activations (as clicking it does) on the next frame.
    pub fn select_layer(&mut self, k: usize) {
        self.pending_layer = Some(k);
    }

    /// Shows the layer producing quantized tensor `tensor` of the selected image's comparison
    /// (the Graph tab's click), when the comparison has one.
    pub fn select_layer_of_tensor(&mut self, tensor: usize) {
        let k = self
            .results
            .get(self.selected)
            .and_then(|r| r.as_ref().ok())
            .and_then(|r| {
                r.comparison
                    .layers
                    .iter()
                    .position(|l| l.quant_tensor == tensor)
            });
        if let Some(k) = k {
            self.select_layer(k);
        }
    }

    /// Sets the channel order (as the radio buttons do) - for scripted use.
    pub fn set_channels(&mut self, c: ChannelOrder) {
        if let Some(pp) = &mut self.pp {
            if pp.channels != c {
                pp.channels = c;
                self.user_set.retain(|s| !s.starts_with("channel order"));
                self.user_set
                    .push(format!("channel order {c} set in the app"));
                self.need_run = true;
            }
        }
    }

    pub fn set_range(&mut self, r: ValueRange) {
        if let Some(pp) = &mut self.pp {
            if pp.range != r {
                self.user_set.retain(|s| !s.starts_with("value mapping"));
                self.user_set
                    .push(format!("value mapping {} set in the app", r.label()));
                pp.range = r;
                self.need_run = true;
            }
        }
    }

    /// The warnings shown beside the controls for the selected image (the library's).
    pub fn warnings(&self) -> Vec<String> {
        match self.results.get(self.selected) {
            Some(Ok(r)) => r.comparison.warnings.clone(),
            _ => Vec::new(),
        }
    }

    pub fn ui(&mut self, ui: &mut egui::Ui, ctx: &ViewCtx) {
        let (quant, float) = (ctx.model, ctx.float);
        self.collect(quant, float, ctx.labels, ctx.repaint, false);
        ui.horizontal_wrapped(|ui| {
            ui.strong(if float.is_some() {
                "float model vs quantized model"
            } else if ctx.float_alone {
                "A float model alone: its outputs and preprocessing. Open or drop its quantized model to compare, or use What-if to simulate quantizing its weights."
            } else {
                "quantized model vs its float twin (dequantized constants, float kernels) - pair a float model for the real reference"
            });
            if ui.button("Add images...").clicked() {
                let picked = rfd::FileDialog::new().add_filter("images", &crate::preprocess::IMAGE_EXTENSIONS[..]).pick_files();
                // No native dialog (no desktop portal) or cancelled: the in-app path field.
                self.wants_path_field = picked.is_none();
                if let Some(files) = picked {
                    for f in files {
                        match std::fs::read(&f) {
                            Ok(b) => self.add_image(f.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default(), &b),
                            Err(e) => self.image_errors.push(format!("{}: {e}", f.display())),
                        }
                    }
                }
            }
            if ui.button("Rerun (F5)").clicked() {
                self.rerun();
            }
        });
        for e in &self.image_errors {
            ui.colored_label(ui.visuals().error_fg_color, format!("error: {e}"));
        }
        if let Some(e) = &self.detect_error {
            ui.colored_label(ui.visuals().error_fg_color, format!("error: {e}"));
        }
        if let Some(j) = &self.job {
            j.status_ui(ui);
        }
        if self.images.is_empty() {
            ui.add_space(30.0);
            ui.label("Drop images (PNG, JPEG, BMP, WebP, GIF) anywhere on the window to run both models on them.");
            return;
        }
        // Image strip.
        let mut remove = None;
        ui.horizontal_wrapped(|ui| {
            for (k, e) in self.images.iter_mut().enumerate() {
                let tex = e.tex.get_or_insert_with(|| {
                    let ci = egui::ColorImage::from_rgb(
                        [e.rgb.width() as usize, e.rgb.height() as usize],
                        e.rgb.as_raw(),
                    );
                    ui.ctx().load_texture(
                        format!("img_{}_{k}", e.name),
                        ci,
                        egui::TextureOptions::LINEAR,
                    )
                });
                // The status of this image's run (top-1 of both models): a coloured badge on
                // the thumbnail, in words beside it and, with the file name, on hover.
                let green = egui::Color32::from_rgb(60, 170, 60);
                let (status, colour) = match self.results.get(k) {
                    Some(Ok(r)) => match r
                        .comparison
                        .outputs
                        .first()
                        .and_then(|o| o.classification.as_ref())
                    {
                        Some(c) if c.top1_agree => ("agrees", green),
                        Some(_) => ("differs", ui.visuals().error_fg_color),
                        None => ("compared", green),
                    },
                    Some(Err(_)) => ("failed", ui.visuals().error_fg_color),
                    None => ("not run yet", ui.visuals().weak_text_color()),
                };
                let hover = match self.results.get(k) {
                    Some(Err(err)) => format!("{}\n{status}: {err}", e.name),
                    _ => format!("{}\ntop-1: {status}", e.name),
                };
                ui.vertical(|ui| {
                    let resp = ui
                        .add(
                            egui::Button::image((tex.id(), egui::vec2(48.0, 48.0)))
                                .selected(k == self.selected),
                        )
                        .on_hover_text(hover);
                    let c = resp.rect.right_top() + egui::vec2(-7.0, 7.0);
                    ui.painter().circle_filled(c, 5.5, colour);
                    ui.painter().circle_stroke(
                        c,
                        5.5,
                        egui::Stroke::new(1.0, egui::Color32::WHITE),
                    );
                    let n = e.name.clone();
                    resp.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Button, true, &n));
                    if resp.clicked() {
                        self.selected = k;
                        self.layer = None;
                        self.layer_tex = None;
                        self.input_tex = None;
                    }
                    ui.horizontal(|ui| {
                        ui.small(egui::RichText::new(status).color(colour));
                        if ui
                            .small_button("x")
                            .on_hover_text(format!("remove {}", e.name))
                            .clicked()
                        {
                            remove = Some(k);
                        }
                    });
                });
            }
        });
        if let Some(k) = remove {
            self.images.remove(k);
            if k < self.results.len() {
                let _ = self.results.remove(k);
            }
            self.selected = self.selected.min(self.images.len().saturating_sub(1));
            self.input_tex = None;
            self.layer = None;
            if self.images.is_empty() {
                self.results.clear();
            }
            self.results_changed();
        }
        if self.images.is_empty() {
            return;
        }
        ui.separator();
        if let Some(a) = self
            .report
            .as_ref()
            .map(|r| &r.aggregate)
            .filter(|a| a.images > 1)
        {
            ui.label(format!(
                "{} images: top-1 agreement {}, mean output SQNR {} dB, worst {} ({} dB)",
                a.images,
                a.top1_agreement
                    .map_or("-".into(), |v| format!("{:.0}%", v * 100.0)),
                super::fmt_opt(a.mean_sqnr_db, 1),
                a.worst_image.clone().unwrap_or_default(),
                super::fmt_opt(a.worst_sqnr_db, 1)
            ));
        }
        egui::Panel::left("compare_controls")
            .resizable(true)
            .default_size(330.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical()
                    .id_salt("ctl_scroll")
                    .show(ui, |ui| {
                        ui.strong("Preprocessing");
                        self.controls(ui, quant);
                        ui.separator();
                        self.findings_ui(ui);
                        ui.separator();
                        self.match_ui(ui, quant, float, ctx.repaint);
                    });
            });
        egui::CentralPanel::default().show(ui, |ui| {
            egui::ScrollArea::vertical()
                .id_salt("cmp_scroll")
                .auto_shrink(false)
                .show(ui, |ui| {
                    self.result_ui(ui, ctx);
                });
        });
    }
}
