//! How the preprocessing choices read in sentences, captions and menus (the app and the CLI
//! share these): "RGB", "NHWC", "center crop", not the enum spellings.

use super::{ChannelOrder, CropRule, Exif, Filter, Layout, ResizeMode};
use std::fmt;

impl fmt::Display for ResizeMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ResizeMode::Stretch => "stretch",
            ResizeMode::CenterCrop => "center crop",
            ResizeMode::Letterbox => "letterbox",
        })
    }
}

impl fmt::Display for ChannelOrder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ChannelOrder::Rgb => "RGB",
            ChannelOrder::Bgr => "BGR",
        })
    }
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Layout::Nhwc => "NHWC",
            Layout::Nchw => "NCHW",
        })
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Filter::Nearest => "nearest",
            Filter::Bilinear => "bilinear",
            Filter::Area => "area",
            Filter::Bicubic => "bicubic",
            Filter::Lanczos => "Lanczos",
        })
    }
}

impl fmt::Display for CropRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CropRule::Floor => "floor (Pillow, Keras)",
            CropRule::Round => "round (torchvision)",
            CropRule::TfCentral => "tf.image.central_crop",
        })
    }
}

impl fmt::Display for Exif {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Exif::Apply => "applied",
            Exif::Ignore => "ignored",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captions_use_the_field_spellings() {
        let s = format!(
            "{}, {}, {}, {}",
            ChannelOrder::Rgb,
            Layout::Nhwc,
            ResizeMode::CenterCrop,
            Filter::Bilinear
        );
        assert_eq!(s, "RGB, NHWC, center crop, bilinear");
        assert_eq!(format!("{}", ChannelOrder::Bgr), "BGR");
        assert_eq!(format!("{}", Layout::Nchw), "NCHW");
    }
}
