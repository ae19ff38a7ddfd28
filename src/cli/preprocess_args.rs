//! Preprocessing flags shared by `compare` and `run --image`; unset flags keep the detected default.

use crate::model::Model;
use crate::preprocess::{
    apply_preset, detect_defaults, ChannelOrder, CropRule, Exif, Filter, InputSpec, Layout,
    Preprocess, ResizeLib, ResizeMode, ValueRange,
};
use anyhow::bail;

#[derive(clap::Args, Debug, Clone, Default)]
pub struct PreprocessArgs {
    /// stretch | center-crop | letterbox
    #[arg(long, value_parser = ["stretch", "center-crop", "letterbox"])]
    pub resize: Option<String>,
    /// Side of the centred crop as a fraction of the largest crop (with --resize center-crop).
    #[arg(long)]
    pub crop_fraction: Option<f32>,
    /// nearest | bilinear | bicubic | area (box) | lanczos (bicubic/lanczos need --resize-lib)
    #[arg(long, value_parser = ["nearest", "bilinear", "bicubic", "area", "box", "lanczos"])]
    pub filter: Option<String>,
    /// Whose resampler to reproduce: quantscope | pillow | opencv | tf | torchvision.
    #[arg(long, value_parser = ["quantscope", "pillow", "opencv", "tf", "torchvision"])]
    pub resize_lib: Option<String>,
    /// Centre-crop convention: floor (Pillow/Keras (W-s)//2) | round (torchvision CenterCrop)
    /// | tf-central (tf.image.central_crop). Default: the resize library's usual one.
    #[arg(long, value_parser = ["floor", "round", "tf-central"])]
    pub crop_rule: Option<String>,
    /// Resize the shorter side to N first (torchvision Resize(N)); the crop then takes the
    /// model's size.
    #[arg(long)]
    pub shorter_side: Option<u32>,
    /// EXIF orientation: apply (OpenCV imread) | ignore (PIL.Image.open, tf.io.decode_jpeg).
    #[arg(long, value_parser = ["apply", "ignore"])]
    pub exif: Option<String>,
    /// A named pipeline that sets every step: torchvision-imagenet | efficientnet-lite |
    /// keras-mobilenet | tf-hub-efficientnet | opencv-stretch. Other flags override its steps.
    #[arg(long)]
    pub pipeline: Option<String>,
    /// The tensor your app fed the model for this --image (.npy, the model's dtype and
    /// layout): find the pipeline that reproduces it and what each differing step costs.
    #[arg(long, value_name = "FILE.npy")]
    pub match_input: Option<std::path::PathBuf>,
    /// rgb | bgr
    #[arg(long, value_parser = ["rgb", "bgr"])]
    pub channels: Option<String>,
    /// nhwc | nchw
    #[arg(long, value_parser = ["nhwc", "nchw"])]
    pub layout: Option<String>,
    /// 0-255 | 0-1 | -1-1 | imagenet
    #[arg(long, allow_hyphen_values = true, value_parser = ["0-255", "0-1", "-1-1", "imagenet"])]
    pub range: Option<String>,
    /// Mean(s) on 0..255 pixels: value = (pixel - mean) / std. One value or three (R,G,B).
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
    pub mean: Option<Vec<f32>>,
    #[arg(long, value_delimiter = ',')]
    pub std: Option<Vec<f32>>,
}

