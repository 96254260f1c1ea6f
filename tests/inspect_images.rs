//! Images read from a real registry where they are used: `inspect REF` as a
//! process, `dry-run --inspect-images` (whose output must equal `dry-run
//! --config` with the policy `inspect -o policy` writes), and `scan
//! --inspect-images` against the fake API server, with credentials only in
//! the pods' pull Secrets.
//!
//! The registry is Debian's `docker-registry` over TLS with a test CA and
//! basic auth; the images hold the resolver lab's Go 1.23 builds (cgo, and
//! pure Go). Without the registry or the toolchain the tests skip, unless
//! `NETDNS_GUARD_REQUIRE_TOOLS=1`.

#![cfg(unix)]

mod support {
    pub mod fake_apiserver;
    #[allow(dead_code)]
    pub mod image_builder;
    pub mod missing_tool;
    #[allow(dead_code)]
    pub mod registry;
    pub mod scratch;
}

#[allow(dead_code)]
#[path = "../crates/buildinfo/tests/support/tools.rs"]
mod tools;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use base64::Engine as _;
use netdns_guard::Engine;
use netdns_guard::cluster::pull_secrets::basic_auth_field;
use netdns_guard::cluster::scan::{self, PodFinding, ScanOptions, ScanReport};
use netdns_guard::cluster::{Ctx, Scope, inspect_images};
use netdns_guard::engine::report::Verdict;
use netdns_guard::inspect::DEFAULT_MAX_FILE_BYTES;
use netdns_guard::inspect::evidence::Inspector;
use netdns_guard::inspect::image::registry::{Registry, RegistryOptions, Timeouts};
use netdns_guard::inspect::image::{Cache, Digest, ImageOptions, ImageRisk, PlatformChoice};
use netdns_guard::policy::Policy;
use serde_json::{Value, json};

use support::fake_apiserver::FakeApiServer;
use support::image_builder::{Entry, Packing, pack, tar_of};
use support::registry::{
    Compression, Format, ImageSpec, LayerSpec, Registry as TestRegistry, RegistryMode,
};
use support::scratch::scratch_dir;

const BIN: &str = env!("CARGO_BIN_EXE_netdns-guard");

/// A registry with basic auth over TLS, holding an at-risk image
/// (`agents/cgo:v1`) and a pure-Go one (`agents/pure:v1`); `None` (skipped)
/// without the registry or Go 1.23.
struct Lab {
    registry: TestRegistry,
    cgo: Vec<u8>,
    /// The manifest digest of `agents/cgo:v1`.
    cgo_digest: String,
    /// The digest of its one layer.
    cgo_layer: Digest,
    /// The manifest digest of `agents/pure:v1`.
    pure_digest: String,
    /// The index digest of `agents/multi:v1`: the pure-Go build for linux/amd64
    /// and linux/arm64, what a node's `imageID` names for a pod that pulled the tag.
    multi_index: String,
}

impl Lab {
    fn start() -> Option<Lab> {
        let cgo = lab_binary("cgo")?;
        let pure = lab_binary("nocgo")?;
        let registry = TestRegistry::start(RegistryMode::TlsBasicAuth)?;
        let (pushed, cgo_layer) = push_agent(&registry, "agents/cgo", &cgo);
        let multi = push_multi_platform(&registry, "agents/multi", &pure);
        let (pure, _) = push_agent(&registry, "agents/pure", &pure);
        Some(Lab {
            registry,
            cgo,
            cgo_digest: pushed["digest"].as_str().unwrap().to_owned(),
            cgo_layer,
            pure_digest: pure["digest"].as_str().unwrap().to_owned(),
            multi_index: multi["digest"].as_str().unwrap().to_owned(),
        })
    }

    fn reference(&self, repository: &str) -> String {
        self.registry.reference(repository, "v1")
    }

    fn ca(&self) -> PathBuf {
        self.registry.ca.clone().unwrap()
    }

