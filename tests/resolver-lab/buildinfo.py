"""The lab's "inspect" section: `netdns-guard inspect`'s verdict against what the binary does.

The stand-in agent (prog/) is built with Go 1.19 and Go 1.23 in every way that changes
what its build info or symbols say: CGO_ENABLED=0 and =1, -tags netgo, -tags netcgo,
-trimpath, -ldflags=-s -w (stripped), a static glibc (-extldflags -static), and a main
package with `//go:debug netdns=go` (variants/godebug.go). Each build is first checked
to be what it claims (Go's own `go version -m`, PT_INTERP read here), then run with the
faulting getaddrinfo preloaded:

  trigger      LOCALDOMAIN present (it makes Go take cgo when it can), as shipped: no
               GODEBUG. Did libc's getaddrinfo get entered (the preload's marker), did
               it crash with the field signature?
  no trigger   the same without LOCALDOMAIN: a binary that takes cgo here prefers it.

A static binary (no PT_INTERP: CGO_ENABLED=0, or the static glibc build) cannot be
preloaded; for those Go's own word decides: the same runs with GODEBUG=netdns=2 (no
mode; those builds have no default GODEBUG, which go version -m shows) print
`hostLookupOrder(...) = cgo` or not.

Then `netdns-guard inspect -o json` reads every build, and for each the verdict must
match the runs: at risk exactly when the trigger run took cgo; `cgo-preferred` exactly
when the run without a trigger took cgo too; safe builds resolve the name with Go's
resolver. The caveats must match as well: the os/user caveat on the static glibc builds
only, and the default-GODEBUG caveat on the `//go:debug` build, whose protection a
GODEBUG in the environment that sets only a netdns debug level undoes (the lab shows
that crash too). Table: target/resolver-lab/inspect-table.md.
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

from lab import (HERE, LAB_HOST, REPO, TOOLCHAINS, Checks, Lab, Run, Setup, describe, go_env,
                 keep_evidence, section)

# The cgo trigger: present, even empty, LOCALDOMAIN makes Go prefer cgo (all versions).
TRIGGER = {"LOCALDOMAIN": ""}


@dataclass(frozen=True)
class Variant:
    name: str
    what: str
    cgo: bool
    args: tuple = ()
    godebug_file: bool = False
    static: bool = False
    # Lines `go version -m` must show (per Go minor version, when they differ).
    shows: tuple = ()


VARIANTS = [
    Variant("cgo-disabled", "CGO_ENABLED=0", cgo=False, shows=("build\tCGO_ENABLED=0",)),
    Variant("cgo", "CGO_ENABLED=1", cgo=True, shows=("build\tCGO_ENABLED=1",)),
    Variant("netgo", "CGO_ENABLED=1 -tags netgo", cgo=True, args=("-tags", "netgo"),
            shows=("build\t-tags=netgo",)),
    Variant("netcgo", "CGO_ENABLED=1 -tags netcgo", cgo=True, args=("-tags", "netcgo"),
            shows=("build\t-tags=netcgo",)),
    Variant("trimpath", "CGO_ENABLED=1 -trimpath", cgo=True, args=("-trimpath",),
            shows=("build\t-trimpath=true",)),
    Variant("stripped", "CGO_ENABLED=1 -ldflags='-s -w'", cgo=True, args=("-ldflags=-s -w",),
            shows=('build\t-ldflags="-s -w"',)),
    Variant("static", "CGO_ENABLED=1 -ldflags='-extldflags -static'", cgo=True,
            args=("-ldflags", "-extldflags -static"), static=True,
            shows=('build\t-ldflags="-extldflags -static"',)),
    Variant("go-debug", "CGO_ENABLED=1, main package with //go:debug netdns=go", cgo=True,
            godebug_file=True, shows=("build\tCGO_ENABLED=1",)),
]


@dataclass
class Build:
    version: str         # go1.19 | go1.23
    variant: Variant
    exe: Path
    go_version_m: str    # Go's own reading
    dynamic: bool        # has a PT_INTERP: LD_PRELOAD reaches its getaddrinfo

    @property
    def label(self) -> str:
        return f"{self.variant.name}-{self.version}"

    @property
    def default_godebug(self) -> str | None:
        for line in self.go_version_m.splitlines():
            if line.startswith("\tbuild\tDefaultGODEBUG="):
                return line.split("=", 1)[1]
        return None


def has_interp(exe: Path) -> bool:
    """Whether a 64-bit little-endian ELF file has a PT_INTERP (read here, not by netdns-guard)."""
    data = exe.read_bytes()
    if data[:6] != b"\x7fELF\x02\x01":
        raise SystemExit(f"resolver-lab: {exe} is not a 64-bit little-endian ELF file")
    phoff, = struct.unpack_from("<Q", data, 32)
    phentsize, phnum = struct.unpack_from("<HH", data, 54)
    return any(struct.unpack_from("<I", data, phoff + i * phentsize)[0] == 3 for i in range(phnum))


def build_variants(out: Path) -> list[Build]:
    """Every variant with every toolchain, each checked to be what it claims."""
    builds = []
    for label, version, go in TOOLCHAINS:
        for v in VARIANTS:
            src = out / "variants" / f"{v.name}-{label}"
            src.mkdir(parents=True, exist_ok=True)
            # Files named on the go command line all come from one directory, and
            # their build constraints are ignored: each variant gets its own.
            files = ["main.go", "cgo.go" if v.cgo else "nocgo.go"] + (["godebug.go"] if v.godebug_file else [])
            for name in files:
                origin = HERE / ("prog" if name in ("main.go", "cgo.go") else "variants") / name
                shutil.copyfile(origin, src / name)
            exe = out / "bin" / f"inspect-{v.name}-{label}"
            env = go_env(out, cgo=v.cgo)
            subprocess.run([go, "build", *v.args, "-o", str(exe), *files], check=True, env=env, cwd=src,
                           capture_output=True)
            info = subprocess.run([go, "version", "-m", str(exe)], check=True, env=env,
                                  capture_output=True, text=True).stdout
            b = Build(label, v, exe, info, has_interp(exe))
            missing = [s for s in v.shows if s not in info]
            if missing:
                raise SystemExit(f"resolver-lab: {exe} does not show {missing}:\n{info}")
            # cgo links with the system linker against the shared libc, unless told to
            # link statically; without cgo Go's own linker makes a static binary.
            if b.dynamic != (v.cgo and not v.static):
                raise SystemExit(f"resolver-lab: {exe}: PT_INTERP present={b.dynamic}, not what {v.what} makes")
            # //go:debug exists from Go 1.21; Go 1.19 reads it as a comment.
            want_default = "netdns=go" if v.godebug_file and version >= (1, 21) else None
            if want_default != b.default_godebug:
                raise SystemExit(f"resolver-lab: {exe}: DefaultGODEBUG={b.default_godebug!r}, expected {want_default!r}")
            builds.append(b)
    print(f"built {len(builds)} variants: " + ", ".join(b.label for b in builds))
    return builds


@dataclass
class Observed:
    """What one build did, from the runs."""
    cgo_triggered: bool          # took cgo with the trigger
    cgo_untriggered: bool        # took cgo without it
    crashed: bool | None         # field crash with the trigger (None: not observable, static)
    go_resolved: bool            # with the trigger, Go's resolver answered from /etc/hosts
    how: str                     # how cgo was seen: the preload, or Go's debug line


def runs_for(b: Build, setup: Setup) -> dict:
    """The runs one build needs (see the module docstring)."""
    debug = not b.dynamic
    runs = {
        "trigger": Run(b.version, dict(TRIGGER), setup, LAB_HOST, None, debug=debug, exe=b.exe),
        "no-trigger": Run(b.version, {}, setup, LAB_HOST, None, debug=debug, exe=b.exe),
    }
    if b.default_godebug:
        # A GODEBUG that sets only a netdns debug level replaces the default's netdns=go.
        runs["env-override"] = Run(b.version, {**TRIGGER, "GODEBUG": "netdns=1"}, setup, LAB_HOST, None,
                                   debug=False, exe=b.exe)
    return runs


def took_cgo(b: Build, run: Run) -> bool:
    r = run.result
    return r.libc_entered if b.dynamic else r.order == "cgo"


def observe(b: Build, runs: dict) -> Observed:
    t = runs["trigger"].result
    go_resolved = (not took_cgo(b, runs["trigger"]) and t.rc == 0 and t.resolved and not t.libc_entered)
    return Observed(
        cgo_triggered=took_cgo(b, runs["trigger"]),
        cgo_untriggered=took_cgo(b, runs["no-trigger"]),
        crashed=t.field_crash if b.dynamic else None,
        go_resolved=go_resolved,
        how="the preloaded getaddrinfo" if b.dynamic else "Go's hostLookupOrder line (static: no preload)",
    )


def inspect_json(guard: Path, builds: list[Build]) -> dict:
    p = subprocess.run([str(guard), "inspect", "-o", "json", *(str(b.exe) for b in builds)],
                       capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"resolver-lab: netdns-guard inspect exited {p.returncode}:\n{p.stderr}")
    return {f["path"]: f for f in json.loads(p.stdout)["files"]}


def verdict_mismatches(f: dict, obs: Observed) -> list[str]:
    """How inspect's entry `f` disagrees with what a build did (empty: it agrees)."""
    risk = f.get("risk")
    resolver = (f.get("verdict") or {}).get("resolver")
    out = []
    if risk not in ("at-risk", "safe") or (risk == "at-risk") != obs.cgo_triggered:
        out.append(f"risk {risk}, but cgo with the trigger: {obs.cgo_triggered}")
    if (resolver == "cgo-preferred") != obs.cgo_untriggered:
        out.append(f"resolver {resolver}, but cgo without a trigger: {obs.cgo_untriggered}")
    if risk == "safe" and not obs.go_resolved:
        out.append("safe, but Go's resolver did not answer under the trigger")
    return out


