//! Preprocessing against hand-computed tensors.

mod common;

use image::{ImageEncoder, Rgb, RgbImage};
use quantscope::model::{DType, Model};
use quantscope::preprocess::*;
use std::path::PathBuf;

fn spec(
    h: usize,
    w: usize,
    c: usize,
    dtype: DType,
    quant: Option<(f32, i64)>,
    layout: Layout,
) -> InputSpec {
    let shape = match layout {
        Layout::Nhwc => vec![1, h as i32, w as i32, c as i32],
        Layout::Nchw => vec![1, c as i32, h as i32, w as i32],
    };
    InputSpec {
        name: "x".into(),
        tensor_index: 0,
        dtype,
        shape,
        height: h,
        width: w,
        channels: c,
        layout,
        quant,
    }
}

fn pp(range: ValueRange) -> Preprocess {
    Preprocess {
        resize: ResizeMode::Stretch,
        crop_fraction: 1.0,
        filter: Filter::Area,
        pad_color: [0, 0, 0],
        channels: ChannelOrder::Rgb,
        layout: Layout::Nhwc,
        range,
        resize_lib: ResizeLib::Quantscope,
        crop_rule: None,
        shorter_side: None,
        exif: Exif::Apply,
        pipeline: None,
    }
}

/// 4x4 image: pixel (x, y) = (10x + 2y, 100 + 2x, 200 - 2y): 2x2 block means are integers.
fn img4() -> RgbImage {
    RgbImage::from_fn(4, 4, |x, y| {
        Rgb([
            (10 * x + 2 * y) as u8,
            (100 + 2 * x) as u8,
            (200 - 2 * y) as u8,
        ])
    })
}

fn repo(p: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(p)
}

#[test]
fn area_downscale_then_int8_quantization() {
    // 2x2 output: each value is the mean of a 2x2 block. Block (0,0) red: (0+2+10+12)/4 = 6.
    // [0,1] with scale 1/255, zp -128: q = round(6/255 / (1/255)) - 128 = -122.
    let s = spec(2, 2, 3, DType::I8, Some((1.0 / 255.0, -128)), Layout::Nhwc);
    let p = prepare(&img4(), &s, &pp(ValueRange::Unit)).unwrap();
    let InputTensor::I8(q) = &p.tensor else {
        panic!("int8 expected")
    };
    assert_eq!(q.shape(), &[1, 2, 2, 3]);
    assert_eq!(q[[0, 0, 0, 0]], -122);
    // Red of block (x=1, y=0): (20+22+30+32)/4 = 26.
    assert_eq!(q[[0, 0, 1, 0]] as i32, 26 - 128);
    // Green of block (x=0, y=1): (100+102+100+102)/4 = 101.
    assert_eq!(q[[0, 1, 0, 1]] as i32, 101 - 128);
    // Blue of block (x=0, y=1): y in 2..4: (196+196+194+194)/4 = 195.
    assert_eq!(q[[0, 1, 0, 2]] as i32, 195 - 128);
    assert!((p.real[[0, 0, 0, 0]] - 6.0 / 255.0).abs() < 1e-7);
    assert_eq!(p.clipped_fraction, 0.0);
}

#[test]
fn bgr_nchw_and_signed_range() {
    let mut s = spec(2, 2, 3, DType::F32, None, Layout::Nchw);
    s.layout = Layout::Nchw;
    let mut p = pp(ValueRange::Signed);
    p.channels = ChannelOrder::Bgr;
    p.layout = Layout::Nchw;
    let out = prepare(&img4(), &s, &p).unwrap();
    let InputTensor::F32(t) = &out.tensor else {
        panic!()
    };
    assert_eq!(t.shape(), &[1, 3, 2, 2]);
    // Channel 0 is blue: block (0,0) blue = (200+200+198+198)/4 = 199 -> (199-127.5)/127.5.
    assert!((t[[0, 0, 0, 0]] - (199.0 - 127.5) / 127.5).abs() < 1e-6);
    // Channel 2 is red: 6 -> (6-127.5)/127.5.
    assert!((t[[0, 2, 0, 0]] - (6.0 - 127.5) / 127.5).abs() < 1e-6);
}

#[test]
fn letterbox_and_center_crop_geometry() {
    // 4 wide x 2 high image of constant rows into 4x4: scale 1, rows 1..3 hold the image.
    let img = RgbImage::from_fn(4, 2, |x, _| Rgb([50 + x as u8, 0, 0]));
    let s = spec(4, 4, 3, DType::F32, None, Layout::Nhwc);
    let mut p = pp(ValueRange::Raw);
    p.resize = ResizeMode::Letterbox;
    p.pad_color = [7, 7, 7];
    let out = prepare(&img, &s, &p).unwrap();
    let InputTensor::F32(t) = &out.tensor else {
        panic!()
    };
    assert_eq!(t[[0, 0, 2, 0]], 7.0);
    assert_eq!(t[[0, 1, 2, 0]], 52.0);
    assert_eq!(t[[0, 2, 3, 0]], 53.0);
    assert_eq!(t[[0, 3, 0, 0]], 7.0);
    // Centre crop to 2x2 of the same image: the middle 2x2 (x = 1, 2) unchanged by area.
    let s = spec(2, 2, 3, DType::F32, None, Layout::Nhwc);
    p.resize = ResizeMode::CenterCrop;
    let out = prepare(&img, &s, &p).unwrap();
    let InputTensor::F32(t) = &out.tensor else {
        panic!()
    };
    assert_eq!((t[[0, 0, 0, 0]], t[[0, 0, 1, 0]]), (51.0, 52.0));
}