    /// A docker config's JSON with the registry's credentials.
    fn docker_config(&self) -> Value {
        let (user, password) = self.registry.creds.clone().unwrap();
        json!({"auths": {self.registry.host(): {"auth": basic_auth_field(&user, &password)}}})
    }
}

/// The resolver lab's program built by Go 1.23 in `variant`; each build
/// once per test process (tests run in parallel and the builds share a path).
fn lab_binary(variant: &str) -> Option<Vec<u8>> {
    static BUILT: OnceLock<Option<BTreeMap<&'static str, Vec<u8>>>> = OnceLock::new();
    let built = BUILT.get_or_init(|| {
        ["cgo", "nocgo"]
            .into_iter()
            .map(|name| {
                let variant = tools::VARIANTS.iter().find(|v| v.name == name)?;
                let path = tools::build(23, variant)?;
                Some((name, fs::read(path).expect("the built binary")))
            })
            .collect()
    });
    built.as_ref()?.get(variant).cloned()
}

/// Pushes an image whose entrypoint is `binary` at `/usr/bin/agent`, as
/// `repository:v1`; returns its descriptor and its layer's digest.
fn push_agent(registry: &TestRegistry, repository: &str, binary: &[u8]) -> (Value, Digest) {
    let image = agent_image(binary, "amd64");
    let digest = Digest::of(&image.layers[0].bytes);
    (registry.push_image(repository, "v1", &image), digest)
}

/// Pushes `binary` as `repository:v1`, an OCI index of linux/amd64 and
/// linux/arm64 images; returns the index's descriptor.
fn push_multi_platform(registry: &TestRegistry, repository: &str, binary: &[u8]) -> Value {
    let images: Vec<Value> = ["amd64", "arm64"]
        .into_iter()
        .map(|arch| {
            registry.push_image(
                repository,
                &format!("v1-{arch}"),
                &agent_image(binary, arch),
            )
        })
        .collect();
    registry.push_index(repository, "v1", Format::Oci, &images)
}

/// An OCI image for `arch` whose one gzip layer holds `binary` at
/// `/usr/bin/agent`, its entrypoint.
fn agent_image(binary: &[u8], arch: &str) -> ImageSpec {
    let tar = tar_of(&[Entry::exe("usr/bin/agent", binary.to_vec())]);
    ImageSpec {
        format: Format::Oci,
        arch: arch.into(),
        variant: None,
        entrypoint: vec!["/usr/bin/agent".into()],
        layers: vec![LayerSpec {
            bytes: pack(&tar, Packing::Gzip),
            compression: Compression::Gzip,
        }],
    }
}

/// The binary with `args`, a private HOME, docker config directory and
/// cache, so nothing on the machine running the tests is read.
fn command(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .env("HOME", dir)
        .env("DOCKER_CONFIG", dir.join("no-docker-config"))
        .env("NETDNS_GUARD_CACHE_DIR", dir.join("cache"))
        .env_remove("NETDNS_GUARD_CONFIG")
        .stdin(Stdio::null());
    command
}

