//! Opening files: models load off the UI thread into new tabs, images go to the active
//! comparison, `.txt` files become the active model's labels.

use super::{file_name, load, workspace, Job, QuantscopeApp, View};
use crate::model::Model;
use std::path::Path;

impl QuantscopeApp {
    /// Opens a file the way a dropped file is opened: models in a new tab, images into the
    /// active tab's comparison.
    pub fn open_path(&mut self, path: &Path) {
        self.open_dropped(path, None);
    }

    pub(super) fn open_dropped(&mut self, path: &Path, bytes: Option<Vec<u8>>) {
        if crate::labels::is_label_path(path) {
            return self.load_labels(path);
        }
        self.remember(path);
        if crate::preprocess::is_image_path(path) {
            let bytes = match bytes.map(Ok).unwrap_or_else(|| {
                std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
            }) {
                Ok(b) => b,
                Err(e) => return self.errors.push(e),
            };
            self.add_image(file_name(path), bytes);
        } else {
            let id = self.reserve_id();
            if path.exists() {
                self.spawn_load_path(path, id, None);
            } else if let Some(b) = bytes {
                let name = path.display().to_string();
                self.spawn_load_bytes(&name, b, None, id, None);
            } else {
                self.errors
                    .push(format!("{}: no such file", path.display()));
            }
        }
    }

    /// Gives the active tab (and the tab whose comparison serves it) the labels in `path`,
    /// remembered for that model, and reruns its comparison so the top-k lists name classes.
    pub fn load_labels(&mut self, path: &Path) {
        if self.tabs.is_empty() {
            return self.errors.push(format!(
                "{}: open a model first, then its labels",
                path.display()
            ));
        }
        let labels = match crate::labels::read(path) {
            Ok(l) => l,
            Err(e) => return self.errors.push(e.to_string()),
        };
        let owner = workspace::compare_owner(&self.tabs, self.active);
        for i in [self.active, owner] {
            let t = &mut self.tabs[i];
            t.labels = Some(labels.names.clone());
            if let Some(p) = &t.path {
                self.settings
                    .labels
                    .insert(p.display().to_string(), path.display().to_string());
            }
        }
        self.tabs[owner].compare.rerun();
        self.status.set(format!(
            "{} labels from {}",
            labels.names.len(),
            path.display()
        ));
    }

    pub(super) fn add_image(&mut self, name: String, bytes: Vec<u8>) {
        if self.tabs.is_empty() {
            self.pending_images.push((name, bytes));
            return;
        }
        let i = workspace::compare_owner(&self.tabs, self.active);
        let tab = &mut self.tabs[i];
        tab.compare.add_image(name, &bytes);
        tab.view = View::Compare;
        self.active = i;
    }

    pub(super) fn remember(&mut self, path: &Path) {
        let s = path.display().to_string();
        self.settings.recent.retain(|r| r != &s);
        self.settings.recent.insert(0, s);
        self.settings.recent.truncate(12);
    }

    pub(super) fn reserve_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub(super) fn last_reserved_id(&self) -> u64 {
        self.next_id
    }

    pub(super) fn spawn_load_path(&mut self, path: &Path, id: u64, pair_with: Option<u64>) {
        let p = path.to_path_buf();
        self.remember(path);
        let name = file_name(&p);
        self.loads.push(Job::spawn(
            format!("opening {name}"),
            self.repaint.clone(),
            move |jc| {
                jc.set_progress("reading and verifying the flatbuffer");
                let model = Model::open(&p).map_err(|e| format!("{}: {e}", p.display()))?;
                Ok(load(name, model, Some(p), None, pair_with, id))
            },
        ));
    }

    pub(super) fn spawn_load_bytes(
        &mut self,
        name: &str,
        bytes: Vec<u8>,
        labels: Option<Vec<String>>,
        id: u64,
        pair_with: Option<u64>,
    ) {
        let name = name.to_string();
        self.loads.push(Job::spawn(
            format!("opening {name}"),
            self.repaint.clone(),
            move |jc| {
                jc.set_progress("verifying the flatbuffer");
                let model = Model::from_bytes(bytes).map_err(|e| format!("{name}: {e}"))?;
                // Dropped bytes have no folder to look in, but may carry metadata labels.
                Ok(load(name, model, None, labels, pair_with, id))
            },
        ));
    }
}
