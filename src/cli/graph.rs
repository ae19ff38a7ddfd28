//! `quantscope graph MODEL [--float FLOAT] [--color KIND --image IMG] [--json|--dot]
//! [--svg OUT.svg] [--png OUT.png]`: the model as the Graph tab shows it, with each op's integer
//! readiness, its weight SQNR or the per-layer SQNR of a Compare run on an image, for scripts,
//! CI reports (the SVG/PNG pictures with their legend) and a first look.

use super::preprocess_args::PreprocessArgs;
use crate::compare::pair_activations;
use crate::compare::{Comparator, CompareOptions};
use crate::graph::colour::{self, ColourBy, ColourData, NodeValue};
use crate::graph::export::{self, Picture};
use crate::graph::matching::{match_graphs, side_by_side, Matching, NodeMatch};
use crate::graph::readiness::{self, Verdict};
use crate::graph::{self, layout, BuildOptions, Graph};
use crate::model::Model;
use anyhow::Context;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum ColourArg {
    OpType,
    OutputDtype,
    Granularity,
    Readiness,
    Readiness16,
    /// The lowest SQNR of each op's weights (weights analysis; against --float when given).
    WeightSqnr,
    /// Local SQNR of each op's output in a Compare run on --image (the error this op adds).
    Sqnr,
    /// Cumulative SQNR of each op's output in a Compare run on --image.
    SqnrCumulative,
}

impl From<ColourArg> for ColourBy {
    fn from(c: ColourArg) -> ColourBy {
        match c {
            ColourArg::OpType => ColourBy::OpType,
            ColourArg::OutputDtype => ColourBy::OutputDtype,
            ColourArg::Granularity => ColourBy::Granularity,
            ColourArg::Readiness => ColourBy::Readiness,
            ColourArg::Readiness16 => ColourBy::Readiness16,
            ColourArg::WeightSqnr => ColourBy::WeightSqnr,
            ColourArg::Sqnr => ColourBy::LayerSqnrLocal,
            ColourArg::SqnrCumulative => ColourBy::LayerSqnrCumulative,
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The .tflite file.
    pub model: PathBuf,
    /// Subgraph to show (WHILE/IF/CALL_ONCE bodies are subgraphs of their own).
    #[arg(long, default_value_t = 0)]
    pub subgraph: usize,
    /// Fold chains of RESHAPE/TRANSPOSE/SQUEEZE/EXPAND_DIMS into one node.
    #[arg(long)]
    pub collapse_shape_ops: bool,
    /// What each node's value is (default: sqnr with --image, else readiness).
    #[arg(
        long,
        value_enum,
        visible_alias = "color",
        alias = "colour",
        alias = "color-by"
    )]
    pub colour_by: Option<ColourArg>,
    /// Run a Compare on this image (float twin: --float, else the model's own float twin) for
    /// the sqnr colourings.
    /// Preprocessing is what `compare` detects from the model without flags.
    #[arg(long)]
    pub image: Option<PathBuf>,
    /// Write the laid-out graph with its colouring and legend as SVG.
    #[arg(long, value_name = "OUT.svg")]
    pub svg: Option<PathBuf>,
    /// Write the same picture as PNG (rendered by resvg, twice the SVG's size).
    #[arg(long, value_name = "OUT.png")]
    pub png: Option<PathBuf>,
    /// In the SVG/PNG, draw the --float model's graph to the left, matched nodes linked.
    #[arg(long, requires = "float")]
    pub side_by_side: bool,
    /// The float twin: link matched nodes, mark inserted QUANTIZE/DEQUANTIZE and unmatched ops.
    #[arg(long)]
    pub float: Option<PathBuf>,
    /// Include the laid-out boxes and edge polylines (dagre) in the JSON.
    #[arg(long)]
    pub layout: bool,
    /// One JSON document on stdout.
    #[arg(long, conflicts_with = "dot")]
    pub json: bool,
    /// Graphviz DOT on stdout.
    #[arg(long)]
    pub dot: bool,
}

#[derive(Serialize)]
struct Report<'a> {
    model: String,
    colour_by: ColourBy,
    readiness_reflects: &'static str,
    graph: &'a Graph,
    values: Vec<NodeValue>,
    legend: colour::Legend,
    /// int8 and int16x8 verdict counts over the subgraph's ops.
    readiness: BTreeMap<&'static str, BTreeMap<Verdict, usize>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    layout: Option<layout::Layout>,
    #[serde(skip_serializing_if = "Option::is_none")]
    matching: Option<Matching>,
}

