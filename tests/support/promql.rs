//! Checking PromQL against what a server exports: the metric names, label names
//! and label values an expression selects must appear on the server's `/metrics`
//! (or be target labels Prometheus adds), so a misspelt name cannot hide in an
//! alert that then never fires or a panel that stays empty.

use std::collections::{BTreeMap, BTreeSet};

use promql_parser::label::{MatchOp, Matcher};
use promql_parser::parser::{Expr, LabelModifier, VectorSelector};

/// Labels Prometheus attaches to every series it scrapes through the chart's
/// ServiceMonitor (target labels): not the server's to export, so /metrics cannot
/// show them.
pub const TARGET_LABELS: &[&str] = &[
    "namespace",
    "service",
    "pod",
    "container",
    "endpoint",
    "job",
    "instance",
];

/// What the server exports: metric name -> label name -> values seen.
pub type Exported = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

pub fn parse_exposition(text: &str) -> Exported {
    let mut out = Exported::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (series, _value) = line.rsplit_once(' ').expect("sample line");
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => (name, rest.strip_suffix('}').expect("closing brace")),
            None => (series, ""),
        };
        let entry = out.entry(name.to_owned()).or_default();
        // The server's label values hold no quote, comma or escape.
        for pair in labels.split(',').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').expect("label=value");
            entry
                .entry(key.to_owned())
                .or_default()
                .insert(value.trim_matches('"').to_owned());
        }
    }
    out
}

/// Checks one parsed expression; returns what is wrong with it.
pub fn unknown_names(expr: &Expr, exported: &Exported) -> Vec<String> {
    let mut problems = Vec::new();
    let mut selected = Vec::new();
    let mut grouping = Vec::new();
    walk(expr, &mut selected, &mut grouping);
    for (name, matchers) in &selected {
        let Some(name) = name else {
            problems.push("a selector without a metric name".to_owned());
            continue;
        };
        let Some(labels) = exported.get(name) else {
            problems.push(format!("metric {name} is not exported"));
            continue;
        };
        for m in matchers {
            if TARGET_LABELS.contains(&m.name.as_str()) {
                continue;
            }
            match labels.get(&m.name) {
                None => problems.push(format!("{name} has no label {}", m.name)),
                Some(values) if !values.iter().any(|v| m.is_match(v)) => problems.push(format!(
                    "{name}{{{}}} matches none of the exported values {values:?}",
                    m
                )),
                Some(values) => problems.extend(
                    unexported_alternatives(m, values)
                        .map(|alt| format!("{name}{{{m}}}: {alt:?} is not an exported value")),
                ),
            }
        }
    }
    for label in grouping {
        let known = TARGET_LABELS.contains(&label.as_str())
            || selected.iter().any(|(name, _)| {
                name.as_ref()
                    .and_then(|n| exported.get(n))
                    .is_some_and(|labels| labels.contains_key(&label))
            });
        if !known {
            problems.push(format!(
                "grouping label {label} is exported by none of its metrics"
            ));
        }
    }
    problems
}

/// The alternatives of a `label=~"a|b"` matcher made of plain words that no
/// exported value equals (a typo in one alternative hides behind the others).
fn unexported_alternatives<'m>(
    m: &'m Matcher,
    values: &'m BTreeSet<String>,
) -> impl Iterator<Item = &'m str> {
    let plain = matches!(m.op, MatchOp::Re(_))
        && m.value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '|'));
    m.value
        .split('|')
        .filter(move |_| plain)
        .filter(move |alt| !values.contains(*alt))
}

type Selected = (Option<String>, Vec<Matcher>);

/// Collects the selectors and the grouping/matching labels of an expression.
fn walk(expr: &Expr, selected: &mut Vec<Selected>, grouping: &mut Vec<String>) {
    let modifier = |m: &Option<LabelModifier>, grouping: &mut Vec<String>| {
        if let Some(m) = m {
            grouping.extend(m.labels().labels.iter().cloned());
        }
    };
    match expr {
        Expr::Aggregate(a) => {
            modifier(&a.modifier, grouping);
            walk(&a.expr, selected, grouping);
            if let Some(p) = &a.param {
                walk(p, selected, grouping);
            }
        }
        Expr::Unary(u) => walk(&u.expr, selected, grouping),
        Expr::Binary(b) => {
            if let Some(m) = &b.modifier {
                modifier(&m.matching, grouping);
                if let Some(l) = m.card.labels() {
                    grouping.extend(l.labels.iter().cloned());
                }
            }
            walk(&b.lhs, selected, grouping);
            walk(&b.rhs, selected, grouping);
        }
        Expr::Paren(p) => walk(&p.expr, selected, grouping),
        Expr::Subquery(s) => walk(&s.expr, selected, grouping),
        Expr::VectorSelector(v) => selected.push(selector(v)),
        Expr::MatrixSelector(m) => selected.push(selector(&m.vs)),
        Expr::Call(c) => {
            for arg in &c.args.args {
                walk(arg, selected, grouping);
            }
        }
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}

fn selector(v: &VectorSelector) -> Selected {
    let mut matchers: Vec<Matcher> = v
        .matchers
        .matchers
        .iter()
        .filter(|m| m.name != "__name__")
        .cloned()
        .collect();
    matchers.extend(v.matchers.or_matchers.iter().flatten().cloned());
    (v.name.clone(), matchers)
}
