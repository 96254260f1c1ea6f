//! The policy's CEL program: match conditions, the `variables` that hold all of the
//! logic, and the thin mutation expression that turns their last one into
//! `JSONPatch` values.
//!
//! The variables form a pipeline. Per container list (init containers, then
//! containers) they compute image keys, the at-risk verdicts and the indices of
//! target containers; then, over one list of per-target records
//! (`map(string, string)`), the GODEBUG entry each target has, the parts of its
//! value Go reads, and the value the engine would write. Each stage reads the
//! previous one by field, so nothing is computed twice per container and no stage
//! needs an index it cannot get (Kubernetes' CEL before 1.33 has no two-variable
//! comprehensions): container indices come from `indexOf` on the container names,
//! which Kubernetes requires to be unique in a pod.

use netdns_guard_engine::catalog::CatalogEntry;
use netdns_guard_engine::policy::{ContainerScope, Policy};
use netdns_guard_engine::targeting::INJECT_ANNOTATION;
use netdns_guard_engine::{STATUS_ANNOTATION, env::GODEBUG, godebug::NETDNS_GO};

use super::{cel, resolver};

/// A named CEL expression (a match condition or a variable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    /// The name CEL refers to it by (`variables.NAME`).
    pub name: String,
    /// The expression.
    pub expression: String,
}

/// A named expression.
pub(super) fn named(name: &str, expression: String) -> Named {
    Named {
        name: name.to_owned(),
        expression,
    }
}

/// The two container lists the engine edits, in its report order.
const LISTS: [(&str, &str); 2] = [("init", "initContainers"), ("main", "containers")];

/// The name of the last variable: the operations the mutation writes out.
pub const OPERATIONS: &str = "operations";

/// The match conditions: only the pod's own opt-out, which wins over everything.
pub fn match_conditions() -> Vec<Named> {
    let annotations = "object.metadata.annotations";
    let key = cel::string(INJECT_ANNOTATION);
    vec![named(
        "not-opted-out",
        format!(
            "!(has(object.metadata) && has({annotations}) && {key} in {annotations} && string({annotations}[{key}]).lowerAscii() == 'false')"
        ),
    )]
}

/// Every variable, in evaluation order (each may read the earlier ones).
pub fn variables(policy: &Policy, catalog: &[&CatalogEntry]) -> Vec<Named> {
    let mut out = targeting(policy);
    for (prefix, field) in LISTS {
        out.extend(container_list(prefix, field, catalog));
    }
    if policy.containers == ContainerScope::All {
        out.push(named(
            "anyAtRisk",
            "variables.initAtRisk.exists(r, r) || variables.mainAtRisk.exists(r, r)".into(),
        ));
    }
    for (prefix, field) in LISTS {
        out.push(target_indices(prefix, policy.containers));
        out.push(target_records(prefix, field));
    }
    if policy.strategy.edits_env() {
        out.extend(godebug_merge(policy));
    }
    if policy.strategy.edits_resolver() {
        out.extend(resolver::variables(policy));
        out.extend(resolver::operations(policy));
    } else {
        out.extend(operations(policy));
    }
    out
}

/// Pod-level targeting: opt-in, skipped namespaces, selectors.
fn targeting(policy: &Policy) -> Vec<Named> {
    let key = cel::string(INJECT_ANNOTATION);
    let skipped = if policy.skip_namespaces.is_empty() {
        "false".to_owned()
    } else {
        format!(
            "request.namespace in {}",
            cel::string_list(&policy.skip_namespaces)
        )
    };
    let selected = if policy.selectors.is_empty() {
        "false".to_owned()
    } else {
        let each: Vec<String> = policy
            .selectors
            .iter()
            .map(|s| cel::selector("variables.labels", s))
            .collect();
        each.join(" || ")
    };
    vec![
        named(
            "annotations",
            "has(object.metadata.annotations) ? object.metadata.annotations : {}".into(),
        ),
        named(
            "labels",
            "has(object.metadata.labels) ? object.metadata.labels : {}".into(),
        ),
        named(
            "optedIn",
            format!(
                "{key} in variables.annotations && string(variables.annotations[{key}]).lowerAscii() == 'true'"
            ),
        ),
        named("skipped", skipped),
        named("selected", selected),
        named(
            "everyContainer",
            "variables.optedIn || (!variables.skipped && variables.selected)".into(),
        ),
    ]
}

