#!/usr/bin/env python3
"""The resolver lab: netdns-guard's fix, proved on real Go runtimes (issue 6, ARCHITECTURE.md, "Why Go takes the cgo resolver", "Real parts the tests run").

A cgo-built Go program (prog/, standard library only, no netgo tag) is compiled with
Debian's Go 1.19 and Go 1.23 and run under an LD_PRELOAD'ed getaddrinfo that faults
(crash/), so any lookup that takes the cgo path dies with the field signature
(SIGSEGV, net._C2func_getaddrinfo). Every run gets GODEBUG's netdns debug level 2
added without changing its mode, and the lab reads from Go's own output which resolver
it chose ("hostLookupOrder(...) = cgo" or "files,dns"), not only whether it survived.

The runs happen in a private mount namespace (the script re-executes itself under
`unshare -m --propagation private`); /etc/resolv.conf, /etc/nsswitch.conf and
/etc/hosts are bind-mounted over with the lab's own files there, so the host's files
are never touched.

What is checked (each check counts once in the closing "resolver-lab: N passed,
N failed" line; the script exits 1 when any fails):

  protected   every container netdns-guard protects (examples/manifests and
              ../shared/fixtures/manifests; default policy and a policy that targets
              every pod) runs with exactly its env from `dry-run -o json` and takes
              the Go resolver on both Go versions under every cgo condition (no call
              into libc, Go's own hostLookupOrder, the name resolved; one asserted
              exception: see expected_go_order for tab-separated nsswitch.conf).
  originals   the same containers as written (the dry-run input) behave exactly as
              ARCHITECTURE.md, "Why Go takes the cgo resolver" predicts under each condition, and crash with the field
              signature under at least one.
  godebug     a table of GODEBUG values: what each Go version really does, the documented
              parsing claims, the engine's verdict, and that every value the engine
              writes is safe on both versions (target/resolver-lab/godebug-table.md).
  options     resolv.conf options: the engine's unknown-resolv-option findings agree
              with what each Go version does (options-table.md).
  conditions  each cgo condition, unprotected vs netdns=go (conditions-table.md).
  findings    the dry-run report names the conditions the lab reproduces (LOCALDOMAIN,
              unknown dnsConfig options, the node's resolv.conf), and resolver-config's
              output survives where it claims to and is warned about where not.
  controls    the lab can fail: dry-run output tampered to hold unsafe values is
              flagged on exactly the Go versions where the value is unsafe.
  inspect     `netdns-guard inspect`'s verdict (Go build info) matches what 16 builds
              of the agent do at run time: Go 1.19 and 1.23, CGO_ENABLED=0/1, netgo,
              netcgo, -trimpath, stripped, static glibc, //go:debug netdns=go
              (buildinfo.py; inspect-table.md).

Usage: tests/resolver-lab/run.sh (installs the toolchains, builds netdns-guard, then
runs this). Directly: lab.py --bin target/debug/netdns-guard [--fixtures DIR]
[--only inspect].
"""

from __future__ import annotations

import argparse
import concurrent.futures
import copy
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent

TOOLCHAINS = [
    # (label, version tuple, go command)
    ("go1.19", (1, 19), os.environ.get("NETDNS_LAB_GO119", "/usr/lib/go-1.19/bin/go")),
    ("go1.23", (1, 23), os.environ.get("NETDNS_LAB_GO123", "/usr/lib/go-1.23/bin/go")),
]
VERSIONS = [label for label, _, _ in TOOLCHAINS]
VERSION_TUPLE = {label: v for label, v, _ in TOOLCHAINS}

LAB_HOST = "lab.invalid"
LOCAL_HOST = "lab.local"
HOSTS = (
    "# resolver lab: bind-mounted over /etc/hosts inside a private mount namespace\n"
    "127.0.0.1 localhost\n"
    "::1 localhost ip6-localhost ip6-loopback\n"
    f"192.0.2.10 {LAB_HOST}\n"
    f"192.0.2.11 {LOCAL_HOST}\n"
)
# The image's own nsswitch.conf, as in Debian-based images.
NSSWITCH_IMAGE = (
    "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n"
    "networks: files\nprotocols: files\nservices: files\n"
)
# dnsPolicy Default (and ClusterFirst with hostNetwork) gives the pod the node's
# resolv.conf. Nodes running systemd-resolved (Ubuntu's default) have this options
# line; the lab uses it as "the node's file".
NODE_RESOLV_OPTIONS = ["edns0", "trust-ad"]
# Every resolv.conf the lab writes points at loopback only: the looked-up names are in
# /etc/hosts, and nothing may leave the machine even if a lookup got as far as DNS.
LAB_NAMESERVER = "127.0.0.1"
PRELOAD_MARKER = "resolver-lab: getaddrinfo() entered"
BASE_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOSTNAME": "lab-pod",
}


# ----------------------------------------------------------------------------------
# checks and output


class Checks:
    def __init__(self) -> None:
        self.passed = 0
        self.failed: list[str] = []

    def check(self, ok: bool, name: str, detail: str = "") -> bool:
        if ok:
            self.passed += 1
        else:
            self.failed.append(name)
            print(f"FAIL {name}")
            if detail:
                print(indent(detail, "     "))
        return ok


def indent(text: str, prefix: str) -> str:
    return "\n".join(prefix + line for line in text.rstrip("\n").splitlines())


def section(title: str) -> None:
    print(f"\n--- {title}")


def shown(value: str | None) -> str:
    """A GODEBUG value as a Markdown code span that keeps its spaces visible."""
    if value is None:
        return "(unset)"
    if value == "":
        return '`""`'
    return "`" + value.replace("`", "\\`") + "`" if value.strip() == value else '`"' + value + '"`'


# ----------------------------------------------------------------------------------
# what ARCHITECTURE.md, "Why Go takes the cgo resolver" says Go does (an independent model; reality is compared with it)


def parse_netdns(value: str) -> tuple[str | None, str | None]:
    """(mode, debug) of one netdns value: split at the first '+', digits are debug."""
    mode = debug = None

    def part(s: str) -> None:
        nonlocal mode, debug
        if not s:
            return
        if "0" <= s[0] <= "9":
            debug = s
        else:
            mode = s

    head, plus, tail = value.partition("+")
    part(head)
    if plus:
        part(tail)
    return mode, debug


def netdns_items(godebug: str) -> list[str]:
    """Values of the items whose key is exactly `netdns` (no trimming)."""
    out = []
    for item in godebug.split(","):
        key, eq, value = item.partition("=")
        if eq and key == "netdns":
            out.append(value)
    return out


def design_mode(godebug: str | None, version: str) -> str | None:
    """'go', 'cgo' or None (not forced): first item wins on <= 1.19, last on >= 1.20."""
    if godebug is None:
        return None
    items = netdns_items(godebug)
    if not items:
        return None
    value = items[0] if VERSION_TUPLE[version] <= (1, 19) else items[-1]
    mode, _ = parse_netdns(value)
    return mode if mode in ("go", "cgo") else None


KNOWN_OPTIONS = {"rotate", "single-request", "single-request-reopen", "use-vc", "usevc", "tcp"}
KNOWN_OPTIONS_SINCE_1_20 = {"edns0", "trust-ad", "no-reload"}
KNOWN_KEYWORDS = {"nameserver", "domain", "search", "options", "lookup"}


def design_option_known(option: str, version: str) -> bool:
    if option.startswith(("ndots:", "timeout:", "attempts:")) or option in KNOWN_OPTIONS:
        return True
    if option in KNOWN_OPTIONS_SINCE_1_20:
        return VERSION_TUPLE[version] >= (1, 20)
    return False


def design_resolv_unknown(resolv: str, version: str) -> bool:
    for line in resolv.splitlines():
        fields = line.split()
        if not fields or fields[0][0] in "#;":
            continue
        if fields[0] not in KNOWN_KEYWORDS:
            return True
        if fields[0] == "options" and not all(design_option_known(o, version) for o in fields[1:]):
            return True
    return False


def is_localhost_name(host: str) -> bool:
    h = host.lower()
    return h in ("localhost", "localhost.localdomain") or h.endswith((".localhost", ".localhost.localdomain"))


def standard_criteria(criteria: list[str]) -> bool:
    """Go's nssSource.standardCriteria: only the default actions keep the Go resolver
    ([SUCCESS=return], [NOTFOUND|UNAVAIL|TRYAGAIN=continue], or =return on the last)."""
    for i, crit in enumerate(criteria):
        status, _, action = crit.lower().partition("=")
        if status.startswith("!"):
            return False
        if status == "success":
            default = "return"
        elif status in ("notfound", "unavail", "tryagain"):
            default = "continue"
        else:
            return False
        if not ((i == len(criteria) - 1 and action == "return") or action == default):
            return False
    return True


