//! Preprocessing flags shared by `compare` and `run --image`; unset flags keep the detected default.

use crate::model::Model;
use crate::preprocess::{
    detect_defaults, ChannelOrder, Filter, Layout, Preprocess, ResizeMode, ValueRange,
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
    /// nearest | bilinear | area
    #[arg(long, value_parser = ["nearest", "bilinear", "area"])]
    pub filter: Option<String>,
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
                _ => Filter::Area,
            };
            set("filter", &pp.filter);
        }
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
