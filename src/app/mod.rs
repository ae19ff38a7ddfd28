//! The desktop app (feature `gui`): an eframe window over the library. Every number shown comes
//! from the library (`model`, `quant`, `preprocess`, `compare`, `report`); this module only lays
//! it out.
//!
//! Tabs of open models (any two can be paired: float + quantized, by [`crate::workspace`]),
//! each with the views in [`View::ALL`]. Loading, analysis and runs are background [`jobs`].
//! Files: this one holds the app state and the opening/pairing of tabs; [`menus`] the menu,
//! tab and status bars; [`path_field`] the in-app path entry; one file per panel.

pub mod compare;
pub mod example;
pub mod export;
pub mod graph;
pub mod help;
pub mod jobs;
mod menus;
mod opening;
pub mod overview;
mod path_field;
pub mod plots;
mod startup;
pub mod tensor_detail;
pub mod tensors;
pub mod tradeoffs;
pub mod whatif;

pub use startup::Startup;

use crate::model::{Model, ModelKind, Summary};
use crate::quant::{self, WeightsReport};
use crate::workspace::{self, Pairable};
use eframe::egui;
use export::StatusLine;
use jobs::Job;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Below this window height (points) the chrome collapses: tabs in the menu row, no idle footer.
const COMPACT_HEIGHT: f32 = 700.0;

/// The bundled example (embedded so the app works from any directory).
pub struct Example {
    pub float: &'static [u8],
    pub quant: &'static [u8],
    pub labels: &'static str,
    pub image: &'static [u8],
    /// More variants of the float model for Trade-offs (fp16, dynamic-range): (name, bytes).
    pub variants: &'static [(&'static str, &'static [u8])],
    /// Sample images for Trade-offs, named `CLASS/FILE` (labels from folders).
    pub eval_images: &'static [(&'static str, &'static [u8])],
}

/// The views of a tab. A new view is a variant, a row in [`View::ALL`] and an arm in
/// `QuantscopeApp::model_view`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum View {
    Overview,
    Tensors,
    Compare,
    WhatIf,
    Graph,
    TradeOffs,
}

impl View {
    pub const ALL: [(View, &'static str); 6] = [
        (View::Overview, "Overview"),
        (View::Tensors, "Tensors"),
        (View::Compare, "Compare"),
        (View::WhatIf, "What-if"),
        (View::Graph, "Graph"),
        (View::TradeOffs, "Trade-offs"),
    ];
}

/// What persists between runs (eframe persistence).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct Settings {
    recent: Vec<String>,
    view: View,
    /// Label files the user loaded, by model path (restored when that model opens again).
    #[serde(default)]
    labels: std::collections::BTreeMap<String, String>,
    /// Kernel threads for model runs (Run > Kernel threads); 0: one per core.
    #[serde(default)]
    threads: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            recent: Vec::new(),
            view: View::Overview,
            labels: Default::default(),
            threads: 0,
        }
    }
}

/// A model loaded by a job, as a new tab.
pub struct Loaded {
    pub tab: ModelTab,
    /// Pair with the tab that has this id once loaded.
    pub pair_with: Option<u64>,
}

/// One open model.
pub struct ModelTab {
    pub id: u64,
    pub name: String,
    pub path: Option<PathBuf>,
    pub model: Arc<Model>,
    pub summary: Summary,
    pub labels: Option<Vec<String>>,
    pub unsupported: BTreeMap<String, String>,
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
    pub graph: graph::GraphPanel,
}

impl ModelTab {
    pub fn is_float(&self) -> bool {
        matches!(
            self.summary.kind,
            ModelKind::Float32 | ModelKind::Float16Weights
        )
    }
}

impl Pairable for ModelTab {
    fn id(&self) -> u64 {
        self.id
    }
    fn is_float(&self) -> bool {
        ModelTab::is_float(self)
    }
    fn paired(&self) -> Option<u64> {
        self.paired
    }
    fn set_paired(&mut self, partner: Option<u64>) {
        self.paired = partner;
    }
}

