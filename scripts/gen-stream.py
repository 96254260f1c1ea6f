#!/usr/bin/env python3
"""Generates a large multi-document YAML stream shaped like `helm template` output,
for benchmarking `netdns-guard dry-run` (see scripts/bench-dry-run.sh).

    scripts/gen-stream.py [--workloads N] [--seed S] [-o FILE]

The stream holds N workloads (Deployments, StatefulSets, DaemonSets, CronJobs and a
few Jobs), most of them ordinary applications, a share of them log/metrics agents:
at-risk Go agents (Loggie, Filebeat, Promtail, Datadog; some already carrying
GODEBUG, as after an earlier run or a chart preset), pure-Go agents (Alloy, OTel
Collector) and non-Go agents (Fluent Bit, Fluentd, Vector). ConfigMaps, Services
and ServiceAccounts are interleaved the way Helm renders a chart: `# Source:` comment
lines, quoted labels, blank lines left by templates, block scalars for config files.

The output depends only on --workloads and --seed (no clock, no hash randomisation).
"""

import argparse
import hashlib
import random
import sys

APPS = [
    "api", "web", "frontend", "backend", "checkout", "cart", "payments", "orders",
    "inventory", "search", "auth", "users", "notifications", "billing", "reports",
    "gateway", "catalog", "shipping", "recommendations", "ledger", "scheduler",
    "worker", "ingest", "exporter", "mailer", "media", "thumbnails", "graphql",
]
TEAMS = ["core", "growth", "platform", "data", "payments", "identity", "search", "infra"]
REGISTRIES = [
    "", "docker.io/", "ghcr.io/acme/", "registry.acme.internal:5000/",
    "123456789012.dkr.ecr.eu-west-1.amazonaws.com/", "quay.io/acme/",
]
LANG_IMAGES = [
    "library/nginx:1.27.2", "acme/{app}:{ver}", "acme/{app}-server:{ver}",
    "bitnami/redis:7.4.1", "library/python:3.12-slim", "eclipse-temurin:21-jre",
    "acme/{app}@sha256:{digest}", "node:22-alpine", "acme/{team}/{app}:{ver}",
]

# (id, image, kind of risk, typical env, mounts) — images as real charts render them.
AT_RISK_AGENTS = [
    ("loggie", "loggieio/loggie:v1.5.0", "DaemonSet"),
    ("filebeat", "docker.elastic.co/beats/filebeat:8.15.3", "DaemonSet"),
    ("filebeat", "docker.elastic.co/beats/filebeat:8.15.3", "Deployment"),
    ("promtail", "docker.io/grafana/promtail:3.5.1", "DaemonSet"),
    ("datadog", "gcr.io/datadoghq/agent:7.58.2", "DaemonSet"),
]
OTHER_AGENTS = [
    ("fluent-bit", "cr.fluentbit.io/fluent/fluent-bit:3.1.9", "DaemonSet"),
    ("fluentd", "fluent/fluentd-kubernetes-daemonset:v1.17-debian-elasticsearch8-1", "DaemonSet"),
    ("vector", "timberio/vector:0.41.1-distroless-libc", "DaemonSet"),
    ("alloy", "docker.io/grafana/alloy:v1.4.3", "DaemonSet"),
    ("otel-collector", "otel/opentelemetry-collector-contrib:0.111.0", "Deployment"),
]


