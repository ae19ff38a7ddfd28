#![cfg(feature = "gui")]
//! The desktop app driven through egui_kittest: files arrive as dropped files (the window
//! system's path), jobs are waited for deterministically, and what the window shows is checked
//! against the library's own numbers.

use egui_kittest::kittest::{NodeT, Queryable};
use egui_kittest::Harness;
use quantscope::app::{DroppedPath, QuantscopeApp, View};
use quantscope::compare::{Comparator, CompareOptions};
use quantscope::model::Model;
use quantscope::preprocess::{detect_defaults, load_image, ChannelOrder, ImageLimits, ValueRange};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Relative to the package root (cargo runs tests there), so what the window shows — and the
/// snapshots — do not depend on where the checkout lives.
fn asset(p: &str) -> PathBuf {
    Path::new("assets").join(p)
}

fn harness() -> Harness<'static, QuantscopeApp> {
    harness_sized(1400.0, 900.0)
}

fn harness_sized(w: f32, h: f32) -> Harness<'static, QuantscopeApp> {
    Harness::builder()
        .with_size([w, h])
        .build_eframe(|cc| QuantscopeApp::new(cc))
}

/// Drops a file on the window, the way the window system hands it over.
fn drop_file(h: &mut Harness<'_, QuantscopeApp>, p: &Path) {
    h.input_mut()
        .dropped_files
        .push(Arc::new(DroppedPath(p.to_path_buf())));
    h.step();
}

/// Runs background jobs to completion and lets the UI catch up.
fn settle(h: &mut Harness<'_, QuantscopeApp>) {
    for _ in 0..3 {
        h.state_mut().wait_for_jobs();
        h.run_steps(4);
    }
}

/// A tensor name as the Tensors column shows it: the digit models' shared path prefix
/// `functional_1_1/` replaced by "...", so the tail that tells names apart shows.
fn shown_name(name: &str) -> String {
    match name.strip_prefix("functional_1_1/") {
        Some(tail) => format!("...{tail}"),
        None => name.to_string(),
    }
}

fn open_pair(h: &mut Harness<'_, QuantscopeApp>) {
    drop_file(h, &asset("digits_f32.tflite"));
    drop_file(h, &asset("digits_int8.tflite"));
    settle(h);
    let app = h.state();
    assert_eq!(app.tabs.len(), 2, "errors: {:?}", app.errors);
    assert!(
        app.tabs[1].paired == Some(app.tabs[0].id),
        "int8 paired with float"
    );
}

#[test]
fn click_tensor_row_shows_its_numbers() {
    let mut h = harness();
    open_pair(&mut h);
    h.get_by_label("Tensors").click();
    h.run_steps(3);
    // The library's worst weight tensor of the pair.
    let f = Model::open(asset("digits_f32.tflite")).unwrap();
    let q = Model::open(asset("digits_int8.tflite")).unwrap();
    let rep = quantscope::quant::analyze(&q, Some(&f), &Default::default()).unwrap();
    let worst = &rep.rollup.worst[0];
    let ta = rep
        .tensors
        .iter()
        .find(|t| t.tensor.index == worst.tensor.index)
        .unwrap();
    h.get_by_label(&shown_name(&ta.tensor.name)).click();
    h.run_steps(4);
    assert_eq!(
        h.state().tabs[1].tensors.selected,
        Some((0, ta.tensor.index))
    );
    h.get_by_label(&format!("#{} {}", ta.tensor.index, ta.tensor.name));
    h.get_by_label(&format!("{:.2} dB", ta.errors.sqnr_db.unwrap()));
    let levels = ta.range.levels_used.unwrap().to_string();
    assert!(
        h.query_all_by_label(&levels).next().is_some(),
        "levels used {levels}"
    );
    h.get_by_label_contains("Histogram of stored integers");
}

fn expected(range: Option<ValueRange>, channels: ChannelOrder) -> (String, String, Vec<String>) {
    expected_on("samples/digit_2_0.png", range, channels)
}

/// The library's own comparison of `image` (one call, alternatives included): both top-1
/// captions and the warnings.
fn expected_on(
    image: &str,
    range: Option<ValueRange>,
    channels: ChannelOrder,
) -> (String, String, Vec<String>) {
    let f = Model::open(asset("digits_f32.tflite")).unwrap();
    let q = Model::open(asset("digits_int8.tflite")).unwrap();
    let (mut pp, why) = detect_defaults(&q, 0, Some(&f)).unwrap();
    if let Some(r) = range {
        pp.range = r;
    }
    pp.channels = channels;
    let labels: Vec<String> = std::fs::read_to_string(asset("digits_labels.txt"))
        .unwrap()
        .lines()
        .map(|l| l.trim().to_string())
        .collect();
    let opts = CompareOptions {
        labels: Some(labels),
        ..Default::default()
    };
    let mut c = Comparator::new(Some(&f), &q, opts).unwrap();
    let img = load_image(&asset(image), ImageLimits::default()).unwrap();
    let r = c.compare(&img, "x", &pp, why).unwrap();
    let cl = r.outputs[0].classification.as_ref().unwrap();
    let name = |s: &quantscope::compare::Scored| s.label.clone().unwrap();
    (
        format!(
            "float model top-1: {} ({:.3})",
            name(&cl.top_k_float[0]),
            cl.top_k_float[0].score
        ),
        format!(
            "INT8 top-1: {} ({:.3})",
            name(&cl.top_k_quant[0]),
            cl.top_k_quant[0].score
        ),
        r.warnings,
    )
}

#[test]
fn dropped_image_shows_both_top1_labels() {
    let mut h = harness();
    open_pair(&mut h);
    drop_file(&mut h, &asset("samples/digit_2_0.png"));
    settle(&mut h);
    assert_eq!(h.state().tabs[1].view, View::Compare);
    let (f, q, _) = expected(None, ChannelOrder::Rgb);
    h.get_by_label(&f);
    h.get_by_label(&q);
    h.get_by_label("top-1 agrees");
}

#[test]
fn channel_order_changes_the_warning() {
    let mut h = harness();
    open_pair(&mut h);
    drop_file(&mut h, &asset("samples/digit_2_0.png"));
    settle(&mut h);
    // A wrong value mapping first ([-1,1] on a [0,1] model), then flip the channel order.
    h.state_mut().tabs[1].compare.set_range(ValueRange::Signed);
    settle(&mut h);
    let (_, _, w_rgb) = expected(Some(ValueRange::Signed), ChannelOrder::Rgb);
    assert!(!w_rgb.is_empty());
    for w in &w_rgb {
        h.get_by_label(&format!("warning: {w}"));
    }
    h.get_by_label("BGR").click();
    h.run_steps(2);
    settle(&mut h);
    let (_, _, w_bgr) = expected(Some(ValueRange::Signed), ChannelOrder::Bgr);
    assert_ne!(
        w_rgb, w_bgr,
        "the library's warnings differ between RGB and BGR here"
    );
    for w in &w_bgr {
        h.get_by_label(&format!("warning: {w}"));
    }
    for w in w_rgb.iter().filter(|w| !w_bgr.contains(w)) {
        assert!(
            h.query_by_label(&format!("warning: {w}")).is_none(),
            "stale warning {w}"
        );
    }
    h.get_by_label_contains("channel order BGR set in the app");
}

