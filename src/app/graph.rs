//! Graph: the model drawn as Netron draws it (dagre layout, laid out off the UI thread and
//! cached per subgraph), coloured by what the library computed (`graph::colour`). Wheel zooms
//! here (where users expect it), drag pans, double-click fits; search jumps to an op or tensor;
//! a minimap shows where the view is on big graphs; clicking an op selects it everywhere.

use super::jobs::Job;
use super::ViewCtx;
use crate::compare::LayerError;
use crate::graph::colour::{self, ColourBy, ColourData, Legend, NodeValue};
use crate::graph::layout::{self, Layout, Metrics};
use crate::graph::matching::{match_graphs, Matching, NodeMatch};
use crate::graph::{self, BuildOptions, Graph, NodeKind};
use crate::model::Model;
use eframe::egui::{self, Color32, Pos2, Rect, Sense, Stroke, StrokeKind, Vec2};
use std::sync::Arc;

/// A laid-out subgraph, computed once per (subgraph, collapse) and kept.
pub struct Drawn {
    pub graph: Graph,
    pub layout: Layout,
}

/// What a click in the graph asks the rest of the app to do.
#[derive(Clone, Debug, PartialEq)]
pub enum GraphAction {
    /// Select this op: its first weight in Tensors, its output in Compare.
    SelectOp {
        op: usize,
        weight: Option<usize>,
        output: Option<usize>,
    },
}

pub struct GraphPanel {
    subgraph: usize,
    collapse: bool,
    colour_by: ColourBy,
    search: String,
    search_hits: Vec<usize>,
    search_pos: usize,
    cache: Vec<((usize, bool), Arc<Drawn>)>,
    job: Option<(usize, bool, Job<Drawn>)>,
    error: Option<String>,
    /// Graph units to screen points, and the graph point at the view's top-left.
    zoom: f32,
    offset: Vec2,
    fit_pending: bool,
    pub selected: Option<usize>,
    /// Node values under the current colouring, keyed by what they were computed from
    /// (colouring, node count, weights analysed, Compare layers).
    values: Option<(ValuesKey, Arc<(Vec<NodeValue>, Legend)>)>,
    /// Links to the paired float model's graph, keyed by that model's address.
    matching: Option<(usize, Option<Arc<Matching>>)>,
}

type ValuesKey = (ColourBy, usize, bool, usize);

impl Default for GraphPanel {
    fn default() -> Self {
        GraphPanel {
            subgraph: 0,
            collapse: false,
            colour_by: ColourBy::OpType,
            search: String::new(),
            search_hits: Vec::new(),
            search_pos: 0,
            cache: Vec::new(),
            job: None,
            error: None,
            zoom: 1.0,
            offset: Vec2::ZERO,
            fit_pending: true,
            selected: None,
            values: None,
            matching: None,
        }
    }
}

/// Categories to colours: a fixed palette by name for kinds, red-amber-green by severity.
fn category_colour(name: &str, severity: f32, by: ColourBy) -> Color32 {
    if matches!(by, ColourBy::Readiness | ColourBy::Readiness16) {
        return severity_colour(severity);
    }
    let palette = [
        Color32::from_rgb(74, 120, 196),
        Color32::from_rgb(196, 112, 52),
        Color32::from_rgb(86, 160, 90),
        Color32::from_rgb(170, 80, 160),
        Color32::from_rgb(60, 160, 170),
        Color32::from_rgb(180, 160, 60),
        Color32::from_rgb(120, 120, 120),
        Color32::from_rgb(200, 90, 100),
        Color32::from_rgb(110, 90, 190),
        Color32::from_rgb(90, 140, 60),
    ];
    let h = name
        .bytes()
        .fold(7u32, |a, b| a.wrapping_mul(31).wrapping_add(b as u32));
    palette[h as usize % palette.len()]
}

fn severity_colour(s: f32) -> Color32 {
    let s = s.clamp(0.0, 1.0);
    let (g, a, r) = (
        [70.0, 160.0, 80.0],
        [220.0, 170.0, 50.0],
        [210.0, 60.0, 50.0],
    );
    let mix = |x: [f32; 3], y: [f32; 3], t: f32| {
        Color32::from_rgb(
            (x[0] + (y[0] - x[0]) * t) as u8,
            (x[1] + (y[1] - x[1]) * t) as u8,
            (x[2] + (y[2] - x[2]) * t) as u8,
        )
    };
    if s < 0.5 {
        mix(g, a, s * 2.0)
    } else {
        mix(a, r, (s - 0.5) * 2.0)
    }
}