fn run(dir: &Path, args: &[&str]) -> Output {
    command(dir, args).output().expect("the binary runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `--registry-config FILE --registry-ca CA`, with the file written in `dir`.
fn registry_flags(lab: &Lab, dir: &Path) -> Vec<String> {
    let config = dir.join("registry-config.json");
    fs::write(&config, lab.docker_config().to_string()).unwrap();
    vec![
        "--registry-config".into(),
        config.display().to_string(),
        "--registry-ca".into(),
        lab.ca().display().to_string(),
    ]
}

fn with<'a>(args: &[&'a str], more: &'a [String]) -> Vec<&'a str> {
    args.iter()
        .copied()
        .chain(more.iter().map(String::as_str))
        .collect()
}

#[test]
fn inspect_reads_a_registry_reference_and_a_second_run_reads_no_layer() {
    let Some(lab) = Lab::start() else { return };
    let dir = scratch_dir("inspect-registry");
    let flags = registry_flags(&lab, dir.path());
    let reference = lab.reference("agents/cgo");

    let out = run(dir.path(), &with(&["inspect", &reference], &flags));
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let table = stdout(&out);
    assert!(table.contains(&reference), "{table}");
    assert!(table.contains("at risk: CGO_ENABLED=1"), "{table}");
    assert!(!table.contains("cached: no layer read"), "{table}");

    // The layer is gone from the registry: a second run that asked for it
    // would fail.
    lab.registry.remove_blob(&lab.cgo_layer);
    let out = run(
        dir.path(),
        &with(&["inspect", "-o", "json", &reference], &flags),
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let image = &report["images"][0];
    assert_eq!(image["status"], "ok", "{report}");
    assert_eq!(image["name"], reference.as_str());
    let platform = &image["platforms"][0];
    assert_eq!(platform["risk"], "at-risk", "{report}");
    assert_eq!(platform["manifest_digest"], lab.cgo_digest.as_str());
    // A single manifest: the reference resolved to it, and the policy pins it.
    assert_eq!(platform["reference_digest"], lab.cgo_digest.as_str());
    // The findings came from the cache: the manifest was asked for, no layer.
    assert_eq!(platform["cached"], true, "{report}");

    // Without the cache the missing layer is asked for, and fails.
    let out = run(
        dir.path(),
        &with(&["inspect", "--no-cache", &reference], &flags),
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        stdout(&out).contains(&format!("blob {}", lab.cgo_layer)),
        "{out:?}"
    );
}

#[test]
fn inspect_exits_2_naming_the_image_when_refused_or_missing() {
    let Some(lab) = Lab::start() else { return };
    let dir = scratch_dir("inspect-registry-faults");
    let ca = lab.ca().display().to_string();
    let reference = lab.reference("agents/cgo");

    // No credentials: the registry answers 401.
    let out = run(dir.path(), &["inspect", "--registry-ca", &ca, &reference]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let text = stdout(&out);
    assert!(
        text.contains(&reference) && text.contains("access denied"),
        "{text}"
    );

    // A tag the registry does not have: 404.
    let missing = lab.reference("agents/missing");
    let flags = registry_flags(&lab, dir.path());
    let out = run(dir.path(), &with(&["inspect", &missing], &flags));
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let text = stdout(&out);
    assert!(
        text.contains(&missing) && text.contains("not found"),
        "{text}"
    );
}

/// Pods running both images (the pure-Go one by tag, and by tag and digest)
/// and one the catalog knows (Fluent Bit, not Go).
fn deployment(lab: &Lab) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: agents\n  namespace: apps\n\
         spec:\n  template:\n    spec:\n      containers:\n\
         \x20       - name: cgo\n          image: {}\n\
         \x20       - name: pure\n          image: {}\n\
         \x20       - name: pure-pinned\n          image: {}@{}\n\
         \x20       - name: known\n          image: fluent/fluent-bit:3.0\n",
        lab.reference("agents/cgo"),
        lab.reference("agents/pure"),
        lab.reference("agents/pure"),
        lab.pure_digest,
    )
}

#[test]
fn dry_run_inspect_images_answers_as_dry_run_with_the_policy_inspect_writes() {
    let Some(lab) = Lab::start() else { return };
    let dir = scratch_dir("dry-run-inspect-images");
    let flags = registry_flags(&lab, dir.path());
    let manifests = dir.path().join("deployment.yaml");
    fs::write(&manifests, deployment(&lab)).unwrap();
    let manifests = manifests.display().to_string();

    let (cgo, pure) = (lab.reference("agents/cgo"), lab.reference("agents/pure"));
    let out = run(
        dir.path(),
        &with(&["inspect", "-o", "policy", &cgo, &pure], &flags),
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let policy = dir.path().join("policy.yaml");
    fs::write(&policy, &out.stdout).unwrap();
    let policy = policy.display().to_string();

    for format in ["yaml", "report", "report-json", "patch"] {
        let configured = run(
            dir.path(),
            &[
                "dry-run", "-o", format, "--config", &policy, "-f", &manifests,
            ],
        );
        let learnt = run(
            dir.path(),
            &with(
                &[
                    "dry-run",
                    "-o",
                    format,
                    "--inspect-images",
                    "-f",
                    &manifests,
                ],
                &flags,
            ),
        );
        assert_eq!(configured.status.code(), Some(0), "{configured:?}");
        assert_eq!(learnt.status.code(), Some(0), "{learnt:?}");
        assert_eq!(stdout(&learnt), stdout(&configured), "-o {format}");
    }
    let out = run(
        dir.path(),
        &with(
            &[
                "dry-run",
                "-o",
                "report-json",
                "--inspect-images",
                "-f",
                &manifests,
            ],
            &flags,
        ),
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let verdicts: Vec<&Value> = report[0]["report"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["verdict"])
        .collect();
    // The pure-Go build's entry is pinned to the digest read: the image written
    // with it is not at risk; by tag alone the rest of the catalog decides (it
    // does not know the image), the conservative answer.
    assert_eq!(
        verdicts,
        ["at-risk", "unknown", "not-at-risk", "not-at-risk"],
        "{report}"
    );
    let policy_text = fs::read_to_string(&policy).unwrap();
    assert!(
        policy_text.contains(&format!(
            "        - \"{}/agents/pure@{}\"\n",
            lab.registry.host(),
            lab.pure_digest
        )),
        "{policy_text}"
    );

    // Without credentials the images are warnings, and the run goes on.
    let ca = lab.ca().display().to_string();
    let out = run(
        dir.path(),
        &[
            "dry-run",
            "-o",
            "report-json",
            "--no-cache",
            "--inspect-images",
            "--registry-ca",
            &ca,
            "-f",
            &manifests,
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("warning: image {cgo} not inspected:")),
        "{stderr}"
    );
}

// ---------------------------------------------------------------- scan

const NS: &str = "apps";

/// An image config's digest, as containerd writes a bare `imageID`: it names
/// no manifest, so nothing is pulled by it.
const CONFIG_DIGEST: &str =
    "sha256:c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00";

fn pod(name: &str, image: &str, spec: Value, image_id: Option<&str>) -> Value {
    let mut spec = spec;
    spec["containers"] = json!([{ "name": "agent", "image": image }]);
    let mut status = json!({ "name": "agent", "image": image, "ready": true, "restartCount": 0,
                             "state": { "running": { "startedAt": "2024-05-01T10:00:00Z" } } });
    if let Some(id) = image_id {
        status["imageID"] = json!(id);
    }
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": { "name": name, "namespace": NS },
        "spec": spec,
        "status": { "phase": "Running", "containerStatuses": [status] },
    })
}

fn pull_secret(name: &str, docker_config: &Value) -> Value {
    let encoded = base64::engine::general_purpose::STANDARD.encode(docker_config.to_string());
    json!({
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
        "metadata": { "name": name, "namespace": NS },
        "data": { ".dockerconfigjson": encoded },
    })
}

/// The cluster: `cgo-agent` pulls with its own Secret (and runs the image by
/// digest), `cgo-pending` the same tag with no digest in its status yet,
/// `cgo-config-id` the same tag with only a config digest in its status (as
/// containerd reports an image it has no repository digest for), `pure-agent`
/// through its service account's Secret (its status names the digest it runs),
/// `pure-pending` that tag with no digest yet, `multi-agent` a multi-platform
/// pure-Go image whose status names its index, `locked` names a Secret the
/// scanner may not read, `gone` runs an image the registry lost.
fn load_cluster(api: &FakeApiServer, lab: &Lab) {
    let path = |kind: &str, name: &str| format!("/api/v1/namespaces/{NS}/{kind}/{name}");
    let config = lab.docker_config();
    api.insert(&path("secrets", "regcred"), pull_secret("regcred", &config));
    api.insert(
        &path("secrets", "sa-regcred"),
        pull_secret("sa-regcred", &config),
    );
    api.insert(
        &path("serviceaccounts", "puller"),
        json!({ "apiVersion": "v1", "kind": "ServiceAccount",
                "metadata": { "name": "puller", "namespace": NS },
                "imagePullSecrets": [{ "name": "sa-regcred" }] }),
    );
    let cgo = lab.reference("agents/cgo");
    let running = format!("{}/agents/cgo@{}", lab.registry.host(), lab.cgo_digest);
    let pure_running = format!(
        "docker-pullable://{}/agents/pure@{}",
        lab.registry.host(),
        lab.pure_digest
    );
    let own_secret = json!({ "imagePullSecrets": [{ "name": "regcred" }] });
    let puller = json!({ "serviceAccountName": "puller" });
    let pods = [
        pod("cgo-agent", &cgo, own_secret.clone(), Some(&running)),
        pod("cgo-pending", &cgo, own_secret.clone(), None),
        pod(
            "cgo-config-id",
            &cgo,
            own_secret.clone(),
            Some(CONFIG_DIGEST),
        ),
        pod(
            "pure-agent",
            &lab.reference("agents/pure"),
            puller.clone(),
            Some(&pure_running),
        ),
        pod(
            "pure-pending",
            &lab.reference("agents/pure"),
            puller.clone(),
            None,
        ),
        pod(
            "multi-agent",
            &lab.reference("agents/multi"),
            puller,
            Some(&format!(
                "{}/agents/multi@{}",
                lab.registry.host(),
                lab.multi_index
            )),
        ),
        pod(
            "locked",
            &lab.reference("agents/locked"),
            json!({ "imagePullSecrets": [{ "name": "locked" }] }),
            None,
        ),
        pod("gone", &lab.reference("agents/gone"), own_secret, None),
    ];
    for pod in pods {
        let name = pod["metadata"]["name"].as_str().unwrap().to_owned();
        api.insert(&path("pods", &name), pod);
    }
    push_agent(&lab.registry, "agents/locked", &lab.cgo);
    api.fail("GET", &path("secrets", "locked"), 403, None);
}

/// A fake API server holding [`load_cluster`]'s objects.
async fn cluster_of(lab: &Lab) -> FakeApiServer {
    let api = FakeApiServer::start().await;
    load_cluster(&api, lab);
    api
}

/// An inspector trusting the test CA and nothing else: no docker config, so
/// every credential comes from the pods' Secrets. It reads `platform` of a
/// multi-platform image.
fn inspector(lab: &Lab, cache: &Path, platform: PlatformChoice) -> Inspector {
    let options = RegistryOptions {
        extra_ca: vec![lab.ca()],
        timeouts: Timeouts {
            connect: Duration::from_secs(5),
            stall: Duration::from_secs(10),
            ..Timeouts::default()
        },
        ..RegistryOptions::default()
    };
    Inspector {
        registry: Registry::new(&options).unwrap(),
        image: ImageOptions {
            platform,
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            cache: Some(Cache::new(cache)),
        },
        parallel: 4,
    }
}

fn find<'r>(report: &'r ScanReport, name: &str) -> &'r PodFinding {
    report
        .groups
        .iter()
        .flat_map(|g| &g.pods)
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("{name} not in the report: {}", scan::render_json(report)))
}

