//! Graph: the model drawn as Netron draws it (dagre layout, laid out off the UI thread and
//! cached per subgraph), coloured by what the library computed (`graph::colour`). Wheel zooms
//! here (where users expect it), drag pans, double-click fits; search jumps to an op or tensor;
//! a minimap shows where the view is on big graphs; clicking an op selects it everywhere.

use super::jobs::Job;
use super::ViewCtx;
use crate::compare::LayerError;
use crate::graph::colour::{self, ColourBy, ColourData, Legend, NodeValue};
use crate::graph::export::{self, Picture};
use crate::graph::layout::{self, Layout, Metrics};
use crate::graph::matching::{match_graphs, side_by_side, Matching, NodeMatch, SideBySide};
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
    /// Show the float twin's graph beside this one.
    pub side_by_side: bool,
    twin: Option<TwinState>,
    /// Node count of the layout the view was last fitted to (refit when it changes).
    fitted_for: usize,
}

/// The float twin's layout for side by side, for one partner and one laid-out quantized graph.
struct TwinState {
    partner: usize,
    quant: Arc<Drawn>,
    job: Option<Job<Drawn>>,
    ready: Option<(Arc<SideBySide>, Arc<Drawn>)>,
}

type ValuesKey = (ColourBy, usize, bool, usize, bool);

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
            side_by_side: false,
            twin: None,
            fitted_for: 0,
        }
    }
}

fn rgb(c: [u8; 3]) -> Color32 {
    Color32::from_rgb(c[0], c[1], c[2])
}

fn value_colour(v: &NodeValue, by: ColourBy) -> Color32 {
    rgb(colour::value_rgb(v, by))
}

impl GraphPanel {
    /// The subgraph shown.
    pub fn subgraph(&self) -> usize {
        self.subgraph
    }

    /// Whether the current subgraph's layout is ready (benchmarks and tests wait for it).
    pub fn is_laid_out(&self) -> bool {
        self.drawn().is_some()
    }

