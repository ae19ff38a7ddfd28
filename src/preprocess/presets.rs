//! Named pipelines as their documentation writes them; each sets every step it determines and
//! says which it leaves to the model (value mapping where the recipe depends on the model).

use super::{ChannelOrder, CropRule, Exif, Filter, Preprocess, ResizeLib, ResizeMode, ValueRange};

pub struct Preset {
    pub name: &'static str,
    /// The code the preset reproduces.
    pub recipe: &'static str,
    apply: fn(&mut Preprocess, usize, usize) -> Vec<String>,
}

fn torchvision_imagenet(pp: &mut Preprocess, w: usize, h: usize) -> Vec<String> {
    // Resize(256) for a 224 model: the shorter side is the model side / 0.875.
    let n = (w.min(h) as f64 / 0.875).round() as u32;
    set_geometry(pp, ResizeLib::Pillow, Filter::Bilinear, Exif::Ignore);
    pp.shorter_side = Some(n);
    pp.resize = ResizeMode::CenterCrop;
    pp.crop_rule = Some(CropRule::Round);
    pp.crop_fraction = 1.0;
    pp.range = ValueRange::ImageNet;
    pp.channels = ChannelOrder::Rgb;
    vec![
        format!("shorter side -> {n} (Resize({n}), PIL BILINEAR)"),
        format!("CenterCrop({w}x{h}), origin int(round((W - {w}) / 2))"),
        "ToTensor + Normalize(ImageNet mean/std), RGB".into(),
    ]
}

fn efficientnet_lite(pp: &mut Preprocess, _: usize, _: usize) -> Vec<String> {
    set_geometry(pp, ResizeLib::Pillow, Filter::Bilinear, Exif::Ignore);
    pp.resize = ResizeMode::CenterCrop;
    pp.crop_rule = Some(CropRule::Floor);
    pp.crop_fraction = 0.875;
    pp.range = ValueRange::Custom {
        mean: [127.0; 3],
        std: [128.0; 3],
    };
    pp.channels = ChannelOrder::Rgb;
    vec![
        "centre crop side round(0.875 * min(W, H)) at ((W - s) // 2, (H - s) // 2)".into(),
        "PIL resize BILINEAR to the model size".into(),
        "(x - 127) / 128, RGB".into(),
    ]
}

fn keras_mobilenet(pp: &mut Preprocess, _: usize, _: usize) -> Vec<String> {
    set_geometry(pp, ResizeLib::Pillow, Filter::Nearest, Exif::Ignore);
    pp.resize = ResizeMode::Stretch;
    pp.range = ValueRange::Signed;
    pp.channels = ChannelOrder::Rgb;
    vec![
        "keras.utils.load_img(target_size): PIL resize NEAREST (Keras' default), aspect not kept"
            .into(),
        "mobilenet.preprocess_input: x / 127.5 - 1, RGB".into(),
    ]
}

fn tf_hub_efficientnet(pp: &mut Preprocess, _: usize, _: usize) -> Vec<String> {
    set_geometry(pp, ResizeLib::Tf, Filter::Bilinear, Exif::Ignore);
    pp.resize = ResizeMode::CenterCrop;
    pp.crop_rule = Some(CropRule::TfCentral);
    pp.crop_fraction = 0.875;
    pp.range = ValueRange::Unit;
    pp.channels = ChannelOrder::Rgb;
    vec![
        "tf.io.decode_jpeg (EXIF ignored), tf.image.central_crop(0.875)".into(),
        "tf.image.resize bilinear (float, no antialias)".into(),
        "values / 255 ([0, 1], TF Hub's image convention), RGB".into(),
    ]
}

fn opencv_stretch(pp: &mut Preprocess, _: usize, _: usize) -> Vec<String> {
    set_geometry(pp, ResizeLib::Opencv, Filter::Bilinear, Exif::Apply);
    pp.resize = ResizeMode::Stretch;
    pp.channels = ChannelOrder::Rgb;
    vec![
        "cv2.imread (EXIF applied), cv2.cvtColor BGR2RGB, cv2.resize INTER_LINEAR to the model size"
            .into(),
        "value mapping: not part of the recipe, kept from the model".into(),
    ]
}

fn set_geometry(pp: &mut Preprocess, lib: ResizeLib, f: Filter, exif: Exif) {
    pp.resize_lib = lib;
    pp.filter = f;
    pp.exif = exif;
    pp.shorter_side = None;
    pp.crop_rule = None;
}

pub const PRESETS: [Preset; 5] = [
    Preset {
        name: "torchvision-imagenet",
        recipe:
            "PIL open; transforms.Resize(256); CenterCrop(224); ToTensor(); Normalize(ImageNet)",
        apply: torchvision_imagenet,
    },
    Preset {
        name: "efficientnet-lite",
        recipe:
            "PIL open; crop round(0.875*min) at ((W-s)//2, (H-s)//2); resize BILINEAR; (x-127)/128",
        apply: efficientnet_lite,
    },
    Preset {
        name: "keras-mobilenet",
        recipe: "keras.utils.load_img(target_size=(224, 224)); mobilenet.preprocess_input",
        apply: keras_mobilenet,
    },
    Preset {
        name: "tf-hub-efficientnet",
        recipe: "tf.io.decode_jpeg; tf.image.central_crop(0.875); tf.image.resize bilinear; / 255",
        apply: tf_hub_efficientnet,
    },
    Preset {
        name: "opencv-stretch",
        recipe: "cv2.imread; cv2.cvtColor(BGR2RGB); cv2.resize(INTER_LINEAR)",
        apply: opencv_stretch,
    },
];

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
    Ok((p.apply)(pp, w, h))
}
