//! Hand-derived answers on tiny hand-built models: every number below is worked out in the
//! comments, not taken from the code.

mod weights_common;

use quantscope::model::Model;
use quantscope::quant::simulate::{Bits, Clip, Scheme};
use quantscope::quant::{analyze, Options, TensorAnalysis, WeightsReport};
use tract_tflite::tflite::{BuiltinOperator as B, TensorType};
use weights_common::{build, op, T};

fn act8(name: &str, shape: &[i32], s: f32) -> T {
    T::act(name, TensorType::INT8, shape, Some((vec![s], vec![0], 0)))
}

/// CONV_2D with 2 output channels of 1x1x2 weights: input scale 0.5, weights scales 0.1 and
/// 0.2, bias scales as given, output scale `out_s`.
fn conv_model(w: &[i8], w_zp: [i64; 2], w_axis: i32, bias_scales: [f32; 2], out_s: f32) -> Model {
    let tensors = vec![
        act8("input", &[1, 1, 1, 2], 0.5),
        T::i8(
            "conv/w",
            &[2, 1, 1, 2],
            w,
            (vec![0.1, 0.2], w_zp.to_vec(), w_axis),
        ),
        T::i32(
            "conv/b",
            &[2],
            &[10, -10],
            Some((bias_scales.to_vec(), vec![0, 0], 0)),
        ),
        act8("output", &[1, 1, 1, 2], out_s),
    ];
    Model::from_bytes(build(&tensors, &[op(B::CONV_2D, &[0, 1, 2], &[3])])).unwrap()
}

fn float_twin(w: &[f32], b: &[f32]) -> Model {
    let tensors = vec![
        T::act("input", TensorType::FLOAT32, &[1, 1, 1, 2], None),
        T::f32("conv/w", &[2, 1, 1, 2], w),
        T::f32("conv/b", &[2], b),
        T::act("output", TensorType::FLOAT32, &[1, 1, 1, 2], None),
    ];
    Model::from_bytes(build(&tensors, &[op(B::CONV_2D, &[0, 1, 2], &[3])])).unwrap()
}

fn tensor<'a>(r: &'a WeightsReport, name: &str) -> &'a TensorAnalysis {
    r.tensors.iter().find(|t| t.tensor.name == name).unwrap()
}

fn codes(t: &TensorAnalysis) -> Vec<&'static str> {
    t.checks.iter().map(|c| c.code).collect()
}

#[test]
fn a_clean_model_has_no_findings_and_exact_statistics() {
    let m = conv_model(&[10, -20, 127, -127], [0, 0], 0, [0.05, 0.1], 0.25);
    let r = analyze(&m, None, &Options::default()).unwrap();
    let w = tensor(&r, "conv/w");
    assert!(w.checks.is_empty(), "{:?}", w.checks);
    assert_eq!(w.role.as_deref(), Some("CONV_2D#0 weights"));
    assert!(w.per_channel && w.channel_count == 2);
    // Channel 0: ints 10, -20 -> mean -5, std 15; reals 1.0, -2.0 (up to the f32 scale 0.1).
    let c0 = &w.channels[0];
    let s = c0.int_stats.unwrap();
    assert_eq!((s.min, s.max, s.mean, s.std), (-20.0, 10.0, -5.0, 15.0));
    let rs = c0.real_stats.unwrap();
    assert!((rs.mean + 0.5).abs() < 1e-7 && (rs.std - 1.5).abs() < 1e-7);
    // Two values -> kurtosis = n m4 / m2^2 - 3 = 2 * 2 * 15^4 / (2 * 15^2)^2 - 3 = -2.
    assert!((s.kurtosis.unwrap() + 2.0).abs() < 1e-12);
    assert_eq!(c0.range.levels_used, Some(2));
    assert_eq!(c0.range.effective_bits, Some(1.0));
    // Range [-127, 127] (symmetric int8): channel 0 spans 30 / 254.
    assert!((c0.range.range_used.unwrap() - 30.0 / 254.0).abs() < 1e-12);
    // Channel 1 sits at both limits: 2 saturated values, range fully used.
    let c1 = &w.channels[1];
    assert_eq!(
        (c1.range.saturated, c1.range.range_used),
        (Some(2), Some(1.0))
    );
    assert_eq!(w.range.levels_used, Some(4));
    assert_eq!(w.range.effective_bits, Some(2.0));
    // Histogram: 256 bins over -128..128, one count at -20, 10, 127, -127.
    assert_eq!(w.histogram.counts.len(), 256);
    assert_eq!(w.histogram.edges.len(), 257);
    for q in [-20i64, 10, 127, -127] {
        assert_eq!(w.histogram.counts[(q + 128) as usize], 1);
    }
    // Scale spread 0.2 / 0.1.
    assert!((w.scale_spread.unwrap() - 2.0).abs() < 1e-6);
    assert!(w.errors.sqnr_db.is_none() && w.error.is_none());
    // Bytes: 4 int8 + 2 int32 = 12 bytes of constants; as float32 24; saved 12.
    assert_eq!(
        (
            r.rollup.constant_bytes,
            r.rollup.float32_bytes,
            r.rollup.bytes_saved
        ),
        (12, 24, 12)
    );
}

