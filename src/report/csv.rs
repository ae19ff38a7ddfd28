//! Every CSV quantscope writes (`weights --csv`, the app's plot exports), through the `csv`
//! crate: one header row, fields quoted only where needed, empty fields for unknown values.

use crate::compare::{LayerError, TopKRow};
use crate::model::Summary;
use crate::quant::{Histogram, TensorAnalysis, WeightsReport};

/// Writes `header` and `rows` as CSV.
pub fn table<R, I>(header: &[&str], rows: R) -> String
where
    R: IntoIterator<Item = I>,
    I: IntoIterator<Item = String>,
{
    let mut w = ::csv::WriterBuilder::new()
        .flexible(false)
        .from_writer(Vec::new());
    // Writing to memory fails only on rows of the wrong length: a bug, shown in the file.
    let mut put = |r: Vec<String>| {
        if let Err(e) = w.write_record(&r) {
            let _ = w.write_record(std::iter::once(format!("error: {e}")));
        }
    };
    put(header.iter().map(|h| h.to_string()).collect());
    for r in rows {
        put(r.into_iter().collect());
    }
    let bytes = w.into_inner().unwrap_or_default();
    String::from_utf8(bytes).unwrap_or_default()
}

/// An optional number in full precision (`{:e}`), empty when absent.
fn g(v: Option<f64>) -> String {
    v.map_or(String::new(), |v| format!("{v:e}"))
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or(String::new(), |v| v.to_string())
}

const WEIGHTS_HEADER: [&str; 30] = [
    "subgraph",
    "index",
    "name",
    "dtype",
    "role",
    "channel",
    "n",
    "scale",
    "zero_point",
    "min",
    "max",
    "mean",
    "std",
    "kurtosis",
    "levels_used",
    "effective_bits",
    "range_used",
    "saturated",
    "dead",
    "sqnr_db",
    "mse",
    "rmse",
    "max_abs_err",
    "max_abs_err_lsb",
    "rmse_over_scale",
    "cosine",
    "clip_below",
    "clip_above",
    "clip_rate",
    "checks",
];

/// `quantscope weights --csv`: one row per tensor (empty `channel`), one per channel of
/// per-channel tensors and one per block of blockwise tensors (`channel` = `row:block`).
pub fn weights(r: &WeightsReport) -> String {
    let mut rows = Vec::new();
    for t in &r.tensors {
        let head = |channel: String| {
            vec![
                t.tensor.subgraph.to_string(),
                t.tensor.index.to_string(),
                t.tensor.name.clone(),
                t.dtype.to_string(),
                t.role.clone().unwrap_or_default(),
                channel,
            ]
        };
        let checks: Vec<&str> = t.checks.iter().map(|c| c.message.as_str()).collect();
        let mut row = head(String::new());
        row.extend([
            t.n.to_string(),
            if t.per_channel {
                String::new()
            } else {
                g(t.scale_min)
            },
            String::new(),
        ]);
        row.extend(numbers(
            t.real_stats,
            &t.range,
            &t.errors,
            t.dead_channels.len(),
        ));
        row.push(checks.join(" | "));
        rows.push(row);
        for c in &t.channels {
            let mut row = head(c.channel.to_string());
            row.extend([c.n.to_string(), g(c.scale), opt(c.zero_point)]);
            row.extend(numbers(c.real_stats, &c.range, &c.errors, c.dead as usize));
            row.push(String::new());
            rows.push(row);
        }
        if let Some(b) = &t.blocks {
            for k in 0..b.scale.len() {
                let (r, c) = b.position(k);
                let mut row = head(format!("{r}:{c}"));
                row.extend([b.block_size.to_string(), g(Some(b.scale[k])), "0".into()]);
                row.extend(block_numbers(b, k));
                rows.push(row);
            }
        }
    }
    table(&WEIGHTS_HEADER, rows)
}

/// The columns of one block's row (statistics of the dequantized values are not kept per
/// block: their min/max are the integer limits times the scale).
fn block_numbers(b: &crate::quant::BlockAnalysis, k: usize) -> Vec<String> {
    let s = b.scale[k];
    let e = |v: &Vec<f64>| g(v.get(k).copied());
    let mut row = vec![
        g(Some(s * b.int_min[k] as f64)),
        g(Some(s * b.int_max[k] as f64)),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        String::new(),
        b.saturated[k].to_string(),
        String::new(),
        g(b.sqnr_db.get(k).copied().flatten()),
        String::new(),
        String::new(),
        e(&b.max_abs_err),
        e(&b.max_abs_err_lsb),
        e(&b.rmse_over_scale),
        String::new(),
        String::new(),
        String::new(),
        g(b.clipped.get(k).map(|&c| c as f64 / b.block_size as f64)),
    ];
    row.push(String::new());
    row
}

/// A blockwise tensor's blocks: position, scale, integer range and error (the app's export).
pub fn blocks(b: &crate::quant::BlockAnalysis) -> String {
    table(
        &[
            "block",
            "row",
            "block_in_row",
            "scale",
            "int_min",
            "int_max",
            "saturated",
            "sqnr_db",
            "max_abs_err_lsb",
            "rmse_over_scale",
            "clipped",
        ],
        (0..b.scale.len()).map(|k| {
            let (r, c) = b.position(k);
            vec![
                k.to_string(),
                r.to_string(),
                c.to_string(),
                g(Some(b.scale[k])),
                b.int_min[k].to_string(),
                b.int_max[k].to_string(),
                b.saturated[k].to_string(),
                g(b.sqnr_db.get(k).copied().flatten()),
                g(b.max_abs_err_lsb.get(k).copied()),
                g(b.rmse_over_scale.get(k).copied()),
                b.clipped.get(k).map_or(String::new(), |c| c.to_string()),
            ]
        }),
    )
}

