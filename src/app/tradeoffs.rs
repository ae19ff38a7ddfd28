//! Trade-offs: every variant of one float model over a folder of images, through
//! [`crate::eval::evaluate`] (the call `quantscope eval` makes), in the background with progress
//! and cancel. Shown as the table users write by hand, scatter plots (size and latency against
//! accuracy/agreement, one point per model) and a gallery of flipped images. Every number comes
//! from the eval report; this panel only lays it out. One panel for the app, so results stay
//! when the user moves between tabs.

use super::jobs::Job;
use super::ViewCtx;
use crate::eval::{
    self, human_bytes, pct, EvalOptions, InputKind, LabelsFrom, Progress, Report, VariantReport,
};
use crate::model::Model;
use eframe::egui;
use egui_plot::{Plot, PlotPoint, PlotPoints, Points, Text};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Which model a candidate is: an open tab (by id) or one added in this panel (by index).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Key {
    Tab(u64),
    Added(usize),
}

/// A model the panel can evaluate.
#[derive(Clone)]
pub struct Candidate {
    pub key: Key,
    pub name: String,
    pub model: Arc<Model>,
    pub is_float: bool,
    /// Class names (the tab's, resolved as the CLI does).
    pub labels: Option<Vec<String>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LabelsChoice {
    Folders,
    Csv,
    None,
}

/// A flipped image, decoded off the UI thread for the gallery.
pub struct Thumb {
    pub name: String,
    pub path: PathBuf,
    image: egui::ColorImage,
    tex: Option<egui::TextureHandle>,
}

/// A finished run: the report and where its images live.
pub struct Outcome {
    pub report: Arc<Report>,
    pub root: PathBuf,
    pub thumbs: Vec<Thumb>,
}

/// What the app should do after a frame of this panel.
pub enum Action {
    /// Open this image in Compare.
    OpenImage(PathBuf),
}

/// A plot as drawn in the last frame (tests check them).
#[derive(Clone, Debug, PartialEq)]
pub struct PlotShown {
    pub title: String,
    pub points: usize,
}

/// Thumbnails at most this many pixels on a side, and at most this many in the gallery.
const THUMB_SIDE: u32 = 72;
const MAX_THUMBS: usize = 64;

#[derive(Default)]
pub struct TradeoffsPanel {
    float_key: Option<Key>,
    /// The chosen variants; None = the default (every other candidate with the float I/O).
    chosen: Option<BTreeSet<Key>>,
    added: Vec<Candidate>,
    adding: Vec<Job<(String, Model)>>,
    add_path: String,
    show_add_field: bool,
    pub images: String,
    /// The bundled example's images (relative name with its class folder, bytes).
    bundled_images: Vec<(&'static str, &'static [u8])>,
    pub use_bundled: bool,
    pub labels: Option<LabelsChoice>,
    csv: String,
    job: Option<Job<Outcome>>,
    progress: Arc<Mutex<Option<Progress>>>,
    pub outcome: Option<Outcome>,
    pub error: Option<String>,
    pub plots: Vec<PlotShown>,
}

impl TradeoffsPanel {
    pub fn is_running(&self) -> bool {
        self.job.is_some() || !self.adding.is_empty()
    }

    /// The last finished report.
    pub fn report(&self) -> Option<&Report> {
        self.outcome.as_ref().map(|o| o.report.as_ref())
    }

    /// The bundled example's extra variants (fp16, dynamic-range) and sample images.
    pub fn add_bundled(
        &mut self,
        variants: &[(&'static str, &'static [u8])],
        images: &[(&'static str, &'static [u8])],
        repaint: Option<&egui::Context>,
    ) {
        for &(name, bytes) in variants {
            self.adding.push(Job::spawn(
                format!("opening {name}"),
                repaint.cloned(),
                move |_| {
                    Model::from_bytes(bytes.to_vec())
                        .map(|m| (name.to_string(), m))
                        .map_err(|e| format!("{name}: {e}"))
                },
            ));
        }
        if !images.is_empty() {
            self.bundled_images = images.to_vec();
            self.use_bundled = true;
            self.labels.get_or_insert(LabelsChoice::Folders);
        }
    }

