//! `quantscope eval`: every metric against numpy over the official interpreter
//! (tests/fixtures/make_eval_oracle.py), labels from folders and CSV, resume after a kill,
//! shards merged, clear errors.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo(p: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(p)
}

const MODELS: [&str; 4] = [
    "assets/digits_f32.tflite",
    "assets/digits_int8.tflite",
    "assets/digits_fp16.tflite",
    "assets/digits_dynamic.tflite",
];

fn eval(extra: &[&str]) -> (Value, String) {
    let out = eval_raw(extra, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "eval failed: {stderr}");
    (serde_json::from_slice(&out.stdout).unwrap(), stderr)
}

fn eval_raw(extra: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_quantscope"));
    c.current_dir(repo("")).arg("eval");
    for (k, v) in env {
        c.env(k, v);
    }
    for k in [
        "SLURM_ARRAY_TASK_ID",
        "SLURM_ARRAY_TASK_COUNT",
        "JOB_COMPLETION_INDEX",
    ] {
        if !env.iter().any(|(e, _)| e == &k) {
            c.env_remove(k);
        }
    }
    c.args(extra).output().unwrap()
}

fn models_and(rest: &[&str]) -> Vec<String> {
    MODELS
        .iter()
        .map(|s| s.to_string())
        .chain(rest.iter().map(|s| s.to_string()))
        .collect()
}

