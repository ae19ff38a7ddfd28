//! What a comparison looks like, computed once here so the CLI, the app and the tests show the
//! same numbers: per-channel slices of a layer's activations with their colour ranges, the
//! model input tensor as pixels, the union of both top-k lists, the layer that produces an
//! output. Colour maps return plain RGB so the GUI only uploads textures.

use super::{Classification, ImageComparison, LayerActivations, OutputComparison, Scored};
use crate::model::{DType, Model};
use crate::preprocess::{InputTensor, Layout};
use ndarray::ArrayD;
use serde::Serialize;

/// An RGB8 image, row-major, 3 bytes a pixel.
#[derive(Clone, Debug, PartialEq)]
pub struct Rgb8 {
    pub width: usize,
    pub height: usize,
    pub pixels: Vec<u8>,
}

/// `(height, width, channels)` of an activation, read as TFLite lays activations out:
/// channels last (`[N, H, W, C]`; rank 3 is `[N, H, W]`, rank <= 2 a single row).
pub fn hwc(shape: &[usize]) -> (usize, usize, usize) {
    match shape.len() {
        0 => (1, 1, 1),
        1 => (1, shape[0], 1),
        2 => (1, shape[1], 1),
        3 => (shape[1], shape[2], 1),
        _ => (shape[1], shape[2], shape[3..].iter().product()),
    }
}

/// One channel of a layer's activations: the reference, the dequantized quantized tensor and
/// `reference - quantized`, each `height x width`, with the ranges their heat maps share.
#[derive(Clone, Debug, PartialEq)]
pub struct ChannelPlanes {
    pub height: usize,
    pub width: usize,
    /// Channels of the activation (the slider's range).
    pub channels: usize,
    /// The channel shown (clamped to `channels - 1`).
    pub channel: usize,
    pub float: Vec<f32>,
    pub quant: Vec<f32>,
    pub diff: Vec<f32>,
    /// Min and max over both activations of this channel (one colour scale for both).
    pub range: (f32, f32),
    /// `max |diff|` of this channel (the difference map is symmetric around 0).
    pub diff_max: f32,
}

fn plane(a: &ArrayD<f32>, (h, w, c): (usize, usize, usize), ch: usize) -> Vec<f32> {
    // Channels last: element (y, x, ch) sits at (y * w + x) * c + ch of the flat tensor.
    let flat: Vec<f32> = a.iter().copied().collect();
    (0..h * w)
        .map(|p| flat.get(p * c + ch).copied().unwrap_or(0.0))
        .collect()
}

impl LayerActivations {
    /// The `(height, width, channels)` of these activations (see [`hwc`]).
    pub fn dims(&self) -> (usize, usize, usize) {
        hwc(self.float.shape())
    }

    /// The channel with the most error energy (sum of squared differences): where the heat
    /// maps open, rather than on channel 0, which may be dead.
    pub fn worst_channel(&self) -> usize {
        let c = self.dims().2.max(1);
        let mut energy = vec![0f64; c];
        for (k, &d) in self.diff.iter().enumerate() {
            energy[k % c] += f64::from(d) * f64::from(d);
        }
        (0..c).fold(0, |best, k| if energy[k] > energy[best] { k } else { best })
    }

    /// Channel `ch` (clamped) of the three tensors and the colour ranges of its heat maps.
    pub fn channel(&self, ch: usize) -> ChannelPlanes {
        let d = self.dims();
        let ch = ch.min(d.2.saturating_sub(1));
        let (float, quant, diff) = (
            plane(&self.float, d, ch),
            plane(&self.quant, d, ch),
            plane(&self.diff, d, ch),
        );
        let range = float
            .iter()
            .chain(&quant)
            .fold((f32::MAX, f32::MIN), |(l, h), &v| (l.min(v), h.max(v)));
        let diff_max = diff.iter().fold(0f32, |m, &v| m.max(v.abs()));
        ChannelPlanes {
            height: d.0,
            width: d.1,
            channels: d.2,
            channel: ch,
            float,
            quant,
            diff,
            range,
            diff_max,
        }
    }
}

impl ChannelPlanes {
    /// Heat maps of the reference and the quantized activations (viridis over the shared
    /// range) and of the difference (blue - white + red over `±diff_max`).
    pub fn heat_maps(&self) -> [Rgb8; 3] {
        let (lo, hi) = self.range;
        let span = (hi - lo).max(1e-12);
        let dm = self.diff_max.max(1e-12);
        let img = |v: &[f32], f: &dyn Fn(f32) -> [u8; 3]| Rgb8 {
            width: self.width,
            height: self.height,
            pixels: v.iter().flat_map(|&x| f(x)).collect(),
        };
        [
            img(&self.float, &|x| viridis((x - lo) / span)),
            img(&self.quant, &|x| viridis((x - lo) / span)),
            img(&self.diff, &|x| diverging(x / dm)),
        ]
    }
}

