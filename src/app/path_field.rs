//! The in-app path field (File > Open by path, or when the desktop has no file dialog): a
//! text field with Tab completion from the directory listing.

use super::QuantscopeApp;
use eframe::egui;
use std::path::{Path, PathBuf};

impl QuantscopeApp {
    pub(super) fn path_field_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            let label = ui.label("Open path:");
            // Focus locked so that Tab completes instead of moving to the next widget.
            let r = ui
                .add(
                    egui::TextEdit::singleline(&mut self.path_field)
                        .desired_width(420.0)
                        .lock_focus(true)
                        .hint_text("/path/to/model.tflite, image or labels.txt (Tab completes)"),
                )
                .labelled_by(label.id);
            let cands = completions(&self.path_field);
            if r.has_focus()
                && ui.input_mut(|i| i.consume_key(egui::Modifiers::NONE, egui::Key::Tab))
            {
                if let Some(c) = common_prefix(&cands).filter(|c| c.len() >= self.path_field.len())
                {
                    self.path_field = c;
                    // The cursor to the end, to go on typing after the completion.
                    if let Some(mut st) = egui::TextEdit::load_state(ui.ctx(), r.id) {
                        let end = egui::text::CCursor::end_of_str(&self.path_field);
                        st.cursor
                            .set_char_range(Some(egui::text::CCursorRange::one(end)));
                        st.store(ui.ctx(), r.id);
                    }
                }
            }
            let enter = r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            if ui.button("Open").clicked() || enter {
                let p = PathBuf::from(self.path_field.trim());
                if p.is_file() {
                    self.open_path(&p);
                    self.path_field.clear();
                } else if p.is_dir() {
                    self.errors.push(format!(
                        "{} is a folder: type a file inside it (Tab completes)",
                        p.display()
                    ));
                } else {
                    self.errors.push(format!("{}: no such file", p.display()));
                }
            }
            if ui.small_button("x").clicked() {
                self.show_path_field = false;
            }
            if !cands.is_empty() && !self.path_field.is_empty() {
                let n = cands.len();
                ui.menu_button(
                    format!("{n} {}", super::plural(n, "match", "matches")),
                    |ui| {
                        for c in cands.iter().take(30) {
                            if ui.button(c).clicked() {
                                self.path_field = c.clone();
                                ui.close();
                            }
                        }
                    },
                );
            }
        });
    }
}

impl QuantscopeApp {
    /// "Export report" without a save dialog: the path to write, editable, and Save.
    pub(super) fn report_path_ui(&mut self, ui: &mut egui::Ui) {
        let Some(mut p) = self.report_path.take() else {
            return;
        };
        let mut keep = true;
        ui.horizontal(|ui| {
            let l = ui.label("Save report as:");
            let r = ui
                .add(egui::TextEdit::singleline(&mut p).desired_width(420.0))
                .labelled_by(l.id);
            let enter = r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            if ui.button("Save").clicked() || enter {
                let path = PathBuf::from(p.trim());
                if path.is_dir() {
                    self.errors
                        .push(format!("{} is a folder: add a file name", path.display()));
                } else {
                    self.write_report(&path);
                    keep = false;
                }
            }
            if ui.small_button("x").on_hover_text("cancel").clicked() {
                keep = false;
            }
        });
        if keep {
            self.report_path = Some(p);
        }
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
