//! The desktop app (feature `gui`): an eframe window over the library. Every number shown comes
//! from the library (`model`, `quant`, `preprocess`, `compare`); this module only lays it out.
//!
//! Tabs of open models (any two can be paired: float + quantized), each with the views
//! Overview, Tensors (table + detail), Compare (images through both models) and What-if
//! (simulated quantization of a float model). Loading, analysis and runs are background
//! [`jobs`].

pub mod compare;
pub mod export;
pub mod jobs;
pub mod overview;
pub mod tensor_detail;
pub mod tensors;
pub mod whatif;

use crate::model::{Model, ModelKind, Summary};
use crate::quant::{self, WeightsReport};
use eframe::egui;
use export::StatusLine;
use jobs::Job;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The bundled example (embedded so the app works from any directory).
pub struct Example {
    pub float: &'static [u8],
    pub quant: &'static [u8],
    pub labels: &'static str,
    pub image: &'static [u8],
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum View {
    Overview,
    Tensors,
    Compare,
    WhatIf,
}

impl View {
    const ALL: [(View, &'static str); 4] = [
        (View::Overview, "Overview"),
        (View::Tensors, "Tensors"),
        (View::Compare, "Compare"),
        (View::WhatIf, "What-if"),
    ];
}

/// What persists between runs (eframe persistence).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct Settings {
    recent: Vec<String>,
    view: View,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            recent: Vec::new(),
            view: View::Overview,
        }
    }
}

/// A model loaded by a job.
pub struct Loaded {
    pub name: String,
    pub path: Option<PathBuf>,
    pub model: Arc<Model>,
    pub summary: Summary,
    pub labels: Option<Vec<String>>,
    /// Pair with the tab that has this id once loaded.
    pub pair_with: Option<u64>,
    pub reserved_id: u64,
}

/// One open model.
pub struct ModelTab {
    pub id: u64,
    pub name: String,
    pub path: Option<PathBuf>,
    pub model: Arc<Model>,
    pub summary: Summary,
    pub labels: Option<Vec<String>>,
    /// The id of the tab this one is paired with.
    pub paired: Option<u64>,
    pub view: View,
    pub weights: Option<Arc<WeightsReport>>,
    pub weights_error: Option<String>,
    weights_job: Option<Job<WeightsReport>>,
    pub overview: overview::OverviewPanel,
    pub tensors: tensors::TensorsPanel,
    pub detail: tensor_detail::TensorDetailPanel,
    pub compare: compare::ComparePanel,
    pub whatif: whatif::WhatIfPanel,
}

impl ModelTab {
    pub fn is_float(&self) -> bool {
        matches!(
            self.summary.kind,
            ModelKind::Float32 | ModelKind::Float16Weights
        )
    }
}

/// A dropped file given by path (what the window system hands over; tests use it too).
#[derive(Debug)]
pub struct DroppedPath(pub PathBuf);

impl egui::DroppedFile for DroppedPath {
    fn path(&self) -> &Path {
        &self.0
    }
    fn bytes(&self) -> Result<Vec<u8>, String> {
        std::fs::read(&self.0).map_err(|e| format!("{}: {e}", self.0.display()))
    }
}

pub struct QuantscopeApp {
    pub tabs: Vec<ModelTab>,
    pub active: usize,
    next_id: u64,
    loads: Vec<Job<Loaded>>,
    /// Errors shown in the window (newest last), with a dismiss button.
    pub errors: Vec<String>,
    settings: Settings,
    path_field: String,
    show_path_field: bool,
    /// Images dropped before any model was open.
    pending_images: Vec<(String, Vec<u8>)>,
    pending_loaded: Vec<Loaded>,
    pub status: StatusLine,
    repaint: Option<egui::Context>,
}

impl Default for QuantscopeApp {
    fn default() -> Self {
        QuantscopeApp {
            tabs: Vec::new(),
            active: 0,
            next_id: 1,
            loads: Vec::new(),
            errors: Vec::new(),
            settings: Settings::default(),
            path_field: String::new(),
            show_path_field: false,
            pending_images: Vec::new(),
            pending_loaded: Vec::new(),
            status: StatusLine::default(),
            repaint: None,
        }
    }
}

