{{/*
Names, RBAC and Job spec of the optional remediation jobs (remediate.onInstall: a
post-install/post-upgrade hook Job; remediate.cronJob.enabled: a CronJob). Both run
`netdns-guard remediate` with the same least-privilege rights (src/cluster/, checked
rule by rule by tests/cluster_remediate.rs).
*/}}

{{/*
<fullname>-remediate, with the full name cut to 38 characters so that the longest
derived name (<name>-hook-endpoints) stays within 63 and the CronJob's within 52.
*/}}
{{- define "netdns-guard.remediateName" -}}
{{- printf "%s-remediate" (include "netdns-guard.fullname" . | trunc 38 | trimSuffix "-") -}}
{{- end -}}

{{/* The release namespace and webhook.excludeNamespaces never reach the webhook:
restarting pods there cannot fix them. */}}
{{- define "netdns-guard.remediateValidate" -}}
{{- $ns := .Values.remediate.namespace -}}
{{- if and $ns (or (eq $ns .Release.Namespace) (has $ns .Values.webhook.excludeNamespaces)) -}}
{{- fail (printf "remediate.namespace %q is excluded from the webhook (the release namespace or webhook.excludeNamespaces): restarted pods would come back without the fix" $ns) -}}
{{- end -}}
{{- end -}}

{{/*
Owner chains, rollout status and the restart annotation, in remediate.namespace (a
Role) or in every namespace (a ClusterRole). delete on pods only with allowDelete
(OnDelete DaemonSets/StatefulSets). No list but pods, no watch, no pods/log.
*/}}
{{- define "netdns-guard.remediateWorkloadRules" -}}
- apiGroups: [""]
  resources: ["pods"]
  verbs: {{ ternary (list "get" "list" "delete") (list "get" "list") .Values.remediate.allowDelete | toJson }}
- apiGroups: [""]
  resources: ["replicationcontrollers"]
  verbs: ["get"]
- apiGroups: ["apps"]
  resources: ["replicasets"]
  verbs: ["get"]
- apiGroups: ["apps"]
  resources: ["deployments", "daemonsets", "statefulsets"]
  verbs: ["get", "patch"]
- apiGroups: ["batch"]
  resources: ["jobs", "cronjobs"]
  verbs: ["get"]
{{- end -}}

{{/* Is the webhook installed: read the chart's own configuration, by name. */}}
{{- define "netdns-guard.remediateWebhookRules" -}}
- apiGroups: ["admissionregistration.k8s.io"]
  resources: ["mutatingwebhookconfigurations"]
  resourceNames:
    - {{ include "netdns-guard.webhookConfigurationName" . | quote }}
  verbs: ["get"]
{{- end -}}

{{/* Is it serving: the Service's EndpointSlices in the release namespace (list with
a label selector; resourceNames cannot narrow a list). */}}
{{- define "netdns-guard.remediateEndpointRules" -}}
- apiGroups: ["discovery.k8s.io"]
  resources: ["endpointslices"]
  verbs: ["list"]
{{- end -}}

{{/* The remediate command line (flags of `netdns-guard remediate --help`). */}}
{{- define "netdns-guard.remediateArgs" -}}
{{- $r := .Values.remediate -}}
- remediate
{{- if $r.namespace }}
- --namespace
- {{ $r.namespace | quote }}
{{- else }}
- --all-namespaces
{{- end }}
- --config
- /config/policy.yaml
- --webhook-configuration
- {{ include "netdns-guard.webhookConfigurationName" . | quote }}
- --wait-for-webhook
- {{ $r.waitForWebhook | quote }}
- --max-parallel
- {{ $r.maxParallel | quote }}
- --timeout
- {{ $r.timeout | quote }}
{{- if $r.allowDelete }}
- --allow-delete
{{- end }}
- {{ printf "--fail-on-unfixed=%t" $r.failOnUnfixed | quote }}
{{- range $r.extraArgs }}
- {{ . | quote }}
{{- end }}
{{- end -}}

{{/* Job spec; call with (dict "ctx" $ "sa" SERVICE_ACCOUNT). */}}
{{- define "netdns-guard.remediateJobSpec" -}}
{{- $ctx := .ctx -}}
{{- $r := $ctx.Values.remediate -}}
backoffLimit: {{ $r.backoffLimit }}
activeDeadlineSeconds: {{ $r.activeDeadlineSeconds }}
# Keeps the report (`kubectl logs job/...`) for a day.
ttlSecondsAfterFinished: 86400
template:
  metadata:
    labels:
      {{- include "netdns-guard.labels" $ctx | nindent 6 }}
      app.kubernetes.io/component: remediate
  spec:
    serviceAccountName: {{ .sa }}
    # This job talks to the Kubernetes API (workloads, the webhook configuration).
    automountServiceAccountToken: true
    enableServiceLinks: false
    restartPolicy: Never
    {{- with $ctx.Values.imagePullSecrets }}
    imagePullSecrets:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    securityContext:
      {{- include "netdns-guard.podSecurityContext" $ctx | nindent 6 }}
    containers:
      - name: remediate
        image: {{ include "netdns-guard.image" $ctx | quote }}
        imagePullPolicy: {{ $ctx.Values.image.pullPolicy }}
        args:
          {{- include "netdns-guard.remediateArgs" $ctx | nindent 10 }}
        resources:
          {{- toYaml $r.resources | nindent 10 }}
        securityContext:
          {{- include "netdns-guard.containerSecurityContext" $ctx | nindent 10 }}
        volumeMounts:
          # The webhook's own policy, so that verdicts match what it does.
          - name: config
            mountPath: /config
            readOnly: true
    volumes:
      - name: config
        configMap:
          name: {{ include "netdns-guard.fullname" $ctx }}-policy
          defaultMode: 288 # 0440
    {{- with $ctx.Values.nodeSelector }}
    nodeSelector:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- with $ctx.Values.tolerations }}
    tolerations:
      {{- toYaml . | nindent 6 }}
    {{- end }}
{{- end -}}
