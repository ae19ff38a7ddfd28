//! Library-exact resampling against the libraries themselves: Pillow, OpenCV, TensorFlow and
//! torchvision results on real photos (tests/fixtures/make_preprocess_oracle.py). Every
//! `--resize-lib`/`--filter` combination must be within 1 level of the library everywhere.

use quantscope::model::DType;
use quantscope::preprocess::libs::{self, Image};
use quantscope::preprocess::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/preprocess_oracle")
}

fn manifest() -> Vec<Value> {
    let m: Value =
        serde_json::from_str(&std::fs::read_to_string(dir().join("manifest.json")).unwrap())
            .unwrap();
    m["cases"].as_array().unwrap().clone()
}

/// A source PNG as stored (1 channel for grayscale photos, else 3).
fn source(name: &str) -> Image {
    let img = image::open(dir().join("sources").join(name)).unwrap();
    match img {
        image::DynamicImage::ImageLuma8(g) => {
            Image::from_u8(g.width() as usize, g.height() as usize, 1, g.as_raw())
        }
        other => {
            let rgb = other.to_rgb8();
            Image::from_u8(rgb.width() as usize, rgb.height() as usize, 3, rgb.as_raw())
        }
    }
}

/// The reference values on the 0..255 scale.
fn reference(case: &Value) -> Vec<f32> {
    let path = dir().join(case["file"].as_str().unwrap());
    let scale = case["value_scale"].as_f64().unwrap() as f32;
    if scale == 1.0 {
        let a: ndarray::ArrayD<u8> = ndarray_npy::read_npy(&path).unwrap();
        a.iter().map(|&v| v as f32).collect()
    } else {
        let a: ndarray::ArrayD<u16> = ndarray_npy::read_npy(&path).unwrap();
        a.iter().map(|&v| v as f32 * scale).collect()
    }
}

/// Counts (values checked, exact, max |diff|) of `ours` against `want`; panics past 1 level.
fn check(case: &str, ours: &[f32], want: &[f32], tol: f32) -> (usize, usize, f32) {
    assert_eq!(ours.len(), want.len(), "{case}: size");
    let mut worst = (0f32, 0usize);
    let mut exact = 0;
    for (i, (a, b)) in ours.iter().zip(want).enumerate() {
        let d = (a - b).abs();
        if d > worst.0 {
            worst = (d, i);
        }
        if d <= tol - 1.0 {
            exact += 1;
        }
    }
    assert!(
        worst.0 <= tol,
        "{case}: |diff| {} at value {} (ours {}, library {})",
        worst.0,
        worst.1,
        ours[worst.1],
        want[worst.1]
    );
    (ours.len(), exact, worst.0)
}

fn resize_combo(lib: &str, filter: &str) {
    let rl = ResizeLib::parse(lib).unwrap();
    let f = match filter {
        "nearest" => Filter::Nearest,
        "bilinear" => Filter::Bilinear,
        "bicubic" => Filter::Bicubic,
        "area" => Filter::Area,
        _ => Filter::Lanczos,
    };
    // TF results are stored at 1/256 of a level.
    let tol = if rl == ResizeLib::Tf {
        1.0 + 1.0 / 256.0
    } else {
        1.0
    };
    let (mut n, mut exact, mut cases, mut worst) = (0, 0, 0, 0f32);
    for c in manifest()
        .iter()
        .filter(|c| c["kind"] == "resize" && c["lib"] == lib && c["filter"] == filter)
    {
        let src = source(c["source"].as_str().unwrap());
        let (w, h) = (c["width"].as_u64().unwrap(), c["height"].as_u64().unwrap());
        let mut ours = libs::resize(&src, w as usize, h as usize, rl, f).unwrap();
        // TF's float results overshoot 0..255 (bicubic); the fixture stores them clipped.
        ours.data.iter_mut().for_each(|v| *v = v.clamp(0.0, 255.0));
        let (k, e, d) = check(c["case"].as_str().unwrap(), &ours.data, &reference(c), tol);
        n += k;
        exact += e;
        worst = worst.max(d);
        cases += 1;
    }
    eprintln!(
        "{lib} {filter}: {cases} cases, {n} values, {:.3}% exact, max |diff| {worst}",
        100.0 * exact as f64 / n as f64
    );
    // 3 RGB + 2 grayscale sources, down, mixed and up sizes.
    assert!(cases >= 7, "{lib} {filter}: only {cases} cases");
    assert!(n > 100_000, "{lib} {filter}: only {n} values checked");
}

