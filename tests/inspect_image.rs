//! `netdns-guard inspect IMAGE`, run as a real process on images the tests
//! assemble from real Go binaries (built by the resolver lab's toolchains, Go
//! 1.19 and 1.23, in the variants whose verdicts the lab proves at run time,
//! `//go:debug netdns=go` among them):
//! OCI layouts and `docker save` archives, OCI and Docker manifests, plain,
//! gzip and zstd layers, a multi-platform index, later layers that delete and
//! replace binaries, a large non-Go file.
//!
//! What each test holds to: a binary's verdict through an image is the verdict
//! `inspect PATH` gives on the same file; an image that cannot be read whole
//! (truncated layer, corrupt gzip, a blob that is not what its digest says, a
//! path-traversal name) exits 2 naming the image and what failed, and leaves
//! nothing in the cache; a second run over the same image reads no layer; and
//! `-o policy`, fed to `dry-run --config`, classifies pods running the image.

#![cfg(unix)]

mod support {
    pub mod image_builder;
    pub mod inspect_cli;
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

use serde_json::Value;

use support::image_builder::{
    Entry, Image, Layer, OciLayout, Packing, docker_archive, pack, tar_of,
};
use support::inspect_cli::{json_of, run_inspect};
use support::scratch::scratch_dir;

/// The lab builds read here: Go 1.23 in every variant, Go 1.19 in three.
const BUILDS: &[(u32, &str)] = &[
    (23, "cgo"),
    (23, "nocgo"),
    (23, "netgo"),
    (23, "netcgo"),
    (23, "trimpath"),
    (23, "stripped"),
    (23, "static"),
    (23, "godebug"),
    (19, "cgo"),
    (19, "nocgo"),
    (19, "netgo"),
];

/// A built binary: its file name (`lookup-go1.23-cgo`) and path.
struct Binary {
    name: String,
    path: PathBuf,
}

/// Builds the binaries once per test process; `None` (skipped) without the
/// toolchains.
fn binaries() -> Option<&'static [Binary]> {
    static BUILT: OnceLock<Option<Vec<Binary>>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            BUILDS
                .iter()
                .map(|&(minor, variant)| {
                    let variant = tools::VARIANTS.iter().find(|v| v.name == variant)?;
                    let path = tools::build(minor, variant)?;
                    Some(Binary {
                        name: path.file_name()?.to_string_lossy().into_owned(),
                        path,
                    })
                })
                .collect()
        })
        .as_deref()
}

fn binary(name: &str) -> Vec<u8> {
    let found = binaries()
        .and_then(|all| all.iter().find(|b| b.name == name))
        .unwrap_or_else(|| panic!("{name} was not built"));
    fs::read(&found.path).unwrap()
}

