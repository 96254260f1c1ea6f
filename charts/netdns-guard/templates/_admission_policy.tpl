{{/* ---------------------------------------------------------------------------
mode: webhook (default) installs the webhook server; mode: admission-policy installs
only a native MutatingAdmissionPolicy and its binding (admission-policy.yaml). The
CEL built here is the one `netdns-guard export --format admission-policy` writes
(src/admission_policy/cel.rs, variables.rs); tests/chart/admission_policy.rs renders
both and compares them.
--------------------------------------------------------------------------- */}}

{{/* "true" when the webhook's objects are rendered. */}}
{{- define "netdns-guard.webhookMode" -}}
{{- if eq .Values.mode "webhook" }}true{{ end -}}
{{- end -}}

{{/*
admissionregistration.k8s.io/<admissionPolicy.apiVersion>, or a failure naming it
when the cluster (or `helm template --api-versions`) does not serve it, and when the
policy's strategy cannot be expressed in CEL.
*/}}
{{- define "netdns-guard.admissionPolicyVersion" -}}
{{- $version := .Values.admissionPolicy.apiVersion -}}
{{- $gv := printf "admissionregistration.k8s.io/%s" $version -}}
{{- if not (.Capabilities.APIVersions.Has (printf "%s/MutatingAdmissionPolicy" $gv)) -}}
{{- $needs := dict "v1" "Kubernetes 1.36 or later" "v1beta1" "Kubernetes 1.34-1.35 with the MutatingAdmissionPolicy feature gate and --runtime-config=admissionregistration.k8s.io/v1beta1=true" "v1alpha1" "Kubernetes 1.32-1.33 with the MutatingAdmissionPolicy feature gate and --runtime-config=admissionregistration.k8s.io/v1alpha1=true" -}}
{{- fail (printf "mode admission-policy: this cluster does not serve %s MutatingAdmissionPolicy (needs %s). Set admissionPolicy.apiVersion to a version it serves, or use mode webhook; with helm template, pass --api-versions %s/MutatingAdmissionPolicy" $gv (get $needs $version) $gv) -}}
{{- end -}}
{{- $strategy := toString ((.Values.policy | default dict).strategy | default "env") -}}
{{- if ne $strategy "env" -}}
{{- fail (printf "mode admission-policy: strategy %s cannot be exported as a MutatingAdmissionPolicy (the resolver-config edits: removing LOCALDOMAIN/RES_OPTIONS/HOSTALIASES entries, rewriting dnsConfig options, the nsswitch.conf volume and mounts, are not generated as CEL); use mode webhook, or strategy env" $strategy) -}}
{{- end -}}
{{- $gv -}}
{{- end -}}

{{/* variables.skipped: the pod's namespace is in policy.skipNamespaces. */}}
{{- define "netdns-guard.apSkipped" -}}
{{- $skipped := (.Values.policy | default dict).skipNamespaces | default list -}}
{{- if $skipped -}}
{{- $names := list -}}
{{- range $skipped }}{{ $names = append $names (include "netdns-guard.celString" .) }}{{ end -}}
request.namespace in [{{ join ", " $names }}]
{{- else -}}
false
{{- end -}}
{{- end -}}

{{/* One label selector over variables.labels (src/admission_policy/cel.rs, selector). */}}
{{- define "netdns-guard.apSelector" -}}
{{- $l := "variables.labels" -}}
{{- $terms := list -}}
{{- range $k, $v := .matchLabels -}}
{{- $key := include "netdns-guard.celString" $k -}}
{{- $terms = append $terms (printf "(%s in %s && %s[%s] == %s)" $key $l $l $key (include "netdns-guard.celString" (toString $v))) -}}
{{- end -}}
{{- range .matchExpressions -}}
{{- $key := include "netdns-guard.celString" .key -}}
{{- $values := list -}}
{{- range .values }}{{ $values = append $values (include "netdns-guard.celString" (toString .)) }}{{ end -}}
{{- $valueIn := printf "(%s in %s && %s[%s] in [%s])" $key $l $l $key (join ", " $values) -}}
{{- $present := printf "(%s in %s)" $key $l -}}
{{- if eq .operator "In" }}{{ $terms = append $terms $valueIn }}
{{- else if eq .operator "NotIn" }}{{ $terms = append $terms (printf "!%s" $valueIn) }}
{{- else if eq .operator "Exists" }}{{ $terms = append $terms $present }}
{{- else if eq .operator "DoesNotExist" }}{{ $terms = append $terms (printf "!%s" $present) }}
{{- else }}{{ fail (printf "policy.selectors: unknown operator %q" .operator) }}
{{- end -}}
{{- end -}}
{{- if not $terms }}{{ fail "policy.selectors: an empty selector would match every pod; give matchLabels or matchExpressions" }}{{ end -}}
({{ join " && " $terms }})
{{- end -}}

