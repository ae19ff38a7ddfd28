//! Models over 2 GB: weights stored after the flatbuffer (`Buffer.offset`/`size`), written as a
//! sparse file. `inspect` must open it in well under a second with resident memory far below the
//! file size, and weight statistics must stream through it.
//!
//! The 2.7 GB file (a few MB on disk) lives in a temporary folder under the target dir
//! (`CARGO_TARGET_TMPDIR`) that is removed when the test ends, passes or fails (the `TempDir`
//! guard is dropped while a failed assertion unwinds); folders left by a killed run are removed
//! by the next one.

use quantscope::model::{synthetic::FcChain, Model};
use std::time::Instant;

/// (VmRSS, RssAnon) of this process in KiB.
fn rss_kib() -> (u64, u64) {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let get = |k: &str| {
        s.lines()
            .find(|l| l.starts_with(k))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (get("VmRSS:"), get("RssAnon:"))
}

const PREFIX: &str = "quantscope-huge-";

/// Removes what a killed run (no unwinding, so no `Drop`) left behind: folders with our prefix
/// older than ten minutes.
fn remove_stale(base: &std::path::Path) -> usize {
    let mut removed = 0;
    for e in std::fs::read_dir(base).into_iter().flatten().flatten() {
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| t.elapsed().is_ok_and(|a| a.as_secs() > 600));
        if e.file_name().to_string_lossy().starts_with(PREFIX)
            && old
            && std::fs::remove_dir_all(e.path()).is_ok()
        {
            removed += 1;
        }
    }
    removed
}

#[test]
fn a_sparse_2_5_gb_model_opens_fast_and_streams() {
    let base = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let stale = remove_stale(base);
    if stale > 0 {
        eprintln!("removed {stale} folder(s) left by a killed run");
    }
    let dir = tempfile::Builder::new()
        .prefix(PREFIX)
        .tempdir_in(base)
        .unwrap();
    let path = dir.path().join("huge.tflite");
    // 4 layers of 20480 x 32768 int8 weights = 2.68 GB, all after the flatbuffer.
    FcChain {
        layers: vec![(20480, 32768); 4],
        external: true,
        fill: false,
    }
    .write(&path)
    .unwrap();
    let meta = std::fs::metadata(&path).unwrap();
    let file_bytes = meta.len();
    assert!(file_bytes > 2_500_000_000, "{file_bytes}");
    // Sparse: the zero weights take no disk blocks.
    let on_disk = std::os::unix::fs::MetadataExt::blocks(&meta) * 512;
    assert!(on_disk < 64 << 20, "{on_disk} bytes on disk");

    let (rss0, _) = rss_kib();
    let t = Instant::now();
    let model = Model::open(&path).unwrap();
    let summary = model.summary();
    let open_s = t.elapsed().as_secs_f64();
    let (rss1, _) = rss_kib();
    eprintln!(
        "open + summary of {file_bytes} bytes: {:.1} ms, RSS +{} KiB",
        open_s * 1e3,
        rss1.saturating_sub(rss0)
    );
    assert!(open_s < 0.5, "open took {open_s} s");
    assert!(
        (rss1.saturating_sub(rss0)) * 1024 < 64 << 20,
        "RSS grew by {} KiB",
        rss1 - rss0
    );
    assert_eq!(summary.constant_bytes as u64, 4 * 20480 * 32768);
    assert!(model.buffers.iter().skip(1).all(|b| b.external));

    // Weight statistics read every byte through the mapping; anonymous memory stays small.
    let (_, anon0) = rss_kib();
    let t = Instant::now();
    let report = quantscope::quant::analyze(&model, None, &Default::default()).unwrap();
    let (_, anon1) = rss_kib();
    eprintln!(
        "weights over {file_bytes} bytes: {:.2} s, anonymous RSS +{} KiB",
        t.elapsed().as_secs_f64(),
        anon1.saturating_sub(anon0)
    );
    assert_eq!(report.tensors.len(), 4);
    // All-zero weights: one level used (zero), every channel dead.
    let j = serde_json::to_value(&report.tensors[0]).unwrap();
    assert_eq!(j["levels_used"], 1, "{}", j["levels_used"]);
    assert!(
        anon1.saturating_sub(anon0) * 1024 < 256 << 20,
        "anonymous RSS grew by {} KiB",
        anon1 - anon0
    );
    drop(report);
    drop(model);
    let dir_path = dir.path().to_path_buf();
    dir.close().unwrap();
    assert!(!dir_path.exists(), "{} left behind", dir_path.display());
}
