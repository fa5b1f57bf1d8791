{{/* Names and labels shared by every template. */}}

{{- define "crashloop-bot.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The release's base name: "crashloop-bot" for a release named crashloop-bot (the Kustomize names). */}}
{{- define "crashloop-bot.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "crashloop-bot.selectorLabels" -}}
app.kubernetes.io/name: {{ include "crashloop-bot.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: bot
{{- end -}}

{{- define "crashloop-bot.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "crashloop-bot.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: crashloop-bot
{{- end -}}

{{- define "crashloop-bot.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "crashloop-bot.postgresql" -}}
{{- if eq .Values.database.type "postgresql" -}}true{{- end -}}
{{- end -}}

{{/* crashloop.yaml: the `config` value plus the Lease this release's RBAC allows. */}}
{{- define "crashloop-bot.config" -}}
{{- $config := deepCopy .Values.config -}}
{{- $lease := dict "namespace" .Release.Namespace "lease_name" .Values.leaderElection.leaseName -}}
{{- $_ := set $config "leader_election" (mergeOverwrite (default (dict) (get $config "leader_election")) $lease) -}}
{{- toYaml $config -}}
{{- end -}}

{{/* The namespaces of config.environments, sorted and without repeats, as a JSON list. */}}
{{- define "crashloop-bot.environmentNamespaces" -}}
{{- $namespaces := list -}}
{{- range $name, $env := .Values.config.environments -}}
{{- $namespaces = concat $namespaces (default (list) $env.namespaces) -}}
{{- end -}}
{{- $namespaces | uniq | sortAlpha | toJson -}}
{{- end -}}

{{/* The username the API server gives requests made with this release's ServiceAccount token. */}}
{{- define "crashloop-bot.username" -}}
{{- printf "system:serviceaccount:%s:%s" .Release.Namespace (include "crashloop-bot.fullname" .) -}}
{{- end -}}
