//! Layered top-to-bottom layout with `dagre`, the Rust port of dagre.js (the layout Netron uses).
//! Box sizes come from the text each node shows, measured with the caller's font metrics, so the
//! GUI only scales and draws what this returns.

use super::{Graph, Node};
use dagre::graph::{Graph as DGraph, GraphOptions};
use dagre::{EdgeLabel, GraphLabel, LayoutOptions, NodeLabel, Ranker};
use serde::Serialize;

/// Font metrics of whoever draws the graph, in its own units.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Metrics {
    pub char_width: f32,
    pub line_height: f32,
    pub padding: f32,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            char_width: 7.0,
            line_height: 14.0,
            padding: 6.0,
        }
    }
}

/// A node's box: centre and size.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct NodeBox {
    pub x: f32,
    pub y: f32,
    pub w: f32,
    pub h: f32,
}

impl NodeBox {
    pub fn contains(&self, p: [f32; 2]) -> bool {
        (p[0] - self.x).abs() <= self.w / 2.0 && (p[1] - self.y).abs() <= self.h / 2.0
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Layout {
    /// One box per graph node, same order.
    pub nodes: Vec<NodeBox>,
    /// One polyline per graph edge, same order.
    pub edges: Vec<Vec<[f32; 2]>>,
    pub width: f32,
    pub height: f32,
    /// The ranker used: network simplex (dagre's default) up to `SIMPLEX_LIMIT` nodes, longest
    /// path above (network simplex grows too slow for graphs of thousands of ops).
    pub ranker: &'static str,
}

/// Graphs with more nodes are ranked by longest path.
pub const SIMPLEX_LIMIT: usize = 1500;

/// Text lines a node shows, in order: title, attributes, one line per weight.
pub fn node_lines(node: &Node) -> Vec<String> {
    let mut lines = vec![node.title.clone()];
    lines.extend(node.attributes.iter().cloned());
    for w in &node.weights {
        let dims: Vec<String> = w.shape.iter().map(|d| d.to_string()).collect();
        lines.push(format!("W {} {}", dims.join("x"), w.dtype));
    }
    lines
}

fn node_size(node: &Node, m: &Metrics) -> (f32, f32) {
    let lines = node_lines(node);
    let chars = lines
        .iter()
        .map(|l| l.chars().count())
        .max()
        .unwrap_or(1)
        .min(48);
    (
        chars as f32 * m.char_width + 2.0 * m.padding,
        lines.len() as f32 * m.line_height + 2.0 * m.padding,
    )
}

/// Lays the graph out top to bottom.
pub fn layout(graph: &Graph, metrics: &Metrics) -> Layout {
    let mut g: DGraph<NodeLabel, EdgeLabel> = DGraph::with_options(GraphOptions {
        directed: true,
        multigraph: true,
        compound: false,
    });
    let mut sizes = Vec::with_capacity(graph.nodes.len());
    for (i, node) in graph.nodes.iter().enumerate() {
        let (w, h) = node_size(node, metrics);
        sizes.push((w, h));
        let label = NodeLabel {
            width: w as f64,
            height: h as f64,
            ..Default::default()
        };
        g.set_node(i.to_string(), Some(label));
    }
    for e in &graph.edges {
        g.set_edge(
            e.from.to_string(),
            e.to.to_string(),
            Some(EdgeLabel::default()),
            Some(&e.tensor.to_string()),
        );
    }
    let ranker = if graph.nodes.len() > SIMPLEX_LIMIT {
        Ranker::LongestPath
    } else {
        Ranker::NetworkSimplex
    };
    let opts = LayoutOptions {
        nodesep: 24.0,
        ranksep: 28.0,
        edgesep: 10.0,
        ranker,
        ..Default::default()
    };
    dagre::layout(&mut g, Some(opts));
    let nodes = sizes
        .iter()
        .enumerate()
        .map(|(i, &(w, h))| {
            let n = g.node(&i.to_string());
            NodeBox {
                x: n.and_then(|n| n.x).unwrap_or(0.0) as f32,
                y: n.and_then(|n| n.y).unwrap_or(0.0) as f32,
                w,
                h,
            }
        })
        .collect::<Vec<_>>();
    let edges = graph
        .edges
        .iter()
        .map(|e| {
            let name = e.tensor.to_string();
            let pts: Vec<[f32; 2]> = g
                .edge(&e.from.to_string(), &e.to.to_string(), Some(&name))
                .map(|l| l.points.iter().map(|p| [p.x as f32, p.y as f32]).collect())
                .unwrap_or_default();
            if pts.len() >= 2 {
                pts
            } else {
                let (a, b) = (nodes[e.from], nodes[e.to]);
                vec![[a.x, a.y + a.h / 2.0], [b.x, b.y - b.h / 2.0]]
            }
        })
        .collect();
    let (width, height) = g
        .graph_label::<GraphLabel>()
        .map(|l| (l.width as f32, l.height as f32))
        .unwrap_or_else(|| extent(&nodes));
    Layout {
        nodes,
        edges,
        width,
        height,
        ranker: match ranker {
            Ranker::LongestPath => "longest-path",
            _ => "network-simplex",
        },
    }
}

fn extent(nodes: &[NodeBox]) -> (f32, f32) {
    nodes.iter().fold((0.0f32, 0.0f32), |(w, h), n| {
        (w.max(n.x + n.w / 2.0), h.max(n.y + n.h / 2.0))
    })
}

impl Layout {
    /// The node under a point, if any.
    pub fn node_at(&self, p: [f32; 2]) -> Option<usize> {
        self.nodes.iter().position(|b| b.contains(p))
    }

    /// The edge passing nearest a point, if one passes within `tolerance` (layout units).
    pub fn edge_at(&self, p: [f32; 2], tolerance: f32) -> Option<usize> {
        let dist = |a: [f32; 2], b: [f32; 2]| {
            let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
            let len2 = dx * dx + dy * dy;
            let t = if len2 > 0.0 {
                (((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / len2).clamp(0.0, 1.0)
            } else {
                0.0
            };
            ((a[0] + t * dx - p[0]).powi(2) + (a[1] + t * dy - p[1]).powi(2)).sqrt()
        };
        self.edges
            .iter()
            .enumerate()
            .filter_map(|(i, pts)| {
                pts.windows(2)
                    .map(|w| dist(w[0], w[1]))
                    .reduce(f32::min)
                    .map(|d| (i, d))
            })
            .filter(|&(_, d)| d <= tolerance)
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(i, _)| i)
    }
}
