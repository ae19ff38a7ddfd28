//! What an evaluation runs on: a folder of images (recursively) or of `.npy` inputs, with labels
//! from class sub-folders or a CSV, in a fixed order so shards and resumed runs see the same list.

use anyhow::{bail, Context};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One evaluation item: an image, or the `.npy` files of one multi-input sample.
#[derive(Clone, Debug)]
pub struct EvalInput {
    /// Path relative to the input folder, `/`-separated: the item's name in reports and caches.
    /// For `.npy` samples, the stem shared by its files.
    pub name: String,
    /// The files to read: one image, or one `.npy` per model input, in input order.
    pub files: Vec<PathBuf>,
    /// Class index, when labels are known.
    pub label: Option<usize>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputKind {
    Images,
    Npy,
}

/// Where labels come from.
#[derive(Clone, Debug)]
pub enum LabelsFrom {
    None,
    /// The first folder under the input root names the class (the ImageNet layout).
    Folders,
    /// A CSV of `file,label` (file relative to the input folder; label a class name or index).
    Csv(PathBuf),
}

impl LabelsFrom {
    /// The report's `labels_source`: "folders", "csv: FILE", or none.
    pub fn source(&self) -> Option<String> {
        match self {
            LabelsFrom::None => None,
            LabelsFrom::Folders => Some("folders".to_string()),
            LabelsFrom::Csv(p) => Some(format!("csv: {}", p.display())),
        }
    }
}

/// Every file under `root` (recursively) whose extension is in `exts`, sorted by path.
fn walk(root: &Path, exts: &[&str]) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for e in walkdir::WalkDir::new(root)
        .follow_links(true)
        .sort_by_file_name()
    {
        let e = e.with_context(|| format!("cannot read {}", root.display()))?;
        let ok = e.file_type().is_file()
            && e.path()
                .extension()
                .and_then(|x| x.to_str())
                .is_some_and(|x| exts.contains(&x.to_ascii_lowercase().as_str()));
        if ok {
            out.push(e.into_path());
        }
    }
    Ok(out)
}

