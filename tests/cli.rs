//! The `netdns-guard dry-run` command line, run as a real process (ARCHITECTURE.md, "The command line"):
//! exit codes as `diff(1)` and `kubectl diff` have them, stdin and stdout, every
//! output format, KRM `ResourceList` in and out, directories, errors that name the
//! file, document and line with nothing on stdout, and objects nobody changes
//! passing through byte for byte.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use netdns_guard::manifest::stream;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_netdns-guard");
const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");

// --- running the binary ------------------------------------------------------

/// Runs `netdns-guard dry-run ARGS` from the repository root, with `stdin` piped
/// in when given (a closed stdin otherwise, never the terminal).
fn dry_run(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(BIN)
        .arg("dry-run")
        .args(args)
        .current_dir(MANIFEST_DIR)
        .env_remove("NETDNS_GUARD_CONFIG")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    if let Some(bytes) = stdin {
        child.stdin.take().unwrap().write_all(bytes).unwrap();
    }
    child.wait_with_output().unwrap()
}

fn stdout(output: &Output) -> &str {
    std::str::from_utf8(&output.stdout).expect("stdout is UTF-8")
}

fn stderr(output: &Output) -> &str {
    std::str::from_utf8(&output.stderr).expect("stderr is UTF-8")
}

/// Asserts the exit code, showing stderr when it is not the expected one.
fn assert_exit(output: &Output, code: i32) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "stderr: {}",
        stderr(output)
    );
}

/// Asserts a failed run: exit 2, nothing on stdout, and stderr naming every `part`.
fn assert_error(output: &Output, parts: &[&str]) {
    assert_exit(output, 2);
    assert_eq!(stdout(output), "", "stdout must stay empty on error");
    for part in parts {
        assert!(
            stderr(output).contains(part),
            "stderr lacks {part:?}: {}",
            stderr(output)
        );
    }
}

// --- inputs ------------------------------------------------------------------

fn example(name: &str) -> String {
    format!("examples/manifests/{name}")
}

fn read_example(name: &str) -> String {
    fs::read_to_string(Path::new(MANIFEST_DIR).join(example(name))).unwrap()
}

const LOGGIE: &str = "01-loggie-daemonset.yaml";
const FILEBEAT: &str = "02-filebeat-daemonset.yaml";
const FLUENT_BIT: &str = "04-fluent-bit-daemonset.yaml";

/// A fresh, empty directory for one test, under cargo's scratch directory.
fn scratch(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("cli")
        .join(test);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(dir: &Path, name: &str, contents: impl AsRef<[u8]>) -> String {
    let path = dir.join(name);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, contents).unwrap();
    path.to_str().unwrap().to_owned()
}

