#!/usr/bin/env python3
"""The container image, run the way the Helm chart runs it (tests/image/run.sh).

Renders charts/netdns-guard with Helm, turns the webhook Deployment's pod into a
`podman run` (its args, its securityContext, its volumes, its grace period) and
checks, against the running container:

  - `--version` prints the binary's version and the OCI labels are set; the image's
    own user is 65532:65532;
  - `serve` answers an AdmissionReview over TLS, verified against the CA for the
    Service's DNS name as the apiserver does, with the JSON patch that adds
    GODEBUG=netdns=go (decoded and applied here);
  - /readyz says ready and /metrics counts the review;
  - SIGTERM ends it with exit status 0 within terminationGracePeriodSeconds;
  - nothing was written to the container's root file system: `podman diff` and the
    overlay's upper directory are what the runtime laid out before the start.

Every securityContext field the chart sets must map to a podman flag here, so a
new hardening field in the chart fails this test until it is honoured.

Usage: check.py --image IMAGE --helm HELM --bin NETDNS_GUARD_BIN --revision REV [--podman CMD]
Exit status 0 when every check passed, 1 otherwise.
"""

import argparse
import base64
import copy
import http.client
import json
import os
import shlex
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "netdns-guard"
REVIEW = REPO / "tests" / "data" / "review-promtail.json"
RELEASE = NAMESPACE = "netdns-guard"
# The name the apiserver dials: <service>.<namespace>.svc.
SERVICE_DNS = f"{RELEASE}.{NAMESPACE}.svc"

# This sandbox refuses to raise a container's RLIMIT_NOFILE/NPROC to the host's own
# hard limits (runc: "error setting rlimit ... operation not permitted"), which is
# what podman asks for by default; fixed, lower limits start. Kubernetes leaves
# limits to the node's runtime defaults, so these are no part of "as the chart does".
SANDBOX_ULIMITS = ["--ulimit", "nofile=16384:16384", "--ulimit", "nproc=4096:4096"]

failures = []


def check(ok, what):
    print(f"{'ok  ' if ok else 'FAIL'} {what}", flush=True)
    if not ok:
        failures.append(what)
    return ok


