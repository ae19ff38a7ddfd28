//! The JSONL cache: a header line (what the results depend on, and the model facts the report
//! needs), then one [`ImageRecord`] per line, flushed as each image finishes. A killed run
//! leaves at most one torn last line, which is cut off on resume.

use super::record::ImageRecord;
use super::report::RunInfo;
use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Seek, Write};
use std::path::{Path, PathBuf};

/// The first line of a cache file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CacheHeader {
    pub quantscope_eval_cache: u32,
    /// SHA-256 over the model hashes and the preprocessing: records are valid only under it.
    pub key: String,
    pub info: RunInfo,
    pub shard: Option<(usize, usize)>,
}

/// The cache key: models (by content) and preprocessing. Inputs are keyed per record.
pub fn cache_key(info: &RunInfo) -> String {
    let mut s = String::new();
    for m in &info.models {
        s += &m.file.sha256;
        s.push('\n');
    }
    s += &serde_json::to_string(&info.settings.preprocess).unwrap_or_default();
    super::inputs::sha256_hex(s.as_bytes())
}

/// Reads a cache: its header and every complete record. `torn_at`: the byte offset where a
/// partial last line starts, if any.
pub fn read(path: &Path) -> anyhow::Result<(CacheHeader, Vec<ImageRecord>, Option<u64>)> {
    let f = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut r = BufReader::new(f);
    let mut line = String::new();
    let mut offset = 0u64;
    r.read_line(&mut line)?;
    offset += line.len() as u64;
    let header: CacheHeader = serde_json::from_str(line.trim_end())
        .with_context(|| format!("{} is not a quantscope eval cache", path.display()))?;
    if header.quantscope_eval_cache != 1 {
        bail!(
            "{}: cache format {} (this quantscope reads 1)",
            path.display(),
            header.quantscope_eval_cache
        );
    }
    let mut records = Vec::new();
    let mut torn = None;
    loop {
        line.clear();
        let n = r.read_line(&mut line)?;
        if n == 0 {
            break;
        }
        match serde_json::from_str::<ImageRecord>(line.trim_end()) {
            Ok(rec) if line.ends_with('\n') => records.push(rec),
            _ => {
                // Only the last line may be torn (a kill mid-write); anything else is damage.
                let mut rest = String::new();
                if r.read_line(&mut rest)? > 0 {
                    bail!(
                        "{}: line {} is not a record (the file is damaged)",
                        path.display(),
                        records.len() + 2
                    );
                }
                torn = Some(offset);
                break;
            }
        }
        offset += n as u64;
    }
    Ok((header, records, torn))
}

/// An open cache file that records are appended to.
pub struct CacheWriter {
    file: std::fs::File,
    pub path: PathBuf,
}

impl CacheWriter {
    /// Opens `path` for `header`: creates it, or resumes it when its key matches (returning
    /// the records already there). A cache made with other models or preprocessing is an error.
    pub fn open(path: &Path, header: &CacheHeader) -> anyhow::Result<(Self, Vec<ImageRecord>)> {
        if path.exists() && std::fs::metadata(path)?.len() > 0 {
            let (old, records, torn) = read(path)?;
            if old.key != header.key {
                bail!(
                    "{} holds results for other models or preprocessing; use another --cache file",
                    path.display()
                );
            }
            if old.shard != header.shard {
                bail!(
                    "{} holds shard {:?}, this run is shard {:?}; use another --cache file",
                    path.display(),
                    old.shard,
                    header.shard
                );
            }
            let mut file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(path)?;
            if let Some(at) = torn {
                file.set_len(at)?;
            }
            file.seek(std::io::SeekFrom::End(0))?;
            return Ok((
                CacheWriter {
                    file,
                    path: path.into(),
                },
                records,
            ));
        }
        let mut file = std::fs::File::create(path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        writeln!(file, "{}", serde_json::to_string(header)?)?;
        file.flush()?;
        Ok((
            CacheWriter {
                file,
                path: path.into(),
            },
            Vec::new(),
        ))
    }

    /// Appends one record as one line (one write, so a kill tears at most this line).
    pub fn append(&mut self, r: &ImageRecord) -> anyhow::Result<()> {
        let mut line = serde_json::to_string(r)?;
        line.push('\n');
        self.file
            .write_all(line.as_bytes())
            .with_context(|| format!("cannot write {}", self.path.display()))
    }
}

/// Reads shard caches for `--merge`: one header (all keys must match), every record.
pub fn merge(paths: &[PathBuf]) -> anyhow::Result<(RunInfo, Vec<ImageRecord>)> {
    let mut info: Option<(String, RunInfo)> = None;
    let mut all = Vec::new();
    for p in paths {
        let (h, records, _) = read(p)?;
        match &info {
            Some((key, _)) if *key != h.key => bail!(
                "{} was made with other models or preprocessing than {}",
                p.display(),
                paths[0].display()
            ),
            Some(_) => {}
            None => info = Some((h.key.clone(), h.info.clone())),
        }
        all.extend(records);
    }
    let (_, info) = info.context("--merge needs at least one cache file")?;
    Ok((info, all))
}
