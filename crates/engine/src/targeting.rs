//! Which containers of a pod are targets (ARCHITECTURE.md, "Targeting").
//!
//! The order is the contract: the pod's opt-out wins over everything, its opt-in over
//! the policy, then namespaces the policy skips, the policy's label selectors, and last
//! the image catalog.

use super::catalog::{CatalogEntry, Risk};
use super::model::MetaView;
use super::report::Targeting;
use crate::policy::{ContainerScope, Policy};

/// The per-pod opt-in/opt-out annotation.
pub const INJECT_ANNOTATION: &str = "netdns-guard.io/inject";

/// The targeting decision for a pod and, per container (in report order), whether it
/// is a target.
pub fn decide(
    policy: &Policy,
    meta: Option<&MetaView<'_>>,
    namespace: Option<&str>,
    agents: &[Option<&CatalogEntry>],
) -> (Targeting, Vec<bool>) {
    let annotation = |key: &str| meta?.annotations.as_ref()?.get(key).map(|v| v.as_ref());
    let label = |key: &str| meta?.labels.as_ref()?.get(key).map(|v| v.as_ref());
    let every = |targeting| (targeting, vec![true; agents.len()]);
    let none = |targeting| (targeting, vec![false; agents.len()]);

    match annotation(INJECT_ANNOTATION)
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("false") => return none(Targeting::OptedOut),
        Some("true") => return every(Targeting::OptedIn),
        _ => {}
    }
    if let Some(ns) = namespace.filter(|ns| policy.skip_namespaces.iter().any(|s| s == ns)) {
        return none(Targeting::NamespaceSkipped {
            namespace: ns.to_owned(),
        });
    }
    if let Some(index) = policy.selectors.iter().position(|s| s.matches(label)) {
        return every(Targeting::Selector { index });
    }
    let at_risk: Vec<bool> = agents
        .iter()
        .map(|a| a.is_some_and(|e| e.risk == Risk::AtRisk))
        .collect();
    if !at_risk.contains(&true) {
        return none(Targeting::NoAgent);
    }
    match policy.containers {
        ContainerScope::Matching => (Targeting::Catalog, at_risk),
        ContainerScope::All => every(Targeting::Catalog),
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;
    use std::collections::BTreeMap;

    use super::*;

    fn meta(
        annotations: &[(&'static str, &'static str)],
        labels: &[(&'static str, &'static str)],
    ) -> MetaView<'static> {
        let map = |pairs: &[(&'static str, &'static str)]| {
            Some(
                pairs
                    .iter()
                    .map(|(k, v)| (Cow::Borrowed(*k), Cow::Borrowed(*v)))
                    .collect::<BTreeMap<_, _>>(),
            )
        };
        MetaView {
            annotations: map(annotations),
            labels: map(labels),
            ..Default::default()
        }
    }

    fn entry(risk: Risk) -> CatalogEntry {
        CatalogEntry {
            id: "x".into(),
            name: "X".into(),
            risk,
            reason: "test".into(),
            images: vec!["x".into()],
            warning: None,
        }
    }

    fn policy(yaml: &str) -> Policy {
        Policy::from_yaml(yaml).unwrap()
    }

    #[test]
    fn opt_out_wins_over_opt_in_selectors_and_catalog() {
        let at_risk = entry(Risk::AtRisk);
        let m = meta(&[(INJECT_ANNOTATION, "false")], &[("app", "a")]);
        let p = policy("selectors: [{matchLabels: {app: a}}]");
        let (t, targets) = decide(&p, Some(&m), None, &[Some(&at_risk)]);
        assert_eq!(t, Targeting::OptedOut);
        assert_eq!(targets, [false]);
    }

    #[test]
    fn opt_in_wins_over_a_skipped_namespace() {
        let m = meta(&[(INJECT_ANNOTATION, "true")], &[]);
        let p = policy("skipNamespaces: [logging]");
        let (t, targets) = decide(&p, Some(&m), Some("logging"), &[None, None]);
        assert_eq!(t, Targeting::OptedIn);
        assert_eq!(targets, [true, true]);
    }

    #[test]
    fn skipped_namespace_wins_over_selectors_and_catalog() {
        let at_risk = entry(Risk::AtRisk);
        let m = meta(&[], &[("app", "a")]);
        let p = policy("skipNamespaces: [logging]\nselectors: [{matchLabels: {app: a}}]");
        let (t, _) = decide(&p, Some(&m), Some("logging"), &[Some(&at_risk)]);
        assert_eq!(
            t,
            Targeting::NamespaceSkipped {
                namespace: "logging".into()
            }
        );
    }

    #[test]
    fn a_selector_targets_every_container_before_the_catalog_is_asked() {
        let not_go = entry(Risk::NotGo);
        let m = meta(&[], &[("app", "a")]);
        let p = policy("selectors: [{matchLabels: {app: b}}, {matchLabels: {app: a}}]");
        let (t, targets) = decide(&p, Some(&m), None, &[Some(&not_go), None]);
        assert_eq!(t, Targeting::Selector { index: 1 });
        assert_eq!(targets, [true, true]);
    }

    #[test]
    fn the_catalog_targets_matching_or_all_containers() {
        let at_risk = entry(Risk::AtRisk);
        let pure = entry(Risk::PureGo);
        let agents = [Some(&at_risk), Some(&pure), None];
        let (t, targets) = decide(&Policy::default(), None, None, &agents);
        assert_eq!(t, Targeting::Catalog);
        assert_eq!(targets, [true, false, false]);
        let (_, targets) = decide(&policy("containers: all"), None, None, &agents);
        assert_eq!(targets, [true, true, true]);
        let (t, targets) = decide(&Policy::default(), None, None, &[Some(&pure), None]);
        assert_eq!(t, Targeting::NoAgent);
        assert_eq!(targets, [false, false]);
    }
}