class Gen:
    def __init__(self, seed):
        self.r = random.Random(seed)
        self.out = []

    def w(self, text):
        self.out.append(text)

    def sha(self, *parts):
        return hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()

    def version(self):
        r = self.r
        return f"{r.randint(0, 4)}.{r.randint(0, 30)}.{r.randint(0, 12)}"

    # ---- pieces -----------------------------------------------------------------

    def labels(self, name, chart, ver, indent, component=None):
        pad = " " * indent
        lines = [
            f"{pad}helm.sh/chart: {chart}-{ver}",
            f"{pad}app.kubernetes.io/name: {name}",
            f"{pad}app.kubernetes.io/instance: {name}",
            f'{pad}app.kubernetes.io/version: "{ver}"',
            f"{pad}app.kubernetes.io/managed-by: Helm",
        ]
        if component:
            lines.append(f"{pad}app.kubernetes.io/component: {component}")
        return "\n".join(lines) + "\n"

    def selector_labels(self, name, indent):
        pad = " " * indent
        return (f"{pad}app.kubernetes.io/name: {name}\n"
                f"{pad}app.kubernetes.io/instance: {name}\n")

    def env_block(self, name, count, extra_first=None):
        """`env:` with `count` entries (plain values, quoted numbers and booleans,
        valueFrom), at indent 0 (a container's field)."""
        r = self.r
        out = ["env:\n"]
        if extra_first:
            out.append(extra_first)
        upper = name.upper().replace("-", "_")
        for i in range(count):
            pick = r.random()
            key = f"{upper}_{['PORT', 'HOST', 'LOG_LEVEL', 'TIMEOUT', 'FEATURE', 'URL', 'POOL', 'MODE', 'REGION', 'CACHE'][i % 10]}_{i}"
            if pick < 0.15:
                out.append(f"  - name: {key}\n    valueFrom:\n"
                           f"      secretKeyRef:\n        name: {name}-secrets\n"
                           f"        key: {key.lower().replace('_', '-')}\n")
            elif pick < 0.25:
                out.append(f"  - name: {key}\n    valueFrom:\n"
                           f"      fieldRef:\n        fieldPath: "
                           f"{r.choice(['spec.nodeName', 'metadata.namespace', 'status.podIP', 'metadata.name'])}\n")
            elif pick < 0.45:
                out.append(f'  - name: {key}\n    value: "{r.randint(1, 65535)}"\n')
            elif pick < 0.6:
                out.append(f'  - name: {key}\n    value: "{r.choice(["true", "false"])}"\n')
            else:
                val = r.choice([
                    f"http://{name}.{r.choice(TEAMS)}.svc.cluster.local:8080/v1",
                    "info", "eu-west-1", f"postgres://{name}-db:5432/{name}?sslmode=require",
                    f"{name}-cache-{r.randint(0, 9)}", "/var/lib/data",
                ])
                out.append(f"  - name: {key}\n    value: {val}\n")
        return "".join(out)

    def probes(self, port_name):
        r = self.r
        out = []
        for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/ready")):
            out.append(
                f"{probe}:\n"
                f"  httpGet:\n"
                f"    path: {path}\n"
                f"    port: {port_name}\n"
                f"  initialDelaySeconds: {r.choice([5, 10, 15, 30])}\n"
                f"  periodSeconds: {r.choice([10, 15, 20])}\n"
                f"  timeoutSeconds: {r.choice([1, 3, 5])}\n"
                f"  failureThreshold: {r.choice([3, 5, 6])}\n")
        return "".join(out)

    def resources(self):
        r = self.r
        cpu = r.choice(["50m", "100m", "250m", "500m", "1"])
        mem = r.choice(["64Mi", "128Mi", "256Mi", "512Mi", "1Gi"])
        return (f"resources:\n"
                f"  limits:\n    cpu: {cpu}\n    memory: {mem}\n"
                f"  requests:\n    cpu: {cpu}\n    memory: {mem}\n")

    def container_security(self):
        return ("securityContext:\n"
                "  allowPrivilegeEscalation: false\n"
                "  capabilities:\n"
                "    drop:\n"
                "    - ALL\n"
                "  readOnlyRootFilesystem: true\n"
                "  runAsNonRoot: true\n")

    def app_image(self, app, team):
        r = self.r
        tpl = r.choice(LANG_IMAGES)
        img = tpl.format(app=app, team=team, ver=self.version(), digest=self.sha(app, r.random()))
        return r.choice(REGISTRIES) + img

    # ---- pod template (its `spec:` at indent 0) ---------------------------------

    def app_pod(self, name, app, team, workload_kind):
        r = self.r
        port = r.choice([8080, 8000, 3000, 9090, 5000])
        out = ["spec:\n",
               f"  serviceAccountName: {name}\n",
               "  securityContext:\n    fsGroup: 2000\n"
               "    runAsNonRoot: true\n    runAsUser: 1000\n"
               "    seccompProfile:\n      type: RuntimeDefault\n"]
        if workload_kind in ("CronJob", "Job"):
            out.append("  restartPolicy: OnFailure\n")
        if r.random() < 0.2:
            out.append("  initContainers:\n"
                       "    - name: wait-for-db\n"
                       "      image: busybox:1.36\n"
                       f"      command: ['sh', '-c', 'until nc -z {name}-db 5432; do sleep 2; done']\n")
        out.append("  containers:\n")
        c = [f'image: "{self.app_image(app, team)}"\n',
             "imagePullPolicy: IfNotPresent\n"]
        if r.random() < 0.3:
            c.append(f'args:\n  - "--config=/etc/{app}/config.yaml"\n  - "--port={port}"\n')
        c.append(f"ports:\n  - name: http\n    containerPort: {port}\n    protocol: TCP\n")
        if r.random() < 0.9:
            c.append(self.env_block(name, r.randint(4, 14)))
        if r.random() < 0.3:
            c.append(f"envFrom:\n  - configMapRef:\n      name: {name}-env\n")
        c.append(self.resources())
        if workload_kind not in ("CronJob", "Job"):
            c.append(self.probes("http"))
        c.append(self.container_security())
        c.append(f"volumeMounts:\n  - name: config\n    mountPath: /etc/{app}\n    readOnly: true\n"
                 "  - name: tmp\n    mountPath: /tmp\n")
        out.append(f"    - name: {app}\n" + self.indent("".join(c), 6))
        if r.random() < 0.25:
            out.append("    - name: istio-proxy\n"
                       "      image: docker.io/istio/proxyv2:1.23.2\n"
                       "      args: [\"proxy\", \"sidecar\"]\n"
                       "      ports:\n        - containerPort: 15090\n"
                       "          name: http-envoy-prom\n")
        out.append("  volumes:\n"
                   f"    - name: config\n      configMap:\n        name: {name}\n"
                   "    - name: tmp\n      emptyDir: {}\n")
        if r.random() < 0.5:
            out.append("  affinity:\n    podAntiAffinity:\n"
                       "      preferredDuringSchedulingIgnoredDuringExecution:\n"
                       "        - weight: 100\n          podAffinityTerm:\n"
                       "            topologyKey: kubernetes.io/hostname\n"
                       "            labelSelector:\n              matchLabels:\n"
                       f"                app.kubernetes.io/name: {name}\n")
        if r.random() < 0.3:
            out.append("  nodeSelector:\n    kubernetes.io/os: linux\n")
        if r.random() < 0.2:
            out.append("  tolerations:\n    - key: dedicated\n"
                       f"      operator: Equal\n      value: {team}\n"
                       "      effect: NoSchedule\n")
        return "".join(out)

    def agent_pod(self, name, agent, image, protected):
        r = self.r
        out = ["spec:\n",
               f"  serviceAccountName: {name}\n",
               "  securityContext:\n    runAsUser: 0\n"]
        if agent in ("datadog", "fluent-bit") and r.random() < 0.3:
            out.append("  hostNetwork: true\n  dnsPolicy: ClusterFirstWithHostNet\n")
        out.append("  containers:\n")
        subs = [agent]
        if agent == "datadog":
            subs = ["agent", "trace-agent", "process-agent"]
        elif agent == "filebeat" and r.random() < 0.3:
            subs = ["filebeat", "config-reloader"]
        for sub in subs:
            img = image if sub != "config-reloader" else "ghcr.io/jimmidyson/configmap-reload:v0.14.0"
            c = [f'image: "{img}"\n', "imagePullPolicy: IfNotPresent\n"]
            if agent == "datadog":
                c.append(f'command: ["{sub}", "run"]\n')
            else:
                c.append(f'args:\n  - "-c"\n  - "/etc/{agent}/{agent}.yml"\n')
            first = None
            if agent == "datadog" and sub == "agent":
                first = ("  # Needs to be removed when Agent N-2 is built with Golang 1.17\n"
                         "  - name: GODEBUG\n"
                         f"    value: {'x509ignoreCN=0,netdns=go' if protected else 'x509ignoreCN=0'}\n")
            elif protected and sub != "config-reloader":
                first = "  - name: GODEBUG\n    value: netdns=go\n"
            c.append(self.env_block(name, r.randint(6, 14), first))
            c.append(self.resources())
            c.append("volumeMounts:\n"
                     f"  - name: config\n    mountPath: /etc/{agent}\n"
                     "  - name: varlog\n    mountPath: /var/log\n    readOnly: true\n"
                     "  - name: containers\n    mountPath: /var/lib/docker/containers\n"
                     "    readOnly: true\n")
            c.append("securityContext:\n  privileged: false\n  readOnlyRootFilesystem: true\n")
            out.append(f"    - name: {sub}\n" + self.indent("".join(c), 6))
        out.append("  tolerations:\n"
                   "    - effect: NoSchedule\n      key: node-role.kubernetes.io/control-plane\n"
                   "      operator: Exists\n")
        out.append("  volumes:\n"
                   f"    - name: config\n      configMap:\n        name: {name}\n"
                   "    - name: varlog\n      hostPath:\n        path: /var/log\n"
                   "    - name: containers\n      hostPath:\n"
                   "        path: /var/lib/docker/containers\n")
        return "".join(out)

    @staticmethod
    def indent(text, n):
        pad = " " * n
        return "".join(pad + line if line.strip() else line for line in text.splitlines(True))

    # ---- documents --------------------------------------------------------------

    def workload(self, i):
        r = self.r
        team = r.choice(TEAMS)
        pick = r.random()
        agent = None
        if pick < 0.10:
            agent, image, kind = r.choice(AT_RISK_AGENTS)
        elif pick < 0.16:
            agent, image, kind = r.choice(OTHER_AGENTS)
        else:
            kind = r.choices(["Deployment", "StatefulSet", "DaemonSet", "CronJob", "Job"],
                             [62, 14, 6, 14, 4])[0]
        app = agent or r.choice(APPS)
        name = f"{team}-{app}-{i}"
        chart = agent or app
        ver = self.version()
        ns = f"{team}-{'logging' if agent else 'apps'}"

        if r.random() < 0.15:
            self.w(f"---\n# Source: {chart}/templates/serviceaccount.yaml\n"
                   f"apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: {name}\n"
                   f"  namespace: {ns}\n  labels:\n{self.labels(name, chart, ver, 4)}"
                   f"automountServiceAccountToken: {'true' if agent else 'false'}\n")
        if r.random() < 0.4:
            self.config_map(name, ns, chart, ver, agent)
        if kind != "CronJob" and kind != "Job" and r.random() < 0.5:
            self.service(name, ns, chart, ver)

        api = {"CronJob": "batch/v1", "Job": "batch/v1"}.get(kind, "apps/v1")
        head = (f"---\n# Source: {chart}/templates/{kind.lower()}.yaml\n"
                f"apiVersion: {api}\nkind: {kind}\nmetadata:\n  name: {name}\n"
                f"  namespace: {ns}\n  labels:\n{self.labels(name, chart, ver, 4, 'agent' if agent else None)}"
                "    \n")
        if r.random() < 0.3:
            head += f"  annotations:\n    meta.helm.sh/release-name: {name}\n    meta.helm.sh/release-namespace: {ns}\n"
        template_meta = ("metadata:\n  labels:\n" + self.selector_labels(name, 4) +
                         "  annotations:\n"
                         f"    checksum/config: {self.sha(name, 'config')}\n"
                         f"    checksum/secret: {self.sha(name, 'secret')}\n")
        if not agent and r.random() < 0.3:
            template_meta += ('    prometheus.io/scrape: "true"\n'
                              '    prometheus.io/port: "9090"\n')
        protected = agent is not None and r.random() < 0.25
        pod = (self.agent_pod(name, agent, image, protected) if agent
               else self.app_pod(name, app, team, kind))

        if kind == "CronJob":
            body = (f"spec:\n  schedule: \"{r.randint(0, 59)} */{r.randint(1, 12)} * * *\"\n"
                    "  concurrencyPolicy: Forbid\n  successfulJobsHistoryLimit: 3\n"
                    "  failedJobsHistoryLimit: 1\n  jobTemplate:\n    spec:\n"
                    "      backoffLimit: 2\n      template:\n")
            body += self.indent(template_meta + pod, 8)
        else:
            body = "spec:\n"
            if kind in ("Deployment", "StatefulSet"):
                body += f"  replicas: {r.choice([1, 2, 3, 3, 5])}\n  revisionHistoryLimit: 10\n"
            if kind == "StatefulSet":
                body += f"  serviceName: {name}-headless\n  podManagementPolicy: Parallel\n"
            if kind == "Job":
                body += "  backoffLimit: 4\n  ttlSecondsAfterFinished: 3600\n"
            else:
                body += "  selector:\n    matchLabels:\n" + self.selector_labels(name, 6)
            if kind == "Deployment":
                body += "  strategy:\n    type: RollingUpdate\n    rollingUpdate:\n      maxSurge: 25%\n      maxUnavailable: 0\n"
            if kind == "DaemonSet":
                body += "  updateStrategy:\n    type: RollingUpdate\n    rollingUpdate:\n      maxUnavailable: 1\n"
            body += "  template:\n" + self.indent(template_meta + pod, 4)
            if kind == "StatefulSet":
                body += ("  volumeClaimTemplates:\n    - metadata:\n        name: data\n"
                         "      spec:\n        accessModes: [\"ReadWriteOnce\"]\n"
                         f"        resources:\n          requests:\n            storage: {r.choice(['1Gi', '10Gi', '50Gi'])}\n")
        self.w(head + body)

    def config_map(self, name, ns, chart, ver, agent):
        r = self.r
        lines = []
        for j in range(r.randint(8, 30)):
            lines.append(f"    {r.choice(['server', 'client', 'cache', 'log', 'db'])}_{j}: "
                         f"{r.choice(['true', 'false', str(r.randint(1, 9999)), 'info', 'http://localhost:8080'])}\n")
        self.w(f"---\n# Source: {chart}/templates/configmap.yaml\n"
               f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {ns}\n"
               f"  labels:\n{self.labels(name, chart, ver, 4)}data:\n"
               f"  config.yaml: |\n    # rendered by {chart}\n" + "".join(lines) +
               f"  LOG_LEVEL: \"{r.choice(['info', 'debug', 'warn'])}\"\n"
               f"  ENABLED: \"{r.choice(['yes', 'no', 'on', 'off'])}\"\n")

    def service(self, name, ns, chart, ver):
        r = self.r
        self.w(f"---\n# Source: {chart}/templates/service.yaml\n"
               f"apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n  namespace: {ns}\n"
               f"  labels:\n{self.labels(name, chart, ver, 4)}spec:\n"
               f"  type: {r.choice(['ClusterIP', 'ClusterIP', 'ClusterIP', 'NodePort'])}\n"
               f"  ports:\n    - port: 80\n      targetPort: http\n      protocol: TCP\n      name: http\n"
               f"  selector:\n{self.selector_labels(name, 4)}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workloads", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=20240611)
    ap.add_argument("-o", "--output", default="-")
    args = ap.parse_args()
    g = Gen(args.seed)
    for i in range(args.workloads):
        g.workload(i)
    text = "".join(g.out)
    if args.output == "-":
        sys.stdout.write(text)
    else:
        with open(args.output, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)


if __name__ == "__main__":
    main()