    /// Adds a variant by path (read in the background).
    pub fn add_variant_path(&mut self, p: PathBuf, repaint: Option<&egui::Context>) {
        self.adding.push(Job::spawn(
            format!("opening {}", p.display()),
            repaint.cloned(),
            move |_| {
                let name = p.file_name().map_or(p.display().to_string(), |n| {
                    n.to_string_lossy().into_owned()
                });
                Model::open(&p)
                    .map(|m| (name, m))
                    .map_err(|e| format!("{}: {e}", p.display()))
            },
        ));
    }

    /// Takes finished jobs (waiting for them when `block`); true when one finished.
    pub fn collect(&mut self, block: bool) -> bool {
        let mut busy = false;
        for r in Job::take_finished(&mut self.adding, block) {
            busy = true;
            match r {
                Ok((name, model)) => {
                    let key = Key::Added(self.added.len());
                    if let Some(c) = &mut self.chosen {
                        c.insert(key);
                    }
                    self.added.push(Candidate {
                        key,
                        name,
                        is_float: matches!(
                            model.summary().kind,
                            crate::model::ModelKind::Float32
                                | crate::model::ModelKind::Float16Weights
                        ),
                        model: Arc::new(model),
                        labels: None,
                    })
                }
                Err(e) => self.error = Some(e),
            }
        }
        if let Some(r) = self.job.as_mut().and_then(|j| j.take(block)) {
            busy = true;
            self.job = None;
            match r {
                Ok(o) => {
                    self.outcome = Some(o);
                    self.error = None;
                }
                Err(e) => self.error = Some(e),
            }
        }
        busy
    }

    /// Where the run reads images: the typed folder, or the bundled samples.
    fn image_source(&self) -> Option<ImageSource> {
        if self.use_bundled && !self.bundled_images.is_empty() {
            Some(ImageSource::Bundled(self.bundled_images.clone()))
        } else if !self.images.trim().is_empty() {
            Some(ImageSource::Folder(PathBuf::from(self.images.trim())))
        } else {
            None
        }
    }

    fn start(
        &mut self,
        float: &Candidate,
        variants: &[&Candidate],
        repaint: Option<&egui::Context>,
    ) {
        let Some(source) = self.image_source() else {
            self.error = Some("choose a folder of images".into());
            return;
        };
        let labels = match self.labels.unwrap_or(LabelsChoice::None) {
            LabelsChoice::Folders => LabelsFrom::Folders,
            LabelsChoice::Csv => LabelsFrom::Csv(PathBuf::from(self.csv.trim())),
            LabelsChoice::None => LabelsFrom::None,
        };
        let float = (
            float.model.clone(),
            float.name.clone(),
            float.labels.clone(),
        );
        let variants: Vec<(Arc<Model>, String)> = variants
            .iter()
            .map(|c| (c.model.clone(), c.name.clone()))
            .collect();
        let progress = Arc::new(Mutex::new(None));
        self.progress = progress.clone();
        self.error = None;
        self.job = Some(Job::spawn(
            format!("evaluating {} variant(s)", variants.len()),
            repaint.cloned(),
            move |jc| {
                run(float, variants, source, labels, jc, progress).map_err(|e| format!("{e:#}"))
            },
        ));
    }