#[test]
fn corrupt_file_shows_the_error_and_the_app_keeps_running() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("photo.tflite");
    std::fs::copy(asset("samples/digit_0_0.png"), &bad).unwrap();
    let expected = match Model::open(&bad) {
        Ok(_) => panic!("a PNG opened as a model"),
        Err(e) => e.to_string(),
    };
    let mut h = harness();
    drop_file(&mut h, &bad);
    settle(&mut h);
    h.get_by_label_contains(&expected);
    assert!(h.state().tabs.is_empty());
    // Still alive: a good model opens afterwards.
    drop_file(&mut h, &asset("digits_int8.tflite"));
    settle(&mut h);
    assert_eq!(h.state().tabs.len(), 1);
    assert!(h
        .query_all_by_label_contains("full-integer int8")
        .next()
        .is_some());
}

#[test]
fn report_export_has_everything() {
    let mut h = harness();
    open_pair(&mut h);
    drop_file(&mut h, &asset("samples/digit_2_0.png"));
    settle(&mut h);
    let r = h.state().report_json();
    let m = &r["models"][1];
    assert!(m["inspect"]["summary"]["kind"].is_string());
    assert!(m["weights"]["rollup"].is_object());
    assert_eq!(m["comparisons"]["images"].as_array().unwrap().len(), 1);
}

/// Snapshots of the main panels on the bundled example (tests/snapshots/app_*.png; they are
/// also the README's screenshots). `UPDATE_SNAPSHOTS=1 cargo test --test app_gui` rewrites them.
#[test]
fn snapshots_of_the_main_panels() {
    let mut h = harness_sized(1400.0, 1300.0);
    open_pair(&mut h);
    h.snapshot("app_overview");

    h.get_by_label("Tensors").click();
    h.run_steps(3);
    let worst = {
        let w = h.state().tabs[1].weights.clone().unwrap();
        w.rollup.worst[0].clone()
    };
    h.get_by_label(&shown_name(&worst.tensor.name)).click();
    h.run_steps(4);
    h.snapshot("app_tensors");

    drop_file(&mut h, &asset("samples/digit_2_0.png"));
    settle(&mut h);
    // The worst convolution (by local SQNR): its activations and their difference as heat maps.
    let layer = {
        let c = &h.state().tabs[1].compare;
        let r = c.results[0].as_ref().unwrap();
        let ranked = quantscope::compare::rank_layers(&r.comparison.layers);
        let worst_conv = ranked.iter().find(|l| l.op == "CONV_2D").unwrap();
        r.comparison
            .layers
            .iter()
            .position(|l| std::ptr::eq(l, *worst_conv))
            .unwrap()
    };
    h.state_mut().tabs[1].compare.select_layer(layer);
    h.run_steps(2);
    assert_eq!(h.state().tabs[1].compare.selected_layer, Some(layer));
    settle(&mut h);
    assert!(h
        .query_all_by_label_contains("difference float")
        .next()
        .is_some());
    h.state_mut().tabs[1].compare.layer_channel = 3;
    h.run_steps(2);
    h.snapshot("app_compare");

    h.get_by_label("What-if").click();
    h.step();
    settle(&mut h);
    h.snapshot("app_whatif");
}

/// Clicking a row of the per-layer list (not calling the panel's method) selects that layer
/// and shows both activations and their difference.
#[test]
fn clicking_a_layer_row_shows_its_heat_maps() {
    let mut h = harness();
    open_pair(&mut h);
    drop_file(&mut h, &asset("samples/digit_2_0.png"));
    settle(&mut h);
    let (k, name) = {
        let c = &h.state().tabs[1].compare;
        let r = c.results[0].as_ref().unwrap();
        // The last paired layer: at the bottom of the list, so the row must be scrolled to.
        let k = r.comparison.layers.len() - 1;
        (k, r.comparison.layers[k].name.clone())
    };
    assert_eq!(h.state().tabs[1].compare.selected_layer, None);
    let is_row = |l: &str| l.starts_with(&format!("{k:>3}  op")) && l.contains("cumulative");
    let find_row = |h: &Harness<'static, QuantscopeApp>| {
        h.query_all_by_label_contains(&name)
            .find(|n| n.accesskit_node().label().is_some_and(|l| is_row(&l)))
            .map(|n| n.rect())
            .expect("the layer's row")
    };
    // Scroll as a user would: the list to the row, and the panel until the row shows.
    for _ in 0..40 {
        if find_row(&h).max.y < 880.0 {
            break;
        }
        h.query_all_by_label_contains(&name)
            .find(|n| n.accesskit_node().label().is_some_and(|l| is_row(&l)))
            .unwrap()
            .scroll_to_me();
        h.run_steps(2);
        if find_row(&h).max.y < 880.0 {
            break;
        }
        h.hover_at(egui::pos2(800.0, 600.0));
        h.event(egui::Event::MouseWheel {
            unit: egui::MouseWheelUnit::Point,
            delta: egui::vec2(0.0, -100.0),
            modifiers: Default::default(),
            phase: egui::TouchPhase::Move,
            source: egui::MouseWheelSource::Wheel,
        });
        h.run_steps(2);
    }
    let row = h
        .query_all_by_label_contains(&name)
        .find(|n| n.accesskit_node().label().is_some_and(|l| is_row(&l)))
        .unwrap();
    let rect = row.rect();
    let row = h
        .query_all_by_label_contains(&name)
        .find(|n| n.accesskit_node().label().is_some_and(|l| is_row(&l)))
        .unwrap();
    row.click();
    h.run_steps(2);
    assert_eq!(
        h.state().tabs[1].compare.selected_layer,
        Some(k),
        "row at {rect:?}"
    );
    settle(&mut h);
    assert!(h
        .query_all_by_label_contains("difference float")
        .next()
        .is_some());
    // #14 item 10: the maps open on the channel with the most error (the library's pick),
    // and the header names the op as the list does.
    let (q, f) = (
        Model::open(asset("digits_int8.tflite")).unwrap(),
        Model::open(asset("digits_f32.tflite")).unwrap(),
    );
    let (op_index, ft, qt) = {
        let c = &h.state().tabs[1].compare;
        let l = &c.results[0].as_ref().unwrap().comparison.layers[k];
        (l.op_index.unwrap(), l.float_tensor.unwrap(), l.quant_tensor)
    };
    let img = load_image(&asset("samples/digit_2_0.png"), ImageLimits::default()).unwrap();
    let pp = h.state().tabs[1].compare.pp.clone().unwrap();
    let mut cmp = Comparator::new(Some(&f), &q, CompareOptions::default()).unwrap();
    let acts = cmp.activations(&img, &pp, ft, qt).unwrap();
    assert_eq!(
        h.state().tabs[1].compare.layer_channel,
        acts.worst_channel()
    );
    h.get_by_label_contains(&format!("layer {k} (op #{op_index} "));
}