fn is_image(p: &Path) -> bool {
    p.extension().and_then(|e| e.to_str()).is_some_and(|e| {
        matches!(
            e.to_ascii_lowercase().as_str(),
            "png" | "jpg" | "jpeg" | "bmp" | "webp" | "gif"
        )
    })
}

impl QuantscopeApp {
    /// The app as eframe creates it: persisted settings restored.
    pub fn new(cc: &eframe::CreationContext<'_>) -> Self {
        let mut app = QuantscopeApp::default();
        if let Some(s) = cc.storage {
            app.restore(s);
        }
        app.repaint = Some(cc.egui_ctx.clone());
        app
    }

    /// Restores what `save` persisted (recent files, the last view); unreadable settings are
    /// ignored rather than refusing to start.
    pub fn restore(&mut self, storage: &dyn eframe::Storage) {
        if let Some(s) = eframe::get_value::<Settings>(storage, eframe::APP_KEY) {
            self.settings = s;
        }
    }

    /// Recently opened files, newest first (File > Open recent).
    pub fn recent(&self) -> &[String] {
        &self.settings.recent
    }

    /// Opens the bundled example pair (INT8 paired with float) and queues the sample image.
    pub fn open_example(&mut self, ex: &Example) {
        let labels: Vec<String> = ex.labels.lines().map(|l| l.trim().to_string()).collect();
        let fid = self.reserve_id();
        let qid = self.reserve_id();
        self.spawn_load_bytes(
            "digits_f32.tflite",
            ex.float.to_vec(),
            Some(labels.clone()),
            fid,
            None,
        );
        self.spawn_load_bytes(
            "digits_int8.tflite",
            ex.quant.to_vec(),
            Some(labels),
            qid,
            Some(fid),
        );
        self.pending_images
            .push(("digit_2_0.png".into(), ex.image.to_vec()));
    }

    /// Opens `model` and, when given, `float` paired with it (`quantscope MODEL [FLOAT_MODEL]`).
    pub fn open_models(&mut self, model: &Path, float: Option<&Path>) {
        let fid = float.map(|f| {
            let id = self.reserve_id();
            self.spawn_load_path(f, id, None);
            id
        });
        let id = self.reserve_id();
        self.spawn_load_path(model, id, fid);
    }

    /// Opens a file the way a dropped file is opened: models in a new tab, images into the
    /// active tab's comparison.
    pub fn open_path(&mut self, path: &Path) {
        self.open_dropped(path, None);
    }

    fn open_dropped(&mut self, path: &Path, bytes: Option<Vec<u8>>) {
        self.remember(path);
        if is_image(path) {
            let bytes = match bytes.map(Ok).unwrap_or_else(|| {
                std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
            }) {
                Ok(b) => b,
                Err(e) => return self.errors.push(e),
            };
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_else(|| path.display().to_string());
            self.add_image(name, bytes);
        } else {
            let id = self.reserve_id();
            if path.exists() {
                self.spawn_load_path(path, id, None);
            } else if let Some(b) = bytes {
                let name = path.display().to_string();
                self.spawn_load_bytes(&name, b, None, id, None);
            } else {
                self.errors
                    .push(format!("{}: no such file", path.display()));
            }
        }
    }

    fn add_image(&mut self, name: String, bytes: Vec<u8>) {
        if self.tabs.is_empty() {
            self.pending_images.push((name, bytes));
            return;
        }
        let i = self.compare_tab(self.active);
        let tab = &mut self.tabs[i];
        tab.compare.add_image(name, &bytes);
        tab.view = View::Compare;
        self.active = i;
    }

    /// The tab whose compare panel serves tab `i`: a float tab defers to its quantized partner.
    fn compare_tab(&self, i: usize) -> usize {
        let t = &self.tabs[i];
        if t.is_float() {
            if let Some(p) = t.paired.and_then(|id| self.tab_index(id)) {
                return p;
            }
        }
        i
    }

