{{/* The chart name, or nameOverride. */}}
{{- define "flotilla-spoke.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The name of the release's objects: fullnameOverride, else the release name when it
contains the chart name, else release-chart. */}}
{{- define "flotilla-spoke.fullname" -}}
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

{{- define "flotilla-spoke.selectorLabels" -}}
app.kubernetes.io/name: {{ include "flotilla-spoke.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "flotilla-spoke.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "flotilla-spoke.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: flotilla
{{- end }}

{{- define "flotilla-spoke.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "flotilla-spoke.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "flotilla-spoke.hubAccessName" -}}
{{- default (printf "%s-hub-access" (include "flotilla-spoke.fullname" .)) .Values.hubAccess.serviceAccountName }}
{{- end }}

{{/* The rules of the generated role of kind .kind in file .file (rbac/*.yaml, written by
`make manifests` from the binary's +kubebuilder:rbac markers). */}}
{{- define "flotilla-spoke.generatedRules" -}}
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

{{/* The settings file: the user's config with the ports and defaults the chart owns. */}}
{{- define "flotilla-spoke.config" -}}
{{- $cfg := deepCopy .Values.config }}
{{- range $k, $v := $cfg }}
{{- if or (eq $v nil) (eq (toString $v) "") }}
{{- $_ := unset $cfg $k }}
{{- end }}
{{- end }}
{{- if not (hasKey $cfg "credentials-namespace") }}
{{- $_ := set $cfg "credentials-namespace" .Release.Namespace }}
{{- end }}
{{- $_ := set $cfg "metrics-bind-address" (printf ":%d" (int .Values.metrics.port)) }}
{{- $_ := set $cfg "health-probe-bind-address" (printf ":%d" (int .Values.health.port)) }}
{{- toYaml $cfg }}
{{- end }}