def go_version(b: Build) -> str:
    return b.go_version_m.split(": ", 1)[1].split()[0]


def inspect_check(lab: Lab, checks: Checks, out: Path, guard: Path, setup: Setup) -> str:
    section("inspect: netdns-guard inspect's verdict vs what each build does (inspect-table.md)")
    builds = build_variants(out)
    runs = {b.label: runs_for(b, setup) for b in builds}
    lab.execute([r for rs in runs.values() for r in rs.values()])
    report = inspect_json(guard, builds)
    observed = {b.label: observe(b, runs[b.label]) for b in builds}

    rows = ["| build | how | Go | inspect: risk | inspect: resolver | caveats | cgo with trigger | "
            "cgo without | field crash | seen by | agrees |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    agree = 0
    for b in builds:
        obs = observed[b.label]
        f = report.get(str(b.exe), {})
        name = f"inspect: {b.label}"
        detail = (f"inspect says {f.get('risk')} ({f.get('summary')}); runs: {obs}\n"
                  f"--- trigger run\n{describe(runs[b.label]['trigger'])}")
        ok = checks.check(f.get("status") == "go" and f.get("go_version") == go_version(b),
                          f"{name}: read as a Go binary of the version go version -m shows", json.dumps(f)[:2000])
        mismatches = verdict_mismatches(f, obs)
        ok &= checks.check(not mismatches, f"{name}: the verdict matches the runs "
                           "(at risk exactly when the trigger run takes cgo; cgo-preferred exactly when "
                           "the run without one does; safe builds answered by Go)", "\n".join(mismatches) + "\n" + detail)
        if obs.crashed is not None:
            ok &= checks.check(obs.crashed == obs.cgo_triggered,
                               f"{name}: the cgo path taken is the field crash (and only then)", detail)
            keep_evidence(runs[b.label]["trigger"], "inspect", b.label)
        caveats = sorted(c["kind"] for c in f.get("caveats") or [])
        want_caveats = sorted((["os-user-static-glibc"] if b.variant.static else [])
                              + (["environment-overrides-default"] if b.default_godebug else []))
        ok &= checks.check(caveats == want_caveats, f"{name}: caveats {want_caveats}", detail)
        if b.default_godebug:
            override = runs[b.label]["env-override"]
            ok &= checks.check(override.result.libc_entered and override.result.field_crash,
                               f"{name}: GODEBUG=netdns=1 in the environment undoes the default and crashes",
                               describe(override))
        agree += bool(ok)
        crash = "n/a (static)" if obs.crashed is None else ("yes" if obs.crashed else "no")
        rows.append(f"| {b.variant.name} | {b.variant.what} | {go_version(b)} | {f.get('risk')} | "
                    f"{(f.get('verdict') or {}).get('resolver')} | {', '.join(caveats) or '-'} | "
                    f"{'yes' if obs.cgo_triggered else 'no'} | {'yes' if obs.cgo_untriggered else 'no'} | {crash} | "
                    f"{obs.how} | {'yes' if ok else 'NO'} |")

    # The check can fail: each build's verdict against another build's runs.
    by = {b.label: b for b in builds}
    for version in {b.version for b in builds}:
        swaps = [("netgo", "cgo"), ("cgo", "netgo"), ("cgo", "netcgo"), ("netcgo", "cgo"), ("cgo-disabled", "static")]
        caught = [(a, o) for a, o in swaps
                  if verdict_mismatches(report.get(str(by[f"{a}-{version}"].exe), {}), observed[f"{o}-{version}"])]
        checks.check(len(caught) == len(swaps),
                     f"inspect: control: {version}: a verdict checked against another build's runs disagrees",
                     f"swaps (verdict of, runs of) not caught: {sorted(set(swaps) - set(caught))}")

    print(f"{agree} of {len(builds)} builds: inspect's verdict matches what the build does")
    table = ("# netdns-guard inspect vs the runs\n\n"
             "Each build of the stand-in agent, run with the faulting getaddrinfo preloaded, with the cgo "
             "trigger `LOCALDOMAIN=` and without it; `netdns-guard inspect -o json` read the same files. "
             f"Built by tests/resolver-lab/buildinfo.py; {agree} of {len(builds)} agree.\n\n" + "\n".join(rows) + "\n")
    (out / "inspect-table.md").write_text(table)
    print(f"table: {(out / 'inspect-table.md').relative_to(REPO)}")
    return table
