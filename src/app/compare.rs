//! Compare: images through the float model (or the INT8 model's float twin) and the quantized
//! model side by side - the image, preprocessing controls with the detector's reasons and
//! warnings, the exact input tensor of each model, top-k for both, and per-layer error
//! (cumulative and local SQNR) where a click shows both activations and their difference.

use super::export::{self, StatusLine};
use super::fmt_opt;
use super::jobs::Job;
use crate::compare::{aggregate, Comparator, CompareOptions, ImageComparison, LayerActivations};
use crate::model::Model;
use crate::preprocess::{
    detect_defaults, load_image_bytes, prepare, ChannelOrder, Filter, ImageLimits, InputSpec,
    InputTensor, Layout, Prepared, Preprocess, ResizeMode, ValueRange,
};
use eframe::egui;
use egui_plot::{Bar, BarChart, Legend, Line, Plot, PlotPoints};
use image::RgbImage;
use ndarray::ArrayD;
use std::sync::{Arc, Mutex};

pub struct ImageEntry {
    pub name: String,
    pub rgb: Arc<RgbImage>,
    tex: Option<egui::TextureHandle>,
}

/// One image's comparison and the exact input tensors fed to each model.
pub struct ImageResult {
    pub cmp: ImageComparison,
    pub quant_input: Option<Prepared>,
    pub float_input: Option<Prepared>,
}

type RunResult = Vec<Result<ImageResult, String>>;

#[derive(Default)]
pub struct ComparePanel {
    pub images: Vec<ImageEntry>,
    pub selected: usize,
    pub pp: Option<Preprocess>,
    why: Vec<String>,
    user_set: Vec<String>,
    pub detect_error: Option<String>,
    model_key: (usize, usize),
    pub results: Vec<Result<ImageResult, String>>,
    /// The preprocessing the results were computed with.
    results_pp: Option<Preprocess>,
    job: Option<Job<RunResult>>,
    need_run: bool,
    pub image_errors: Vec<String>,
    pub selected_layer: Option<usize>,
    layer_job: Option<(usize, Job<LayerActivations>)>,
    layer: Option<(usize, Result<LayerActivations, String>)>,
    pub layer_channel: usize,
    pending_layer: Option<usize>,
    layer_tex: Option<((usize, usize), [egui::TextureHandle; 3], [(f32, f32); 2])>,
    input_tex: Option<(usize, [Option<egui::TextureHandle>; 2])>,
}

/// The model's input tensor as pixels (its own layout and channel order; integers offset to
/// 0..255, floats stretched over their min..max).
fn input_image(t: &InputTensor, layout: Layout) -> Option<egui::ColorImage> {
    let (vals, lo, hi): (Vec<f32>, f32, f32) = match t {
        InputTensor::I8(a) => (a.iter().map(|&v| v as f32).collect(), -128.0, 127.0),
        InputTensor::U8(a) => (a.iter().map(|&v| v as f32).collect(), 0.0, 255.0),
        InputTensor::I16(a) => (a.iter().map(|&v| v as f32).collect(), -32768.0, 32767.0),
        InputTensor::F32(a) => {
            let (lo, hi) = a
                .iter()
                .fold((f32::MAX, f32::MIN), |(l, h), &v| (l.min(v), h.max(v)));
            (a.iter().copied().collect(), lo, hi)
        }
    };
    let shape: Vec<usize> = match t {
        InputTensor::I8(a) => a.shape().to_vec(),
        InputTensor::U8(a) => a.shape().to_vec(),
        InputTensor::I16(a) => a.shape().to_vec(),
        InputTensor::F32(a) => a.shape().to_vec(),
    };
    if shape.len() != 4 {
        return None;
    }
    let (h, w, c) = match layout {
        Layout::Nhwc => (shape[1], shape[2], shape[3]),
        Layout::Nchw => (shape[2], shape[3], shape[1]),
    };
    let span = (hi - lo).max(1e-12);
    let at = |y: usize, x: usize, ch: usize| -> u8 {
        let i = match layout {
            Layout::Nhwc => (y * w + x) * c + ch,
            Layout::Nchw => (ch * h + y) * w + x,
        };
        (((vals[i] - lo) / span) * 255.0).round().clamp(0.0, 255.0) as u8
    };
    let mut px = Vec::with_capacity(h * w);
    for y in 0..h {
        for x in 0..w {
            px.push(if c >= 3 {
                egui::Color32::from_rgb(at(y, x, 0), at(y, x, 1), at(y, x, 2))
            } else {
                let g = at(y, x, 0);
                egui::Color32::from_gray(g)
            });
        }
    }
    Some(egui::ColorImage::new([w, h], px))
}