#[test]
fn error_of_exactly_half_an_lsb() {
    // Weights 1, -1 (scale 0.1) and 1, 1 (scale 0.2); float values half an LSB away:
    // 0.15 -> 0.1 (e = -0.05), -0.05 -> -0.1 (e = -0.05), 0.3 -> 0.2 (e = -0.1), 0.1 -> 0.2 (+0.1).
    let m = conv_model(&[1, -1, 1, 1], [0, 0], 0, [0.05, 0.1], 0.25);
    let f = float_twin(&[0.15, -0.05, 0.3, 0.1], &[0.5, -1.0]);
    let r = analyze(&m, Some(&f), &Options::default()).unwrap();
    let w = tensor(&r, "conv/w");
    // Every error is 0.5 LSB of its channel.
    assert!((w.errors.max_abs_err_lsb.unwrap() - 0.5).abs() < 1e-6);
    assert!((w.errors.rmse_over_scale.unwrap() - 0.5).abs() < 1e-6);
    // sum x^2 = 0.0225 + 0.0025 + 0.09 + 0.01 = 0.125; sum e^2 = 2 * 0.0025 + 2 * 0.01 = 0.025.
    assert!((w.errors.sqnr_db.unwrap() - 10.0 * 5f64.log10()).abs() < 1e-5);
    assert!((w.errors.mse.unwrap() - 0.025 / 4.0).abs() < 1e-9);
    assert_eq!(w.errors.clip_rate, Some(0.0));
    // Channel 0: sum x^2 = 0.025, sum e^2 = 0.005 -> 10 log10 5; channel 1 the same ratio.
    for c in &w.channels {
        assert!((c.errors.sqnr_db.unwrap() - 10.0 * 5f64.log10()).abs() < 1e-5);
    }
    // Bias: 10 * 0.05 = 0.5, -10 * 0.1 = -1.0: no error beyond the f32 rounding of the scales.
    let b = tensor(&r, "conv/b");
    assert!(b.errors.mse.unwrap() < 1e-14);
    assert!(b.errors.sqnr_db.unwrap() > 120.0);
    assert!((r.rollup.overall_sqnr_db.unwrap() - 10.0 * (1.375f64 / 0.025).log10()).abs() < 1e-4);
    assert_eq!(r.rollup.worst[0].tensor.name, "conv/w");
}

#[test]
fn clipped_values_are_counted_below_and_above() {
    // Channel 1 (scale 0.2) stores 127 and -127; float 30 and -26 are far outside
    // [-127.5, 127.5] LSB; channel 0 holds 0.1, -0.1 exactly.
    let m = conv_model(&[1, -1, 127, -127], [0, 0], 0, [0.05, 0.1], 0.25);
    let f = float_twin(&[0.1, -0.1, 30.0, -26.0], &[0.5, -1.0]);
    let r = analyze(&m, Some(&f), &Options::default()).unwrap();
    let w = tensor(&r, "conv/w");
    assert_eq!(
        (w.errors.clip_below, w.errors.clip_above),
        (Some(0.25), Some(0.25))
    );
    // max error 30 - 25.4 = 4.6 = 23 LSB of 0.2.
    assert!((w.errors.max_abs_err_lsb.unwrap() - 23.0).abs() < 1e-4);
    assert_eq!(w.channels[0].errors.clip_rate, Some(0.0));
    assert_eq!(w.channels[1].errors.clip_rate, Some(1.0));
}

#[test]
fn all_zero_channel_is_dead() {
    let m = conv_model(&[0, 0, 5, -5], [0, 0], 0, [0.05, 0.1], 0.25);
    let r = analyze(&m, None, &Options::default()).unwrap();
    let w = tensor(&r, "conv/w");
    assert_eq!(w.dead_channels, vec![0]);
    assert!(w.channels[0].dead && !w.channels[1].dead);
    assert_eq!(w.channels[0].range.levels_used, Some(1));
    assert_eq!(w.channels[0].range.effective_bits, Some(0.0));
    assert_eq!(w.channels[0].int_stats.unwrap().kurtosis, None);
}

