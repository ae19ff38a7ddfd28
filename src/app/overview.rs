//! Overview: file, kind, coverage, bytes by dtype, inputs/outputs with the float range their
//! quantization implies, operators (those the engine cannot run marked), metadata.

use super::export;
use super::plots::{bytes_grid, bytes_label, category_grid, headroom, legend, page_plot};
use super::{fmt_opt, ViewCtx};
use crate::model::{human_bytes, Tensor};
use crate::preprocess::InputSpec;
use eframe::egui;
use egui_plot::{Bar, BarChart, PlotPoint, Text};

#[derive(Default)]
pub struct OverviewPanel {}

/// One series of the bytes-by-dtype chart: name, colour and its bars (x, bytes, bar name).
type Series<'a> = (&'a str, egui::Color32, Vec<(f64, f64, String)>);

/// How many float activations "Why this kind" lists before folding the rest.
const SHOWN: usize = 8;

fn quant_text(t: &Tensor) -> (String, String) {
    match &t.quantization {
        Some(q) if !q.scales.is_empty() => {
            if q.is_per_channel() {
                (
                    format!("{} scales (axis {})", q.scales.len(), q.quantized_dimension),
                    format!("{} zero points", q.zero_points.len()),
                )
            } else {
                (
                    format!("{:.6}", q.scales[0]),
                    format!("{}", q.zero_points.first().copied().unwrap_or(0)),
                )
            }
        }
        _ => ("-".into(), "-".into()),
    }
}

/// The float range of a per-tensor quantized tensor (±1/2 LSB around the integer limits), from
/// the library.
fn implied_range(t: &Tensor) -> String {
    match crate::quant::metrics::activation_range(t).1 {
        Some((a, b)) => format!("[{a:.4}, {b:.4}] (±1/2 LSB)"),
        None => "-".into(),
    }
}