    /// `cands`: the open tabs as candidates; `default_float`: the active tab's float model.
    pub fn ui(
        &mut self,
        ui: &mut egui::Ui,
        ctx: &ViewCtx,
        tabs: &[Candidate],
        default_float: Option<u64>,
    ) -> Option<Action> {
        self.collect(false);
        let cands: Vec<Candidate> = tabs.iter().chain(&self.added).cloned().collect();
        let float = self
            .float_key
            .and_then(|k| cands.iter().find(|c| c.key == k))
            .or_else(|| default_float.and_then(|id| cands.iter().find(|c| c.key == Key::Tab(id))))
            .or_else(|| cands.iter().find(|c| c.is_float));
        let mut action = None;
        ui.horizontal_wrapped(|ui| {
            let lab = ui.label("float model:");
            egui::ComboBox::from_id_salt("tradeoffs_float")
                .selected_text(float.map_or("choose".into(), |f| f.name.clone()))
                .show_ui(ui, |ui| {
                    for c in &cands {
                        if ui
                            .selectable_label(float.is_some_and(|f| f.key == c.key), &c.name)
                            .clicked()
                        {
                            self.float_key = Some(c.key);
                        }
                    }
                })
                .response
                .labelled_by(lab.id);
        });
        let Some(float) = float else {
            ui.label("Trade-offs evaluates variants of a float model over a folder of images. Open the float model and its variants (or add them here).");
            self.add_variant_ui(ui, ctx.repaint);
            return None;
        };
        // Variants: every other candidate; those without the float model's I/O cannot be chosen.
        let others: Vec<(&Candidate, Result<(), String>)> = cands
            .iter()
            .filter(|c| c.key != float.key)
            .map(|c| {
                let ok = eval::check_signature(&float.model, &c.model, &c.name)
                    .map_err(|e| e.to_string());
                (c, ok)
            })
            .collect();
        let chosen: BTreeSet<Key> = self.chosen.clone().unwrap_or_else(|| {
            others
                .iter()
                .filter(|(_, ok)| ok.is_ok())
                .map(|(c, _)| c.key)
                .collect()
        });
        let mut toggled = None;
        ui.horizontal_wrapped(|ui| {
            ui.label("variants:");
            for (c, ok) in &others {
                let mut on = chosen.contains(&c.key) && ok.is_ok();
                let r = ui.add_enabled(ok.is_ok(), egui::Checkbox::new(&mut on, &c.name));
                let r = match ok {
                    Err(e) => r.on_disabled_hover_text(e),
                    Ok(()) => r,
                };
                if r.changed() {
                    toggled = Some(c.key);
                }
            }
            self.add_variant_ui(ui, ctx.repaint);
        });
        if let Some(k) = toggled {
            let mut c = chosen.clone();
            if !c.remove(&k) {
                c.insert(k);
            }
            self.chosen = Some(c);
        }
        if self.show_add_field {
            ui.horizontal(|ui| {
                ui.label("variant path:");
                let r = ui.add(
                    egui::TextEdit::singleline(&mut self.add_path)
                        .desired_width(420.0)
                        .hint_text("/path/to/variant.tflite"),
                );
                let enter = r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
                if (ui.button("Add").clicked() || enter) && !self.add_path.trim().is_empty() {
                    let p = PathBuf::from(self.add_path.trim());
                    self.add_variant_path(p, ctx.repaint);
                    self.add_path.clear();
                    self.show_add_field = false;
                }
            });
        }
        self.inputs_ui(ui);
        let variants: Vec<&Candidate> = others
            .iter()
            .filter(|(c, ok)| ok.is_ok() && chosen.contains(&c.key))
            .map(|(c, _)| *c)
            .collect();
        ui.horizontal(|ui| {
            let can = !variants.is_empty() && self.job.is_none() && self.image_source().is_some();
            if ui
                .add_enabled(can, egui::Button::new("Run evaluation"))
                .clicked()
            {
                self.start(float, &variants, ctx.repaint);
            }
            if let Some(j) = &self.job {
                let p = *self.progress.lock().unwrap_or_else(|e| e.into_inner());
                let (frac, text) = match p {
                    Some(p) => (
                        p.done as f32 / p.total.max(1) as f32,
                        format!(
                            "{} / {} images{}",
                            p.done,
                            p.total,
                            p.eta_s.map_or(String::new(), |e| format!(", ETA {e:.0} s"))
                        ),
                    ),
                    None => (0.0, j.progress()),
                };
                ui.add(egui::ProgressBar::new(frac).text(text).desired_width(360.0));
                if ui.button("Cancel").clicked() {
                    j.cancel();
                }
            }
        });
        if let Some(e) = &self.error {
            ui.colored_label(ui.visuals().error_fg_color, format!("error: {e}"));
        }
        self.plots.clear();
        let Some(o) = &mut self.outcome else {
            return None;
        };
        egui::ScrollArea::vertical()
            .id_salt("tradeoffs_scroll")
            .auto_shrink(false)
            .show(ui, |ui| {
                let r = o.report.clone();
                ui.label(format!(
                    "{}; the float model is the reference row",
                    r.summary_line()
                ));
                table_ui(ui, &r);
                ui.add_space(8.0);
                self.plots = plots_ui(ui, &r);
                ui.add_space(8.0);
                action = gallery_ui(ui, &r, &mut o.thumbs);
            });
        action
    }