#[test]
fn wrong_bias_scale_is_flagged_per_channel() {
    // Expected bias scales: 0.5 * 0.1 = 0.05 and 0.5 * 0.2 = 0.1; channel 1 stores 0.1001.
    let m = conv_model(&[1, 2, 3, 4], [0, 0], 0, [0.05, 0.1001], 0.25);
    let r = analyze(&m, None, &Options::default()).unwrap();
    let b = tensor(&r, "conv/b");
    assert_eq!(codes(b), vec!["bias_scale"]);
    let c = &b.checks[0];
    assert_eq!(c.channel, Some(1));
    assert!(
        c.message
            .contains("tensor 2 'conv/b' (CONV_2D#0 bias) channel 1"),
        "{}",
        c.message
    );
    assert!(
        c.message.contains("relative mismatch 1.00e-3"),
        "{}",
        c.message
    );
    // A mismatch within 1e-6 passes.
    let m = conv_model(&[1, 2, 3, 4], [0, 0], 0, [0.05, 0.1 * (1.0 + 5e-7)], 0.25);
    assert!(
        tensor(&analyze(&m, None, &Options::default()).unwrap(), "conv/b")
            .checks
            .is_empty()
    );
}

#[test]
fn asymmetric_weights_minus_128_wrong_axis_and_multiplier() {
    // Zero point 3 on channel 1, a -128, per-channel axis 3 instead of 0 (shape [2,1,1,2] has
    // 2 along axis 3 as well), output scale 0.01: multipliers 0.5 * 0.1 / 0.01 = 5 and 10.
    let m = conv_model(&[-128, 0, 1, 2], [0, 3], 3, [0.05, 0.1], 0.01);
    let r = analyze(&m, None, &Options::default()).unwrap();
    let w = tensor(&r, "conv/w");
    let mut c = codes(w);
    c.sort();
    assert_eq!(
        c,
        vec![
            "channel_axis",
            "requant_multiplier",
            "requant_multiplier",
            "weight_minus_128",
            "weight_zero_point"
        ]
    );
    let msg = |code| {
        w.checks
            .iter()
            .find(|c| c.code == code)
            .unwrap()
            .message
            .clone()
    };
    assert!(msg("weight_zero_point").contains("channel 1: zero point 3"));
    assert!(msg("channel_axis").contains("per-channel axis 3 but CONV_2D expects axis 0"));
    assert!(msg("weight_minus_128").contains("1 values of -128"));
    assert!(msg("requant_multiplier").contains("5.000000e0"));
    assert_eq!(r.rollup.errors, 3);
    assert_eq!(r.rollup.warnings, 2);
}

