//! Preprocessing flags shared by `compare` and `run --image`; unset flags keep the detected default.

use crate::model::Model;
use crate::preprocess::{
    apply_preset, detect_defaults, ChannelOrder, CropRule, Exif, Filter, InputSpec, Layout,
    Preprocess, ResizeLib, ResizeMode, ValueRange,
};
use anyhow::bail;

/// The flags' value names and what they stand for: clap offers exactly these names.
const RESIZE: [(&str, ResizeMode); 3] = [
    ("stretch", ResizeMode::Stretch),
    ("center-crop", ResizeMode::CenterCrop),
    ("letterbox", ResizeMode::Letterbox),
];
const FILTERS: [(&str, Filter); 6] = [
    ("nearest", Filter::Nearest),
    ("bilinear", Filter::Bilinear),
    ("bicubic", Filter::Bicubic),
    ("area", Filter::Area),
    ("box", Filter::Area),
    ("lanczos", Filter::Lanczos),
];
const EXIF: [(&str, Exif); 2] = [("apply", Exif::Apply), ("ignore", Exif::Ignore)];
const CHANNELS: [(&str, ChannelOrder); 2] =
    [("rgb", ChannelOrder::Rgb), ("bgr", ChannelOrder::Bgr)];
const LAYOUTS: [(&str, Layout); 2] = [("nhwc", Layout::Nhwc), ("nchw", Layout::Nchw)];
const RANGES: [(&str, ValueRange); 4] = [
    ("0-255", ValueRange::Raw),
    ("0-1", ValueRange::Unit),
    ("-1-1", ValueRange::Signed),
    ("imagenet", ValueRange::ImageNet),
];

