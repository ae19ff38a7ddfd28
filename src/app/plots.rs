//! What every plot of the app shares. Plots sit inside scrolling pages, so the wheel scrolls
//! the page, not the plot: Ctrl+wheel zooms, dragging pans, a right-button drag zooms to a box,
//! a double click resets. Each plot's id is salted with its tab's model, so zoom and pan are
//! remembered per tab and per tensor instead of following the user to another tab. Charts
//! leave room above the data for the legend and the hover label, and small plots keep their
//! y ticks.

use crate::model::Model;
use eframe::egui;
use egui_plot::{AxisHints, Corner, Legend, Plot, PlotMemory};
use std::hash::Hash;
use std::sync::Arc;

/// The id of plot `name` of the tab showing `model` (tests read its memory with [`view`]).
pub fn id(model: &Arc<Model>, name: impl Hash + std::fmt::Debug) -> egui::Id {
    egui::Id::unique(("quantscope_plot", Arc::as_ptr(model) as usize, name))
}

/// Height of one legend row (points), to leave room for the legend above the data.
const LEGEND_ROW: f64 = 18.0;

/// A plot inside a scrolling page (see the module doc), `height` points tall with the y ticks
/// a small plot needs (labels 12 points apart instead of egui_plot's 20).
pub fn page_plot(
    model: &Arc<Model>,
    name: impl Hash + std::fmt::Debug,
    height: f32,
) -> Plot<'static> {
    Plot::new("quantscope_plot")
        .id(id(model, name))
        .height(height)
        .allow_scroll(false)
        .allow_zoom(true)
        .allow_boxed_zoom(true)
        .allow_double_click_reset(true)
        .custom_y_axes(vec![AxisHints::new_y().label_spacing(12.0..=20.0)])
}

/// The legend, top right, over the room [`headroom`] leaves above the data.
pub fn legend() -> Legend {
    Legend::default()
        .position(Corner::RightTop)
        .background_alpha(0.85)
}

/// The top of the y range so that data reaching `hi` (from `lo`) stays below a legend of
/// `rows` entries and a hover label in a plot `height` points tall.
pub fn headroom(lo: f64, hi: f64, height: f32, rows: usize) -> f64 {
    let plot_h = (height as f64 - 40.0).max(40.0); // less the x axis
    let reserve = (LEGEND_ROW * rows.max(1) as f64 + 8.0).min(plot_h * 0.6);
    let span = if hi > lo { hi - lo } else { hi.abs().max(1.0) };
    hi + span * reserve / (plot_h - reserve)
}

/// The screen rectangle and `[x_min, x_max, y_min, y_max]` bounds of a plot shown last frame
/// (tests check that the wheel left them alone).
pub fn view(ctx: &egui::Context, id: egui::Id) -> Option<(egui::Rect, [f64; 4])> {
    let m = PlotMemory::load(ctx, id)?;
    let b = m.bounds();
    Some((
        *m.transform().frame(),
        [b.min()[0], b.max()[0], b.min()[1], b.max()[1]],
    ))
}

/// Bytes on an axis or in a hover label: KB/MB rather than raw counts.
pub fn bytes_label(v: f64) -> String {
    if v < 0.0 {
        String::new()
    } else {
        crate::model::human_bytes(v.round() as u64)
    }
}
