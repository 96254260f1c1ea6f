{{/* vim: set filetype=mustache: */}}

{{/* Chart name, overridable with nameOverride. */}}
{{- define "netdns-guard.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Fully qualified app name: <release>-<chart>, or just <release> when it already holds
the chart name (so `helm install netdns-guard ...` gives Service netdns-guard). Cut to
44 characters: the CronJob's name (<fullname>-certgen) must stay within 52, and the
longest other suffix ("-certgen-create") keeps every object name within 63. The
remediation objects cut it further (netdns-guard.remediateName, _remediate.tpl).
*/}}
{{- define "netdns-guard.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 44 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 44 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 44 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "netdns-guard.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels every object carries. */}}
{{- define "netdns-guard.labels" -}}
helm.sh/chart: {{ include "netdns-guard.chart" . }}
{{ include "netdns-guard.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: netdns-guard
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Name and instance: the labels selectors use (immutable once deployed). */}}
{{- define "netdns-guard.selectorLabels" -}}
app.kubernetes.io/name: {{ include "netdns-guard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The webhook server pods' selector. */}}
{{- define "netdns-guard.webhookSelectorLabels" -}}
{{ include "netdns-guard.selectorLabels" . }}
app.kubernetes.io/component: webhook
{{- end -}}

{{- define "netdns-guard.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "netdns-guard.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* repository:tag, or repository@digest when a digest is given. */}}
{{- define "netdns-guard.image" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{- define "netdns-guard.testImage" -}}
{{- if .Values.tests.image.digest -}}
{{- printf "%s@%s" .Values.tests.image.repository .Values.tests.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.tests.image.repository .Values.tests.image.tag -}}
{{- end -}}
{{- end -}}

{{/* Names of the TLS objects. */}}
{{- define "netdns-guard.tlsSecretName" -}}
{{- if eq .Values.certs.mode "provided" -}}
{{- .Values.certs.existingSecret -}}
{{- else -}}
{{- printf "%s-tls" (include "netdns-guard.fullname" .) -}}
{{- end -}}
{{- end -}}

{{- define "netdns-guard.caSecretName" -}}
{{- printf "%s-ca" (include "netdns-guard.fullname" .) -}}
{{- end -}}

{{- define "netdns-guard.webhookConfigurationName" -}}
{{- include "netdns-guard.fullname" . -}}
{{- end -}}

{{/* <service>.<namespace>.svc: the name the apiserver checks the certificate for. */}}
{{- define "netdns-guard.serviceDNSName" -}}
{{- printf "%s.%s.svc" (include "netdns-guard.fullname" .) .Release.Namespace -}}
{{- end -}}

{{/* Pod-level securityContext shared by every pod the chart runs. */}}
{{- define "netdns-guard.podSecurityContext" -}}
{{- toYaml .Values.podSecurityContext -}}
{{- end -}}

{{/* Container-level securityContext shared by every container the chart runs. */}}
{{- define "netdns-guard.containerSecurityContext" -}}
{{- toYaml .Values.securityContext -}}
{{- end -}}

{{/*
The certs command line shared by the install/upgrade hooks and the rotation CronJob.
--webhook-configuration is always given: the command skips a configuration that does
not exist yet (pre-install) and otherwise keeps its caBundle ahead of the serving
certificate.
*/}}
{{- define "netdns-guard.certsArgs" -}}
- certs
- --in-cluster
- --service
- {{ include "netdns-guard.fullname" . | quote }}
- --namespace
- {{ .Release.Namespace | quote }}
- --ca-secret
- {{ include "netdns-guard.caSecretName" . | quote }}
- --tls-secret
- {{ include "netdns-guard.tlsSecretName" . | quote }}
- --webhook-configuration
- {{ include "netdns-guard.webhookConfigurationName" . | quote }}
- --days
- {{ .Values.certs.self.days | quote }}
- --renew-before-days
- {{ .Values.certs.self.renewBeforeDays | quote }}
{{- end -}}

{{/* Whether matchConditions are rendered: auto follows the cluster's version. */}}
{{- define "netdns-guard.matchConditionsEnabled" -}}
{{- $v := .Values.webhook.matchConditions.enabled -}}
{{- if kindIs "bool" $v -}}
{{- if $v }}true{{ end -}}
{{- else if semverCompare ">=1.28.0-0" .Capabilities.KubeVersion.Version -}}
true
{{- end -}}
{{- end -}}

{{/* ---------------------------------------------------------------------------
CEL for the webhook's matchConditions. The apiserver calls the webhook only when
every condition is true, so they must never be false for a pod the engine would
change (ARCHITECTURE.md, "Targeting"): they may let through more pods than needed, never
fewer. Evaluation errors count as "skip the webhook" under failurePolicy Ignore, so
every map access is guarded.
--------------------------------------------------------------------------- */}}

{{/* A YAML double-quoted scalar (JSON, without Go's HTML escapes of & < >). */}}
{{- define "netdns-guard.yamlString" -}}
{{- toJson . | replace "\\u0026" "&" | replace "\\u003c" "<" | replace "\\u003e" ">" -}}
{{- end -}}

{{/* A CEL single-quoted string literal. */}}
{{- define "netdns-guard.celString" -}}
'{{ . | replace "\\" "\\\\" | replace "'" "\\'" }}'
{{- end -}}

{{/* The inject annotation, compared as the engine does (ASCII case-insensitive). */}}
{{- define "netdns-guard.celInjectIs" -}}
{{- $a := "object.metadata.annotations" -}}
{{- $k := "'netdns-guard.io/inject'" -}}
{{- $re := "" -}}
{{- range splitList "" . }}{{ $re = printf "%s[%s%s]" $re (lower .) (upper .) }}{{ end -}}
(has({{ $a }}) && {{ $k }} in {{ $a }} && {{ $a }}[{{ $k }}].matches('^{{ $re }}$'))
{{- end -}}

{{/* One policy label selector (matchLabels and matchExpressions ANDed). */}}
{{- define "netdns-guard.celSelector" -}}
{{- $l := "object.metadata.labels" -}}
{{- $terms := list -}}
{{- range $k, $v := .matchLabels -}}
{{- $key := include "netdns-guard.celString" $k -}}
{{- $terms = append $terms (printf "(has(%s) && %s in %s && %s[%s] == %s)" $l $key $l $l $key (include "netdns-guard.celString" (toString $v))) -}}
{{- end -}}
{{- range .matchExpressions -}}
{{- $key := include "netdns-guard.celString" .key -}}
{{- $present := printf "(has(%s) && %s in %s)" $l $key $l -}}
{{- $values := list -}}
{{- range .values }}{{ $values = append $values (include "netdns-guard.celString" (toString .)) }}{{ end -}}
{{- $valueIn := printf "(has(%s) && %s in %s && %s[%s] in [%s])" $l $key $l $l $key (join ", " $values) -}}
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

{{/* A regular expression for one glob path component: `*` stays inside the component. */}}
{{- define "netdns-guard.globRegex" -}}
{{- $parts := list -}}
{{- range splitList "*" . }}{{ $parts = append $parts (regexQuoteMeta . | replace "\\." "[.]") }}{{ end -}}
{{- join "[^/:@]*" $parts -}}
{{- end -}}

{{/*
The regular expression alternatives (joined with "|") one catalog image pattern
contributes, each matching an image reference up to its tag, after a word saying
whether they match the whole reference ("anchored") or its end ("tail"). As in the engine (crates/engine/src/catalog.rs):
  - a pattern whose first component is a registry host (has "." or ":", or is
    localhost) is anchored: that registry and the whole path. Docker Hub's names
    (docker.io, index.docker.io, registry-1.docker.io) are interchangeable and may be
    left out of the image, whose "library/" is then implicit;
  - any other pattern matches the image's path from its end, after any registry;
    a single-name Docker Hub image has an implicit "library/" first component.
A pattern pinned to one image ("NAME@sha256:<hex>") contributes its NAME only, as if
unpinned: the regular expression ignores digests anyway, and these conditions may call
the webhook for more pods than needed (it decides by the digest), never fewer.
*/}}
{{- define "netdns-guard.patternRegex" -}}
{{- $comps := splitList "/" (first (splitList "@" .)) -}}
{{- $head := first $comps -}}
{{- $registry := "" -}}
{{- if and (gt (len $comps) 1) (or (contains "." $head) (contains ":" $head) (eq $head "localhost")) -}}
{{- $registry = $head -}}
{{- $comps = rest $comps -}}
{{- end -}}
{{- $re := list -}}
{{- range $comps }}{{ $re = append $re (include "netdns-guard.globRegex" .) }}{{ end -}}
{{- $path := join "/" $re -}}
{{- $libraryFirst := and (gt (len $re) 1) (regexMatch (printf "^%s$" (first $re)) "library") -}}
{{- $hubs := list "docker.io" "index.docker.io" "registry-1.docker.io" -}}
{{- if and $registry (not (has $registry $hubs)) -}}
{{- printf "anchored %s/%s" (include "netdns-guard.globRegex" $registry) $path -}}
{{- else if $registry -}}
{{- if and $libraryFirst (eq (len $re) 2) -}}
{{- $path = printf "(?:%s/)?%s" (first $re) (last $re) -}}
{{- end -}}
{{- printf "anchored (?:(?:docker[.]io|index[.]docker[.]io|registry-1[.]docker[.]io)/)?%s" $path -}}
{{- else -}}
{{- $alts := list $path -}}
{{- if $libraryFirst }}{{ $alts = append $alts (join "/" (rest $re)) }}{{ end -}}
{{- printf "tail %s" (join "|" $alts) -}}
{{- end -}}
{{- end -}}

{{/*
Every at-risk image pattern: the chart's mirror of the binary's built-in catalog
(webhook.matchConditions.catalog) less the ids policy.catalog.remove drops, plus the
at-risk entries of policy.catalog.add.
*/}}
{{- define "netdns-guard.imageRegex" -}}
{{- $policy := .Values.policy | default dict -}}
{{- $catalog := get $policy "catalog" | default dict -}}
{{- $removed := get $catalog "remove" | default list -}}
{{- $patterns := list -}}
{{- range .Values.webhook.matchConditions.catalog -}}
{{- if not (has .id $removed) }}{{ $patterns = concat $patterns .images }}{{ end -}}
{{- end -}}
{{- range (get $catalog "add" | default list) -}}
{{- if eq (toString .risk) "at-risk" }}{{ $patterns = concat $patterns .images }}{{ end -}}
{{- end -}}
{{- $tail := list -}}
{{- $anchored := list -}}
{{- range $patterns -}}
{{- $kindAndRe := include "netdns-guard.patternRegex" . | splitList " " -}}
{{- if eq (first $kindAndRe) "tail" -}}
{{- $tail = append $tail (last $kindAndRe) -}}
{{- else -}}
{{- $anchored = append $anchored (last $kindAndRe) -}}
{{- end -}}
{{- end -}}
{{- $alts := list -}}
{{- if $tail }}{{ $alts = append $alts (printf "(?:[^@]*/)?(?:%s)" (join "|" (uniq $tail))) }}{{ end -}}
{{- $alts = concat $alts (uniq $anchored) -}}
{{- if $alts -}}
{{- printf "^(?:%s)(?::[^/@]*)?(?:@.*)?$" (join "|" $alts) | replace "\\" "\\\\" -}}
{{- end -}}
{{- end -}}

{{/* The matchConditions list (YAML). */}}
{{- define "netdns-guard.matchConditions" -}}
{{- $policy := .Values.policy | default dict -}}
{{- $candidate := list -}}
{{- $re := include "netdns-guard.imageRegex" . -}}
{{- if $re -}}
{{- $m := printf "has(c.image) && c.image.matches(%s)" (include "netdns-guard.celString" $re) -}}
{{- $candidate = append $candidate (printf "object.spec.containers.exists(c, %s)" $m) -}}
{{- $candidate = append $candidate (printf "(has(object.spec.initContainers) && object.spec.initContainers.exists(c, %s))" $m) -}}
{{- end -}}
{{- range (get $policy "selectors" | default list) -}}
{{- $candidate = append $candidate (include "netdns-guard.celSelector" .) -}}
{{- end -}}
{{- $policyMatch := "false" -}}
{{- if $candidate }}{{ $policyMatch = printf "(%s)" (join " || " $candidate) }}{{ end -}}
{{- $skipped := get $policy "skipNamespaces" | default list -}}
{{- if $skipped -}}
{{- $names := list -}}
{{- range $skipped }}{{ $names = append $names (include "netdns-guard.celString" .) }}{{ end -}}
{{- $policyMatch = printf "(!(request.namespace in [%s]) && %s)" (join ", " $names) $policyMatch -}}
{{- end -}}
- name: not-opted-out
  expression: {{ printf "!%s" (include "netdns-guard.celInjectIs" "false") | include "netdns-guard.yamlString" }}
- name: candidate-pod
  expression: {{ printf "%s || %s" (include "netdns-guard.celInjectIs" "true") $policyMatch | include "netdns-guard.yamlString" }}
{{- end -}}