fn value_colour(v: &NodeValue, by: ColourBy) -> Color32 {
    match v {
        NodeValue::Category { name, severity } => category_colour(name, *severity, by),
        NodeValue::Number { severity, .. } => severity_colour(*severity),
        NodeValue::Missing => Color32::from_gray(90),
    }
}

impl GraphPanel {
    /// The subgraph shown.
    pub fn subgraph(&self) -> usize {
        self.subgraph
    }

    fn drawn(&self) -> Option<Arc<Drawn>> {
        let key = (self.subgraph, self.collapse);
        self.cache
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, d)| d.clone())
    }

    /// Starts laying out the current subgraph if it is neither cached nor being laid out.
    fn ensure_layout(&mut self, ctx: &egui::Context, model: &Arc<Model>) {
        if let Some((sg, c, job)) = &mut self.job {
            if let Some(result) = job.poll() {
                let key = (*sg, *c);
                match result {
                    Ok(d) => self.cache.push((key, Arc::new(d))),
                    Err(e) => self.error = Some(e),
                }
                self.job = None;
                self.fit_pending = true;
            }
        }
        if self.job.is_some() || self.drawn().is_some() || self.error.is_some() {
            return;
        }
        let (sg, collapse) = (self.subgraph, self.collapse);
        let model = model.clone();
        let job = Job::spawn("laying out the graph", Some(ctx.clone()), move |jc| {
            jc.set_progress("building the graph");
            let graph = graph::build(
                &model,
                sg,
                &BuildOptions {
                    collapse_shape_ops: collapse,
                },
            )
            .map_err(|e| e.to_string())?;
            jc.set_progress(format!("laying out {} nodes (dagre)", graph.nodes.len()));
            let layout = layout::layout(&graph, &Metrics::default());
            if jc.cancelled() {
                return Err("cancelled".into());
            }
            Ok(Drawn { graph, layout })
        });
        self.job = Some((sg, collapse, job));
    }

    fn fit(&mut self, view: Rect, l: &Layout) {
        let w = l.width.max(1.0);
        let h = l.height.max(1.0);
        self.zoom = (view.width() / w).min(view.height() / h).clamp(0.02, 2.0);
        let used = Vec2::new(w, h) * self.zoom;
        self.offset = -((view.size() - used) / 2.0) / self.zoom;
    }

    fn to_screen(&self, view: Rect, p: [f32; 2]) -> Pos2 {
        view.min + (Vec2::new(p[0], p[1]) - self.offset) * self.zoom
    }

    fn to_graph(&self, view: Rect, p: Pos2) -> [f32; 2] {
        let g = (p - view.min) / self.zoom + self.offset;
        [g.x, g.y]
    }

    /// Centres the view on node `i`.
    fn focus(&mut self, view: Rect, l: &Layout, i: usize) {
        let b = l.nodes[i];
        self.zoom = self.zoom.max(0.8);
        self.offset = Vec2::new(b.x, b.y) - view.size() / (2.0 * self.zoom);
    }

    /// The panel. `layers` are the latest Compare run's per-layer errors (for the layer SQNR
    /// colourings); the weights analysis and the paired float model come with `ctx`.
    pub fn ui(
        &mut self,
        ui: &mut egui::Ui,
        ctx: &ViewCtx,
        layers: Option<&[LayerError]>,
    ) -> Option<GraphAction> {
        let model = ctx.model;
        let mut action = None;
        let egui_ctx = ui.ctx().clone();
        let before = (self.subgraph, self.collapse);
        ui.horizontal_wrapped(|ui| {
            if model.subgraphs.len() > 1 {
                egui::ComboBox::from_label("subgraph")
                    .selected_text(self.subgraph.to_string())
                    .show_ui(ui, |ui| {
                        for (i, sg) in model.subgraphs.iter().enumerate() {
                            let name = sg.name.clone().unwrap_or_default();
                            ui.selectable_value(&mut self.subgraph, i, format!("{i} {name}"));
                        }
                    });
            }
            egui::ComboBox::from_label("colour by")
                .selected_text(self.colour_by.label())
                .show_ui(ui, |ui| {
                    for by in ColourBy::ALL {
                        ui.selectable_value(&mut self.colour_by, by, by.label());
                    }
                });
            ui.checkbox(&mut self.collapse, "collapse shape-only chains");
            let search = ui.add(
                egui::TextEdit::singleline(&mut self.search)
                    .hint_text("search op, tensor or #index")
                    .desired_width(180.0),
            );
            if search.changed() {
                self.search_hits.clear();
                self.search_pos = 0;
            }
            if search.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter)) {
                self.search_pos += 1;
            }
            if ui.button("Fit").clicked() {
                self.fit_pending = true;
            }
        });
        if before != (self.subgraph, self.collapse) {
            self.error = None;
            self.selected = None;
            self.values = None;
        }
        self.ensure_layout(&egui_ctx, model);
        if let Some(e) = &self.error {
            ui.colored_label(Color32::from_rgb(220, 80, 60), format!("graph: {e}"));
            return None;
        }
        if let Some((_, _, job)) = &self.job {
            if job.status_ui(ui) {
                job.cancel();
            }
            return None;
        }
        let Some(drawn) = self.drawn() else {
            return None;
        };
        let (g, l) = (&drawn.graph, &drawn.layout);
        let key: ValuesKey = (
            self.colour_by,
            g.nodes.len(),
            ctx.weights.is_some(),
            layers.map_or(0, |l| l.len()),
        );
        if self.values.as_ref().is_none_or(|(k, _)| *k != key) {
            let data = ColourData::from_results(ctx.weights, layers, g.subgraph);
            let v = colour::values(g, model, self.colour_by, &data);
            let legend = colour::legend(&v);
            self.values = Some((key, Arc::new((v, legend))));
        }
        // The float twin's graph, matched once per partner (subgraph 0 only).
        let partner = ctx.float.map(|f| Arc::as_ptr(f) as usize).unwrap_or(0);
        if g.subgraph == 0 && self.matching.as_ref().is_none_or(|(p, _)| *p != partner) {
            let m = ctx.float.and_then(|f| {
                let fg = graph::build(f, 0, &BuildOptions::default()).ok()?;
                let pairs: Vec<(usize, usize)> = crate::compare::pair_activations(f, model)
                    .iter()
                    .map(|p| (p.float, p.quant))
                    .collect();
                Some(Arc::new(match_graphs((&fg, f), (g, model), &pairs)))
            });
            self.matching = Some((partner, m));
        }
        let matching = self
            .matching
            .as_ref()
            .filter(|_| g.subgraph == 0 && !self.collapse)
            .and_then(|(_, m)| m.clone());
        let matching = matching.as_deref();
        let shown = self.values.as_ref().expect("just set").1.clone();
        let (values, legend) = (&shown.0, &shown.1);
        self.legend_ui(ui, legend, g);
        if let Some(m) = matching {
            let inserted = m
                .quant
                .iter()
                .filter(|x| **x == NodeMatch::Inserted)
                .count();
            let only = m
                .quant
                .iter()
                .filter(|x| **x == NodeMatch::OnlyHere)
                .count();
            ui.horizontal_wrapped(|ui| {
                ui.label(format!("float twin: {} nodes linked;", m.linked));
                ui.colored_label(
                    Color32::from_rgb(80, 200, 230),
                    format!("{inserted} QUANTIZE/DEQUANTIZE inserted (cyan outline)"),
                );
                ui.colored_label(
                    Color32::from_rgb(240, 60, 200),
                    format!("{only} only in this model (magenta outline)"),
                );
            });
        }

        let (resp, painter) = ui.allocate_painter(ui.available_size(), Sense::click_and_drag());
        let view = resp.rect;
        if self.fit_pending {
            self.fit(view, l);
            self.fit_pending = false;
        }
        // Search: jump to the current hit.
        if !self.search.trim().is_empty() {
            if self.search_hits.is_empty() {
                self.search_hits = g.search(model, &self.search);
            }
            if !self.search_hits.is_empty() {
                let hit = self.search_hits[self.search_pos % self.search_hits.len()];
                if self.selected != Some(hit) {
                    self.selected = Some(hit);
                    self.focus(view, l, hit);
                }
            }
        }
        if resp.dragged() {
            self.offset -= resp.drag_delta() / self.zoom;
        }
        if resp.hovered() {
            let (scroll, pinch) = ui.input(|i| (i.smooth_scroll_delta.y, i.zoom_delta()));
            let factor = pinch * (scroll / 300.0).exp();
            if (factor - 1.0).abs() > 1e-4 {
                if let Some(p) = resp.hover_pos() {
                    let anchor = self.to_graph(view, p);
                    self.zoom = (self.zoom * factor).clamp(0.02, 4.0);
                    self.offset = Vec2::new(anchor[0], anchor[1]) - (p - view.min) / self.zoom;
                }
            }
        }
        if resp.double_clicked() {
            self.fit(view, l);
        }
        let hovered = resp
            .hover_pos()
            .and_then(|p| l.node_at(self.to_graph(view, p)));
        if resp.clicked() {
            self.selected = hovered;
            if let Some(n) = hovered.map(|i| &g.nodes[i]) {
                if let Some(op) = n.first_op() {
                    action = Some(GraphAction::SelectOp {
                        op,
                        weight: n.weights.first().map(|w| w.tensor),
                        output: n.outputs.first().copied(),
                    });
                }
            }
        }
        let painter = painter.with_clip_rect(view);
        painter.rect_filled(view, 0.0, ui.visuals().extreme_bg_color);
        self.paint(&painter, view, g, l, values, matching);
        if l.width * self.zoom > view.width() || l.height * self.zoom > view.height() {
            self.minimap(&painter, view, l, values);
        }
        if let Some(i) = hovered {
            resp.on_hover_ui_at_pointer(|ui| node_tooltip(ui, model, g, i, &values[i]));
        }
        action
    }

    fn legend_ui(&self, ui: &mut egui::Ui, legend: &Legend, g: &Graph) {
        ui.horizontal_wrapped(|ui| {
            ui.label(format!("{} nodes, {} edges:", g.nodes.len(), g.edges.len()));
            for (name, (count, severity)) in &legend.categories {
                let c = category_colour(name, *severity, self.colour_by);
                ui.colored_label(c, format!("{name} ({count})"));
            }
            if let Some((lo, hi)) = legend.range {
                ui.colored_label(severity_colour(1.0), format!("{lo:.1} dB"));
                ui.label("to");
                ui.colored_label(severity_colour(0.0), format!("{hi:.1} dB"));
            }
            if legend.missing > 0 {
                let what = match self.colour_by {
                    _ if legend.range.is_some() => "",
                    ColourBy::LayerSqnrLocal | ColourBy::LayerSqnrCumulative => {
                        " (run Compare first)"
                    }
                    ColourBy::WeightSqnr => " (no quantized weights or no weights analysis)",
                    _ => "",
                };
                ui.colored_label(
                    Color32::from_gray(120),
                    format!("no value ({}){what}", legend.missing),
                );
            }
            if matches!(self.colour_by, ColourBy::Readiness | ColourBy::Readiness16) {
                ui.weak(format!("as of {}", crate::graph::readiness::REFLECTS));
            }
        });
    }

    fn paint(
        &self,
        painter: &egui::Painter,
        view: Rect,
        g: &Graph,
        l: &Layout,
        values: &[NodeValue],
        matching: Option<&Matching>,
    ) {
        let edge_stroke = Stroke::new(1.0, Color32::from_gray(140));
        for pts in &l.edges {
            let screen: Vec<Pos2> = pts.iter().map(|&p| self.to_screen(view, p)).collect();
            painter.add(egui::Shape::line(screen.clone(), edge_stroke));
            if let [.., a, b] = screen.as_slice() {
                let dir = (*b - *a).normalized() * 6.0 * self.zoom.clamp(0.5, 1.5);
                let side = Vec2::new(-dir.y, dir.x) * 0.5;
                painter.add(egui::Shape::convex_polygon(
                    vec![*b, *b - dir + side, *b - dir - side],
                    Color32::from_gray(140),
                    Stroke::NONE,
                ));
            }
        }
        let show_text = self.zoom > 0.35;
        let font = egui::FontId::monospace(11.0 * self.zoom.min(1.5));
        for (i, (n, b)) in g.nodes.iter().zip(&l.nodes).enumerate() {
            let rect = Rect::from_center_size(
                self.to_screen(view, [b.x, b.y]),
                Vec2::new(b.w, b.h) * self.zoom,
            );
            if !rect.intersects(view) {
                continue;
            }
            let fill = value_colour(&values[i], self.colour_by);
            let radius = if matches!(n.kind, NodeKind::Op { .. }) {
                3.0
            } else {
                10.0
            };
            painter.rect_filled(rect, radius, fill);
            let mut stroke = Stroke::new(1.0, Color32::from_gray(30));
            if let Some(m) = matching {
                match m.quant.get(i) {
                    Some(NodeMatch::Inserted) => {
                        stroke = Stroke::new(2.0, Color32::from_rgb(80, 200, 230))
                    }
                    Some(NodeMatch::OnlyHere) => {
                        stroke = Stroke::new(2.0, Color32::from_rgb(240, 60, 200))
                    }
                    _ => {}
                }
            }
            if self.selected == Some(i) {
                stroke = Stroke::new(3.0, Color32::WHITE);
            }
            painter.rect_stroke(rect, radius, stroke, StrokeKind::Outside);
            if show_text {
                let lines = layout::node_lines(n);
                let m = Metrics::default();
                for (k, line) in lines.iter().enumerate() {
                    let y = rect.min.y + (m.padding + m.line_height * (k as f32 + 0.5)) * self.zoom;
                    painter.text(
                        Pos2::new(rect.center().x, y),
                        egui::Align2::CENTER_CENTER,
                        line,
                        font.clone(),
                        Color32::WHITE,
                    );
                }
            }
        }
    }

    fn minimap(&self, painter: &egui::Painter, view: Rect, l: &Layout, values: &[NodeValue]) {
        let size = Vec2::new(160.0, 160.0 * (l.height / l.width.max(1.0)).clamp(0.3, 3.0));
        let size = size.min(view.size() * 0.35);
        let map = Rect::from_min_size(view.right_bottom() - size - Vec2::splat(8.0), size);
        painter.rect_filled(map, 2.0, Color32::from_black_alpha(180));
        let s = (map.width() / l.width.max(1.0)).min(map.height() / l.height.max(1.0));
        for (b, v) in l.nodes.iter().zip(values) {
            let r = Rect::from_center_size(
                map.min + Vec2::new(b.x, b.y) * s,
                (Vec2::new(b.w, b.h) * s).max(Vec2::splat(1.5)),
            );
            painter.rect_filled(r, 0.0, value_colour(v, self.colour_by));
        }
        let seen = Rect::from_min_size(map.min + self.offset * s, view.size() / self.zoom * s)
            .intersect(map);
        painter.rect_stroke(
            seen,
            0.0,
            Stroke::new(1.0, Color32::WHITE),
            StrokeKind::Inside,
        );
    }
}