    fn add_variant_ui(&mut self, ui: &mut egui::Ui, repaint: Option<&egui::Context>) {
        if ui.button("Add variant...").clicked() {
            match rfd::FileDialog::new()
                .add_filter("TFLite models", &["tflite"])
                .pick_files()
            {
                Some(files) if !files.is_empty() => {
                    for f in files {
                        self.add_variant_path(f, repaint);
                    }
                }
                // No native dialog (no desktop portal) or cancelled: the path field.
                _ => self.show_add_field = true,
            }
        }
    }

    fn inputs_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal_wrapped(|ui| {
            ui.label("images:");
            if !self.bundled_images.is_empty() {
                ui.radio_value(
                    &mut self.use_bundled,
                    true,
                    format!(
                        "the bundled example's images ({})",
                        self.bundled_images.len()
                    ),
                );
                ui.radio_value(&mut self.use_bundled, false, "a folder:");
            }
            let r = ui.add(
                egui::TextEdit::singleline(&mut self.images)
                    .desired_width(320.0)
                    .hint_text("/path/to/images (searched recursively)"),
            );
            if r.changed() {
                self.use_bundled = false;
            }
            if ui.button("Browse...").clicked() {
                // Without a native dialog the text field is the way in.
                if let Some(d) = rfd::FileDialog::new().pick_folder() {
                    self.images = d.display().to_string();
                    self.use_bundled = false;
                }
            }
        });
        ui.horizontal_wrapped(|ui| {
            ui.label("labels:");
            let l = self.labels.get_or_insert(LabelsChoice::None);
            ui.radio_value(l, LabelsChoice::Folders, "from class folders");
            ui.radio_value(l, LabelsChoice::Csv, "from a CSV (file,label):");
            ui.add_enabled(
                *l == LabelsChoice::Csv,
                egui::TextEdit::singleline(&mut self.csv)
                    .desired_width(240.0)
                    .hint_text("labels.csv"),
            );
            ui.radio_value(l, LabelsChoice::None, "none (agreement with float)");
        });
    }
}

#[derive(Clone)]
enum ImageSource {
    Folder(PathBuf),
    Bundled(Vec<(&'static str, &'static [u8])>),
}

/// The bundled images, written to a temporary folder so they are read like any folder.
fn bundled_root(images: &[(&str, &[u8])]) -> anyhow::Result<PathBuf> {
    let root =
        std::env::temp_dir().join(format!("quantscope-example-images-{}", std::process::id()));
    for (name, bytes) in images {
        let p = root.join(name);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d)?;
        }
        std::fs::write(&p, bytes)?;
    }
    Ok(root)
}

/// The job: list the inputs, evaluate (the CLI's call, with the CLI's default preprocessing),
/// decode thumbnails of the flipped images.
fn run(
    float: (Arc<Model>, String, Option<Vec<String>>),
    variants: Vec<(Arc<Model>, String)>,
    source: ImageSource,
    labels: LabelsFrom,
    jc: &super::jobs::JobCtx,
    progress: Arc<Mutex<Option<Progress>>>,
) -> anyhow::Result<Outcome> {
    jc.set_progress("listing images");
    let root = match source {
        ImageSource::Folder(p) => p,
        ImageSource::Bundled(v) => bundled_root(&v)?,
    };
    let classes = float.2.unwrap_or_default();
    let items = eval::list_inputs(&root, InputKind::Images, &labels, &classes, 1)?;
    let pp = crate::preprocess::detect_defaults(&float.0, 0, variants.first().map(|v| &*v.0))?.0;
    let mut opts = EvalOptions::new(pp);
    opts.labels_source = labels.source();
    opts.class_names = classes;
    opts.cancel = jc.engine_options("eval").cancel;
    let jc2 = jc.clone();
    opts.progress = Some(Arc::new(move |p: Progress| {
        if let Ok(mut g) = progress.lock() {
            *g = Some(p);
        }
        jc2.set_progress(format!("{} / {} images", p.done, p.total));
    }));
    let vs: Vec<(&Model, &str)> = variants.iter().map(|(m, n)| (&**m, n.as_str())).collect();
    let report = eval::evaluate((&float.0, &float.1), &vs, &items, InputKind::Images, &opts)?;
    jc.set_progress("thumbnails of the flipped images");
    let flipped: BTreeSet<&String> = report.variants.iter().flat_map(|v| &v.flips).collect();
    let thumbs = flipped
        .into_iter()
        .take(MAX_THUMBS)
        .filter_map(|name| {
            let path = root.join(name);
            let img = crate::preprocess::load_image(&path, Default::default()).ok()?;
            let t = image::imageops::thumbnail(&img, THUMB_SIDE, THUMB_SIDE);
            let image =
                egui::ColorImage::from_rgb([t.width() as usize, t.height() as usize], t.as_raw());
            Some(Thumb {
                name: name.clone(),
                path,
                image,
                tex: None,
            })
        })
        .collect();
    Ok(Outcome {
        report: Arc::new(report),
        root,
        thumbs,
    })
}

