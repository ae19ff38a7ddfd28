//! Resampling and cropping exactly as the libraries users preprocess with: Pillow, OpenCV,
//! TensorFlow and torchvision. Each is a re-implementation of that library's own kernel (no
//! crate reproduces them bit for bit), tested against the library itself
//! (tests/preprocess_libs.rs, fixtures from tests/fixtures/make_preprocess_oracle.py).

mod opencv;
mod pillow;
mod tf;

pub use super::resize::Filter;
use super::PreprocessError;
use serde::Serialize;

/// Whose resampler reproduces the user's pipeline.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ResizeLib {
    /// quantscope's own float resampler (half-pixel, no antialiasing).
    #[default]
    Quantscope,
    /// `PIL.Image.resize` (also torchvision transforms on PIL images and Keras `load_img`).
    Pillow,
    /// `cv2.resize`.
    Opencv,
    /// `tf.image.resize` (antialias=False); float output.
    Tf,
    /// torchvision `resize` on uint8 tensors (antialias=True).
    Torchvision,
}

impl ResizeLib {
    pub const ALL: [ResizeLib; 5] = [
        ResizeLib::Quantscope,
        ResizeLib::Pillow,
        ResizeLib::Opencv,
        ResizeLib::Tf,
        ResizeLib::Torchvision,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ResizeLib::Quantscope => "quantscope",
            ResizeLib::Pillow => "pillow",
            ResizeLib::Opencv => "opencv",
            ResizeLib::Tf => "tf",
            ResizeLib::Torchvision => "torchvision",
        }
    }

    pub fn parse(s: &str) -> Option<ResizeLib> {
        ResizeLib::ALL.into_iter().find(|l| l.name() == s)
    }

    /// The filters this library offers, and what the library calls them.
    pub fn filters(self) -> &'static [(Filter, &'static str)] {
        use Filter::*;
        match self {
            ResizeLib::Quantscope => {
                &[(Nearest, "nearest"), (Bilinear, "bilinear"), (Area, "area")]
            }
            ResizeLib::Pillow => &[
                (Nearest, "Image.NEAREST"),
                (Bilinear, "Image.BILINEAR"),
                (Bicubic, "Image.BICUBIC"),
                (Area, "Image.BOX"),
                (Lanczos, "Image.LANCZOS"),
            ],
            ResizeLib::Opencv => &[
                (Nearest, "cv2.INTER_NEAREST"),
                (Bilinear, "cv2.INTER_LINEAR"),
                (Bicubic, "cv2.INTER_CUBIC"),
                (Area, "cv2.INTER_AREA"),
                (Lanczos, "cv2.INTER_LANCZOS4"),
            ],
            ResizeLib::Tf => &[
                (Nearest, "method='nearest'"),
                (Bilinear, "method='bilinear'"),
                (Bicubic, "method='bicubic'"),
                (Area, "method='area'"),
            ],
            ResizeLib::Torchvision => &[
                (Nearest, "InterpolationMode.NEAREST"),
                (Bilinear, "InterpolationMode.BILINEAR, antialias=True"),
                (Bicubic, "InterpolationMode.BICUBIC, antialias=True"),
            ],
        }
    }

    /// The library's own spelling of `f`, or an error naming what it offers.
    pub fn filter_name(self, f: Filter) -> Result<&'static str, PreprocessError> {
        self.filters()
            .iter()
            .find(|(g, _)| *g == f)
            .map(|(_, n)| *n)
            .ok_or_else(|| {
                PreprocessError::Unsupported(format!(
                    "--resize-lib {} has no {:?} filter; it offers {}",
                    self.name(),
                    f,
                    self.filters()
                        .iter()
                        .map(|(g, _)| format!("{g:?}").to_lowercase())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })
    }

    /// Libraries whose result is uint8 (TF and quantscope give floats).
    pub fn rounds_to_u8(self) -> bool {
        !matches!(self, ResizeLib::Tf | ResizeLib::Quantscope)
    }
}