/// Export buttons write files: the PNG is the plot's pixels (cropped from a real screenshot),
/// the CSV holds the library's numbers.
#[test]
fn plot_exports_write_png_and_csv() {
    let dir = tempfile::tempdir().unwrap();
    // Only this test exports; the variable is read when a button is clicked.
    std::env::set_var("QUANTSCOPE_EXPORT_DIR", dir.path());
    let mut h = harness();
    drop_file(&mut h, &asset("digits_int8.tflite"));
    settle(&mut h);
    h.get_by_label("PNG").click();
    h.run_steps(3);
    let pngs: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    assert_eq!(pngs.len(), 1, "status: {}", h.state().status.get());
    let img = image::open(&pngs[0]).unwrap().to_rgba8();
    assert!(
        img.width() > 200 && img.height() > 100,
        "{:?}",
        img.dimensions()
    );
    let distinct: std::collections::HashSet<_> = img.pixels().map(|p| p.0).collect();
    assert!(distinct.len() > 10, "a plot, not a blank rectangle");
    // What the user sees: the title above the plot frame and the axes beside and below it.
    let model = h.state().tabs[0].model.clone();
    let (frame, _) =
        quantscope::app::plots::view(&h.ctx, quantscope::app::plots::id(&model, "bytes_by_dtype"))
            .expect("the bytes-by-dtype plot");
    let ppp = h.ctx.pixels_per_point();
    assert!(
        img.height() as f32 >= (frame.height() + 30.0) * ppp
            && img.width() as f32 >= (frame.width() + 20.0) * ppp,
        "PNG {:?} holds the frame {frame:?} with title and axes",
        img.dimensions()
    );
    assert!(h.state().status.get().starts_with("saved "));

    h.get_by_label("CSV").click();
    h.run_steps(2);
    let csv = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|e| e == "csv"))
        .expect("a CSV");
    let text = std::fs::read_to_string(csv).unwrap();
    let q = Model::open(asset("digits_int8.tflite")).unwrap();
    let s = q.summary();
    for (dtype, n) in &s.counts_by_dtype {
        let row = format!(
            "{dtype},{n},{},{}",
            s.constants_by_dtype.get(dtype).map_or(0, |x| x.bytes),
            s.activations_by_dtype.get(dtype).map_or(0, |x| x.bytes)
        );
        assert!(text.lines().any(|l| l == row), "{row} in\n{text}");
    }
}

/// Settings storage in memory, standing in for eframe's file (what a restart reads back).
#[derive(Default)]
struct Mem(std::collections::HashMap<String, String>);

impl eframe::Storage for Mem {
    fn get_string(&self, key: &str) -> Option<String> {
        self.0.get(key).cloned()
    }
    fn set_string(&mut self, key: &str, value: String) {
        self.0.insert(key.into(), value);
    }
    fn remove_string(&mut self, key: &str) {
        self.0.remove(key);
    }
    fn flush(&mut self) {}
}

/// Recent files and the last view survive a restart (eframe persistence).
#[test]
fn settings_persist_between_runs() {
    let mut h = harness();
    drop_file(&mut h, &asset("digits_int8.tflite"));
    settle(&mut h);
    h.get_by_label("Tensors").click();
    h.run_steps(2);
    let mut store = Mem::default();
    eframe::App::save(h.state_mut(), &mut store);

    let mut h2 = harness();
    h2.state_mut().restore(&store);
    assert!(h2.state().recent()[0].ends_with("digits_int8.tflite"));
    drop_file(&mut h2, &asset("digits_f32.tflite"));
    settle(&mut h2);
    assert_eq!(h2.state().tabs[0].view, View::Tensors);

    // #14 item 5: labels loaded in the GUI (a dropped .txt) apply to the model, rename the
    // comparison's classes, and come back when the model is opened again.
    let dir = tempfile::tempdir().unwrap();
    let names: Vec<String> = (0..10)
        .map(|k| format!("digit number {k} with a long label"))
        .collect();
    let file = dir.path().join("my_labels.txt");
    std::fs::write(&file, names.join("\n")).unwrap();
    let mut h = harness();
    drop_file(&mut h, &asset("digits_int8.tflite"));
    settle(&mut h);
    drop_file(&mut h, &file);
    drop_file(&mut h, &asset("samples/digit_2_0.png"));
    settle(&mut h);
    let t = &h.state().tabs[0];
    assert_eq!(t.labels.as_ref(), Some(&names));
    let top1 = t.compare.results[0].as_ref().unwrap().comparison.outputs[0].clone();
    let json = serde_json::to_string(&top1).unwrap();
    assert!(json.contains("digit number 2 with a long label"), "{json}");
    let mut store = Mem::default();
    eframe::App::save(h.state_mut(), &mut store);
    let mut h3 = harness();
    h3.state_mut().restore(&store);
    drop_file(&mut h3, &asset("digits_int8.tflite"));
    settle(&mut h3);
    assert_eq!(
        h3.state().tabs[0].labels.as_ref(),
        Some(&names),
        "remembered per model"
    );
    // A model given as labels is refused with a reason.
    let bad = dir.path().join("model.txt");
    std::fs::copy(asset("digits_int8.tflite"), &bad).unwrap();
    drop_file(&mut h3, &bad);
    assert!(
        h3.state()
            .errors
            .iter()
            .any(|e| e.contains("not a text label file")),
        "{:?}",
        h3.state().errors
    );
}

/// Run > Kernel threads (issue #11: "--threads N (and the GUI)") sets the threads the app's
/// engine runs use, and the choice survives a restart.
#[test]
fn kernel_threads_menu_sets_the_choice_and_it_persists() {
    let mut h = harness();
    assert_eq!(h.state().kernel_threads(), 0, "default: one per core");
    h.get_by_label("Run").click();
    h.run_steps(2);
    h.get_by_label("Kernel threads").click();
    h.run_steps(2);
    h.get_by_label("1").click();
    h.run_steps(2);
    assert_eq!(h.state().kernel_threads(), 1);
    let mut store = Mem::default();
    eframe::App::save(h.state_mut(), &mut store);
    let mut h2 = harness();
    h2.state_mut().restore(&store);
    assert_eq!(h2.state().kernel_threads(), 1, "restored after a restart");
}

/// A model with spatial outputs: the first output is shown as heat maps (float, INT8 and
/// their difference) as soon as the comparison finishes, without a click.
#[test]
fn spatial_output_is_shown_as_heat_maps() {
    let fx = |n: &str| Path::new("tests/fixtures/models").join(n);
    let mut h = harness();
    drop_file(&mut h, &fx("op_resize_bilinear_f32.tflite"));
    drop_file(&mut h, &fx("op_resize_bilinear_int8.tflite"));
    settle(&mut h);
    assert_eq!(h.state().tabs.len(), 2, "errors: {:?}", h.state().errors);
    assert_eq!(h.state().tabs[1].paired, Some(h.state().tabs[0].id));
    drop_file(&mut h, &asset("samples/digit_2_0.png"));
    settle(&mut h);
    let (sel, want) = {
        let t = &h.state().tabs[1];
        let r = t.compare.results[0].as_ref().expect("the comparison ran");
        let out0 = t.model.subgraphs[0].outputs[0] as usize;
        let want = r
            .comparison
            .layers
            .iter()
            .position(|l| l.quant_tensor == out0);
        (t.compare.selected_layer, want)
    };
    assert!(want.is_some(), "output 0 is a paired layer");
    assert_eq!(sel, want);
    assert!(h
        .query_all_by_label_contains("difference float")
        .next()
        .is_some());
}

