//! The tensor table: every tensor of every subgraph, virtual scrolling (only visible rows are
//! laid out), sortable columns, filters; click a row to show its detail.

use super::ViewCtx;
use crate::model::Model;
use crate::quant::{Severity, WeightsReport};
use eframe::egui;
use egui_extras::{Column, TableBuilder};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Col {
    Index,
    Name,
    Op,
    Dtype,
    Shape,
    Scale,
    ZeroPoint,
    Bytes,
    Sqnr,
    Problems,
}

/// Column, header, and the header's hover text (meaning and unit).
const COLS: [(Col, &str, &str); 10] = [
    (Col::Index, "#", "tensor index in its subgraph"),
    (Col::Name, "name", "tensor name (the path prefix most names share is shown as ...; hover a name for all of it)"),
    (Col::Op, "producing op", "the operator writing this tensor, with its index; (constant) or (input) otherwise"),
    (Col::Dtype, "dtype", "element type as stored"),
    (Col::Shape, "shape", "dimensions as stored in the file"),
    (Col::Scale, "scale", "quantization scale: float value of one integer step (LSB); per-channel: count and range"),
    (Col::ZeroPoint, "zero point", "the integer that represents 0.0"),
    (Col::Bytes, "bytes", "stored bytes of a constant; an activation's size at batch 1"),
    (Col::Sqnr, "SQNR dB", "weights: signal-to-quantization-noise ratio vs the float twin (or the dequantized values), in dB; higher is better"),
    (Col::Problems, "problems", "spec checks that failed for this tensor (hover for all)"),
];

/// Names as the narrow column shows them: the path prefix that most names share (e.g.
/// `functional_1_1/` or `model/backbone/`) replaced by `...`, so the tail that tells them apart
/// is what shows. Names outside that majority are kept whole.
fn short_names(names: &[String]) -> Vec<String> {
    let pathy: Vec<&String> = names.iter().filter(|n| n.contains('/')).collect();
    let mut n = pathy.first().map_or(0, |f| f.len());
    for s in pathy.iter().skip(1) {
        n = n.min(
            pathy[0]
                .bytes()
                .zip(s.bytes())
                .take_while(|(a, b)| a == b)
                .count(),
        );
    }
    let cut = pathy
        .first()
        .and_then(|f| f.get(..n))
        .and_then(|p| p.rfind('/'))
        .map_or(0, |i| i + 1);
    let strip = cut >= 8 && pathy.len() * 2 >= names.len();
    names
        .iter()
        .map(|s| match s.get(cut..) {
            Some(tail) if strip && s.contains('/') => format!("...{tail}"),
            _ => s.clone(),
        })
        .collect()
}

pub struct Row {
    pub sg: usize,
    pub idx: usize,
    pub name: String,
    /// `name` without the prefix all names share, for the narrow column.
    short_name: String,
    name_lc: String,
    pub op: String,
    pub dtype: String,
    pub shape: String,
    pub scale: String,
    scale_key: f64,
    pub zp: String,
    pub bytes: usize,
    pub quantized: bool,
    pub per_channel: bool,
    pub sqnr: Option<f64>,
    pub problems: usize,
    pub problem_text: String,
}

pub struct TensorsPanel {
    pub rows: Vec<Row>,
    order: Vec<usize>,
    model_key: usize,
    weights_key: usize,
    dirty: bool,
    pub filter: String,
    pub dtype_filter: Option<String>,
    pub only_quantized: bool,
    pub only_per_channel: bool,
    pub only_problems: bool,
    pub sort: Col,
    pub ascending: bool,
    pub selected: Option<(usize, usize)>,
    dtypes: Vec<String>,
    scroll_to: Option<usize>,
    /// Positions (in the filtered, sorted order) of the rows laid out last frame: virtual
    /// scrolling lays out only these.
    pub visible_rows: std::ops::Range<usize>,
}

impl Default for TensorsPanel {
    fn default() -> Self {
        TensorsPanel {
            rows: Vec::new(),
            order: Vec::new(),
            model_key: 0,
            weights_key: 0,
            dirty: true,
            filter: String::new(),
            dtype_filter: None,
            only_quantized: false,
            only_per_channel: false,
            only_problems: false,
            sort: Col::Index,
            ascending: true,
            selected: None,
            dtypes: Vec::new(),
            scroll_to: None,
            visible_rows: 0..0,
        }
    }
}