def design_nsswitch_cgo(nsswitch: str, host: str) -> bool:
    """ARCHITECTURE.md, "Why Go takes the cgo resolver": hosts: with a source other than files/dns (myhostname only for
    localhost-like names, mdns* only for .local), non-default criteria, or tabs."""
    for line in nsswitch.splitlines():
        line = line.split("#", 1)[0].strip()
        db, colon, sources = line.partition(":")
        if not colon or db.strip() != "hosts":
            continue
        sources = sources.strip()
        if "\t" in sources:
            return True  # Go splits sources at spaces only: "files\tdns" is one source
        tokens = re.findall(r"\[[^\]]*\]|[^\s\[]+", sources)
        for k, token in enumerate(tokens):
            if token.startswith("["):
                continue
            criteria = tokens[k + 1][1:-1].split() if k + 1 < len(tokens) and tokens[k + 1].startswith("[") else []
            if token in ("files", "dns"):
                if not standard_criteria(criteria):
                    return True
            elif token == "myhostname":
                if host and is_localhost_name(host):
                    return True
            elif token.startswith("mdns"):
                if host.lower().endswith(".local"):
                    return True
            else:
                return True
    return False


def design_predict(version: str, env: dict, resolv: str, nsswitch: str, host: str | None, port: str | None) -> str:
    """The resolver ARCHITECTURE.md, "Why Go takes the cgo resolver" says Go picks: 'go' or 'cgo'."""
    mode = design_mode(env.get("GODEBUG"), version)
    if mode:
        return mode
    ver = VERSION_TUPLE[version]
    triggered = (
        "LOCALDOMAIN" in env
        or env.get("RES_OPTIONS", "") != ""
        or env.get("HOSTALIASES", "") != ""
        or design_resolv_unknown(resolv, version)
    )
    if port:
        # Named ports: cgo from Go 1.21 on; before, only when host lookups use cgo.
        return "cgo" if ver >= (1, 21) or triggered or design_nsswitch_cgo(nsswitch, "") else "go"
    name = host or ""
    if design_nsswitch_cgo(nsswitch, name):
        triggered = True
    if ver <= (1, 22) and name.lower().rstrip(".").endswith(".local"):
        triggered = True
    if "\\" in name or "%" in name:
        triggered = True
    return "cgo" if triggered else "go"


def with_debug(godebug: str | None) -> str:
    """`godebug` with netdns debug level 2 and every netdns item's mode unchanged.

    Each exact `netdns` item becomes `netdns=2+MODE` (Go splits at the first '+', so
    MODE is read back exactly, whatever it is) or `netdns=2`; with no such item,
    `netdns=2` is appended, which selects no mode. Misspelt items (` netdns=go`,
    `NETDNS=go`) are left as they are: Go ignores them either way.
    """
    if godebug is None:
        return "netdns=2"
    items = godebug.split(",")
    found = False
    for i, item in enumerate(items):
        key, eq, value = item.partition("=")
        if eq and key == "netdns":
            found = True
            mode, _ = parse_netdns(value)
            items[i] = "netdns=2+" + mode if mode else "netdns=2"
    if not found:
        items.append("netdns=2")
    return ",".join(items)


# ----------------------------------------------------------------------------------
# Kubernetes: env, resolv.conf, nsswitch.conf of one container


def k8s_expand(value: str, defined: dict) -> str:
    """Kubernetes' $(VAR) expansion of env values ($$ is a literal $)."""
    out, i = [], 0
    while i < len(value):
        if value.startswith("$$", i):
            out.append("$")
            i += 2
        elif value.startswith("$(", i) and ")" in value[i + 2:]:
            end = value.index(")", i + 2)
            name = value[i + 2:end]
            out.append(defined[name] if name in defined else value[i:end + 1])
            i = end + 1
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


@dataclass
class ContainerEnv:
    env: dict            # literal values, as the container runtime would set them
    unseen: list         # names from valueFrom (value unknown here)
    env_from: bool       # envFrom present (contents unknown here)


def container_env(container: dict) -> ContainerEnv:
    env: dict = {}
    unseen = []
    for entry in container.get("env") or []:
        name = entry.get("name")
        if name is None:
            continue
        if "value" in entry and entry["value"] is not None:
            value = entry["value"]
            if not isinstance(value, str):  # YAML 1.1 scalars; Kubernetes wants strings
                value = json.dumps(value) if not isinstance(value, bool) else str(value).lower()
            env.pop(name, None)
            env[name] = k8s_expand(value, env)
            if name in unseen:
                unseen.remove(name)
        elif "valueFrom" in entry:
            env.pop(name, None)
            unseen.append(name)
        else:
            env.pop(name, None)
            env[name] = ""
    return ContainerEnv(env=env, unseen=unseen, env_from=bool(container.get("envFrom")))


def render_option(option: dict) -> tuple[str, str]:
    name = str(option.get("name") or "")
    value = option.get("value")
    return name, ("" if value is None else str(value))


def pod_resolv_conf(spec: dict, namespace: str, extra_options: list[str] = ()) -> tuple[str, list[str]]:
    """The resolv.conf kubelet writes for this pod, nameservers replaced by loopback.

    Returns (text, rendered options)."""
    policy = spec.get("dnsPolicy") or "ClusterFirst"
    host_network = bool(spec.get("hostNetwork"))
    dns_config = spec.get("dnsConfig") or {}
    if policy == "ClusterFirst" and host_network:
        policy = "Default"
    if policy in ("ClusterFirst", "ClusterFirstWithHostNet"):
        searches = [f"{namespace}.svc.cluster.local", "svc.cluster.local", "cluster.local"]
        base_options = ["ndots:5"]
        origin = f"dnsPolicy {policy}: cluster DNS"
    elif policy == "Default":
        searches = ["node.lab.internal"]
        base_options = list(NODE_RESOLV_OPTIONS)
        origin = "dnsPolicy Default: the node's resolv.conf (systemd-resolved style)"
    else:  # None
        searches, base_options = [], []
        origin = "dnsPolicy None: dnsConfig only"
    searches = searches + [str(s) for s in dns_config.get("searches") or []]
    # kubelet's mergeDNSOptions: a dnsConfig option replaces one of the same name.
    merged: dict[str, str] = {}
    for opt in base_options:
        name, _, value = opt.partition(":")
        merged[name] = value
    for opt in dns_config.get("options") or []:
        name, value = render_option(opt)
        merged[name] = value
    options = [f"{n}:{v}" if v != "" else n for n, v in merged.items()]
    options += [o for o in extra_options if o not in options]
    lines = [f"# resolver lab: {origin} (nameservers replaced by {LAB_NAMESERVER})",
             f"nameserver {LAB_NAMESERVER}"]
    if searches:
        lines.append("search " + " ".join(searches))
    if options:
        lines.append("options " + " ".join(options))
    return "\n".join(lines) + "\n", options


def container_nsswitch(spec: dict, meta: dict, container: dict) -> tuple[str, str]:
    """(nsswitch.conf text, where it comes from) for a container."""
    for mount in container.get("volumeMounts") or []:
        if mount.get("mountPath") != "/etc/nsswitch.conf":
            continue
        volume = next((v for v in spec.get("volumes") or [] if v.get("name") == mount.get("name")), None)
        items = ((volume or {}).get("downwardAPI") or {}).get("items") or []
        for item in items:
            if item.get("path") != mount.get("subPath"):
                continue
            ref = (item.get("fieldRef") or {}).get("fieldPath", "")
            m = re.fullmatch(r"metadata\.annotations\['([^']+)'\]", ref)
            if m and m.group(1) in (meta.get("annotations") or {}):
                return meta["annotations"][m.group(1)], f"mounted from annotation {m.group(1)}"
        return "", "mounted from a volume the lab cannot read"
    return NSSWITCH_IMAGE, "the image's (hosts: files dns)"


# ----------------------------------------------------------------------------------
# conditions that make Go pick cgo


@dataclass(frozen=True)
class Condition:
    name: str
    what: str
    env: tuple = ()                 # (name, value) added to the container's env
    options: tuple = ()             # resolv.conf options added to the pod's
    nsswitch: str | None = None     # replaces the image's nsswitch.conf
    host: str | None = LAB_HOST
    port: str | None = None