/// Runs `netdns-guard inspect ARGS` with its cache in `cache`.
fn inspect(args: &[&str], cache: &Path) -> Output {
    run_inspect(args, &[("NETDNS_GUARD_CACHE_DIR", cache.as_os_str())])
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What the verdict of a Go binary is made of, as `-o json` gives it.
fn verdict_fields(go: &Value) -> Value {
    serde_json::json!({
        "status": go["status"], "go_version": go["go_version"], "cgo": go["cgo"],
        "tags": go["tags"], "risk": go["risk"], "verdict": go["verdict"],
        "summary": go["summary"], "caveats": go["caveats"],
    })
}

/// Holds `go` (a Go binary's `-o json` fields) to what the lab sees the
/// `//go:debug netdns=go` build do (tests/resolver-lab/buildinfo.py): cgo is
/// linked in, yet with the cgo trigger set Go's resolver answers, because the
/// binary's DefaultGODEBUG picks it; a GODEBUG setting netdns in the
/// environment would undo that, which the caveat says.
fn assert_go_by_default(go: &Value, context: &str) {
    assert_eq!(go["status"], "go", "{context}: {go}");
    assert!(
        go["go_version"].as_str().unwrap().starts_with("go1.23"),
        "{context}: {go}"
    );
    assert_eq!(go["cgo"], true, "{context}: {go}");
    assert_eq!(go["risk"], "safe", "{context}: {go}");
    assert_eq!(
        go["verdict"],
        serde_json::json!({"resolver": "go-by-default", "netdns": "go"}),
        "{context}"
    );
    assert_eq!(
        go["summary"], "Go resolver by the binary's default: DefaultGODEBUG has netdns=go",
        "{context}"
    );
    assert_eq!(
        go["caveats"][0]["kind"], "environment-overrides-default",
        "{context}: {go}"
    );
    assert_eq!(go["caveats"].as_array().map(Vec::len), Some(1), "{context}");
}

/// `inspect PATH` on each lab binary: file name → verdict fields.
fn file_verdicts(cache: &Path) -> BTreeMap<String, Value> {
    let all = binaries().unwrap();
    let paths: Vec<&str> = all.iter().map(|b| b.path.to_str().unwrap()).collect();
    let mut args = vec!["-o", "json"];
    args.extend(&paths);
    let out = inspect(&args, cache);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let doc = json_of(&out);
    all.iter()
        .zip(doc["files"].as_array().unwrap())
        .map(|(b, file)| (b.name.clone(), verdict_fields(file)))
        .collect()
}

/// The one platform image of an `-o json` document's first input.
fn only_image(doc: &Value) -> &Value {
    let input = &doc["images"][0];
    assert_eq!(input["status"], "ok", "{input}");
    let platforms = input["platforms"].as_array().unwrap();
    assert_eq!(platforms.len(), 1, "{input}");
    &platforms[0]
}

/// Executables of an image, by path.
fn executables(image: &Value) -> BTreeMap<String, &Value> {
    image["executables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["path"].as_str().unwrap().to_owned(), e))
        .collect()
}

/// The lab binaries spread over three layers, one of each packing, under
/// /usr/bin (reached through the merged-/usr link /bin), with a script.
fn lab_rootfs(docker: bool) -> Image {
    let all = binaries().unwrap();
    let mut layers: Vec<Layer> = [Packing::Plain, Packing::Gzip, Packing::Zstd]
        .into_iter()
        .filter(|p| !(docker && *p == Packing::Zstd))
        .map(|p| Layer::new(p, Vec::new()))
        .collect();
    layers[0].entries.push(Entry::link("bin", "usr/bin"));
    layers[0].entries.push(Entry::exe(
        "usr/local/bin/entry.sh",
        b"#!/bin/sh\nexec \"$@\"\n".to_vec(),
    ));
    let count = layers.len();
    for (i, b) in all.iter().enumerate() {
        layers[i % count]
            .entries
            .push(Entry::exe(&format!("usr/bin/{}", b.name), binary(&b.name)));
    }
    let mut image = Image::new(layers, &["/bin/lookup-go1.23-cgo"]);
    image.docker = docker;
    image
}

/// A `docker save` archive as Docker ≥ 25 writes it: the OCI layout `layout`
/// with a `manifest.json` beside it.
fn oci_archive(layout: &Path, archive: &Path) {
    let mut builder = tar::Builder::new(fs::File::create(archive).unwrap());
    builder.append_dir_all(".", layout).unwrap();
    let manifest = br#"[{"Config":"blobs/sha256/unused","RepoTags":["lab/agent:v1"],"Layers":[]}]"#;
    let mut header = tar::Header::new_gnu();
    header.set_mode(0o644);
    header.set_size(manifest.len() as u64);
    builder
        .append_data(&mut header, "manifest.json", &manifest[..])
        .unwrap();
    builder.into_inner().unwrap().sync_all().unwrap();
}

#[test]
fn every_lab_binary_has_its_file_verdict_through_every_kind_of_image() {
    if binaries().is_none() {
        return;
    }
    let dir = scratch_dir("inspect-image-kinds");
    let cache = dir.path().join("cache");
    let expected = file_verdicts(&cache);
    // Each image below must give this binary these fields, as `inspect PATH` does.
    assert_go_by_default(&expected["lookup-go1.23-godebug"], "inspect PATH");

    let oci = dir.path().join("oci");
    let mut layout = OciLayout::new(&oci);
    let (desc, _) = layout.image(&lab_rootfs(false));
    layout.tag(desc, "v1");
    let docker_types = dir.path().join("docker-types");
    let mut layout = OciLayout::new(&docker_types);
    let (desc, _) = layout.image(&lab_rootfs(true));
    layout.tag(desc, "v1");
    let archive = dir.path().join("agent.tar");
    docker_archive(
        &archive,
        &lab_rootfs(true),
        "registry.local:5000/lab/agent:v1",
    );
    let archive_oci = dir.path().join("agent-oci.tar");
    oci_archive(&oci, &archive_oci);

    for input in [
        oci.to_str().unwrap().to_owned(),
        format!("oci-dir:{}:v1", docker_types.display()),
        archive.to_str().unwrap().to_owned(),
        format!("docker-archive:{}:v1", archive_oci.display()),
    ] {
        let out = inspect(&["-o", "json", "--no-cache", &input], &cache);
        assert_eq!(out.status.code(), Some(0), "{input}: {out:?}");
        let doc = json_of(&out);
        let image = only_image(&doc);
        let found = executables(image);
        for (name, want) in &expected {
            let path = format!("/usr/bin/{name}");
            let exe = found
                .get(&path)
                .unwrap_or_else(|| panic!("{input}: {path} not reported: {image}"));
            assert_eq!(&verdict_fields(exe), want, "{input}: {path}");
        }
        // Entrypoint first, found through the /bin link; the image takes the worst.
        assert_eq!(
            image["executables"][0]["path"], "/usr/bin/lookup-go1.23-cgo",
            "{input}"
        );
        assert_eq!(image["executables"][0]["role"], "entrypoint");
        assert_eq!(image["risk"], "at-risk");
        let evidence = image["evidence"].as_str().unwrap();
        assert!(
            evidence.starts_with(
                "at risk: CGO_ENABLED=1 and no netgo tag (/usr/bin/lookup-go1.23-cgo, go1.23"
            ),
            "{input}: {evidence}"
        );
        assert_eq!(image["executables_seen"], BUILDS.len() + 1, "{input}");
    }

    // The table says the same to a person.
    let out = inspect(&["--no-cache", oci.to_str().unwrap()], &cache);
    let table = text(&out);
    assert!(
        table.contains(&format!("oci-dir:{} linux/amd64 sha256:", oci.display())),
        "{table}"
    );
    assert!(
        table.contains("  /usr/bin/lookup-go1.23-cgo (entrypoint): at risk\n"),
        "{table}"
    );
    assert!(table.contains("  entrypoint /bin/lookup-go1.23-cgo -> /usr/bin/lookup-go1.23-cgo\n"));
    assert!(
        table.ends_with("1 image: 1 at risk, 0 safe, 0 unknown, 0 not Go; 0 unreadable\n"),
        "{table}"
    );
}

#[test]
fn later_layers_delete_replace_and_hide_binaries() {
    if binaries().is_none() {
        return;
    }
    let dir = scratch_dir("inspect-image-whiteouts");
    let cache = dir.path().join("cache");
    // 24 MB that no compressor shrinks: a large file that is not Go.
    let mut noise = vec![0u8; 24 << 20];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for chunk in noise.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    let lower = Layer::new(
        Packing::Gzip,
        vec![
            Entry::exe("usr/bin/agent", binary("lookup-go1.23-cgo")),
            Entry::Dir("opt/tool".into()),
            Entry::exe("opt/tool/helper", binary("lookup-go1.23-netcgo")),
            Entry::exe("usr/local/bin/old", binary("lookup-go1.19-cgo")),
            Entry::data("var/lib/blob.dat", noise),
        ],
    );
    let upper = Layer::new(
        Packing::Gzip,
        vec![
            Entry::whiteout("opt/tool"),
            Entry::exe("usr/bin/agent", binary("lookup-go1.23-nocgo")),
            Entry::opaque("usr/local/bin"),
            Entry::exe("usr/local/bin/fresh", binary("lookup-go1.23-netgo")),
            Entry::Hardlink {
                path: "usr/sbin/agent-link".into(),
                target: "usr/bin/agent".into(),
            },
            Entry::link("usr/bin/run", "agent"),
        ],
    );
    let mut image = Image::new(vec![lower, upper], &["run"]);
    image.docker = true;
    let oci = dir.path().join("oci");
    let mut layout = OciLayout::new(&oci);
    let (desc, _) = layout.image(&image);
    layout.tag(desc, "v2");

    let out = inspect(&["-o", "json", oci.to_str().unwrap()], &cache);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let doc = json_of(&out);
    let image = only_image(&doc);
    let found = executables(image);
    assert_eq!(
        found.keys().collect::<Vec<_>>(),
        [
            "/usr/bin/agent",
            "/usr/local/bin/fresh",
            "/usr/sbin/agent-link"
        ],
        "{image}"
    );
    assert_eq!(found["/usr/bin/agent"]["role"], "entrypoint");
    assert_eq!(
        found["/usr/bin/agent"]["summary"],
        "pure-Go resolver only: CGO_ENABLED=0"
    );
    assert_eq!(found["/usr/sbin/agent-link"]["cgo"], false);
    assert_eq!(
        found["/usr/local/bin/fresh"]["verdict"]["because"]["kind"],
        "netgo-tag"
    );
    assert_eq!(image["programs"][0]["path"], "/usr/bin/agent");
    assert_eq!(image["risk"], "safe");
    assert_eq!(image["executables_seen"], 3);

    // Under a size bound smaller than the binaries, none is read: unknown, said why.
    let out = inspect(
        &[
            "-o",
            "json",
            "--max-file-bytes",
            "100000",
            oci.to_str().unwrap(),
        ],
        &cache,
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let doc = json_of(&out);
    let image = only_image(&doc);
    assert_eq!(image["risk"], "unknown");
    assert_eq!(image["executables"][0]["kind"], "too-large", "{image}");
    assert!(
        image["evidence"]
            .as_str()
            .unwrap()
            .contains("over --max-file-bytes")
    );
}

#[test]
fn a_multi_platform_index_gives_the_platform_asked_for_or_all() {
    if binaries().is_none() {
        return;
    }
    let dir = scratch_dir("inspect-image-index");
    let cache = dir.path().join("cache");
    let oci = dir.path().join("oci");
    let mut layout = OciLayout::new(&oci);
    let amd = Image::new(
        vec![Layer::new(
            Packing::Zstd,
            vec![Entry::exe("agent", binary("lookup-go1.23-cgo"))],
        )],
        &["/agent"],
    );
    let mut arm = Image::new(
        vec![Layer::new(
            Packing::Gzip,
            vec![Entry::exe("agent", binary("lookup-go1.23-nocgo"))],
        )],
        &["/agent"],
    );
    arm.architecture = "arm64".into();
    let (amd, _) = layout.image(&amd);
    let (arm, _) = layout.image(&arm);
    let index = layout.multi_platform(vec![amd, arm]);
    let index_digest = index["digest"].as_str().unwrap().to_owned();
    layout.tag(index, "multi");
    let input = format!("oci-dir:{}:multi", oci.display());

    let risks = |platform: &str| -> Vec<(String, String)> {
        let out = inspect(&["-o", "json", "--platform", platform, &input], &cache);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        json_of(&out)["images"][0]["platforms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["platform"].as_str().unwrap().into(),
                    p["risk"].as_str().unwrap().into(),
                )
            })
            .collect()
    };
    let pair = |p: &str, r: &str| (p.to_owned(), r.to_owned());
    assert_eq!(risks("linux/amd64"), [pair("linux/amd64", "at-risk")]);
    assert_eq!(risks("linux/arm64"), [pair("linux/arm64", "safe")]);
    assert_eq!(
        risks("all"),
        [pair("linux/amd64", "at-risk"), pair("linux/arm64", "safe")]
    );

    // The index's digest speaks for a reading only when every platform in it
    // was read.
    let reference_digests = |platform: &str| -> Vec<Value> {
        let out = inspect(&["-o", "json", "--platform", platform, &input], &cache);
        json_of(&out)["images"][0]["platforms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["reference_digest"].clone())
            .collect()
    };
    assert_eq!(reference_digests("linux/amd64"), [Value::Null]);
    let whole = Value::from(index_digest);
    assert_eq!(reference_digests("all"), [whole.clone(), whole]);

    // `-o policy` reads every platform unless told otherwise: what it writes
    // must speak for the whole index.
    let out = inspect(&["-o", "policy", &input], &cache);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let policy = text(&out);
    for platform in ["linux/amd64", "linux/arm64"] {
        assert!(policy.contains(&format!(" {platform} sha256:")), "{policy}");
    }

    let out = inspect(&["--platform", "linux/s390x", &input], &cache);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("linux/s390x"), "{}", text(&out));
}

/// An OCI layout at `dir` of one image, tagged `tag`, whose one layer
/// (packed `packing`) holds the lab binary `name` at `path`, its entrypoint.
fn one_binary_layout(dir: &Path, packing: Packing, path: &str, name: &str, tag: &str) -> String {
    one_file_layout(dir, packing, path, binary(name), tag)
}

/// An OCI layout at `dir` of one image, tagged `tag`, whose one layer holds
/// the executable `bytes` at `path`, its entrypoint; returns the manifest digest.
fn one_file_layout(dir: &Path, packing: Packing, path: &str, bytes: Vec<u8>, tag: &str) -> String {
    let entry = Entry::exe(path.trim_start_matches('/'), bytes);
    let mut layout = OciLayout::new(dir);
    let (desc, _) = layout.image(&Image::new(vec![Layer::new(packing, vec![entry])], &[path]));
    let digest = desc["digest"].as_str().unwrap().to_owned();
    layout.tag(desc, tag);
    digest
}

#[test]
fn an_image_whose_agent_defaults_to_go_s_resolver_is_safe() {
    if binaries().is_none() {
        return;
    }
    let dir = scratch_dir("inspect-image-godebug");
    let cache = dir.path().join("cache");
    let oci = dir.path().join("oci");
    let digest = one_binary_layout(
        &oci,
        Packing::Gzip,
        "/usr/bin/agent",
        "lookup-go1.23-godebug",
        "registry.local:5000/agents/defaulted:v1",
    );
    let input = oci.to_str().unwrap();

    let out = inspect(&["-o", "json", input], &cache);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let doc = json_of(&out);
    let image = only_image(&doc);
    let agent = &image["executables"][0];
    assert_eq!(agent["path"], "/usr/bin/agent");
    assert_eq!(agent["role"], "entrypoint");
    assert_go_by_default(agent, "through the image");
    assert_eq!(image["risk"], "safe");
    let evidence = image["evidence"].as_str().unwrap();
    assert!(
        evidence.starts_with("safe: DefaultGODEBUG has netdns=go (/usr/bin/agent, go1.23"),
        "{evidence}"
    );

    // A policy learns it as a pure-Go agent, pinned to the manifest read.
    let out = inspect(&["-o", "policy", input], &cache);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let policy = text(&out);
    for line in [
        "      risk: pure-go\n".to_owned(),
        format!("        - \"registry.local:5000/agents/defaulted@{digest}\"\n"),
    ] {
        assert!(policy.contains(&line), "policy lacks {line:?}:\n{policy}");
    }
}

/// Files in the cache's image directory.
fn cached_entries(cache: &Path) -> Vec<PathBuf> {
    fs::read_dir(cache.join("images-v1"))
        .map(|dir| dir.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default()
}

#[test]
fn a_second_run_answers_from_the_cache_without_reading_a_layer() {
    if binaries().is_none() {
        return;
    }
    let dir = scratch_dir("inspect-image-cache");
    let cache = dir.path().join("cache");
    let oci = dir.path().join("oci");
    let mut layout = OciLayout::new(&oci);
    let image = Image::new(
        vec![Layer::new(
            Packing::Gzip,
            vec![Entry::exe("usr/bin/agent", binary("lookup-go1.23-cgo"))],
        )],
        &["agent"],
    );
    let (desc, layers) = layout.image(&image);
    layout.tag(desc, "v1");
    let input = oci.to_str().unwrap();

    let first = json_of(&inspect(&["-o", "json", input], &cache));
    assert_eq!(only_image(&first)["cached"], false);
    assert_eq!(cached_entries(&cache).len(), 1);

    // With the layer gone, only the cache can answer.
    for digest in &layers {
        fs::remove_file(layout.blob_path(digest)).unwrap();
    }
    let out = inspect(&["-o", "json", input], &cache);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let second = json_of(&out);
    assert_eq!(only_image(&second)["cached"], true);
    assert_eq!(only_image(&second)["risk"], "at-risk");
    assert_eq!(
        only_image(&second)["executables"],
        only_image(&first)["executables"]
    );
    let table = text(&inspect(&[input], &cache));
    assert!(table.contains("(cached: no layer read)"), "{table}");

    // --no-cache reads the layers, which are gone.
    let out = inspect(&["--no-cache", input], &cache);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains(&format!(
            "layer 1 of 1 ({}): blob {} not found",
            layers[0], layers[0]
        )),
        "{}",
        text(&out)
    );
}

/// An OCI layout `name` of one image with one layer; returns its input name
/// and the path of the layer's blob (for a test to damage).
fn one_layer_image(dir: &Path, name: &str, layer: Layer) -> (String, PathBuf) {
    let oci = dir.join(name);
    let mut layout = OciLayout::new(&oci);
    let (desc, layers) = layout.image(&Image::new(vec![layer], &["/bin/tool"]));
    layout.tag(desc, "v1");
    let blob = layout.blob_path(&layers[0]);
    (format!("oci-dir:{}", oci.display()), blob)
}

fn a_script() -> Vec<Entry> {
    vec![Entry::exe("bin/tool", vec![b'x'; 200_000])]
}

#[test]
fn damaged_layers_exit_2_name_the_image_and_the_fault_and_cache_nothing() {
    let dir = scratch_dir("inspect-image-faults");
    let dir = dir.path();
    let cache = dir.join("cache");
    let mut cases: Vec<(String, &str)> = Vec::new();

    let (input, blob) = one_layer_image(dir, "truncated", Layer::new(Packing::Gzip, a_script()));
    let bytes = fs::read(&blob).unwrap();
    fs::write(&blob, &bytes[..bytes.len() / 2]).unwrap();
    cases.push((input, "the manifest says"));

    let (input, blob) =
        one_layer_image(dir, "wrong-digest", Layer::new(Packing::Plain, a_script()));
    let mut bytes = fs::read(&blob).unwrap();
    bytes[600] ^= 0xff;
    fs::write(&blob, bytes).unwrap();
    cases.push((input, "the manifest says sha256:"));

    // Its digest matches (the manifest names the corrupt bytes), so the
    // decompressor is what fails.
    let mut corrupt = pack(&tar_of(&a_script()), Packing::Gzip);
    let middle = corrupt.len() / 2;
    corrupt[middle - 8..middle + 8].fill(0xff);
    corrupt[10..30].fill(0x55);
    let mut layer = Layer::new(Packing::Gzip, a_script());
    layer.raw = Some(corrupt);
    cases.push((one_layer_image(dir, "corrupt-gzip", layer).0, "deflate"));

    // A zstd frame that asks for a 128 MiB window (what `zstd --ultra -22`
    // writes): the decoder would keep that much history in memory.
    let mut wide = vec![0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x88];
    wide.extend_from_slice(&[0x01, 0x00, 0x00]);
    let mut layer = Layer::new(Packing::Zstd, a_script());
    layer.raw = Some(wide);
    cases.push((
        one_layer_image(dir, "zstd-window", layer).0,
        "asks for a 128 MiB window, over the 64 MiB",
    ));

    let traversal = vec![Entry::RawName {
        name: b"../../etc/cron.d/evil".to_vec(),
        bytes: b"* * * * * root sh".to_vec(),
    }];
    let layer = Layer::new(Packing::Gzip, traversal);
    cases.push((one_layer_image(dir, "traversal", layer).0, "path traversal"));

    for (input, want) in &cases {
        let out = inspect(&["-o", "json", input], &cache);
        assert_eq!(out.status.code(), Some(2), "{input}: {out:?}");
        let doc = json_of(&out);
        let image = &doc["images"][0];
        assert_eq!(image["input"], input.as_str());
        assert_eq!(image["status"], "error");
        let error = image["error"].as_str().unwrap();
        assert!(
            error.starts_with("layer 1 of 1 (sha256:"),
            "{input}: {error}"
        );
        assert!(error.contains(want), "{input}: {error} lacks {want:?}");
        // The table names the image before the fault.
        let table = text(&inspect(&[input], &cache));
        assert!(
            table.starts_with(&format!("{input}: error: layer 1 of 1")),
            "{table}"
        );
        assert!(table.contains("0 images: 0 at risk, 0 safe, 0 unknown, 0 not Go; 1 unreadable"));
    }
    assert!(
        cached_entries(&cache).is_empty(),
        "{:?}",
        cached_entries(&cache)
    );

    // A registry that cannot be reached: exit 2, naming the image and the tag.
    let out = inspect(&["registry.local:5000/agents/loggie:v1"], &cache);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("error: registry.local:5000/agents/loggie:v1: tag v1:"),
        "{}",
        text(&out)
    );
}