/// A scan of [`load_cluster`]'s namespace under the built-in catalog: plain
/// with no platform, else with `--inspect-images` reading `platform`.
async fn scan_lab(lab: &Lab, scratch: &str, platform: Option<PlatformChoice>) -> ScanReport {
    let dir = scratch_dir(scratch);
    let api = cluster_of(lab).await;
    let ctx = Ctx::new(api.client(NS));
    let engine = Engine::new(Policy::default()).unwrap();
    let options = ScanOptions::new(Scope::Namespace(NS.into()));
    let report = match platform {
        None => scan::run(&ctx, &engine, &options).await,
        Some(platform) => {
            let inspector = inspector(lab, dir.path(), platform);
            inspect_images::run(&ctx, &engine, &options, inspector).await
        }
    };
    report.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_inspect_images_turns_unknown_images_into_evidence() {
    let Some(lab) = Lab::start() else { return };

    // Without inspection the catalog knows none of them: nothing is targeted.
    let plain = scan_lab(&lab, "scan-plain", None).await;
    assert!(plain.groups.is_empty(), "{}", scan::render_json(&plain));

    // One platform of a multi-platform image, as `--platform linux/amd64` reads.
    let one_platform = Some(PlatformChoice::default());
    let report = scan_lab(&lab, "scan-inspect-images", one_platform).await;
    let json = scan::render_json(&report);

    // The cgo build, pulled by the digest that runs with the pod's own Secret,
    // is at risk: the pod is a target that lacks the fix.
    let cgo = find(&report, "cgo-agent");
    assert!(cgo.targeted && cgo.needs_fix, "{json}");
    let container = &cgo.containers[0];
    assert_eq!(container.verdict, Verdict::AtRisk, "{json}");
    let inspected = container.inspected.as_ref().expect("evidence");
    assert_eq!(inspected.risk, ImageRisk::AtRisk);
    assert!(
        inspected
            .evidence
            .starts_with("at risk: CGO_ENABLED=1 and no netgo tag (/usr/bin/agent, go1.23"),
        "{json}"
    );
    assert_eq!(
        inspected.reference,
        format!("{}/agents/cgo@{}", lab.registry.host(), lab.cgo_digest)
    );
    let running = container.running_digest.as_deref();
    assert_eq!(running, Some(lab.cgo_digest.as_str()), "{json}");

    // The same tag with no repository digest in the status (pending, or only
    // a config digest) is pulled once by its tag, and shows what that read,
    // not the build another pod runs.
    for name in ["cgo-pending", "cgo-config-id"] {
        let container = &find(&report, name).containers[0];
        assert_eq!(container.verdict, Verdict::AtRisk, "{name}: {json}");
        assert_eq!(container.running_digest, None, "{name}: {json}");
        let inspected = container.inspected.as_ref().expect("evidence");
        assert_eq!(inspected.reference, lab.reference("agents/cgo"), "{json}");
    }
    assert!(scan::anything_to_fix(&report));
    let table = scan::render_table(&report);
    assert!(
        table.contains("at risk: CGO_ENABLED=1 and no netgo tag"),
        "{table}"
    );

    // The pure-Go build, pulled with the service account's Secret, is safe
    // where the pod's status says that build runs: not a target, counted as a
    // known agent that is not at risk. The pod whose status names no digest
    // yet is not judged by it (its tag may name another build by now).
    assert!(
        report
            .groups
            .iter()
            .flat_map(|g| &g.pods)
            .all(|p| p.name != "pure-agent" && p.name != "pure-pending"),
        "{json}"
    );
    let pure = format!("{}/agents/pure (not at risk)", lab.registry.host());
    assert_eq!(report.others.known_agents.get(&pure), Some(&1), "{json}");
    let reports = report.others.known_agents.values().sum::<usize>();
    assert_eq!(reports, 1, "only pure-agent matched an entry: {json}");

    // A Secret the scanner may not read, an image the registry lost, and a
    // pure-Go image read for one platform of the index its pod runs, are
    // warnings naming them; the scan completed. (That pod stays unknown:
    // `a_multi_platform_image_is_judged_by_a_reading_of_every_platform`.)
    let warnings = report.warnings.join("\n");
    for expected in [
        format!(
            "image {}: only linux/amd64 of a multi-platform index read",
            lab.reference("agents/multi")
        ),
        "apps/locked: pull secret locked:".to_owned(),
        format!("image {} not inspected:", lab.reference("agents/locked")),
        format!("image {} not inspected:", lab.reference("agents/gone")),
    ] {
        assert!(
            warnings.contains(&expected),
            "{expected:?} not in:\n{warnings}"
        );
    }
    assert!(warnings.contains("not found"), "{warnings}");
    assert!(!warnings.contains("agents/cgo"), "{warnings}");
    assert_eq!(report.pods_listed, 8);

    // Every image read is listed with its evidence, the safe ones too, in the
    // order of the pods that asked; each image is read by the digest that
    // runs, and by tag for the pods whose status names none.
    let read: Vec<(&str, ImageRisk)> = report
        .inspected
        .iter()
        .map(|i| (i.image.as_str(), i.risk))
        .collect();
    let (cgo, pure) = (lab.reference("agents/cgo"), lab.reference("agents/pure"));
    assert_eq!(
        read,
        [
            (cgo.as_str(), ImageRisk::AtRisk),
            (cgo.as_str(), ImageRisk::AtRisk),
            (lab.reference("agents/multi").as_str(), ImageRisk::Safe),
            (pure.as_str(), ImageRisk::Safe),
            (pure.as_str(), ImageRisk::Safe),
        ],
        "{json}"
    );
    // The table names what was pulled: the tag, or the repository at the
    // digest a pod runs.
    assert!(table.contains(&format!("  {pure}: safe: ")), "{table}");
    let pinned = format!(
        "{}/agents/pure@{}: safe: ",
        lab.registry.host(),
        lab.pure_digest
    );
    assert!(table.contains(&pinned), "{table}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multi_platform_image_is_judged_by_a_reading_of_every_platform() {
    let Some(lab) = Lab::start() else { return };
    let report = scan_lab(&lab, "scan-inspect-images-all", Some(PlatformChoice::All)).await;
    let json = scan::render_json(&report);

    // Both platforms were read and are pure Go, so the entry is pinned to the
    // index too, and the pod whose status names the index matches it.
    let multi = format!("{}/agents/multi (not at risk)", lab.registry.host());
    assert_eq!(report.others.known_agents.get(&multi), Some(&1), "{json}");
    let warnings = report.warnings.join("\n");
    assert!(!warnings.contains("agents/multi"), "{warnings}");
    let read = report
        .inspected
        .iter()
        .find(|i| i.image == lab.reference("agents/multi"))
        .expect("the multi-platform image was read");
    assert_eq!(read.risk, ImageRisk::Safe, "{json}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scan_command_takes_the_flags_and_exits_1_for_the_image_at_risk() {
    let Some(lab) = Lab::start() else { return };
    let dir = scratch_dir("scan-inspect-images-cli");
    let api = cluster_of(&lab).await;
    let kubeconfig = dir.path().join("kubeconfig");
    fs::write(&kubeconfig, api.kubeconfig(NS)).unwrap();
    let ca = lab.ca().display().to_string();
    let home = dir.path().to_owned();
    let out = tokio::task::spawn_blocking(move || {
        let args = [
            "scan",
            "-o",
            "json",
            "--exit-code",
            "--inspect-images",
            "--registry-ca",
            &ca,
        ];
        command(&home, &args)
            .env("KUBECONFIG", &kubeconfig)
            .output()
            .expect("the binary runs")
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let pod = &report["groups"][0]["pods"][0];
    assert_eq!(pod["name"], "cgo-agent", "{report}");
    assert_eq!(
        pod["containers"][0]["inspected"]["risk"], "at-risk",
        "{report}"
    );
    assert_eq!(
        pod["containers"][0]["runningDigest"],
        lab.cgo_digest.as_str(),
        "{report}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("pull secret locked"), "{stderr}");
    // Every platform is read by default: the multi-platform image is judged.
    assert!(
        !stderr.contains("of a multi-platform index read"),
        "{stderr}"
    );
    let multi = format!("{}/agents/multi (not at risk)", lab.registry.host());
    assert_eq!(report["others"]["knownAgents"][&multi], 1, "{report}");
}
