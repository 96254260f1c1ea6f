//! Edits to one container's `env`: the GODEBUG merge (strategy `env`) and the
//! removal of resolver variables that force cgo (strategy `resolver-config`).

use serde_json::{Value, json};

use super::godebug::{self, Merge};
use super::model::{ContainerView, EnvVarView};
use super::patch::PatchOp;
use super::report::{Change, Finding};
use super::resolver;

/// The environment variable the fix lives in.
pub const GODEBUG: &str = "GODEBUG";

/// Operations, report lines and warnings produced for one container.
#[derive(Debug, Default)]
pub struct ContainerEdits {
    pub ops: Vec<PatchOp>,
    pub changes: Vec<Change>,
    pub warnings: Vec<String>,
}

impl ContainerEdits {
    fn warn(&mut self, container: &str, message: impl std::fmt::Display) {
        self.warnings
            .push(format!("container {container}: {message}"));
    }
}

/// Index of the GODEBUG entry the container runtime uses (the last one) and how many
/// there are.
fn godebug_entry<'v, 'a>(env: &'v [EnvVarView<'a>]) -> Option<(usize, &'v EnvVarView<'a>, usize)> {
    let count = env.iter().filter(|v| v.name == GODEBUG).count();
    env.iter()
        .enumerate()
        .rev()
        .find(|(_, v)| v.name == GODEBUG)
        .map(|(i, v)| (i, v, count))
}

/// The GODEBUG finding for a container, if GODEBUG bears on the resolver.
pub fn godebug_finding(container: &ContainerView<'_>) -> Option<Finding> {
    let (_, entry, _) = godebug_entry(container.env.as_deref()?)?;
    let Some(value) = entry.literal() else {
        return Some(Finding::EnvValueUnseen {
            name: GODEBUG.into(),
        });
    };
    let effective = godebug::effective(value);
    use godebug::ForcedResolver::{Cgo, Go};
    match (effective.go_1_19, effective.go_1_20) {
        _ if godebug::is_safe(value) => Some(Finding::GodebugForcesGo),
        (Cgo, Cgo) => Some(Finding::GodebugForcesCgo),
        (a, b) if a != b => Some(Finding::GodebugAmbiguous),
        (Go, Go) => Some(Finding::GodebugAmbiguous),
        _ => None,
    }
}

/// Whether the container's effective GODEBUG already forces Go on every version.
pub fn is_protected(container: &ContainerView<'_>) -> bool {
    godebug_finding(container) == Some(Finding::GodebugForcesGo)
}

/// Every finding in the container's env: resolver variables, GODEBUG, `envFrom`.
pub fn findings(container: &ContainerView<'_>) -> Vec<Finding> {
    let env = container.env.as_deref().unwrap_or_default();
    let mut findings: Vec<Finding> = env.iter().filter_map(resolver::env_finding).collect();
    findings.extend(godebug_finding(container));
    if container.env_from.as_ref().is_some_and(|f| !f.is_empty()) {
        findings.push(Finding::EnvFromUnseen);
    }
    findings
}

/// Merges `netdns=go` into the container's GODEBUG (ARCHITECTURE.md, "The GODEBUG merge"). `path` points at
/// the container.
pub fn protect_godebug(
    container: &ContainerView<'_>,
    path: &str,
    override_cgo: bool,
    out: &mut ContainerEdits,
) {
    let name = container.name.as_ref();
    let added = |out: &mut ContainerEdits| {
        out.changes.push(Change::GodebugAdded {
            value: godebug::NETDNS_GO.into(),
        });
        if container.env_from.as_ref().is_some_and(|f| !f.is_empty()) {
            out.warn(
                name,
                "has envFrom; the GODEBUG env entry added overrides any GODEBUG from it",
            );
        }
    };
    let entry = || json!({ "name": GODEBUG, "value": godebug::NETDNS_GO });

    let Some(env) = container.env.as_deref() else {
        // Never `add .../env/-` on a missing list: the whole list is added.
        out.ops.push(PatchOp::Add {
            path: format!("{path}/env"),
            value: Value::Array(vec![entry()]),
        });
        return added(out);
    };
    let Some((index, var, count)) = godebug_entry(env) else {
        out.ops.push(PatchOp::Add {
            path: format!("{path}/env/-"),
            value: entry(),
        });
        return added(out);
    };
    if count > 1 {
        out.warn(
            name,
            format_args!("GODEBUG is defined {count} times; the last (effective) one is edited"),
        );
    }
    let Some(current) = var.literal() else {
        return out.warn(
            name,
            "GODEBUG comes from valueFrom and cannot be checked; left unchanged",
        );
    };
    match godebug::merge(current, override_cgo) {
        Merge::AlreadyGo => {}
        Merge::KeptCgo => out.warn(
            name,
            "GODEBUG selects netdns=cgo; kept (set overrideCgo to change it)",
        ),
        Merge::Rewrite { value, why } => {
            let path = format!("{path}/env/{index}/value");
            let value_json = Value::String(value.clone());
            out.ops.push(match var.value {
                Some(_) => PatchOp::Replace {
                    path,
                    value: value_json,
                },
                None => PatchOp::Add {
                    path,
                    value: value_json,
                },
            });
            out.changes.push(Change::GodebugRewritten {
                from: current.to_owned(),
                to: value,
                why: why.to_string(),
            });
            if container.env_from.as_ref().is_some_and(|f| !f.is_empty()) {
                out.warn(
                    name,
                    "has envFrom; the GODEBUG env entry overrides any GODEBUG from it",
                );
            }
        }
    }
}

/// Removes env entries that force (or may force) the cgo resolver. Removals come
/// last and from the highest index down, so earlier operations' indices stay valid.
pub fn remove_resolver_vars(container: &ContainerView<'_>, path: &str, out: &mut ContainerEdits) {
    let env = container.env.as_deref().unwrap_or_default();
    for (index, var) in env.iter().enumerate().rev() {
        if resolver::env_triggers_cgo(var) != Some(false) {
            out.ops.push(PatchOp::Remove {
                path: format!("{path}/env/{index}"),
            });
            out.changes.push(Change::EnvRemoved {
                name: var.name.to_string(),
            });
        }
    }
}

/// Mounts the safe nsswitch.conf unless the container already mounts something at
/// /etc/nsswitch.conf. Returns whether the container uses our file afterwards.
pub fn mount_nsswitch(container: &ContainerView<'_>, path: &str, out: &mut ContainerEdits) -> bool {
    let mounts = container.volume_mounts.as_deref();
    let at_path = mounts.and_then(|m| m.iter().find(|m| m.mount_path == resolver::NSSWITCH_PATH));
    if let Some(existing) = at_path {
        // Ours from an earlier run: done. Anything else is the owner's own file,
        // which we cannot see and must not shadow.
        if existing.name != resolver::NSSWITCH_VOLUME {
            out.warn(
                &container.name,
                "already mounts /etc/nsswitch.conf; left as is (cannot be checked)",
            );
        }
        return existing.name == resolver::NSSWITCH_VOLUME;
    }
    let mount = json!({
        "name": resolver::NSSWITCH_VOLUME,
        "mountPath": resolver::NSSWITCH_PATH,
        "subPath": resolver::NSSWITCH_FILE,
        "readOnly": true,
    });
    out.ops.push(match mounts {
        Some(_) => PatchOp::Add {
            path: format!("{path}/volumeMounts/-"),
            value: mount,
        },
        None => PatchOp::Add {
            path: format!("{path}/volumeMounts"),
            value: Value::Array(vec![mount]),
        },
    });
    out.changes.push(Change::NsswitchMounted);
    true
}