/// Every non-empty document of a YAML or JSON stream.
fn values(text: &str) -> Vec<Value> {
    let documents = stream::parse("output", text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    documents
        .into_iter()
        .map(|d| d.value)
        .filter(|v| !v.is_null())
        .collect()
}

fn godebug_of(container: &Value) -> Vec<&str> {
    let env = container["env"].as_array().into_iter().flatten();
    env.filter(|v| v["name"] == "GODEBUG")
        .map(|v| v["value"].as_str().unwrap())
        .collect()
}

// --- exit codes --------------------------------------------------------------

#[test]
fn exit_code_is_0_without_the_flag_even_when_something_changes() {
    let out = dry_run(&["-f", &example(LOGGIE)], None);
    assert_exit(&out, 0);
    assert!(stdout(&out).contains("value: netdns=go"));
}

#[test]
fn exit_code_is_1_with_the_flag_when_something_changes() {
    let out = dry_run(&["--exit-code", "-f", &example(LOGGIE)], None);
    assert_exit(&out, 1);
    // The stream is still written: a CI gate can show what would change.
    assert!(stdout(&out).contains("value: netdns=go"));
}

#[test]
fn exit_code_is_0_with_the_flag_when_nothing_changes() {
    let out = dry_run(&["--exit-code", "-f", &example(FLUENT_BIT)], None);
    assert_exit(&out, 0);
    assert_eq!(stdout(&out), read_example(FLUENT_BIT));
    // The fixed output of an at-risk agent changes nothing on a second run.
    let first = dry_run(&["-f", &example(LOGGIE)], None);
    let again = dry_run(&["--exit-code", "-f", "-"], Some(&first.stdout));
    assert_exit(&again, 0);
    assert_eq!(again.stdout, first.stdout);
}

#[test]
fn exit_code_is_2_on_errors_even_with_the_flag() {
    let dir = scratch("exit_code_is_2");
    let bad = write(&dir, "bad.yaml", "a: [1, 2\n");
    assert_error(
        &dry_run(&["--exit-code", "-f", &example(LOGGIE), "-f", &bad], None),
        &[],
    );
    assert_error(
        &dry_run(&["-o", "nonsense", "-f", &example(LOGGIE)], None),
        &["nonsense"],
    );
}

// --- stdin -------------------------------------------------------------------

#[test]
fn stdin_is_read_with_dash_f_dash_and_without_any_f() {
    let text = read_example(LOGGIE);
    let from_file = dry_run(&["-f", &example(LOGGIE)], None);
    let dash = dry_run(&["-f", "-"], Some(text.as_bytes()));
    let piped = dry_run(&[], Some(text.as_bytes()));
    assert_exit(&dash, 0);
    assert_exit(&piped, 0);
    assert_eq!(dash.stdout, from_file.stdout);
    assert_eq!(piped.stdout, from_file.stdout);
    let report = dry_run(&["-o", "report"], Some(text.as_bytes()));
    assert!(
        stdout(&report).starts_with("<stdin>: document 1 (line 1): DaemonSet/loggie"),
        "{}",
        stdout(&report)
    );
}

#[test]
fn stdin_and_files_mix_in_command_line_order() {
    let text = read_example(FLUENT_BIT);
    let out = dry_run(&["-f", &example(LOGGIE), "-f", "-"], Some(text.as_bytes()));
    let kinds: Vec<String> = values(stdout(&out))
        .iter()
        .map(|v| v["metadata"]["name"].to_string())
        .collect();
    assert_eq!(kinds, ["\"loggie\"", "\"fluent-bit\""]);
}

/// A stream saved with old Mac line endings (a lone CR, a YAML line break) is cut
/// at its markers like any other: the pod is patched with its leading comment
/// kept once, and the untouched document is written back byte for byte.
#[test]
fn a_stream_with_lone_cr_line_breaks_is_read_document_by_document() {
    let pod = "# Source: agent/templates/pod.yaml\rapiVersion: v1\rkind: Pod\rmetadata:\r  name: a\rspec:\r  containers:\r  - name: c\r    image: grafana/promtail:2.9.0\r";
    let config = "---\rapiVersion: v1\rkind: ConfigMap\rmetadata:\r  name: b\rdata:\r  k: v\r";
    let out = dry_run(&[], Some(format!("{pod}{config}").as_bytes()));
    assert_exit(&out, 0);
    let text = stdout(&out);
    let docs: Vec<Value> =
        serde_saphyr::from_multiple(text).unwrap_or_else(|e| panic!("{e}: {text:?}"));
    assert_eq!(docs.len(), 2, "{text:?}");
    let container = &docs[0]["spec"]["containers"][0];
    assert_eq!(godebug_of(container), ["netdns=go"], "{text:?}");
    assert_eq!(docs[1]["data"]["k"], "v");
    assert_eq!(
        text.matches("# Source: agent/templates/pod.yaml\n").count(),
        1,
        "{text:?}"
    );
    assert!(text.ends_with(config), "{text:?}");
}

// --- errors ------------------------------------------------------------------

/// A stream whose third document (line 9) is broken.
const BROKEN: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n---\ndata: {x: [1, 2}\n";

#[test]
fn broken_yaml_is_an_error_naming_the_file_document_and_line() {
    let dir = scratch("broken_yaml");
    let bad = write(&dir, "broken.yaml", BROKEN);
    let out = dry_run(&["-f", &bad], None);
    assert_error(&out, &[&bad, "document 3", "line 9"]);
    // Said once: the error chain must not repeat the message.
    assert_eq!(
        stderr(&out).matches("document 3").count(),
        1,
        "{}",
        stderr(&out)
    );
}

#[test]
fn nothing_reaches_stdout_when_a_broken_file_comes_after_good_ones() {
    let dir = scratch("broken_after_good");
    let bad = write(&dir, "broken.yaml", BROKEN);
    let out = dry_run(&["-f", "examples/manifests", "-f", &bad], None);
    assert_error(&out, &["broken.yaml", "document 3", "line 9"]);
    // The same in a directory: good.yaml is read first, then zz-broken.yaml.
    let tree = scratch("broken_after_good_dir");
    write(&tree, "good.yaml", read_example(LOGGIE));
    write(&tree, "zz-broken.yaml", BROKEN);
    let out = dry_run(&["-o", "report", "-f", tree.to_str().unwrap()], None);
    assert_error(&out, &["zz-broken.yaml", "document 3", "line 9"]);
}

#[test]
fn broken_json_and_badly_shaped_pods_are_errors_too() {
    let dir = scratch("broken_json");
    let bad = write(
        &dir,
        "list.json",
        "{\"kind\": \"List\", \"items\": []}\n{\"kind\": }\n",
    );
    assert_error(
        &dry_run(&["-f", &bad], None),
        &["list.json", "document 2", "line 2"],
    );
    let shape = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n    image: loggieio/loggie\n    env: oops\n";
    let bad = write(&dir, "pod.yaml", shape);
    assert_error(
        &dry_run(&["-f", &bad], None),
        &["pod.yaml", "document 1", "Pod/p", "env"],
    );
}

#[test]
fn an_unknown_policy_key_is_an_error_naming_the_key_and_the_file() {
    let dir = scratch("policy_key");
    let policy = write(&dir, "policy.yaml", "strategy: env\nstratgey: both\n");
    let out = dry_run(&["--config", &policy, "-f", &example(LOGGIE)], None);
    assert_error(&out, &["stratgey", &policy, "line 2"]);
    let nested = write(&dir, "nested.yaml", "resolverConfig:\n  floor: \"1.19\"\n");
    let out = dry_run(&["--config", &nested, "-f", &example(LOGGIE)], None);
    assert_error(&out, &["floor", &nested]);
    let bad_value = write(&dir, "value.yaml", "strategy: sometimes\n");
    let out = dry_run(&["--config", &bad_value, "-f", &example(LOGGIE)], None);
    assert_error(&out, &["sometimes", "strategy", &bad_value]);
}

#[test]
fn the_example_policy_is_accepted_and_used() {
    let out = dry_run(
        &[
            "--config",
            "examples/policy.yaml",
            "-o",
            "report",
            "-f",
            &example("08-pod-opted-in.yaml"),
        ],
        None,
    );
    assert_exit(&out, 0);
    // Its catalog addition names the in-house shipper the default catalog does not know.
    assert!(
        stdout(&out).contains("(Platform log shipper: in-house Go shipper"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn an_unreadable_input_is_a_clear_error() {
    let out = dry_run(&["-f", "examples/manifests/does-not-exist.yaml"], None);
    assert_error(
        &out,
        &["examples/manifests/does-not-exist.yaml", "No such file"],
    );
    assert_eq!(
        stderr(&out).matches("No such file").count(),
        1,
        "{}",
        stderr(&out)
    );
    let dir = scratch("unreadable");
    let binary = write(&dir, "binary.yaml", [0xff, 0xfe, 0x00, 0x61]);
    assert_error(
        &dry_run(&["-f", &example(LOGGIE), "-f", &binary], None),
        &[&binary, "not UTF-8"],
    );
    assert_error(
        &dry_run(&["-f", "-"], Some(&[0xff, 0xfe])),
        &["<stdin>", "not UTF-8"],
    );
    let missing_policy = dry_run(
        &["--config", "no-such-policy.yaml", "-f", &example(LOGGIE)],
        None,
    );
    assert_error(&missing_policy, &["no-such-policy.yaml"]);
}

// --- output formats ----------------------------------------------------------

#[test]
fn json_output_is_one_object_or_a_list() {
    let one = dry_run(&["-o", "json", "-f", &example(LOGGIE)], None);
    let object: Value = serde_json::from_slice(&one.stdout).unwrap();
    assert_eq!(object["kind"], "DaemonSet");
    let container = &object["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(godebug_of(container), ["netdns=go"]);

    let many = dry_run(
        &[
            "-o",
            "json",
            "-f",
            &example(LOGGIE),
            "-f",
            &example(FLUENT_BIT),
        ],
        None,
    );
    let list: Value = serde_json::from_slice(&many.stdout).unwrap();
    assert_eq!(
        (list["apiVersion"].as_str(), list["kind"].as_str()),
        (Some("v1"), Some("List"))
    );
    let yaml = dry_run(&["-f", &example(LOGGIE), "-f", &example(FLUENT_BIT)], None);
    assert_eq!(list["items"].as_array().unwrap(), &values(stdout(&yaml)));
}

#[test]
fn patch_output_is_a_json_patch_that_turns_the_input_into_the_output() {
    let files = [
        example(LOGGIE),
        example(FILEBEAT),
        example(FLUENT_BIT),
        example("03-promtail-deployment.yaml"),
    ];
    let mut args = vec!["-o", "patch"];
    files.iter().for_each(|f| args.extend(["-f", f.as_str()]));
    let entries: Vec<Value> = serde_json::from_slice(&dry_run(&args, None).stdout).unwrap();
    // One entry per changed object; Fluent Bit has none.
    let sources: Vec<&str> = entries
        .iter()
        .map(|e| e["source"].as_str().unwrap())
        .collect();
    assert_eq!(sources, [&files[0], &files[1], &files[3]]);
    for entry in &entries {
        let source = entry["source"].as_str().unwrap();
        let input = values(&fs::read_to_string(Path::new(MANIFEST_DIR).join(source)).unwrap());
        let mut object = input[entry["document"].as_u64().unwrap() as usize - 1].clone();
        let patch: json_patch::Patch = serde_json::from_value(entry["patch"].clone()).unwrap();
        json_patch::patch(&mut object, &patch).unwrap_or_else(|e| panic!("{source}: {e}"));
        let expected = values(stdout(&dry_run(&["-f", source], None)));
        assert_eq!(object, expected[0], "{source}");
    }
}

#[test]
fn diff_output_shows_what_changes_and_nothing_else() {
    let out = dry_run(
        &[
            "-o",
            "diff",
            "-f",
            &example(FILEBEAT),
            "-f",
            &example(FLUENT_BIT),
        ],
        None,
    );
    assert_exit(&out, 0);
    let diff = stdout(&out);
    assert!(
        diff.starts_with(&format!(
            "--- a/{}: document 1 (line 1) DaemonSet/filebeat (kube-system)\n",
            example(FILEBEAT)
        )),
        "{diff}"
    );
    assert!(
        diff.contains("\n-          value: http2client=0\n"),
        "{diff}"
    );
    assert!(
        diff.contains("\n+          value: http2client=0,netdns=go\n"),
        "{diff}"
    );
    assert!(
        diff.contains("\n+        netdns-guard.io/status: \"env: containers filebeat\"\n"),
        "{diff}"
    );
    assert!(
        !diff.contains("fluent-bit"),
        "an unchanged object is in the diff: {diff}"
    );
    let nothing = dry_run(
        &["-o", "diff", "--exit-code", "-f", &example(FLUENT_BIT)],
        None,
    );
    assert_exit(&nothing, 0);
    assert_eq!(stdout(&nothing), "");
}

#[test]
fn report_output_says_what_was_found_and_done() {
    let out = dry_run(
        &[
            "-o",
            "report",
            "-f",
            &example(FILEBEAT),
            "-f",
            &example(FLUENT_BIT),
        ],
        None,
    );
    let report = stdout(&out);
    for line in [
        "DaemonSet/filebeat (kube-system): CHANGED",
        "  container filebeat (docker.elastic.co/beats/filebeat:8.15.0): at risk (Filebeat: ",
        "    changed: GODEBUG \"http2client=0\" -> \"http2client=0,netdns=go\"",
        "DaemonSet/fluent-bit (logging): unchanged",
        "  container fluent-bit (cr.fluentbit.io/fluent/fluent-bit:3.2.2): not at risk (Fluent Bit: written in C",
        "2 workload(s), 1 changed, 0 other object(s) passed through unchanged",
    ] {
        assert!(report.contains(line), "report lacks {line:?}:\n{report}");
    }
    let json: Vec<Value> = serde_json::from_slice(
        &dry_run(&["-o", "report-json", "-f", &example(FILEBEAT)], None).stdout,
    )
    .unwrap();
    assert_eq!(json[0]["report"]["containers"][0]["verdict"], "at-risk");
    assert_eq!(json[0]["changed"], true);
}

#[test]
fn warnings_go_to_stderr_not_into_the_stream() {
    let out = dry_run(&["-f", &example("06-filebeat-cronjob.yaml")], None);
    assert_exit(&out, 0);
    assert!(
        stderr(&out).contains(
            "warning: CronJob/filebeat-archive (logging): container filebeat: has envFrom"
        ),
        "{}",
        stderr(&out)
    );
    // (The manifest's own comments, kept in the output, may say "warning".)
    assert!(!stdout(&out).contains("has envFrom"));
}

// --- KRM functions -----------------------------------------------------------

const RESOURCE_LIST: &str = r#"apiVersion: config.kubernetes.io/v1
kind: ResourceList
items:
- apiVersion: apps/v1
  kind: Deployment
  metadata:
    name: shipper
    namespace: logs
    annotations:
      config.kubernetes.io/index: "0"
  spec:
    template:
      spec:
        containers:
        - name: promtail
          image: grafana/promtail:3.5.1
          envFrom:
          - secretRef: {name: creds}
- apiVersion: v1
  kind: Service
  metadata:
    name: shipper
    namespace: logs
  spec:
    ports: [{port: 3101}]
functionConfig:
  apiVersion: v1
  kind: ConfigMap
  metadata:
    name: netdns-guard
"#;

#[test]
fn a_resource_list_in_gives_a_resource_list_out_with_results() {
    let out = dry_run(&[], Some(RESOURCE_LIST.as_bytes()));
    assert_exit(&out, 0);
    let input = &values(RESOURCE_LIST)[0];
    let output = values(stdout(&out));
    let [list] = output.as_slice() else {
        panic!("one ResourceList expected: {}", stdout(&out))
    };
    assert_eq!(list["apiVersion"], "config.kubernetes.io/v1");
    assert_eq!(list["kind"], "ResourceList");
    assert_eq!(list["functionConfig"], input["functionConfig"]);
    assert_eq!(list["items"][1], input["items"][1], "the Service changed");
    let deployment = &list["items"][0];
    assert_eq!(deployment["metadata"], input["items"][0]["metadata"]);
    assert_eq!(
        godebug_of(&deployment["spec"]["template"]["spec"]["containers"][0]),
        ["netdns=go"]
    );

    let results = list["results"].as_array().expect("results");
    let severities: Vec<&str> = results
        .iter()
        .map(|r| r["severity"].as_str().unwrap())
        .collect();
    assert_eq!(severities, ["info", "warning"]);
    for result in results {
        assert!(result["message"].as_str().is_some_and(|m| !m.is_empty()));
        // KRM's resourceRef uses Kubernetes field names.
        let expected = serde_json::json!({ "apiVersion": "apps/v1", "kind": "Deployment", "name": "shipper", "namespace": "logs" });
        assert_eq!(result["resourceRef"], expected);
    }
}

#[test]
fn a_policy_given_as_function_config_replaces_the_default() {
    // kustomize and kpt pass the function's configuration in the ResourceList.
    let config = "functionConfig:\n  apiVersion: netdns-guard.io/v1alpha1\n  kind: Policy\n  metadata: {name: netdns-guard}\n  catalog: {remove: [promtail]}\n";
    let list = RESOURCE_LIST
        .split("functionConfig:")
        .next()
        .unwrap()
        .to_owned()
        + config;
    let out = dry_run(&["--exit-code"], Some(list.as_bytes()));
    assert_exit(&out, 0);
    assert_eq!(stdout(&out), list);
}

#[test]
fn a_resource_list_with_nothing_to_do_comes_back_unchanged() {
    let quiet = RESOURCE_LIST.replace("grafana/promtail:3.5.1", "nginx:1.27");
    let out = dry_run(&["--exit-code"], Some(quiet.as_bytes()));
    assert_exit(&out, 0);
    assert_eq!(stdout(&out), quiet);
}

// --- directories and pass-through ----------------------------------------------

fn pod(name: &str, image: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  containers:\n  - name: c\n    image: {image}\n"
    )
}

#[test]
fn directories_are_read_recursively_in_name_order_for_manifest_files_only() {
    let dir = scratch("directories");
    // Written in reverse order, so that only sorting can give the expected order.
    write(&dir, "b.yaml", pod("b", "grafana/promtail"));
    write(
        &dir,
        "a/d.json",
        r#"{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "d"}, "spec": {"containers": []}}"#,
    );
    write(&dir, "a/c.yml", pod("c", "nginx"));
    // Not manifests: never read (each would fail to parse).
    write(&dir, "notes.txt", "not: [yaml\n");
    write(&dir, "README.md", "# {not yaml\n");
    write(&dir, "a/old.yaml.bak", "- [\n");
    let out = dry_run(&["-o", "report", "-f", dir.to_str().unwrap()], None);
    assert_exit(&out, 0);
    let objects: Vec<&str> = stdout(&out)
        .lines()
        .filter_map(|line| line.split(": ").nth(2).filter(|_| !line.starts_with(' ')))
        .collect();
    assert_eq!(objects, ["Pod/c", "Pod/d", "Pod/b"], "{}", stdout(&out));
}

/// A stream mixing objects netdns-guard does not handle (with comments, odd
/// quoting and flow style) around one it changes.
const MIXED: &str = r#"# Rendered by hand. This comment opens the stream.
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings   # trailing comment
data:
  enabled: "yes"
  mode: 0644
  script: |
    #!/bin/sh
    echo "--- not a document marker"
---
apiVersion: v1
kind: Pod
metadata: {name: shipper}
spec:
  containers:
  - {name: loggie, image: "loggieio/loggie:v1.5.0"}
---
# The Service keeps its comments and flow style.
apiVersion: v1
kind: Service
metadata: {name: shipper, labels: {a: "1"}}
spec:
  ports: [{port: 80, targetPort: 8080}]   # http
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: shippers.example.com
spec:
  group: example.com
  names: {kind: Shipper, plural: shippers}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          containers: {type: array, items: {type: object, properties: {env: {type: array}}}}
...
"#;

#[test]
fn unhandled_objects_and_comments_pass_through_byte_for_byte_and_in_order() {
    let out = dry_run(&["--exit-code", "-f", "-"], Some(MIXED.as_bytes()));
    assert_exit(&out, 1);
    let text = stdout(&out);
    let documents: Vec<&str> = stream::split_yaml(MIXED)
        .into_iter()
        .map(|(_, raw)| raw)
        .collect();
    let [config_map, _pod, service, crd] = documents.as_slice() else {
        panic!("{documents:?}")
    };
    let position = |raw: &str| {
        text.find(raw)
            .unwrap_or_else(|| panic!("not in the output verbatim:\n{raw}\n--- output:\n{text}"))
    };
    let (a, c, d) = (position(config_map), position(service), position(crd));
    let b = text
        .find("name: shipper\n  annotations:")
        .expect("the changed Pod");
    assert!(a < b && b < c && c < d, "out of order:\n{text}");
    assert!(text.starts_with("# Rendered by hand."), "{text}");
    let pod = &values(text)[1];
    assert_eq!(godebug_of(&pod["spec"]["containers"][0]), ["netdns=go"]);
}
