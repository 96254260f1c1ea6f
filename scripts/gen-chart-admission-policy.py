#!/usr/bin/env python3
"""Regenerates charts/netdns-guard/templates/admission-policy.yaml from the binary.

The chart's mode admission-policy renders the objects `netdns-guard export --format
admission-policy` writes; its policy-independent CEL is copied from that command's
output (for the default policy, strategy env), and the parts that depend on the policy
values are left to the helpers in _admission_policy.tpl.
tests/chart/admission_policy.rs fails when the two drift: run this after changing
src/admission_policy/, then that test.

Usage: cargo build && scripts/gen-chart-admission-policy.py   (needs PyYAML)
"""
import os
import subprocess

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
exported = subprocess.run(
    [os.path.join(ROOT, "target/debug/netdns-guard"), "export", "--format", "admission-policy"],
    check=True, capture_output=True, text=True,
    env={k: v for k, v in os.environ.items() if k != "NETDNS_GUARD_CONFIG"},
).stdout
docs = [d for d in yaml.safe_load_all(exported) if d]
spec=docs[0]['spec']
V={v['name']:v['expression'] for v in spec['variables']}
V['anyAtRisk']="variables.initAtRisk.exists(r, r) || variables.mainAtRisk.exists(r, r)"
for k,e in list(V.items())+[('mutation',spec['mutations'][0]['jsonPatch']['expression']),('cond',spec['matchConditions'][0]['expression'])]:
    assert '`' not in e
kept_start=V['merges'].index("p.count != '0' && p.values.split(',')[0]")
kept_end=V['merges'].index(") ? p.current :")
kept=V['merges'][kept_start:kept_end]
merges_pre=V['merges'][:kept_start]; merges_post=V['merges'][kept_end:]
def raw(e): return '{{ include "netdns-guard.yamlString" `%s` }}' % e
def item(n, expr): return f"    - name: {n}\n      expression: {expr}\n"
fixed=lambda n: item(n, raw(V[n]))
head='''{{- /*
mode admission-policy: the policy as a native MutatingAdmissionPolicy and its binding,
the same objects as `netdns-guard export --format admission-policy --namespace
<release namespace>` (tests/chart/admission_policy.rs compares them). The fixed CEL
below is that command's output, written by scripts/gen-chart-admission-policy.py; what depends on the policy values is built by the
helpers in _admission_policy.tpl, the way src/admission_policy/ builds it.
*/}}
{{- if eq .Values.mode "admission-policy" }}
{{- $version := include "netdns-guard.admissionPolicyVersion" . }}
{{- $policy := .Values.policy | default dict }}
{{- $all := eq (toString (get $policy "containers" | default "matching")) "all" }}
{{- $keptCgo := ternary "false" `KEPT` (eq (toString (get $policy "overrideCgo" | default false)) "true") }}
apiVersion: {{ $version }}
kind: MutatingAdmissionPolicy
metadata:
  name: {{ include "netdns-guard.fullname" . }}
  labels:
    {{- include "netdns-guard.labels" . | nindent 4 }}
    app.kubernetes.io/component: admission-policy
spec:
  # Never deny and never stall a pod: on any error it is admitted unchanged.
  failurePolicy: Ignore
  # Run again after later mutations; the result is a fixed point.
  reinvocationPolicy: IfNeeded
  matchConstraints:
    resourceRules:
      - apiGroups: [""]
        apiVersions: ["v1"]
        resources: ["pods"]
        operations: ["CREATE"]
        scope: Namespaced
    matchPolicy: Equivalent
    namespaceSelector:
      matchExpressions:
        - key: kubernetes.io/metadata.name
          operator: NotIn
          values:
            - {{ .Release.Namespace | quote }}
        - key: netdns-guard.io/inject
          operator: NotIn
          values: ["false"]
  matchConditions:
    - name: not-opted-out
      expression: COND
  variables:
'''.replace('KEPT',kept).replace('COND',raw(spec['matchConditions'][0]['expression']))
body=""
for n in ['annotations','labels','optedIn']:
    body+=fixed(n)
body+=item('skipped','{{ include "netdns-guard.apSkipped" . | include "netdns-guard.yamlString" }}')
body+=item('selected','{{ include "netdns-guard.apSelected" . | include "netdns-guard.yamlString" }}')
body+=fixed('everyContainer')
for p in ['init','main']:
    for s in ['Containers','Names','ImageReferences','ImageNames','ImageKeys']:
        body+=fixed(p+s)
    body+=item(p+'AtRisk', '{{ printf "variables.%sImageKeys.map(k, %%s)" (include "netdns-guard.apAtRisk" .) | include "netdns-guard.yamlString" }}' % p)
body+='    {{- if $all }}\n'+fixed('anyAtRisk')+'    {{- end }}\n'
for p in ['init','main']:
    body+=item(p+'Targets','{{ printf "variables.%sNames.map(n, variables.%sNames.indexOf(n)).filter(i, variables.everyContainer || (!variables.skipped && %%s))" (ternary "variables.anyAtRisk" "variables.%sAtRisk[i]" $all) | include "netdns-guard.yamlString" }}' % (p,p,p))
    body+=fixed(p+'Records')
body+=fixed('entries')+fixed('parsed')
body+=item('merges','{{ printf "%%s%%s%%s" `%s` $keptCgo `%s` | include "netdns-guard.yamlString" }}' % (merges_pre, merges_post))
for n in ['changes','status','operations']:
    body+=fixed(n)
tail='''  mutations:
    - patchType: JSONPatch
      jsonPatch:
        expression: MUT
---
apiVersion: {{ $version }}
kind: MutatingAdmissionPolicyBinding
metadata:
  name: {{ include "netdns-guard.fullname" . }}
  labels:
    {{- include "netdns-guard.labels" . | nindent 4 }}
    app.kubernetes.io/component: admission-policy
spec:
  policyName: {{ include "netdns-guard.fullname" . }}
{{- end }}
'''.replace('MUT',raw(spec['mutations'][0]['jsonPatch']['expression']))
open(os.path.join(ROOT, 'charts/netdns-guard/templates/admission-policy.yaml'), 'w').write(head+body+tail)