/// Waits (off-thread layout) until a label containing `text` shows; false after ~5 s.
fn wait_for_label(h: &mut Harness<'_, QuantscopeApp>, text: &str) -> bool {
    for _ in 0..250 {
        h.run_steps(1);
        if h.query_by_label_contains(text).is_some() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    false
}

#[test]
fn graph_tab_lays_out_links_the_twin_and_colours_by_layer_error() {
    use quantscope::graph::colour::{self, ColourBy};
    use quantscope::graph::{build, matching::match_graphs, BuildOptions};
    let mut h = harness_sized(1400.0, 1000.0);
    open_pair(&mut h);
    drop_file(&mut h, &asset("samples/digit_2_0.png"));
    settle(&mut h);
    h.get_by_label("Graph").click();
    // The library's own count of linked nodes is what the tab must say.
    let (f, q) = (
        Model::open(asset("digits_f32.tflite")).unwrap(),
        Model::open(asset("digits_int8.tflite")).unwrap(),
    );
    let (fg, qg) = (
        build(&f, 0, &BuildOptions::default()).unwrap(),
        build(&q, 0, &BuildOptions::default()).unwrap(),
    );
    let pairs: Vec<(usize, usize)> = quantscope::compare::pair_activations(&f, &q)
        .iter()
        .map(|p| (p.float, p.quant))
        .collect();
    let linked = match_graphs((&fg, &f), (&qg, &q), &pairs).linked;
    assert!(linked >= 10, "{linked}");
    assert!(
        wait_for_label(&mut h, &format!("float twin: {linked} nodes linked")),
        "the graph never showed"
    );
    h.get_by_label_contains(&format!(
        "{} nodes, {} edges",
        qg.nodes.len(),
        qg.edges.len()
    ));
    // Colour by the Compare run's local SQNR: the legend shows the dB range.
    h.get_by_label("colour by").click();
    h.run_steps(2);
    h.get_by_label("layer SQNR (local)").click();
    h.run_steps(3);
    let db = h.query_all_by_label_contains(" dB").count();
    assert!(db >= 2, "the legend shows the SQNR range ({db} dB labels)");
    h.snapshot("app_graph");
    // Colour by output dtype: one legend entry per dtype the library counts.
    h.get_by_label("colour by").click();
    h.run_steps(2);
    h.get_by_label("output dtype").click();
    h.run_steps(3);
    let dtypes = colour::legend(&colour::values(
        &qg,
        &q,
        ColourBy::OutputDtype,
        &Default::default(),
    ));
    for (name, (count, _)) in &dtypes.categories {
        h.get_by_label(&format!("{name} ({count})"));
    }
    assert!(!dtypes.categories.is_empty(), "{:?}", dtypes.categories);
    h.snapshot("app_graph_dtype");
    // Side by side: both graphs in one view, the legend counting both.
    h.get_by_label("side by side").click();
    assert!(
        wait_for_label(
            &mut h,
            &format!(
                "{} nodes, {} edges",
                fg.nodes.len() + qg.nodes.len(),
                fg.edges.len() + qg.edges.len()
            )
        ),
        "the side-by-side view never showed"
    );
}

/// `quantscope INT8 FLOAT --image IMG --tab T --tensor N --layer OP` (#14): the first model is
/// the active tab whichever loads last, and the tab, tensor and layer asked for are shown.
#[test]
fn command_line_opens_the_first_model_at_the_asked_tab_tensor_and_layer() {
    let (q, f) = (asset("digits_int8.tflite"), asset("digits_f32.tflite"));
    let model = Model::open(&q).unwrap();
    let sg = &model.subgraphs[0];
    let weight = sg
        .tensors
        .iter()
        .find(|t| t.is_constant && t.quantization.is_some())
        .unwrap();
    let mut checked = 0;
    for (view, tensor) in [
        (View::Tensors, weight.name.clone()),
        (View::Tensors, weight.index.to_string()),
    ] {
        let mut h = harness();
        let startup = quantscope::app::Startup {
            view: Some(view),
            tensor: Some(tensor),
            ..Default::default()
        };
        h.state_mut()
            .open_at(&q, Some(&f), &[asset("samples/digit_2_0.png")], startup);
        settle(&mut h);
        let app = h.state();
        assert!(app.errors.is_empty(), "{:?}", app.errors);
        assert_eq!(app.tabs.len(), 2);
        let t = &app.tabs[app.active];
        assert_eq!(
            t.name, "digits_int8.tflite",
            "the first argument is the active tab"
        );
        assert_eq!(t.view, view);
        assert_eq!(t.tensors.selected, Some((0, weight.index)));
        assert_eq!(t.compare.results.len(), 1, "the image was compared");
        checked += 1;
    }
    // --layer: the op's output is shown in Compare once the image is compared.
    let op = sg
        .operators
        .iter()
        .find(|o| o.op == "CONV_2D")
        .unwrap()
        .index;
    let mut h = harness();
    let startup = quantscope::app::Startup {
        view: Some(View::Compare),
        layer: Some(op),
        ..Default::default()
    };
    h.state_mut()
        .open_at(&q, Some(&f), &[asset("samples/digit_2_0.png")], startup);
    settle(&mut h);
    let app = h.state();
    assert!(app.errors.is_empty(), "{:?}", app.errors);
    let t = &app.tabs[app.active];
    let layers = &t.compare.results[0].as_ref().unwrap().comparison.layers;
    let k = layers.iter().position(|l| l.op_index == Some(op)).unwrap();
    assert_eq!(t.compare.selected_layer, Some(k));
    // A name that matches nothing is said, not ignored.
    let mut h = harness();
    let startup = quantscope::app::Startup {
        tensor: Some("no such tensor".into()),
        ..Default::default()
    };
    h.state_mut().open_at(&q, None, &[], startup);
    settle(&mut h);
    assert!(h
        .state()
        .errors
        .iter()
        .any(|e| e.contains("no such tensor")));
    eprintln!(
        "startup: {} tensor selections, 1 layer, 1 unknown name checked",
        checked
    );
}

/// #14 item 6: pairing a second quantized tab with the float model keeps the first one paired
/// (its weight SQNR stays), and the tab bar names the pair.
#[test]
fn a_float_model_twins_several_quantized_tabs() {
    let mut h = harness();
    open_pair(&mut h);
    drop_file(&mut h, &asset("digits_dynamic.tflite"));
    settle(&mut h);
    let (fid, dynamic) = {
        let app = h.state();
        assert_eq!(app.tabs.len(), 3, "{:?}", app.errors);
        (app.tabs[0].id, app.tabs[2].id)
    };
    h.state_mut().pair(dynamic, Some(fid));
    settle(&mut h);
    let app = h.state();
    assert_eq!(
        app.tabs[1].paired,
        Some(fid),
        "the int8 tab is still paired"
    );
    assert_eq!(app.tabs[2].paired, Some(fid));
    assert_eq!(
        app.tabs[0].paired,
        Some(dynamic),
        "the float tab shows the last pairing"
    );
    let with_sqnr = app.tabs[1..]
        .iter()
        .filter(|t| {
            t.weights
                .as_ref()
                .is_some_and(|w| w.rollup.overall_sqnr_db.is_some())
        })
        .count();
    assert_eq!(with_sqnr, 2, "both quantized tabs keep their weight SQNR");
    h.get_by_label("digits_dynamic.tflite paired with");
}

/// #14 item 3: F5 reruns with the user's preprocessing overrides, as the Rerun button does.
#[test]
fn f5_keeps_preprocessing_overrides() {
    let mut h = harness();
    open_pair(&mut h);
    drop_file(&mut h, &asset("samples/digit_2_0.png"));
    settle(&mut h);
    h.state_mut().tabs[1]
        .compare
        .set_channels(ChannelOrder::Bgr);
    settle(&mut h);
    let mut checked = 0;
    for rerun in ["key", "button"] {
        match rerun {
            "key" => h.key_press(eframe::egui::Key::F5),
            _ => h.get_by_label("Rerun (F5)").click(),
        }
        h.run_steps(2);
        settle(&mut h);
        let c = &h.state().tabs[1].compare;
        assert_eq!(
            c.pp.as_ref().unwrap().channels,
            ChannelOrder::Bgr,
            "{rerun} kept BGR"
        );
        assert_eq!(c.results.len(), 1, "{rerun} ran the comparison again");
        // #14 item 2: the input previews are those of this run, not the previous one.
        assert!(
            c.input_previews_are_current(),
            "{rerun}: previews lag behind"
        );
        checked += 1;
    }
    assert_eq!(checked, 2);
}

/// #14 item 12: a float model alone in Compare says once what is shown and hides the
/// per-layer chart, which would be empty (its twin is itself).
#[test]
fn a_float_model_alone_says_so_once_and_hides_empty_layers() {
    let mut h = harness();
    drop_file(&mut h, &asset("digits_f32.tflite"));
    settle(&mut h);
    drop_file(&mut h, &asset("samples/digit_2_0.png"));
    settle(&mut h);
    let app = h.state();
    assert_eq!(app.tabs.len(), 1, "{:?}", app.errors);
    assert_eq!(app.tabs[0].view, View::Compare);
    assert_eq!(app.tabs[0].compare.results.len(), 1);
    h.get_by_label_contains("A float model alone");
    assert!(h.query_by_label_contains("vs its float twin").is_none());
    assert!(h.query_by_label_contains("Per-layer SQNR").is_none());
}

/// Trade-offs on the bundled example: its float model and three variants (int8, fp16,
/// dynamic-range) over its ten images (two of which int8 flips), run in the background through
/// `eval::evaluate`. The table shows the report's values with one row per model, the report
/// equals what `quantscope eval` gives for the same folder, and the three scatter plots have a
/// point per model.
#[test]
fn tradeoffs_tab_runs_the_bundled_variants() {
    let mut h = harness_sized(1400.0, 1000.0);
    h.state_mut()
        .open_example(&quantscope::app::example::EXAMPLE);
    settle(&mut h);
    assert_eq!(h.state().tabs.len(), 2, "errors: {:?}", h.state().errors);
    h.get_by_label("Trade-offs").click();
    h.run_steps(3);
    h.get_by_label("Run evaluation").click();
    h.run_steps(1);
    settle(&mut h);
    let (report, root) = {
        let t = &h.state().tradeoffs;
        assert!(t.error.is_none(), "{:?}", t.error);
        let o = t.outcome.as_ref().expect("the run finished");
        (o.report.clone(), o.root.clone())
    };
    assert_eq!((report.images, report.labelled_images), (10, 10));
    let names: Vec<&str> = report
        .variants
        .iter()
        .map(|v| v.file.model.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "digits_int8.tflite",
            "digits_fp16.tflite",
            "digits_dynamic.tflite"
        ]
    );
    // The CLI on the same images and models: the same numbers (latency is measured per run).
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_quantscope"))
        .args([
            "eval",
            "assets/digits_f32.tflite",
            "assets/digits_int8.tflite",
            "assets/digits_fp16.tflite",
            "assets/digits_dynamic.tflite",
            "--images",
            root.to_str().unwrap(),
            "--labels-from",
            "folders",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cli: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut checked = 0;
    for (k, v) in std::iter::once(&report.reference)
        .chain(&report.variants)
        .enumerate()
    {
        let c = if k == 0 {
            &cli["reference"]
        } else {
            &cli["variants"][k - 1]
        };
        for (what, ours) in [
            ("top1_accuracy", v.top1_accuracy),
            ("top5_accuracy", v.top5_accuracy),
            ("top1_agreement", v.top1_agreement),
            ("output_sqnr_db_mean", v.output_sqnr_db_mean),
            ("mean_rel_diff", v.mean_rel_diff),
            ("kl_mean", v.kl_mean),
        ] {
            // Equal up to the JSON round trip's last digit.
            let same = match (c[what].as_f64(), ours) {
                (Some(a), Some(b)) => (a - b).abs() <= 1e-12 * b.abs().max(1.0),
                (a, b) => a == b,
            };
            assert!(
                same,
                "{} {what}: CLI {} vs tab {ours:?}",
                v.file.model, c[what]
            );
            checked += 1;
        }
        assert_eq!(c["file_bytes"].as_u64(), Some(v.file.file_bytes));
        assert_eq!(c["flips"], serde_json::json!(v.flips));
    }
    assert_eq!(checked, 24);
    // One table row per model, with the report's values (formatted here, independently).
    let pct = |x: Option<f64>| format!("{:.2} %", x.unwrap() * 100.0);
    let mut cells: std::collections::BTreeMap<String, usize> = Default::default();
    for (k, v) in std::iter::once(&report.reference)
        .chain(&report.variants)
        .enumerate()
    {
        *cells.entry(pct(v.top1_accuracy)).or_default() += 1;
        *cells.entry(pct(v.top5_accuracy)).or_default() += 1;
        if k > 0 {
            *cells.entry(pct(v.top1_agreement)).or_default() += 1;
            let sqnr = v
                .output_sqnr_db_mean
                .map_or("exact".into(), |s| format!("{s:.1}"));
            *cells.entry(sqnr).or_default() += 1;
            // The variant's name: its checkbox and its row.
            assert_eq!(
                h.query_all_by_label(&v.file.model).count(),
                2,
                "{}",
                v.file.model
            );
        }
    }
    for (text, n) in &cells {
        let shown = h.query_all_by_label(text).count();
        assert!(shown >= *n, "'{text}' shown {shown} times, want {n}");
    }
    let plots = h.state().tradeoffs.plots.clone();
    assert_eq!(plots.len(), 3, "{plots:?}");
    assert!(plots.iter().all(|p| p.points == 4), "{plots:?}");
    // Latency is a measurement of this run: fixed for a stable picture.
    {
        let o = h.state_mut().tradeoffs.outcome.as_mut().unwrap();
        let mut r = (*o.report).clone();
        for (k, v) in std::iter::once(&mut r.reference)
            .chain(&mut r.variants)
            .enumerate()
        {
            v.latency_ms = Some([2.6, 1.5, 3.6, 3.0][k]);
        }
        o.report = Arc::new(r);
    }
    h.run_steps(3);
    h.snapshot("app_tradeoffs");
    // The gallery: int8's flips as thumbnails; a click opens the image in Compare.
    assert_eq!(report.variants[0].flips_lost, ["6/n197.png", "7/n435.png"]);
    let before = h.state().tabs[1].compare.images.len();
    h.get_by_label("7/n435.png").click();
    h.run_steps(2);
    let app = h.state();
    assert_eq!(app.tabs[app.active].view, View::Compare);
    assert_eq!(app.tabs[1].compare.images.len(), before + 1);
}
/// A blockwise model with its float twin: the tensor detail shows the library's per-block view
/// (heat map over [row, block], scale summary, worst blocks), and What-if offers blockwise.
#[test]
fn blockwise_tensor_shows_its_blocks() {
    let mut h = harness_sized(1400.0, 1300.0);
    let dir = Path::new("tests/fixtures/models");
    drop_file(&mut h, &dir.join("aeq_wide_f32.tflite"));
    drop_file(&mut h, &dir.join("aeq_wide_wi4b32.tflite"));
    settle(&mut h);
    assert_eq!(h.state().tabs.len(), 2, "errors: {:?}", h.state().errors);
    assert!(h.state().tabs[1].paired == Some(h.state().tabs[0].id));
    let f = Model::open(dir.join("aeq_wide_f32.tflite")).unwrap();
    let q = Model::open(dir.join("aeq_wide_wi4b32.tflite")).unwrap();
    let rep = quantscope::quant::analyze(&q, Some(&f), &Default::default()).unwrap();
    let ta = rep
        .tensors
        .iter()
        .find(|t| t.tensor.name == "wide_fc_weights")
        .unwrap();
    let b = ta.blocks.as_ref().unwrap();
    h.get_by_label("Tensors").click();
    h.run_steps(3);
    h.get_by_label(&ta.tensor.name).click();
    h.run_steps(4);
    h.get_by_label_contains("Blocks: 24 rows x 8 blocks of 32 (192 blocks)");
    h.get_by_label_contains(&format!("median {:.4e}", b.scale_median));
    // The worst block, as the library ranks it.
    let w = &b.worst[0];
    h.get_by_label_contains(&format!(
        "row {}, block {}: scale {:.4e}",
        w.row, w.column, w.scale
    ));
    h.get_by_label_contains(&format!("SQNR {:.2} dB", w.sqnr_db.unwrap()));
    h.snapshot("app_blocks");

    // What-if (on the float twin) offers blockwise granularity.
    h.get_by_label("What-if").click();
    h.step();
    h.get_by_label("blockwise-64").click();
    h.step();
    settle(&mut h);
    assert_eq!(h.state().tabs[1].whatif.scheme.block_size, Some(64));
    let r = h.state().tabs[1]
        .whatif
        .report()
        .unwrap()
        .rollup
        .tensors_compared;
    assert_eq!(r, 2, "the FC weights and the embedding table simulated");
}

/// Sends one wheel notch (`dy` points; with `ctrl`, egui turns it into a zoom) at `pos`.
fn wheel_at(h: &mut Harness<'_, QuantscopeApp>, pos: egui::Pos2, dy: f32, ctrl: bool) {
    let modifiers = if ctrl {
        egui::Modifiers::CTRL
    } else {
        egui::Modifiers::NONE
    };
    h.hover_at(pos);
    h.step();
    h.event(egui::Event::MouseWheel {
        unit: egui::MouseWheelUnit::Point,
        delta: egui::vec2(0.0, dy),
        phase: egui::TouchPhase::Move,
        source: egui::MouseWheelSource::Wheel,
        modifiers,
    });
    h.run_steps(20);
}

/// Issue #14 item 1: the wheel over a plot in the Tensors detail pane scrolls the pane and
/// leaves the plot's bounds alone; Ctrl+wheel zooms that plot only; each tab remembers its own
/// zoom (the plot ids are salted per tab and tensor).
#[test]
fn wheel_over_a_plot_scrolls_the_page_not_the_plot() {
    let mut h = harness_sized(1400.0, 700.0);
    open_pair(&mut h);
    h.get_by_label("Tensors").click();
    h.run_steps(3);
    let worst = h.state().tabs[1].weights.clone().unwrap().rollup.worst[0].clone();
    h.get_by_label(&shown_name(&worst.tensor.name)).click();
    h.run_steps(4);
    let heading = format!("#{} {}", worst.tensor.index, worst.tensor.name);
    let model = h.state().tabs[1].model.clone();
    let plots = ["int_hist", "real_hist", "ch_range", "ch_scale"];
    let ids: Vec<egui::Id> = plots
        .iter()
        .map(|p| quantscope::app::plots::id(&model, ("detail", worst.tensor.index, *p)))
        .collect();
    let views = |h: &Harness<'_, QuantscopeApp>| -> Vec<Option<(egui::Rect, [f64; 4])>> {
        ids.iter()
            .map(|id| quantscope::app::plots::view(&h.ctx, *id))
            .collect()
    };
    let before = views(&h);
    assert!(
        before.iter().all(Option::is_some),
        "all {} plots shown: {before:?}",
        plots.len()
    );
    let (rect, bounds) = before[0].unwrap();
    let top = h.get_by_label(&heading).rect().top();
    wheel_at(&mut h, rect.center(), -120.0, false);
    let after = views(&h);
    let moved = top - h.get_by_label(&heading).rect().top();
    assert!(moved > 30.0, "the pane scrolled by {moved} points");
    let mut checked = 0;
    for (k, (b, a)) in before.iter().zip(&after).enumerate() {
        let (b, a) = (b.unwrap(), a.unwrap());
        assert_eq!(b.1, a.1, "plot {} kept its bounds", plots[k]);
        checked += 1;
    }
    assert_eq!(checked, plots.len());
    // The first plot moved up with the page: the wheel went to the page, not to the plot.
    let (rect2, bounds2) = after[0].unwrap();
    assert!((rect.top() - rect2.top() - moved).abs() < 2.0);
    assert_eq!(bounds, bounds2);

    // Ctrl+wheel zooms the plot under the pointer and no other.
    let others: Vec<_> = after[1..].iter().map(|v| v.unwrap().1).collect();
    wheel_at(&mut h, rect2.center(), 120.0, true);
    let zoomed = views(&h);
    let z = zoomed[0].unwrap().1;
    assert!(
        z[1] - z[0] < bounds[1] - bounds[0],
        "ctrl+wheel zoomed in: {bounds:?} -> {z:?}"
    );
    let others_after: Vec<_> = zoomed[1..].iter().map(|v| v.unwrap().1).collect();
    assert_eq!(others, others_after);

    // The other tab's plot of the same name is another plot: its own id, its own memory.
    let float_model = h.state().tabs[0].model.clone();
    let other =
        quantscope::app::plots::id(&float_model, ("detail", worst.tensor.index, "int_hist"));
    assert_ne!(other, ids[0]);
}

/// Opens `path` through the in-app path field (File > Open by path...), as a user types it.
fn open_by_path(h: &mut Harness<'_, QuantscopeApp>, path: &str) {
    if h.query_by_role_and_label(egui::accesskit::Role::TextInput, "Open path:")
        .is_none()
    {
        // The empty window's button (File > Open by path... does the same).
        h.get_by_label("Open by path...").click();
        h.run_steps(2);
    }
    type_in_path_field(h, path);
    h.get_by_label("Open").click();
    h.run_steps(2);
    settle(h);
}

/// Replaces the path field's text with `text`.
fn type_in_path_field(h: &mut Harness<'_, QuantscopeApp>, text: &str) {
    h.get_by_role_and_label(egui::accesskit::Role::TextInput, "Open path:")
        .focus();
    h.run_steps(1);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.run_steps(1);
    h.get_by_role_and_label(egui::accesskit::Role::TextInput, "Open path:")
        .type_text(text);
    h.run_steps(2);
}

/// Issue #14 item 7: a text file, a truncated model and a folder opened through the path field
/// say what the user can act on (no parser internals, no stray ")"), in the notification area
/// at the bottom of the window, the newest shown, the earlier ones one click away, one dismiss.
#[test]
fn bad_files_through_the_path_field_say_what_to_do_in_the_notification_area() {
    let dir = tempfile::tempdir().unwrap();
    let passwd = dir.path().join("passwd");
    std::fs::write(
        &passwd,
        "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n",
    )
    .unwrap();
    let whole = std::fs::read(asset("digits_int8.tflite")).unwrap();
    let truncated = dir.path().join("cut.tflite");
    std::fs::write(&truncated, &whole[..whole.len() * 3 / 5]).unwrap();
    let folder = dir.path().join("models");
    std::fs::create_dir(&folder).unwrap();

    let (wh, ww) = (900.0, 1400.0);
    let mut h = harness_sized(ww, wh);
    let cases: [(&Path, &[&str]); 3] = [
        (
            &passwd,
            &["not a TFLite model", "no 'TFL3' file identifier"],
        ),
        (&truncated, &["the file ends at byte", "truncated"]),
        (&folder, &["is a folder"]),
    ];
    let internals = [
        "unaligned",
        "position",
        "out of bounds while verifying",
        "no such file",
    ];
    for (k, (p, wanted)) in cases.iter().enumerate() {
        open_by_path(&mut h, &p.display().to_string());
        assert!(h.state().tabs.is_empty());
        assert_eq!(h.state().errors.len(), k + 1, "{:?}", h.state().errors);
        let last = h.state().errors.last().unwrap().clone();
        for w in *wanted {
            assert!(last.contains(w), "{w:?} in {last:?}");
        }
        for bad in internals {
            assert!(!last.contains(bad), "no {bad:?} in {last:?}");
        }
        // Shown in the footer: "error: <the message>", near the bottom of the window.
        let head = format!("error: {}", last.lines().next().unwrap());
        let shown = h.get_by_label_contains(&head).rect();
        assert!(shown.top() > wh - 80.0, "at {shown:?}");
        if k > 0 {
            h.get_by_label(&format!("{k} earlier"));
        }
        assert!(h.query_all_by_label(")").next().is_none(), "a stray ')'");
    }
    // One dismiss for all.
    h.get_by_label("dismiss").click();
    h.run_steps(2);
    assert!(h.state().errors.is_empty());
    assert!(h.query_all_by_label_contains("error: ").next().is_none());
}

/// Issue #14 item 13: Tab completes in the path field, the candidates count reads "1 match".
#[test]
fn tab_completes_in_the_path_field() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("zebra_model.tflite"), b"x").unwrap();
    std::fs::write(dir.path().join("yak.png"), b"x").unwrap();
    let mut h = harness();
    h.get_by_label("Open by path...").click();
    h.run_steps(2);
    let prefix = format!("{}/zeb", dir.path().display());
    type_in_path_field(&mut h, &prefix);
    assert_eq!(
        h.get_by_role_and_label(egui::accesskit::Role::TextInput, "Open path:")
            .value(),
        Some(prefix.clone())
    );
    h.get_by_label("1 match");
    h.key_press(egui::Key::Tab);
    h.run_steps(2);
    let full = format!("{}/zebra_model.tflite", dir.path().display());
    let field = h.get_by_role_and_label(egui::accesskit::Role::TextInput, "Open path:");
    assert_eq!(field.value(), Some(full.clone()));
    assert!(field.is_focused(), "Tab kept the focus in the field");
    // Typing goes on at the end of the completion.
    field.type_text("X");
    h.run_steps(2);
    assert_eq!(
        h.get_by_role_and_label(egui::accesskit::Role::TextInput, "Open path:")
            .value(),
        Some(format!("{full}X"))
    );
}

