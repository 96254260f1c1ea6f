//! The `resolver-config` strategy (and `both`) in CEL (ARCHITECTURE.md, "The
//! resolver-config strategy"): per target container, remove the env entries that
//! make Go pick cgo and mount the safe nsswitch.conf; per pod, rewrite the dnsConfig
//! options Go does not know and add the volume and annotation the mount reads.
//!
//! Env entries are removed by replacing the container's `env` with its filtered
//! list (Kubernetes' CEL before 1.33 cannot enumerate the indices of repeated
//! names); GODEBUG, never removed, is then edited at its index in that list. The
//! values that come from the pod (the filtered env, the kept options) are built in
//! the mutation from the object, everything else in the variables.

use netdns_guard_engine::policy::{GoFloor, Policy};
use netdns_guard_engine::resolver::{
    NSSWITCH_ANNOTATION, NSSWITCH_CONTENT, NSSWITCH_FILE, NSSWITCH_PATH, NSSWITCH_VOLUME,
    TRIGGER_VARS,
};
use netdns_guard_engine::{STATUS_ANNOTATION, env::GODEBUG};

use super::cel;
use super::variables::{Named, OPERATIONS, named};

// Options Go reads on every supported version, and from 1.20 on: the engine's own
// lists, so the policy and the webhook can never disagree on them.
use crate::engine::resolver::{FLAGS, FLAGS_SINCE_1_20, VALUED};

/// Whether the env entry `e` makes Go pick cgo, or may (from `valueFrom`).
fn triggers(e: &str) -> String {
    let names: Vec<String> = TRIGGER_VARS.iter().map(|s| s.to_string()).collect();
    format!(
        "(string({e}.name) in {} && (has({e}.valueFrom) || {e}.name == 'LOCALDOMAIN' || (has({e}.value) && string({e}.value) != '')))",
        cel::string_list(&names)
    )
}

/// Whether Go at `floor` reads the rendered option `r`.
fn known(r: &str, floor: GoFloor) -> String {
    let mut flags: Vec<String> = FLAGS.iter().map(|s| s.to_string()).collect();
    if floor >= GoFloor::Go120 {
        flags.extend(FLAGS_SINCE_1_20.iter().map(|s| s.to_string()));
    }
    let prefixes: Vec<String> = VALUED
        .iter()
        .map(|p| format!("{r}.startsWith({})", cel::string(p)))
        .collect();
    format!(
        "({} || {r} in {})",
        prefixes.join(" || "),
        cel::string_list(&flags)
    )
}

/// The option `o`'s name, and the option as kubelet writes it into resolv.conf.
fn option_name(o: &str) -> String {
    format!("(has({o}.name) ? string({o}.name) : '')")
}

fn rendered(o: &str) -> String {
    format!(
        "({} + (has({o}.value) && string({o}.value) != '' ? ':' + string({o}.value) : ''))",
        option_name(o)
    )
}

/// The variables after the target records (and, for `both`, the GODEBUG merge).
pub fn variables(policy: &Policy) -> Vec<Named> {
    let floor = policy.resolver_config.go_floor;
    let c = "object.spec[t.field][int(t.index)]";
    let path = cel::string(NSSWITCH_PATH);
    let records = named(
        "resolverRecords",
        format!(
            "(variables.initRecords + variables.mainRecords).map(t, {{'container': t.container, 'field': t.field, 'index': t.index, \
             'mount': !has({c}.volumeMounts) ? 'list' : {c}.volumeMounts.exists(m, m.mountPath == {path}) ? \
             (string({c}.volumeMounts.filter(m, m.mountPath == {path})[0].name) == {volume} ? 'ours' : 'other') : 'append', \
             'removes': has({c}.env) && {c}.env.exists(e, {trigger}) ? 'yes' : 'no'}})",
            volume = cel::string(NSSWITCH_VOLUME),
            trigger = triggers("e"),
        ),
    );
    let options = "object.spec.dnsConfig.options";
    let dns_fix = named(
        "dnsFix",
        format!(
            "size(variables.resolverRecords) > 0 && has(object.spec.dnsConfig) && has({options}) && {options}.exists(o, !{})",
            known(&rendered("o"), floor)
        ),
    );
    let uses = named(
        "usesNsswitch",
        "variables.resolverRecords.exists(r, r.mount != 'other')".into(),
    );
    let has_volume = named(
        "hasNsswitchVolume",
        format!(
            "has(object.spec.volumes) && object.spec.volumes.exists(v, v.name == {})",
            cel::string(NSSWITCH_VOLUME)
        ),
    );
    vec![records, dns_fix, uses, has_volume]
}