CONDITIONS = [
    Condition("pod", "the pod as written: its own resolv.conf, env and nsswitch.conf"),
    Condition("localdomain", "LOCALDOMAIN present (empty)", env=(("LOCALDOMAIN", ""),)),
    Condition("res-options", "RES_OPTIONS=attempts:2", env=(("RES_OPTIONS", "attempts:2"),)),
    Condition("hostaliases", "HOSTALIASES=/etc/host.aliases", env=(("HOSTALIASES", "/etc/host.aliases"),)),
    Condition("resolv-inet6", "resolv.conf `options ... inet6` (unknown to every Go)", options=("inet6",)),
    Condition("resolv-edns0", "resolv.conf `options ... edns0` (unknown to Go 1.19)", options=("edns0",)),
    Condition("nsswitch-resolve", "nsswitch.conf `hosts: files resolve [!UNAVAIL=return] dns`",
              nsswitch="hosts: files resolve [!UNAVAIL=return] dns\n"),
    Condition("nsswitch-tab", "nsswitch.conf `hosts:<TAB>files<TAB>dns`", nsswitch="hosts:\tfiles\tdns\n"),
    Condition("nsswitch-myhostname", "nsswitch.conf `hosts: files myhostname dns`, looking up `localhost`",
              nsswitch="hosts: files myhostname dns\n", host="localhost"),
    Condition("nsswitch-mdns", f"nsswitch.conf `hosts: files mdns4_minimal [NOTFOUND=return] dns`, looking up `{LOCAL_HOST}`",
              nsswitch="hosts: files mdns4_minimal [NOTFOUND=return] dns\n", host=LOCAL_HOST),
    Condition("dot-local", f"looking up `{LOCAL_HOST}` (Go <= 1.22)", host=LOCAL_HOST),
    Condition("named-port", 'net.LookupPort("tcp", "http") (Go >= 1.21)', host=None, port="http"),
]
CONDITION = {c.name: c for c in CONDITIONS}


# ----------------------------------------------------------------------------------
# running the program


@dataclass(frozen=True)
class Setup:
    resolv: str
    nsswitch: str


@dataclass
class Result:
    rc: int
    stdout: str
    stderr: str
    libc_entered: bool
    field_crash: bool
    orders: list
    resolver: str        # go | cgo | ?
    resolved: bool
    order: str | None    # Go's hostLookupOrder for the looked-up host (debug runs)


@dataclass
class Run:
    version: str
    env: dict
    setup: Setup
    host: str | None
    port: str | None
    debug: bool = True
    result: Result | None = None
    exe: Path | None = None  # a program other than the lab's build for this version

    def argv(self, bins: dict) -> list:
        args = [str(self.exe or bins[self.version])]
        if self.host:
            args += ["-host", self.host]
        if self.port:
            args += ["-port", self.port]
        return args


def classify(run: Run, rc: int, stdout: str, stderr: str) -> Result:
    libc = PRELOAD_MARKER in stderr
    frame = "net._C2func_getaddrinfo(" in stderr or "net._C_getaddrinfo(" in stderr
    fault = ("fatal error: unexpected signal during runtime execution" in stderr
             or "SIGSEGV: segmentation violation" in stderr)
    field_crash = rc != 0 and fault and "SIGSEGV" in stderr and frame
    orders = re.findall(r"go package net: hostLookupOrder\((.*?)\) = (\S+)", stderr)
    resolved = True
    if run.host:
        resolved &= re.search(rf"^host {re.escape(run.host)} = (192\.0\.2\.\d+|127\.0\.0\.1)( |$)", stdout, re.M) is not None
    if run.port:
        resolved &= re.search(rf"^port {re.escape(run.port)} = 80$", stdout, re.M) is not None
    host_orders = [o for h, o in orders if run.host and h == run.host]
    lookup_failed = rc == 3 and "lookup " in stderr
    if libc or "cgo" in host_orders:
        resolver = "cgo"
    elif (rc == 0 and resolved or lookup_failed) and not fault and (not run.debug or not run.host or host_orders):
        resolver = "go"
    else:
        resolver = "?"
    return Result(rc, stdout, stderr, libc, field_crash, orders, resolver, resolved,
                  host_orders[0] if host_orders else None)


def expected_go_order(version: str, nsswitch: str) -> str:
    """The lookup order the pure-Go resolver uses here when it is forced (netdns=go).

    Go 1.19 falls back to files,dns on a hosts: line it cannot read. Go 1.23 (conf.go
    as rewritten in Go 1.21) reads a tab-separated `hosts:\tfiles\tdns` as one unknown
    source, which it treats as DNS: the lookup skips /etc/hosts. The lab asserts that
    too, so a change in either is noticed."""
    hosts = [l for l in nsswitch.splitlines() if l.split("#")[0].strip().startswith("hosts")]
    if VERSION_TUPLE[version] >= (1, 21) and any("\t" in l.split(":", 1)[-1].strip() for l in hosts):
        return "dns"
    return "files,dns"


def took_go(run: "Run") -> bool:
    """The run took the pure-Go resolver: no call into libc, no crash, Go's own lookup
    order as expected, and the name resolved (from /etc/hosts) when that order reads it."""
    r = run.result
    if r is None or r.libc_entered or r.field_crash or r.resolver != "go":
        return False
    if not run.host:
        return r.rc == 0 and r.resolved
    want = expected_go_order(run.version, run.setup.nsswitch)
    if run.debug and r.order != want:
        return False
    if "files" in want:
        return r.rc == 0 and r.resolved
    return r.rc == 3 and f"lookup {run.host} on {LAB_NAMESERVER}:53" in r.stderr


class Lab:
    def __init__(self, out: Path, bins: dict, preload: Path) -> None:
        self.out = out
        self.bins = bins
        self.preload = preload
        self.files = out / "etc"
        self.mounted = False
        self.runs_done = 0
        self.log = open(out / "runs.jsonl", "w")

    def mount(self) -> None:
        """Bind the lab's files over /etc's, inside this private mount namespace."""
        assert in_private_mount_namespace(), "refusing to bind-mount outside a private mount namespace"
        self.files.mkdir(parents=True, exist_ok=True)
        for name, text in (("hosts", HOSTS), ("resolv.conf", ""), ("nsswitch.conf", "")):
            target = Path("/etc") / name
            if not target.exists():
                raise SystemExit(f"resolver-lab: {target} does not exist on this machine; cannot bind-mount over it")
            (self.files / name).write_text(text)
            subprocess.run(["mount", "--bind", str(self.files / name), str(target)], check=True)
        self.mounted = True

    def _use(self, setup: Setup) -> None:
        for name, text in (("resolv.conf", setup.resolv), ("nsswitch.conf", setup.nsswitch)):
            # Rewrite in place: the bind mount follows the inode.
            with open(self.files / name, "r+") as f:
                f.truncate(0)
                f.write(text)
            if Path("/etc", name).read_text() != text:
                raise SystemExit(f"resolver-lab: /etc/{name} does not show the lab's file")

    def execute(self, runs: list[Run]) -> None:
        groups: dict[Setup, list[Run]] = {}
        for run in runs:
            groups.setdefault(run.setup, []).append(run)
        workers = max(2, (os.cpu_count() or 2) * 2)
        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            for setup, group in groups.items():
                self._use(setup)
                list(pool.map(self._run_one, group))

    def _run_one(self, run: Run) -> None:
        env = dict(BASE_ENV)
        env.update(run.env)
        if run.debug:
            env["GODEBUG"] = with_debug(run.env.get("GODEBUG"))
        env["LD_PRELOAD"] = str(self.preload) + (":" + env["LD_PRELOAD"] if env.get("LD_PRELOAD") else "")
        try:
            p = subprocess.run(run.argv(self.bins), env=env, capture_output=True, text=True, timeout=60)
            rc, stdout, stderr = p.returncode, p.stdout, p.stderr
        except subprocess.TimeoutExpired as e:
            rc, stdout, stderr = -999, str(e.stdout or ""), f"timeout\n{e.stderr or ''}"
        run.result = classify(run, rc, stdout, stderr)
        self.runs_done += 1
        self.log.write(json.dumps({
            "version": run.version, "env": env, "host": run.host, "port": run.port,
            "resolv.conf": run.setup.resolv, "nsswitch.conf": run.setup.nsswitch,
            "rc": rc, "resolver": run.result.resolver, "field_crash": run.result.field_crash,
            "stdout": stdout, "stderr": stderr[:4000],
        }) + "\n")


HOST_NS_VAR = "RESOLVER_LAB_HOST_MNT_NS"


def mount_namespace() -> str:
    return os.readlink("/proc/self/ns/mnt")


def in_private_mount_namespace() -> bool:
    """True once re-executed under `unshare --mount --propagation private`: the mount
    namespace differs from the one the lab started in, and no mount propagates back."""
    started_in = os.environ.get(HOST_NS_VAR)
    if not started_in or started_in == mount_namespace():
        return False
    with open("/proc/self/mountinfo") as f:
        return not any(" shared:" in line for line in f)


# ----------------------------------------------------------------------------------
# building


def go_env(out: Path, cgo: bool) -> dict:
    """The environment every lab build runs in: the lab's cache, nothing downloaded."""
    env = dict(os.environ)
    env.update({
        "CGO_ENABLED": "1" if cgo else "0", "GOCACHE": str(out / "gocache"), "GOPATH": str(out / "gopath"),
        "GOTOOLCHAIN": "local", "GOPROXY": "off", "GOFLAGS": "", "GOENV": "off",
        "GO111MODULE": "on", "GOTELEMETRY": "off",
    })
    return env