    fn remember(&mut self, path: &Path) {
        let s = path.display().to_string();
        self.settings.recent.retain(|r| r != &s);
        self.settings.recent.insert(0, s);
        self.settings.recent.truncate(12);
    }

    fn reserve_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn spawn_load_path(&mut self, path: &Path, id: u64, pair_with: Option<u64>) {
        let p = path.to_path_buf();
        self.remember(path);
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_else(|| p.display().to_string());
        self.loads.push(Job::spawn(
            format!("opening {name}"),
            self.repaint.clone(),
            move |jc| {
                jc.set_progress("reading and verifying the flatbuffer");
                let model = Model::open(&p).map_err(|e| format!("{}: {e}", p.display()))?;
                // The same resolution as the CLI: metadata labels, else <prefix>_labels.txt.
                let labels = crate::labels::resolve(None, &model, Some(&p))
                    .ok()
                    .and_then(|l| l.primary().map(|l| l.names.clone()));
                Ok(Loaded {
                    name,
                    summary: model.summary(),
                    path: Some(p),
                    model: Arc::new(model),
                    labels,
                    pair_with,
                    reserved_id: id,
                })
            },
        ));
    }

    fn spawn_load_bytes(
        &mut self,
        name: &str,
        bytes: Vec<u8>,
        labels: Option<Vec<String>>,
        id: u64,
        pair_with: Option<u64>,
    ) {
        let name = name.to_string();
        self.loads.push(Job::spawn(
            format!("opening {name}"),
            self.repaint.clone(),
            move |jc| {
                jc.set_progress("verifying the flatbuffer");
                let model = Model::from_bytes(bytes).map_err(|e| format!("{name}: {e}"))?;
                // Dropped bytes have no folder to look in, but may carry metadata labels.
                let labels = labels.or_else(|| {
                    crate::labels::resolve(None, &model, None)
                        .ok()
                        .and_then(|l| l.primary().map(|l| l.names.clone()))
                });
                Ok(Loaded {
                    name,
                    summary: model.summary(),
                    path: None,
                    model: Arc::new(model),
                    labels,
                    pair_with,
                    reserved_id: id,
                })
            },
        ));
    }

    pub fn tab_index(&self, id: u64) -> Option<usize> {
        self.tabs.iter().position(|t| t.id == id)
    }

    fn add_tab(&mut self, l: Loaded) {
        let tab = ModelTab {
            id: l.reserved_id,
            name: l.name,
            path: l.path,
            model: l.model,
            summary: l.summary,
            labels: l.labels,
            paired: None,
            view: self.settings.view,
            weights: None,
            weights_error: None,
            weights_job: None,
            overview: Default::default(),
            tensors: Default::default(),
            detail: Default::default(),
            compare: Default::default(),
            whatif: Default::default(),
        };
        let id = tab.id;
        self.tabs.push(tab);
        self.active = self.tabs.len() - 1;
        // Explicit pairing (MODEL FLOAT_MODEL, the example), else pair a float model with the
        // one unpaired model of the other kind.
        let partner = l
            .pair_with
            .filter(|p| self.tab_index(*p).is_some())
            .or_else(|| {
                let me = &self.tabs[self.active];
                let cands: Vec<u64> = self
                    .tabs
                    .iter()
                    .filter(|t| t.id != id && t.paired.is_none() && t.is_float() != me.is_float())
                    .map(|t| t.id)
                    .collect();
                (cands.len() == 1).then(|| cands[0])
            });
        match partner {
            Some(p) => self.pair(id, Some(p)),
            None => self.start_weights(self.active),
        }
        if !self.pending_images.is_empty() && self.tabs.iter().any(|t| !t.is_float()) {
            for (n, b) in std::mem::take(&mut self.pending_images) {
                self.add_image(n, b);
            }
        }
    }

