//! Models over 2 GB: weights stored after the flatbuffer (`Buffer.offset`/`size`), written as a
//! sparse file. `inspect` must open it in well under a second with resident memory far below the
//! file size, and weight statistics must stream through it.

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

#[test]
fn a_sparse_2_5_gb_model_opens_fast_and_streams() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.tflite");
    // 4 layers of 20480 x 32768 int8 weights = 2.68 GB, all after the flatbuffer.
    FcChain {
        layers: vec![(20480, 32768); 4],
        external: true,
        fill: false,
    }
    .write(&path)
    .unwrap();
    let file_bytes = std::fs::metadata(&path).unwrap().len();
    assert!(file_bytes > 2_500_000_000, "{file_bytes}");

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
}