fn names<T, const N: usize>(table: &[(&'static str, T); N]) -> [&'static str; N] {
    std::array::from_fn(|i| table[i].0)
}

/// What a flag's value stands for in `table`.
fn named<T: Clone>(value: &Option<String>, table: &[(&str, T)]) -> Option<T> {
    let value = value.as_deref()?;
    table
        .iter()
        .find(|(n, _)| *n == value)
        .map(|(_, v)| v.clone())
}

#[derive(clap::Args, Debug, Clone, Default)]
pub struct PreprocessArgs {
    /// stretch | center-crop | letterbox
    #[arg(long, value_parser = names(&RESIZE))]
    pub resize: Option<String>,
    /// Side of the centred crop as a fraction of the largest crop (with --resize center-crop).
    #[arg(long)]
    pub crop_fraction: Option<f32>,
    /// nearest | bilinear | bicubic | area (box) | lanczos (bicubic/lanczos need --resize-lib)
    #[arg(long, value_parser = names(&FILTERS))]
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
    #[arg(long, value_parser = names(&EXIF))]
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
    #[arg(long, value_parser = names(&CHANNELS))]
    pub channels: Option<String>,
    /// nhwc | nchw
    #[arg(long, value_parser = names(&LAYOUTS))]
    pub layout: Option<String>,
    /// 0-255 | 0-1 | -1-1 | imagenet
    #[arg(long, allow_hyphen_values = true, value_parser = names(&RANGES))]
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
        take_named(&mut why, "resize", &self.resize, &RESIZE, &mut pp.resize);
        if let Some(f) = self.crop_fraction {
            if !(f > 0.0 && f <= 1.0) {
                bail!("--crop-fraction must be in (0, 1], got {f}");
            }
        }
        take(
            &mut why,
            "crop fraction",
            self.crop_fraction,
            &mut pp.crop_fraction,
        );
        take_named(&mut why, "filter", &self.filter, &FILTERS, &mut pp.filter);
        let lib = (self.resize_lib.as_deref()).map(|l| ResizeLib::parse(l).unwrap_or_default());
        take(&mut why, "resize library", lib, &mut pp.resize_lib);
        let rule = self.crop_rule.as_deref().map(CropRule::parse);
        take(&mut why, "crop rule", rule, &mut pp.crop_rule);
        if let Some(n) = self.shorter_side {
            if n == 0 {
                bail!("--shorter-side must be positive");
            }
            pp.shorter_side = Some(n);
            why.push(format!("shorter side {n:?} set on the command line"));
        }
        take_named(
            &mut why,
            "EXIF orientation",
            &self.exif,
            &EXIF,
            &mut pp.exif,
        );
        // Refuse a filter the library lacks here, before any image is read.
        pp.resize_lib.filter_name(pp.filter)?;
        take_named(
            &mut why,
            "channel order",
            &self.channels,
            &CHANNELS,
            &mut pp.channels,
        );
        take_named(&mut why, "layout", &self.layout, &LAYOUTS, &mut pp.layout);
        let range = named(&self.range, &RANGES);
        let custom = match (&self.mean, &self.std) {
            (Some(m), Some(s)) => Some(ValueRange::custom(m, s)?),
            (None, None) => None,
            _ => bail!("--mean and --std go together"),
        };
        // Ranges are named by their label; --mean/--std win over --range.
        for (what, r) in [("value range", range), ("mean/std", custom)] {
            if let Some(r) = r {
                why.push(format!("{what} {:?} set on the command line", r.label()));
                pp.range = r;
            }
        }
        Ok((pp, why))
    }
}

/// Takes a flag's `value` into `slot` when it was given, and says so in `why`.
fn take<T: std::fmt::Debug>(why: &mut Vec<String>, what: &str, value: Option<T>, slot: &mut T) {
    if let Some(v) = value {
        *slot = v;
        why.push(format!("{what} {slot:?} set on the command line"));
    }
}

/// [`take`] of a flag named in `table` (`--resize center-crop`).
fn take_named<T: Clone + std::fmt::Debug>(
    why: &mut Vec<String>,
    what: &str,
    flag: &Option<String>,
    table: &[(&str, T)],
    slot: &mut T,
) {
    take(why, what, named(flag, table), slot);
}

/// `--match-input` inputs: each image with the user's tensor for it. `tensors` is one .npy for
/// one image, or a folder holding `<image stem>.npy` for every image.
pub fn match_photos(
    images: &[std::path::PathBuf],
    tensors: &std::path::Path,
) -> anyhow::Result<Vec<crate::compare::pipeline_match::MatchPhoto>> {
    use crate::preprocess::{load_image_with, ImageLimits};
    let pairs: Vec<(std::path::PathBuf, std::path::PathBuf)> = if tensors.is_dir() {
        images
            .iter()
            .map(|img| {
                let stem = img.file_stem().unwrap_or_default().to_string_lossy();
                let t = tensors.join(format!("{stem}.npy"));
                if !t.exists() {
                    bail!(
                        "--match-input {}: no {stem}.npy for {}",
                        tensors.display(),
                        img.display()
                    );
                }
                Ok((img.clone(), t))
            })
            .collect::<anyhow::Result<_>>()?
    } else {
        match images {
            [one] => vec![(one.clone(), tensors.to_path_buf())],
            _ => bail!(
                "--match-input {} is one tensor for {} images: give a folder of <image stem>.npy",
                tensors.display(),
                images.len()
            ),
        }
    };
    pairs
        .into_iter()
        .map(|(img, t)| {
            let tensor = crate::engine::npy::read(&t)
                .map_err(|e| anyhow::anyhow!("{}: {e}", t.display()))?
                .to_f32_lossy()?;
            Ok(crate::compare::pipeline_match::MatchPhoto {
                name: img.display().to_string(),
                raw: load_image_with(&img, ImageLimits::default(), Exif::Ignore)?,
                oriented: load_image_with(&img, ImageLimits::default(), Exif::Apply)?,
                tensor,
            })
        })
        .collect()
}

fn sqnr(s: Option<f64>) -> String {
    s.map_or("inf (identical)".into(), |s| format!("{s:.1} dB"))
}

/// The match report as text.
pub fn print_match(r: &crate::compare::pipeline_match::PipelineMatch) {
    let d = |x: &crate::preprocess::matcher::Distance| {
        format!(
            "max {:.2} / mean {:.3} pixel levels, {:.2}% within half a level",
            x.max_pixel_levels,
            x.mean_pixel_levels,
            x.same_share * 100.0
        )
    };
    let tried = r.per_photo.first().map_or(0, |p| p.report.tried);
    println!(
        "pipeline match on {} ({} photo(s), {tried} pipelines tried each): the best match reproduces {} of {} exactly",
        r.model, r.photos, r.reproduced, r.photos
    );
    if let [one] = r.per_photo.as_slice() {
        for (i, c) in one.report.ranked.iter().take(5).enumerate() {
            println!("  {}. {} - {}", i + 1, c.label, d(&c.distance));
        }
        println!(
            "  current: {} - {}",
            one.report.current.label,
            d(&one.report.current.distance)
        );
    } else {
        for p in &r.per_photo {
            println!(
                "  {}: best {} - {}",
                p.image,
                p.report.ranked[0].label,
                d(&p.report.ranked[0].distance)
            );
        }
    }
    let cost = |c: &crate::compare::pipeline_match::PipelineCost| {
        format!(
            "{} top-1 flip(s) of {}, output SQNR {} (worst photo {})",
            c.top1_flips,
            r.photos,
            sqnr(c.output_sqnr_db),
            sqnr(c.worst_output_sqnr_db)
        )
    };
    println!("  on the model's output {} against your tensors:", r.output);
    println!(
        "    best match ({}): {}",
        r.matched.as_deref().unwrap_or("differs by photo"),
        cost(&r.matched_cost)
    );
    println!("    current ({}): {}", r.current, cost(&r.current_cost));
    for s in &r.steps {
        println!(
            "    step {}: {} vs current {} - with the current one alone: {} top-1 flip(s) of {}, output SQNR {} (worst {}), input mean {:.3} pixel levels",
            s.step,
            s.matched.join(" / "),
            s.current,
            s.cost.top1_flips,
            s.photos,
            sqnr(s.cost.output_sqnr_db),
            sqnr(s.cost.worst_output_sqnr_db),
            s.cost.mean_pixel_levels
        );
    }
}