/// An interleaved image, values on the 0..255 scale (integers for uint8 libraries).
#[derive(Clone, Debug, PartialEq)]
pub struct Image {
    pub width: usize,
    pub height: usize,
    pub channels: usize,
    pub data: Vec<f32>,
}

impl Image {
    pub fn new(width: usize, height: usize, channels: usize) -> Image {
        Image {
            width,
            height,
            channels,
            data: vec![0.0; width * height * channels],
        }
    }

    pub fn from_u8(width: usize, height: usize, channels: usize, data: &[u8]) -> Image {
        Image {
            width,
            height,
            channels,
            data: data.iter().map(|&v| v as f32).collect(),
        }
    }

    /// Integer crop (the only kind the libraries' crop functions make).
    pub fn crop(&self, x0: usize, y0: usize, w: usize, h: usize) -> Image {
        let c = self.channels;
        let mut out = Image::new(w, h, c);
        for y in 0..h {
            let src = ((y0 + y) * self.width + x0) * c;
            out.data[y * w * c..(y + 1) * w * c].copy_from_slice(&self.data[src..src + w * c]);
        }
        out
    }

    /// Values rounded and clamped to u8 (what a uint8 library holds between steps).
    fn to_u8_values(&self) -> Image {
        let mut out = self.clone();
        out.data
            .iter_mut()
            .for_each(|v| *v = v.round().clamp(0.0, 255.0));
        out
    }
}

/// Output pixel (x, y) = source (xs[x], ys[y]).
fn gather(img: &Image, xs: &[usize], ys: &[usize]) -> Image {
    let c = img.channels;
    let mut out = Image::new(xs.len(), ys.len(), c);
    for (dy, &sy) in ys.iter().enumerate() {
        for (dx, &sx) in xs.iter().enumerate() {
            let (o, s) = ((dy * xs.len() + dx) * c, (sy * img.width + sx) * c);
            out.data[o..o + c].copy_from_slice(&img.data[s..s + c]);
        }
    }
    out
}

/// Resizes the whole of `img` to `dw` x `dh` as `lib` does with filter `f`.
pub fn resize(
    img: &Image,
    dw: usize,
    dh: usize,
    lib: ResizeLib,
    f: Filter,
) -> Result<Image, PreprocessError> {
    lib.filter_name(f)?;
    if dw == 0 || dh == 0 || img.width == 0 || img.height == 0 {
        return Err(PreprocessError::Unsupported(format!(
            "cannot resize {}x{} to {dw}x{dh}",
            img.width, img.height
        )));
    }
    if (dw, dh) == (img.width, img.height) {
        return Ok(img.clone());
    }
    let u8_in = || img.to_u8_values();
    Ok(match lib {
        ResizeLib::Quantscope => {
            let c = img.channels;
            let planes: Vec<Vec<f32>> = (0..c)
                .map(|ch| {
                    let p: Vec<f32> = img.data.iter().skip(ch).step_by(c).copied().collect();
                    let (w, h) = (img.width as f32, img.height as f32);
                    super::resize_plane(&p, img.width, img.height, (0.0, 0.0, w, h), dw, dh, f)
                })
                .collect();
            let mut out = Image::new(dw, dh, c);
            for (i, v) in out.data.iter_mut().enumerate() {
                *v = planes[i % c][i / c];
            }
            out
        }
        ResizeLib::Pillow if f == Filter::Nearest => pillow::nearest_pillow(img, dw, dh),
        ResizeLib::Pillow => pillow::convolve(&u8_in(), dw, dh, f, pillow::Precision::Pillow),
        ResizeLib::Torchvision if f == Filter::Nearest => pillow::nearest_torch(img, dw, dh),
        ResizeLib::Torchvision => pillow::convolve(&u8_in(), dw, dh, f, pillow::Precision::Torch),
        ResizeLib::Opencv => opencv::resize(&u8_in(), dw, dh, f),
        ResizeLib::Tf => tf::resize(img, dw, dh, f),
    })
}