fn node_tooltip(ui: &mut egui::Ui, model: &Model, g: &Graph, i: usize, v: &NodeValue) {
    let n = &g.nodes[i];
    let sg = &model.subgraphs[g.subgraph];
    ui.strong(&n.title);
    for op in n.ops() {
        let o = &sg.operators[*op];
        ui.label(format!("op #{} {} v{}", o.index, o.op, o.version));
    }
    for a in &n.attributes {
        ui.label(a);
    }
    match v {
        NodeValue::Category { name, .. } => ui.label(format!("value: {name}")),
        NodeValue::Number { value, .. } => ui.label(format!("value: {value:.2} dB")),
        NodeValue::Missing => ui.label("value: none"),
    };
    let tensor_line = |t: usize| {
        let t = &sg.tensors[t];
        let q = t
            .quantization
            .as_ref()
            .filter(|q| !q.scales.is_empty())
            .map(|q| {
                if q.is_per_channel() {
                    format!(
                        ", {} scales (axis {})",
                        q.scales.len(),
                        q.quantized_dimension
                    )
                } else {
                    format!(
                        ", scale {:.6} zero_point {}",
                        q.scales[0],
                        q.zero_points.first().copied().unwrap_or(0)
                    )
                }
            })
            .unwrap_or_default();
        format!("#{} {} {}{q}", t.index, t.name, graph::tensor_label(t))
    };
    for w in &n.weights {
        ui.label(format!("weight {}", tensor_line(w.tensor)));
    }
    for &t in &n.outputs {
        ui.label(format!("output {}", tensor_line(t)));
    }
    let inputs: Vec<usize> = g
        .edges
        .iter()
        .filter(|e| e.to == i)
        .map(|e| e.tensor)
        .collect();
    for t in inputs {
        ui.label(format!("input {}", tensor_line(t)));
    }
}
