{{/*
RBAC and Job spec of the certificate jobs (certs.mode=self): the install/upgrade hooks
and the rotation CronJob run the same `netdns-guard certs --in-cluster` command with the
same least-privilege rights.
*/}}

{{/* Secrets: create (cannot be narrowed by resourceNames: the name is not known to
the authorizer before the object exists), and get/update/patch of the two Secrets only. */}}
{{- define "netdns-guard.certgenSecretRules" -}}
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["create"]
- apiGroups: [""]
  resources: ["secrets"]
  resourceNames:
    - {{ include "netdns-guard.caSecretName" . | quote }}
    - {{ include "netdns-guard.tlsSecretName" . | quote }}
  verbs: ["get", "update", "patch"]
{{- end -}}

{{/* The chart's own MutatingWebhookConfiguration: read it and patch its caBundle. */}}
{{- define "netdns-guard.certgenWebhookRules" -}}
- apiGroups: ["admissionregistration.k8s.io"]
  resources: ["mutatingwebhookconfigurations"]
  resourceNames:
    - {{ include "netdns-guard.webhookConfigurationName" . | quote }}
  verbs: ["get", "patch"]
{{- end -}}

{{/* Job spec; call with (dict "ctx" $ "sa" SERVICE_ACCOUNT). */}}
{{- define "netdns-guard.certgenJobSpec" -}}
{{- $ctx := .ctx -}}
backoffLimit: {{ $ctx.Values.certs.self.backoffLimit }}
activeDeadlineSeconds: {{ $ctx.Values.certs.self.activeDeadlineSeconds }}
template:
  metadata:
    labels:
      {{- include "netdns-guard.labels" $ctx | nindent 6 }}
      app.kubernetes.io/component: certgen
  spec:
    serviceAccountName: {{ .sa }}
    # This job talks to the Kubernetes API (Secrets, the webhook configuration).
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
      - name: certgen
        image: {{ include "netdns-guard.image" $ctx | quote }}
        imagePullPolicy: {{ $ctx.Values.image.pullPolicy }}
        args:
          {{- include "netdns-guard.certsArgs" $ctx | nindent 10 }}
        resources:
          {{- toYaml $ctx.Values.certs.self.resources | nindent 10 }}
        securityContext:
          {{- include "netdns-guard.containerSecurityContext" $ctx | nindent 10 }}
    {{- with $ctx.Values.nodeSelector }}
    nodeSelector:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- with $ctx.Values.tolerations }}
    tolerations:
      {{- toYaml . | nindent 6 }}
    {{- end }}
{{- end -}}