#[test]
fn grayscale_uses_bt601_luma() {
    let img = RgbImage::from_pixel(1, 1, Rgb([100, 200, 50]));
    let s = spec(1, 1, 1, DType::F32, None, Layout::Nhwc);
    let out = prepare(&img, &s, &pp(ValueRange::Raw)).unwrap();
    let InputTensor::F32(t) = &out.tensor else {
        panic!()
    };
    assert!((t[[0, 0, 0, 0]] - (0.299 * 100.0 + 0.587 * 200.0 + 0.114 * 50.0)).abs() < 1e-4);
}

#[test]
fn exif_orientation_is_applied() {
    // A 2x1 PNG (red, blue) with EXIF orientation 6 (rotate 90 clockwise) decodes as 1x2.
    let exif: Vec<u8> = vec![
        b'I', b'I', 0x2A, 0, 8, 0, 0, 0, 1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0,
    ];
    let mut png = Vec::new();
    let mut enc = image::codecs::png::PngEncoder::new(&mut png);
    enc.set_exif_metadata(exif).unwrap();
    enc.write_image(
        &[255, 0, 0, 0, 0, 255],
        2,
        1,
        image::ExtendedColorType::Rgb8,
    )
    .unwrap();
    let img = load_image_bytes(&png, ImageLimits::default()).unwrap();
    assert_eq!(img.dimensions(), (1, 2));
    assert_eq!(img.get_pixel(0, 0).0, [255, 0, 0]);
    assert_eq!(img.get_pixel(0, 1).0, [0, 0, 255]);
}

#[test]
fn hostile_images_are_errors() {
    assert!(load_image_bytes(b"not an image at all", ImageLimits::default()).is_err());
    let img = RgbImage::new(64, 8);
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    let e = load_image_bytes(
        &png,
        ImageLimits {
            max_side: 32,
            max_alloc_bytes: 1 << 20,
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("64"), "{e}");
    assert!(load_image_bytes(&png[..png.len() / 2], ImageLimits::default()).is_err());
}

#[test]
fn defaults_come_from_quantization_twin_or_metadata() {
    let int8 = Model::open(repo("assets/digits_int8.tflite")).unwrap();
    let f32m = Model::open(repo("assets/digits_f32.tflite")).unwrap();
    let (p, why) = detect_defaults(&int8, 0, None).unwrap();
    assert_eq!(p.range, ValueRange::Unit, "{why:?}");
    assert!(
        why.iter()
            .any(|w| w.contains("the model's input quantization")),
        "{why:?}"
    );
    let (p, why) = detect_defaults(&f32m, 0, None).unwrap();
    assert_eq!(p.range, ValueRange::Unit);
    assert!(why.iter().any(|w| w.contains("assumed")), "{why:?}");
    let (_, why) = detect_defaults(&f32m, 0, Some(&int8)).unwrap();
    assert!(why.iter().any(|w| w.contains("paired model")), "{why:?}");
}

/// A real model's TFLITE_METADATA normalization (mean = std = 127.5) means inputs in [-1, 1].
#[test]
#[ignore = "needs ../shared"]
fn shared_face_detection_metadata_gives_signed_range() {
    let face = common::shared_file("../shared/models/real/face_detection_short_range.tflite");
    let m = Model::open(face).unwrap();
    let md = m
        .tflite_metadata()
        .expect("face detection has TFLITE_METADATA");
    assert_eq!(md.inputs[0].mean, vec![127.5]);
    assert_eq!(md.inputs[0].std, vec![127.5]);
    let (p, why) = detect_defaults(&m, 0, None).unwrap();
    assert_eq!(p.range, ValueRange::Signed, "{why:?}");
}

#[test]
fn mismatch_warnings_name_the_numbers() {
    let img = img4();
    // int8 input calibrated for [0,1]; feeding [-1,1] clips the negative half.
    let s = spec(2, 2, 3, DType::I8, Some((1.0 / 255.0, -128)), Layout::Nhwc);
    let out = prepare(&img, &s, &pp(ValueRange::Signed)).unwrap();
    assert!(out.clipped_fraction > 0.3, "{}", out.clipped_fraction);
    assert!(
        out.warnings
            .iter()
            .any(|w| w.contains("outside what the int8 input can represent")),
        "{:?}",
        out.warnings
    );
    // uint8 input that wants raw 0..255 (scale 1, zp 0) fed [0,1] values: two levels used.
    let s = spec(2, 2, 3, DType::U8, Some((1.0, 0)), Layout::Nhwc);
    let out = prepare(&img, &s, &pp(ValueRange::Unit)).unwrap();
    assert!(out.levels_used <= 2);
    assert!(
        out.warnings.iter().any(|w| w.contains("levels are used")),
        "{:?}",
        out.warnings
    );
    // The right mapping warns about nothing.
    let out = prepare(&img, &s, &pp(ValueRange::Raw)).unwrap();
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);
}
