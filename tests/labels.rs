//! Labels from TFLite metadata: the metadata's associated files, the zip appended to the model,
//! the resolution order (explicit file > metadata > file beside the model), the CLI's
//! `inspect` and `compare`, and corrupt metadata or archives (a warning, never a panic).
//! The fixture comes from tests/fixtures/make_metadata_fixture.py.

mod common;

use quantscope::compare::{Comparator, CompareOptions};
use quantscope::labels::{self, LabelSet};
use quantscope::model::associated::AssociatedFileError;
use quantscope::model::metadata::AssociatedFileType;
use quantscope::model::Model;
use quantscope::preprocess::{load_image, ImageLimits};
use quantscope::report::InspectReport;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

const DIGITS: [&str; 10] = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
];

fn repo(p: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(p)
}

fn fixture() -> PathBuf {
    repo("tests/fixtures/models/digits_meta_int8.tflite")
}

fn names(l: Option<&labels::Labels>) -> Option<Vec<&str>> {
    l.map(|l| l.names.iter().map(String::as_str).collect())
}

/// Where the appended zip starts (its first local file header).
fn zip_start(bytes: &[u8]) -> usize {
    let p = bytes.windows(4).position(|w| w == b"PK\x03\x04").unwrap();
    assert!(
        p > bytes.len() / 2,
        "a zip signature inside the model at {p}?"
    );
    p
}

fn resolve_bytes(bytes: Vec<u8>) -> Option<LabelSet> {
    let m = Model::from_bytes(bytes).ok()?;
    // Everything that reads the metadata or the archive: none may panic.
    serde_json::to_string(&InspectReport::new(&m, "mem")).unwrap();
    let _ = m.packed_files();
    Some(labels::resolve(None, &m, None).unwrap())
}

#[test]
fn metadata_fields_and_associated_files_are_read() {
    let m = Model::open(fixture()).unwrap();
    let md = m.tflite_metadata().unwrap();
    assert_eq!(md.about.name.as_deref(), Some("digits classifier"));
    assert_eq!(md.about.version.as_deref(), Some("v1"));
    assert_eq!(md.about.author.as_deref(), Some("quantscope tests"));
    assert_eq!(md.about.license.as_deref(), Some("MIT OR Apache-2.0"));
    assert_eq!(md.inputs.len(), 1);
    assert_eq!(
        (md.inputs[0].mean.as_slice(), md.inputs[0].std.as_slice()),
        (&[0.0][..], &[255.0][..])
    );
    assert_eq!(md.outputs.len(), 1);
    assert_eq!(md.outputs[0].name.as_deref(), Some("probability"));
    let files = &md.outputs[0].associated_files;
    assert_eq!(files.len(), 2);
    assert_eq!(files[0].name, "labels.txt");
    assert_eq!(files[0].file_type, AssociatedFileType::TensorAxisLabels);
    assert_eq!(files[0].locale.as_deref(), Some("en"));
    assert_eq!(files[0].description.as_deref(), Some("digit names"));
    assert_eq!(files[1].locale.as_deref(), Some("fr"));
    assert_eq!(md.associated_files.len(), 1);
    assert_eq!(
        md.associated_files[0].file_type,
        AssociatedFileType::Descriptions
    );
    assert_eq!(md.all_associated_files().len(), 3);
    // The first TENSOR_AXIS_LABELS file is the default; others differ by locale.
    assert_eq!(md.output_axis_labels(0).unwrap().name, "labels.txt");
    assert!(md.output_axis_labels(1).is_none());
}

#[test]
fn the_appended_zip_is_listed_and_read() {
    let m = Model::open(fixture()).unwrap();
    let packed = m.packed_files().unwrap();
    let list: Vec<(&str, &str)> = packed
        .iter()
        .map(|p| (p.name.as_str(), p.compression.as_str()))
        .collect();
    assert_eq!(
        list,
        [
            ("labels.txt", "deflated"),
            ("labels_fr.txt", "stored"),
            ("README.txt", "stored")
        ]
    );
    let text = String::from_utf8(m.associated_file("labels.txt").unwrap()).unwrap();
    assert_eq!(text, DIGITS.join("\n") + "\n");
    let fr = String::from_utf8(m.associated_file("labels_fr.txt").unwrap()).unwrap();
    assert!(fr.starts_with("zéro\nun\n"));
    assert!(matches!(
        m.associated_file("nope.txt"),
        Err(AssociatedFileError::Missing(_))
    ));
    // A model without an archive says so.
    let plain = Model::open(repo("assets/digits_int8.tflite")).unwrap();
    assert!(matches!(
        plain.packed_files(),
        Err(AssociatedFileError::NoArchive)
    ));
    // The size limit holds before anything is inflated.
    let e = quantscope::model::associated::read(m.file_bytes(), "labels.txt", 10).unwrap_err();
    assert!(e.to_string().contains("limit"), "{e}");
}

