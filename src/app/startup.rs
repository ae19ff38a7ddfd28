//! Opening the window straight at a state (`quantscope MODEL [FLOAT] --image ... --tab ...`):
//! for screenshots, bug reports and scripted checks. The request waits until what it names
//! exists (the model loaded, the tensor table built, the comparison finished), then is applied
//! once; a name that matches nothing is reported, not ignored.

use super::{QuantscopeApp, View};
use std::path::PathBuf;

/// What to show once the models are open.
#[derive(Debug, Default, Clone)]
pub struct Startup {
    pub view: Option<View>,
    /// A tensor of subgraph 0, by name or index, selected in Tensors.
    pub tensor: Option<String>,
    /// An operator index whose output is shown in Compare once the first image is compared.
    pub layer: Option<usize>,
}

impl View {
    /// `--tab` names: overview, tensors, compare, whatif, graph.
    pub fn parse(s: &str) -> Option<View> {
        Some(
            match s.to_ascii_lowercase().replace(['-', '_'], "").as_str() {
                "overview" => View::Overview,
                "tensors" => View::Tensors,
                "compare" => View::Compare,
                "whatif" => View::WhatIf,
                "graph" => View::Graph,
                _ => return None,
            },
        )
    }
}

impl QuantscopeApp {
    /// Opens `model` (and its float twin), queues `images` for comparison and shows `startup`'s
    /// tab, tensor and layer when they exist. The first model stays the active tab.
    pub fn open_at(
        &mut self,
        model: &std::path::Path,
        float: Option<&std::path::Path>,
        images: &[PathBuf],
        startup: Startup,
    ) {
        self.open_models(model, float);
        // The tab to show: the first model named, whichever finishes loading last.
        let focus = self.last_reserved_id();
        for p in images {
            match std::fs::read(p) {
                Ok(b) => self.pending_images.push((super::file_name(p), b)),
                Err(e) => self.errors.push(format!("{}: {e}", p.display())),
            }
        }
        self.startup = Some((focus, startup));
    }

    /// Applies what of the start-up request can be applied now; drops it when all is done.
    pub(super) fn apply_startup(&mut self) {
        let Some((focus, mut s)) = self.startup.take() else {
            return;
        };
        let Some(i) = self.tab_index(focus) else {
            // Still loading (or failed: the load error is shown; give up once nothing loads).
            if !self.loads.is_empty() {
                self.startup = Some((focus, s));
            }
            return;
        };
        self.active = i;
        if !self.loads.is_empty() {
            self.startup = Some((focus, s));
            return;
        }
        let t = &mut self.tabs[i];
        if let Some(v) = s.view.take() {
            t.view = v;
        }
        if let Some(name) = s.tensor.take() {
            let sg = &t.model.subgraphs[0];
            let found = name
                .parse::<usize>()
                .ok()
                .filter(|&k| k < sg.tensors.len())
                .or_else(|| sg.tensors.iter().position(|x| x.name == name));
            match found {
                Some(k) => t.tensors.select(0, k),
                None => self
                    .errors
                    .push(format!("--tensor {name}: no tensor of that name or index")),
            }
        }
        if let Some(op) = s.layer {
            let t = &mut self.tabs[i];
            if t.compare.is_running() || t.compare.results.is_empty() {
                self.startup = Some((focus, s));
                return;
            }
            let layers = t
                .compare
                .results
                .get(t.compare.selected)
                .and_then(|r| r.as_ref().ok())
                .map(|r| {
                    r.comparison
                        .layers
                        .iter()
                        .position(|l| l.op_index == Some(op))
                });
            match layers {
                Some(Some(k)) => t.compare.select_layer(k),
                Some(None) => self.errors.push(format!(
                    "--layer {op}: the comparison has no layer for operator {op}"
                )),
                None => self
                    .errors
                    .push(format!("--layer {op}: no image was compared")),
            }
        }
    }
}