/// The library's tensor table ([`crate::report::tensor_rows`]) as display text.
fn build_rows(model: &Model) -> Vec<Row> {
    let rows = crate::report::tensor_rows(model);
    let names: Vec<String> = rows.iter().map(|r| r.name.clone()).collect();
    let mut short = short_names(&names).into_iter();
    rows.into_iter()
        .map(|t| {
            let (scale, scale_key, zp) = match &t.quant {
                Some(q) if q.per_channel() => (
                    format!("{}x {:.3e}..{:.3e}", q.scales, q.scale_min, q.scale_max),
                    q.scale_max as f64,
                    match q.zero_point_range {
                        Some((a, b)) => format!("{}x {a}..{b}", q.zero_points),
                        None => "-".into(),
                    },
                ),
                Some(q) => (
                    format!("{:.6e}", q.scale_min),
                    q.scale_min as f64,
                    q.zero_point().to_string(),
                ),
                None => (String::new(), f64::NAN, String::new()),
            };
            Row {
                sg: t.subgraph,
                idx: t.index,
                name_lc: t.name.to_lowercase(),
                short_name: short.next().unwrap_or_default(),
                name: t.name,
                op: t.producer,
                dtype: t.dtype,
                shape: format!("{:?}", t.shape),
                scale,
                scale_key,
                zp,
                bytes: t.bytes,
                quantized: t.quant.is_some(),
                per_channel: t.quant.is_some_and(|q| q.per_channel()),
                sqnr: None,
                problems: 0,
                problem_text: String::new(),
            }
        })
        .collect()
}

impl TensorsPanel {
    fn refresh(&mut self, model: &Model, weights: Option<&WeightsReport>) {
        let mk = model as *const Model as usize;
        if mk != self.model_key {
            self.rows = build_rows(model);
            self.model_key = mk;
            self.weights_key = 0;
            let mut d: Vec<String> = self.rows.iter().map(|r| r.dtype.clone()).collect();
            d.sort();
            d.dedup();
            self.dtypes = d;
            self.dirty = true;
        }
        let wk = weights.map_or(0, |w| w as *const WeightsReport as usize);
        if wk != self.weights_key {
            self.weights_key = wk;
            let mut base = 0;
            let mut starts = Vec::new();
            for g in &model.subgraphs {
                starts.push(base);
                base += g.tensors.len();
            }
            for r in &mut self.rows {
                r.sqnr = None;
                r.problems = 0;
                r.problem_text.clear();
            }
            if let Some(w) = weights {
                for t in &w.tensors {
                    if let Some(r) = starts
                        .get(t.tensor.subgraph)
                        .and_then(|s| self.rows.get_mut(s + t.tensor.index))
                    {
                        r.sqnr = t.errors.sqnr_db;
                        let probs: Vec<&str> = t
                            .checks
                            .iter()
                            .filter(|c| c.severity != Severity::Info)
                            .map(|c| c.message.as_str())
                            .collect();
                        r.problems = probs.len();
                        r.problem_text = probs.first().map(|s| s.to_string()).unwrap_or_default();
                    }
                }
            }
            self.dirty = true;
        }
    }