/// The statistics, range-use and error columns shared by tensor and channel rows.
fn numbers(
    s: Option<crate::quant::Summary>,
    r: &crate::quant::analyze::RangeFields,
    e: &crate::quant::analyze::ErrorFields,
    dead: usize,
) -> Vec<String> {
    vec![
        g(s.map(|s| s.min)),
        g(s.map(|s| s.max)),
        g(s.map(|s| s.mean)),
        g(s.map(|s| s.std)),
        g(s.and_then(|s| s.kurtosis)),
        opt(r.levels_used),
        g(r.effective_bits),
        g(r.range_used),
        opt(r.saturated),
        dead.to_string(),
        g(e.sqnr_db),
        g(e.mse),
        g(e.rmse),
        g(e.max_abs_err),
        g(e.max_abs_err_lsb),
        g(e.rmse_over_scale),
        g(e.cosine),
        g(e.clip_below),
        g(e.clip_above),
        g(e.clip_rate),
    ]
}

/// A histogram's bins; with `overlay`, its bins follow under `series` = `overlay.0`.
pub fn histogram(h: &Histogram, overlay: Option<(&str, &Histogram)>) -> String {
    let rows = |series: &str, h: &Histogram| -> Vec<Vec<String>> {
        h.bins()
            .map(|(lo, hi, c)| {
                vec![
                    series.to_string(),
                    lo.to_string(),
                    hi.to_string(),
                    c.to_string(),
                ]
            })
            .collect()
    };
    let mut all = rows("values", h);
    if let Some((name, o)) = overlay {
        all.extend(rows(name, o));
    }
    table(&["series", "lo", "hi", "count"], all)
}

/// Per-channel parameters, ranges, representable band and SQNR of one tensor.
pub fn channels(ta: &TensorAnalysis) -> String {
    table(
        &[
            "channel",
            "scale",
            "zero_point",
            "min",
            "max",
            "representable_lo",
            "representable_hi",
            "sqnr_db",
            "dead",
        ],
        ta.channels.iter().map(|c| {
            vec![
                c.channel.to_string(),
                opt(c.scale),
                opt(c.zero_point),
                opt(c.real_stats.map(|s| s.min)),
                opt(c.real_stats.map(|s| s.max)),
                opt(c.representable.map(|r| r.0)),
                opt(c.representable.map(|r| r.1)),
                opt(c.errors.sqnr_db),
                c.dead.to_string(),
            ]
        }),
    )
}

/// Both models' scores over the union of their top-k classes.
pub fn top_k(rows: &[TopKRow]) -> String {
    table(
        &["class", "float", "quant"],
        rows.iter()
            .map(|r| vec![r.class.clone(), r.float.to_string(), r.quant.to_string()]),
    )
}

/// Per-layer SQNR of one image.
pub fn layers(layers: &[LayerError]) -> String {
    table(
        &[
            "layer",
            "op_index",
            "op",
            "name",
            "cumulative_sqnr_db",
            "local_sqnr_db",
            "sqnr_drop_db",
        ],
        layers.iter().enumerate().map(|(k, l)| {
            vec![
                k.to_string(),
                opt(l.op_index),
                l.op.clone(),
                l.name.clone(),
                opt(l.cumulative.sqnr_db),
                opt(l.local.and_then(|m| m.sqnr_db)),
                opt(l.sqnr_drop_db),
            ]
        }),
    )
}

/// Tensors and bytes by dtype, constants and activations apart.
pub fn bytes_by_dtype(s: &Summary) -> String {
    table(
        &["dtype", "tensors", "constant_bytes", "activation_bytes"],
        s.counts_by_dtype.iter().map(|(d, n)| {
            vec![
                d.clone(),
                n.to_string(),
                s.constants_by_dtype
                    .get(d)
                    .map_or(0, |x| x.bytes)
                    .to_string(),
                s.activations_by_dtype
                    .get(d)
                    .map_or(0, |x| x.bytes)
                    .to_string(),
            ]
        }),
    )
}

/// The error of every tensor with an SQNR (the What-if bar chart).
pub fn tensor_errors(tensors: &[&TensorAnalysis]) -> String {
    table(
        &[
            "index",
            "name",
            "sqnr_db",
            "rmse_over_scale",
            "max_abs_err_lsb",
            "clip_rate",
        ],
        tensors.iter().map(|t| {
            let e = &t.errors;
            vec![
                t.tensor.index.to_string(),
                t.tensor.name.clone(),
                opt(e.sqnr_db),
                opt(e.rmse_over_scale),
                opt(e.max_abs_err_lsb),
                opt(e.clip_rate),
            ]
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_only_when_needed() {
        let s = table(
            &["a", "b"],
            vec![
                vec!["x,y".to_string(), "plain".to_string()],
                vec!["say \"hi\"".to_string(), String::new()],
            ],
        );
        assert_eq!(s, "a,b\n\"x,y\",plain\n\"say \"\"hi\"\"\",\n");
        let h = Histogram {
            edges: vec![0.0, 1.0, 2.0],
            counts: vec![3, 4],
        };
        let s = histogram(&h, Some(("float model", &h)));
        assert_eq!(s.lines().count(), 1 + 2 + 2);
        assert!(s.contains("\nvalues,0,1,3\n") && s.contains("\nfloat model,1,2,4"));
    }
}
