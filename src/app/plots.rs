//! What every plot of the app shares. Plots sit inside scrolling pages, so the wheel scrolls
//! the page, not the plot: Ctrl+wheel zooms, dragging pans, a right-button drag zooms to a box,
//! a double click resets. Each plot's id is salted with its tab's model, so zoom and pan are
//! remembered per tab and per tensor instead of following the user to another tab. Charts
//! leave room above the data for the legend and the hover label, and small plots keep their
//! y ticks.

use crate::model::Model;
use eframe::egui;
use egui_plot::{AxisHints, Corner, GridInput, GridMark, Legend, Plot, PlotMemory, PlotUi};
use std::hash::Hash;
use std::sync::Arc;

/// The id of plot `name` of the tab showing `model` (tests read its memory with [`view`]).
pub fn id(model: &Arc<Model>, name: impl Hash + std::fmt::Debug) -> egui::Id {
    egui::Id::unique(("quantscope_plot", Arc::as_ptr(model) as usize, name))
}

/// The category (bar, layer) a click on the plot picked: its x rounded to an index.
pub fn clicked_index(p: &PlotUi) -> Option<usize> {
    if p.response().clicked() {
        p.pointer_coordinate()
            .map(|c| c.x.round().max(0.0) as usize)
    } else {
        None
    }
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
        .custom_x_axes(vec![AxisHints::new_x()
            .label_spacing(40.0..=56.0)
            .formatter(tick_label)])
        .custom_y_axes(vec![AxisHints::new_y()
            .label_spacing(12.0..=20.0)
            .formatter(tick_label)])
        .x_grid_spacer(nice_grid(7.0))
        .y_grid_spacer(nice_grid(3.0))
}

/// Ticks at 1, 2 and 5 times a power of ten, the labelled ones at least `factor` times the
/// thinnest grid spacing (8 points) apart, with unlabelled minor lines between: egui_plot's
/// own grid steps by powers of ten only, which leaves a small plot with one "0" tick.
fn nice_grid(factor: f64) -> impl Fn(GridInput) -> Vec<GridMark> {
    move |input: GridInput| {
        let (lo, hi) = input.bounds;
        let want = input.base_step_size.abs() * factor;
        if !want.is_finite() || want <= 0.0 || hi.is_nan() || lo.is_nan() || hi <= lo {
            return Vec::new();
        }
        let p = 10f64.powf(want.log10().floor());
        let (mantissa, major) = [1.0, 2.0, 5.0, 10.0]
            .into_iter()
            .map(|m| (m, m * p))
            .find(|(_, s)| *s >= want * 0.999)
            .unwrap_or((10.0, 10.0 * p));
        let minor = major / if mantissa == 2.0 { 4.0 } else { 5.0 };
        let first = (lo / minor).ceil() as i64;
        let last = (hi / minor).floor() as i64;
        if last - first > 5000 {
            return Vec::new();
        }
        let per = (major / minor).round() as i64;
        (first..=last)
            .map(|k| GridMark {
                value: k as f64 * minor,
                step_size: if k % per == 0 { major } else { minor },
            })
            .collect()
    }
}

/// Category axes: one tick per integer (a category), none between, so a category's name gets
/// the whole width of its slot.
pub fn category_grid(input: GridInput) -> Vec<GridMark> {
    let (lo, hi) = input.bounds;
    let (first, last) = (lo.ceil() as i64, hi.floor() as i64);
    if hi.is_nan() || lo.is_nan() || hi <= lo || last - first > 2000 {
        return Vec::new();
    }
    (first..=last)
        .map(|k| GridMark {
            value: k as f64,
            step_size: 1.0,
        })
        .collect()
}

/// A bytes axis: ticks at 1, 2, 5, 10, 20, 50, 100, 200 or 500 B, KB or MB (powers of 1024, as
/// [`bytes_label`] prints them), so the labels read "10.0 KB", not "9.8 KB".
pub fn bytes_grid(input: GridInput) -> Vec<GridMark> {
    let (lo, hi) = input.bounds;
    let want = input.base_step_size.abs() * 3.0;
    if !want.is_finite() || want <= 0.0 || hi.is_nan() || lo.is_nan() || hi <= lo {
        return Vec::new();
    }
    let unit = 1024f64.powf(want.max(1.0).log(1024.0).floor());
    let step = [1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1024.0]
        .into_iter()
        .map(|m| m * unit)
        .find(|s| *s >= want)
        .unwrap_or(1024.0 * unit);
    let (first, last) = ((lo / step).ceil() as i64, (hi / step).floor() as i64);
    if last - first > 5000 {
        return Vec::new();
    }
    (first..=last)
        .map(|k| GridMark {
            value: k as f64 * step,
            step_size: step,
        })
        .collect()
}

/// A tick label with the decimals its step needs (0.05 steps: two; 0.2 steps: one).
fn tick_label(m: GridMark, _: &std::ops::RangeInclusive<f64>) -> String {
    let d = (-m.step_size.log10()).ceil().max(0.0) as usize;
    let v = if m.value.abs() < m.step_size * 1e-6 {
        0.0
    } else {
        m.value
    };
    format!("{v:.d$}")
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
