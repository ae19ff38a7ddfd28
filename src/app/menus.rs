//! The menu bar, keyboard shortcuts, the tab bar (with the pairing chooser), the status bar
//! (jobs, messages, errors) and dropped files.

use super::QuantscopeApp;
use eframe::egui;
use std::path::Path;

/// A menu entry: true (and the menu closed) when clicked.
fn item(ui: &mut egui::Ui, label: &str) -> bool {
    let clicked = ui.button(label).clicked();
    if clicked {
        ui.close();
    }
    clicked
}

impl QuantscopeApp {
    /// "Load labels...": a text file of class names for the active model; without a native
    /// dialog, the path field (a `.txt` typed there loads as labels).
    pub(super) fn labels_dialog(&mut self) {
        match rfd::FileDialog::new()
            .add_filter("label files", &["txt", "labels"])
            .pick_file()
        {
            Some(f) => self.load_labels(&f),
            None => self.show_path_field = true,
        }
    }

    pub(super) fn open_dialog(&mut self) {
        let picked = rfd::FileDialog::new()
            .add_filter(
                "TFLite models and images",
                &[&["tflite"][..], &crate::preprocess::IMAGE_EXTENSIONS[..]].concat()[..],
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

    pub(super) fn shortcuts(&mut self, ui: &mut egui::Ui) {
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

    /// The menu row; with `compact`, the tab strip follows in the same row.
    pub(super) fn menu_bar(&mut self, ui: &mut egui::Ui, compact: bool) {
        egui::MenuBar::new().ui(ui, |ui| {
            ui.menu_button("File", |ui| {
                if item(ui, "Open...  (Ctrl+O)") {
                    self.open_dialog();
                }
                if item(ui, "Open by path...") {
                    self.show_path_field = true;
                }
                if item(ui, "Load labels...") {
                    self.labels_dialog();
                }
                ui.menu_button("Open recent", |ui| {
                    if self.settings.recent.is_empty() {
                        ui.weak("nothing yet");
                    }
                    for r in self.settings.recent.clone() {
                        if item(ui, &r) {
                            self.open_path(Path::new(&r));
                        }
                    }
                });
                ui.separator();
                if item(ui, "Export report (JSON)...") {
                    self.export_report();
                }
                if item(ui, "Close tab  (Ctrl+W)") {
                    self.close_tab(self.active);
                }
            });
            ui.menu_button("Run", |ui| {
                if item(ui, "Rerun comparison  (F5)") {
                    self.rerun();
                }
                ui.menu_button("Kernel threads", |ui| self.threads_menu(ui));
            });
            if ui.button("Export report").clicked() {
                self.export_report();
            }
            if compact && !self.tabs.is_empty() {
                ui.separator();
                self.tab_bar(ui);
            }
        });
    }

    /// Run > Kernel threads: how many threads the engine's big ops split over (the same
    /// `EngineOptions::threads` as the CLI's `--threads`); used by the next run.
    fn threads_menu(&mut self, ui: &mut egui::Ui) {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut choice = self.settings.threads;
        ui.radio_value(&mut choice, 0, format!("One per core ({cores})"));
        for n in (1..=cores.min(16)).filter(|&n| n <= 2 || n.is_power_of_two() || n == cores) {
            ui.radio_value(&mut choice, n, n.to_string());
        }
        if choice != self.settings.threads {
            self.settings.threads = choice;
            super::jobs::set_kernel_threads(choice);
            ui.close();
        }
    }

    pub(super) fn tab_bar(&mut self, ui: &mut egui::Ui) {
        let mut close = None;
        let mut pair_req = None;
        let files: Vec<(&str, Option<&std::path::Path>)> = self
            .tabs
            .iter()
            .map(|t| (t.name.as_str(), t.path.as_deref()))
            .collect();
        let names = crate::workspace::distinct_names(&files);
        // One row that scrolls sideways: a tab's close button never wraps away from it.
        egui::ScrollArea::horizontal()
            .id_salt("tab_strip")
            .auto_shrink([false, true])
            .show(ui, |ui| {
                ui.horizontal(|ui| {
                    for (i, t) in self.tabs.iter().enumerate() {
                        let txt = format!(
                            "{}  [{}]{}",
                            names[i],
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
                            .map(|j| names[j].clone())
                            .unwrap_or_else(|| "nothing".into());
                        let label = ui.label(format!("{} paired with", names[self.active]));
                        egui::ComboBox::from_id_salt("paired_with")
                            .selected_text(current)
                            .show_ui(ui, |ui| {
                                if ui
                                    .selectable_label(me.paired.is_none(), "nothing")
                                    .clicked()
                                {
                                    pair_req = Some((me.id, None));
                                }
                                for (t, n) in
                                    self.tabs.iter().zip(&names).filter(|(t, _)| t.id != me.id)
                                {
                                    if ui.selectable_label(me.paired == Some(t.id), n).clicked() {
                                        pair_req = Some((me.id, Some(t.id)));
                                    }
                                }
                            })
                            .response
                            .labelled_by(label.id);
                    }
                })
            });
        if let Some(i) = close {
            self.close_tab(i);
        }
        if let Some((a, b)) = pair_req {
            self.pair(a, b);
        }
    }

    pub(super) fn status_bar(&mut self, ui: &mut egui::Ui) {
        for j in &self.loads {
            j.status_ui(ui);
        }
        for t in &self.tabs {
            if let Some(j) = &t.weights_job {
                j.status_ui(ui);
            }
        }
        // One notification area: the latest message fades out; errors stay until dismissed,
        // the newest shown with the earlier ones one click away, one dismiss for all.
        if let Some((s, left)) = self.status.current() {
            ui.horizontal(|ui| {
                let c = ui
                    .visuals()
                    .text_color()
                    .gamma_multiply(left.clamp(0.25, 1.0));
                ui.colored_label(c, s);
                if ui.small_button("x").clicked() {
                    self.status.set("");
                }
            });
            ui.ctx()
                .request_repaint_after(std::time::Duration::from_millis(250));
        }
        if let Some(last) = self.errors.last() {
            let mut clear = false;
            ui.horizontal(|ui| {
                let mut lines = last.lines();
                let head = lines.next().unwrap_or_default();
                let r = ui.colored_label(ui.visuals().error_fg_color, format!("error: {head}"));
                if lines.next().is_some() {
                    r.on_hover_text(last.as_str());
                }
                let earlier = self.errors.len() - 1;
                if earlier > 0 {
                    ui.menu_button(format!("{earlier} earlier"), |ui| {
                        for e in self.errors.iter().rev().skip(1) {
                            ui.label(e.as_str());
                        }
                    });
                }
                clear = ui.small_button("dismiss").clicked();
            });
            if clear {
                self.errors.clear();
            }
        }
    }

    pub(super) fn handle_drops(&mut self, ui: &mut egui::Ui) {
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
}