fn open(path: &PathBuf) -> anyhow::Result<Model> {
    Model::open(path).with_context(|| format!("{}", path.display()))
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let model = open(&args.model)?;
    let opts = BuildOptions {
        collapse_shape_ops: args.collapse_shape_ops,
    };
    let g = graph::build(&model, args.subgraph, &opts)?;
    let by: ColourBy = args
        .colour_by
        .unwrap_or(if args.image.is_some() {
            ColourArg::Sqnr
        } else {
            ColourArg::Readiness
        })
        .into();
    let float = args.float.as_ref().map(open).transpose()?;
    let data = colour_data(&args, by, &model, float.as_ref())?;
    let values = colour::values(&g, &model, by, &data);
    let ops = &model.subgraphs[args.subgraph].operators;
    let mut readiness = BTreeMap::new();
    for (key, sixteen) in [("int8", false), ("int16x8", true)] {
        let mut counts = BTreeMap::new();
        for op in ops {
            let r = readiness::of_op(op);
            *counts
                .entry(if sixteen { r.int16x8 } else { r.int8 })
                .or_insert(0) += 1;
        }
        readiness.insert(key, counts);
    }
    let matching = match &float {
        Some(float) if args.subgraph == 0 => {
            let fg = graph::build(float, 0, &opts)?;
            let pairs: Vec<(usize, usize)> = pair_activations(float, &model)
                .iter()
                .map(|p| (p.float, p.quant))
                .collect();
            Some(match_graphs((&fg, float), (&g, &model), &pairs))
        }
        _ => None,
    };
    if args.svg.is_some() || args.png.is_some() {
        let metrics = layout::Metrics::default();
        let l = layout::layout(&g, &metrics);
        let joined = match (&float, &matching, args.side_by_side) {
            (Some(f), Some(m), true) => {
                let fg = graph::build(f, 0, &opts)?;
                let fl = layout::layout(&fg, &metrics);
                let s = side_by_side((&fg, &fl), (&g, &l), m);
                let fdata = ColourData::default();
                let v = s.values(&colour::values(&fg, f, by, &fdata), &values);
                Some((s, v))
            }
            _ => None,
        };
        let mut title = file_name(&args.model);
        if let Some(f) = &args.float {
            title.push_str(&format!(" vs {}", file_name(f)));
        }
        if let (Some(img), true) = (&args.image, by.is_numeric()) {
            title.push_str(&format!(" on {}", file_name(img)));
        }
        let svg = export::svg(&match &joined {
            Some((s, v)) => Picture {
                graph: &s.graph,
                layout: &s.layout,
                values: v,
                colour_by: by,
                matching: Some(&s.marks),
                links: &s.links,
                title: format!("{title} (float left)"),
            },
            None => Picture {
                graph: &g,
                layout: &l,
                values: &values,
                colour_by: by,
                matching: matching.as_ref().map(|m| m.quant.as_slice()),
                links: &[],
                title,
            },
        });
        if let Some(p) = &args.svg {
            std::fs::write(p, &svg).with_context(|| format!("cannot write {}", p.display()))?;
            eprintln!("wrote {}", p.display());
        }
        if let Some(p) = &args.png {
            let png = export::png(&svg, 2.0)?;
            std::fs::write(p, png).with_context(|| format!("cannot write {}", p.display()))?;
            eprintln!("wrote {}", p.display());
        }
        if !args.json && !args.dot {
            return Ok(());
        }
    }
    if args.dot {
        print!("{}", dot(&g, &values));
        return Ok(());
    }
    let report = Report {
        model: args.model.display().to_string(),
        colour_by: by,
        readiness_reflects: readiness::REFLECTS,
        legend: colour::legend(&values),
        graph: &g,
        values,
        readiness,
        layout: args
            .layout
            .then(|| layout::layout(&g, &layout::Metrics::default())),
        matching,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", text(&report, ops));
    }
    Ok(())
}