def build(out: Path) -> tuple[dict, Path]:
    bindir = out / "bin"
    bindir.mkdir(parents=True, exist_ok=True)
    preload = bindir / "getaddrinfo_segv.so"
    src = HERE / "crash" / "getaddrinfo_segv.c"
    if not preload.exists() or preload.stat().st_mtime < src.stat().st_mtime:
        subprocess.run(["gcc", "-shared", "-fPIC", "-O1", "-Wall", "-Wextra", "-Werror",
                        "-o", str(preload), str(src)], check=True)
    bins = {}
    sources = sorted(str(p) for p in (HERE / "prog").glob("*.go"))
    for label, _, go in TOOLCHAINS:
        exe = bindir / f"resolve-{label}"
        env = go_env(out, cgo=True)
        subprocess.run([go, "build", "-o", str(exe), *sources], check=True, env=env, cwd=HERE / "prog")
        info = subprocess.run([go, "version", "-m", str(exe)], check=True, env=env,
                              capture_output=True, text=True).stdout
        if "CGO_ENABLED=1" not in info or "netgo" in info or "osusergo" in info:
            raise SystemExit(f"resolver-lab: {exe} is not a cgo build without netgo:\n{info}")
        version = re.search(r": (go\S+)", info).group(1)
        print(f"built {exe.relative_to(REPO)} with {version}, CGO_ENABLED=1, no netgo tag")
        bins[label] = exe
    return bins, preload


# ----------------------------------------------------------------------------------
# manifests: dry-run output, originals, subjects


def load_yaml_documents(path: Path) -> list:
    try:
        import yaml  # PyYAML: on the machine image; run.sh installs it when missing
    except ImportError:
        sys.path.insert(0, str(REPO / "target" / "resolver-lab" / "pydeps"))
        import yaml
    text = path.read_text()
    if path.suffix == ".json":
        return [json.loads(text)]
    return [d for d in yaml.safe_load_all(text) if d is not None]


def object_candidates(docs: list):
    """(location, object) pairs: each document, and the items of List documents."""
    for doc in docs:
        if not isinstance(doc, dict):
            continue
        yield "", doc
        if str(doc.get("kind", "")).endswith("List") and isinstance(doc.get("items"), list):
            for i, item in enumerate(doc["items"]):
                if isinstance(item, dict):
                    yield f"/items/{i}", item


def identity(obj: dict) -> tuple:
    meta = obj.get("metadata") or {}
    return (obj.get("apiVersion"), obj.get("kind"), meta.get("namespace"), meta.get("name"))


def find_object(docs: list, location: str, ident: tuple) -> dict:
    found = [o for loc, o in object_candidates(docs) if loc == location and identity(o) == ident]
    if len(found) != 1:
        raise SystemExit(f"resolver-lab: {len(found)} objects match {ident} at {location!r}")
    return found[0]


def pod_of(obj: dict) -> tuple[dict, dict]:
    """(pod spec, pod metadata) of a workload object."""
    kind = obj.get("kind")
    spec = obj.get("spec") or {}
    if kind == "Pod":
        return spec, obj.get("metadata") or {}
    if kind == "PodTemplate":
        template = obj.get("template") or {}
    elif kind == "CronJob":
        template = ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}
    else:
        template = spec.get("template") or {}
    return template.get("spec") or {}, template.get("metadata") or {}


def find_container(spec: dict, kind: str, name: str) -> dict:
    field_name = "initContainers" if kind == "initContainer" else "containers"
    for c in spec.get(field_name) or []:
        if c.get("name") == name:
            return c
    raise SystemExit(f"resolver-lab: no {field_name} entry named {name}")


class DryRun:
    def __init__(self, binary: Path) -> None:
        self.binary = binary

    def __call__(self, args: list, stdin: str | None = None) -> tuple[str, str]:
        p = subprocess.run([str(self.binary), "dry-run", *args], input=stdin,
                           capture_output=True, text=True)
        if p.returncode != 0:
            raise SystemExit(f"resolver-lab: netdns-guard dry-run {' '.join(args)} exited {p.returncode}:\n{p.stderr}")
        return p.stdout, p.stderr

    def json(self, args: list, stdin: str | None = None):
        return json.loads(self(args, stdin)[0])


@dataclass
class Subject:
    """One target container: its env as netdns-guard wrote it and as it was."""
    label: str
    namespace: str
    spec: dict            # mutated pod spec
    meta: dict            # mutated pod metadata
    container: dict       # mutated container
    orig_spec: dict
    orig_meta: dict
    orig_container: dict
    report: dict          # the container's entry in the report
    pod_report: dict
    agent_risk: str | None


def subjects_from(dry: DryRun, path: Path, config: Path | None) -> list[Subject]:
    """Target containers of one manifest file, from `dry-run -o json` and `-o report-json`."""
    extra = ["--config", str(config)] if config else []
    out = dry.json(["-f", str(path), "-o", "json", *extra])
    reports = dry.json(["-f", str(path), "-o", "report-json", *extra])
    originals = load_yaml_documents(path)
    # `-o json` prints one object for one document, else a List of all of them.
    mutated_docs = out["items"] if len(originals) > 1 else [out]
    subjects = []
    for entry in reports:
        ident = tuple(entry["object"].get(k) for k in ("apiVersion", "kind", "namespace", "name"))
        mutated = find_object(mutated_docs, entry["location"], ident)
        original = find_object(originals, entry["location"], ident)
        spec, meta = pod_of(mutated)
        ospec, ometa = pod_of(original)
        for c in entry["report"]["containers"]:
            if not c["target"]:
                continue
            subjects.append(Subject(
                label=f"{path.name} {ident[1]} {ident[2] or 'default'}/{ident[3]} {c['kind']} {c['name']}",
                namespace=ident[2] or "default",
                spec=spec, meta=meta, container=find_container(spec, c["kind"], c["name"]),
                orig_spec=ospec, orig_meta=ometa, orig_container=find_container(ospec, c["kind"], c["name"]),
                report=c, pod_report=entry["report"],
                agent_risk=(c.get("agent") or {}).get("risk"),
            ))
    return subjects


# ----------------------------------------------------------------------------------
# the checks


def runs_for(version: str, env: dict, spec: dict, meta: dict, container: dict, namespace: str,
             cond: Condition) -> Run:
    resolv, _ = pod_resolv_conf(spec, namespace, list(cond.options))
    nsswitch, source = container_nsswitch(spec, meta, container)
    if cond.nsswitch is not None and source.startswith("the image"):
        nsswitch = cond.nsswitch  # a mounted nsswitch.conf hides the image's file
    full_env = dict(env)
    full_env.update(dict(cond.env))
    return Run(version, full_env, Setup(resolv, nsswitch), cond.host, cond.port)


def describe(run: Run) -> str:
    r = run.result
    tail = "\n".join(r.stderr.strip().splitlines()[-8:]) if r else ""
    return (f"{run.version} GODEBUG={run.env.get('GODEBUG')!r} host={run.host} port={run.port} "
            f"rc={r.rc} resolver={r.resolver} field_crash={r.field_crash}\n"
            f"resolv.conf: {run.setup.resolv.strip().splitlines()[-1]!r}\n"
            f"nsswitch.conf hosts: {[l for l in run.setup.nsswitch.splitlines() if l.startswith('hosts')]}\n"
            f"extra env: { {k: v for k, v in run.env.items() if k in ('LOCALDOMAIN', 'RES_OPTIONS', 'HOSTALIASES')} }\n"
            f"stdout: {r.stdout.strip()!r}\nstderr (last lines):\n{tail}")


EVIDENCE: dict = {}


def keep_evidence(run: Run, what: str, label: str = "") -> None:
    """Keeps the first field crash per (Go version, kind of run) for the evidence files."""
    key = (run.version, what)
    if key in EVIDENCE or not run.result.field_crash:
        return
    EVIDENCE[key] = (run, label)