/// What every panel receives: the tab's model and results, its partner's, and the app's
/// status line and repaint handle. Panels draw from it; they compute nothing.
pub struct ViewCtx<'a> {
    pub model: &'a Arc<Model>,
    /// A float model with no quantized twin paired: Compare shows its outputs only.
    pub float_alone: bool,
    pub name: &'a str,
    pub summary: &'a Summary,
    pub labels: Option<&'a Vec<String>>,
    pub unsupported: &'a BTreeMap<String, String>,
    pub weights: Option<&'a WeightsReport>,
    pub weights_error: Option<&'a str>,
    /// The paired float model and its weight analysis, when this tab is the quantized side.
    pub float: Option<&'a Arc<Model>>,
    pub float_weights: Option<&'a WeightsReport>,
    pub status: &'a StatusLine,
    pub repaint: Option<&'a egui::Context>,
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
    /// "Export report" without a save dialog: where to write, for the user to confirm.
    report_path: Option<String>,
    /// Images dropped before any model was open.
    pending_images: Vec<(String, Vec<u8>)>,
    pub status: StatusLine,
    repaint: Option<egui::Context>,
    /// `--tab/--tensor/--layer` from the command line, until applied.
    startup: Option<(u64, startup::Startup)>,
    /// One for the app: its results stay while the user moves between tabs.
    pub tradeoffs: tradeoffs::TradeoffsPanel,
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
            report_path: None,
            pending_images: Vec::new(),
            status: StatusLine::default(),
            repaint: None,
            startup: None,
            tradeoffs: Default::default(),
        }
    }
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| p.display().to_string())
}