fn rel_name(root: &Path, p: &Path) -> String {
    let r = p.strip_prefix(root).unwrap_or(p);
    r.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// Class index of a label written as a name or an index, given the model's class names.
pub fn class_index(label: &str, classes: &[String]) -> anyhow::Result<usize> {
    let l = label.trim();
    if let Some(i) = classes.iter().position(|c| c.eq_ignore_ascii_case(l)) {
        return Ok(i);
    }
    if let Ok(i) = l.parse::<usize>() {
        if classes.is_empty() || i < classes.len() {
            return Ok(i);
        }
    }
    bail!(
        "label '{l}' is neither one of the model's {} class names nor a class index",
        classes.len()
    )
}

/// Lists the items under `root` with their labels (`classes`: the model's class names, used
/// to turn folder names or CSV labels into indices). `inputs`: the model's input count (npy).
pub fn list_inputs(
    root: &Path,
    kind: InputKind,
    labels: &LabelsFrom,
    classes: &[String],
    inputs: usize,
) -> anyhow::Result<Vec<EvalInput>> {
    if !root.is_dir() {
        bail!("{} is not a folder", root.display());
    }
    let mut items: Vec<EvalInput> = match kind {
        InputKind::Images => walk(root, &crate::preprocess::IMAGE_EXTENSIONS)?
            .into_iter()
            .map(|p| EvalInput {
                name: rel_name(root, &p),
                files: vec![p],
                label: None,
            })
            .collect(),
        InputKind::Npy => npy_samples(root, inputs)?,
    };
    if items.is_empty() {
        bail!(
            "no {} under {}",
            if kind == InputKind::Images {
                "images"
            } else {
                ".npy inputs"
            },
            root.display()
        );
    }
    match labels {
        LabelsFrom::None => {}
        LabelsFrom::Folders => {
            for it in &mut items {
                let Some((folder, _)) = it.name.split_once('/') else {
                    bail!(
                        "--labels-from folders: {} is not inside a class folder",
                        it.name
                    );
                };
                it.label = Some(class_index(folder, classes).with_context(|| it.name.clone())?);
            }
        }
        LabelsFrom::Csv(csv) => {
            let text = std::fs::read_to_string(csv)
                .with_context(|| format!("cannot read {}", csv.display()))?;
            let mut map = BTreeMap::new();
            for (n, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || (n == 0 && line.eq_ignore_ascii_case("file,label")) {
                    continue;
                }
                let Some((f, l)) = line.rsplit_once(',') else {
                    bail!("{} line {}: expected file,label", csv.display(), n + 1);
                };
                let idx = class_index(l, classes)
                    .with_context(|| format!("{} line {}", csv.display(), n + 1))?;
                map.insert(f.trim().trim_start_matches("./").to_string(), idx);
            }
            for it in &mut items {
                it.label = map.get(&it.name).copied();
            }
            let missing = items.iter().filter(|i| i.label.is_none()).count();
            if missing == items.len() {
                bail!(
                    "{} labels none of the {} inputs (file names are relative to the input folder)",
                    csv.display(),
                    items.len()
                );
            }
        }
    }
    Ok(items)
}

/// `.npy` samples: `NAME.npy` for one-input models; `NAME.K.npy` (K = input index) otherwise.
fn npy_samples(root: &Path, inputs: usize) -> anyhow::Result<Vec<EvalInput>> {
    let files = walk(root, &["npy"])?;
    let mut by_stem: BTreeMap<String, BTreeMap<usize, PathBuf>> = BTreeMap::new();
    for p in files {
        let name = rel_name(root, &p);
        let stem = name.trim_end_matches(".npy").to_string();
        let (stem, k) = match stem.rsplit_once('.') {
            Some((s, k)) if inputs > 1 && k.parse::<usize>().is_ok() => {
                (s.to_string(), k.parse().unwrap())
            }
            _ => (stem, 0),
        };
        by_stem.entry(stem).or_default().insert(k, p);
    }
    by_stem
        .into_iter()
        .map(|(stem, files)| {
            if files.len() != inputs || files.keys().copied().ne(0..inputs) {
                bail!(
                    "{stem}: the model has {inputs} inputs; give NAME.0.npy .. NAME.{}.npy",
                    inputs.saturating_sub(1)
                );
            }
            Ok(EvalInput {
                name: stem,
                files: files.into_values().collect(),
                label: None,
            })
        })
        .collect()
}

/// Lower-case hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let d = Sha256::digest(bytes);
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Which of `n` deterministic slices this process takes: `--shard K/N` (K from 0), or `--shard N`
/// with K read from `SLURM_ARRAY_TASK_ID` (minus `SLURM_ARRAY_TASK_MIN`) or Kubernetes Indexed
/// Jobs' `JOB_COMPLETION_INDEX`; without the flag, a Slurm array (`SLURM_ARRAY_TASK_COUNT`) shards.
pub fn resolve_shard(
    flag: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<Option<(usize, usize)>> {
    let num = |v: String, what: &str| -> anyhow::Result<usize> {
        v.trim()
            .parse::<usize>()
            .with_context(|| format!("{what} is not a number: '{v}'"))
    };
    let env_index = || -> anyhow::Result<Option<usize>> {
        if let Some(id) = env("SLURM_ARRAY_TASK_ID") {
            let min = env("SLURM_ARRAY_TASK_MIN")
                .map(|m| num(m, "SLURM_ARRAY_TASK_MIN"))
                .transpose()?
                .unwrap_or(0);
            let id = num(id, "SLURM_ARRAY_TASK_ID")?;
            return Ok(Some(id.checked_sub(min).with_context(|| {
                "SLURM_ARRAY_TASK_ID is below SLURM_ARRAY_TASK_MIN"
            })?));
        }
        env("JOB_COMPLETION_INDEX")
            .map(|v| num(v, "JOB_COMPLETION_INDEX"))
            .transpose()
    };
    let (k, n) = match flag {
        Some(s) => match s.split_once('/') {
            Some((k, n)) => (num(k.into(), "--shard K")?, num(n.into(), "--shard N")?),
            None => {
                let n = num(s.into(), "--shard N")?;
                let k = env_index()?.with_context(|| {
                    format!("--shard {n}: no shard index (set SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX, or write --shard K/{n})")
                })?;
                (k, n)
            }
        },
        None => match env("SLURM_ARRAY_TASK_COUNT") {
            Some(c) => (env_index()?.unwrap_or(0), num(c, "SLURM_ARRAY_TASK_COUNT")?),
            None => return Ok(None),
        },
    };
    if n == 0 || k >= n {
        bail!("shard {k}/{n}: need 0 <= K < N");
    }
    Ok(Some((k, n)))
}

/// The items of shard `k` of `n`: every n-th, starting at k (a deterministic slice).
pub fn shard<T>(items: Vec<T>, shard: Option<(usize, usize)>) -> Vec<T> {
    match shard {
        None => items,
        Some((k, n)) => items
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % n == k)
            .map(|(_, x)| x)
            .collect(),
    }
}
