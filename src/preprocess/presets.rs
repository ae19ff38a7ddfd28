//! Named pipelines as their documentation writes them; each sets every step it determines and
//! says which it leaves to the model (value mapping where the recipe depends on the model).

use super::{ChannelOrder, CropRule, Exif, Filter, Preprocess, ResizeLib, ResizeMode, ValueRange};

pub struct Preset {
    pub name: &'static str,
    /// The code the preset reproduces.
    pub recipe: &'static str,
    lib: ResizeLib,
    filter: Filter,
    exif: Exif,
    /// Centre crop with this rule and fraction; `None`: stretched to the model size.
    crop: Option<(CropRule, f32)>,
    /// Resize the shorter side to `model side / ratio` first (torchvision's Resize(256) for a
    /// 224 model: 0.875).
    shorter_side_ratio: Option<f64>,
    /// `None`: the recipe's value mapping depends on the model, so the model's is kept.
    range: Option<ValueRange>,
    /// The steps as the recipe writes them (after the shorter-side resize and crop, if any).
    steps: &'static [&'static str],
}

pub const PRESETS: [Preset; 5] = [
    Preset {
        name: "torchvision-imagenet",
        recipe:
            "PIL open; transforms.Resize(256); CenterCrop(224); ToTensor(); Normalize(ImageNet)",
        lib: ResizeLib::Pillow,
        filter: Filter::Bilinear,
        exif: Exif::Ignore,
        crop: Some((CropRule::Round, 1.0)),
        shorter_side_ratio: Some(0.875),
        range: Some(ValueRange::ImageNet),
        steps: &["ToTensor + Normalize(ImageNet mean/std), RGB"],
    },
    Preset {
        name: "efficientnet-lite",
        recipe:
            "PIL open; crop round(0.875*min) at ((W-s)//2, (H-s)//2); resize BILINEAR; (x-127)/128",
        lib: ResizeLib::Pillow,
        filter: Filter::Bilinear,
        exif: Exif::Ignore,
        crop: Some((CropRule::Floor, 0.875)),
        shorter_side_ratio: None,
        range: Some(ValueRange::Custom {
            mean: [127.0; 3],
            std: [128.0; 3],
        }),
        steps: &[
            "centre crop side round(0.875 * min(W, H)) at ((W - s) // 2, (H - s) // 2)",
            "PIL resize BILINEAR to the model size",
            "(x - 127) / 128, RGB",
        ],
    },
    Preset {
        name: "keras-mobilenet",
        recipe: "keras.utils.load_img(target_size=(224, 224)); mobilenet.preprocess_input",
        lib: ResizeLib::Pillow,
        filter: Filter::Nearest,
        exif: Exif::Ignore,
        crop: None,
        shorter_side_ratio: None,
        range: Some(ValueRange::Signed),
        steps: &[
            "keras.utils.load_img(target_size): PIL resize NEAREST (Keras' default), aspect not kept",
            "mobilenet.preprocess_input: x / 127.5 - 1, RGB",
        ],
    },
    Preset {
        name: "tf-hub-efficientnet",
        recipe: "tf.io.decode_jpeg; tf.image.central_crop(0.875); tf.image.resize bilinear; / 255",
        lib: ResizeLib::Tf,
        filter: Filter::Bilinear,
        exif: Exif::Ignore,
        crop: Some((CropRule::TfCentral, 0.875)),
        shorter_side_ratio: None,
        range: Some(ValueRange::Unit),
        steps: &[
            "tf.io.decode_jpeg (EXIF ignored), tf.image.central_crop(0.875)",
            "tf.image.resize bilinear (float, no antialias)",
            "values / 255 ([0, 1], TF Hub's image convention), RGB",
        ],
    },
    Preset {
        name: "opencv-stretch",
        recipe: "cv2.imread; cv2.cvtColor(BGR2RGB); cv2.resize(INTER_LINEAR)",
        lib: ResizeLib::Opencv,
        filter: Filter::Bilinear,
        exif: Exif::Apply,
        crop: None,
        shorter_side_ratio: None,
        range: None,
        steps: &[
            "cv2.imread (EXIF applied), cv2.cvtColor BGR2RGB, cv2.resize INTER_LINEAR to the model size",
            "value mapping: not part of the recipe, kept from the model",
        ],
    },
];

impl Preset {
    /// Sets every step the recipe determines for a model input of `w` x `h`; returns them.
    fn apply(&self, pp: &mut Preprocess, w: usize, h: usize) -> Vec<String> {
        pp.resize_lib = self.lib;
        pp.filter = self.filter;
        pp.exif = self.exif;
        // Every recipe feeds RGB (OpenCV's after its BGR2RGB).
        pp.channels = ChannelOrder::Rgb;
        let mut steps = Vec::new();
        pp.shorter_side = self.shorter_side_ratio.map(|ratio| {
            let n = (w.min(h) as f64 / ratio).round() as u32;
            // Only torchvision's recipe resizes first; its crop then takes the model size.
            steps.push(format!("shorter side -> {n} (Resize({n}), PIL BILINEAR)"));
            steps.push(format!(
                "CenterCrop({w}x{h}), origin int(round((W - {w}) / 2))"
            ));
            n
        });
        match self.crop {
            Some((rule, fraction)) => {
                pp.resize = ResizeMode::CenterCrop;
                pp.crop_rule = Some(rule);
                pp.crop_fraction = fraction;
            }
            None => {
                pp.resize = ResizeMode::Stretch;
                pp.crop_rule = None;
            }
        }
        if let Some(r) = &self.range {
            pp.range = r.clone();
        }
        steps.extend(self.steps.iter().map(|s| s.to_string()));
        steps
    }
}

pub fn preset_names() -> Vec<&'static str> {
    PRESETS.iter().map(|p| p.name).collect()
}

/// Applies preset `name` for a model input of `w` x `h`; returns the steps it set.
pub fn apply_preset(
    name: &str,
    pp: &mut Preprocess,
    w: usize,
    h: usize,
) -> Result<Vec<String>, super::PreprocessError> {
    let p = PRESETS.iter().find(|p| p.name == name).ok_or_else(|| {
        super::PreprocessError::Unsupported(format!(
            "unknown pipeline {name}; known: {}",
            preset_names().join(", ")
        ))
    })?;
    pp.pipeline = Some(name.to_string());
    Ok(p.apply(pp, w, h))
}
