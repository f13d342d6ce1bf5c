{{/* The chart's name. */}}
{{- define "kga.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Object names: the release name when it already contains the chart name (so `helm install
kube-garbage-audit` yields the kustomize names and job="kube-garbage-audit"), else release-chart. */}}
{{- define "kga.fullname" -}}
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

{{- define "kga.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "kga.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "kga.labels" -}}
app.kubernetes.io/name: {{ include "kga.name" . }}
app.kubernetes.io/part-of: kube-garbage-audit
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* What the Service, ServiceMonitor and NetworkPolicy select: the daemon's pods. */}}
{{- define "kga.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kga.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: auditor
{{- end }}

{{- define "kga.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* True (non-empty) when remediation is on (dry-run or enforce). */}}
{{- define "kga.remediating" -}}
{{- $mode := toString .Values.remediation.mode }}
{{- if not (has $mode (list "off" "dry-run" "enforce")) }}
{{- fail (printf "remediation.mode must be off, dry-run or enforce (got %q)" $mode) }}
{{- end }}
{{- if ne $mode "off" }}true{{ end }}
{{- end }}

{{/* `run` and one --flag=value per set value. */}}
{{- define "kga.args" -}}
- run
{{- $c := .Values.config }}
{{- range $flag, $key := dict "interval" "interval" "stuck-after" "stuckAfter" "owner-resources" "ownerResources" "request-timeout" "requestTimeout" "log-level" "logLevel" }}
{{- $v := index $c $key }}
{{- if and (not (kindIs "invalid" $v)) (ne (toString $v) "") }}
- {{ printf "--%s=%v" $flag $v | quote }}
{{- end }}
{{- end }}
{{- if $c.stuckObjects }}
- --stuck-objects
{{- end }}
{{- range $flag, $key := dict "max-object-series" "maxObjectSeries" "concurrency" "concurrency" "qps" "qps" "burst" "burst" "page-size" "pageSize" }}
{{- $v := index $c $key }}
{{- if not (kindIs "invalid" $v) }}
- {{ printf "--%s=%v" $flag $v | quote }}
{{- end }}
{{- end }}
{{- if $c.logFormat }}
- {{ printf "--log-format=%s" $c.logFormat | quote }}
{{- end }}
{{- if include "kga.remediating" . }}
{{- $r := .Values.remediation }}
- {{ printf "--remediation=%s" $r.mode | quote }}
{{- range $flag, $key := dict "remediation-actions" "actions" "remediation-finalizers" "finalizers" "remediation-namespaces" "namespaces" "remediation-exclude-namespaces" "excludeNamespaces" }}
{{- with index $r $key }}
- {{ printf "--%s=%s" $flag (join "," .) | quote }}
{{- end }}
{{- end }}
{{- range $flag, $key := dict "remediation-min-rounds" "minRounds" "remediation-max-per-round" "maxPerRound" "remediation-max-per-hour" "maxPerHour" "remediation-halt-above" "haltAbove" }}
{{- $v := index $r $key }}
{{- if not (kindIs "invalid" $v) }}
- {{ printf "--%s=%v" $flag $v | quote }}
{{- end }}
{{- end }}
{{- range $r.extraArgs }}
- {{ . | quote }}
{{- end }}
{{- end }}
{{- range .Values.extraArgs }}
- {{ . | quote }}
{{- end }}
{{- end }}