def run(cmd, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    return subprocess.run(cmd, **kw)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------
# The chart's pod


def render_chart(helm, home):
    env = dict(os.environ, HELM_CONFIG_HOME=f"{home}/config", HELM_DATA_HOME=f"{home}/data",
               HELM_CACHE_HOME=f"{home}/cache", KUBECONFIG=f"{home}/no-kubeconfig")
    out = run([helm, "template", RELEASE, str(CHART), "--namespace", NAMESPACE,
               "--kube-version", "1.30.0"], env=env)
    if out.returncode != 0:
        sys.exit(f"helm template failed:\n{out.stderr}")
    docs = [d for d in yaml.safe_load_all(out.stdout) if d]
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    policy = next(d for d in docs if d["kind"] == "ConfigMap"
                  and d["metadata"]["name"].endswith("-policy"))
    return deployment["spec"]["template"]["spec"], policy["data"]["policy.yaml"]


def security_flags(pod, container):
    """podman flags for the pod's and container's securityContext; unknown fields fail."""
    psc = dict(pod.get("securityContext") or {})
    csc = dict(container.get("securityContext") or {})
    flags = []
    user = csc.pop("runAsUser", psc.get("runAsUser"))
    group = csc.pop("runAsGroup", psc.get("runAsGroup"))
    psc.pop("runAsUser", None)
    psc.pop("runAsGroup", None)
    check(user is not None and group is not None and user != 0,
          f"the chart runs as a non-root user ({user}:{group})")
    flags += ["--user", f"{user}:{group}"]
    # runAsNonRoot: the kubelet refuses UID 0; --user above is non-zero (checked).
    for sc in (psc, csc):
        if sc.pop("runAsNonRoot", None) is not None:
            check(user != 0, "runAsNonRoot holds")
        seccomp = sc.pop("seccompProfile", None)
        if seccomp is not None:
            # podman applies its default (RuntimeDefault-like) profile unless told not to.
            check(seccomp == {"type": "RuntimeDefault"}, f"seccompProfile {seccomp}")
    fs_group = psc.pop("fsGroup", None)
    if fs_group is not None:
        # The kubelet makes volume files group-owned by fsGroup and adds it as a
        # supplementary group; the volumes below are prepared the same way.
        flags += ["--group-add", str(fs_group)]
    if csc.pop("readOnlyRootFilesystem", False):
        # --read-only-tmpfs=false: Kubernetes mounts no tmpfs on /tmp or /run either.
        flags += ["--read-only", "--read-only-tmpfs=false"]
    if csc.pop("allowPrivilegeEscalation", True) is False:
        flags += ["--security-opt", "no-new-privileges"]
    if csc.pop("privileged", False):
        check(False, "the chart runs a privileged container")
    caps = csc.pop("capabilities", {}) or {}
    for cap in caps.pop("drop", []):
        flags += ["--cap-drop", cap]
    for cap in caps.pop("add", []):
        flags += ["--cap-add", cap]
    check(not caps, f"every capabilities field is honoured (left: {caps})")
    check(not psc and not csc,
          f"every securityContext field is honoured (left: pod {psc}, container {csc})")
    return flags, fs_group


def volume_flags(pod, container, work, policy_yaml, certs_dir, fs_group):
    """The Secret and ConfigMap volumes as read-only bind mounts, modes as the kubelet sets."""
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    flags = []
    for mount in container.get("volumeMounts", []):
        vol = volumes[mount["name"]]
        src = work / mount["name"]
        src.mkdir()
        if "secret" in vol:
            for name in ("tls.crt", "tls.key"):
                (src / name).write_bytes((certs_dir / name).read_bytes())
            mode = vol["secret"].get("defaultMode", 0o644)
        elif "configMap" in vol:
            (src / "policy.yaml").write_text(policy_yaml)
            mode = vol["configMap"].get("defaultMode", 0o644)
        else:
            check(False, f"volume {mount['name']} is a Secret or ConfigMap")
            continue
        for f in src.iterdir():
            os.chown(f, 0, fs_group if fs_group is not None else 0)
            os.chmod(f, mode)
        os.chmod(src, 0o755)
        check(mount.get("readOnly") is True, f"volume {mount['name']} is mounted read-only")
        flags += ["--volume", f"{src}:{mount['mountPath']}:ro"]
    return flags


# --------------------------------------------------------------------------
# Talking to the container


def http_get(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError as e:
        return None, str(e)


def post_review(port, ca_file, body):
    """POST over TLS to 127.0.0.1, verifying the certificate for the Service's name."""
    ctx = ssl.create_default_context(cafile=str(ca_file))
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_alpn_protocols(["http/1.1"])
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    tls = ctx.wrap_socket(raw, server_hostname=SERVICE_DNS)
    conn = http.client.HTTPConnection(SERVICE_DNS, port, timeout=10)
    conn.sock = tls
    conn.request("POST", "/mutate?timeout=3s", body=body,
                 headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    data = resp.read()
    version = tls.version()
    conn.close()
    return resp.status, data, version


def json_pointer_parent(doc, path):
    parts = [p.replace("~1", "/").replace("~0", "~") for p in path.split("/")[1:]]
    for p in parts[:-1]:
        doc = doc[int(p)] if isinstance(doc, list) else doc[p]
    return doc, parts[-1]


def apply_patch(doc, patch):
    """RFC 6902 add/replace/remove/test, enough to apply what the webhook sends."""
    doc = copy.deepcopy(doc)
    for op in patch:
        parent, key = json_pointer_parent(doc, op["path"])
        if op["op"] == "add":
            if isinstance(parent, list):
                parent.insert(len(parent) if key == "-" else int(key), op["value"])
            else:
                parent[key] = op["value"]
        elif op["op"] == "replace":
            parent[int(key) if isinstance(parent, list) else key] = op["value"]
        elif op["op"] == "remove":
            del parent[int(key) if isinstance(parent, list) else key]
        elif op["op"] == "test":
            if parent[int(key) if isinstance(parent, list) else key] != op["value"]:
                raise ValueError(f"test failed at {op['path']}")
        else:
            raise ValueError(f"unexpected op {op['op']}")
    return doc


def check_review(port, ca_file):
    review = json.loads(REVIEW.read_text())
    status, data, version = post_review(port, ca_file, json.dumps(review).encode())
    check(status == 200, f"POST /mutate answers 200 (got {status})")
    check(version in ("TLSv1.2", "TLSv1.3"), f"TLS version {version}")
    answer = json.loads(data)
    resp = answer.get("response", {})
    check(answer.get("apiVersion") == "admission.k8s.io/v1"
          and answer.get("kind") == "AdmissionReview", "the answer is an AdmissionReview v1")
    check(resp.get("uid") == review["request"]["uid"], "the answer carries the request's uid")
    check(resp.get("allowed") is True, "the pod is allowed")
    check(resp.get("patchType") == "JSONPatch", "the answer has a JSONPatch")
    patch = json.loads(base64.b64decode(resp.get("patch", "")))
    print(f"     patch: {json.dumps(patch)}")
    pod = review["request"]["object"]
    patched = apply_patch(pod, patch)
    env = patched["spec"]["containers"][0].get("env", [])
    check({"name": "GODEBUG", "value": "netdns=go"} in env,
          "the patched promtail container has GODEBUG=netdns=go")
    check(env[: len(pod["spec"]["containers"][0]["env"])] == pod["spec"]["containers"][0]["env"],
          "the container's own env entries are kept, in order")
    untouched = copy.deepcopy(patched)
    untouched["spec"]["containers"][0]["env"] = pod["spec"]["containers"][0]["env"]
    untouched["metadata"].pop("annotations", None)
    original = copy.deepcopy(pod)
    original["metadata"].pop("annotations", None)
    check(untouched == original, "the patch changes nothing but the env and annotations")


# --------------------------------------------------------------------------
# The checks


def check_image(podman, image, binary, revision):
    want = run([binary, "--version"]).stdout.strip()
    got = run(podman + ["run", "--rm", "--network", "none", "--read-only",
                        "--read-only-tmpfs=false", "--cap-drop", "ALL",
                        "--security-opt", "no-new-privileges", *SANDBOX_ULIMITS,
                        image, "--version"])
    check(got.returncode == 0 and got.stdout.strip() == want,
          f"--version in the image prints {want!r} (got {got.stdout.strip()!r} {got.stderr.strip()})")
    info = json.loads(run(podman + ["image", "inspect", image]).stdout)[0]
    labels = info.get("Labels") or info.get("Config", {}).get("Labels") or {}
    version = want.split()[-1]
    check(labels.get("org.opencontainers.image.version") == version,
          f"label org.opencontainers.image.version = {version}")
    check(labels.get("org.opencontainers.image.revision") == revision,
          f"label org.opencontainers.image.revision = {revision}")
    for key in ("title", "source", "created", "licenses", "base.name"):
        value = labels.get(f"org.opencontainers.image.{key}", "")
        check(bool(value) and value != "unknown", f"label org.opencontainers.image.{key} = {value!r}")
    config = info.get("Config", {})
    check(config.get("User") == "65532:65532", f"image user {config.get('User')!r}")
    check(config.get("Entrypoint") == ["/netdns-guard"] and config.get("Cmd") == ["serve"],
          "entrypoint /netdns-guard, default command serve")
    print(f"     image size: {info['Size'] / 1e6:.1f} MB ({info['Size']} bytes)")


def wait_ready(metrics_port, name, podman, deadline_s=60):
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        status, _ = http_get(metrics_port, "/readyz")
        if status == 200:
            return True
        state = run(podman + ["inspect", name, "--format", "{{.State.Status}}"]).stdout.strip()
        if state not in ("running", "created", "configured"):
            break
        time.sleep(0.3)
    print(run(podman + ["logs", name]).stderr)
    return False


def check_serve(podman, image, helm, binary):
    pod, policy_yaml = render_chart(helm, tempfile.mkdtemp(prefix="netdns-image-helm-"))
    [container] = [c for c in pod["containers"] if c["name"] == "webhook"]
    grace = int(pod["terminationGracePeriodSeconds"])
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    with tempfile.TemporaryDirectory(prefix="netdns-image-") as tmp:
        work = Path(tmp)
        os.chmod(work, 0o755)
        certs = work / "certs"
        out = run([binary, "certs", "--service", RELEASE, "--namespace", NAMESPACE,
                   "--out-dir", str(certs)])
        if not check(out.returncode == 0, "certificates generated"):
            print(out.stderr)
            return
        sec, fs_group = security_flags(pod, container)
        vols = volume_flags(pod, container, work, policy_yaml, certs, fs_group)
        https_port, metrics_port = free_port(), free_port()
        name = f"netdns-guard-image-test-{os.getpid()}"
        cmd = podman + ["create", "--name", name, *sec, *vols, *SANDBOX_ULIMITS,
                        # No service links, no token: the chart mounts none.
                        "--publish", f"127.0.0.1:{https_port}:{ports['https']}",
                        "--publish", f"127.0.0.1:{metrics_port}:{ports['metrics']}",
                        image, *container["args"]]
        print("     " + shlex.join(cmd))
        try:
            created = run(cmd)
            # init: the runtime lays out the container (its mount points, /etc/hostname)
            # without starting the process; what is written after that is the server's.
            inited = created.returncode == 0 and run(podman + ["init", name]).returncode == 0
            if not check(inited, "podman create and init"):
                print(created.stderr)
                return
            before = written_files(podman, name)
            started = run(podman + ["start", name])
            if not check(started.returncode == 0, "podman start runs the server"):
                print(started.stderr)
                return
            check_running(podman, name, https_port, metrics_port, certs / "ca.crt", grace)
            after = written_files(podman, name)
            check(after == before,
                  f"the server wrote nothing to the root file system (podman diff: "
                  f"{after['diff']!r}, all of it the runtime's before the start)")
        finally:
            run(podman + ["rm", "--force", "--time", "0", name])


def written_files(podman, name):
    """The container's writable layer: `podman diff`, and every file of the overlay
    upper directory with its size and modification time."""
    diff = run(podman + ["diff", name])
    upper = run(podman + ["inspect", name, "--format", "{{.GraphDriver.Data.UpperDir}}"])
    files = {}
    root = Path(upper.stdout.strip())
    if upper.returncode == 0 and root.is_dir():
        for path in root.rglob("*"):
            st = path.lstat()
            files[str(path.relative_to(root))] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return {"diff": diff.stdout.strip() if diff.returncode == 0 else diff.stderr,
            "upper": files}


def check_running(podman, name, https_port, metrics_port, ca_file, grace):
    if not check(wait_ready(metrics_port, name, podman), "/readyz answers 200 (ready)"):
        return
    check(http_get(metrics_port, "/healthz")[0] == 200, "/healthz answers 200")
    check_review(https_port, ca_file)
    status, text = http_get(metrics_port, "/metrics")
    check(status == 200 and
          'netdns_guard_admission_requests_total{operation="CREATE",result="patched"} 1' in text,
          "/metrics counts the patched review")
    user = run(podman + ["top", name, "user", "group"]).stdout.split()
    check(user[-2:] == ["65532", "65532"] or user[-2:] == ["nonroot", "nonroot"],
          f"the server runs as 65532:65532 (podman top: {user[-2:]})")

    t0 = time.monotonic()
    run(podman + ["kill", "--signal", "TERM", name])
    try:
        waited = run(podman + ["wait", name], timeout=grace)
        elapsed = time.monotonic() - t0
        code = waited.stdout.strip()
    except subprocess.TimeoutExpired:
        elapsed, code = time.monotonic() - t0, "still running"
    check(code == "0" and elapsed < grace,
          f"SIGTERM: exit status {code} after {elapsed:.1f}s (grace period {grace}s)")
    logs = run(podman + ["logs", name])
    lines = [json.loads(l) for l in (logs.stdout + logs.stderr).splitlines()
             if l.startswith("{")]
    check(any(l.get("fields", l).get("decision") == "patched" for l in lines),
          "one JSON log line for the admission, decision patched")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--image", required=True)
    ap.add_argument("--helm", required=True)
    ap.add_argument("--bin", required=True, help="the netdns-guard binary in the image")
    ap.add_argument("--revision", required=True, help="the revision the image was built from")
    ap.add_argument("--podman", default="podman --runtime runc")
    a = ap.parse_args()
    podman = shlex.split(a.podman)
    check_image(podman, a.image, a.bin, a.revision)
    check_serve(podman, a.image, a.helm, a.bin)
    if failures:
        print(f"\n{len(failures)} check(s) failed:")
        for f in failures:
            print(f"  - {f}")
        return 1
    print("\nevery image check passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