macro_rules! combos {
    ($($name:ident: $lib:literal $filter:literal,)*) => {
        $(#[test] fn $name() { resize_combo($lib, $filter); })*
    };
}

combos! {
    pillow_nearest: "pillow" "nearest",
    pillow_bilinear: "pillow" "bilinear",
    pillow_bicubic: "pillow" "bicubic",
    pillow_box: "pillow" "area",
    pillow_lanczos: "pillow" "lanczos",
    opencv_nearest: "opencv" "nearest",
    opencv_linear: "opencv" "bilinear",
    opencv_cubic: "opencv" "bicubic",
    opencv_area: "opencv" "area",
    opencv_lanczos4: "opencv" "lanczos",
    tf_nearest: "tf" "nearest",
    tf_bilinear: "tf" "bilinear",
    tf_bicubic: "tf" "bicubic",
    tf_area: "tf" "area",
    torchvision_nearest: "torchvision" "nearest",
    torchvision_bilinear: "torchvision" "bilinear",
    torchvision_bicubic: "torchvision" "bicubic",
}

/// Every filter a library offers has its test above (keeps the list honest).
#[test]
fn every_offered_combination_has_fixtures() {
    let m = manifest();
    let mut n = 0;
    for lib in ResizeLib::ALL
        .into_iter()
        .filter(|l| *l != ResizeLib::Quantscope)
    {
        for (f, _) in lib.filters() {
            let name = format!("{f:?}").to_lowercase();
            assert!(
                m.iter()
                    .any(|c| c["lib"] == lib.name() && c["filter"] == name.as_str()),
                "{} {name}: no fixture",
                lib.name()
            );
            n += 1;
        }
    }
    assert_eq!(n, 17);
}

fn float_spec(w: usize, h: usize) -> InputSpec {
    InputSpec {
        name: "x".into(),
        tensor_index: 0,
        dtype: DType::F32,
        shape: vec![1, h as i32, w as i32, 3],
        height: h,
        width: w,
        channels: 3,
        layout: Layout::Nhwc,
        quant: None,
    }
}

fn load_rgb(p: &Path) -> image::RgbImage {
    load_image_with(p, ImageLimits::default(), Exif::Ignore).unwrap()
}

/// Presets against the libraries' own whole pipelines (crop conventions, shorter-side resize).
#[test]
fn presets_match_library_pipelines() {
    let spec = float_spec(224, 224);
    let mut checked = 0;
    let mut pipelines = std::collections::BTreeSet::new();
    for c in manifest().iter().filter(|c| c["kind"] == "pipeline") {
        let name = c["pipeline"].as_str().unwrap();
        let (mut pp, _) = base();
        match name {
            "pillow-efficientnet-eval" => apply_preset("efficientnet-lite", &mut pp, 224, 224),
            "tf-central-crop" => apply_preset("tf-hub-efficientnet", &mut pp, 224, 224),
            other => apply_preset(other, &mut pp, 224, 224),
        }
        .unwrap();
        let img = load_rgb(&dir().join("sources").join(c["source"].as_str().unwrap()));
        let p = prepare(&img, &spec, &pp).unwrap();
        let ours: Vec<f32> = (0..224 * 224 * 3)
            .map(|i| p.planes[i % 3][i / 3].clamp(0.0, 255.0))
            .collect();
        let tol = if pp.resize_lib == ResizeLib::Tf {
            1.0 + 1.0 / 256.0
        } else {
            1.0
        };
        let (k, e, d) = check(c["case"].as_str().unwrap(), &ours, &reference(c), tol);
        eprintln!(
            "{}: {k} values, {e} exact, max |diff| {d}; steps {:?}",
            c["case"], p.steps
        );
        checked += k;
        pipelines.insert(name.to_string());
    }
    assert_eq!(pipelines.len(), 5, "{pipelines:?}");
    assert_eq!(checked, 10 * 224 * 224 * 3);
}

fn base() -> (Preprocess, ()) {
    (
        Preprocess {
            resize: ResizeMode::Stretch,
            crop_fraction: 1.0,
            filter: Filter::Bilinear,
            pad_color: [0; 3],
            channels: ChannelOrder::Rgb,
            layout: Layout::Nhwc,
            range: ValueRange::Raw,
            resize_lib: ResizeLib::Quantscope,
            crop_rule: None,
            shorter_side: None,
            exif: Exif::Apply,
            pipeline: None,
        },
        (),
    )
}

/// An EXIF-rotated JPEG (Orientation 6) decodes as each library does: `--exif ignore` as
/// `PIL.Image.open`, `--exif apply` as `ImageOps.exif_transpose` and as `cv2.imread`.
#[test]
fn exif_orientation_as_pillow_and_opencv_decode_it() {
    let m: Value =
        serde_json::from_str(&std::fs::read_to_string(dir().join("exif.json")).unwrap()).unwrap();
    let path = dir().join(m["source"].as_str().unwrap());
    let mut checked = 0;
    for c in m["cases"].as_array().unwrap() {
        let exif = if c["exif"] == "apply" {
            Exif::Apply
        } else {
            Exif::Ignore
        };
        let img = load_image_with(&path, ImageLimits::default(), exif).unwrap();
        let want: ndarray::ArrayD<u8> =
            ndarray_npy::read_npy(dir().join(c["file"].as_str().unwrap())).unwrap();
        assert_eq!(
            [img.height() as usize, img.width() as usize, 3],
            want.shape(),
            "{}",
            c["case"]
        );
        // The orientation is exact (the shape above and the values below); the JPEG decoders
        // themselves (zune-jpeg vs libjpeg-turbo IDCT) differ by a level or two on a few values.
        let ours: Vec<f32> = img.as_raw().iter().map(|&v| v as f32).collect();
        let want: Vec<f32> = want.iter().map(|&v| v as f32).collect();
        let (k, _, d) = check(c["case"].as_str().unwrap(), &ours, &want, 3.0);
        let within1 = ours
            .iter()
            .zip(&want)
            .filter(|(a, b)| (*a - *b).abs() <= 1.0)
            .count();
        eprintln!(
            "exif {}: {k} values, {within1} within 1 level, max |diff| {d}",
            c["case"]
        );
        assert!(
            within1 as f64 >= 0.99 * k as f64,
            "{}: {within1} of {k}",
            c["case"]
        );
        checked += k;
    }
    assert_eq!(checked, 3 * 240 * 180 * 3);
}
