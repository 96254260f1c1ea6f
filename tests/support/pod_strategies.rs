//! Proptest strategies for pods with the shapes that break naive mutation code
//! (shared by the engine's property tests and the admission-policy equivalence
//! tests): missing and empty `env` lists, entries without a value or with
//! `valueFrom`, nasty GODEBUG values, `envFrom`, missing metadata, `dnsConfig`
//! options, init and ephemeral containers.

#![allow(dead_code)]

use proptest::prelude::*;
use serde_json::{Map, Value, json};

// --- generators --------------------------------------------------------------

/// Catalog agents of every risk class, in the reference forms real manifests use,
/// and images the catalog does not know.
pub const IMAGES: &[&str] = &[
    "loggieio/loggie:v1.5.0",
    "docker.elastic.co/beats/filebeat:8.15.0",
    "elastic/metricbeat:7.17.0",
    "docker.io/grafana/promtail:3.5.1",
    "grafana/promtail@sha256:0123456789abcdef",
    "gcr.io/datadoghq/agent:7.49.1",
    "registry.datadoghq.com/agent:7.81.1",
    "harbor.corp:8443/mirror/loggieio/loggie",
    "grafana/alloy:v1.5.1",
    "otel/opentelemetry-collector-contrib:0.110.0",
    "cr.fluentbit.io/fluent/fluent-bit:3.2.2",
    "fluent/fluentd-kubernetes-daemonset:v1-debian",
    "busybox",
    "nginx:1.27",
    "registry.example.com:5000/team/app:1.0",
];

pub fn image() -> impl Strategy<Value = Option<String>> {
    image_from(IMAGES.iter().map(|i| i.to_string()).collect())
}

/// An image from `images`, or none (a container without `image`).
pub fn image_from(images: Vec<String>) -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        9 => prop::sample::select(images).prop_map(Some),
        1 => Just(None),
    ]
}

/// One GODEBUG item: the spellings the merge must get right, and random junk.
pub fn godebug_item() -> impl Strategy<Value = String> {
    let known = prop::sample::select(vec![
        "",
        "netdns=go",
        "netdns=cgo",
        "netdns=1",
        " netdns=go",
        "netdns=go ",
        "netdns=go+1",
        "netdns=2+go",
        "netdns=go+cgo",
        "netdns=cgo+2",
        "netdns=",
        "netdns",
        "NETDNS=go",
        "netdns=Go",
        "netdns=+",
        "http2client=0",
        "x509ignoreCN=0",
        "a=1",
    ]);
    prop_oneof![
        4 => known.prop_map(str::to_owned),
        1 => "[a-z0-9=+ ]{0,8}",
    ]
}

/// A whole GODEBUG value: often a single item (so each row of the merge table is
/// hit), otherwise several joined by commas, so items repeat and empty items
/// (`a=1,,b=2`) occur.
pub fn godebug_value() -> impl Strategy<Value = String> {
    prop_oneof![
        godebug_item(),
        prop::collection::vec(godebug_item(), 0..4).prop_map(|items| items.join(",")),
    ]
}

/// One `env` entry: a literal value, no value at all, or `valueFrom`.
pub fn env_var() -> impl Strategy<Value = Value> {
    let name = prop::sample::select(vec![
        "GODEBUG",
        "GODEBUG",
        "GODEBUG",
        "LOCALDOMAIN",
        "RES_OPTIONS",
        "HOSTALIASES",
        "PATH",
        "LOG_LEVEL",
    ]);
    (name, 0..8u8, godebug_value(), "[a-z./:0-9]{0,6}").prop_map(|(name, how, godebug, other)| {
        let mut var = json!({ "name": name });
        match how {
            0 => {}
            1 => var["valueFrom"] = json!({ "fieldRef": { "fieldPath": "metadata.name" } }),
            _ if name == "GODEBUG" => var["value"] = Value::from(godebug),
            _ => var["value"] = Value::from(other),
        }
        var
    })
}

/// `None` (field absent), an empty list, or a few items.
pub fn optional_list<S: Strategy<Value = Value>>(
    item: S,
    max: usize,
) -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        Just(None),
        Just(Some(json!([]))),
        prop::collection::vec(item, 1..=max).prop_map(|v| Some(Value::Array(v))),
    ]
}

pub fn volume_mount() -> impl Strategy<Value = Value> {
    prop::sample::select(vec![
        json!({ "name": "data", "mountPath": "/data" }),
        // The owner's own nsswitch.conf: must be left alone.
        json!({ "name": "mine", "mountPath": "/etc/nsswitch.conf" }),
        // Ours, from an earlier run.
        json!({ "name": "netdns-guard-nsswitch", "mountPath": "/etc/nsswitch.conf",
                "subPath": "nsswitch.conf", "readOnly": true }),
    ])
}

/// A container without its name (names are given by position in [`pod`]).
pub fn container() -> impl Strategy<Value = Value> {
    container_with(image())
}

/// A container whose image comes from `image`.
pub fn container_with(
    image: impl Strategy<Value = Option<String>>,
) -> impl Strategy<Value = Value> {
    let env_from = json!([{ "configMapRef": { "name": "settings" } }]);
    (
        image,
        optional_list(env_var(), 5),
        prop_oneof![Just(None), Just(Some(json!([]))), Just(Some(env_from))],
        optional_list(volume_mount(), 2),
    )
        .prop_map(|(image, env, env_from, mounts)| {
            let mut c = Map::new();
            c.insert("args".into(), json!(["-v"]));
            let fields = [
                ("image", image.map(Value::from)),
                ("env", env),
                ("envFrom", env_from),
                ("volumeMounts", mounts),
            ];
            for (key, value) in fields {
                if let Some(value) = value {
                    c.insert(key.into(), value);
                }
            }
            Value::Object(c)
        })
}