/// Container and pod operations, the status and the annotation operations.
pub fn operations(policy: &Policy) -> Vec<Named> {
    let base = "'/spec/' + r.field + '/' + r.index";
    let removals = format!(
        "variables.resolverRecords.filter(r, r.removes == 'yes').map(r, {{'container': r.container, 'op': 'replace', 'path': {base} + '/env', 'shape': 'filteredEnv', 'field': r.field, 'index': r.index, 'value': ''}})"
    );
    let mounts = format!(
        "variables.resolverRecords.filter(r, r.mount == 'list' || r.mount == 'append').map(r, {{'container': r.container, 'op': 'add', \
         'path': r.mount == 'list' ? {base} + '/volumeMounts' : {base} + '/volumeMounts/-', 'shape': r.mount == 'list' ? 'mountList' : 'mountEntry', 'value': ''}})"
    );
    let mut edits = Vec::new();
    if policy.strategy.edits_env() {
        // GODEBUG is edited where it is once the removals are done.
        let container = "object.spec[m.path.split('/')[2]][int(m.path.split('/')[3])]";
        let after = format!(
            "string({container}.env.filter(e, !{}).map(e, string(e.name)).lastIndexOf({}))",
            triggers("e"),
            cel::string(GODEBUG)
        );
        edits.push(format!(
            "variables.merges.filter(m, m.state != 'valueFrom' && m.value != m.current).map(m, {{'container': m.container, 'op': 'add', \
             'path': m.state == 'noEnv' ? m.path + '/env' : m.state == 'noGodebug' ? m.path + '/env/-' : m.path + '/env/' + {after} + '/value', \
             'shape': m.state == 'noEnv' ? 'envList' : m.state == 'noGodebug' ? 'envEntry' : 'string', 'value': m.value}})"
        ));
    }
    edits.push(mounts);
    let removals = named("removals", removals);
    let edits = named("edits", edits.join(" + "));
    let changes = named("changes", "variables.removals + variables.edits".into());
    let volume_ops = named(
        "volumeOps",
        "variables.usesNsswitch && !variables.hasNsswitchVolume ? [has(object.spec.volumes) ? {'op': 'add', 'path': '/spec/volumes/-', 'shape': 'volumeEntry', 'value': ''} : {'op': 'add', 'path': '/spec/volumes', 'shape': 'volumeList', 'value': ''}] : []"
            .into(),
    );
    let changed_names = named(
        "changedNames",
        "variables.changes.map(c, c.container)".into(),
    );
    let changed = named(
        "changedContainers",
        "(variables.initRecords + variables.mainRecords).map(t, t.container).filter(n, n in variables.changedNames)".into(),
    );
    let status = named(
        "status",
        format!(
            "{} + (size(variables.changedContainers) == 0 ? 'pod DNS settings' : 'containers ' + variables.changedContainers.join(',')) + (variables.dnsFix ? '; dnsConfig options fixed' : '')",
            cel::string(&format!("{}: ", policy.strategy))
        ),
    );
    let ns_key = cel::string(NSSWITCH_ANNOTATION);
    let nsswitch_differs = named(
        "nsswitchDiffers",
        format!(
            "variables.usesNsswitch && !({ns_key} in variables.annotations && string(variables.annotations[{ns_key}]) == {})",
            cel::string(NSSWITCH_CONTENT)
        ),
    );
    let key = cel::string(STATUS_ANNOTATION);
    let pointer = |k: &str| {
        cel::string(&format!(
            "/metadata/annotations/{}",
            k.replace('~', "~0").replace('/', "~1")
        ))
    };
    let annotation_ops = format!(
        "!has(object.metadata.annotations) ? [{{'op': 'add', 'path': '/metadata/annotations', 'shape': 'annotations', 'nsswitch': string(variables.usesNsswitch), 'value': variables.status}}] : \
         (variables.nsswitchDiffers ? [{{'op': 'add', 'path': {ns_path}, 'shape': 'nsswitch', 'value': ''}}] : []) + \
         ({key} in variables.annotations && string(variables.annotations[{key}]) == variables.status ? [] : [{{'op': 'add', 'path': {status_path}, 'shape': 'string', 'value': variables.status}}])",
        ns_path = pointer(NSSWITCH_ANNOTATION),
        status_path = pointer(STATUS_ANNOTATION),
    );
    let operations = named(
        OPERATIONS,
        format!(
            "variables.edits + variables.volumeOps + \
             (size(variables.changes) + size(variables.volumeOps) == 0 && !variables.dnsFix && !variables.nsswitchDiffers ? [] : {annotation_ops})"
        ),
    );
    vec![
        removals,
        edits,
        changes,
        volume_ops,
        changed_names,
        changed,
        status,
        nsswitch_differs,
        operations,
    ]
}

