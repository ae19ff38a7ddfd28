//! Class names for top-k lists, and where they came from. Per output, the first that exists:
//! 1. a file the user named (`--labels FILE`), for every output;
//! 2. the model's metadata: the TENSOR_AXIS_LABELS file attached to that output, read from the
//!    zip archive appended to the model;
//! 3. a `<prefix>_labels.txt` (or `<stem>_labels.txt`, `labels.txt`) beside the model.
//!
//! A label file the metadata names but that cannot be read is a warning, not an error: the
//! comparison still runs, with the next source or with indices.

use crate::model::Model;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Class names, one per index of the output's last axis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Labels {
    pub names: Vec<String>,
    /// "file: PATH", "metadata: NAME" or "beside the model: PATH".
    pub source: String,
}

/// The labels of every output of a model, by source (see the module docs for the order).
#[derive(Clone, Debug, Default)]
pub struct LabelSet {
    pub explicit: Option<Labels>,
    /// Indexed by output of subgraph 0; `None` where the metadata names no label file.
    pub metadata: Vec<Option<Labels>>,
    pub sidecar: Option<Labels>,
    /// Label files the metadata names but that could not be read, and similar.
    pub warnings: Vec<String>,
}

impl LabelSet {
    /// The labels that apply to output `k`.
    pub fn for_output(&self, k: usize) -> Option<&Labels> {
        self.explicit
            .as_ref()
            .or_else(|| self.metadata.get(k).and_then(Option::as_ref))
            .or(self.sidecar.as_ref())
    }

    /// One list for the whole model (the GUI's overview and comparisons): the explicit file,
    /// else the first output's metadata labels, else the file beside the model.
    pub fn primary(&self) -> Option<&Labels> {
        self.explicit
            .as_ref()
            .or_else(|| self.metadata.iter().flatten().next())
            .or(self.sidecar.as_ref())
    }

    pub fn is_empty(&self) -> bool {
        self.primary().is_none()
    }
}

/// One label per line, trimmed; blank lines keep their index.
pub fn parse_lines(text: &str) -> Vec<String> {
    text.lines().map(|l| l.trim().to_string()).collect()
}

/// A label file the user chose (`--labels`, the app's "Load labels..." or a dropped `.txt`):
/// one class per line. A binary or empty file is refused with a reason, so a model opened as
/// labels (or labels as a model) says what went wrong.
pub fn read(p: &Path) -> anyhow::Result<Labels> {
    let bytes =
        std::fs::read(p).map_err(|e| anyhow::anyhow!("cannot read labels {}: {e}", p.display()))?;
    let text = String::from_utf8(bytes).map_err(|_| {
        anyhow::anyhow!(
            "{} is not a text label file (one class name per line)",
            p.display()
        )
    })?;
    if text.contains('\0') {
        anyhow::bail!(
            "{} is not a text label file (one class name per line)",
            p.display()
        );
    }
    let names = parse_lines(&text);
    if names.iter().all(|n| n.is_empty()) {
        anyhow::bail!("{} has no labels (one class name per line)", p.display());
    }
    Ok(Labels {
        names,
        source: format!("file: {}", p.display()),
    })
}

/// Files the app takes as label lists when opened or dropped.
pub fn is_label_path(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("txt") || e.eq_ignore_ascii_case("labels"))
}

fn read_file(p: &Path) -> anyhow::Result<Vec<String>> {
    Ok(parse_lines(&std::fs::read_to_string(p).map_err(|e| {
        anyhow::anyhow!("cannot read labels {}: {e}", p.display())
    })?))
}

/// The labels file beside `model_path`: `<prefix>_labels.txt` (the stem up to its last `_`, so
/// digits_int8.tflite finds digits_labels.txt), `<stem>_labels.txt`, then `labels.txt`.
pub fn sidecar(model_path: &Path) -> anyhow::Result<Option<Labels>> {
    let dir = model_path.parent().unwrap_or(Path::new("."));
    let stem = model_path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("");
    let prefix = stem.rsplit_once('_').map_or(stem, |(p, _)| p);
    let candidates: [PathBuf; 3] = [
        dir.join(format!("{prefix}_labels.txt")),
        dir.join(format!("{stem}_labels.txt")),
        dir.join("labels.txt"),
    ];
    for cand in candidates {
        if cand.is_file() {
            return Ok(Some(Labels {
                names: read_file(&cand)?,
                source: format!("beside the model: {}", cand.display()),
            }));
        }
    }
    Ok(None)
}

/// The TENSOR_AXIS_LABELS file of each output from the model's metadata, plus warnings for
/// label files that are named but unreadable (missing from the archive, corrupt, too large)
/// and for lists whose length does not match the output's last axis.
pub fn from_metadata(model: &Model) -> (Vec<Option<Labels>>, Vec<String>) {
    let mut warnings = Vec::new();
    let Some(raw) = model.metadata_bytes("TFLITE_METADATA") else {
        return (Vec::new(), warnings);
    };
    let Some(md) = crate::model::metadata::parse(raw) else {
        warnings.push("the TFLITE_METADATA entry is not readable metadata; ignored".into());
        return (Vec::new(), warnings);
    };
    let outputs = model.subgraphs.first().map_or(&[][..], |s| &s.outputs[..]);
    let labels = (0..md.outputs.len())
        .map(|k| {
            let file = md.output_axis_labels(k)?;
            let bytes = match model.associated_file(&file.name) {
                Ok(b) => b,
                Err(e) => {
                    warnings.push(format!("output {k}: metadata label file: {e}"));
                    return None;
                }
            };
            let names = parse_lines(&String::from_utf8_lossy(&bytes));
            let classes = outputs
                .get(k)
                .and_then(|&t| model.subgraphs[0].tensors.get(usize::try_from(t).ok()?))
                .and_then(|t| t.shape.last().copied());
            if let Some(c) = classes.filter(|&c| c > 1 && c as usize != names.len()) {
                warnings.push(format!(
                    "output {k}: metadata label file '{}' has {} labels for {c} classes",
                    file.name,
                    names.len()
                ));
            }
            Some(Labels {
                names,
                source: format!("metadata: {}", file.name),
            })
        })
        .collect();
    (labels, warnings)
}

/// Resolves every source for `model` (opened from `model_path`, if from a file); fails only when
/// `explicit` or a file beside the model exists but cannot be read.
pub fn resolve(
    explicit: Option<&Path>,
    model: &Model,
    model_path: Option<&Path>,
) -> anyhow::Result<LabelSet> {
    if let Some(p) = explicit {
        return Ok(LabelSet {
            explicit: Some(Labels {
                names: read_file(p)?,
                source: format!("file: {}", p.display()),
            }),
            ..Default::default()
        });
    }
    let (metadata, warnings) = from_metadata(model);
    let outputs = model.subgraphs.first().map_or(0, |s| s.outputs.len());
    // The file beside the model only matters for outputs the metadata leaves unlabelled.
    let need_sidecar = (0..outputs.max(1)).any(|k| metadata.get(k).is_none_or(Option::is_none));
    let sidecar = match model_path.or(model.path()) {
        Some(p) if need_sidecar => sidecar(p)?,
        _ => None,
    };
    Ok(LabelSet {
        explicit: None,
        metadata,
        sidecar,
        warnings,
    })
}