    /// Pairs tab `a` with tab `b` (or unpairs it), restarting the weight analyses.
    pub fn pair(&mut self, a: u64, b: Option<u64>) {
        let Some(i) = self.tab_index(a) else { return };
        let mut restart = vec![i];
        for id in [Some(a), b].into_iter().flatten() {
            if let Some(k) = self.tab_index(id) {
                if let Some(old) = self.tabs[k].paired.take() {
                    if let Some(j) = self.tab_index(old) {
                        self.tabs[j].paired = None;
                        restart.push(j);
                    }
                }
            }
        }
        if let Some(bi) = b.and_then(|b| self.tab_index(b)).filter(|&bi| bi != i) {
            self.tabs[bi].paired = Some(a);
            self.tabs[i].paired = b;
            restart.push(bi);
        }
        restart.sort();
        restart.dedup();
        for j in restart {
            self.tabs[j].compare.reset_run();
            self.start_weights(j);
        }
    }

    /// The paired float model of tab `i`, when `i` is the quantized side of a pair.
    fn float_partner(&self, i: usize) -> Option<&ModelTab> {
        let t = &self.tabs[i];
        if t.is_float() {
            return None;
        }
        t.paired
            .and_then(|id| self.tab_index(id))
            .map(|j| &self.tabs[j])
            .filter(|p| p.is_float())
    }

    fn start_weights(&mut self, i: usize) {
        let float = self.float_partner(i).map(|f| f.model.clone());
        let t = &mut self.tabs[i];
        if let Some(j) = t.weights_job.take() {
            j.cancel();
        }
        t.weights = None;
        t.weights_error = None;
        let model = t.model.clone();
        t.weights_job = Some(Job::spawn(
            format!("analysing the weights of {}", t.name),
            self.repaint.clone(),
            move |jc| {
                jc.set_progress(if float.is_some() {
                    "statistics, checks and error against the paired float model"
                } else {
                    "statistics and spec checks"
                });
                quant::analyze(&model, float.as_deref(), &quant::Options::default())
                    .map_err(|e| e.to_string())
            },
        ));
    }

    pub fn close_tab(&mut self, i: usize) {
        if i >= self.tabs.len() {
            return;
        }
        let id = self.tabs[i].id;
        self.tabs.remove(i);
        for j in 0..self.tabs.len() {
            if self.tabs[j].paired == Some(id) {
                self.tabs[j].paired = None;
                self.tabs[j].compare.reset_run();
                self.start_weights(j);
            }
        }
        self.active = self.active.min(self.tabs.len().saturating_sub(1));
    }

    /// Collects finished jobs; starts comparisons that became ready.
    fn poll_jobs(&mut self) {
        let mut done = Vec::new();
        self.loads.retain_mut(|j| match j.poll() {
            Some(r) => {
                done.push(r);
                false
            }
            None => true,
        });
        for r in done {
            match r {
                Ok(l) => self.add_tab(l),
                Err(e) => self.errors.push(e),
            }
        }
        for t in &mut self.tabs {
            if let Some(j) = &mut t.weights_job {
                if let Some(r) = j.poll() {
                    match r {
                        Ok(w) => t.weights = Some(Arc::new(w)),
                        Err(e) => t.weights_error = Some(e),
                    }
                    t.weights_job = None;
                }
            }
        }
        for i in 0..self.tabs.len() {
            let float = self.float_partner(i).map(|f| f.model.clone());
            let t = &mut self.tabs[i];
            t.compare.poll(
                &t.model,
                float.as_ref(),
                t.labels.as_ref(),
                self.repaint.clone(),
            );
            t.whatif.poll();
        }
    }

    /// Runs every job to completion (tests and scripted use): loads, analyses, comparisons.
    pub fn wait_for_jobs(&mut self) {
        for _ in 0..20 {
            let mut busy = false;
            for j in &mut self.loads {
                if let Some(r) = j.wait() {
                    busy = true;
                    match r {
                        Ok(l) => self.pending_loaded.push(l),
                        Err(e) => self.errors.push(e),
                    }
                }
            }
            self.loads.clear();
            for l in std::mem::take(&mut self.pending_loaded) {
                self.add_tab(l);
            }
            for t in &mut self.tabs {
                if let Some(j) = &mut t.weights_job {
                    if let Some(r) = j.wait() {
                        busy = true;
                        match r {
                            Ok(w) => t.weights = Some(Arc::new(w)),
                            Err(e) => t.weights_error = Some(e),
                        }
                    }
                    t.weights_job = None;
                }
            }
            for i in 0..self.tabs.len() {
                let float = self.float_partner(i).map(|f| f.model.clone());
                let t = &mut self.tabs[i];
                busy |= t.compare.wait(&t.model, float.as_ref(), t.labels.as_ref());
                busy |= t.whatif.wait();
            }
            if !busy {
                break;
            }
        }
    }