def protected_check(lab: Lab, checks: Checks, subjects: list[Subject], tag: str,
                    expect_fail: dict | None = None) -> dict:
    """Every protected container takes the Go resolver everywhere.

    With expect_fail (label -> set of versions), the subjects hold deliberately unsafe
    values: the check then passes only when the lab flags exactly those versions.
    Returns label -> set of versions where a run was not safe."""
    plan = []
    skipped = 0
    for s in subjects:
        cenv = container_env(s.container)
        godebug_entry = [e for e in s.container.get("env") or [] if e.get("name") == "GODEBUG"]
        protected = s.report["changes"] or s.report["verdict"] == "protected"
        if "GODEBUG" in cenv.unseen or not godebug_entry or not protected:
            # Not protected by env: the report must say why (a warning naming it).
            warned = any(f"container {s.report['name']}:" in w for w in s.pod_report["warnings"])
            strategy_env = s.pod_report["strategy"] in ("env", "both")
            checks.check(warned or not strategy_env, f"{tag}: {s.label}: left without netdns=go and the report says why",
                         json.dumps(s.report, indent=1))
            skipped += 1
            continue
        for version in VERSIONS:
            for cond in CONDITIONS:
                plan.append((s, version, cond, runs_for(version, cenv.env, s.spec, s.meta, s.container, s.namespace, cond)))
    lab.execute([p[3] for p in plan])
    unsafe: dict = {}
    for s, version, cond, run in plan:
        if not took_go(run):
            unsafe.setdefault(s.label, {}).setdefault(version, []).append((cond.name, run))
    by_subject: dict = {}
    for s, version, cond, run in plan:
        by_subject.setdefault(s.label, s)
    for label, s in by_subject.items():
        godebug = container_env(s.container).env.get("GODEBUG")
        bad = unsafe.get(label, {})
        if expect_fail is None:
            ok = not bad
            detail = ""
            if bad:
                v, lst = next(iter(bad.items()))
                detail = f"unsafe under {[c for c, _ in lst]} on {v}\n" + describe(lst[0][1])
            checks.check(ok, f"{tag}: {label}: GODEBUG={godebug!r} takes the Go resolver under all "
                             f"{len(CONDITIONS)} conditions on {', '.join(VERSIONS)}", detail)
            if ok:
                print(f"ok   {tag}: {label}: GODEBUG={godebug!r}: Go resolver, "
                      f"{len(CONDITIONS) * len(VERSIONS)}/{len(CONDITIONS) * len(VERSIONS)} runs")
        else:
            want = expect_fail[label]
            got = set(bad)
            ok = got == want
            checks.check(ok, f"{tag}: {label}: unsafe GODEBUG={godebug!r} is flagged on exactly {sorted(want)}",
                         f"flagged on {sorted(got)}")
            if ok:
                summary = "; ".join(f"{v}: {len(bad[v])}/{len(CONDITIONS)} conditions took cgo"
                                    f" ({sum(r.result.field_crash for _, r in bad[v])} field crashes)"
                                    for v in sorted(bad))
                print(f"ok   {tag}: GODEBUG={godebug!r} flagged: {summary}")
    return {label: set(v) for label, v in unsafe.items()}


def originals_check(lab: Lab, checks: Checks, subjects: list[Subject], tag: str) -> None:
    """The containers as written: the model's prediction per condition, and a field crash."""
    plan = []
    for s in subjects:
        if not s.report["changes"]:
            continue  # unchanged: either already protected or not touched (see protected_check)
        cenv = container_env(s.orig_container)
        for version in VERSIONS:
            for cond in CONDITIONS:
                run = runs_for(version, cenv.env, s.orig_spec, s.orig_meta, s.orig_container, s.namespace, cond)
                plan.append((s, version, cond, run))
    lab.execute([p[3] for p in plan])
    per_subject: dict = {}
    for s, version, cond, run in plan:
        per_subject.setdefault(s.label, []).append((version, cond, run))
    for label, rows in per_subject.items():
        mismatches = []
        crashes = {v: [] for v in VERSIONS}
        for version, cond, run in rows:
            predicted = design_predict(version, run.env, run.setup.resolv, run.setup.nsswitch, run.host, run.port)
            actual = run.result.resolver
            if predicted == "cgo":
                good = actual == "cgo" and run.result.field_crash
            else:
                good = took_go(run)
            if not good:
                mismatches.append((version, cond.name, predicted, run))
            if run.result.field_crash:
                crashes[version].append(cond.name)
                keep_evidence(run, "original", f"{label}, as written, condition {cond.name}")
        detail = "\n".join(f"{v} {c}: the model predicts {p}\n" + indent(describe(r), "  ")
                           for v, c, p, r in mismatches[:3])
        checks.check(not mismatches, f"{tag}: {label}: as written, each condition behaves as the model predicts", detail)
        ok = all(crashes[v] for v in VERSIONS)
        checks.check(ok, f"{tag}: {label}: as written, it crashes with the field signature on every Go version",
                     json.dumps(crashes))
        if ok and not mismatches:
            print(f"ok   {tag}: {label}: as written: field crash on "
                  + "; ".join(f"{v} under {len(crashes[v])}/{len(CONDITIONS)} ({','.join(crashes[v])})" for v in VERSIONS))


# ----------------------------------------------------------------------------------
# GODEBUG table

GODEBUG_VALUES = [
    None, "", "netdns=go", "netdns=go+1", "netdns=1+go", "netdns=cgo+go", "http2client=0,netdns=go",
    "netdns=go,netdns=go", "netdns=cgo", "netdns=cgo+1", "netdns=go+cgo", "netdns=cgo,netdns=go",
    "netdns=go,netdns=cgo", "netdns=cgo,x=1,netdns=go", " netdns=go", "netdns=go ", "a=1, netdns=go",
    "NETDNS=go", "netdns=Go", "netdns=1", "netdns=", "netdns", "netdns=go,", ",netdns=go",
]


def lab_pod(name: str, env: list | None, image: str = "loggieio/loggie:v1.5.0", **spec) -> dict:
    container = {"name": "agent", "image": image}
    if env is not None:
        container["env"] = env
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "lab"},
            "spec": {"containers": [container], **spec}}


def godebug_env(value: str | None) -> list | None:
    return None if value is None else [{"name": "GODEBUG", "value": value}]


def engine_on_values(dry: DryRun, values: list, config: Path | None) -> dict:
    """value -> (finding codes, verdict, written GODEBUG or None if unchanged, warnings)."""
    pods = [lab_pod(f"godebug-{i}", godebug_env(v)) for i, v in enumerate(values)]
    doc = json.dumps({"apiVersion": "v1", "kind": "List", "items": pods})
    extra = ["--config", str(config)] if config else []
    out = dry.json(["-f", "-", "-o", "json", *extra], doc)
    reports = dry.json(["-f", "-", "-o", "report-json", *extra], doc)
    result = {}
    for i, v in enumerate(values):
        pod = out["items"][i]
        rep = next(r for r in reports if r["object"]["name"] == f"godebug-{i}")["report"]
        c = rep["containers"][0]
        written = container_env(pod["spec"]["containers"][0]).env.get("GODEBUG")
        changed = bool(c["changes"])
        result[v] = ([f["code"] for f in c["findings"]], c["verdict"], written if changed else None, rep["warnings"])
    return result


def behaviour(lab: Lab, values: list, debug: bool) -> dict:
    """(value, version, trigger) -> Result, trigger in {none, LOCALDOMAIN}."""
    clean = Setup(pod_resolv_conf({}, "lab")[0], NSSWITCH_IMAGE)
    plan = []
    for v in values:
        for version in VERSIONS:
            for trigger in ("none", "LOCALDOMAIN"):
                env = {} if v is None else {"GODEBUG": v}
                if trigger == "LOCALDOMAIN":
                    env["LOCALDOMAIN"] = ""
                plan.append(((v, version, trigger), Run(version, env, clean, LAB_HOST, None, debug=debug)))
    lab.execute([r for _, r in plan])
    return {k: r for k, r in plan}


def verdict_text(results: dict, v, version) -> str:
    trig = results[(v, version, "LOCALDOMAIN")].result
    none = results[(v, version, "none")].result
    if took_go(results[(v, version, "LOCALDOMAIN")]):
        return "Go"
    if trig.resolver == "cgo" and trig.field_crash:
        return "**cgo, crash**" + (" (even untriggered)" if none.field_crash else "")
    return f"?? ({trig.resolver}, rc {trig.rc})"


def real_mode(results: dict, v, version) -> str | None:
    """What reality says the GODEBUG value forces: go, cgo or None (Go decides)."""
    trig = results[(v, version, "LOCALDOMAIN")].result
    none = results[(v, version, "none")].result
    if took_go(results[(v, version, "LOCALDOMAIN")]):
        return "go"
    if none.resolver == "cgo":
        return "cgo"
    return None