fn args(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Latency is a measurement of this run, not a result: equal reports differ only there.
fn without_latency(mut v: Value) -> Value {
    fn strip(v: &mut Value) {
        match v {
            Value::Object(m) => {
                m.remove("latency_ms");
                m.values_mut().for_each(strip);
            }
            Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    strip(&mut v);
    v
}

/// Accuracies, agreements and lists are counts: exact. Error metrics inherit the float
/// kernels' difference from the interpreter's (about 1e-7 on these outputs; engine_oracle.rs
/// allows 1e-4 of max |ref|), which moves a 115 dB SQNR by ~0.01 dB, and the dynamic-range
/// model's on-the-fly activation quantization moves its p5 SQNR by 0.06 dB: 0.1 dB, and 1e-5
/// absolute for the mean differences and KL.
fn close(ours: &Value, want: &Value, what: &str) {
    let tol = if what.contains("sqnr") {
        0.1
    } else if what.contains("diff") || what.contains("kl_") {
        1e-5
    } else {
        1e-12
    };
    match (ours.as_f64(), want.as_f64()) {
        (Some(a), Some(b)) => assert!((a - b).abs() <= tol, "{what}: ours {a}, oracle {b}"),
        _ => assert_eq!(ours, want, "{what}"),
    }
}

#[test]
fn every_metric_matches_the_official_interpreter_and_numpy() {
    let oracle: Value = serde_json::from_str(
        &std::fs::read_to_string(repo("tests/fixtures/eval_oracle/digits.json")).unwrap(),
    )
    .unwrap();
    let a = models_and(&[
        "--images",
        "tests/fixtures/eval_images",
        "--labels-from",
        "folders",
        "--json",
    ]);
    let (r, _) = eval(&args(&a));
    assert_eq!(r["images"], oracle["images"]);
    assert_eq!(r["images"].as_u64().unwrap(), 58);
    assert_eq!(r["labels_source"], "folders");
    assert!(r["preprocess"]["range"].is_string() || r["preprocess"]["range"].is_object());
    let mut checked = 0;
    let rows: Vec<(&Value, &Value)> = std::iter::once((&r["reference"], &oracle["reference"]))
        .chain(
            r["variants"]
                .as_array()
                .unwrap()
                .iter()
                .zip(oracle["variants"].as_array().unwrap()),
        )
        .collect();
    assert_eq!(rows.len(), 4);
    for (ours, want) in rows {
        let m = want["model"].as_str().unwrap();
        assert_eq!(ours["model"], want["model"]);
        assert_eq!(
            ours["file_bytes"].as_u64().unwrap(),
            std::fs::metadata(repo(m)).unwrap().len()
        );
        let consts: u64 = ours["constant_bytes"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_u64().unwrap())
            .sum();
        assert!(
            consts > 0 && consts < ours["file_bytes"].as_u64().unwrap(),
            "{m}"
        );
        assert!(ours["latency_ms"].as_f64().unwrap() > 0.0);
        for key in [
            "top1_accuracy",
            "top5_accuracy",
            "top1_agreement",
            "topk_overlap",
            "output_sqnr_db_mean",
            "output_sqnr_db_p5",
            "output_sqnr_db_worst",
            "worst_image",
            "mean_abs_diff",
            "mean_rel_diff",
            "bit_accuracy",
            "bit_confidence_diff",
            "kl_mean",
            "flips",
            "flips_lost",
        ] {
            close(&ours[key], &want[key], &format!("{m} {key}"));
            checked += 1;
        }
        let pc = ours["per_class"].as_array().unwrap();
        assert_eq!(pc.len(), want["per_class"].as_array().unwrap().len());
        assert_eq!(pc.len(), 10);
        for (o, w) in pc.iter().zip(want["per_class"].as_array().unwrap()) {
            for key in ["label", "images", "float_accuracy", "accuracy"] {
                close(&o[key], &w[key], &format!("{m} per-class {key}"));
                checked += 1;
            }
        }
    }
    // 4 models x (15 metrics + 10 classes x 4)
    assert_eq!(checked, 4 * (15 + 40));
    // The variants of the bundled example really differ from float (the oracle is not trivial).
    let v = &oracle["variants"];
    assert!(v[0]["top1_agreement"].as_f64().unwrap() < 1.0);
    assert!(
        v[0]["output_sqnr_db_mean"].as_f64().unwrap()
            < v[1]["output_sqnr_db_mean"].as_f64().unwrap()
    );
}

#[test]
fn csv_labels_give_the_same_report_as_folders_and_no_labels_measure_agreement() {
    let (folders, _) = eval(&args(&models_and(&[
        "--images",
        "tests/fixtures/eval_images",
        "--labels-from",
        "folders",
        "--json",
    ])));
    let (mut csv, _) = eval(&args(&models_and(&[
        "--images",
        "tests/fixtures/eval_images",
        "--labels-from",
        "tests/fixtures/eval_labels.csv",
        "--json",
    ])));
    assert_eq!(csv["labels_source"], "csv: tests/fixtures/eval_labels.csv");
    csv["labels_source"] = "folders".into();
    assert_eq!(without_latency(csv), without_latency(folders.clone()));
    let (none, _) = eval(&args(&models_and(&[
        "--images",
        "tests/fixtures/eval_images",
        "--json",
    ])));
    assert_eq!(none["labels_source"], Value::Null);
    for (n, f) in none["variants"]
        .as_array()
        .unwrap()
        .iter()
        .zip(folders["variants"].as_array().unwrap())
    {
        assert_eq!(n["top1_accuracy"], Value::Null);
        assert_eq!(n["top1_agreement"], f["top1_agreement"]);
        // Without labels a flip is a changed answer.
        let changed = ((1.0 - n["top1_agreement"].as_f64().unwrap()) * 58.0).round() as usize;
        assert_eq!(n["flips"].as_array().unwrap().len(), changed);
        // ... and neither lost nor gained: there is no right answer to lose.
        assert!(n["flips_lost"].as_array().unwrap().is_empty());
        assert!(n["flips_gained"].as_array().unwrap().is_empty());
    }
}

fn cache_lines(p: &Path) -> Vec<String> {
    std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn a_resumed_run_and_merged_shards_equal_the_single_run() {
    let dir = tempfile::tempdir().unwrap();
    let single = dir.path().join("single.jsonl");
    let base = models_and(&[
        "--images",
        "tests/fixtures/eval_images",
        "--labels-from",
        "folders",
        "--json",
    ]);
    let mut a = base.clone();
    a.extend(["--cache".into(), single.display().to_string()]);
    let (want, _) = eval(&args(&a));
    let want = without_latency(want);
    let lines = cache_lines(&single);
    assert_eq!(lines.len(), 1 + 58, "header + one line per image");

    // What a kill leaves: 20 complete records and a torn 21st line.
    let killed = dir.path().join("killed.jsonl");
    let mut text = lines[..21].join("\n") + "\n";
    text += &lines[21][..lines[21].len() / 2];
    std::fs::write(&killed, text).unwrap();
    let mut a = base.clone();
    a.extend(["--cache".into(), killed.display().to_string()]);
    let (resumed, _) = eval(&args(&a));
    assert_eq!(without_latency(resumed), want);
    assert_eq!(
        cache_lines(&killed).len(),
        59,
        "torn line replaced, nothing doubled"
    );
    // A second resume runs nothing and still gives the report.
    let (again, _) = eval(&args(&a));
    assert_eq!(without_latency(again), want);
    assert_eq!(cache_lines(&killed).len(), 59);

    // A real kill: start a run, kill it once it has written a record, resume.
    let real = dir.path().join("real.jsonl");
    let mut a = base.clone();
    a.extend(["--cache".into(), real.display().to_string()]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_quantscope"))
        .current_dir(repo(""))
        .arg("eval")
        .args(args(&a))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t0 = std::time::Instant::now();
    while t0.elapsed().as_secs() < 60 {
        if real.exists() && std::fs::read_to_string(&real).unwrap().lines().count() >= 3 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    child.kill().ok();
    child.wait().unwrap();
    let (resumed, _) = eval(&args(&a));
    assert_eq!(without_latency(resumed), want);

    // Three shards as separate processes (one from Slurm's variables), merged.
    let mut caches = Vec::new();
    for k in 0..3 {
        let c = dir.path().join(format!("shard{k}.jsonl"));
        let mut a = base.clone();
        a.extend(["--cache".into(), c.display().to_string()]);
        let out = if k == 2 {
            eval_raw(
                &args(&a),
                &[
                    ("SLURM_ARRAY_TASK_ID", "2"),
                    ("SLURM_ARRAY_TASK_COUNT", "3"),
                ],
            )
        } else {
            a.extend(["--shard".into(), format!("{k}/3")]);
            eval_raw(&args(&a), &[])
        };
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let part: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(part["images"].as_u64().unwrap() >= 18);
        caches.push(c.display().to_string());
    }
    let html = dir.path().join("report.html");
    let mut m = vec!["--merge".to_string()];
    m.extend(caches.iter().cloned());
    m.extend(["--json", "--images", "tests/fixtures/eval_images", "--html"].map(String::from));
    m.push(html.display().to_string());
    let (merged, _) = eval(&args(&m));
    let flips = merged["variants"][0]["flips"].as_array().unwrap().len();
    assert_eq!(without_latency(merged), want);

    // The HTML report: self-contained, three scatter plots with one point per model, one
    // thumbnail per flipped image.
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert_eq!(page.matches("<svg").count(), 3);
    assert_eq!(page.matches("<circle").count(), 3 * 4);
    assert_eq!(flips, 2);
    assert_eq!(page.matches("data:image/png;base64,").count(), flips);
    assert!(!page.contains("src=\"http") && !page.contains("href=\"http"));
}

#[test]
fn bad_inputs_are_clear_errors() {
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "assets/digits_f32.tflite",
                "tests/fixtures/models/fc_nobias_f32.tflite",
                "--images",
                "tests/fixtures/eval_images",
            ],
            "not a variant of the same model",
        ),
        (
            vec![
                "assets/digits_f32.tflite",
                "--images",
                "tests/fixtures/eval_images",
            ],
            "at least one variant",
        ),
        (
            vec![
                "assets/digits_f32.tflite",
                "assets/digits_int8.tflite",
                "--images",
                "assets",
                "--labels-from",
                "folders",
            ],
            "neither one of the model's 10 class names",
        ),
        (
            vec![
                "assets/digits_f32.tflite",
                "assets/digits_int8.tflite",
                "--images",
                "tests/fixtures/eval_images",
                "--shard",
                "3/3",
                "--cache",
                "/tmp/x.jsonl",
            ],
            "need 0 <= K < N",
        ),
        (
            vec![
                "assets/digits_f32.tflite",
                "assets/digits_int8.tflite",
                "--images",
                "tests/fixtures/eval_images",
                "--shard",
                "0/2",
            ],
            "--cache",
        ),
        (
            vec!["--merge", "assets/digits_labels.txt"],
            "not a quantscope eval cache",
        ),
    ];
    let n = cases.len();
    for (a, want) in cases {
        let out = eval_raw(&a, &[]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{a:?} succeeded");
        assert!(err.contains(want), "{a:?}: {err}");
        assert!(!err.contains("panicked"), "{a:?}: {err}");
    }
    assert_eq!(n, 6);
}

#[test]
fn shard_index_from_flag_slurm_and_kubernetes() {
    use quantscope::eval::resolve_shard;
    let env = |vars: &'static [(&'static str, &'static str)]| {
        move |k: &str| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    };
    assert_eq!(resolve_shard(Some("1/4"), &env(&[])).unwrap(), Some((1, 4)));
    assert_eq!(resolve_shard(None, &env(&[])).unwrap(), None);
    assert_eq!(
        resolve_shard(
            None,
            &env(&[
                ("SLURM_ARRAY_TASK_ID", "3"),
                ("SLURM_ARRAY_TASK_COUNT", "4")
            ])
        )
        .unwrap(),
        Some((3, 4))
    );
    assert_eq!(
        resolve_shard(
            Some("4"),
            &env(&[("SLURM_ARRAY_TASK_ID", "5"), ("SLURM_ARRAY_TASK_MIN", "2")])
        )
        .unwrap(),
        Some((3, 4))
    );
    assert_eq!(
        resolve_shard(Some("5"), &env(&[("JOB_COMPLETION_INDEX", "4")])).unwrap(),
        Some((4, 5))
    );
    assert!(resolve_shard(Some("5"), &env(&[])).is_err());
    assert!(resolve_shard(Some("x/2"), &env(&[])).is_err());
    let slices: Vec<Vec<usize>> = (0..3)
        .map(|k| quantscope::eval::shard((0..10).collect(), Some((k, 3))))
        .collect();
    assert_eq!(slices.concat().len(), 10);
    assert_eq!(slices[1], vec![1, 4, 7]);
}

/// Writes `img` as a PNG carrying EXIF orientation `orientation` (none when 0).
fn png_with_orientation(img: &image::RgbImage, orientation: u8, path: &Path) {
    use image::ImageEncoder;
    let mut png = Vec::new();
    let mut enc = image::codecs::png::PngEncoder::new(&mut png);
    if orientation != 0 {
        // A little-endian TIFF header with one IFD entry: Orientation (0x0112), SHORT, 1.
        let exif = vec![
            b'I',
            b'I',
            0x2A,
            0,
            8,
            0,
            0,
            0,
            1,
            0,
            0x12,
            0x01,
            3,
            0,
            1,
            0,
            0,
            0,
            orientation,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
        ];
        enc.set_exif_metadata(exif).unwrap();
    }
    enc.write_image(
        img.as_raw(),
        img.width(),
        img.height(),
        image::ExtendedColorType::Rgb8,
    )
    .unwrap();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, png).unwrap();
}

/// `--exif` is the same flag as compare's: images stored rotated with an EXIF orientation that
/// turns them upright evaluate like the upright files with `apply`, and differently (the
/// model sees sideways digits) with `ignore`; the report records the choice.
#[test]
fn eval_honours_exif_orientation() {
    let dir = tempfile::tempdir().unwrap();
    let (upright, tagged) = (dir.path().join("upright"), dir.path().join("tagged"));
    let mut n = 0;
    for e in std::fs::read_dir(repo("assets/samples")).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_str().unwrap().to_string();
        let class = &name["digit_".len().."digit_".len() + 1];
        let img = image::open(&p).unwrap().to_rgb8();
        png_with_orientation(&img, 0, &upright.join(class).join(&name));
        // Stored turned 90 degrees clockwise; orientation 8 turns it back for display.
        let turned = image::imageops::rotate90(&img);
        png_with_orientation(&turned, 8, &tagged.join(class).join(&name));
        n += 1;
    }
    assert_eq!(n, 8);
    let run = |folder: &Path, exif: &str| {
        let (mut r, _) = eval(&args(&models_and(&[
            "--images",
            folder.to_str().unwrap(),
            "--labels-from",
            "folders",
            "--exif",
            exif,
            "--json",
        ])));
        assert_eq!(r["images"], 8);
        let pp = r["preprocess"].as_object_mut().unwrap();
        let e = pp.remove("exif").unwrap();
        (without_latency(r), e)
    };
    let (want, e) = run(&upright, "apply");
    assert_eq!(e, "apply");
    let (applied, _) = run(&tagged, "apply");
    assert_eq!(applied, want, "EXIF applied: the upright images' report");
    let (ignored, e) = run(&tagged, "ignore");
    assert_eq!(e, "ignore");
    let differs = ignored["variants"]
        .as_array()
        .unwrap()
        .iter()
        .zip(want["variants"].as_array().unwrap())
        .filter(|(a, b)| a["output_sqnr_db_mean"] != b["output_sqnr_db_mean"])
        .count();
    assert_eq!(differs, 3, "EXIF ignored: every variant sees other pixels");
}