/// Issue #14 item 11: at 640x480 the tabs stay on one row (close buttons beside their tabs,
/// in the menu's row), no idle footer, and the Tensors table shows a useful number of rows.
#[test]
fn small_window_keeps_tabs_on_one_row_and_table_rows_visible() {
    let (w, wh) = (640.0, 480.0);
    let mut h = harness_sized(w, wh);
    open_pair(&mut h);
    h.get_by_label("Tensors").click();
    h.run_steps(4);
    let mut tab_rects: Vec<egui::Rect> = ["digits_f32.tflite  [", "digits_int8.tflite  ["]
        .iter()
        .map(|n| h.get_by_label_contains(n).rect())
        .collect();
    let closes: Vec<egui::Rect> = h.query_all_by_label("x").map(|n| n.rect()).collect();
    assert_eq!(closes.len(), 2, "one close button per tab");
    tab_rects.extend(closes);
    let file = h.get_by_label("File").rect();
    for r in &tab_rects {
        assert!(
            (r.center().y - file.center().y).abs() < 4.0,
            "{r:?} in the menu row {file:?}"
        );
    }
    let top = tab_rects.iter().map(|r| r.top()).fold(f32::MAX, f32::min);
    let bottom = tab_rects.iter().map(|r| r.bottom()).fold(0.0, f32::max);
    assert!(bottom - top < 26.0, "tab row {top}..{bottom}");

    let q = Model::open(asset("digits_int8.tflite")).unwrap();
    let names: Vec<String> = q.subgraphs[0]
        .tensors
        .iter()
        .map(|t| shown_name(&t.name))
        .collect();
    let visible = names
        .iter()
        .filter(|n| {
            h.query_all_by_label(n)
                .any(|node| node.rect().top() >= 0.0 && node.rect().bottom() <= wh)
        })
        .count();
    assert!(
        visible >= 14,
        "{visible} of {} table rows visible at {w}x{wh}",
        names.len()
    );
    h.snapshot("app_small_640x480");
}

