//! What the model expects: its input's geometry, layout and dtype, and the value mapping read
//! from metadata or implied by the input's quantization — with the evidence for each choice.

use super::{
    ChannelOrder, Exif, Filter, Layout, Preprocess, PreprocessError, ResizeLib, ResizeMode,
    ValueRange,
};
use crate::model::{dequantize, DType, Model};
use ndarray::ArrayD;

/// The image input of a model.
#[derive(Clone, Debug)]
pub struct InputSpec {
    pub name: String,
    pub tensor_index: usize,
    pub dtype: DType,
    pub shape: Vec<i32>,
    pub height: usize,
    pub width: usize,
    pub channels: usize,
    pub layout: Layout,
    /// (scale, zero_point) of a quantized input.
    pub quant: Option<(f32, i64)>,
}

impl InputSpec {
    /// The `k`-th input of subgraph 0, read as an image tensor. `layout` overrides the layout
    /// read from the shape.
    pub fn from_model(
        model: &Model,
        k: usize,
        layout: Option<Layout>,
    ) -> Result<InputSpec, PreprocessError> {
        let sg = &model.subgraphs[0];
        let idx = *sg
            .inputs
            .get(k)
            .ok_or_else(|| PreprocessError::NotAnImageInput {
                name: format!("#{k} (the model has {} inputs)", sg.inputs.len()),
                shape: vec![],
            })? as usize;
        let t = &sg.tensors[idx];
        let bad = || PreprocessError::NotAnImageInput {
            name: t.name.clone(),
            shape: t.shape.clone(),
        };
        if t.shape.len() != 4 || t.shape.iter().any(|&d| d <= 0) {
            return Err(bad());
        }
        let s: Vec<usize> = t.shape.iter().map(|&d| d as usize).collect();
        let guessed = if matches!(s[3], 1 | 3) {
            Layout::Nhwc
        } else if matches!(s[1], 1 | 3) {
            Layout::Nchw
        } else {
            return Err(bad());
        };
        let layout = layout.unwrap_or(guessed);
        let (h, w, c) = match layout {
            Layout::Nhwc => (s[1], s[2], s[3]),
            Layout::Nchw => (s[2], s[3], s[1]),
        };
        if !matches!(c, 1 | 3) {
            return Err(bad());
        }
        let quant = t
            .quantization
            .as_ref()
            .filter(|q| !q.scales.is_empty())
            .map(|q| (q.scales[0], q.zero_points.first().copied().unwrap_or(0)));
        Ok(InputSpec {
            name: t.name.clone(),
            tensor_index: idx,
            dtype: t.dtype,
            shape: t.shape.clone(),
            height: h,
            width: w,
            channels: c,
            layout,
            quant,
        })
    }

    /// The real range an integer input can represent: scale x (qmin - zp) .. scale x (qmax - zp).
    pub fn representable_range(&self) -> Option<(f32, f32)> {
        let (s, z) = self.quant?;
        let (lo, hi) = self.dtype.int_range()?;
        let s = f64::from(s);
        Some((dequantize(s, lo, z) as f32, dequantize(s, hi, z) as f32))
    }
}

/// The preset whose output range matches `lo..hi` within 5% of the range, else a custom
/// mean/std that maps 0..255 onto it.
fn range_for(lo: f32, hi: f32) -> ValueRange {
    let span = (hi - lo).abs().max(1e-12);
    for preset in [ValueRange::Unit, ValueRange::Signed, ValueRange::Raw] {
        let (plo, phi) = preset.output_range();
        if ((plo - lo).abs() + (phi - hi).abs()) / span < 0.05 {
            return preset;
        }
    }
    // value = (pixel - mean) / std with 0 -> lo and 255 -> hi.
    let std = 255.0 / span;
    ValueRange::Custom {
        mean: [-lo * std; 3],
        std: [std; 3],
    }
}

