//! Paths as Graphviz DOT and Mermaid, for pasting into incident reports. Invariant: every label
//! is escaped, so hostile system or tool names cannot break out of the diagram syntax.

use std::fmt::Write;

use super::{Delegation, Path};
use crate::time::format_rfc3339_us;

/// A path as a Graphviz digraph: one node per (agent, system) position, one edge per hop, dashed
/// edges into each delegate's path.
pub fn to_dot(path: &Path) -> String {
    let mut out = String::from(
        "digraph hoptrail {\n  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];\n",
    );
    let mut n = 0usize;
    dot_path(path, &mut out, &mut n, None);
    out.push_str("}\n");
    out
}

fn dot_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| match c {
            '"' => vec!['\\', '"'],
            '\\' => vec!['\\', '\\'],
            // DOT's own line-break escape: a newline in a name stays inside the label.
            '\n' => vec!['\\', 'n'],
            '\r' => vec![' '],
            c if c.is_control() => vec![],
            c => vec![c],
        })
        .collect()
}

fn dot_path(path: &Path, out: &mut String, n: &mut usize, parent: Option<(usize, &Delegation)>) {
    let Some(start) = &path.start else { return };
    let first = dot_node(format!("{}\n{}", path.agent_id, start.system), out, n);
    if let Some((from, d)) = parent {
        let _ = writeln!(
            out,
            "  n{from} -> n{first} [style=dashed, label=\"{} {}\"];",
            d.via.as_str(),
            format_rfc3339_us(d.at_us)
        );
    }
    for d in &start.delegations {
        dot_delegation(d, first, out, n);
    }
    let mut prev = first;
    for h in &path.hops {
        let next = dot_node(format!("{}\n{}", path.agent_id, h.to), out, n);
        let label = format!(
            "{} {}{}",
            format_rfc3339_us(h.at_us),
            h.tool.as_deref().unwrap_or(""),
            h.credential_id
                .as_deref()
                .map(|c| format!(" [{c}]"))
                .unwrap_or_default()
        );
        let _ = writeln!(
            out,
            "  n{prev} -> n{next} [label=\"{}\"];",
            dot_escape(&label)
        );
        for d in &h.delegations {
            dot_delegation(d, next, out, n);
        }
        prev = next;
    }
}

fn dot_node(label: String, out: &mut String, n: &mut usize) -> usize {
    *n += 1;
    let _ = writeln!(out, "  n{} [label=\"{}\"];", *n, dot_escape(&label));
    *n
}

fn mermaid_node(label: String, out: &mut String, n: &mut usize) -> usize {
    *n += 1;
    let _ = writeln!(out, "  n{}[\"{}\"]", *n, mermaid_escape(&label));
    *n
}

fn dot_delegation(d: &Delegation, from: usize, out: &mut String, n: &mut usize) {
    match &d.path {
        Some(p) => dot_path(p, out, n, Some((from, d))),
        None => {
            *n += 1;
            let why = if d.cycle { "cycle" } else { "truncated" };
            let _ = writeln!(
                out,
                "  n{} [label=\"{} ({why})\", style=dotted];",
                *n,
                dot_escape(&d.agent_id)
            );
            let _ = writeln!(
                out,
                "  n{from} -> n{} [style=dashed, label=\"{}\"];",
                *n,
                d.via.as_str()
            );
        }
    }
}

/// A path as a Mermaid flowchart.
pub fn to_mermaid(path: &Path) -> String {
    let mut out = String::from("flowchart LR\n");
    let mut n = 0usize;
    mermaid_path(path, &mut out, &mut n, None);
    out
}

fn mermaid_escape(s: &str) -> String {
    // Mermaid labels in quotes accept HTML entities; quotes and brackets would end the label.
    s.chars()
        .map(|c| match c {
            '"' => "#quot;".to_string(),
            '<' => "#lt;".to_string(),
            '>' => "#gt;".to_string(),
            '|' => "#124;".to_string(),
            c if c.is_control() => " ".to_string(),
            c => c.to_string(),
        })
        .collect()
}

fn mermaid_path(
    path: &Path,
    out: &mut String,
    n: &mut usize,
    parent: Option<(usize, &Delegation)>,
) {
    let Some(start) = &path.start else { return };
    let first = mermaid_node(format!("{}: {}", path.agent_id, start.system), out, n);
    if let Some((from, d)) = parent {
        let _ = writeln!(out, "  n{from} -.->|\"{}\"| n{first}", d.via.as_str());
    }
    for d in &start.delegations {
        mermaid_delegation(d, first, out, n);
    }
    let mut prev = first;
    for h in &path.hops {
        let next = mermaid_node(format!("{}: {}", path.agent_id, h.to), out, n);
        let label = format!(
            "{} {}",
            format_rfc3339_us(h.at_us),
            h.tool.as_deref().unwrap_or("")
        );
        let _ = writeln!(out, "  n{prev} -->|\"{}\"| n{next}", mermaid_escape(&label));
        for d in &h.delegations {
            mermaid_delegation(d, next, out, n);
        }
        prev = next;
    }
}