/// The short name of a model (its file name).
pub fn short_name(model: &str) -> String {
    Path::new(model)
        .file_name()
        .map_or(model.to_string(), |f| f.to_string_lossy().into_owned())
}

/// The column headers of the table.
pub const COLUMNS: [&str; 13] = [
    "model",
    "size",
    "latency (ms)",
    "top-1 accuracy",
    "top-5 accuracy",
    "top-1 agreement",
    "SQNR mean (dB)",
    "SQNR p5 (dB)",
    "SQNR worst (dB)",
    "mean abs diff",
    "mean rel diff",
    "bit accuracy",
    "KL (nats)",
];

/// One row of the table, formatted from the report (`reference`: the float model's row).
pub fn row_cells(v: &VariantReport, reference: bool) -> Vec<String> {
    let db = |x: Option<f64>| match (reference, x) {
        (true, _) => "(ref)".to_string(),
        (_, Some(x)) => format!("{x:.1}"),
        _ => "exact".to_string(),
    };
    let reff = |s: String| if reference { "(ref)".to_string() } else { s };
    vec![
        short_name(&v.file.model),
        human_bytes(v.file.file_bytes),
        v.latency_ms.map_or("-".into(), |l| format!("{l:.3}")),
        pct(v.top1_accuracy),
        pct(v.top5_accuracy),
        reff(pct(v.top1_agreement)),
        db(v.output_sqnr_db_mean),
        db(v.output_sqnr_db_p5),
        db(v.output_sqnr_db_worst),
        reff(format!("{:.3e}", v.mean_abs_diff)),
        reff(pct(v.mean_rel_diff)),
        pct(v.bit_accuracy),
        reff(v.kl_mean.map_or("-".into(), |k| format!("{k:.2e}"))),
    ]
}

fn table_ui(ui: &mut egui::Ui, r: &Report) {
    egui::ScrollArea::horizontal()
        .id_salt("tradeoffs_table_scroll")
        .show(ui, |ui| {
            egui::Grid::new("tradeoffs_table")
                .striped(true)
                .spacing([14.0, 4.0])
                .show(ui, |ui| {
                    for c in COLUMNS {
                        ui.strong(c);
                    }
                    ui.end_row();
                    let rows = std::iter::once((&r.reference, true))
                        .chain(r.variants.iter().map(|v| (v, false)));
                    for (v, reference) in rows {
                        for c in row_cells(v, reference) {
                            ui.label(c);
                        }
                        ui.end_row();
                    }
                });
        });
}