/// (height, width, channels) of an activation for heat maps.
fn hwc(shape: &[usize]) -> (usize, usize, usize) {
    match shape.len() {
        0 => (1, 1, 1),
        1 => (1, shape[0], 1),
        2 => (1, shape[1], 1),
        3 => (shape[1], shape[2], 1),
        _ => (shape[1], shape[2], shape[3..].iter().product()),
    }
}

fn viridis(t: f32) -> egui::Color32 {
    let t = t.clamp(0.0, 1.0);
    let stops = [
        (68, 1, 84),
        (59, 82, 139),
        (33, 145, 140),
        (94, 201, 98),
        (253, 231, 37),
    ];
    let f = t * 4.0;
    let k = (f.floor() as usize).min(3);
    let u = f - k as f32;
    let (a, b) = (stops[k], stops[k + 1]);
    let m = |x: i32, y: i32| (x as f32 + (y - x) as f32 * u) as u8;
    egui::Color32::from_rgb(m(a.0, b.0), m(a.1, b.1), m(a.2, b.2))
}

fn diverging(t: f32) -> egui::Color32 {
    // -1 blue, 0 white, +1 red.
    let t = t.clamp(-1.0, 1.0);
    let v = (255.0 * (1.0 - t.abs())) as u8;
    if t >= 0.0 {
        egui::Color32::from_rgb(255, v, v)
    } else {
        egui::Color32::from_rgb(v, v, 255)
    }
}

fn heat(a: &ArrayD<f32>, ch: usize, range: (f32, f32), div: bool) -> egui::ColorImage {
    let (h, w, c) = hwc(a.shape());
    let ch = ch.min(c.saturating_sub(1));
    let flat: Vec<f32> = a.iter().copied().collect();
    let span = (range.1 - range.0).max(1e-12);
    let mut px = Vec::with_capacity(h * w);
    for y in 0..h {
        for x in 0..w {
            let v = flat.get((y * w + x) * c + ch).copied().unwrap_or(0.0);
            px.push(if div {
                diverging(v / range.1.max(1e-12))
            } else {
                viridis((v - range.0) / span)
            });
        }
    }
    egui::ColorImage::new([w, h], px)
}