/// Default preprocessing for input `k` of `model`, and why. `twin` is the paired model (the
/// quantized twin of a float model, or the reverse): its input quantization is evidence too.
pub fn detect_defaults(
    model: &Model,
    k: usize,
    twin: Option<&Model>,
) -> Result<(Preprocess, Vec<String>), PreprocessError> {
    let spec = InputSpec::from_model(model, k, None)?;
    let mut why = vec![format!(
        "layout {} read from the input shape {:?} ({} channel{})",
        spec.layout,
        spec.shape,
        spec.channels,
        if spec.channels == 1 { "" } else { "s" }
    )];
    let mut range = None;
    if let Some(md) = model.tflite_metadata() {
        if let Some(inp) = md
            .inputs
            .get(k)
            .filter(|i| !i.mean.is_empty() && !i.std.is_empty())
        {
            if let Ok(r) = ValueRange::custom(&inp.mean, &inp.std) {
                why.push(format!(
                    "value mapping from TFLite metadata NormalizationOptions: mean {:?} std {:?}",
                    inp.mean, inp.std
                ));
                // Metadata mean/std apply to 0..255 pixels; name the preset when it is one.
                let (lo, hi) = r.output_range();
                let preset = range_for(lo, hi);
                range = Some(if matches!(preset, ValueRange::Custom { .. }) {
                    r
                } else {
                    preset
                });
            }
        }
    }
    let from_quant = |s: &InputSpec, whose: &str| -> Option<(ValueRange, String)> {
        let (lo, hi) = s.representable_range()?;
        let (scale, zp) = s.quant?;
        let r = range_for(lo, hi);
        Some((
            r.clone(),
            format!(
                "value mapping {} from {whose} input quantization: {} scale {scale:.6} zero point {zp} represents [{lo:.4}, {hi:.4}]",
                r.label(),
                s.dtype
            ),
        ))
    };
    if range.is_none() {
        if let Some((r, w)) = from_quant(&spec, "the model's") {
            range = Some(r);
            why.push(w);
        }
    }
    if range.is_none() {
        if let Some(t) = twin {
            if let Some((r, w)) = InputSpec::from_model(t, k, None)
                .ok()
                .and_then(|s| from_quant(&s, "the paired model's"))
            {
                range = Some(r);
                why.push(w);
            }
        }
    }
    let range = range.unwrap_or_else(|| {
        why.push(
            "no metadata or input quantization says how values are mapped: assumed [0,1]".into(),
        );
        ValueRange::Unit
    });
    why.push("channel order RGB (models converted from TF/Keras/PyTorch take RGB unless trained on BGR frames)".into());
    Ok((
        Preprocess {
            resize: ResizeMode::Stretch,
            crop_fraction: 1.0,
            filter: Filter::Bilinear,
            pad_color: [0, 0, 0],
            channels: ChannelOrder::Rgb,
            layout: spec.layout,
            range,
            resize_lib: ResizeLib::Quantscope,
            crop_rule: None,
            shorter_side: None,
            exif: Exif::Apply,
            pipeline: None,
        },
        why,
    ))
}

/// Warnings about the chosen mapping against what the input can represent.
pub(super) fn range_warnings(
    spec: &InputSpec,
    pp: &Preprocess,
    real: &ArrayD<f32>,
    clipped_fraction: f64,
    levels_used: usize,
    out: &mut Vec<String>,
) {
    let Some((lo, hi)) = spec.representable_range() else {
        return;
    };
    let (vmin, vmax) = real
        .iter()
        .fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
    if clipped_fraction > 0.001 {
        out.push(format!(
            "{:.1}% of input values fall outside what the {} input can represent: mapping {} gives [{vmin:.3}, {vmax:.3}] but scale/zero point represent [{lo:.3}, {hi:.3}]",
            clipped_fraction * 100.0,
            spec.dtype,
            pp.range.label()
        ));
    }
    let span = hi - lo;
    if span > 0.0 && (vmax - vmin) < 0.1 * span && levels_used < 32 {
        out.push(format!(
            "input values span [{vmin:.3}, {vmax:.3}], under a tenth of the representable [{lo:.3}, {hi:.3}]: only {levels_used} of the {} input's levels are used — is the value mapping ({}) the one the model was calibrated with?",
            spec.dtype,
            pp.range.label()
        ));
    }
}