/// The mutation: builds each operation's value; the filtered env and the kept
/// dnsConfig options come from the object.
pub fn mutation(policy: &Policy) -> String {
    let floor = policy.resolver_config.go_floor;
    let g = cel::string(GODEBUG);
    let status = cel::string(STATUS_ANNOTATION);
    let ns_key = cel::string(NSSWITCH_ANNOTATION);
    let content = cel::string(NSSWITCH_CONTENT);
    let mount = format!(
        "{{'name': dyn({}), 'mountPath': dyn({}), 'subPath': dyn({}), 'readOnly': dyn(true)}}",
        cel::string(NSSWITCH_VOLUME),
        cel::string(NSSWITCH_PATH),
        cel::string(NSSWITCH_FILE),
    );
    let volume = format!(
        "{{'name': dyn({}), 'downwardAPI': dyn({{'items': [{{'path': dyn({}), 'fieldRef': dyn({{'fieldPath': {}}})}}]}})}}",
        cel::string(NSSWITCH_VOLUME),
        cel::string(NSSWITCH_FILE),
        cel::string(&format!("metadata.annotations['{NSSWITCH_ANNOTATION}']")),
    );
    let options = format!(
        "object.spec.dnsConfig.options.filter(o, {keep} || {name_known}).map(o, {keep} ? o : dyn({{'name': {name}}}))",
        keep = known(&rendered("o"), floor),
        name_known = known(&option_name("o"), floor),
        name = option_name("o"),
    );
    // The removals come first: the GODEBUG edits' indices are in the filtered env.
    format!(
        "variables.removals.map(o, JSONPatch{{op: 'replace', path: o.path, value: object.spec[o.field][int(o.index)].env.filter(e, !{trigger})}}) + \
         (variables.dnsFix ? [JSONPatch{{op: 'replace', path: '/spec/dnsConfig/options', value: {options}}}] : []) + \
         variables.{OPERATIONS}.map(o, JSONPatch{{op: o.op, path: o.path, value: \
         o.shape == 'envList' ? dyn([{{'name': {g}, 'value': o.value}}]) : \
         o.shape == 'envEntry' ? dyn({{'name': {g}, 'value': o.value}}) : \
         o.shape == 'mountList' ? dyn([{mount}]) : o.shape == 'mountEntry' ? dyn({mount}) : \
         o.shape == 'volumeList' ? dyn([{volume}]) : o.shape == 'volumeEntry' ? dyn({volume}) : \
         o.shape == 'nsswitch' ? dyn({content}) : \
         o.shape == 'annotations' ? dyn(o.nsswitch == 'true' ? {{{ns_key}: {content}, {status}: o.value}} : {{{status}: o.value}}) : \
         dyn(o.value)}})",
        trigger = triggers("e"),
    )
}