    fn any_job_running(&self) -> bool {
        !self.loads.is_empty()
            || self
                .tabs
                .iter()
                .any(|t| t.weights_job.is_some() || t.compare.is_running() || t.whatif.is_running())
    }

    /// One JSON document with everything computed: inspection, weights, comparisons, what-if.
    pub fn report_json(&self) -> serde_json::Value {
        let models: Vec<serde_json::Value> = self
            .tabs
            .iter()
            .map(|t| {
                let name = t
                    .path
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| t.name.clone());
                serde_json::json!({
                    "name": t.name,
                    "paired_with": t.paired.and_then(|id| self.tab_index(id)).map(|j| self.tabs[j].name.clone()),
                    "inspect": crate::report::InspectReport::new(&t.model, &name),
                    "weights": t.weights.as_deref(),
                    "weights_error": t.weights_error,
                    "comparisons": t.compare.results_json(),
                    "what_if": t.whatif.report_json(),
                })
            })
            .collect();
        serde_json::json!({ "quantscope": env!("CARGO_PKG_VERSION"), "models": models })
    }

    fn export_report(&mut self) {
        let s = serde_json::to_string_pretty(&self.report_json()).unwrap_or_default();
        self.status
            .report(export::save("quantscope_report.json", s.as_bytes(), true));
    }

    fn open_dialog(&mut self) {
        let picked = rfd::FileDialog::new()
            .add_filter(
                "TFLite models and images",
                &["tflite", "png", "jpg", "jpeg", "bmp", "webp", "gif"],
            )
            .pick_files();
        match picked {
            Some(files) if !files.is_empty() => {
                for f in files {
                    self.open_path(&f);
                }
            }
            // No native dialog (no desktop portal) or cancelled: the in-app path field.
            _ => self.show_path_field = true,
        }
    }

    fn rerun(&mut self) {
        if self.tabs.is_empty() {
            return;
        }
        let i = self.compare_tab(self.active);
        self.tabs[i].compare.reset_run();
        self.start_weights(i);
    }

    fn shortcuts(&mut self, ui: &mut egui::Ui) {
        let (open, close, rerun) = ui.input_mut(|i| {
            (
                i.consume_key(egui::Modifiers::COMMAND, egui::Key::O),
                i.consume_key(egui::Modifiers::COMMAND, egui::Key::W),
                i.consume_key(egui::Modifiers::NONE, egui::Key::F5),
            )
        });
        if open {
            self.open_dialog();
        }
        if close {
            self.close_tab(self.active);
        }
        if rerun {
            self.rerun();
        }
    }

    fn menu_bar(&mut self, ui: &mut egui::Ui) {
        egui::MenuBar::new().ui(ui, |ui| {
            ui.menu_button("File", |ui| {
                if ui.button("Open...  (Ctrl+O)").clicked() {
                    ui.close();
                    self.open_dialog();
                }
                if ui.button("Open by path...").clicked() {
                    ui.close();
                    self.show_path_field = true;
                }
                ui.menu_button("Open recent", |ui| {
                    if self.settings.recent.is_empty() {
                        ui.weak("nothing yet");
                    }
                    for r in self.settings.recent.clone() {
                        if ui.button(&r).clicked() {
                            ui.close();
                            self.open_path(Path::new(&r));
                        }
                    }
                });
                ui.separator();
                if ui.button("Export report (JSON)...").clicked() {
                    ui.close();
                    self.export_report();
                }
                if ui.button("Close tab  (Ctrl+W)").clicked() {
                    ui.close();
                    self.close_tab(self.active);
                }
            });
            ui.menu_button("Run", |ui| {
                if ui.button("Rerun comparison  (F5)").clicked() {
                    ui.close();
                    self.rerun();
                }
            });
            if ui.button("Export report").clicked() {
                self.export_report();
            }
        });
    }

    fn path_field_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.label("Open path:");
            let r = ui.add(
                egui::TextEdit::singleline(&mut self.path_field)
                    .desired_width(420.0)
                    .hint_text("/path/to/model.tflite or image"),
            );
            let cands = completions(&self.path_field);
            if r.has_focus() && ui.input(|i| i.key_pressed(egui::Key::Tab)) {
                if let Some(c) = common_prefix(&cands) {
                    self.path_field = c;
                }
            }
            let enter = r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            if ui.button("Open").clicked() || enter {
                let p = PathBuf::from(self.path_field.trim());
                if p.is_file() {
                    self.open_path(&p);
                    self.path_field.clear();
                } else {
                    self.errors.push(format!("{}: no such file", p.display()));
                }
            }
            if ui.small_button("x").clicked() {
                self.show_path_field = false;
            }
            if !cands.is_empty() && !self.path_field.is_empty() {
                ui.menu_button(format!("{} matches", cands.len()), |ui| {
                    for c in cands.iter().take(30) {
                        if ui.button(c).clicked() {
                            self.path_field = c.clone();
                            ui.close();
                        }
                    }
                });
            }
        });
    }

    fn tab_bar(&mut self, ui: &mut egui::Ui) {
        let mut close = None;
        let mut pair_req = None;
        ui.horizontal_wrapped(|ui| {
            for (i, t) in self.tabs.iter().enumerate() {
                let txt = format!(
                    "{}  [{}]{}",
                    t.name,
                    t.summary.kind.label(),
                    if t.paired.is_some() { " (paired)" } else { "" }
                );
                if ui.selectable_label(i == self.active, txt).clicked() {
                    self.active = i;
                }
                if ui
                    .small_button("x")
                    .on_hover_text("close (Ctrl+W)")
                    .clicked()
                {
                    close = Some(i);
                }
                ui.separator();
            }
            if self.tabs.len() >= 2 {
                let me = &self.tabs[self.active];
                let current = me
                    .paired
                    .and_then(|id| self.tab_index(id))
                    .map(|j| self.tabs[j].name.clone())
                    .unwrap_or_else(|| "nothing".into());
                egui::ComboBox::from_label("paired with")
                    .selected_text(current)
                    .show_ui(ui, |ui| {
                        if ui
                            .selectable_label(me.paired.is_none(), "nothing")
                            .clicked()
                        {
                            pair_req = Some((me.id, None));
                        }
                        for t in self.tabs.iter().filter(|t| t.id != me.id) {
                            if ui
                                .selectable_label(me.paired == Some(t.id), &t.name)
                                .clicked()
                            {
                                pair_req = Some((me.id, Some(t.id)));
                            }
                        }
                    });
            }
        });
        if let Some(i) = close {
            self.close_tab(i);
        }
        if let Some((a, b)) = pair_req {
            self.pair(a, b);
        }
    }

    fn status_bar(&mut self, ui: &mut egui::Ui) {
        for j in &self.loads {
            j.status_ui(ui);
        }
        for t in &self.tabs {
            if let Some(j) = &t.weights_job {
                j.status_ui(ui);
            }
        }
        let s = self.status.get();
        if !s.is_empty() {
            ui.horizontal(|ui| {
                ui.label(s);
                if ui.small_button("x").clicked() {
                    self.status.set("");
                }
            });
        }
        let mut dismiss = None;
        for (k, e) in self.errors.iter().enumerate() {
            ui.horizontal(|ui| {
                ui.colored_label(ui.visuals().error_fg_color, format!("error: {e}"));
                if ui.small_button("dismiss").clicked() {
                    dismiss = Some(k);
                }
            });
        }
        if let Some(k) = dismiss {
            self.errors.remove(k);
        }
    }

    fn handle_drops(&mut self, ui: &mut egui::Ui) {
        let dropped = ui.input(|i| i.raw.dropped_files.clone());
        for f in dropped {
            let path = f.path().to_path_buf();
            if path.exists() {
                self.open_dropped(&path, None);
            } else {
                match f.bytes() {
                    Ok(b) => self.open_dropped(&path, Some(b)),
                    Err(e) => self.errors.push(e),
                }
            }
        }
    }

    fn model_view(&mut self, ui: &mut egui::Ui) {
        let i = self.active;
        let float_partner = self
            .float_partner(i)
            .map(|f| (f.model.clone(), f.weights.clone()));
        let paired_any = self.tabs[i]
            .paired
            .and_then(|id| self.tab_index(id))
            .map(|j| (self.tabs[j].model.clone(), self.tabs[j].is_float()));
        let ci = self.compare_tab(i);
        let status = self.status.clone();
        let repaint = self.repaint.clone();
        ui.horizontal(|ui| {
            for (v, name) in View::ALL {
                if ui.selectable_label(self.tabs[i].view == v, name).clicked() {
                    self.tabs[i].view = v;
                    self.settings.view = v;
                }
            }
        });
        ui.separator();
        let view = self.tabs[i].view;
        match view {
            View::Overview => {
                let t = &mut self.tabs[i];
                t.overview.ui(
                    ui,
                    &t.model,
                    &t.summary,
                    &t.name,
                    t.labels.as_deref(),
                    t.weights.as_deref(),
                    &status,
                );
            }
            View::Tensors => {
                let t = &mut self.tabs[i];
                let weights = t.weights.clone();
                let sel = t.tensors.selected;
                egui::Panel::right("tensor_detail")
                    .resizable(true)
                    .default_size(ui.available_width() * 0.4)
                    .show(ui, |ui| {
                        t.detail.ui(
                            ui,
                            &t.model,
                            sel,
                            weights.as_deref(),
                            t.weights_error.as_deref(),
                            float_partner
                                .as_ref()
                                .map(|(m, w)| (m.as_ref(), w.as_deref())),
                            &status,
                        );
                    });
                egui::CentralPanel::default().show(ui, |ui| {
                    t.tensors.ui(ui, &t.model, weights.as_deref());
                });
            }
            View::Compare => {
                if ci != i {
                    ui.label(format!(
                        "This float model is paired with {}: the comparison runs there.",
                        self.tabs[ci].name
                    ));
                    if ui.button("Go to the comparison").clicked() {
                        self.active = ci;
                        self.tabs[ci].view = View::Compare;
                    }
                    return;
                }
                let float = float_partner.as_ref().map(|(m, _)| m.clone());
                let t = &mut self.tabs[i];
                if t.is_float() && float.is_none() {
                    ui.colored_label(
                        ui.visuals().warn_fg_color,
                        "A float model alone: its twin is itself, so the numbers below show this \
                         model's outputs and preprocessing only. Open or drop its quantized model \
                         to compare, or use What-if to simulate quantizing its weights.",
                    );
                }
                t.compare.ui(
                    ui,
                    &t.model,
                    float.as_ref(),
                    t.labels.as_ref(),
                    repaint,
                    &status,
                );
            }
            View::WhatIf => {
                // The float model to simulate: this tab if float, else its float partner.
                let t = &self.tabs[i];
                let src = if t.is_float() {
                    Some((t.model.clone(), t.name.clone()))
                } else {
                    paired_any
                        .as_ref()
                        .filter(|(_, f)| *f)
                        .map(|(m, _)| (m.clone(), "the paired float model".to_string()))
                };
                let t = &mut self.tabs[i];
                t.whatif.ui(
                    ui,
                    src.as_ref().map(|(m, n)| (m, n.as_str())),
                    repaint,
                    &status,
                );
            }
        }
    }

    /// The whole window (also what tests drive).
    pub fn show(&mut self, ui: &mut egui::Ui) {
        if self.repaint.is_none() {
            self.repaint = Some(ui.ctx().clone());
        }
        self.poll_jobs();
        self.handle_drops(ui);
        self.shortcuts(ui);
        egui::Panel::top("menu").show(ui, |ui| {
            self.menu_bar(ui);
            if self.show_path_field {
                self.path_field_ui(ui);
            }
            if !self.tabs.is_empty() {
                self.tab_bar(ui);
            }
        });
        egui::Panel::bottom("status").show(ui, |ui| {
            self.status_bar(ui);
            if self.loads.is_empty() && self.tabs.is_empty() && self.errors.is_empty() {
                ui.weak("Drop a .tflite model or an image anywhere on the window.");
            }
        });
        egui::CentralPanel::default().show(ui, |ui| {
            if self.tabs.is_empty() {
                ui.vertical_centered(|ui| {
                    ui.add_space(60.0);
                    ui.heading("quantscope");
                    ui.label("Drop .tflite models (float and quantized) and images here, or use File > Open (Ctrl+O).");
                    if ui.button("Open by path...").clicked() {
                        self.show_path_field = true;
                    }
                });
            } else {
                self.model_view(ui);
            }
        });
        if ui.input(|i| !i.raw.hovered_files.is_empty()) {
            let r = ui.ctx().content_rect();
            ui.painter()
                .rect_filled(r, 0.0, egui::Color32::from_black_alpha(120));
            ui.painter().text(
                r.center(),
                egui::Align2::CENTER_CENTER,
                "Drop models (.tflite) or images",
                egui::FontId::proportional(24.0),
                egui::Color32::WHITE,
            );
        }
        if self.any_job_running() {
            ui.ctx()
                .request_repaint_after(std::time::Duration::from_millis(100));
        }
    }
}