impl PreprocessArgs {
    /// The detected defaults for `model` (with `twin` as extra evidence), overridden by the flags.
    pub fn resolve(
        &self,
        model: &Model,
        twin: Option<&Model>,
    ) -> anyhow::Result<(Preprocess, Vec<String>)> {
        let (mut pp, mut why) = detect_defaults(model, 0, twin)?;
        if let Some(name) = &self.pipeline {
            let spec = InputSpec::from_model(model, 0, None)?;
            for step in apply_preset(name, &mut pp, spec.width, spec.height)? {
                why.push(format!("pipeline {name}: {step}"));
            }
        }
        let mut set = |what: &str, v: &dyn std::fmt::Debug| {
            why.push(format!("{what} {v:?} set on the command line"))
        };
        if let Some(r) = &self.resize {
            pp.resize = match r.as_str() {
                "stretch" => ResizeMode::Stretch,
                "center-crop" => ResizeMode::CenterCrop,
                _ => ResizeMode::Letterbox,
            };
            set("resize", &pp.resize);
        }
        if let Some(f) = self.crop_fraction {
            if !(f > 0.0 && f <= 1.0) {
                bail!("--crop-fraction must be in (0, 1], got {f}");
            }
            pp.crop_fraction = f;
            set("crop fraction", &f);
        }
        if let Some(f) = &self.filter {
            pp.filter = match f.as_str() {
                "nearest" => Filter::Nearest,
                "bilinear" => Filter::Bilinear,
                "bicubic" => Filter::Bicubic,
                "lanczos" => Filter::Lanczos,
                _ => Filter::Area,
            };
            set("filter", &pp.filter);
        }
        if let Some(l) = &self.resize_lib {
            pp.resize_lib = ResizeLib::parse(l).unwrap_or_default();
            set("resize library", &pp.resize_lib);
        }
        if let Some(r) = &self.crop_rule {
            pp.crop_rule = CropRule::parse(r);
            set("crop rule", &pp.crop_rule);
        }
        if let Some(n) = self.shorter_side {
            if n == 0 {
                bail!("--shorter-side must be positive");
            }
            pp.shorter_side = Some(n);
            set("shorter side", &n);
        }
        if let Some(e) = &self.exif {
            pp.exif = if e == "ignore" {
                Exif::Ignore
            } else {
                Exif::Apply
            };
            set("EXIF orientation", &pp.exif);
        }
        // Refuse a filter the library lacks here, before any image is read.
        pp.resize_lib.filter_name(pp.filter)?;
        if let Some(c) = &self.channels {
            pp.channels = if c == "bgr" {
                ChannelOrder::Bgr
            } else {
                ChannelOrder::Rgb
            };
            set("channel order", &pp.channels);
        }
        if let Some(l) = &self.layout {
            pp.layout = if l == "nchw" {
                Layout::Nchw
            } else {
                Layout::Nhwc
            };
            set("layout", &pp.layout);
        }
        if let Some(r) = &self.range {
            pp.range = match r.as_str() {
                "0-255" => ValueRange::Raw,
                "0-1" => ValueRange::Unit,
                "-1-1" => ValueRange::Signed,
                _ => ValueRange::ImageNet,
            };
            set("value range", &pp.range.label());
        }
        match (&self.mean, &self.std) {
            (Some(m), Some(s)) => {
                pp.range = ValueRange::custom(m, s)?;
                set("mean/std", &pp.range.label());
            }
            (None, None) => {}
            _ => bail!("--mean and --std go together"),
        }
        Ok((pp, why))
    }
}

/// `--match-input`: which pipeline reproduces the user's tensor from `image`, printed as text
/// (or returned for JSON output).
pub fn match_input(
    model: &Model,
    pp: &Preprocess,
    image: &std::path::Path,
    tensor: &std::path::Path,
) -> anyhow::Result<crate::preprocess::matcher::MatchReport> {
    use crate::preprocess::{load_image_with, ImageLimits};
    let spec = InputSpec::from_model(model, 0, Some(pp.layout))?;
    let user = crate::engine::npy::read(tensor)?.to_f32_lossy()?;
    let raw = load_image_with(image, ImageLimits::default(), Exif::Ignore)?;
    let oriented = load_image_with(image, ImageLimits::default(), Exif::Apply)?;
    Ok(crate::preprocess::matcher::match_tensor(
        &raw, &oriented, &spec, pp, &user,
    )?)
}

/// The match report as text.
pub fn print_match(r: &crate::preprocess::matcher::MatchReport) {
    let d = |x: &crate::preprocess::matcher::Distance| {
        format!(
            "max {:.2} / mean {:.3} pixel levels, {:.2}% within half a level",
            x.max_pixel_levels,
            x.mean_pixel_levels,
            x.same_share * 100.0
        )
    };
    println!(
        "pipeline match ({} pipelines tried): {}",
        r.tried,
        if r.reproduced {
            "reproduced exactly"
        } else {
            "no exact reproduction; closest first"
        }
    );
    for (i, c) in r.ranked.iter().take(5).enumerate() {
        println!("  {}. {} — {}", i + 1, c.label, d(&c.distance));
    }
    println!(
        "  current: {} — {}",
        r.current.label,
        d(&r.current.distance)
    );
    for s in &r.steps {
        println!(
            "    step {}: matched {} vs current {} — with the current one alone: {}",
            s.step,
            s.matched,
            s.current,
            d(&s.distance)
        );
    }
}