def godebug_check(lab: Lab, checks: Checks, dry: DryRun, out: Path, override_policy: Path) -> str:
    section("GODEBUG values on real Go (target/resolver-lab/godebug-table.md)")
    engine = engine_on_values(dry, GODEBUG_VALUES, None)
    engine_override = engine_on_values(dry, GODEBUG_VALUES, override_policy)
    written = sorted({w for e in (engine, engine_override) for (_, _, w, _) in e.values() if w is not None})
    values = list(dict.fromkeys(GODEBUG_VALUES + written))
    debug = behaviour(lab, values, True)
    raw = behaviour(lab, values, False)

    # The debug level the lab adds must not change what Go does.
    for key, run in debug.items():
        d, r = run.result, raw[key].result
        same = (d.resolver, d.field_crash, d.rc) == (r.resolver, r.field_crash, r.rc) or \
               (d.resolver == "go" and r.resolver == "go" and d.rc == r.rc == 0)
        checks.check(same, f"godebug: adding the debug level to {key[0]!r} changes nothing on {key[1]} ({key[2]})",
                     f"with debug: {d.resolver}/{d.rc}; without: {r.resolver}/{r.rc}")

    # the documented parsing claims, value by value.
    for v in values:
        for version in VERSIONS:
            predicted = design_mode(v, version)
            actual = real_mode(debug, v, version)
            checks.check(predicted == actual, f"godebug: the model predicts {v!r} forces {predicted or 'nothing'} on {version}",
                         f"real: {actual or 'nothing'}\n" + describe(debug[(v, version, 'LOCALDOMAIN')]))

    named = [
        ("first netdns item wins on Go 1.19", "netdns=cgo,netdns=go", "go1.19", "cgo"),
        ("last netdns item wins on Go 1.23", "netdns=cgo,netdns=go", "go1.23", "go"),
        ("last netdns item wins on Go 1.23 (reversed)", "netdns=go,netdns=cgo", "go1.23", "cgo"),
        ("no whitespace trimming (leading space)", " netdns=go", "go1.19", None),
        ("no whitespace trimming (leading space)", " netdns=go", "go1.23", None),
        ("no whitespace trimming (trailing space)", "netdns=go ", "go1.23", None),
        ("go+cgo means cgo", "netdns=go+cgo", "go1.19", "cgo"),
        ("go+cgo means cgo", "netdns=go+cgo", "go1.23", "cgo"),
        ("modes are case-sensitive", "netdns=Go", "go1.23", None),
        ("keys are case-sensitive", "NETDNS=go", "go1.23", None),
        ("a bare debug level selects no mode", "netdns=1", "go1.23", None),
    ]
    for claim, v, version, want in named:
        checks.check(real_mode(debug, v, version) == want, f"godebug: documented claim holds: {claim}: {v!r} on {version}")

    # The engine against reality.
    rows = []
    for v in GODEBUG_VALUES:
        codes, verdict, w, warnings = engine[v]
        ocodes, _, ow, _ = engine_override[v]
        real_safe = all(real_mode(debug, v, ver) == "go" for ver in VERSIONS)
        if "godebug-forces-go" in codes:
            checks.check(real_safe, f"godebug: the engine's is_safe({v!r}) is true, and Go agrees on both versions")
        if w is None and not ("godebug-forces-go" in codes):
            kept = any("netdns=cgo" in x for x in warnings)
            checks.check(kept, f"godebug: the engine leaves {v!r} only with a warning that it keeps cgo", str(warnings))
        for policy, value in (("default", w), ("overrideCgo", ow)):
            if value is not None:
                safe = all(real_mode(debug, value, ver) == "go" for ver in VERSIONS)
                checks.check(safe, f"godebug: the value the engine writes for {v!r} ({policy}) is {value!r}: Go resolver on both versions")
        if ow is None:
            checks.check("godebug-forces-go" in codes, f"godebug: with overrideCgo the engine leaves {v!r} only when it is already safe")

        def written_cell(value, base_codes):
            if value is None:
                return "unchanged" if "godebug-forces-go" in base_codes else "unchanged, warning"
            res = "/".join("Go" if real_mode(debug, value, ver) == "go" else "**cgo**" for ver in VERSIONS)
            return f"{shown(value)} ({res})"

        rows.append("| " + " | ".join([
            shown(v),
            verdict_text(debug, v, "go1.19"),
            verdict_text(debug, v, "go1.23"),
            ", ".join(codes) or "—",
            written_cell(w, codes),
            written_cell(ow, ocodes),
        ]) + " |")
    table = "\n".join([
        "| GODEBUG | Go 1.19 | Go 1.23 | engine finding (as found) | engine writes (default) | engine writes (overrideCgo: true) |",
        "|---|---|---|---|---|---|",
        *rows,
    ])
    note = (
        "Each cell is what the real Go runtime did when looking up a name with `LOCALDOMAIN` set "
        "(a condition that makes Go prefer cgo): **Go** = pure-Go resolver (hostLookupOrder files,dns), "
        "**cgo, crash** = it called getaddrinfo and died with the field signature; "
        "\"even untriggered\" = cgo without any condition too (forced). "
        "Written values show in brackets what Go 1.19/1.23 then did."
    )
    text = f"# GODEBUG on real Go runtimes\n\nGenerated by tests/resolver-lab/lab.py.\n\n{note}\n\n{table}\n"
    (out / "godebug-table.md").write_text(text)
    print(table)
    return table


# ----------------------------------------------------------------------------------
# resolv.conf options: engine vs Go

OPTIONS = [
    ("ndots", "5"), ("timeout", "2"), ("attempts", "3"), ("rotate", None), ("single-request", None),
    ("single-request-reopen", None), ("use-vc", None), ("usevc", None), ("tcp", None),
    ("edns0", None), ("trust-ad", None), ("no-reload", None),
    ("rotate", "1"), ("ndots", None), ("inet6", None), ("EDNS0", None), ("no-aaaa", None), ("debug", None),
]


def unknown_below(finding: dict) -> str | None:
    """The version below which an unknown-resolv-option finding applies.

    The engine's report-json spells this field `unknown_below` (serde renames the
    Finding variants to kebab-case but not their fields); `unknownBelow` is accepted
    too in case that is made consistent with the report's other camelCase fields."""
    return finding.get("unknownBelow", finding.get("unknown_below"))


def go_cell(run: Run) -> str:
    if run.result.order == "dns":
        return "Go (order dns: /etc/hosts skipped)"
    return "Go"


def options_check(lab: Lab, checks: Checks, dry: DryRun, out: Path) -> str:
    section("resolv.conf options: the engine's findings vs real Go (target/resolver-lab/options-table.md)")
    pods = []
    for i, (name, value) in enumerate(OPTIONS):
        opt = {"name": name} if value is None else {"name": name, "value": value}
        pods.append(lab_pod(f"option-{i}", None, dnsPolicy="None",
                            dnsConfig={"nameservers": ["10.96.0.10"], "options": [opt]}))
    doc = json.dumps({"apiVersion": "v1", "kind": "List", "items": pods})
    reports = dry.json(["-f", "-", "-o", "report-json"], doc)
    plan = []
    for i, (name, value) in enumerate(OPTIONS):
        spec = pods[i]["spec"]
        resolv, rendered = pod_resolv_conf(spec, "lab")
        for version in VERSIONS:
            plan.append((i, version, Run(version, {}, Setup(resolv, NSSWITCH_IMAGE), LAB_HOST, None)))
    lab.execute([r for _, _, r in plan])
    rows = []
    for i, (name, value) in enumerate(OPTIONS):
        rendered = name if value is None else f"{name}:{value}"
        rep = next(r for r in reports if r["object"]["name"] == f"option-{i}")["report"]
        finding = next((f for f in rep["dns"] if f["code"] == "unknown-resolv-option"), None)
        cells = []
        for version in VERSIONS:
            run = next(r for j, v, r in plan if j == i and v == version)
            below = unknown_below(finding) if finding else None
            engine_says_cgo = finding is not None and (
                below is None or VERSION_TUPLE[version] < tuple(int(x) for x in below.split(".")))
            real_cgo = run.result.resolver == "cgo" and run.result.field_crash
            real_go = took_go(run)
            checks.check(real_cgo or real_go, f"options: {rendered!r} on {version}: a clear outcome", describe(run))
            checks.check(engine_says_cgo == real_cgo,
                         f"options: engine {'flags' if engine_says_cgo else 'accepts'} {rendered!r} for {version}, and Go "
                         f"{'takes cgo' if engine_says_cgo else 'keeps its resolver'}", describe(run))
            design = design_option_known(rendered, version)
            checks.check(design == real_go, f"options: the model says {rendered!r} is {'known' if design else 'unknown'} to {version}")
            cells.append("Go" if real_go else "**cgo, crash**")
        engine_cell = "—" if finding is None else (
            "unknown-resolv-option" + (f" (below {unknown_below(finding)})" if unknown_below(finding) else ""))
        rows.append(f"| `{rendered}` | {cells[0]} | {cells[1]} | {engine_cell} |")
    table = "\n".join(["| dnsConfig option (rendered) | Go 1.19 | Go 1.23 | engine finding |",
                       "|---|---|---|---|", *rows])
    (out / "options-table.md").write_text(
        "# resolv.conf options on real Go runtimes\n\nGenerated by tests/resolver-lab/lab.py. "
        "A pod with `dnsPolicy: None` and one dnsConfig option; the unprotected program looks up a name.\n\n"
        + table + "\n")
    print(table)
    return table


# ----------------------------------------------------------------------------------
# conditions table: unprotected vs netdns=go