/// One container list: the list itself, its names, image keys (with the digest a
/// reference carries) and at-risk verdicts.
fn container_list(prefix: &str, field: &str, catalog: &[&CatalogEntry]) -> Vec<Named> {
    let list = format!("variables.{prefix}Containers");
    vec![
        named(
            &format!("{prefix}Containers"),
            format!("has(object.spec.{field}) ? object.spec.{field} : []"),
        ),
        named(
            &format!("{prefix}Names"),
            format!("{list}.map(c, string(c.name))"),
        ),
        named(
            &format!("{prefix}ImageReferences"),
            format!("{list}.map(c, {})", cel::image_reference("c")),
        ),
        // Names keep the reference's digest as a suffix, for patterns pinned to
        // one; the tag goes (no pattern may name a tag).
        named(
            &format!("{prefix}ImageNames"),
            format!(
                "variables.{prefix}ImageReferences.map(r, {}).map(p, ({}) + p.digest)",
                cel::image_parts("r"),
                cel::image_name("p.name")
            ),
        ),
        named(
            &format!("{prefix}ImageKeys"),
            format!(
                "variables.{prefix}ImageNames.map(n, {})",
                cel::image_key("n")
            ),
        ),
        named(
            &format!("{prefix}AtRisk"),
            format!(
                "variables.{prefix}ImageKeys.map(k, {})",
                cel::at_risk("k", catalog)
            ),
        ),
    ]
}

/// The indices of one list's target containers.
fn target_indices(prefix: &str, scope: ContainerScope) -> Named {
    let names = format!("variables.{prefix}Names");
    let catalog = match scope {
        ContainerScope::Matching => format!("variables.{prefix}AtRisk[i]"),
        ContainerScope::All => "variables.anyAtRisk".to_owned(),
    };
    named(
        &format!("{prefix}Targets"),
        format!(
            "{names}.map(n, {names}.indexOf(n)).filter(i, variables.everyContainer || (!variables.skipped && {catalog}))"
        ),
    )
}

/// One record per target container: where it is and where its GODEBUG entry is.
///
/// `at` is the index of the last GODEBUG entry (the one the container runtime
/// uses), `-1` when there is none, `none` when the container has no `env` list.
fn target_records(prefix: &str, field: &str) -> Named {
    let c = format!("variables.{prefix}Containers[i]");
    named(
        &format!("{prefix}Records"),
        format!(
            "variables.{prefix}Targets.map(i, {{'container': string({c}.name), 'field': '{field}', 'index': string(i), 'at': has({c}.env) ? string({c}.env.map(e, string(e.name)).lastIndexOf({godebug})) : 'none'}})",
            godebug = cel::string(GODEBUG),
        ),
    )
}