    fn recompute_order(&mut self) {
        let f = self.filter.to_lowercase();
        let mut order: Vec<usize> = (0..self.rows.len())
            .filter(|&i| {
                let r = &self.rows[i];
                (f.is_empty() || r.name_lc.contains(&f) || r.op.to_lowercase().contains(&f))
                    && self.dtype_filter.as_ref().is_none_or(|d| &r.dtype == d)
                    && (!self.only_quantized || r.quantized)
                    && (!self.only_per_channel || r.per_channel)
                    && (!self.only_problems || r.problems > 0)
            })
            .collect();
        let rows = &self.rows;
        let nan_last = |a: f64, b: f64| match (a.is_nan(), b.is_nan()) {
            (true, true) => std::cmp::Ordering::Equal,
            (true, false) => std::cmp::Ordering::Greater,
            (false, true) => std::cmp::Ordering::Less,
            _ => a.total_cmp(&b),
        };
        order.sort_by(|&a, &b| {
            let (x, y) = (&rows[a], &rows[b]);
            let o = match self.sort {
                Col::Index => (x.sg, x.idx).cmp(&(y.sg, y.idx)),
                Col::Name => x.name.cmp(&y.name),
                Col::Op => x.op.cmp(&y.op),
                Col::Dtype => x.dtype.cmp(&y.dtype),
                Col::Shape => x
                    .shape
                    .len()
                    .cmp(&y.shape.len())
                    .then(x.shape.cmp(&y.shape)),
                Col::Scale => nan_last(x.scale_key, y.scale_key),
                Col::ZeroPoint => x.zp.cmp(&y.zp),
                Col::Bytes => x.bytes.cmp(&y.bytes),
                Col::Sqnr => nan_last(x.sqnr.unwrap_or(f64::NAN), y.sqnr.unwrap_or(f64::NAN)),
                Col::Problems => x.problems.cmp(&y.problems),
            };
            if self.ascending {
                o
            } else {
                o.reverse()
            }
        });
        // Missing values stay last whichever the direction.
        if !self.ascending && matches!(self.sort, Col::Sqnr | Col::Scale) {
            order.sort_by_key(|&i| {
                let r = &rows[i];
                match self.sort {
                    Col::Sqnr => r.sqnr.is_none(),
                    _ => r.scale_key.is_nan(),
                }
            });
        }
        self.order = order;
        self.dirty = false;
    }

    /// Selects a tensor (and scrolls to it).
    pub fn select(&mut self, sg: usize, idx: usize) {
        self.selected = Some((sg, idx));
        self.scroll_to = self
            .order
            .iter()
            .position(|&i| self.rows[i].sg == sg && self.rows[i].idx == idx);
    }

    /// Sort by SQNR, worst first (the "find the worst tensor" button).
    pub fn sort_worst_first(&mut self) {
        self.sort = Col::Sqnr;
        self.ascending = true;
        self.dirty = true;
    }

    pub fn visible_rows(&self) -> usize {
        self.order.len()
    }

    /// The dtype, quantized, per-channel and problems filters and the SQNR sort.
    fn filter_controls(&mut self, ui: &mut egui::Ui) {
        egui::ComboBox::new("dtype_filter", "dtype")
            .selected_text(
                self.dtype_filter
                    .clone()
                    .unwrap_or_else(|| "any dtype".into()),
            )
            .show_ui(ui, |ui| {
                if ui
                    .selectable_label(self.dtype_filter.is_none(), "any dtype")
                    .clicked()
                {
                    self.dtype_filter = None;
                    self.dirty = true;
                }
                for d in &self.dtypes {
                    if ui
                        .selectable_label(self.dtype_filter.as_ref() == Some(d), d)
                        .clicked()
                    {
                        self.dtype_filter = Some(d.clone());
                        self.dirty = true;
                    }
                }
            });
        self.dirty |= ui.checkbox(&mut self.only_quantized, "quantized").changed();
        self.dirty |= ui
            .checkbox(&mut self.only_per_channel, "per-channel")
            .changed();
        self.dirty |= ui
            .checkbox(&mut self.only_problems, "has problems")
            .changed();
        if ui
            .button("Worst SQNR first")
            .on_hover_text("sort the analysed weights by SQNR, lowest first")
            .clicked()
        {
            self.sort_worst_first();
        }
    }