fn pp_label(pp: &Preprocess) -> String {
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
    pub fn add_image(&mut self, name: String, bytes: &[u8]) {
        match load_image_bytes(bytes, ImageLimits::default()) {
            Ok(img) => {
                self.images.push(ImageEntry {
                    name,
                    rgb: Arc::new(img),
                    tex: None,
                });
                self.selected = self.images.len() - 1;
                self.need_run = true;
            }
            Err(e) => self.image_errors.push(format!("{name}: {e}")),
        }
    }

    /// Forget results and run again (pairing changed, F5).
    pub fn reset_run(&mut self) {
        self.model_key = (0, 0);
        self.need_run = true;
    }

    pub fn is_running(&self) -> bool {
        self.job.is_some() || self.layer_job.is_some()
    }

    pub fn results_json(&self) -> serde_json::Value {
        let ok: Vec<ImageComparison> = self
            .results
            .iter()
            .filter_map(|r| r.as_ref().ok())
            .map(|r| r.cmp.clone())
            .collect();
        if ok.is_empty() {
            return serde_json::Value::Null;
        }
        serde_json::json!({ "images": ok, "aggregate": aggregate(&ok) })
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
        repaint: Option<egui::Context>,
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
            .map(|e| (e.name.clone(), e.rgb.clone()))
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
        self.job = Some(Job::spawn(
            if float.is_some() {
                "comparing float and quantized"
            } else {
                "comparing with the float twin"
            },
            repaint,
            move |jc| {
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
                        .compare(img, name, &pp, why.clone())
                        .map_err(|e| e.to_string())
                        .map(|c| {
                            let prep = |m: &Model| {
                                InputSpec::from_model(m, 0, Some(pp.layout))
                                    .ok()
                                    .and_then(|s| prepare(img, &s, &pp).ok())
                            };
                            ImageResult {
                                cmp: c,
                                quant_input: prep(&quant),
                                float_input: float.as_deref().and_then(prep),
                            }
                        });
                    if jc.cancelled() {
                        return Err("cancelled".into());
                    }
                    out.push(r);
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
        repaint: Option<egui::Context>,
    ) {
        let (Some(Ok(res)), Some(pp), Some(img)) = (
            self.results.get(self.selected),
            self.results_pp.clone(),
            self.images.get(self.selected).map(|e| e.rgb.clone()),
        ) else {
            return;
        };
        let Some(l) = res.cmp.layers.get(li) else {
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
            Job::spawn(format!("activations of layer {li}"), repaint, move |jc| {
                let opts = CompareOptions {
                    try_alternatives: false,
                    engine: jc.engine_options("activations"),
                    ..Default::default()
                };
                let mut cmp =
                    Comparator::new(float.as_deref(), &quant, opts).map_err(|e| e.to_string())?;
                cmp.activations(&img, &pp, ft, qt)
                    .map_err(|e| e.to_string())
            }),
        ));
    }

    /// Starts runs that are due and collects finished ones.
    pub fn poll(
        &mut self,
        quant: &Arc<Model>,
        float: Option<&Arc<Model>>,
        labels: Option<&Vec<String>>,
        repaint: Option<egui::Context>,
    ) {
        self.ensure_defaults(quant, float);
        if self.need_run {
            self.start(quant, float, labels, repaint);
        }
        if let Some(j) = &mut self.job {
            if let Some(r) = j.poll() {
                self.accept(r);
            }
        }
        if let Some((li, j)) = &mut self.layer_job {
            if let Some(r) = j.poll() {
                self.layer = Some((*li, r));
                self.layer_tex = None;
                self.layer_job = None;
            }
        }
    }

    fn accept(&mut self, r: Result<RunResult, String>) {
        self.job = None;
        match r {
            Ok(v) => self.results = v,
            Err(e) => self.results = vec![Err(e)],
        }
    }

    /// Blocking version of [`Self::poll`] for tests; true when something ran.
    pub fn wait(
        &mut self,
        quant: &Arc<Model>,
        float: Option<&Arc<Model>>,
        labels: Option<&Vec<String>>,
    ) -> bool {
        self.ensure_defaults(quant, float);
        if self.need_run {
            self.start(quant, float, labels, None);
        }
        let mut busy = false;
        if let Some(j) = &mut self.job {
            if let Some(r) = j.wait() {
                self.accept(r);
                busy = true;
            }
        }
        if let Some((li, mut j)) = self.layer_job.take() {
            if let Some(r) = j.wait() {
                self.layer = Some((li, r));
                self.layer_tex = None;
                busy = true;
            }
        }
        busy
    }

    fn controls(&mut self, ui: &mut egui::Ui) {
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

    /// Shows layer `k`'s activations (as clicking it does) on the next frame.
    pub fn select_layer(&mut self, k: usize) {
        self.pending_layer = Some(k);
    }

    /// Sets the channel order (as the radio buttons do) - for scripted use.
    pub fn set_channels(&mut self, c: ChannelOrder) {
        if let Some(pp) = &mut self.pp {
            if pp.channels != c {
                pp.channels = c;
                self.user_set.retain(|s| !s.starts_with("channel order"));
                self.user_set
                    .push(format!("channel order {c:?} set in the app"));
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
            Some(Ok(r)) => r.cmp.warnings.clone(),
            _ => Vec::new(),
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub fn ui(
        &mut self,
        ui: &mut egui::Ui,
        quant: &Arc<Model>,
        float: Option<&Arc<Model>>,
        labels: Option<&Vec<String>>,
        repaint: Option<egui::Context>,
        status: &StatusLine,
    ) {
        self.poll(quant, float, labels, repaint.clone());
        ui.horizontal_wrapped(|ui| {
            ui.strong(if float.is_some() {
                "float model vs quantized model"
            } else {
                "quantized model vs its float twin (dequantized constants, float kernels) - pair a float model for the real reference"
            });
            if ui.button("Add images...").clicked() {
                if let Some(files) = rfd::FileDialog::new().add_filter("images", &["png", "jpg", "jpeg", "bmp", "webp", "gif"]).pick_files() {
                    for f in files {
                        match std::fs::read(&f) {
                            Ok(b) => self.add_image(f.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default(), &b),
                            Err(e) => self.image_errors.push(format!("{}: {e}", f.display())),
                        }
                    }
                }
            }
            if ui.button("Rerun (F5)").clicked() {
                self.need_run = true;
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
                let agree = match self.results.get(k) {
                    Some(Ok(r)) => r
                        .cmp
                        .outputs
                        .first()
                        .and_then(|o| o.classification.as_ref())
                        .map(|c| c.top1_agree),
                    _ => None,
                };
                ui.vertical(|ui| {
                    let resp = ui.add(
                        egui::Button::image((tex.id(), egui::vec2(48.0, 48.0)))
                            .selected(k == self.selected),
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
                        ui.small(match agree {
                            Some(true) => "ok",
                            Some(false) => "differs",
                            None => "",
                        });
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
        }
        if self.images.is_empty() {
            return;
        }
        ui.separator();
        let ok: Vec<ImageComparison> = self
            .results
            .iter()
            .filter_map(|r| r.as_ref().ok())
            .map(|r| r.cmp.clone())
            .collect();
        if ok.len() > 1 {
            let a = aggregate(&ok);
            ui.label(format!(
                "{} images: top-1 agreement {}, mean output SQNR {} dB, worst {} ({} dB)",
                a.images,
                a.top1_agreement
                    .map_or("-".into(), |v| format!("{:.0}%", v * 100.0)),
                fmt_opt(a.mean_sqnr_db, 1),
                a.worst_image.clone().unwrap_or_default(),
                fmt_opt(a.worst_sqnr_db, 1)
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
                        self.controls(ui);
                        ui.separator();
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
                                ui.colored_label(
                                    ui.visuals().warn_fg_color,
                                    format!("warning: {w}"),
                                );
                            }
                        }
                        ui.separator();
                        ui.strong("Why these settings");
                        for w in self.why.iter().chain(&self.user_set) {
                            ui.label(format!("- {w}"));
                        }
                        if let Some(Ok(r)) = self.results.get(self.selected) {
                            if !r.cmp.alternatives.is_empty() {
                                ui.separator();
                                ui.strong("Other settings tried");
                                egui::Grid::new("alts").striped(true).show(ui, |ui| {
                                    for h in [
                                        "channels", "values", "top-1", "SQNR dB", "float p",
                                        "clipped",
                                    ] {
                                        ui.strong(h);
                                    }
                                    ui.end_row();
                                    for a in &r.cmp.alternatives {
                                        ui.label(format!("{:?}", a.channels));
                                        ui.label(&a.range);
                                        ui.label(match a.top1_agree {
                                            Some(true) => "agree",
                                            Some(false) => "differ",
                                            None => "-",
                                        });
                                        ui.label(fmt_opt(a.output_sqnr_db, 1));
                                        ui.label(fmt_opt(a.float_top1_prob, 2));
                                        ui.label(format!(
                                            "{:.1}%",
                                            a.input_clipped_fraction * 100.0
                                        ));
                                        ui.end_row();
                                    }
                                });
                            }
                        }
                    });
            });
        egui::CentralPanel::default().show(ui, |ui| {
            egui::ScrollArea::vertical()
                .id_salt("cmp_scroll")
                .auto_shrink(false)
                .show(ui, |ui| {
                    self.result_ui(ui, quant, float, repaint, status);
                });
        });
    }

    fn result_ui(
        &mut self,
        ui: &mut egui::Ui,
        quant: &Arc<Model>,
        float: Option<&Arc<Model>>,
        repaint: Option<egui::Context>,
        status: &StatusLine,
    ) {
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
        ui.heading(&res.cmp.image);
        ui.weak(format!(
            "reference: {}; preprocessing: {}",
            res.cmp.reference,
            self.results_pp.as_ref().map(pp_label).unwrap_or_default()
        ));
        // The image and the exact input tensors.
        if self.input_tex.as_ref().map(|t| t.0) != Some(sel) {
            let layout = self.results_pp.as_ref().map_or(Layout::Nhwc, |p| p.layout);
            let mk = |p: &Option<Prepared>, n: &str| {
                p.as_ref()
                    .and_then(|p| input_image(&p.tensor, layout))
                    .map(|ci| {
                        ui.ctx().load_texture(
                            format!("input_{n}_{sel}"),
                            ci,
                            egui::TextureOptions::NEAREST,
                        )
                    })
            };
            self.input_tex = Some((
                sel,
                [mk(&res.float_input, "float"), mk(&res.quant_input, "quant")],
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
                    (ft, "float input tensor", &res.float_input),
                    (qt, "quantized input tensor", &res.quant_input),
                ] {
                    if let Some(t) = t {
                        ui.vertical(|ui| {
                            ui.label(n);
                            ui.image((t.id(), size));
                            if let Some(p) = p {
                                let dt = match &p.tensor {
                                    InputTensor::F32(_) => "float32",
                                    InputTensor::I8(_) => "int8",
                                    InputTensor::U8(_) => "uint8",
                                    InputTensor::I16(_) => "int16",
                                };
                                ui.small(format!(
                                    "{dt}, {} levels, {:.1}% clipped",
                                    p.levels_used,
                                    p.clipped_fraction * 100.0
                                ));
                            }
                        });
                    }
                }
            }
        });
        ui.separator();
        // Outputs.
        let mut spatial_layer = None;
        for o in &res.cmp.outputs {
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
                let name = |s: &crate::compare::Scored| {
                    s.label.clone().unwrap_or_else(|| s.index.to_string())
                };
                if let (Some(f), Some(q)) = (c.top_k_float.first(), c.top_k_quant.first()) {
                    ui.horizontal(|ui| {
                        ui.label(
                            egui::RichText::new(format!(
                                "float model top-1: {} ({:.3})",
                                name(f),
                                f.score
                            ))
                            .size(16.0),
                        );
                        ui.label(
                            egui::RichText::new(format!(
                                "INT8 top-1: {} ({:.3})",
                                name(q),
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
                let mut classes: Vec<(usize, String)> = Vec::new();
                for s in c.top_k_float.iter().chain(&c.top_k_quant) {
                    if !classes.iter().any(|(i, _)| *i == s.index) {
                        classes.push((s.index, name(s)));
                    }
                }
                let score = |v: &[crate::compare::Scored], i: usize| {
                    v.iter()
                        .find(|s| s.index == i)
                        .map_or(0.0, |s| s.score as f64)
                };
                let fb: Vec<Bar> = classes
                    .iter()
                    .enumerate()
                    .map(|(k, (i, n))| {
                        Bar::new(k as f64 - 0.2, score(&c.top_k_float, *i))
                            .width(0.4)
                            .name(format!("float {n}"))
                    })
                    .collect();
                let qb: Vec<Bar> = classes
                    .iter()
                    .enumerate()
                    .map(|(k, (i, n))| {
                        Bar::new(k as f64 + 0.2, score(&c.top_k_quant, *i))
                            .width(0.4)
                            .name(format!("INT8 {n}"))
                    })
                    .collect();
                let names: Vec<String> = classes.iter().map(|c| c.1.clone()).collect();
                let resp = Plot::new(format!("topk_{}", o.index))
                    .height(140.0)
                    .legend(Legend::default())
                    .include_y(0.0)
                    .include_y(1.0)
                    .x_axis_formatter(move |m, _| {
                        let k = m.value.round();
                        if (m.value - k).abs() < 1e-6 && k >= 0.0 {
                            names.get(k as usize).cloned().unwrap_or_default()
                        } else {
                            String::new()
                        }
                    })
                    .show(ui, |p| {
                        p.bar_chart(
                            BarChart::new("float", fb).color(egui::Color32::from_rgb(90, 140, 220)),
                        );
                        p.bar_chart(
                            BarChart::new("INT8", qb).color(egui::Color32::from_rgb(230, 120, 40)),
                        );
                    });
                export::plot_exports(
                    ui,
                    resp.response.rect,
                    &format!("topk_{}", export::stem(&res.cmp.image)),
                    || {
                        let mut s = String::from("class,float,quant\n");
                        for (i, n) in &classes {
                            s += &format!(
                                "{n},{},{}\n",
                                score(&c.top_k_float, *i),
                                score(&c.top_k_quant, *i)
                            );
                        }
                        s
                    },
                    || serde_json::to_value(c).unwrap_or_default(),
                    status,
                );
            } else if o.shape.len() == 4 && o.shape[1] > 1 && o.shape[2] > 1 {
                let qi = quant.subgraphs[0]
                    .outputs
                    .get(o.index)
                    .copied()
                    .unwrap_or(-1);
                if let Some(li) = res
                    .cmp
                    .layers
                    .iter()
                    .position(|l| l.quant_tensor as i32 == qi)
                {
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
        ui.separator();
        // Per-layer error.
        let layers = &res.cmp.layers;
        let mut clicked = spatial_layer.or(self.pending_layer.take());
        if !layers.is_empty() {
            ui.strong("Per-layer SQNR (dB): cumulative (error so far) and local (the layer's own); click a layer");
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
            let resp = Plot::new("layer_sqnr")
                .height(180.0)
                .legend(Legend::default())
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
                    if p.response().clicked() {
                        p.pointer_coordinate()
                            .map(|c| c.x.round().max(0.0) as usize)
                    } else {
                        None
                    }
                });
            if let Some(k) = resp.inner.filter(|&k| k < layers.len()) {
                clicked = Some(k);
            }
            export::plot_exports(
                ui,
                resp.response.rect,
                &format!("layers_{}", export::stem(&res.cmp.image)),
                || {
                    let mut s = String::from(
                        "layer,op_index,op,name,cumulative_sqnr_db,local_sqnr_db,sqnr_drop_db\n",
                    );
                    for (k, l) in layers.iter().enumerate() {
                        s += &format!(
                            "{k},{},{},\"{}\",{},{},{}\n",
                            l.op_index.map_or(String::new(), |v| v.to_string()),
                            l.op,
                            l.name.replace('"', "'"),
                            l.cumulative
                                .sqnr_db
                                .map_or(String::new(), |v| v.to_string()),
                            l.local
                                .and_then(|m| m.sqnr_db)
                                .map_or(String::new(), |v| v.to_string()),
                            l.sqnr_drop_db.map_or(String::new(), |v| v.to_string())
                        );
                    }
                    s
                },
                || serde_json::to_value(layers).unwrap_or_default(),
                status,
            );
            egui::ScrollArea::vertical()
                .id_salt("layer_list")
                .max_height(160.0)
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
            if self.selected_layer != Some(k) {
                self.layer_channel = 0;
            }
            self.selected_layer = Some(k);
            self.layer = None;
            self.layer_tex = None;
            self.start_layer(k, quant, float, repaint);
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
        match r {
            Err(e) => {
                ui.colored_label(ui.visuals().error_fg_color, format!("error: {e}"));
            }
            Ok(a) => {
                let (h, w, c) = hwc(a.float.shape());
                ui.strong(format!("layer {li}: activations {:?}", a.float.shape()));
                if c > 1 {
                    ui.add(egui::Slider::new(&mut self.layer_channel, 0..=c - 1).text("channel"));
                }
                let key = (li, self.layer_channel);
                if self.layer_tex.as_ref().map(|t| t.0) != Some(key) {
                    // Float and quantized share the float tensor's range; the difference is
                    // symmetric around 0.
                    let ch = self.layer_channel.min(c.saturating_sub(1));
                    let of_channel = |x: &ArrayD<f32>| -> Vec<f32> {
                        x.iter().skip(ch).step_by(c.max(1)).copied().collect()
                    };
                    let (fv, qv, dv) = (
                        of_channel(&a.float),
                        of_channel(&a.quant),
                        of_channel(&a.diff),
                    );
                    let (lo, hi) = fv
                        .iter()
                        .chain(&qv)
                        .fold((f32::MAX, f32::MIN), |(l, h), &v| (l.min(v), h.max(v)));
                    let dm = dv.iter().fold(0f32, |m, &v| m.max(v.abs()));
                    let ctx = ui.ctx().clone();
                    let t = |n: &str, im| {
                        ctx.load_texture(
                            format!("layer_{n}_{li}"),
                            im,
                            egui::TextureOptions::NEAREST,
                        )
                    };
                    self.layer_tex = Some((
                        key,
                        [
                            t("f", heat(&a.float, self.layer_channel, (lo, hi), false)),
                            t("q", heat(&a.quant, self.layer_channel, (lo, hi), false)),
                            t("d", heat(&a.diff, self.layer_channel, (-dm, dm), true)),
                        ],
                        [(lo, hi), (-dm, dm)],
                    ));
                }
                if let Some((_, tex, ranges)) = &self.layer_tex {
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
                                ui.image((t.id(), size));
                            });
                        }
                    });
                    ui.small(format!(
                        "colour range of this channel: activations [{:.4}, {:.4}] (viridis); difference ±{:.4} (blue - / red +)",
                        ranges[0].0, ranges[0].1, ranges[1].1
                    ));
                }
            }
        }
    }
}