pub fn dns_option() -> impl Strategy<Value = Value> {
    let name = prop::sample::select(vec![
        "ndots",
        "timeout",
        "attempts",
        "rotate",
        "edns0",
        "trust-ad",
        "no-reload",
        "inet6",
        "single-request",
        "use-vc",
        "debug",
        "",
    ]);
    let value = prop::option::of(prop::sample::select(vec!["", "1", "2", "x"]));
    (prop::option::of(name), value).prop_map(|(name, value)| {
        let mut option = Map::new();
        if let Some(name) = name {
            option.insert("name".into(), Value::from(name));
        }
        if let Some(value) = value {
            option.insert("value".into(), Value::from(value));
        }
        Value::Object(option)
    })
}

pub fn dns_config() -> impl Strategy<Value = Option<Value>> {
    prop::option::of(optional_list(dns_option(), 4).prop_map(|options| {
        let mut config = json!({ "nameservers": ["10.0.0.10"], "searches": ["svc.cluster.local"] });
        if let Some(options) = options {
            config["options"] = options;
        }
        config
    }))
}

pub fn annotations() -> impl Strategy<Value = Option<Value>> {
    let entry = prop::sample::select(vec![
        ("netdns-guard.io/inject", "true"),
        ("netdns-guard.io/inject", "false"),
        ("netdns-guard.io/inject", "maybe"),
        ("netdns-guard.io/status", "from an older run"),
        ("example.com/a~b", "x"),
        ("checksum/config", "0123"),
    ]);
    // A repeated key keeps the last value, as in a YAML mapping read by kubectl.
    prop::option::of(prop::collection::vec(entry, 0..3).prop_map(|entries| {
        let map: Map<String, Value> = entries
            .into_iter()
            .map(|(k, v)| (k.to_owned(), Value::from(v)))
            .collect();
        Value::Object(map)
    }))
}

pub fn metadata() -> impl Strategy<Value = Option<Value>> {
    let namespace = prop::option::of(prop::sample::select(vec!["logging", "skipped"]));
    let labels = prop::option::of(Just(json!({ "app": "selected" })));
    prop::option::of((namespace, labels, annotations(), any::<bool>()).prop_map(
        |(namespace, labels, annotations, named)| {
            let mut meta = Map::new();
            let fields = [
                ("name", named.then(|| Value::from("p"))),
                ("namespace", namespace.map(Value::from)),
                ("labels", labels),
                ("annotations", annotations),
            ];
            for (key, value) in fields {
                if let Some(value) = value {
                    meta.insert(key.into(), value);
                }
            }
            Value::Object(meta)
        },
    ))
}

pub fn volumes() -> impl Strategy<Value = Option<Value>> {
    let volume = prop::sample::select(vec![
        json!({ "name": "data", "emptyDir": {} }),
        json!({ "name": "netdns-guard-nsswitch", "downwardAPI": { "items": [] } }),
    ]);
    optional_list(volume, 2)
}

/// Names containers by position: Kubernetes requires unique names in a pod.
pub fn named(containers: Vec<Value>, prefix: &str) -> Value {
    let named = containers.into_iter().enumerate().map(|(i, mut c)| {
        c["name"] = Value::from(format!("{prefix}{i}"));
        c
    });
    Value::Array(named.collect())
}

pub fn pod() -> impl Strategy<Value = Value> {
    pod_with(IMAGES.iter().map(|i| i.to_string()).collect())
}

/// A pod whose containers run images from `images`.
pub fn pod_with(images: Vec<String>) -> impl Strategy<Value = Value> {
    let container = move || container_with(image_from(images.clone()));
    let spec = (
        prop::collection::vec(container(), 0..4),
        prop::option::of(prop::collection::vec(container(), 0..3)),
        prop::option::of(prop::sample::select(vec![
            "ClusterFirst",
            "ClusterFirstWithHostNet",
            "Default",
            "None",
        ])),
        prop::option::of(any::<bool>()),
        dns_config(),
        volumes(),
    );
    (metadata(), spec).prop_map(|(metadata, (containers, init, dns_policy, host_network, dns_config, volumes))| {
        let mut spec = json!({
            "containers": named(containers, "c"),
            "nodeSelector": { "kubernetes.io/os": "linux" },
            // Never a target: must come out exactly as it went in.
            "ephemeralContainers": [{ "name": "debug", "image": "loggieio/loggie", "env": [] }],
        });
        let optional = [
            ("initContainers", init.map(|i| named(i, "init"))),
            ("dnsPolicy", dns_policy.map(Value::from)),
            ("hostNetwork", host_network.map(Value::from)),
            ("dnsConfig", dns_config),
            ("volumes", volumes),
        ];
        for (key, value) in optional {
            if let Some(value) = value {
                spec[key] = value;
            }
        }
        let mut pod = json!({ "apiVersion": "v1", "kind": "Pod", "spec": spec, "status": { "phase": "Pending" } });
        if let Some(metadata) = metadata {
            pod["metadata"] = metadata;
        }
        pod
    })
}