#[test]
fn explicit_file_beats_metadata_beats_the_file_beside_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let with_md = dir.path().join("digits_meta_int8.tflite");
    std::fs::copy(fixture(), &with_md).unwrap();
    let side: Vec<String> = (0..10).map(|i| format!("side{i}")).collect();
    std::fs::write(dir.path().join("digits_meta_labels.txt"), side.join("\n")).unwrap();
    let explicit = dir.path().join("mine.txt");
    std::fs::write(&explicit, "a\nb\nc\n").unwrap();

    let m = Model::open(&with_md).unwrap();
    let s = labels::resolve(None, &m, Some(&with_md)).unwrap();
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    assert_eq!(names(s.for_output(0)).unwrap(), DIGITS);
    assert_eq!(s.for_output(0).unwrap().source, "metadata: labels.txt");
    assert_eq!(names(s.primary()).unwrap(), DIGITS);
    // The model's own path is used when none is given.
    assert_eq!(
        names(labels::resolve(None, &m, None).unwrap().primary()).unwrap(),
        DIGITS
    );

    let s = labels::resolve(Some(&explicit), &m, Some(&with_md)).unwrap();
    assert_eq!(names(s.for_output(0)).unwrap(), ["a", "b", "c"]);
    assert!(s.for_output(0).unwrap().source.starts_with("file: "));

    // Without metadata the file beside the model applies.
    let plain = dir.path().join("digits_meta_f32.tflite");
    std::fs::copy(repo("assets/digits_f32.tflite"), &plain).unwrap();
    let s = labels::resolve(None, &Model::open(&plain).unwrap(), Some(&plain)).unwrap();
    assert_eq!(s.for_output(0).unwrap().names, side);
    assert!(s
        .for_output(0)
        .unwrap()
        .source
        .starts_with("beside the model: "));

    // No source at all.
    let s = labels::resolve(
        None,
        &Model::open(fixture()).unwrap(),
        Some(Path::new("/nonexistent/x.tflite")),
    );
    assert_eq!(names(s.unwrap().primary()).unwrap(), DIGITS);
    assert!(labels::resolve(Some(Path::new("/nonexistent/labels.txt")), &m, None).is_err());
}

#[test]
fn comparison_top_k_uses_the_metadata_labels() {
    let m = Model::open(fixture()).unwrap();
    let opts = CompareOptions {
        label_set: labels::resolve(None, &m, None).unwrap(),
        layers: false,
        try_alternatives: false,
        ..Default::default()
    };
    let mut cmp = Comparator::new(None, &m, opts).unwrap();
    let img = load_image(
        &repo("assets/samples/digit_2_0.png"),
        ImageLimits::default(),
    )
    .unwrap();
    let (pp, why) = quantscope::preprocess::detect_defaults(&m, 0, None).unwrap();
    assert!(
        why.iter().any(|w| w.contains("NormalizationOptions")),
        "{why:?}"
    );
    let r = cmp.compare(&img, "digit_2_0", &pp, why).unwrap();
    let c = r.outputs[0].classification.as_ref().unwrap();
    assert_eq!(c.labels_source.as_deref(), Some("metadata: labels.txt"));
    assert_eq!(c.top_k_float[0].label.as_deref(), Some("two"));
    for s in c.top_k_float.iter().chain(&c.top_k_quant) {
        assert_eq!(s.label.as_deref(), Some(DIGITS[s.index]));
    }
}

