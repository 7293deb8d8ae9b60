{{/* The chart name, or nameOverride. */}}
{{- define "flotilla-hub.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The name of the release's objects: fullnameOverride, else the release name when it
contains the chart name, else release-chart. */}}
{{- define "flotilla-hub.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "flotilla-hub.selectorLabels" -}}
app.kubernetes.io/name: {{ include "flotilla-hub.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "flotilla-hub.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "flotilla-hub.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: flotilla
{{- end }}

{{- define "flotilla-hub.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "flotilla-hub.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The rules of the generated role of kind .kind in file .file (rbac/*.yaml, written by
`make manifests` from the binary's +kubebuilder:rbac markers). */}}
{{- define "flotilla-hub.generatedRules" -}}
{{- $rules := list }}
{{- $kind := .kind }}
{{- range $doc := splitList "---" (.root.Files.Get .file) }}
{{- $role := fromYaml $doc }}
{{- if eq (get $role "kind") $kind }}
{{- $rules = concat $rules $role.rules }}
{{- end }}
{{- end }}
{{- if not $rules }}
{{- fail (printf "%s holds no %s: run make manifests" .file .kind) }}
{{- end }}
{{- toYaml $rules }}
{{- end }}

{{/* The headless Service that gives each replica its stable raft address. */}}
{{- define "flotilla-hub.raftService" -}}
{{- printf "%s-raft" (include "flotilla-hub.fullname" .) }}
{{- end }}

{{/* The namespace of the member kubeconfig Secrets. */}}
{{- define "flotilla-hub.memberNamespace" -}}
{{- default .Release.Namespace (get .Values.config "member-namespace") }}
{{- end }}

{{/* The settings file: the user's config with the raft layout, ports and defaults the chart
owns. raft-id and raft-advertise-address differ per replica and come from the environment. */}}
{{- define "flotilla-hub.config" -}}
{{- $cfg := deepCopy .Values.config }}
{{- range $k, $v := $cfg }}
{{- if or (eq $v nil) (eq (toString $v) "") }}
{{- $_ := unset $cfg $k }}
{{- end }}
{{- end }}
{{- $_ := set $cfg "member-namespace" (include "flotilla-hub.memberNamespace" .) }}
{{- $_ := set $cfg "metrics-bind-address" (printf ":%d" (int .Values.metrics.port)) }}
{{- $_ := set $cfg "health-probe-bind-address" (printf ":%d" (int .Values.health.port)) }}
{{- $_ := set $cfg "raft-bind-address" (printf "0.0.0.0:%d" (int .Values.raft.port)) }}
{{- $_ := set $cfg "raft-data-dir" "/var/lib/flotilla/raft" }}
{{- $_ := set $cfg "raft-tls-ca" "/etc/flotilla/raft-tls/ca.crt" }}
{{- $_ := set $cfg "raft-tls-cert" "/etc/flotilla/raft-tls/tls.crt" }}
{{- $_ := set $cfg "raft-tls-key" "/etc/flotilla/raft-tls/tls.key" }}
{{- $replicas := int .Values.replicas }}
{{- if lt $replicas 1 }}
{{- fail "replicas must be 1 or more" }}
{{- end }}
{{- $bootstrap := int .Values.raft.bootstrapReplicas }}
{{- if lt $bootstrap 1 }}
{{- fail "raft.bootstrapReplicas must be 1 or more" }}
{{- end }}
{{- if lt $replicas $bootstrap }}
{{- fail (printf "replicas (%d) is less than raft.bootstrapReplicas (%d): set raft.bootstrapReplicas to the number of replicas the raft group was installed with (1 for a single replica) and keep it; to scale below it, remove the peers first (flotilla-hub raft remove-peer) and lower both" $replicas $bootstrap) }}
{{- end }}
{{- /* The first bootstrapReplicas pods bootstrap the group from raft-peers; every other pod
joins it through raft-join. Both lists are the same for every pod, and stay the same when
replicas changes, so scaling restarts no running replica. */}}
{{- $peers := list }}
{{- $join := list }}
{{- range $i := until $bootstrap }}
{{- $id := printf "%s-%d" (include "flotilla-hub.fullname" $) $i }}
{{- $addr := printf "%s.%s.%s.svc:%d" $id (include "flotilla-hub.raftService" $) $.Release.Namespace (int $.Values.raft.port) }}
{{- $peers = append $peers (printf "%s=%s" $id $addr) }}
{{- $join = append $join $addr }}
{{- end }}
{{- $_ := set $cfg "raft-peers" $peers }}
{{- $_ := set $cfg "raft-join" $join }}
{{- toYaml $cfg }}
{{- end }}