/// Scatter plots, one point per model with its name beside it.
fn plots_ui(ui: &mut egui::Ui, r: &Report) -> Vec<PlotShown> {
    let rows: Vec<&VariantReport> = std::iter::once(&r.reference).chain(&r.variants).collect();
    let labelled = r.labelled_images > 0;
    let size_kb = |v: &VariantReport| Some(v.file.file_bytes as f64 / 1024.0);
    let lat = |v: &VariantReport| v.latency_ms;
    let acc = |v: &VariantReport| v.top1_accuracy.map(|a| a * 100.0);
    let agree = |v: &VariantReport| v.top1_agreement.map(|a| a * 100.0);
    type Axis<'a> = (&'a str, &'a dyn Fn(&VariantReport) -> Option<f64>);
    let mut specs: Vec<(&str, Axis, Axis)> = Vec::new();
    if labelled {
        specs.push((
            "size vs top-1 accuracy",
            ("size (KB)", &size_kb),
            ("top-1 accuracy (%)", &acc),
        ));
    }
    specs.push((
        "size vs top-1 agreement",
        ("size (KB)", &size_kb),
        ("top-1 agreement (%)", &agree),
    ));
    if labelled {
        specs.push((
            "latency vs top-1 accuracy",
            ("latency (ms)", &lat),
            ("top-1 accuracy (%)", &acc),
        ));
    } else {
        specs.push((
            "latency vs top-1 agreement",
            ("latency (ms)", &lat),
            ("top-1 agreement (%)", &agree),
        ));
    }
    let mut shown = Vec::new();
    let w = ((ui.available_width() - 24.0) / specs.len() as f32).max(200.0);
    ui.horizontal(|ui| {
        for (title, (xl, x), (yl, y)) in specs {
            ui.vertical(|ui| {
                ui.strong(title);
                let pts: Vec<(String, [f64; 2])> = rows
                    .iter()
                    .filter_map(|v| Some((short_name(&v.file.model), [x(v)?, y(v)?])))
                    .collect();
                Plot::new(format!("tradeoffs_{title}"))
                    .width(w)
                    .height(220.0)
                    .x_axis_label(xl)
                    .y_axis_label(yl)
                    .allow_scroll(false)
                    .set_margin_fraction(egui::vec2(0.3, 0.15))
                    .show(ui, |p| {
                        for (name, xy) in &pts {
                            p.points(
                                Points::new(name.clone(), PlotPoints::from(vec![*xy])).radius(5.0),
                            );
                            p.text(
                                Text::new(
                                    name.clone(),
                                    PlotPoint::new(xy[0], xy[1]),
                                    format!("  {name}"),
                                )
                                .anchor(egui::Align2::LEFT_CENTER),
                            );
                        }
                    });
                shown.push(PlotShown {
                    title: title.to_string(),
                    points: pts.len(),
                });
            });
        }
    });
    shown
}

/// Flipped images per variant; clicking a thumbnail opens the image in Compare.
fn gallery_ui(ui: &mut egui::Ui, r: &Report, thumbs: &mut [Thumb]) -> Option<Action> {
    let mut action = None;
    for t in thumbs.iter_mut() {
        if t.tex.is_none() {
            t.tex = Some(ui.ctx().load_texture(
                format!("tradeoffs_thumb_{}", t.name),
                t.image.clone(),
                egui::TextureOptions::LINEAR,
            ));
        }
    }
    ui.strong("Flipped images (click one to open it in Compare)");
    for v in &r.variants {
        if v.flips.is_empty() {
            ui.label(format!("{}: no flips", short_name(&v.file.model)));
            continue;
        }
        let kind = |n: &String| {
            if v.flips_lost.contains(n) {
                "float right, variant wrong"
            } else if v.flips_gained.contains(n) {
                "float wrong, variant right"
            } else {
                "answer changed"
            }
        };
        ui.label(format!(
            "{}: {} flipped ({} lost, {} gained)",
            short_name(&v.file.model),
            v.flips.len(),
            v.flips_lost.len(),
            v.flips_gained.len()
        ));
        ui.horizontal_wrapped(|ui| {
            for n in &v.flips {
                let Some(t) = thumbs.iter().find(|t| &t.name == n) else {
                    ui.label(n);
                    continue;
                };
                let Some(tex) = &t.tex else { continue };
                let b = ui
                    .add(egui::Button::image((tex.id(), tex.size_vec2())))
                    .on_hover_text(format!("{n}: {}", kind(n)));
                b.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Button, true, n));
                if b.clicked() {
                    action = Some(Action::OpenImage(t.path.clone()));
                }
            }
        });
    }
    action
}