impl eframe::App for QuantscopeApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.show(ui);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, eframe::APP_KEY, &self.settings);
    }
}

/// Paths starting with `prefix` (directory listing of its parent).
fn completions(prefix: &str) -> Vec<String> {
    if prefix.is_empty() {
        return Vec::new();
    }
    let p = Path::new(prefix);
    let (dir, stem) = if prefix.ends_with('/') {
        (p.to_path_buf(), String::new())
    } else {
        (
            p.parent()
                .map(|d| {
                    if d.as_os_str().is_empty() {
                        Path::new(".")
                    } else {
                        d
                    }
                })
                .unwrap_or(Path::new("."))
                .to_path_buf(),
            p.file_name()
                .map(|s| s.to_string_lossy().to_string())
                .unwrap_or_default(),
        )
    };
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut v: Vec<String> = rd
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().to_string_lossy().to_string();
            n.starts_with(&stem).then(|| {
                let mut s = dir.join(&n).display().to_string();
                if !prefix.starts_with("./") && s.starts_with("./") && !prefix.contains('/') {
                    s = s[2..].to_string();
                }
                if e.path().is_dir() {
                    s.push('/');
                }
                s
            })
        })
        .collect();
    v.sort();
    v
}

fn common_prefix(v: &[String]) -> Option<String> {
    let first = v.first()?;
    let mut n = first.len();
    for s in &v[1..] {
        n = n.min(
            first
                .chars()
                .zip(s.chars())
                .take_while(|(a, b)| a == b)
                .map(|(a, _)| a.len_utf8())
                .sum(),
        );
    }
    Some(first[..n].to_string())
}

/// Formats an optional number for display ("-" when absent).
pub fn fmt_opt(v: Option<f64>, prec: usize) -> String {
    v.map_or("-".into(), |x| format!("{x:.prec$}"))
}

/// Opens the native window (`quantscope` with no subcommand).
pub fn run_native(start: impl FnOnce(&mut QuantscopeApp) + 'static) -> eframe::Result<()> {
    let opts = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("quantscope")
            .with_inner_size([1400.0, 900.0])
            .with_drag_and_drop(true),
        ..Default::default()
    };
    eframe::run_native(
        "quantscope",
        opts,
        Box::new(move |cc| {
            let mut app = QuantscopeApp::new(cc);
            start(&mut app);
            Ok(Box::new(app))
        }),
    )
}