{{/* variables.selected: any policy selector matches the pod's labels. */}}
{{- define "netdns-guard.apSelected" -}}
{{- $each := list -}}
{{- range ((.Values.policy | default dict).selectors | default list) -}}
{{- $each = append $each (include "netdns-guard.apSelector" .) -}}
{{- end -}}
{{- if $each }}{{ join " || " $each }}{{ else }}false{{ end -}}
{{- end -}}

{{/* A glob path component as a regular expression (`*` stays in the component and
out of the key's digest suffix). */}}
{{- define "netdns-guard.apGlob" -}}
{{- $parts := list -}}
{{- range splitList "*" . }}{{ $parts = append $parts (regexQuoteMeta .) }}{{ end -}}
{{- join "[^/@]*" $parts -}}
{{- end -}}

{{/*
One catalog pattern as a regular expression over image keys (cel.rs, pattern_regex).
A key ends in "@sha256:<hex>" when the pod's image carries a well-formed digest: a
pattern pinned to a digest needs exactly it; any other matches with or without one.
*/}}
{{- define "netdns-guard.apPattern" -}}
{{- $nameAndDigest := splitList "@" . -}}
{{- $end := "(?:@|$)" -}}
{{- if gt (len $nameAndDigest) 1 }}{{ $end = printf "@%s$" (regexQuoteMeta (index $nameAndDigest 1)) }}{{ end -}}
{{- $comps := splitList "/" (first $nameAndDigest) -}}
{{- $first := first $comps -}}
{{- $path := list -}}
{{- if and (gt (len $comps) 1) (or (contains "." $first) (contains ":" $first) (eq $first "localhost")) -}}
{{- range rest $comps }}{{ $path = append $path (include "netdns-guard.apGlob" .) }}{{ end -}}
{{- $registry := regexQuoteMeta $first -}}
{{- if has $first (list "docker.io" "index.docker.io" "registry-1.docker.io") }}{{ $registry = "docker\\.io" }}{{ end -}}
^{{ $registry }}/{{ join "/" $path }}{{ $end }}
{{- else -}}
{{- range $comps }}{{ $path = append $path (include "netdns-guard.apGlob" .) }}{{ end -}}
^[^/]*/(?:[^/]*/)*{{ join "/" $path }}{{ $end }}
{{- end -}}
{{- end -}}

{{/*
Whether the image key `k` is at risk: the first catalog entry matching it, in the
engine's order (policy.catalog.add, then the built-in entries not removed), is an
at-risk one. Runs of entries with one verdict make one regular expression; the
built-in at-risk entries (webhook.matchConditions.catalog) come before every other
built-in one, so the built-in entries that are not at risk never decide.
*/}}
{{- define "netdns-guard.apAtRisk" -}}
{{- $catalog := (.Values.policy | default dict).catalog | default dict -}}
{{- $removed := get $catalog "remove" | default list -}}
{{- $entries := list -}}
{{- range (get $catalog "add" | default list) }}{{ $entries = append $entries (dict "risky" (eq (toString .risk) "at-risk") "images" .images) }}{{ end -}}
{{- range .Values.webhook.matchConditions.catalog }}{{ if not (has .id $removed) }}{{ $entries = append $entries (dict "risky" true "images" .images) }}{{ end }}{{ end -}}
{{- $groups := list -}}
{{- range $entries -}}
{{- $regexes := list -}}
{{- range .images }}{{ $regexes = append $regexes (include "netdns-guard.apPattern" .) }}{{ end -}}
{{- if and $groups (eq (last $groups).risky .risky) -}}
{{- $previous := last $groups -}}
{{- $groups = append (initial $groups) (dict "risky" .risky "regexes" (concat $previous.regexes $regexes)) -}}
{{- else -}}
{{- $groups = append $groups (dict "risky" .risky "regexes" $regexes) -}}
{{- end -}}
{{- end -}}
{{- range until (len $groups) }}{{ if and $groups (not (last $groups).risky) }}{{ $groups = initial $groups }}{{ end }}{{ end -}}
{{- if not $groups -}}
false
{{- else -}}
{{- $expr := "" -}}
{{- range $i, $g := $groups -}}
{{- $m := printf "k.matches(%s)" (include "netdns-guard.celString" (printf "(?:%s)" (join "|" $g.regexes))) -}}
{{- if eq (add1 $i) (len $groups) }}{{ $expr = printf "%s%s" $expr $m }}
{{- else if $g.risky }}{{ $expr = printf "%s%s || (" $expr $m }}
{{- else }}{{ $expr = printf "%s!%s && (" $expr $m }}
{{- end -}}
{{- end -}}
{{- $expr }}{{ repeat (sub (len $groups) 1 | int) ")" }}
{{- end -}}
{{- end -}}