/// Issue #14 item 13: captions say "RGB, NHWC" (no enum spellings), a float input tensor has
/// no "0 levels", each thumbnail carries its status in words beside it.
#[test]
fn compare_captions_read_as_words() {
    let mut h = harness();
    open_pair(&mut h);
    drop_file(&mut h, &asset("samples/digit_2_0.png"));
    settle(&mut h);
    h.get_by_label_contains("RGB, NHWC");
    let mut checked = 0;
    for spelling in [
        "Rgb",
        "Bgr",
        "Nhwc",
        "Nchw",
        "CenterCrop",
        "Bilinear",
        " 0 levels",
    ] {
        assert!(
            h.query_all_by_label_contains(spelling).next().is_none(),
            "{spelling:?} shown"
        );
        checked += 1;
    }
    assert_eq!(checked, 7);
    h.get_by_label_contains("float32, ");
    // The thumbnail's status in words beside it.
    h.get_by_label("agrees");
}

/// Issue #14 item 4: "Add images..." without a native file dialog (none in the test harness:
/// no desktop portal) opens the in-app path field, and an image typed there is compared.
#[test]
fn add_images_without_a_dialog_opens_the_path_field() {
    let mut h = harness();
    open_pair(&mut h);
    h.get_by_label("Compare").click();
    h.run_steps(2);
    assert!(
        h.query_by_role_and_label(egui::accesskit::Role::TextInput, "Open path:")
            .is_none(),
        "no path field yet"
    );
    h.get_by_label("Add images...").click();
    h.run_steps(3);
    h.get_by_role_and_label(egui::accesskit::Role::TextInput, "Open path:");
    type_in_path_field(
        &mut h,
        &asset("samples/digit_2_0.png").display().to_string(),
    );
    h.get_by_label("Open").click();
    h.run_steps(2);
    settle(&mut h);
    assert!(h.state().errors.is_empty(), "{:?}", h.state().errors);
    let (f, q, _) = expected(None, ChannelOrder::Rgb);
    h.get_by_label(&f);
    h.get_by_label(&q);
}