def conditions_check(lab: Lab, checks: Checks, out: Path) -> str:
    section("cgo conditions: unprotected vs GODEBUG=netdns=go (target/resolver-lab/conditions-table.md)")
    spec = {"containers": [{"name": "agent"}]}
    plan = []
    for cond in CONDITIONS:
        for godebug in (None, "netdns=go"):
            env = {} if godebug is None else {"GODEBUG": godebug}
            for version in VERSIONS:
                plan.append((cond, godebug, version, runs_for(version, env, spec, {}, spec["containers"][0], "lab", cond)))
    lab.execute([p[3] for p in plan])
    rows = []
    for cond in CONDITIONS:
        cells = []
        for godebug in (None, "netdns=go"):
            for version in VERSIONS:
                run = next(p[3] for p in plan if p[0] == cond and p[1] == godebug and p[2] == version)
                predicted = design_predict(version, run.env, run.setup.resolv, run.setup.nsswitch, run.host, run.port)
                r = run.result
                good = (r.resolver == "cgo" and r.field_crash) if predicted == "cgo" else took_go(run)
                checks.check(good, f"conditions: {cond.name} on {version} with GODEBUG={godebug!r}: {predicted} as the model predicts",
                             describe(run))
                if r.field_crash:
                    keep_evidence(run, cond.name)
                cells.append(go_cell(run) if took_go(run) else ("**cgo, crash**" if r.field_crash else f"?? {r.resolver}"))
        rows.append(f"| {cond.what} | " + " | ".join(cells) + " |")
    table = "\n".join([
        "| condition (pod: ClusterFirst, `options ndots:5`) | unprotected, Go 1.19 | unprotected, Go 1.23 | `netdns=go`, Go 1.19 | `netdns=go`, Go 1.23 |",
        "|---|---|---|---|---|", *rows])
    (out / "conditions-table.md").write_text(
        "# cgo conditions on real Go runtimes\n\nGenerated by tests/resolver-lab/lab.py.\n\n" + table + "\n")
    print(table)
    return table


# ----------------------------------------------------------------------------------
# the report names what the lab reproduces