    /// Screen points per layout unit.
    pub fn zoom(&self) -> f32 {
        self.zoom
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
        let mut export_clicked = [false; 2];
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
            if ctx.float.is_some() && self.subgraph == 0 && !self.collapse {
                if ui
                    .checkbox(&mut self.side_by_side, "side by side")
                    .changed()
                {
                    self.search_hits.clear();
                    self.selected = None;
                }
            }
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
            export_clicked = [
                ui.button("Export SVG").clicked(),
                ui.button("Export PNG").clicked(),
            ];
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
        // The float twin's graph, matched once per partner (subgraph 0 only).
        let partner = ctx.float.map(|f| Arc::as_ptr(f) as usize).unwrap_or(0);
        if drawn.graph.subgraph == 0 && self.matching.as_ref().is_none_or(|(p, _)| *p != partner) {
            let g = &drawn.graph;
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
            .filter(|_| drawn.graph.subgraph == 0 && !self.collapse)
            .and_then(|(_, m)| m.clone());
        let matching = matching.as_deref();
        let twin = match (self.side_by_side, matching, ctx.float) {
            (true, Some(m), Some(f)) => self.twin(ui, &egui_ctx, f, partner, &drawn, m),
            _ => None,
        };
        let twin = twin
            .as_ref()
            .map(|(s, fd)| (s.as_ref(), fd.as_ref(), ctx.float.unwrap()));
        let key: ValuesKey = (
            self.colour_by,
            drawn.graph.nodes.len(),
            ctx.weights.is_some(),
            layers.map_or(0, |l| l.len()),
            twin.is_some(),
        );
        if self.values.as_ref().is_none_or(|(k, _)| *k != key) {
            let data = ColourData::from_results(ctx.weights, layers, drawn.graph.subgraph);
            let mut v = colour::values(&drawn.graph, model, self.colour_by, &data);
            if let Some((s, fd, f)) = twin {
                let fdata = ColourData::from_results(ctx.float_weights, None, 0);
                let fv = colour::values(&fd.graph, f, self.colour_by, &fdata);
                v = s.values(&fv, &v);
            }
            let legend = colour::legend(&v);
            self.values = Some((key, Arc::new((v, legend))));
        }
        let shown = self.values.as_ref().expect("just set").1.clone();
        let (values, legend) = (&shown.0, &shown.1);
        let (g, l, marks, links): (&Graph, &Layout, Option<&[NodeMatch]>, &[(usize, usize)]) =
            match twin {
                Some((s, _, _)) => (&s.graph, &s.layout, Some(&s.marks), &s.links),
                None => (
                    &drawn.graph,
                    &drawn.layout,
                    matching.map(|m| m.quant.as_slice()),
                    &[],
                ),
            };
        // Which model, side graph and node a joined index stands for.
        let side = |i: usize| -> (&Model, &Graph, usize) {
            match twin {
                Some((s, fd, f)) if i < s.float_nodes => (f.as_ref(), &fd.graph, i),
                Some((s, _, _)) => (model.as_ref(), &drawn.graph, i - s.float_nodes),
                None => (model.as_ref(), &drawn.graph, i),
            }
        };
        self.legend_ui(ui, legend, g, matching, marks);
        if export_clicked != [false; 2] {
            self.export(ctx, g, l, values, marks, links, export_clicked);
        }

        let (resp, painter) = ui.allocate_painter(ui.available_size(), Sense::click_and_drag());
        let view = resp.rect;
        if self.fit_pending || self.fitted_for != l.nodes.len() {
            self.fit(view, l);
            self.fit_pending = false;
            self.fitted_for = l.nodes.len();
        }
        // Search: jump to the current hit.
        if !self.search.trim().is_empty() {
            if self.search_hits.is_empty() {
                self.search_hits = match twin {
                    Some((s, fd, f)) => {
                        let mut h = fd.graph.search(f, &self.search);
                        h.extend(
                            drawn
                                .graph
                                .search(model, &self.search)
                                .into_iter()
                                .map(|i| i + s.float_nodes),
                        );
                        h
                    }
                    None => g.search(model, &self.search),
                };
            }
            if !self.search_hits.is_empty() {
                let hit = self.search_hits[self.search_pos % self.search_hits.len()];
                if self.selected != Some(hit) && hit < l.nodes.len() {
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
                    self.zoom = (self.zoom * factor).clamp(0.01, 4.0);
                    self.offset = Vec2::new(anchor[0], anchor[1]) - (p - view.min) / self.zoom;
                }
            }
        }
        if resp.double_clicked() {
            self.fit(view, l);
        }
        let pointer = resp.hover_pos().map(|p| self.to_graph(view, p));
        let hovered = pointer.and_then(|p| l.node_at(p));
        // An edge under the pointer (within 5 screen points) when no node is.
        let hovered_edge = match (hovered, pointer) {
            (None, Some(p)) => l.edge_at(p, 5.0 / self.zoom),
            _ => None,
        };
        if resp.clicked() {
            self.selected = hovered;
            // The quantized node a click means: itself, or a float node's twin.
            let quant_node = hovered.and_then(|i| match twin {
                Some((s, _, _)) if i < s.float_nodes => match marks.and_then(|m| m.get(i)) {
                    Some(NodeMatch::Linked { other }) => Some(other - s.float_nodes),
                    _ => None,
                },
                _ => Some(side(i).2),
            });
            if let Some(n) = quant_node.map(|i| &drawn.graph.nodes[i]) {
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
        let focus = hovered.or(self.selected);
        self.paint(
            &painter,
            view,
            g,
            l,
            values,
            marks,
            links,
            focus,
            hovered_edge,
        );
        if l.width * self.zoom > view.width() || l.height * self.zoom > view.height() {
            self.minimap(&painter, view, l, values);
        }
        if let Some(i) = hovered {
            let (m, sg, k) = side(i);
            resp.on_hover_ui_at_pointer(|ui| node_tooltip(ui, m, sg, k, &values[i]));
        } else if let Some(e) = hovered_edge {
            let (m, _, _) = side(g.edges[e].from);
            let t = g.edges[e].tensor;
            resp.on_hover_ui_at_pointer(|ui| {
                ui.strong(&g.edges[e].label);
                ui.label(tensor_line(m, g.subgraph, t));
            });
        }
        action
    }

    /// The float twin laid out (off the UI thread) and joined with this graph; None while it
    /// is being laid out (the single graph shows meanwhile).
    fn twin(
        &mut self,
        ui: &mut egui::Ui,
        egui_ctx: &egui::Context,
        float: &Arc<Model>,
        partner: usize,
        drawn: &Arc<Drawn>,
        m: &Matching,
    ) -> Option<(Arc<SideBySide>, Arc<Drawn>)> {
        let fresh = |t: &TwinState| t.partner == partner && Arc::ptr_eq(&t.quant, drawn);
        if self.twin.as_ref().is_none_or(|t| !fresh(t)) {
            let f = float.clone();
            let job = Job::spawn(
                "laying out the float twin",
                Some(egui_ctx.clone()),
                move |_| {
                    let graph =
                        graph::build(&f, 0, &BuildOptions::default()).map_err(|e| e.to_string())?;
                    let layout = layout::layout(&graph, &Metrics::default());
                    Ok(Drawn { graph, layout })
                },
            );
            self.twin = Some(TwinState {
                partner,
                quant: drawn.clone(),
                job: Some(job),
                ready: None,
            });
        }
        let t = self.twin.as_mut().expect("just set");
        if let Some(job) = &mut t.job {
            match job.poll() {
                Some(Ok(fd)) => {
                    let s = side_by_side((&fd.graph, &fd.layout), (&drawn.graph, &drawn.layout), m);
                    t.ready = Some((Arc::new(s), Arc::new(fd)));
                    t.job = None;
                    self.fit_pending = true;
                }
                Some(Err(e)) => {
                    ui.colored_label(Color32::from_rgb(220, 80, 60), format!("float twin: {e}"));
                    t.job = None;
                }
                None => {
                    job.status_ui(ui);
                }
            }
        }
        t.ready.clone()
    }

    fn legend_ui(
        &self,
        ui: &mut egui::Ui,
        legend: &Legend,
        g: &Graph,
        m: Option<&Matching>,
        marks: Option<&[NodeMatch]>,
    ) {
        ui.horizontal_wrapped(|ui| {
            ui.label(format!("{} nodes, {} edges:", g.nodes.len(), g.edges.len()));
            if let Some(m) = m {
                ui.label(format!("float twin: {} nodes linked;", m.linked));
            }
            for e in export::legend_entries(self.colour_by, legend, marks) {
                let text = if e.outline {
                    format!("{} (outline)", e.text)
                } else {
                    e.text
                };
                ui.colored_label(rgb(e.rgb), text);
            }
            if matches!(self.colour_by, ColourBy::Readiness | ColourBy::Readiness16) {
                ui.weak(format!("as of {}", crate::graph::readiness::REFLECTS));
            }
        });
    }

    /// Writes the picture the tab shows (colouring, legend, twin markings) through the
    /// library's SVG export; the PNG is rasterised off the UI thread.
    fn export(
        &self,
        ctx: &ViewCtx,
        g: &Graph,
        l: &Layout,
        values: &[NodeValue],
        marks: Option<&[NodeMatch]>,
        links: &[(usize, usize)],
        [svg, png]: [bool; 2],
    ) {
        let stem = super::export::stem(&format!("{}_graph_{}", ctx.name, g.subgraph));
        let picture = export::svg(&Picture {
            graph: g,
            layout: l,
            values,
            colour_by: self.colour_by,
            matching: marks,
            links,
            title: ctx.name.to_string(),
        });
        if svg {
            ctx.status.report(super::export::save(
                &format!("{stem}.svg"),
                picture.as_bytes(),
                true,
            ));
        }
        if png {
            let status = ctx.status.clone();
            let repaint = ctx.repaint.cloned();
            status.set("rendering the PNG...");
            std::thread::spawn(move || {
                let r = export::png(&picture, 2.0)
                    .map_err(|e| e.to_string())
                    .and_then(|bytes| super::export::save(&format!("{stem}.png"), &bytes, true));
                status.report(r);
                if let Some(c) = repaint {
                    c.request_repaint();
                }
            });
        }
    }

    /// Draws what is on screen only: edges whose bounding box meets the view, nodes that do.
    /// At low zoom text is skipped (below 0.35), and below 0.12 edges become straight lines
    /// without arrowheads and nodes lose their outlines, so a 5,000-node graph stays fast.
    #[allow(clippy::too_many_arguments)]
    fn paint(
        &self,
        painter: &egui::Painter,
        view: Rect,
        g: &Graph,
        l: &Layout,
        values: &[NodeValue],
        marks: Option<&[NodeMatch]>,
        links: &[(usize, usize)],
        focus: Option<usize>,
        hovered_edge: Option<usize>,
    ) {
        let coarse = self.zoom < 0.12;
        let in_view = |pts: &[[f32; 2]]| {
            let (mut lo, mut hi) = (Pos2::new(f32::MAX, f32::MAX), Pos2::new(f32::MIN, f32::MIN));
            for &p in pts {
                let q = self.to_screen(view, p);
                lo = lo.min(q);
                hi = hi.max(q);
            }
            Rect::from_min_max(lo, hi).expand(8.0).intersects(view)
        };
        for (e, pts) in l.edges.iter().enumerate() {
            if pts.len() < 2 || !in_view(pts) {
                continue;
            }
            let (width, grey) = if hovered_edge == Some(e) {
                (3.0, 230)
            } else {
                (1.0, 140)
            };
            let stroke = Stroke::new(width, Color32::from_gray(grey));
            if coarse {
                let (a, b) = (pts[0], pts[pts.len() - 1]);
                painter.line_segment([self.to_screen(view, a), self.to_screen(view, b)], stroke);
                continue;
            }
            let screen: Vec<Pos2> = pts.iter().map(|&p| self.to_screen(view, p)).collect();
            if let [.., a, b] = screen.as_slice() {
                let dir = (*b - *a).normalized() * 6.0 * self.zoom.clamp(0.5, 1.5);
                let side = Vec2::new(-dir.y, dir.x) * 0.5;
                painter.add(egui::Shape::convex_polygon(
                    vec![*b, *b - dir + side, *b - dir - side],
                    Color32::from_gray(grey),
                    Stroke::NONE,
                ));
            }
            painter.add(egui::Shape::line(screen, stroke));
        }
        // Links between twins: faint, except the focused node's.
        let partner = focus.and_then(|i| match marks.and_then(|m| m.get(i)) {
            Some(NodeMatch::Linked { other }) => Some(*other),
            _ => None,
        });
        for &(f, q) in links {
            let (a, b) = (l.nodes[f], l.nodes[q]);
            let (pa, pb) = ([a.x + a.w / 2.0, a.y], [b.x - b.w / 2.0, b.y]);
            if !in_view(&[pa, pb]) {
                continue;
            }
            let strong = focus == Some(f) || focus == Some(q);
            let stroke = if strong {
                Stroke::new(2.5, Color32::from_rgb(250, 220, 60))
            } else {
                Stroke::new(1.0, Color32::from_rgba_unmultiplied(250, 220, 60, 50))
            };
            painter.line_segment([self.to_screen(view, pa), self.to_screen(view, pb)], stroke);
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
            match marks.and_then(|m| m.get(i)) {
                Some(NodeMatch::Inserted) => stroke = Stroke::new(2.0, rgb(export::INSERTED_RGB)),
                Some(NodeMatch::OnlyHere) => stroke = Stroke::new(2.0, rgb(export::ONLY_HERE_RGB)),
                _ => {}
            }
            if partner == Some(i) {
                stroke = Stroke::new(3.0, Color32::from_rgb(250, 220, 60));
            }
            if self.selected == Some(i) {
                stroke = Stroke::new(3.0, Color32::WHITE);
            }
            if coarse && stroke.width <= 1.0 {
                continue;
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
    let tensor_line = |t: usize| tensor_line(model, g.subgraph, t);
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

/// `#3 conv/out 1x28x28x8 int8, scale 0.023 zero_point -128` (or the channel count).
fn tensor_line(model: &Model, subgraph: usize, t: usize) -> String {
    let Some(t) = model
        .subgraphs
        .get(subgraph)
        .and_then(|sg| sg.tensors.get(t))
    else {
        return format!("tensor #{t}");
    };
    let q = t
        .quantization
        .as_ref()
        .map(|q| match &q.blockwise {
            Some(b) => format!(", blockwise {}", b.block_size),
            None if q.is_per_channel() => format!(
                ", {} scales (axis {})",
                q.scales.len(),
                q.quantized_dimension
            ),
            None if !q.scales.is_empty() => format!(
                ", scale {:.6} zero_point {}",
                q.scales[0],
                q.zero_points.first().copied().unwrap_or(0)
            ),
            None => String::new(),
        })
        .unwrap_or_default();
    format!("#{} {} {}{q}", t.index, t.name, graph::tensor_label(t))
}