#[test]
fn cli_compare_and_inspect_say_where_labels_come_from() {
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_quantscope"))
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let model = "tests/fixtures/models/digits_meta_int8.tflite";
    let img = "assets/samples/digit_2_0.png";
    let v: Value = serde_json::from_str(&run(&[
        "compare",
        model,
        "--image",
        img,
        "--no-layers",
        "--json",
    ]))
    .unwrap();
    let c = &v["outputs"][0]["classification"];
    assert_eq!(c["labels_source"], "metadata: labels.txt");
    assert_eq!(c["top_k_float"][0]["label"], "two");
    let text = run(&["compare", model, "--image", img, "--no-layers"]);
    assert!(text.contains("labels: metadata: labels.txt"), "{text}");
    assert!(text.contains("float top-k: two:"), "{text}");
    let v: Value = serde_json::from_str(&run(&[
        "compare",
        model,
        "--image",
        img,
        "--no-layers",
        "--json",
        "--labels",
        "assets/digits_labels.txt",
    ]))
    .unwrap();
    let c = &v["outputs"][0]["classification"];
    assert_eq!(c["labels_source"], "file: assets/digits_labels.txt");
    assert_eq!(c["top_k_float"][0]["label"], "2");

    let text = run(&["inspect", model]);
    for want in [
        "TFLite metadata:",
        "name: digits classifier",
        "input 0 image: normalization mean [0.0] std [255.0]",
        "labels.txt (TENSOR_AXIS_LABELS, locale en) on output 0 'StatefulPartitionedCall_1:0': 50 bytes - digit names",
        "README.txt (DESCRIPTIONS) on model: 83 bytes",
        "archive: labels.txt (50 bytes, deflated)",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    let v: Value = serde_json::from_str(&run(&["inspect", model, "--json"])).unwrap();
    let md = &v["tflite_metadata"];
    assert_eq!(md["inputs"][0]["std"][0], 255.0);
    let files = md["associated_files"].as_array().unwrap();
    let labels = files.iter().find(|f| f["name"] == "labels.txt").unwrap();
    assert_eq!(labels["type"], "TENSOR_AXIS_LABELS");
    assert_eq!(labels["attached_to"], "output 0");
    assert_eq!(labels["tensor"], "StatefulPartitionedCall_1:0");
    assert_eq!(labels["bytes"], 50);
    assert_eq!(md["archive"].as_array().unwrap().len(), 3);
    // A model without metadata has no such section.
    let v: Value =
        serde_json::from_str(&run(&["inspect", "assets/digits_int8.tflite", "--json"])).unwrap();
    assert!(v.get("tflite_metadata").is_none());
}

#[test]
#[ignore = "needs ../shared"]
fn shared_selfie_segmentation_labels_come_from_its_metadata() {
    let p = common::shared_file("../shared/models/real/selfie_segmentation.tflite");
    let m = Model::open(&p).unwrap();
    let s = labels::resolve(None, &m, Some(&p)).unwrap();
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    assert_eq!(names(s.for_output(0)).unwrap(), ["selfie"]);
    assert_eq!(s.for_output(0).unwrap().source, "metadata: labels.txt");
    let packed = m.packed_files().unwrap();
    assert_eq!(packed.len(), 1);
    assert_eq!(
        (packed[0].name.as_str(), packed[0].compression.as_str()),
        ("labels.txt", "stored")
    );
}

#[test]
fn a_truncated_or_corrupt_archive_is_a_warning() {
    let full = std::fs::read(fixture()).unwrap();
    let start = zip_start(&full);
    // No archive at all: the metadata names a file nobody packed.
    let s = resolve_bytes(full[..start].to_vec()).unwrap();
    assert!(s.primary().is_none());
    assert!(s.warnings[0].contains("no zip archive"), "{:?}", s.warnings);
    // Every truncation inside the archive, and every byte of it flipped: the labels are the
    // right ones or absent with a warning.
    let mut variants: Vec<Vec<u8>> = (start..full.len()).map(|n| full[..n].to_vec()).collect();
    for i in start..full.len() {
        let mut b = full.clone();
        b[i] ^= 0x5a;
        variants.push(b);
    }
    for b in variants {
        let s = resolve_bytes(b).unwrap();
        match names(s.primary()) {
            Some(n) => assert_eq!(n, DIGITS),
            None => assert!(!s.warnings.is_empty()),
        }
    }
}

#[test]
fn corrupt_metadata_never_panics() {
    let full = std::fs::read(fixture()).unwrap();
    let m = Model::open(fixture()).unwrap();
    let entry = m
        .metadata
        .iter()
        .find(|e| e.name == "TFLITE_METADATA")
        .unwrap();
    let buf = &m.buffers[entry.buffer as usize];
    let (off, len) = (buf.offset, buf.len);
    for i in off..off + len {
        for x in [0x01u8, 0x80, 0xff] {
            let mut b = full.clone();
            b[i] ^= x;
            let _ = resolve_bytes(b);
        }
    }
    // Garbage and zeros in place of the metadata: no labels, no panic.
    for fill in [0u8, 0xff, 0x41] {
        let mut b = full.clone();
        b[off..off + len].fill(fill);
        let s = resolve_bytes(b).unwrap();
        assert!(s.primary().is_none());
    }
}
