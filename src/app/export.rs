//! Writing exports: a save dialog when the desktop has one, else a file in the export folder
//! (the current directory) whose path is shown in the window. PNG exports crop a screenshot of
//! the window to the plot's rectangle.

use eframe::egui;
use std::path::PathBuf;

/// Where exports go when no native dialog is available.
pub fn export_dir() -> PathBuf {
    std::env::var_os("QUANTSCOPE_EXPORT_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")))
}

fn target(default_name: &str, ask: bool) -> PathBuf {
    ask.then(|| ask_save_path(default_name))
        .flatten()
        .unwrap_or_else(|| export_dir().join(default_name))
}

/// What the user reads after a save: the path and how big the file is.
pub fn saved(p: &std::path::Path) -> String {
    match std::fs::metadata(p) {
        Ok(m) => format!(
            "saved {} ({})",
            p.display(),
            crate::model::human_bytes(m.len())
        ),
        Err(_) => format!("saved {}", p.display()),
    }
}

/// Where "Export report" writes when no save dialog is available: the export folder.
pub fn default_report_path() -> PathBuf {
    export_dir().join("quantscope_report.json")
}

/// A save dialog for `default_name`, or `None` when there is none (or the user cancelled).
pub fn ask_save_path(default_name: &str) -> Option<PathBuf> {
    rfd::FileDialog::new()
        .set_file_name(default_name)
        .set_directory(export_dir())
        .save_file()
}

/// Saves `bytes`; returns the path written (shown to the user) or the error.
pub fn save(default_name: &str, bytes: &[u8], ask: bool) -> Result<PathBuf, String> {
    let p = target(default_name, ask);
    std::fs::write(&p, bytes).map_err(|e| format!("cannot write {}: {e}", p.display()))?;
    Ok(p)
}

/// Asks for a screenshot and saves the part of it under `rect` as a PNG. The result message
/// arrives in `status` (shown by the app's status line).
pub fn save_png(ctx: &egui::Context, rect: egui::Rect, default_name: &str, status: &StatusLine) {
    let p = export_dir().join(default_name);
    let ppp = ctx.pixels_per_point();
    let status = status.clone();
    let c2 = ctx.clone();
    ctx.send_viewport_cmd(egui::ViewportCommand::Screenshot(
        egui::ScreenshotCallback::new(move |img| {
            let r = img.region(&rect, Some(ppp));
            let [w, h] = r.size;
            let rgba: Vec<u8> = r.pixels.iter().flat_map(|c| c.to_array()).collect();
            let msg = match image::RgbaImage::from_raw(w as u32, h as u32, rgba)
                .ok_or_else(|| "empty image".to_string())
                .and_then(|im| im.save(&p).map_err(|e| e.to_string()))
            {
                Ok(()) => saved(&p),
                Err(e) => format!("cannot save {}: {e}", p.display()),
            };
            status.set(msg);
            c2.request_repaint();
        }),
    ));
}

/// A message line shared between panels and the app ("saved ...", "cannot write ...").
#[derive(Clone, Default)]
pub struct StatusLine(std::sync::Arc<std::sync::Mutex<(String, Option<std::time::Instant>)>>);

impl StatusLine {
    /// How long an informational message ("saved ...") stays before it fades out.
    pub const SHOWN_FOR: std::time::Duration = std::time::Duration::from_secs(8);

    pub fn set(&self, s: impl Into<String>) {
        if let Ok(mut g) = self.0.lock() {
            *g = (s.into(), Some(std::time::Instant::now()));
        }
    }
    pub fn get(&self) -> String {
        self.0.lock().map(|g| g.0.clone()).unwrap_or_default()
    }
    /// The message while it is fresh, with the share of its time left (1 to 0, for fading);
    /// `None` once it has expired or when there is none.
    pub fn current(&self) -> Option<(String, f32)> {
        let g = self.0.lock().ok()?;
        let age = g.1?.elapsed();
        if g.0.is_empty() || age >= Self::SHOWN_FOR {
            return None;
        }
        Some((
            g.0.clone(),
            1.0 - age.as_secs_f32() / Self::SHOWN_FOR.as_secs_f32(),
        ))
    }
    /// "saved PATH (SIZE)" or the error.
    pub fn report(&self, r: Result<PathBuf, String>) {
        self.set(match r {
            Ok(p) => saved(&p),
            Err(e) => e,
        })
    }
}

/// Export buttons under a plot: PNG (screenshot crop), CSV and JSON of the plotted numbers.
pub fn plot_exports(
    ui: &mut egui::Ui,
    plot_rect: egui::Rect,
    stem: &str,
    csv: impl FnOnce() -> String,
    json: impl FnOnce() -> serde_json::Value,
    status: &StatusLine,
) {
    ui.horizontal(|ui| {
        ui.weak("export:");
        if ui.small_button("PNG").clicked() {
            save_png(ui.ctx(), plot_rect, &format!("{stem}.png"), status);
        }
        if ui.small_button("CSV").clicked() {
            status.report(save(&format!("{stem}.csv"), csv().as_bytes(), false));
        }
        if ui.small_button("JSON").clicked() {
            let s = serde_json::to_string_pretty(&json()).unwrap_or_default();
            status.report(save(&format!("{stem}.json"), s.as_bytes(), false));
        }
    });
}

/// A file-name-safe stem.
pub fn stem(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    out.truncate(60);
    out
}