/// Issue #14 item 5: a label file typed into the path field loads as labels (not as a model),
/// names the classes in the top-k lists, and is remembered for the model.
#[test]
fn a_label_file_in_the_path_field_names_the_classes() {
    let dir = tempfile::tempdir().unwrap();
    let labels = dir.path().join("my classes.txt");
    let names: Vec<String> = (0..10).map(|d| format!("numeral {d}")).collect();
    std::fs::write(&labels, names.join("\n")).unwrap();
    let mut h = harness();
    open_pair(&mut h);
    drop_file(&mut h, &asset("samples/digit_2_0.png"));
    settle(&mut h);
    let (f, _, _) = expected(None, ChannelOrder::Rgb);
    h.get_by_label(&f);
    assert!(h.query_by_label_contains("numeral").is_none());

    // File > Load labels...: no native dialog here, so the path field takes the file.
    h.get_by_label("File").click();
    h.run_steps(2);
    h.get_by_label("Load labels...").click();
    h.run_steps(3);
    type_in_path_field(&mut h, &labels.display().to_string());
    h.get_by_label("Open").click();
    h.run_steps(2);
    settle(&mut h);
    assert!(h.state().errors.is_empty(), "{:?}", h.state().errors);
    assert_eq!(h.state().tabs.len(), 2, "a label file opens no tab");
    // The float model's top-1 class, now named by the loaded file.
    let (head, score) = f.rsplit_once(" (").unwrap();
    let old_name = head.strip_prefix("float model top-1: ").unwrap();
    let class = std::fs::read_to_string(asset("digits_labels.txt"))
        .unwrap()
        .lines()
        .position(|l| l.trim() == old_name)
        .unwrap();
    h.get_by_label(&format!("float model top-1: {} ({score}", names[class]));
    // Given to the active (quantized) tab, whose comparison names both models' classes.
    let app = h.state();
    assert_eq!(app.tabs[app.active].labels.as_ref(), Some(&names));
}

