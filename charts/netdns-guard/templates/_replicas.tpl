{{/*
How many webhook server replicas there are at least: autoscaling.minReplicas when the
HorizontalPodAutoscaler owns the count, else replicaCount. The PodDisruptionBudget is
judged against this floor.
*/}}
{{- define "netdns-guard.replicaFloor" -}}
{{- if .Values.autoscaling.enabled -}}
{{- int .Values.autoscaling.minReplicas -}}
{{- else -}}
{{- int .Values.replicaCount -}}
{{- end -}}
{{- end -}}

{{/*
Refuses autoscaling values that would break the webhook's availability. The schema
says the same where it can (minReplicas >= 2 with a PDB); these also cover
--skip-schema-validation and the rules a schema cannot state (comparisons).
*/}}
{{- define "netdns-guard.validateAutoscaling" -}}
{{- $a := .Values.autoscaling -}}
{{- if $a.enabled -}}
{{- if and .Values.podDisruptionBudget.enabled (lt (int $a.minReplicas) 2) -}}
{{- fail (printf "autoscaling.minReplicas is %d: with podDisruptionBudget.enabled it must be at least 2, or the budget would forbid evicting the only replica and block every node drain" (int $a.minReplicas)) -}}
{{- end -}}
{{- if lt (int $a.maxReplicas) (int $a.minReplicas) -}}
{{- fail (printf "autoscaling.maxReplicas (%d) is below autoscaling.minReplicas (%d)" (int $a.maxReplicas) (int $a.minReplicas)) -}}
{{- end -}}
{{- if not (dig "requests" "cpu" "" .Values.resources) -}}
{{- fail "autoscaling.enabled needs resources.requests.cpu: the autoscaler's CPU target is a percentage of it" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
Refuses a PodDisruptionBudget that allows no eviction at the replica floor: it would
block every node drain (and cluster upgrade) instead of protecting the webhook.
*/}}
{{- define "netdns-guard.validatePodDisruptionBudget" -}}
{{- $pdb := .Values.podDisruptionBudget -}}
{{- $floor := int (include "netdns-guard.replicaFloor" .) -}}
{{- $max := toString $pdb.maxUnavailable -}}
{{- $min := toString $pdb.minAvailable -}}
{{- /* As pdb.yaml: an empty or zero maxUnavailable leaves minAvailable in charge. */ -}}
{{- if $pdb.maxUnavailable -}}
{{- if or (eq $max "0") (eq $max "0%") -}}
{{- fail (printf "podDisruptionBudget.maxUnavailable is %s: no replica could ever be evicted and node drains would block" $max) -}}
{{- end -}}
{{- else if eq $min "100%" -}}
{{- fail "podDisruptionBudget.minAvailable is 100%: no replica could ever be evicted and node drains would block" -}}
{{- else if and (not (hasSuffix "%" $min)) (ge (atoi $min) $floor) -}}
{{- fail (printf "podDisruptionBudget.minAvailable (%s) must be below the replica count (%d, %s): otherwise no replica could ever be evicted and node drains would block" $min $floor (ternary "autoscaling.minReplicas" "replicaCount" .Values.autoscaling.enabled)) -}}
{{- end -}}
{{- end -}}
