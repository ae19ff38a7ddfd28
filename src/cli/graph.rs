//! `quantscope graph MODEL [--float FLOAT] [--colour-by readiness] [--json|--dot]`: the model as
//! the Graph tab shows it, with each op's integer readiness, for scripts and for a first look.

use crate::compare::pair_activations;
use crate::graph::colour::{self, ColourBy, ColourData, NodeValue};
use crate::graph::matching::{match_graphs, Matching, NodeMatch};
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
}

impl From<ColourArg> for ColourBy {
    fn from(c: ColourArg) -> ColourBy {
        match c {
            ColourArg::OpType => ColourBy::OpType,
            ColourArg::OutputDtype => ColourBy::OutputDtype,
            ColourArg::Granularity => ColourBy::Granularity,
            ColourArg::Readiness => ColourBy::Readiness,
            ColourArg::Readiness16 => ColourBy::Readiness16,
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
    /// What each node's value is.
    #[arg(long, value_enum, default_value = "readiness")]
    pub colour_by: ColourArg,
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
    let by: ColourBy = args.colour_by.into();
    let values = colour::values(&g, &model, by, &ColourData::default());
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
    let matching = match &args.float {
        Some(f) => {
            let float = open(f)?;
            let fg = graph::build(&float, 0, &opts)?;
            let pairs: Vec<(usize, usize)> = pair_activations(&float, &model)
                .iter()
                .map(|p| (p.float, p.quant))
                .collect();
            Some(match_graphs((&fg, &float), (&g, &model), &pairs))
        }
        None => None,
    };
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
        let risky = readiness::at_risk(ops, sixteen);
        if !risky.is_empty() {
            let _ = writeln!(s, "  {key} at risk:");
            for (i, name, v) in risky {
                let _ = writeln!(s, "    #{i:<5} {name:28} {}", v.label());
            }
        }
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