def findings_check(lab: Lab, checks: Checks, dry: DryRun, out: Path, resolver_policy: Path) -> None:
    section("the dry-run report names the conditions the lab reproduces")
    env = [{"name": "TZ", "value": "UTC"}, {"name": "LOCALDOMAIN", "value": "cluster.local"}]
    dns = {"nameservers": ["10.96.0.10"], "searches": ["lab.svc.cluster.local"],
           "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}, {"name": "inet6"}]}
    pods = [lab_pod("findings-none", env, dnsPolicy="None", dnsConfig=dns),
            lab_pod("findings-default", env, dnsPolicy="Default", dnsConfig=dns)]
    doc = json.dumps({"apiVersion": "v1", "kind": "List", "items": pods})
    reports = {r["object"]["name"]: r["report"] for r in dry.json(["-f", "-", "-o", "report-json"], doc)}
    text_report, _ = dry(["-f", "-", "-o", "report"], doc)
    mutated = {o["metadata"]["name"]: o for o in dry.json(["-f", "-", "-o", "json"], doc)["items"]}

    rep = reports["findings-none"]
    ccodes = [f["code"] for f in rep["containers"][0]["findings"]]
    dns_findings = {f.get("option"): f for f in rep["dns"] if f["code"] == "unknown-resolv-option"}
    checks.check("localdomain-set" in ccodes, "findings: LOCALDOMAIN in env -> localdomain-set", str(ccodes))
    checks.check(unknown_below(dns_findings.get("edns0", {})) == "1.20",
                 "findings: dnsConfig edns0 -> unknown-resolv-option (unknown below 1.20)", str(rep["dns"]))
    checks.check("inet6" in dns_findings and unknown_below(dns_findings["inet6"]) is None,
                 "findings: dnsConfig inet6 -> unknown-resolv-option (every version)", str(rep["dns"]))
    checks.check("ndots:2" not in dns_findings, "findings: dnsConfig ndots:2 -> no finding", str(rep["dns"]))
    checks.check(any(f["code"] == "node-resolv-conf" for f in reports["findings-default"]["dns"]),
                 "findings: dnsPolicy Default -> node-resolv-conf", str(reports["findings-default"]["dns"]))
    for phrase in ("LOCALDOMAIN is set", 'resolv.conf option "edns0" is unknown to Go < 1.20',
                   'resolv.conf option "inet6" is unknown to Go', "uses the node's resolv.conf"):
        checks.check(phrase in text_report, f"findings: the text report says {phrase!r}")

    # Each finding, alone, reproduced on the ORIGINAL container, with the verdict the
    # finding states; and the finding-free option alone is harmless.
    original = pods[0]["spec"]["containers"][0]
    cases = [
        ("localdomain-set", {"LOCALDOMAIN": "cluster.local"}, {"dnsPolicy": "None"}, {v: "cgo" for v in VERSIONS}),
        ("unknown-resolv-option edns0 (below 1.20)", {}, {"dnsPolicy": "None", "dnsConfig": {"options": [{"name": "edns0"}]}},
         {"go1.19": "cgo", "go1.23": "go"}),
        ("unknown-resolv-option inet6", {}, {"dnsPolicy": "None", "dnsConfig": {"options": [{"name": "inet6"}]}},
         {v: "cgo" for v in VERSIONS}),
        ("node-resolv-conf (a systemd-resolved node: options edns0 trust-ad)", {}, {"dnsPolicy": "Default"},
         {"go1.19": "cgo", "go1.23": "go"}),
        ("no finding: ndots:2", {}, {"dnsPolicy": "None", "dnsConfig": {"options": [{"name": "ndots", "value": "2"}]}},
         {v: "go" for v in VERSIONS}),
    ]
    plan = []
    for name, cenv, spec, want in cases:
        for version in VERSIONS:
            plan.append((name, version, want[version],
                         runs_for(version, {"TZ": "UTC", **cenv}, spec, {}, original, "lab", CONDITION["pod"])))
    # The whole pods: as written they crash; as the env strategy wrote them they do not.
    for pname in ("findings-none", "findings-default"):
        for label, pod in (("as written", next(p for p in pods if p["metadata"]["name"] == pname)),
                           ("env strategy", mutated[pname])):
            c = pod["spec"]["containers"][0]
            for version in VERSIONS:
                want = "cgo" if label == "as written" else "go"
                plan.append((f"{pname} {label}", version, want,
                             runs_for(version, container_env(c).env, pod["spec"], pod["metadata"], c, "lab", CONDITION["pod"])))
    # resolver-config: removes LOCALDOMAIN and the unknown options, mounts nsswitch.conf;
    # the Default pod keeps the node's file, which the report warns about.
    rc_out = {o["metadata"]["name"]: o for o in dry.json(["-f", "-", "-o", "json", "--config", str(resolver_policy)], doc)["items"]}
    rc_rep = {r["object"]["name"]: r["report"] for r in
              dry.json(["-f", "-", "-o", "report-json", "--config", str(resolver_policy)], doc)}
    warned = any("node's resolv.conf" in w for w in rc_rep["findings-default"]["warnings"])
    checks.check(warned, "findings: resolver-config warns that the Default pod's node resolv.conf is not fixable",
                 str(rc_rep["findings-default"]["warnings"]))
    checks.check(not any("node's resolv.conf" in w for w in rc_rep["findings-none"]["warnings"]),
                 "findings: resolver-config does not warn about the node's resolv.conf for dnsPolicy None")
    for pname, want in (("findings-none", {v: "go" for v in VERSIONS}),
                        ("findings-default", {"go1.19": "cgo", "go1.23": "go"})):
        pod = rc_out[pname]
        c = pod["spec"]["containers"][0]
        for cname in ("pod", "nsswitch-resolve", "nsswitch-tab"):
            for version in VERSIONS:
                plan.append((f"{pname} resolver-config, {cname}", version, want[version],
                             runs_for(version, container_env(c).env, pod["spec"], pod["metadata"], c, "lab", CONDITION[cname])))
    lab.execute([p[3] for p in plan])
    for name, version, want, run in plan:
        r = run.result
        good = (r.resolver == "cgo" and r.field_crash) if want == "cgo" else took_go(run)
        checks.check(good, f"findings: {name} on {version}: {want}", describe(run))
    print("ok   findings: localdomain-set, unknown-resolv-option (edns0 below 1.20, inet6), node-resolv-conf "
          "each reproduced alone on the original container; resolver-config output checked")


# ----------------------------------------------------------------------------------
# negative controls: the lab fails when the engine writes an unsafe value

UNSAFE = [
    (" netdns=go", {"go1.19", "go1.23"}),
    ("netdns=cgo,netdns=go", {"go1.19"}),
    ("netdns=go,netdns=cgo", {"go1.23"}),
    ("netdns=go+cgo", {"go1.19", "go1.23"}),
    ("NETDNS=go", {"go1.19", "go1.23"}),
    ("netdns=go ", {"go1.19", "go1.23"}),
]


def controls_check(lab: Lab, checks: Checks, subjects: list[Subject]) -> None:
    section("negative controls: dry-run output tampered to hold unsafe GODEBUG values")
    tampered, expect = [], {}
    pool = [s for s in subjects if s.report["changes"]]
    for i, (value, versions) in enumerate(UNSAFE):
        s = copy.deepcopy(pool[i % len(pool)])
        s.label = f"{s.label} [tampered: {value!r}]"
        for entry in s.container.get("env") or []:
            if entry.get("name") == "GODEBUG":
                entry["value"] = value
        tampered.append(s)
        expect[s.label] = versions
    # And an engine that forgot the container altogether: no GODEBUG at all.
    s = copy.deepcopy(pool[0])
    s.label = f"{s.label} [tampered: GODEBUG removed]"
    s.container["env"] = [e for e in s.container.get("env") or [] if e.get("name") != "GODEBUG"] + \
                         [{"name": "GODEBUG", "value": "http2client=0"}]
    tampered.append(s)
    expect[s.label] = set(VERSIONS)
    protected_check(lab, checks, tampered, "control", expect_fail=expect)


# ----------------------------------------------------------------------------------


def write_policy(out: Path, name: str, text: str) -> Path:
    path = out / name
    path.write_text(text)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin", default=str(REPO / "target" / "debug" / "netdns-guard"), help="the netdns-guard binary")
    parser.add_argument("--out", default=str(REPO / "target" / "resolver-lab"), help="work and output directory")
    parser.add_argument("--fixtures", default=str(REPO.parent / "shared" / "fixtures" / "manifests"))
    parser.add_argument("--only", choices=["inspect"],
                        help="run only this section (and the controls): inspect = buildinfo.py")
    args = parser.parse_args()

    if not in_private_mount_namespace():
        if os.environ.get(HOST_NS_VAR):
            print("resolver-lab: `unshare --mount --propagation private` did not give a private mount namespace",
                  file=sys.stderr)
            return 2
        if os.geteuid() != 0:
            print("resolver-lab: needs root (unshare -m and bind mounts)", file=sys.stderr)
            return 2
        os.environ[HOST_NS_VAR] = mount_namespace()
        os.execvp("unshare", ["unshare", "--mount", "--propagation", "private", "--",
                              sys.executable, os.path.abspath(__file__), *sys.argv[1:]])

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "evidence").mkdir(exist_ok=True)
    bins, preload = build(out)
    dry = DryRun(Path(args.bin))
    lab = Lab(out, bins, preload)
    lab.mount()
    checks = Checks()

    section("controls: the lab sees both resolvers and the crash")
    clean = Setup(pod_resolv_conf({}, "lab")[0], NSSWITCH_IMAGE)
    ctl = {(v, g): Run(v, {"GODEBUG": g}, clean, LAB_HOST, None) for v in VERSIONS for g in ("netdns=cgo", "netdns=go")}
    lab.execute(list(ctl.values()))
    for v in VERSIONS:
        c, g = ctl[(v, "netdns=cgo")].result, ctl[(v, "netdns=go")].result
        checks.check(c.resolver == "cgo" and c.field_crash, f"control: {v} netdns=cgo enters getaddrinfo and crashes with the field signature",
                     describe(ctl[(v, "netdns=cgo")]))
        checks.check(took_go(ctl[(v, "netdns=go")]), f"control: {v} netdns=go resolves {LAB_HOST} with the Go resolver",
                     describe(ctl[(v, "netdns=go")]))
        keep_evidence(ctl[(v, "netdns=cgo")], "control")
        # Without the faulting getaddrinfo, the cgo path really resolves through libc.
        env = dict(BASE_ENV, GODEBUG="netdns=cgo+2")
        p = subprocess.run([str(bins[v]), "-host", LAB_HOST], env=env, capture_output=True, text=True)
        checks.check(p.returncode == 0 and f"hostLookupOrder({LAB_HOST}) = cgo" in p.stderr and "192.0.2.10" in p.stdout,
                     f"control: {v} netdns=cgo without the preload resolves {LAB_HOST} through libc", p.stderr)
    print("ok   controls: " + ", ".join(VERSIONS) + ": netdns=cgo -> getaddrinfo -> field crash; netdns=go -> Go resolver")

    # buildinfo.py imports this module by name; as a script it is __main__.
    sys.modules.setdefault("lab", sys.modules[__name__])
    import buildinfo
    buildinfo.inspect_check(lab, checks, out, Path(args.bin), clean)
    if args.only == "inspect":
        return finish(lab, checks, out)

    all_policy = write_policy(out, "policy-all-pods.yaml",
                              "apiVersion: netdns-guard.io/v1alpha1\nkind: Policy\n"
                              "selectors:\n  - matchExpressions:\n      - {key: resolver-lab.invalid/none, operator: DoesNotExist}\n")
    override_policy = write_policy(out, "policy-override-cgo.yaml",
                                   "apiVersion: netdns-guard.io/v1alpha1\nkind: Policy\noverrideCgo: true\n")
    resolver_policy = write_policy(out, "policy-resolver-config.yaml",
                                   "apiVersion: netdns-guard.io/v1alpha1\nkind: Policy\nstrategy: resolver-config\n")

    dirs = [("examples", REPO / "examples" / "manifests")]
    fixtures = Path(args.fixtures)
    if fixtures.is_dir():
        dirs.append(("fixtures", fixtures))
    else:
        print(f"\nresolver-lab: {fixtures} not found: shared fixtures skipped (a clone without shared/)")
    example_subjects = []
    for tag, directory in dirs:
        files = sorted(p for p in directory.rglob("*") if p.suffix in (".yaml", ".yml", ".json"))
        for policy_name, policy in (("default policy", None), ("every pod targeted", all_policy)):
            section(f"{tag} ({directory}), {policy_name}")
            subjects = [s for f in files for s in subjects_from(dry, f, policy)]
            print(f"{len(subjects)} target container(s) in {len(files)} file(s)")
            checks.check(bool(subjects), f"{tag} ({policy_name}): has target containers")
            protected_check(lab, checks, subjects, f"protected/{tag}")
            originals_check(lab, checks, subjects, f"original/{tag}")
            if policy is None and tag == "examples":
                example_subjects = subjects
            # Everything but GODEBUG is kept byte for byte.
            for s in subjects:
                before = [e for e in s.orig_container.get("env") or [] if e.get("name") != "GODEBUG"]
                after = [e for e in s.container.get("env") or [] if e.get("name") != "GODEBUG"]
                checks.check(before == after, f"{tag}: {s.label}: env entries other than GODEBUG unchanged")

    godebug_table = godebug_check(lab, checks, dry, out, override_policy)
    conditions_table = conditions_check(lab, checks, out)
    options_check(lab, checks, dry, out)
    findings_check(lab, checks, dry, out, resolver_policy)
    controls_check(lab, checks, example_subjects)

    section("evidence: the field crash, as the lab saw it (target/resolver-lab/evidence/)")
    for version in VERSIONS:
        # Prefer an unprotected original agent's crash; else any (controls, tables).
        kept = sorted(((0 if what == "original" else 1, r, label) for (v, what), (r, label) in EVIDENCE.items()
                       if v == version), key=lambda t: t[0])
        checks.check(bool(kept), f"evidence: a field crash was recorded on {version}")
        if not kept:
            continue
        _, run, label = kept[0]
        path = out / "evidence" / f"field-crash-{version}.txt"
        path.write_text(f"{label or 'lab control'}\nGODEBUG={run.env.get('GODEBUG')!r} (plus netdns debug level 2)\n"
                        f"extra env: { {k: v for k, v in run.env.items() if k in ('LOCALDOMAIN', 'RES_OPTIONS', 'HOSTALIASES')} }\n"
                        f"resolv.conf:\n{run.setup.resolv}\n--- stderr\n{run.result.stderr}")
        wanted = ("fatal error", "[signal SIGSEGV", "SIGSEGV: segmentation violation", "signal arrived during cgo",
                  "net._C2func_getaddrinfo(", "net._C_getaddrinfo(", "net.cgoLookupIPCNAME(", "net.cgoLookupHostIP(",
                  "hostLookupOrder", PRELOAD_MARKER)
        lines = [l for l in run.result.stderr.splitlines() if l.startswith(wanted)]
        print(f"{version}: {label or 'lab control'} ({path.relative_to(REPO)}):")
        print(indent("\n".join(lines), "    "))

    return finish(lab, checks, out)


def finish(lab: Lab, checks: Checks, out: Path) -> int:
    lab.log.close()
    print(f"\n{lab.runs_done} program runs; tables in {out.relative_to(REPO)}/: godebug-table.md, "
          "conditions-table.md, options-table.md, inspect-table.md; every run in runs.jsonl")
    for name in checks.failed:
        print(f"failed: {name}")
    print(f"resolver-lab: {checks.passed} passed, {len(checks.failed)} failed")
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