/// Reads a model off the UI thread with what is computed once per model: the summary, the
/// labels (the CLI's resolution: metadata, else `<prefix>_labels.txt` beside a file) and the
/// ops the engine cannot run.
fn load(
    name: String,
    model: Model,
    path: Option<PathBuf>,
    labels: Option<Vec<String>>,
    pair_with: Option<u64>,
    reserved_id: u64,
) -> Loaded {
    let labels = labels.or_else(|| {
        crate::labels::resolve(None, &model, path.as_deref())
            .ok()
            .and_then(|l| l.primary().map(|l| l.names.clone()))
    });
    let tab = ModelTab {
        id: reserved_id,
        name,
        path,
        summary: model.summary(),
        unsupported: crate::report::unsupported_ops(&model),
        model: Arc::new(model),
        labels,
        paired: None,
        view: View::Overview,
        weights: None,
        weights_error: None,
        weights_job: None,
        overview: Default::default(),
        tensors: Default::default(),
        detail: Default::default(),
        compare: Default::default(),
        whatif: Default::default(),
        graph: Default::default(),
    };
    Loaded { tab, pair_with }
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
            jobs::set_kernel_threads(self.settings.threads);
        }
    }

    /// Kernel threads of the app's model runs (Run > Kernel threads; 0: one per core).
    pub fn kernel_threads(&self) -> usize {
        self.settings.threads
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
        self.tradeoffs
            .add_bundled(ex.variants, ex.eval_images, self.repaint.as_ref());
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

    pub fn tab_index(&self, id: u64) -> Option<usize> {
        workspace::index_of(&self.tabs, id)
    }

    fn add_tab(&mut self, l: Loaded) {
        let mut tab = l.tab;
        tab.view = self.settings.view;
        // Labels the user loaded for this model last time.
        let remembered = tab
            .path
            .as_ref()
            .and_then(|p| self.settings.labels.get(&p.display().to_string()));
        if let Some(lp) = remembered {
            match crate::labels::read(Path::new(lp)) {
                Ok(l) => tab.labels = Some(l.names),
                Err(e) => self.errors.push(format!("remembered labels: {e}")),
            }
        }
        let id = tab.id;
        self.tabs.push(tab);
        self.active = self.tabs.len() - 1;
        match workspace::auto_partner(&self.tabs, id, l.pair_with) {
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
        for j in workspace::pair(&mut self.tabs, a, b) {
            self.tabs[j].compare.reset_run();
            self.start_weights(j);
        }
    }

    fn start_weights(&mut self, i: usize) {
        let float = workspace::float_partner(&self.tabs, i).map(|j| self.tabs[j].model.clone());
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
        let Some(id) = self.tabs.get(i).map(|t| t.id) else {
            return;
        };
        let partners: Vec<u64> = workspace::unpair_closing(&mut self.tabs, id)
            .into_iter()
            .map(|j| self.tabs[j].id)
            .collect();
        self.tabs.remove(i);
        for p in partners {
            let Some(j) = self.tab_index(p) else { continue };
            self.tabs[j].compare.reset_run();
            self.start_weights(j);
        }
        self.active = self.active.min(self.tabs.len().saturating_sub(1));
    }

    /// Collects finished jobs and starts comparisons that became ready; with `block`, waits
    /// for each running job. True when a job finished.
    fn collect_jobs(&mut self, block: bool) -> bool {
        let mut busy = false;
        for r in Job::take_finished(&mut self.loads, block) {
            busy = true;
            match r {
                Ok(l) => self.add_tab(l),
                Err(e) => self.errors.push(e),
            }
        }
        for t in &mut self.tabs {
            if let Some(r) = t.weights_job.as_mut().and_then(|j| j.take(block)) {
                busy = true;
                match r {
                    Ok(w) => t.weights = Some(Arc::new(w)),
                    Err(e) => t.weights_error = Some(e),
                }
                t.weights_job = None;
            }
        }
        for i in 0..self.tabs.len() {
            let float = workspace::float_partner(&self.tabs, i).map(|j| self.tabs[j].model.clone());
            let repaint = self.repaint.clone();
            let t = &mut self.tabs[i];
            busy |= t.compare.collect(
                &t.model,
                float.as_ref(),
                t.labels.as_ref(),
                repaint.as_ref(),
                block,
            );
            busy |= t.whatif.collect(block);
        }
        busy |= self.tradeoffs.collect(block);
        busy
    }

    /// Runs every job to completion (tests and scripted use): loads, analyses, comparisons.
    pub fn wait_for_jobs(&mut self) {
        for _ in 0..20 {
            if !self.collect_jobs(true) {
                break;
            }
        }
    }

    /// The footer has something to show: a job, a fresh message, an error, or the hint of an
    /// empty window.
    fn has_footer(&self) -> bool {
        self.tabs.is_empty()
            || !self.errors.is_empty()
            || self.status.current().is_some()
            || !self.loads.is_empty()
            || self.tabs.iter().any(|t| t.weights_job.is_some())
    }

    fn any_job_running(&self) -> bool {
        !self.loads.is_empty()
            || self
                .tabs
                .iter()
                .any(|t| t.weights_job.is_some() || t.compare.is_running() || t.whatif.is_running())
            || self.tradeoffs.is_running()
    }

    /// One JSON document with everything computed: inspection, weights, comparisons, what-if.
    pub fn report_json(&self) -> serde_json::Value {
        let models = self
            .tabs
            .iter()
            .map(|t| crate::report::AppModelReport {
                name: t.name.clone(),
                paired_with: t
                    .paired
                    .and_then(|id| self.tab_index(id))
                    .map(|j| self.tabs[j].name.clone()),
                inspect: crate::report::InspectReport::new(
                    &t.model,
                    &t.path
                        .as_ref()
                        .map_or_else(|| t.name.clone(), |p| p.display().to_string()),
                ),
                weights: t.weights.as_deref(),
                weights_error: t.weights_error.as_deref(),
                comparisons: t.compare.report(),
                what_if: t.whatif.report(),
            })
            .collect();
        serde_json::to_value(crate::report::AppReport::new(models)).unwrap_or_default()
    }

    /// "Export report": asks where (a save dialog, else a path field with the export folder
    /// filled in); nothing is written before the user says where.
    fn export_report(&mut self) {
        match export::ask_save_path("quantscope_report.json") {
            Some(p) => self.write_report(&p),
            None => self.report_path = Some(export::default_report_path().display().to_string()),
        }
    }

    /// Writes the report to `p` and says where and how big it is.
    pub fn write_report(&mut self, p: &Path) {
        let s = serde_json::to_string_pretty(&self.report_json()).unwrap_or_default();
        self.status.report(
            std::fs::write(p, s.as_bytes())
                .map(|_| p.to_path_buf())
                .map_err(|e| format!("cannot write {}: {e}", p.display())),
        );
    }

    fn rerun(&mut self) {
        if self.tabs.is_empty() {
            return;
        }
        let i = workspace::compare_owner(&self.tabs, self.active);
        self.tabs[i].compare.rerun();
    }

    fn model_view(&mut self, ui: &mut egui::Ui) {
        let i = self.active;
        let partner = workspace::float_partner(&self.tabs, i)
            .map(|j| (self.tabs[j].model.clone(), self.tabs[j].weights.clone()));
        let owner = workspace::compare_owner(&self.tabs, i);
        let source = workspace::float_source(&self.tabs, i).map(|j| {
            let t = &self.tabs[j];
            let name = if j == i {
                t.name.clone()
            } else {
                "the paired float model".to_string()
            };
            (t.model.clone(), name)
        });
        let owner_name = self.tabs[owner].name.clone();
        let (candidates, default_float) = if self.tabs[i].view == View::TradeOffs {
            (
                self.tradeoff_candidates(),
                workspace::float_source(&self.tabs, i).map(|j| self.tabs[j].id),
            )
        } else {
            (Vec::new(), None)
        };
        let mut tradeoffs_action = None;
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
        let t = &mut self.tabs[i];
        let float_alone = t.is_float() && partner.is_none();
        let ctx = ViewCtx {
            float_alone,
            model: &t.model,
            name: &t.name,
            summary: &t.summary,
            labels: t.labels.as_ref(),
            unsupported: &t.unsupported,
            weights: t.weights.as_deref(),
            weights_error: t.weights_error.as_deref(),
            float: partner.as_ref().map(|p| &p.0),
            float_weights: partner.as_ref().and_then(|p| p.1.as_deref()),
            status: &status,
            repaint: repaint.as_ref(),
        };
        match t.view {
            View::Overview => t.overview.ui(ui, &ctx),
            View::Tensors => {
                let sel = t.tensors.selected;
                egui::Panel::right("tensor_detail")
                    .resizable(true)
                    .default_size(ui.available_width() * 0.4)
                    .show(ui, |ui| t.detail.ui(ui, &ctx, sel));
                egui::CentralPanel::default().show(ui, |ui| t.tensors.ui(ui, &ctx));
            }
            View::Compare if owner != i => {
                ui.label(format!(
                    "This float model is paired with {owner_name}: the comparison runs there."
                ));
                if ui.button("Go to the comparison").clicked() {
                    self.active = owner;
                    self.tabs[owner].view = View::Compare;
                }
            }
            View::Compare => t.compare.ui(ui, &ctx),
            View::WhatIf => t
                .whatif
                .ui(ui, &ctx, source.as_ref().map(|(m, n)| (m, n.as_str()))),
            View::Graph => {
                let layers = t
                    .compare
                    .results
                    .get(t.compare.selected)
                    .and_then(|r| r.as_ref().ok())
                    .map(|r| r.comparison.layers.clone());
                let action = t.graph.ui(ui, &ctx, layers.as_deref());
                if let Some(graph::GraphAction::SelectOp { weight, output, .. }) = action {
                    // Select the op everywhere: its weight in Tensors, its output in Compare.
                    if let Some(w) = weight {
                        t.tensors.selected = Some((t.graph.subgraph(), w));
                    }
                    if let Some(o) = output {
                        t.compare.select_layer_of_tensor(o);
                    }
                }
            }
            View::TradeOffs => {
                tradeoffs_action = self.tradeoffs.ui(ui, &ctx, &candidates, default_float)
            }
        }
        if let Some(tradeoffs::Action::OpenImage(p)) = tradeoffs_action {
            self.open_path(&p);
        }
    }

    /// The open tabs as Trade-offs candidates.
    fn tradeoff_candidates(&self) -> Vec<tradeoffs::Candidate> {
        self.tabs
            .iter()
            .map(|t| tradeoffs::Candidate {
                key: tradeoffs::Key::Tab(t.id),
                name: t.name.clone(),
                model: t.model.clone(),
                is_float: t.is_float(),
                labels: t.labels.clone(),
            })
            .collect()
    }

    /// The whole window (also what tests drive).
    pub fn show(&mut self, ui: &mut egui::Ui) {
        if self.repaint.is_none() {
            self.repaint = Some(ui.ctx().clone());
        }
        self.collect_jobs(false);
        self.apply_startup();
        self.handle_drops(ui);
        self.shortcuts(ui);
        // Small windows (900x600 and below): the tabs share the menu's row and the footer
        // shows only while it has something to say, so the content keeps the height.
        let compact = ui.ctx().content_rect().height() < COMPACT_HEIGHT;
        egui::Panel::top("menu").show(ui, |ui| {
            self.menu_bar(ui, compact);
            if self.show_path_field {
                self.path_field_ui(ui);
            }
            self.report_path_ui(ui);
            if !compact && !self.tabs.is_empty() {
                self.tab_bar(ui);
            }
        });
        if self.has_footer() {
            egui::Panel::bottom("status").show(ui, |ui| {
                self.status_bar(ui);
                if self.loads.is_empty() && self.tabs.is_empty() && self.errors.is_empty() {
                    ui.weak("Drop a .tflite model or an image anywhere on the window.");
                }
            });
        }
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
                if let Some(t) = self.tabs.get_mut(self.active) {
                    if std::mem::take(&mut t.compare.wants_path_field) {
                        self.show_path_field = true;
                    }
                }
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

/// `one` or `many` as `n` asks ("1 match", "3 matches").
pub fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 {
        one
    } else {
        many
    }
}

/// Formats an optional number for display ("-" when absent).
pub fn fmt_opt(v: Option<f64>, prec: usize) -> String {
    v.map_or("-".into(), |x| format!("{x:.prec$}"))
}

/// An x axis labelled `names[k]` at each integer `k` (bar charts by category).
/// Longest category name an axis shows before cutting it.
const AXIS_LABEL_CHARS: usize = 18;

pub fn category_axis(
    names: Vec<String>,
) -> impl Fn(egui_plot::GridMark, &std::ops::RangeInclusive<f64>) -> String {
    move |m, _| {
        let k = m.value.round();
        if (m.value - k).abs() < 1e-6 && k >= 0.0 {
            // Long labels are cut so they do not vanish from the axis; bars name them whole.
            let n = names
                .get(k as usize)
                .map(String::as_str)
                .unwrap_or_default();
            if n.chars().count() > AXIS_LABEL_CHARS {
                let head: String = n.chars().take(AXIS_LABEL_CHARS - 3).collect();
                format!("{head}...")
            } else {
                n.to_string()
            }
        } else {
            String::new()
        }
    }
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