impl OverviewPanel {
    pub fn ui(&mut self, ui: &mut egui::Ui, ctx: &ViewCtx) {
        let (model, s, name, weights, status) =
            (ctx.model, ctx.summary, ctx.name, ctx.weights, ctx.status);
        let labels = ctx.labels;
        let ui_text_colour = ui.visuals().text_color();
        egui::ScrollArea::vertical().auto_shrink(false).show(ui, |ui| {
            ui.heading(name);
            egui::Grid::new("ov_grid").num_columns(2).striped(true).show(ui, |ui| {
                ui.label("file");
                ui.label(model.path().map(|p| p.display().to_string()).unwrap_or_else(|| format!("{name} (embedded)")));
                ui.end_row();
                ui.label("size");
                let n = model.file_bytes().len() as u64;
                ui.label(format!("{} ({n} bytes)", human_bytes(n)));
                ui.end_row();
                ui.label("kind");
                ui.strong(&s.kind_detail);
                ui.end_row();
                ui.label("coverage");
                ui.label(&s.coverage);
                ui.end_row();
                ui.label("fully quantized");
                if s.fully_quantized {
                    ui.colored_label(egui::Color32::from_rgb(60, 170, 60), "yes");
                } else if s.quantized_tensors == 0 {
                    // A float model is not a failed quantization: no warning colour.
                    ui.label("no (a float model: nothing is quantized)");
                } else {
                    ui.colored_label(egui::Color32::from_rgb(220, 140, 40), format!("no ({} float activations inside)", s.float_activations_inside));
                }
                ui.end_row();
                ui.label("tensors");
                ui.label(format!(
                    "{} ({} quantized, {} per-channel), {} operators, {} subgraph(s)",
                    s.tensors, s.quantized_tensors, s.per_channel_tensors, s.operators, s.subgraphs
                ));
                ui.end_row();
                ui.label("constant bytes");
                ui.label(human_bytes(s.constant_bytes as u64));
                ui.end_row();
                if let Some(w) = weights.filter(|w| w.rollup.tensors_compared > 0) {
                    ui.label("weights SQNR");
                    ui.label(format!(
                        "overall {} dB over {} tensors compared ({} errors, {} warnings from spec checks)",
                        fmt_opt(w.rollup.overall_sqnr_db, 2),
                        w.rollup.tensors_compared,
                        w.rollup.errors,
                        w.rollup.warnings
                    ));
                    ui.end_row();
                    if let Some(worst) = w.rollup.worst.first() {
                        ui.label("worst tensor");
                        ui.label(format!("{} ({} dB)", worst.tensor, fmt_opt(worst.sqnr_db, 2)));
                        ui.end_row();
                    }
                }
            });
            // Salted per model so one tab's open state does not follow the user to the next;
            // long lists show their head, the rest one click away.
            egui::CollapsingHeader::new(format!("Why this kind ({} facts)", s.evidence.len()))
                .id_salt(("why_kind", name))
                .default_open(false)
                .show(ui, |ui| {
                    for e in &s.evidence {
                        ui.label(format!("- {e}"));
                    }
                    let acts = &s.float_activation_examples;
                    for e in acts.iter().take(SHOWN) {
                        ui.label(format!("  float activation: {e}"));
                    }
                    if acts.len() > SHOWN {
                        egui::CollapsingHeader::new(format!("{} more float activations", acts.len() - SHOWN))
                            .id_salt(("why_kind_more", name))
                            .show(ui, |ui| {
                                for e in &acts[SHOWN..] {
                                    ui.label(format!("  float activation: {e}"));
                                }
                            });
                    }
                });

            ui.separator();
            let dtypes: Vec<&String> = s.counts_by_dtype.keys().collect();
            let cbytes: Vec<f64> = dtypes.iter().map(|d| s.constants_by_dtype.get(*d).map_or(0, |x| x.bytes) as f64).collect();
            let abytes: Vec<f64> = dtypes.iter().map(|d| s.activations_by_dtype.get(*d).map_or(0, |x| x.bytes) as f64).collect();
            // A series with no bytes gets no bars and no legend entry; each bar is labelled
            // with its size, so a bar too small to see still says what it holds.
            let series: Vec<Series> = [
                ("constants", -0.2, egui::Color32::from_rgb(90, 140, 220), cbytes),
                ("activations", 0.2, egui::Color32::from_rgb(230, 120, 40), abytes),
            ]
            .into_iter()
            .map(|(n, dx, c, by)| {
                let bars: Vec<(f64, f64, String)> = by
                    .iter()
                    .enumerate()
                    .map(|(k, &b)| (k as f64 + dx, b, format!("{} {n}", dtypes[k])))
                    .filter(|b| b.1 > 0.0)
                    .collect();
                (n, c, bars)
            })
            .filter(|s| !s.2.is_empty())
            .collect();
            let ymax = series.iter().flat_map(|s| s.2.iter().map(|b| b.1)).fold(1.0, f64::max);
            let names: Vec<String> = dtypes.iter().map(|d| format!("{d} ({} tensors)", s.counts_by_dtype[*d])).collect();
            let r = ui.vertical(|ui| {
                ui.strong("Bytes by dtype");
                page_plot(model, "bytes_by_dtype", 190.0)
                    .legend(legend())
                    .include_y(0.0)
                    .include_y(headroom(0.0, ymax, 190.0, series.len()))
                    .x_axis_formatter(crate::app::category_axis(names))
                    .x_grid_spacer(category_grid)
                    .y_grid_spacer(bytes_grid)
                    .y_axis_label("bytes")
                    .y_axis_formatter(|m, _| bytes_label(m.value))
                    .show(ui, |p| {
                        for (n, c, bars) in &series {
                            let b: Vec<Bar> = bars
                                .iter()
                                .map(|(x, y, name)| Bar::new(*x, *y).width(0.4).name(name))
                                .collect();
                            p.bar_chart(BarChart::new(*n, b).color(*c).element_formatter(Box::new(
                                |b, _| format!("{}\n{}", b.name, bytes_label(b.value)),
                            )));
                            for (x, y, _) in bars {
                                p.text(
                                    Text::new("", PlotPoint::new(*x, *y), bytes_label(*y))
                                        .anchor(egui::Align2::CENTER_BOTTOM)
                                        .color(ui_text_colour),
                                );
                            }
                        }
                    })
            });
            export::plot_exports(
                ui,
                r.response.rect,
                "bytes_by_dtype",
                || crate::report::csv::bytes_by_dtype(s),
                || serde_json::to_value(s).unwrap_or_default(),
                status,
            );

            ui.separator();
            let sg = &model.subgraphs[0];
            for (title, list, is_input) in [("Inputs", &sg.inputs, true), ("Outputs", &sg.outputs, false)] {
                ui.strong(title);
                egui::Grid::new(format!("io_{title}")).striped(true).num_columns(6).show(ui, |ui| {
                    for h in ["name", "dtype", "shape", "scale", "zero point", "float range"] {
                        ui.strong(h);
                    }
                    ui.end_row();
                    for (k, &ti) in list.iter().enumerate() {
                        let Some(t) = sg.tensors.get(ti.max(0) as usize) else { continue };
                        let (sc, zp) = quant_text(t);
                        ui.label(&t.name);
                        ui.label(t.dtype.name());
                        ui.label(format!("{:?}", t.shape));
                        ui.label(sc);
                        ui.label(zp);
                        let range = if is_input {
                            InputSpec::from_model(model, k, None)
                                .ok()
                                .and_then(|sp| sp.representable_range())
                                .map(|(a, b)| format!("[{a:.4}, {b:.4}]"))
                                .unwrap_or_else(|| implied_range(t))
                        } else {
                            implied_range(t)
                        };
                        ui.label(range);
                        ui.end_row();
                    }
                });
            }

            ui.separator();
            ui.strong("Operators");
            egui::Grid::new("ops").striped(true).show(ui, |ui| {
                for (op, n) in &s.ops_by_type {
                    ui.label(op);
                    ui.label(format!("{n}"));
                    match ctx.unsupported.get(op) {
                        Some(why) => {
                            ui.colored_label(ui.visuals().warn_fg_color, format!("engine cannot run: {why}"));
                        }
                        None => {
                            ui.weak("runs");
                        }
                    }
                    ui.end_row();
                }
            });

            ui.separator();
            ui.strong("Metadata");
            if let Some(d) = &model.description {
                ui.label(format!("description: {d}"));
            }
            if let Some(v) = model.min_runtime_version() {
                ui.label(format!("min runtime version: {v}"));
            }
            if let Some(md) = model.tflite_metadata() {
                ui.label(format!(
                    "TFLite metadata: {} {} {}",
                    md.about.name.as_deref().unwrap_or_default(),
                    md.about.version.as_deref().unwrap_or_default(),
                    md.about.description.as_deref().unwrap_or_default()
                ));
                for (k, i) in md.inputs.iter().enumerate() {
                    ui.label(format!("input {k} normalization: mean {:?} std {:?}", i.mean, i.std));
                }
                for (at, f) in md.all_associated_files() {
                    ui.label(format!("associated file {} ({}) on {at}", f.name, f.file_type));
                }
            }
            for m in &model.metadata {
                ui.label(format!("entry {} ({} bytes)", m.name, m.bytes));
            }
            match labels {
                Some(l) => {
                    let head: Vec<&str> = l.iter().take(12).map(|s| s.as_str()).collect();
                    ui.label(format!("labels: {} ({}{})", l.len(), head.join(", "), if l.len() > 12 { ", ..." } else { "" }));
                }
                None => {
                    ui.weak("labels: none (no label file in the model's metadata, no <prefix>_labels.txt beside the model)");
                }
            }
        });
    }
}