/// Pods running the images: the at-risk one by tag; the pure-Go one by its
/// manifest digest `quiet`, by tag alone, and by another digest.
fn deployment(quiet: &str, shell: &str) -> String {
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: shippers
  namespace: logging
spec:
  selector:
    matchLabels: {{app: shippers}}
  template:
    metadata:
      labels: {{app: shippers}}
    spec:
      containers:
        - name: loggie
          image: registry.local:5000/agents/loggie:v2
        - name: quiet
          image: registry.local:5000/agents/quiet:v1@{quiet}
        - name: quiet-tag
          image: registry.local:5000/agents/quiet:v1
        - name: quiet-other
          image: registry.local:5000/agents/quiet@sha256:0000000000000000000000000000000000000000000000000000000000000000
        - name: other
          image: registry.local:5000/agents/unlisted:v1
        - name: shell
          image: registry.local:5000/agents/shell@{shell}
"#
    )
}

#[test]
fn policy_output_fed_to_dry_run_classifies_pods_running_the_image() {
    if binaries().is_none() {
        return;
    }
    let dir = scratch_dir("inspect-image-policy");
    let cache = dir.path().join("cache");
    let archive = dir.path().join("loggie.tar");
    docker_archive(
        &archive,
        &Image::new(
            vec![Layer::new(
                Packing::Plain,
                vec![Entry::exe("usr/bin/loggie", binary("lookup-go1.19-cgo"))],
            )],
            &["/usr/bin/loggie"],
        ),
        "registry.local:5000/agents/loggie:v1",
    );
    let oci = dir.path().join("quiet");
    let quiet = one_binary_layout(
        &oci,
        Packing::Zstd,
        "/quiet",
        "lookup-go1.23-netgo",
        "registry.local:5000/agents/quiet:v1",
    );
    // An image with no Go in it: a shell script is its program.
    let scripted = dir.path().join("shell");
    let shell = one_file_layout(
        &scripted,
        Packing::Gzip,
        "/usr/bin/run",
        b"#!/bin/sh\nexec sleep infinity\n".to_vec(),
        "registry.local:5000/agents/shell:v1",
    );

    let out = inspect(
        &[
            "-o",
            "policy",
            archive.to_str().unwrap(),
            oci.to_str().unwrap(),
            scripted.to_str().unwrap(),
        ],
        &cache,
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let policy = text(&out);
    for line in [
        "      name: \"registry.local:5000/agents/loggie\"\n",
        "      risk: at-risk\n",
        "        - \"registry.local:5000/agents/loggie\"\n",
        "      risk: pure-go\n",
        // The safe verdict holds for the image read, not for the repository.
        &format!("        - \"registry.local:5000/agents/quiet@{quiet}\"\n"),
        "    # safe: pinned to the digests read; other tags of registry.local:5000/agents/quiet",
        "    # at risk: every tag of registry.local:5000/agents/loggie",
        // No Go at all withholds the fix as pure Go does: pinned too.
        "      risk: not-go\n",
        &format!("        - \"registry.local:5000/agents/shell@{shell}\"\n"),
        "    # not Go: pinned to the digests read; other tags of registry.local:5000/agents/shell",
    ] {
        assert!(policy.contains(line), "policy lacks {line:?}:\n{policy}");
    }
    assert!(
        !policy.contains("        - \"registry.local:5000/agents/quiet\"\n"),
        "{policy}"
    );
    // The pinned entry comes first: it is the more specific.
    assert!(
        policy.find("risk: pure-go") < policy.find("risk: at-risk"),
        "{policy}"
    );
    assert!(
        policy
            .contains("reason: \"at risk: CGO_ENABLED=1 and no netgo tag (/usr/bin/loggie, go1.19"),
        "{policy}"
    );
    assert!(policy.contains("    # registry.local:5000/agents/loggie:v1 linux/amd64 sha256:"));
    let policy_file = dir.path().join("policy.yaml");
    fs::write(&policy_file, &policy).unwrap();
    let manifests = dir.path().join("deployment.yaml");
    fs::write(&manifests, deployment(&quiet, &shell)).unwrap();

    let out = Command::new(env!("CARGO_BIN_EXE_netdns-guard"))
        .args(["dry-run", "-o", "report-json", "--config"])
        .arg(&policy_file)
        .arg("-f")
        .arg(&manifests)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let containers = &report[0]["report"]["containers"];
    assert_eq!(containers[0]["verdict"], "at-risk", "{report}");
    assert_eq!(containers[0]["target"], true);
    assert!(
        containers[0]["agent"]["id"]
            .as_str()
            .unwrap()
            .starts_with("inspected-loggie-"),
        "{report}"
    );
    assert_eq!(containers[1]["verdict"], "not-at-risk", "{report}");
    assert_eq!(containers[1]["target"], false);
    // A tag, or another digest, is not the build read: the rest of the catalog
    // decides (it does not know the image).
    for (i, name) in [(2, "quiet-tag"), (3, "quiet-other"), (4, "other")] {
        assert_eq!(containers[i]["name"], name, "{report}");
        assert_eq!(containers[i]["verdict"], "unknown", "{report}");
    }
    // The build read with no Go in it is not at risk, by its digest.
    assert_eq!(containers[5]["name"], "shell", "{report}");
    assert_eq!(containers[5]["verdict"], "not-at-risk", "{report}");
    assert_eq!(containers[5]["target"], false);
    assert_eq!(report[0]["changed"], true);
}