fn file_name(p: &std::path::Path) -> String {
    p.file_name().map_or_else(
        || p.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// The numbers the numeric colourings need: the weights analysis (against the float model when
/// given) for weight SQNR, a Compare run on `--image` for the per-layer SQNR.
fn colour_data(
    args: &Args,
    by: ColourBy,
    model: &Model,
    float: Option<&Model>,
) -> anyhow::Result<ColourData> {
    let weights = match by {
        ColourBy::WeightSqnr => Some(crate::quant::analyze(
            model,
            float,
            &crate::quant::Options::default(),
        )?),
        _ => None,
    };
    let layers = match (by, &args.image) {
        (ColourBy::LayerSqnrLocal | ColourBy::LayerSqnrCumulative, None) => {
            anyhow::bail!("--color sqnr needs --image IMG (a Compare run gives the per-layer SQNR)")
        }
        (ColourBy::LayerSqnrLocal | ColourBy::LayerSqnrCumulative, Some(img)) => {
            let (pp, why) = PreprocessArgs::default().resolve(model, float)?;
            let mut cmp = Comparator::new(float, model, CompareOptions::default())?;
            let image = crate::preprocess::load_image_with(
                img,
                crate::preprocess::ImageLimits::default(),
                pp.exif,
            )?;
            let r = cmp.compare(&image, &img.display().to_string(), &pp, why)?;
            Some(r.layers)
        }
        _ => None,
    };
    Ok(ColourData::from_results(
        weights.as_ref(),
        layers.as_deref(),
        args.subgraph,
    ))
}

fn value_text(v: &NodeValue) -> String {
    match v {
        NodeValue::Category { name, .. } => name.clone(),
        NodeValue::Number { value, .. } => format!("{value:.1} dB"),
        NodeValue::Missing => "-".into(),
    }
}

fn text(r: &Report, ops: &[crate::model::Operator]) -> String {
    let mut s = String::new();
    let g = r.graph;
    let _ = writeln!(
        s,
        "{}: subgraph {}, {} nodes, {} edges",
        r.model,
        g.subgraph,
        g.nodes.len(),
        g.edges.len()
    );
    let _ = writeln!(
        s,
        "full-integer readiness ({}), {} ops:",
        r.readiness_reflects,
        ops.len()
    );
    for (key, counts) in &r.readiness {
        let parts: Vec<String> = counts
            .iter()
            .map(|(v, n)| format!("{n} {}", v.label()))
            .collect();
        let _ = writeln!(s, "  {key:8} {}", parts.join(", "));
    }
    for (key, sixteen) in [("int8", false), ("int16x8", true)] {
        let risky = readiness::at_risk(ops, sixteen).into_iter();
        let lines = risky.map(|(i, name, v)| format!("#{i:<5} {name:28} {}", v.label()));
        super::section(&mut s, "  ", &format!("{key} at risk:"), lines);
    }
    if let Some(m) = &r.matching {
        let inserted = m
            .quant
            .iter()
            .filter(|x| **x == NodeMatch::Inserted)
            .count();
        let only_q = m
            .quant
            .iter()
            .filter(|x| **x == NodeMatch::OnlyHere)
            .count();
        let only_f = m
            .float
            .iter()
            .filter(|x| **x == NodeMatch::OnlyHere)
            .count();
        let _ = writeln!(
            s,
            "float twin: {} nodes linked, {inserted} QUANTIZE/DEQUANTIZE inserted, {only_q} only in this model, {only_f} only in the float model",
            m.linked
        );
    }
    let _ = writeln!(s, "\n{:>5}  {:36} {}", "node", "op", r.colour_by.label());
    for (i, (n, v)) in g.nodes.iter().zip(&r.values).enumerate() {
        let _ = writeln!(s, "{i:>5}  {:36} {}", n.title, value_text(v));
    }
    s
}

fn dot(g: &Graph, values: &[NodeValue]) -> String {
    let esc = |t: &str| t.replace('\\', "\\\\").replace('"', "\\\"");
    let mut s = String::from("digraph model {\n  node [shape=box, fontname=\"monospace\"];\n");
    for (i, (n, v)) in g.nodes.iter().zip(values).enumerate() {
        let label = layout::node_lines(n).join("\\n");
        let _ = writeln!(
            s,
            "  n{i} [label=\"{}\", tooltip=\"{}\"];",
            esc(&label),
            esc(&value_text(v))
        );
    }
    for e in &g.edges {
        let _ = writeln!(
            s,
            "  n{} -> n{} [label=\"{}\"];",
            e.from,
            e.to,
            esc(&e.label)
        );
    }
    s.push_str("}\n");
    s
}