#[test]
fn pairing_by_position_when_names_differ_and_unmatched_are_listed() {
    let m = conv_model(&[1, -1, 1, 1], [0, 0], 0, [0.05, 0.1], 0.25);
    // Same graph, other names; plus a stray float constant nobody reads.
    let tensors = vec![
        T::act("x", TensorType::FLOAT32, &[1, 1, 1, 2], None),
        T::f32("k", &[2, 1, 1, 2], &[0.1, -0.1, 0.2, 0.2]),
        T::f32("bias", &[3], &[0.0, 0.0, 0.0]), // wrong shape: stays unpaired
        T::f32("stray", &[4], &[1.0, 2.0, 3.0, 4.0]),
        T::act("y", TensorType::FLOAT32, &[1, 1, 1, 2], None),
    ];
    let f = Model::from_bytes(build(&tensors, &[op(B::CONV_2D, &[0, 1, 2], &[4])])).unwrap();
    let r = analyze(&m, Some(&f), &Options::default()).unwrap();
    let w = tensor(&r, "conv/w");
    assert_eq!(w.errors.mse, Some(0.0));
    match &w.reference {
        Some(quantscope::quant::Reference::FloatModel {
            name, paired_by, ..
        }) => {
            assert_eq!(
                (name.as_str(), *paired_by),
                ("k", quantscope::quant::pairing::PairedBy::Position)
            )
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(r.unmatched_quant.len(), 1);
    assert_eq!(r.unmatched_quant[0].tensor.name, "conv/b");
    assert!(
        r.unmatched_quant[0].reason.contains("shape [3]"),
        "{}",
        r.unmatched_quant[0].reason
    );
    let unf: Vec<&str> = r
        .unmatched_float
        .iter()
        .map(|u| u.tensor.name.as_str())
        .collect();
    assert_eq!(unf, vec!["bias", "stray"]);
}

#[test]
fn simulated_int8_and_int4_by_hand() {
    // FC weights [2, 4]: row 0 max |x| 1.27 -> scale 0.01; row 1 max |x| 0.66 -> 0.66 / 127.
    let w = [1.27f32, -0.5, 0.004, 0.0, 0.66, 0.1, -0.2, 0.3];
    let tensors = vec![
        T::act("x", TensorType::FLOAT32, &[1, 4], None),
        T::f32("fc/w", &[2, 4], &w),
        T::act("y", TensorType::FLOAT32, &[1, 2], None),
    ];
    let m = Model::from_bytes(build(
        &tensors,
        &[op(B::FULLY_CONNECTED, &[0, 1, -1], &[2])],
    ))
    .unwrap();
    let opts = Options {
        simulate: Some(Scheme::default()),
        channel_histograms: true,
    };
    let r = analyze(&m, None, &opts).unwrap();
    let t = tensor(&r, "fc/w");
    assert_eq!(t.channels[0].scale, Some(0.01f32 as f64));
    assert_eq!(
        t.channels[1].scale,
        Some((0.66f32 as f64 / 127.0) as f32 as f64)
    );
    // Row 0 quantizes to 127, -50, 0 (0.004 / 0.01 = 0.4), 0: only 0.004 is off by 0.4 LSB.
    let c0 = &t.channels[0];
    assert!((c0.errors.max_abs_err_lsb.unwrap() - 0.4).abs() < 1e-5);
    assert_eq!(
        c0.histogram.as_ref().unwrap().counts[(127 + 128) as usize],
        1
    );
    assert_eq!(c0.histogram.as_ref().unwrap().counts[128], 2);
    // Per-tensor int4 symmetric: scale 1.27 / 7; 0.66 -> 3.64 -> 4.
    let s4 = Scheme {
        bits: Bits::Int4,
        per_channel: false,
        ..Scheme::default()
    };
    let r = analyze(
        &m,
        None,
        &Options {
            simulate: Some(s4),
            channel_histograms: false,
        },
    )
    .unwrap();
    let t = tensor(&r, "fc/w");
    assert!(!t.per_channel && t.channels.is_empty());
    assert_eq!(t.histogram.counts.len(), 16);
    assert_eq!(t.histogram.counts[(4 + 8) as usize], 1);
    // 7, -3 (-2.76), 0 (0.004 and 0), 4, 1 (0.55), -1 (-1.10), 2 (1.65)
    assert_eq!(t.range.levels_used, Some(7));
    assert!(r.rollup.simulated_bytes.unwrap() < r.rollup.constant_bytes);
    // MSE and percentile clipping never do worse (in MSE) than this tiny min-max here.
    for clip in [Clip::Mse, Clip::Percentile(99.0)] {
        let s = Scheme { clip, ..s4 };
        let r2 = analyze(
            &m,
            None,
            &Options {
                simulate: Some(s),
                channel_histograms: false,
            },
        )
        .unwrap();
        assert!(tensor(&r2, "fc/w").errors.mse.is_some());
    }
}

#[test]
fn simulating_a_quantized_model_is_a_clear_error() {
    let m = conv_model(&[1, 2, 3, 4], [0, 0], 0, [0.05, 0.1], 0.25);
    let e = analyze(
        &m,
        None,
        &Options {
            simulate: Some(Scheme::default()),
            channel_histograms: false,
        },
    );
    assert!(e
        .unwrap_err()
        .to_string()
        .contains("no float weights to quantize"));
}

#[test]
fn representable_band_uses_the_symmetric_range() {
    // Symmetric int8 weights (zero point 0 everywhere) clip at [-127, 127]: the band is
    // s * (-127.5 .. 127.5), not the full int8 range's s * (-128.5 .. 127.5) that the app once
    // drew from dtype.int_range().
    let m = conv_model(&[10, -20, 127, -127], [0, 0], 0, [0.05, 0.1], 0.25);
    let r = analyze(&m, None, &Options::default()).unwrap();
    let w = tensor(&r, "conv/w");
    let bands: Vec<(f64, f64)> = w.channels.iter().filter_map(|c| c.representable).collect();
    assert_eq!(bands.len(), 2);
    for (b, s) in bands.iter().zip([0.1f32, 0.2]) {
        let s = s as f64;
        assert!((b.0 + 127.5 * s).abs() < 1e-12, "{b:?}");
        assert!((b.1 - 127.5 * s).abs() < 1e-12, "{b:?}");
    }
    // Asymmetric (zero point 3 on channel 1): the full range [-128, 127] shifted by the zero
    // point, s * (-128 - 3 - 0.5 .. 127 - 3 + 0.5).
    let m = conv_model(&[-128, 0, 1, 2], [0, 3], 0, [0.05, 0.1], 0.01);
    let r = analyze(&m, None, &Options::default()).unwrap();
    let c1 = tensor(&r, "conv/w").channels[1].representable.unwrap();
    let s = 0.2f32 as f64;
    assert!(
        (c1.0 - s * -131.5).abs() < 1e-12 && (c1.1 - s * 124.5).abs() < 1e-12,
        "{c1:?}"
    );
}