/// The viridis colour map at `t` in 0..1 (clamped), from five stops.
pub fn viridis(t: f32) -> [u8; 3] {
    const STOPS: [[f32; 3]; 5] = [
        [68.0, 1.0, 84.0],
        [59.0, 82.0, 139.0],
        [33.0, 145.0, 140.0],
        [94.0, 201.0, 98.0],
        [253.0, 231.0, 37.0],
    ];
    ramp(&STOPS, t)
}

/// The colour at `t` in 0..1 (clamped) of a map through evenly spaced RGB `stops` (at least
/// two), mixed linearly between neighbours.
pub fn ramp(stops: &[[f32; 3]], t: f32) -> [u8; 3] {
    let last = stops.len() - 1;
    let f = t.clamp(0.0, 1.0) * last as f32;
    let k = (f.floor() as usize).min(last - 1);
    let u = f - k as f32;
    let (a, b) = (stops[k], stops[k + 1]);
    [0, 1, 2].map(|i| (a[i] + (b[i] - a[i]) * u) as u8)
}

/// A diverging map: -1 blue, 0 white, +1 red (clamped).
pub fn diverging(t: f32) -> [u8; 3] {
    let t = t.clamp(-1.0, 1.0);
    let v = (255.0 * (1.0 - t.abs())) as u8;
    if t >= 0.0 {
        [255, v, v]
    } else {
        [v, v, 255]
    }
}

/// A model input tensor as pixels, in its own layout and channel order: integers offset from
/// their dtype's range to 0..255, floats stretched over their own min..max. `None` unless the
/// tensor is an image (rank 4).
pub fn input_pixels(t: &InputTensor, layout: Layout) -> Option<Rgb8> {
    let ints = |v: Vec<f32>, d: DType| {
        let (lo, hi) = d.int_range().unwrap_or((0, 255));
        (v, lo as f32, hi as f32)
    };
    let (vals, lo, hi): (Vec<f32>, f32, f32) = match t {
        InputTensor::I8(a) => ints(a.iter().map(|&v| v as f32).collect(), DType::I8),
        InputTensor::U8(a) => ints(a.iter().map(|&v| v as f32).collect(), DType::U8),
        InputTensor::I16(a) => ints(a.iter().map(|&v| v as f32).collect(), DType::I16),
        InputTensor::F32(a) => {
            let (lo, hi) = a
                .iter()
                .fold((f32::MAX, f32::MIN), |(l, h), &v| (l.min(v), h.max(v)));
            (a.iter().copied().collect(), lo, hi)
        }
    };
    let shape = input_shape(t);
    if shape.len() != 4 {
        return None;
    }
    let (h, w, c) = match layout {
        Layout::Nhwc => (shape[1], shape[2], shape[3]),
        Layout::Nchw => (shape[2], shape[3], shape[1]),
    };
    let span = (hi - lo).max(1e-12);
    let at = |y: usize, x: usize, ch: usize| -> u8 {
        let i = match layout {
            Layout::Nhwc => (y * w + x) * c + ch,
            Layout::Nchw => (ch * h + y) * w + x,
        };
        let v = vals.get(i).copied().unwrap_or(lo);
        (((v - lo) / span) * 255.0).round().clamp(0.0, 255.0) as u8
    };
    let mut pixels = Vec::with_capacity(h * w * 3);
    for y in 0..h {
        for x in 0..w {
            if c >= 3 {
                pixels.extend([at(y, x, 0), at(y, x, 1), at(y, x, 2)]);
            } else {
                pixels.extend([at(y, x, 0); 3]);
            }
        }
    }
    Some(Rgb8 {
        width: w,
        height: h,
        pixels,
    })
}

fn input_shape(t: &InputTensor) -> &[usize] {
    match t {
        InputTensor::I8(a) => a.shape(),
        InputTensor::U8(a) => a.shape(),
        InputTensor::I16(a) => a.shape(),
        InputTensor::F32(a) => a.shape(),
    }
}

/// The dtype name of a model input tensor ("int8", "float32", ...).
pub fn input_dtype(t: &InputTensor) -> &'static str {
    match t {
        InputTensor::F32(_) => "float32",
        InputTensor::I8(_) => "int8",
        InputTensor::U8(_) => "uint8",
        InputTensor::I16(_) => "int16",
    }
}

/// One class of the union of both top-k lists, with both scores (0 where a list lacks it).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TopKRow {
    pub index: usize,
    /// The label, else the class index as text.
    pub class: String,
    pub float: f64,
    pub quant: f64,
}

impl Classification {
    /// The union of the float and quantized top-k classes, float order first, then the
    /// quantized model's extra classes.
    pub fn top_k_union(&self) -> Vec<TopKRow> {
        let score = |v: &[Scored], i: usize| {
            v.iter()
                .find(|s| s.index == i)
                .map_or(0.0, |s| s.score as f64)
        };
        let mut rows: Vec<TopKRow> = Vec::new();
        for s in self.top_k_float.iter().chain(&self.top_k_quant) {
            if !rows.iter().any(|r| r.index == s.index) {
                rows.push(TopKRow {
                    index: s.index,
                    class: s.name(),
                    float: score(&self.top_k_float, s.index),
                    quant: score(&self.top_k_quant, s.index),
                });
            }
        }
        rows
    }
}

