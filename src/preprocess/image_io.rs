//! Decoding images (any format the `image` crate reads) with EXIF orientation and size limits.

use super::PreprocessError;
use image::{ImageDecoder, ImageReader, RgbImage};
use std::io::{BufRead, Cursor, Seek};
use std::path::Path;

/// File extensions of the image formats quantscope decodes (the `image` features enabled in
/// Cargo.toml): the one list the CLI's folder walk, the app's drops and its file dialogs use.
pub const IMAGE_EXTENSIONS: [&str; 6] = ["png", "jpg", "jpeg", "bmp", "webp", "gif"];

/// Whether `p` names an image by its extension (case-insensitive).
pub fn is_image_path(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|x| e.eq_ignore_ascii_case(x)))
}

/// Limits checked before pixels are allocated.
#[derive(Clone, Copy, Debug)]
pub struct ImageLimits {
    pub max_side: u32,
    pub max_alloc_bytes: u64,
}

impl Default for ImageLimits {
    fn default() -> Self {
        ImageLimits {
            max_side: 16_384,
            max_alloc_bytes: 1 << 30,
        }
    }
}

/// EXIF orientation: applied (OpenCV's `imread`, browsers, `ImageOps.exif_transpose`) or ignored
/// (`PIL.Image.open`, `tf.io.decode_jpeg`, torchvision `decode_image` by default).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Exif {
    #[default]
    Apply,
    Ignore,
}

/// Decodes with EXIF orientation applied.
pub fn load_image(path: &Path, limits: ImageLimits) -> Result<RgbImage, PreprocessError> {
    load_image_with(path, limits, Exif::Apply)
}

/// Decodes with EXIF orientation applied or ignored, as the user's pipeline does.
pub fn load_image_with(
    path: &Path,
    limits: ImageLimits,
    exif: Exif,
) -> Result<RgbImage, PreprocessError> {
    let err = |message: String| PreprocessError::Image {
        path: path.display().to_string(),
        message,
    };
    let reader = ImageReader::open(path).map_err(|e| err(e.to_string()))?;
    decode(reader, limits, exif).map_err(|e| match e {
        PreprocessError::Image { message, .. } => err(message),
        other => other,
    })
}

pub fn load_image_bytes(bytes: &[u8], limits: ImageLimits) -> Result<RgbImage, PreprocessError> {
    decode(ImageReader::new(Cursor::new(bytes)), limits, Exif::Apply)
}

/// [`load_image_bytes`] with EXIF orientation applied or ignored.
pub fn load_image_bytes_with(
    bytes: &[u8],
    limits: ImageLimits,
    exif: Exif,
) -> Result<RgbImage, PreprocessError> {
    decode(ImageReader::new(Cursor::new(bytes)), limits, exif)
}

fn decode<R: BufRead + Seek>(
    reader: ImageReader<R>,
    limits: ImageLimits,
    exif: Exif,
) -> Result<RgbImage, PreprocessError> {
    let err = |message: String| PreprocessError::Image {
        path: "<memory>".into(),
        message,
    };
    let mut reader = reader
        .with_guessed_format()
        .map_err(|e| err(e.to_string()))?;
    if reader.format().is_none() {
        return Err(err(
            "not an image format quantscope can read (PNG, JPEG, BMP, WebP, GIF)".into(),
        ));
    }
    let mut l = image::Limits::default();
    // Sides are checked below with a clearer message; the allocation cap guards decoding.
    l.max_alloc = Some(limits.max_alloc_bytes);
    reader.limits(l);
    let mut decoder = reader.into_decoder().map_err(|e| err(e.to_string()))?;
    let (w, h) = decoder.dimensions();
    if w > limits.max_side || h > limits.max_side {
        return Err(PreprocessError::TooLarge {
            width: w,
            height: h,
            max: limits.max_side,
        });
    }
    if w == 0 || h == 0 {
        return Err(err(format!("image has no pixels ({w}x{h})")));
    }
    let orientation = decoder.orientation().map_err(|e| err(e.to_string()))?;
    let mut img = image::DynamicImage::from_decoder(decoder).map_err(|e| err(e.to_string()))?;
    if exif == Exif::Apply {
        img.apply_orientation(orientation);
    }
    // Alpha is dropped (composited on nothing): models take RGB.
    Ok(img.to_rgb8())
}