fn mermaid_delegation(d: &Delegation, from: usize, out: &mut String, n: &mut usize) {
    match &d.path {
        Some(p) => mermaid_path(p, out, n, Some((from, d))),
        None => {
            *n += 1;
            let why = if d.cycle { "cycle" } else { "truncated" };
            let _ = writeln!(
                out,
                "  n{}[\"{} ({why})\"]",
                *n,
                mermaid_escape(&d.agent_id)
            );
            let _ = writeln!(out, "  n{from} -.->|\"{}\"| n{}", d.via.as_str(), *n);
        }
    }
}

/// A small labelled graph (for views that are not a single path, such as a credential's reach).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Graph {
    /// `(id, label)`; ids are internal, labels are shown.
    pub nodes: Vec<(String, String)>,
    /// `(from id, to id, label, dashed)`.
    pub edges: Vec<(String, String, String, bool)>,
}

impl Graph {
    /// Adds a node once; returns its diagram id.
    pub fn node(&mut self, key: &str, label: &str) -> String {
        if let Some(i) = self.nodes.iter().position(|(k, _)| k == key) {
            return format!("n{i}");
        }
        self.nodes.push((key.to_owned(), label.to_owned()));
        format!("n{}", self.nodes.len() - 1)
    }

    /// Adds an edge between two node ids.
    pub fn edge(&mut self, from: String, to: String, label: &str, dashed: bool) {
        let e = (from, to, label.to_owned(), dashed);
        if !self.edges.contains(&e) {
            self.edges.push(e);
        }
    }

    /// As Graphviz DOT.
    pub fn to_dot(&self) -> String {
        let mut out = String::from(
            "digraph hoptrail {\n  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];\n",
        );
        for (i, (_, label)) in self.nodes.iter().enumerate() {
            let _ = writeln!(out, "  n{i} [label=\"{}\"];", dot_escape(label));
        }
        for (a, b, label, dashed) in &self.edges {
            let style = if *dashed { ", style=dashed" } else { "" };
            let _ = writeln!(
                out,
                "  {a} -> {b} [label=\"{}\"{style}];",
                dot_escape(label)
            );
        }
        out.push_str("}\n");
        out
    }

    /// As a Mermaid flowchart.
    pub fn to_mermaid(&self) -> String {
        let mut out = String::from("flowchart LR\n");
        for (i, (_, label)) in self.nodes.iter().enumerate() {
            let _ = writeln!(out, "  n{i}[\"{}\"]", mermaid_escape(label));
        }
        for (a, b, label, dashed) in &self.edges {
            let arrow = if *dashed { "-.->" } else { "-->" };
            let _ = writeln!(out, "  {a} {arrow}|\"{}\"| {b}", mermaid_escape(label));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::super::{build_path, PathEvent, PathOptions, PathRoot, TokenLineage};
    use super::*;

    fn ev(id: &str, t: i64, system: &str) -> PathEvent {
        PathEvent {
            tool: Some("tool|<b>".into()),
            zone: None,
            ..crate::path::tests::tool(id, t, "agent \"x\"", "s", system)
        }
    }

    fn path() -> Path {
        build_path(
            &PathRoot::Agent("agent \"x\"".into()),
            vec![
                ev("1", 0, "jira"),
                ev("2", 1, "evil\"];\nn9 -> n1 [label=\""),
            ],
            TokenLineage::default(),
            PathOptions::default(),
        )
    }

    #[test]
    fn dot_has_one_edge_per_hop_and_escapes_labels() {
        let dot = to_dot(&path());
        let edges = dot
            .lines()
            .filter(|l| l.split_whitespace().nth(1) == Some("->"))
            .count();
        assert_eq!(edges, 1, "{dot}");
        assert!(dot.contains("agent \\\"x\\\""), "{dot}");
        assert_eq!(
            dot.lines().count(),
            7,
            "a hostile system name adds no line, so no edge: {dot}"
        );
    }

    #[test]
    fn a_graph_adds_each_node_and_edge_once() {
        let mut g = Graph::default();
        let a = g.node("a", "agent \"a\"");
        let t = g.node("t", "tok");
        assert_eq!(g.node("a", "ignored"), a);
        g.edge(a.clone(), t.clone(), "used", false);
        g.edge(a, t, "used", false);
        assert_eq!(
            g.to_dot()
                .lines()
                .filter(|l| l.split_whitespace().nth(1) == Some("->"))
                .count(),
            1
        );
        assert!(g.to_mermaid().contains("#quot;a#quot;"));
    }

    #[test]
    fn mermaid_has_one_edge_per_hop_and_escapes_labels() {
        let m = to_mermaid(&path());
        assert!(m.starts_with("flowchart LR\n"));
        assert_eq!(m.matches("-->").count(), 1, "{m}");
        assert!(m.contains("tool#124;#lt;b#gt;"), "{m}");
    }
}