impl Scored {
    /// The label, else the class index.
    pub fn name(&self) -> String {
        self.label.clone().unwrap_or_else(|| self.index.to_string())
    }
}

impl OutputComparison {
    /// A spatial output (mask, heat map: `[N, H, W, C]` with H, W > 1), shown as heat maps.
    pub fn is_spatial(&self) -> bool {
        self.shape.len() == 4 && self.shape[1] > 1 && self.shape[2] > 1
    }
}

impl ImageComparison {
    /// The position in [`ImageComparison::layers`] of the layer that is output `k` of the
    /// quantized model `quant` (the model this comparison ran).
    pub fn output_layer(&self, quant: &Model, k: usize) -> Option<usize> {
        let t = *quant.subgraphs.first()?.outputs.get(k)?;
        let t = usize::try_from(t).ok()?;
        self.layers.iter().position(|l| l.quant_tensor == t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::IxDyn;

    #[test]
    fn channel_planes_slice_channels_last() {
        // [1, 2, 3, 2]: channel 1 holds the odd values.
        let f = ArrayD::from_shape_vec(IxDyn(&[1, 2, 3, 2]), (0..12).map(|v| v as f32).collect())
            .unwrap();
        let q = f.mapv(|v| v + 0.5);
        let a = LayerActivations {
            diff: &f - &q,
            float: f,
            quant: q,
        };
        let p = a.channel(1);
        assert_eq!((p.height, p.width, p.channels, p.channel), (2, 3, 2, 1));
        assert_eq!(p.float, vec![1.0, 3.0, 5.0, 7.0, 9.0, 11.0]);
        assert_eq!(p.range, (1.0, 11.5));
        assert_eq!(p.diff_max, 0.5);
        // Out-of-range channels clamp to the last one.
        assert_eq!(a.channel(9).channel, 1);
        let maps = p.heat_maps();
        assert_eq!(
            maps.iter().map(|m| m.pixels.len()).sum::<usize>(),
            3 * 6 * 3
        );
        assert_eq!(&maps[0].pixels[..3], &viridis(0.0));
        assert_eq!(&maps[2].pixels[..3], &diverging(-1.0));
    }

    #[test]
    fn worst_channel_has_the_most_error_energy() {
        // [1, 2, 2, 3]: channel 0 is dead (no error), channel 2 has the largest differences.
        let f = ArrayD::from_shape_vec(IxDyn(&[1, 2, 2, 3]), vec![0.0; 12]).unwrap();
        let d: Vec<f32> = (0..12).map(|k| [0.0, 0.5, -1.0][k % 3]).collect();
        let diff = ArrayD::from_shape_vec(IxDyn(&[1, 2, 2, 3]), d).unwrap();
        let a = LayerActivations {
            quant: &f - &diff,
            float: f,
            diff,
        };
        assert_eq!(a.worst_channel(), 2);
        assert_eq!(a.channel(a.worst_channel()).diff_max, 1.0);
    }

    #[test]
    fn input_pixels_follow_layout_and_dtype() {
        // NCHW int8, 1 channel 1x2: -128 -> 0, 127 -> 255.
        let t =
            InputTensor::I8(ArrayD::from_shape_vec(IxDyn(&[1, 1, 1, 2]), vec![-128, 127]).unwrap());
        let im = input_pixels(&t, Layout::Nchw).unwrap();
        assert_eq!((im.width, im.height), (2, 1));
        assert_eq!(im.pixels, vec![0, 0, 0, 255, 255, 255]);
        let flat = InputTensor::F32(ArrayD::from_shape_vec(IxDyn(&[2]), vec![0.0, 1.0]).unwrap());
        assert!(input_pixels(&flat, Layout::Nhwc).is_none());
    }

    #[test]
    fn top_k_union_keeps_both_scores() {
        let s = |index, score| Scored {
            index,
            label: None,
            score,
        };
        let c = Classification {
            top_k_float: vec![s(3, 0.7), s(1, 0.2)],
            top_k_quant: vec![s(3, 0.6), s(4, 0.3)],
            top1_agree: true,
            top_k_overlap: 0.5,
            kl_divergence: 0.0,
            max_prob_delta: 0.1,
            probabilities_from: "output".into(),
            float_top1_prob: 0.7,
            labels_source: None,
        };
        let u = c.top_k_union();
        assert_eq!(u.len(), 3);
        assert_eq!(
            u.iter()
                .map(|r| (r.index, r.float, r.quant))
                .collect::<Vec<_>>(),
            vec![
                (3, 0.7f32 as f64, 0.6f32 as f64),
                (1, 0.2f32 as f64, 0.0),
                (4, 0.0, 0.3f32 as f64)
            ]
        );
    }
}