/// The main comparison shows as soon as it is ready; the other preprocessing settings (due here
/// because the models disagree under a wrong value mapping: ImageNet's on a [0,1] model) arrive
/// later from the same job,
/// with a note while they run. A test hook holds the job between the two.
#[test]
fn compare_shows_the_main_result_before_the_other_settings() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};
    let mut h = harness();
    open_pair(&mut h);
    drop_file(&mut h, &asset("samples/digit_8_0.png"));
    settle(&mut h);
    let hold = Arc::new(AtomicBool::new(true));
    h.state_mut().tabs[1].compare.hold_alternatives = Some(hold.clone());
    h.state_mut().tabs[1]
        .compare
        .set_range(ValueRange::ImageNet);
    let (f, q, warnings) = expected_on(
        "samples/digit_8_0.png",
        Some(ValueRange::ImageNet),
        ChannelOrder::Rgb,
    );
    assert!(
        !warnings.is_empty(),
        "the other settings add a warning here"
    );
    // Frames poll the job without blocking, as the window does.
    let start = Instant::now();
    let main_shown = |h: &Harness<'_, QuantscopeApp>| {
        h.state().tabs[1].compare.results.first().is_some_and(|r| {
            r.as_ref()
                .is_ok_and(|r| r.comparison.preprocess.applied.range == ValueRange::ImageNet)
        })
    };
    while !main_shown(&h) {
        assert!(start.elapsed() < Duration::from_secs(120), "no main result");
        std::thread::sleep(Duration::from_millis(10));
        h.step();
    }
    h.run_steps(3);
    {
        let c = &h.state().tabs[1].compare;
        let r = &c.results[0].as_ref().unwrap().comparison;
        assert!(r.alternatives.is_empty());
        assert_eq!(r.alternatives_tried, "pending: the models disagree");
        assert!(c.is_running() && c.alternatives_pending());
        assert!(
            !r.layers.is_empty(),
            "per-layer errors come with the main result"
        );
    }
    h.get_by_label(&f);
    h.get_by_label(&q);
    h.get_by_label("trying other settings (channel order, value range)...");
    assert!(h.query_by_label("Other settings tried").is_none());
    let alt_warning = warnings.last().unwrap();
    assert!(h
        .query_by_label(&format!("warning: {alt_warning}"))
        .is_none());
    hold.store(false, Ordering::Relaxed);
    settle(&mut h);
    let c = &h.state().tabs[1].compare;
    assert!(!c.is_running());
    let r = &c.results[0].as_ref().unwrap().comparison;
    assert_eq!(r.alternatives.len(), 2 * ValueRange::presets().len() - 1);
    assert_eq!(r.alternatives_tried, "yes: the models disagree");
    assert_eq!(
        r.warnings, warnings,
        "the same warnings as the library's one-call compare"
    );
    h.get_by_label("Other settings tried");
    for w in &warnings {
        h.get_by_label(&format!("warning: {w}"));
    }
    assert!(h
        .query_by_label("trying other settings (channel order, value range)...")
        .is_none());
}