    pub fn ui(&mut self, ui: &mut egui::Ui, ctx: &ViewCtx) {
        let weights = ctx.weights;
        self.refresh(ctx.model, weights);
        // In a narrow pane the filters fold into one menu, so the table keeps its rows.
        let narrow = ui.available_width() < 560.0;
        ui.horizontal_wrapped(|ui| {
            ui.label("filter:");
            self.dirty |= ui
                .add(
                    egui::TextEdit::singleline(&mut self.filter)
                        .desired_width(160.0)
                        .hint_text("name or op"),
                )
                .changed();
            if narrow {
                ui.menu_button("more filters", |ui| self.filter_controls(ui));
            } else {
                self.filter_controls(ui);
            }
        });
        if self.dirty {
            self.recompute_order();
        }
        ui.weak(format!(
            "{} of {} tensors{}",
            self.order.len(),
            self.rows.len(),
            if weights.is_none() {
                " - SQNR and problems appear when the weight analysis finishes"
            } else {
                ""
            }
        ));
        let row_h = 18.0;
        let mut clicked_row = None;
        let mut sort_click = None;
        let mut tb = TableBuilder::new(ui)
            .id_salt("tensor_table")
            .striped(true)
            .resizable(true)
            .sense(egui::Sense::click())
            .cell_layout(egui::Layout::left_to_right(egui::Align::Center))
            .column(Column::auto().at_least(40.0))
            .column(Column::initial(200.0).at_least(80.0).clip(true))
            .column(Column::initial(110.0).clip(true))
            .column(Column::auto().at_least(40.0))
            .column(Column::initial(90.0).clip(true))
            .column(Column::initial(110.0).clip(true))
            .column(Column::initial(60.0).clip(true))
            .column(Column::auto().at_least(60.0))
            .column(Column::auto().at_least(60.0))
            .column(Column::remainder().at_least(80.0).clip(true))
            .min_scrolled_height(0.0)
            .max_scroll_height(f32::INFINITY);
        if let Some(r) = self.scroll_to.take() {
            tb = tb.scroll_to_row(r, Some(egui::Align::Center));
        }
        tb.header(20.0, |mut header| {
            for (c, name, help) in COLS {
                header.col(|ui| {
                    let arrow = if self.sort == c {
                        if self.ascending {
                            " ^"
                        } else {
                            " v"
                        }
                    } else {
                        ""
                    };
                    if ui
                        .add(
                            egui::Button::new(
                                egui::RichText::new(format!("{name}{arrow}")).strong(),
                            )
                            .frame(false),
                        )
                        .on_hover_text(help)
                        .clicked()
                    {
                        sort_click = Some(c);
                    }
                });
            }
        })
        .body(|body| {
            // (first, end) of the rows laid out; starts inverted so any row narrows it.
            let mut seen = (usize::MAX, 0);
            body.rows(row_h, self.order.len(), |mut row| {
                seen = (seen.0.min(row.index()), seen.1.max(row.index() + 1));
                let r = &self.rows[self.order[row.index()]];
                let sel = self.selected == Some((r.sg, r.idx));
                row.set_selected(sel);
                let mut hit = false;
                row.col(|ui| {
                    ui.label(r.idx.to_string());
                });
                row.col(|ui| {
                    hit |= ui
                        .add(egui::Button::selectable(sel, &r.short_name).frame(false))
                        .on_hover_text(&r.name)
                        .clicked();
                });
                row.col(|ui| {
                    ui.label(&r.op);
                });
                row.col(|ui| {
                    ui.label(&r.dtype);
                });
                row.col(|ui| {
                    ui.label(&r.shape);
                });
                row.col(|ui| {
                    ui.label(&r.scale);
                });
                row.col(|ui| {
                    ui.label(&r.zp);
                });
                row.col(|ui| {
                    ui.label(crate::model::human_bytes(r.bytes as u64))
                        .on_hover_text(format!("{} bytes", r.bytes));
                });
                row.col(|ui| {
                    ui.label(r.sqnr.map_or(String::new(), |s| format!("{s:.1}")));
                });
                row.col(|ui| {
                    if r.problems > 0 {
                        ui.colored_label(
                            ui.visuals().warn_fg_color,
                            format!("{}: {}", r.problems, r.problem_text),
                        )
                        .on_hover_text(&r.problem_text);
                    }
                });
                if hit || row.response().clicked() {
                    clicked_row = Some((r.sg, r.idx));
                }
            });
            self.visible_rows = if seen.0 < seen.1 {
                seen.0..seen.1
            } else {
                0..0
            };
        });
        if let Some(c) = sort_click {
            if self.sort == c {
                self.ascending = !self.ascending;
            } else {
                self.sort = c;
                self.ascending = true;
            }
            self.dirty = true;
        }
        if let Some(s) = clicked_row {
            self.selected = Some(s);
        }
    }
}