/// The GODEBUG merge over the target records, in three stages: the entry's state
/// and value, the parts of the value Go reads, and the value to write.
fn godebug_merge(policy: &Policy) -> Vec<Named> {
    let entry = "object.spec[t.field][int(t.index)].env[int(t.at)]";
    let entries = named(
        "entries",
        format!(
            "(variables.initRecords + variables.mainRecords).map(t, {{'container': t.container, 'path': '/spec/' + t.field + '/' + t.index, 'at': t.at, \
             'state': t.at == 'none' ? 'noEnv' : t.at == '-1' ? 'noGodebug' : has({entry}.valueFrom) ? 'valueFrom' : 'literal', \
             'current': t.at == 'none' || t.at == '-1' || has({entry}.valueFrom) || !has({entry}.value) ? '' : string({entry}.value)}})"
        ),
    );
    let values = cel::netdns_values("e.current");
    let like = cel::netdns_like("i");
    // Lists are kept joined by ',': GODEBUG items never contain one, and a
    // netdns-like item is never empty, so `''` is the empty list.
    let parsed = named(
        "parsed",
        format!(
            "variables.entries.map(e, {{'container': e.container, 'path': e.path, 'at': e.at, 'state': e.state, 'current': e.current, \
             'count': string(size({values})), 'values': {values}.join(','), \
             'likes': e.current.split(',').filter(i, {like}).join(','), \
             'levels': {values}.map(v, {}).filter(d, d != '').join(',')}})",
            cel::debug_digits("v")
        ),
    );
    let last = |list: &str| format!("{list}.substring({list}.lastIndexOf(',') + 1)");
    let item = format!("{NETDNS_GO}+");
    let new_item = format!(
        "(p.levels == '' ? {go} : {item} + {level})",
        go = cel::string(NETDNS_GO),
        item = cel::string(&item),
        level = last("p.levels"),
    );
    let misspelt = "(p.likes == '' ? 0 : size(p.likes.split(','))) != int(p.count)";
    let already_go = format!(
        "p.count == '1' && !({misspelt}) && {}",
        cel::selects("p.values", "go")
    );
    let kept_cgo = if policy.override_cgo {
        "false".to_owned()
    } else {
        format!(
            "p.count != '0' && {} && {}",
            cel::selects("p.values.split(',')[0]", "cgo"),
            cel::selects(&last("p.values"), "cgo")
        )
    };
    let last_like = last("p.likes");
    let at = format!("(',' + p.current + ',').lastIndexOf(',' + {last_like} + ',')");
    let replaced = format!(
        "p.current.substring(0, {at}).split(',').filter(i, !({like})).join(',') + {new_item} + p.current.substring({at} + size({last_like}))"
    );
    let merged = format!(
        "p.current == '' ? {go} : p.likes == '' ? p.current + (p.current.endsWith(',') ? '' : ',') + {go} : ({already_go}) || ({kept_cgo}) ? p.current : {replaced}",
        go = cel::string(NETDNS_GO),
    );
    let merges = named(
        "merges",
        format!(
            "variables.parsed.map(p, {{'container': p.container, 'path': p.path, 'at': p.at, 'state': p.state, 'current': p.current, \
             'value': p.state == 'literal' ? ({merged}) : p.state == 'valueFrom' ? '' : {go}}})",
            go = cel::string(NETDNS_GO),
        ),
    );
    vec![entries, parsed, merges]
}

/// The operations: one per changed container, then the status annotation.
///
/// Each is a record whose `shape` says how the mutation builds its value: the env
/// list, one env entry, a plain string, or the annotations map.
fn operations(policy: &Policy) -> Vec<Named> {
    // A missing env list or GODEBUG entry always changes ('' becomes netdns=go).
    let changed = "variables.merges.filter(m, m.state != 'valueFrom' && m.value != m.current)";
    let container_ops = named(
        "changes",
        format!(
            "{changed}.map(m, {{'container': m.container, \
             'path': m.state == 'noEnv' ? m.path + '/env' : m.state == 'noGodebug' ? m.path + '/env/-' : m.path + '/env/' + m.at + '/value', \
             'shape': m.state == 'noEnv' ? 'envList' : m.state == 'noGodebug' ? 'envEntry' : 'string', 'value': m.value}})"
        ),
    );
    let status = named(
        "status",
        format!(
            "{} + variables.changes.map(c, c.container).join(',')",
            cel::string(&format!("{}: containers ", policy.strategy))
        ),
    );
    let key = cel::string(STATUS_ANNOTATION);
    let escaped = STATUS_ANNOTATION.replace('~', "~0").replace('/', "~1");
    let annotation = format!(
        "has(object.metadata.annotations) ? {{'path': {path}, 'shape': 'string', 'value': variables.status}} : {{'path': '/metadata/annotations', 'shape': 'annotations', 'value': variables.status}}",
        path = cel::string(&format!("/metadata/annotations/{escaped}")),
    );
    let operations = named(
        OPERATIONS,
        format!(
            "variables.changes.map(c, {{'path': c.path, 'shape': c.shape, 'value': c.value}}) + \
             (size(variables.changes) == 0 || ({key} in variables.annotations && string(variables.annotations[{key}]) == variables.status) ? [] : [{annotation}])"
        ),
    );
    vec![container_ops, status, operations]
}

/// The JSONPatch mutation: only builds values from the operation records.
pub fn mutation(policy: &Policy) -> String {
    if policy.strategy.edits_resolver() {
        return resolver::mutation(policy);
    }
    format!(
        "variables.{OPERATIONS}.map(o, JSONPatch{{op: 'add', path: o.path, value: \
         o.shape == 'envList' ? dyn([{{'name': {g}, 'value': o.value}}]) : \
         o.shape == 'envEntry' ? dyn({{'name': {g}, 'value': o.value}}) : \
         o.shape == 'annotations' ? dyn({{{status}: o.value}}) : dyn(o.value)}})",
        g = cel::string(GODEBUG),
        status = cel::string(STATUS_ANNOTATION),
    )
}
