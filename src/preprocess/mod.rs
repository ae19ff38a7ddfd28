//! Turning an image into exactly the input tensor a model expects, with every choice explicit:
//! geometry (resize mode, crop, filter), channel order, layout, value mapping and, for integer
//! inputs, quantization with the input's own scale and zero point.
//!
//! Pipeline: decode (EXIF orientation applied) -> RGB pixels 0..255 -> geometry -> channel
//! order -> grayscale if the model has one channel -> value = (pixel - mean) / std -> layout ->
//! quantize.

mod detect;
mod display;
mod image_io;
pub mod libs;
pub mod matcher;
pub mod presets;
mod resize;
pub mod steps;

pub use detect::{detect_defaults, InputSpec};
pub use image_io::{is_image_path, IMAGE_EXTENSIONS};
pub use image_io::{
    load_image, load_image_bytes, load_image_bytes_with, load_image_with, Exif, ImageLimits,
};
pub use libs::ResizeLib;
pub use presets::{apply_preset, preset_names, PRESETS};
pub use resize::{resize_plane, Filter};
pub use steps::CropRule;

use ndarray::{ArrayD, IxDyn};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum PreprocessError {
    #[error("cannot read image {path}: {message}")]
    Image { path: String, message: String },
    #[error("image {width}x{height} exceeds the limit of {max} pixels per side")]
    TooLarge { width: u32, height: u32, max: u32 },
    #[error("the model input {name} has shape {shape:?}; expected an image tensor [1,H,W,C] or [1,C,H,W] with C = 1 or 3")]
    NotAnImageInput { name: String, shape: Vec<i32> },
    #[error("mean/std need 1 or 3 values each, std non-zero (got mean {mean:?}, std {std:?})")]
    BadMeanStd { mean: Vec<f32>, std: Vec<f32> },
    #[error("the model input {name} has dtype {dtype}, which images cannot be mapped to")]
    UnsupportedDtype { name: String, dtype: String },
    #[error("{0}")]
    Unsupported(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResizeMode {
    /// Scale each axis independently to the model's size (aspect ratio not kept).
    Stretch,
    /// Crop the centred region with the model's aspect ratio (`crop_fraction` of the largest
    /// such region), then scale.
    CenterCrop,
    /// Scale to fit inside, keeping the aspect ratio, and pad the rest with `pad_color`.
    Letterbox,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelOrder {
    Rgb,
    Bgr,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    Nhwc,
    Nchw,
}

/// Value mapping on 0..255 pixels: value = (pixel - mean) / std, per channel (RGB order).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum ValueRange {
    /// [0, 255]: mean 0, std 1.
    #[serde(rename = "0-255")]
    Raw,
    /// [0, 1]: mean 0, std 255.
    #[serde(rename = "0-1")]
    Unit,
    /// [-1, 1]: mean 127.5, std 127.5.
    #[serde(rename = "-1-1")]
    Signed,
    /// ImageNet mean/std (0.485, 0.456, 0.406) / (0.229, 0.224, 0.225) scaled to 0..255.
    #[serde(rename = "imagenet")]
    ImageNet,
    #[serde(rename = "custom")]
    Custom { mean: [f32; 3], std: [f32; 3] },
}

impl ValueRange {
    pub fn mean_std(&self) -> ([f32; 3], [f32; 3]) {
        match self {
            ValueRange::Raw => ([0.0; 3], [1.0; 3]),
            ValueRange::Unit => ([0.0; 3], [255.0; 3]),
            ValueRange::Signed => ([127.5; 3], [127.5; 3]),
            ValueRange::ImageNet => ([123.675, 116.28, 103.53], [58.395, 57.12, 57.375]),
            ValueRange::Custom { mean, std } => (*mean, *std),
        }
    }

    /// Custom mean/std from 1 or 3 values each.
    pub fn custom(mean: &[f32], std: &[f32]) -> Result<ValueRange, PreprocessError> {
        let three = |v: &[f32]| match v.len() {
            1 => Some([v[0]; 3]),
            3 => Some([v[0], v[1], v[2]]),
            _ => None,
        };
        match (three(mean), three(std)) {
            (Some(m), Some(s)) if s.iter().all(|&x| x != 0.0 && x.is_finite()) => {
                Ok(ValueRange::Custom { mean: m, std: s })
            }
            _ => Err(PreprocessError::BadMeanStd {
                mean: mean.to_vec(),
                std: std.to_vec(),
            }),
        }
    }

    /// The presets a user can pick, for trying alternatives.
    pub fn presets() -> [ValueRange; 4] {
        [
            ValueRange::Raw,
            ValueRange::Unit,
            ValueRange::Signed,
            ValueRange::ImageNet,
        ]
    }

    pub fn label(&self) -> String {
        match self {
            ValueRange::Raw => "[0,255]".into(),
            ValueRange::Unit => "[0,1]".into(),
            ValueRange::Signed => "[-1,1]".into(),
            ValueRange::ImageNet => "ImageNet mean/std".into(),
            ValueRange::Custom { mean, std } => format!("mean {mean:?} std {std:?}"),
        }
    }

    /// The value range that pixels 0..255 map to, over all channels.
    pub fn output_range(&self) -> (f32, f32) {
        let (m, s) = self.mean_std();
        (0..3).fold((f32::MAX, f32::MIN), |(lo, hi), c| {
            let (a, b) = ((0.0 - m[c]) / s[c], (255.0 - m[c]) / s[c]);
            (lo.min(a.min(b)), hi.max(a.max(b)))
        })
    }
}

/// Every preprocessing choice.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Preprocess {
    pub resize: ResizeMode,
    /// Side of the centred crop as a fraction of the largest crop (CenterCrop only), in (0, 1].
    pub crop_fraction: f32,
    pub filter: Filter,
    pub pad_color: [u8; 3],
    pub channels: ChannelOrder,
    pub layout: Layout,
    pub range: ValueRange,
    /// Whose resampler: quantscope's own or a library's, reproduced exactly.
    pub resize_lib: ResizeLib,
    /// Centre-crop convention; `None`: the one the library's users usually write.
    pub crop_rule: Option<CropRule>,
    /// Resize the shorter side to this first (torchvision `Resize(n)`); the centre crop then
    /// takes exactly the model's size.
    pub shorter_side: Option<u32>,
    /// Whether EXIF orientation is applied when decoding (Pillow and TF do not, OpenCV does).
    pub exif: Exif,
    /// The named preset these settings came from, if any.
    pub pipeline: Option<String>,
}

impl Preprocess {
    /// Whether the library-exact step pipeline runs (else quantscope's float geometry).
    fn uses_steps(&self) -> bool {
        self.resize_lib != ResizeLib::Quantscope
            || self.crop_rule.is_some()
            || self.shorter_side.is_some()
    }
}

/// The input tensor in the model's dtype.
#[derive(Clone, Debug)]
pub enum InputTensor {
    F32(ArrayD<f32>),
    I8(ArrayD<i8>),
    U8(ArrayD<u8>),
    I16(ArrayD<i16>),
}

/// The outcome of preprocessing one image.
#[derive(Clone, Debug)]
pub struct Prepared {
    /// The mapped real values in the model's layout (before quantization).
    pub real: ArrayD<f32>,
    /// What is fed to the model.
    pub tensor: InputTensor,
    /// Share of values that quantization clipped to the integer limits (0 for float inputs).
    pub clipped_fraction: f64,
    /// Distinct quantized levels used (integer inputs).
    pub levels_used: usize,
    /// The geometry result as RGB8 (height, width, pixels row-major), for display.
    pub rgb: (usize, usize, Vec<u8>),
    /// The geometry result on the 0..255 scale before value mapping, RGB planes (exact library
    /// values: integers for uint8 libraries, floats for TF and quantscope).
    pub planes: [Vec<f32>; 3],
    /// Every geometry step taken, in order.
    pub steps: Vec<String>,
    pub warnings: Vec<String>,
}

/// Runs the pipeline on decoded RGB8 pixels (`width` x `height`, row-major).
pub fn prepare(
    rgb: &image::RgbImage,
    spec: &InputSpec,
    pp: &Preprocess,
) -> Result<Prepared, PreprocessError> {
    let (planes, steps) = geometry_planes(rgb, spec, pp)?;
    prepare_planes(planes, steps, spec, pp)
}

/// The geometry part of [`prepare`]: RGB planes of the model's size on the 0..255 scale, and
/// the steps taken. Channel order and value mapping do not enter, so one geometry serves every
/// mapping (the matcher tries many).
pub fn geometry_planes(
    rgb: &image::RgbImage,
    spec: &InputSpec,
    pp: &Preprocess,
) -> Result<(Vec<Vec<f32>>, Vec<String>), PreprocessError> {
    let (h, w) = (spec.height, spec.width);
    pp.resize_lib.filter_name(pp.filter)?;
    Ok(if pp.uses_steps() {
        let img =
            libs::Image::from_u8(rgb.width() as usize, rgb.height() as usize, 3, rgb.as_raw());
        let (out, steps) = steps::geometry(&img, w, h, pp)?;
        let planes = (0..3)
            .map(|ch| out.data.iter().skip(ch).step_by(3).copied().collect())
            .collect();
        (planes, steps)
    } else {
        let planes = (0..3)
            .map(|ch| {
                let src: Vec<f32> = rgb.pixels().map(|p| p.0[ch] as f32).collect();
                resize::geometry(
                    &src,
                    rgb.width() as usize,
                    rgb.height() as usize,
                    w,
                    h,
                    pp,
                    pp.pad_color[ch] as f32,
                )
            })
            .collect();
        let steps = vec![format!(
            "{} {}x{} -> {w}x{h} with quantscope {}",
            pp.resize,
            rgb.width(),
            rgb.height(),
            pp.filter
        )];
        (planes, steps)
    })
}

/// The rest of [`prepare`] on planes from [`geometry_planes`]: channel order, value mapping,
/// layout and quantization.
pub fn prepare_planes(
    planes: Vec<Vec<f32>>,
    steps: Vec<String>,
    spec: &InputSpec,
    pp: &Preprocess,
) -> Result<Prepared, PreprocessError> {
    let (h, w, c) = (spec.height, spec.width, spec.channels);
    let n = planes.len();
    let planes: [Vec<f32>; 3] = match <[Vec<f32>; 3]>::try_from(planes) {
        Ok(p) if p.iter().all(|p| p.len() == h * w) => p,
        _ => {
            return Err(PreprocessError::Unsupported(format!(
                "geometry gave {n} planes, not 3 of {w}x{h}"
            )))
        }
    };
    let display: Vec<u8> = (0..h * w)
        .flat_map(|i| (0..3).map(move |ch| (ch, i)))
        .map(|(ch, i)| planes[ch][i].round().clamp(0.0, 255.0) as u8)
        .collect();
    let (mean, std) = pp.range.mean_std();
    // Channel k of the tensor holds plane order[k]; mean/std follow the channel they apply to.
    let order: [usize; 3] = match pp.channels {
        ChannelOrder::Rgb => [0, 1, 2],
        ChannelOrder::Bgr => [2, 1, 0],
    };
    let mapped: Vec<Vec<f32>> = if c == 1 {
        // ITU-R BT.601 luma, then the first channel's mean/std.
        let y: Vec<f32> = (0..h * w)
            .map(|i| 0.299 * planes[0][i] + 0.587 * planes[1][i] + 0.114 * planes[2][i])
            .collect();
        vec![y.iter().map(|&v| (v - mean[0]) / std[0]).collect()]
    } else {
        order
            .iter()
            .map(|&p| planes[p].iter().map(|&v| (v - mean[p]) / std[p]).collect())
            .collect()
    };
    let shape = match pp.layout {
        Layout::Nhwc => vec![1, h, w, c],
        Layout::Nchw => vec![1, c, h, w],
    };
    let mut real = ArrayD::<f32>::zeros(IxDyn(&shape));
    for (ch, plane) in mapped.iter().enumerate() {
        for (i, &v) in plane.iter().enumerate() {
            let (y, x) = (i / w, i % w);
            let idx = match pp.layout {
                Layout::Nhwc => [0, y, x, ch],
                Layout::Nchw => [0, ch, y, x],
            };
            real[IxDyn(&idx)] = v;
        }
    }
    let (tensor, clipped_fraction, levels_used) = quantize_input(&real, spec)?;
    let mut warnings = Vec::new();
    detect::range_warnings(
        spec,
        pp,
        &real,
        clipped_fraction,
        levels_used,
        &mut warnings,
    );
    Ok(Prepared {
        real,
        tensor,
        clipped_fraction,
        levels_used,
        rgb: (h, w, display),
        planes,
        steps,
        warnings,
    })
}

/// q = round(x / scale) + zero_point, rounded half away from zero as TFLite's QUANTIZE does,
/// clamped to the dtype's range (the clamped share is reported).
fn quantize_input(
    real: &ArrayD<f32>,
    spec: &InputSpec,
) -> Result<(InputTensor, f64, usize), PreprocessError> {
    use crate::model::DType;
    let Some((scale, zp)) = spec.quant.filter(|_| spec.dtype != DType::F32) else {
        return match spec.dtype {
            DType::F32 => Ok((InputTensor::F32(real.clone()), 0.0, 0)),
            other => Err(PreprocessError::UnsupportedDtype {
                name: spec.name.clone(),
                dtype: other.name(),
            }),
        };
    };
    let (lo, hi) = match spec.dtype.int_range() {
        Some(r) if matches!(spec.dtype, DType::I8 | DType::U8 | DType::I16) => r,
        _ => {
            return Err(PreprocessError::UnsupportedDtype {
                name: spec.name.clone(),
                dtype: spec.dtype.name(),
            })
        }
    };
    let mut clipped = 0usize;
    let mut seen = std::collections::BTreeSet::new();
    let q = real.mapv(|x| {
        let v = (x / scale).round() as i64 + zp;
        if v < lo || v > hi {
            clipped += 1;
        }
        let v = v.clamp(lo, hi);
        seen.insert(v);
        v
    });
    let n = real.len().max(1) as f64;
    let tensor = match spec.dtype {
        DType::I8 => InputTensor::I8(q.mapv(|v| v as i8)),
        DType::U8 => InputTensor::U8(q.mapv(|v| v as u8)),
        _ => InputTensor::I16(q.mapv(|v| v as i16)),
    };
    Ok((tensor, clipped as f64 / n, seen.len()))
}
