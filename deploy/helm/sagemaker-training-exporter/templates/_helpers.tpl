{{/*
Expand the name of the chart.
*/}}
{{- define "sagemaker-training-exporter.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
A fully qualified app name, truncated at 63 characters (the DNS label limit).
If the release name contains the chart name it is used as the full name.
*/}}
{{- define "sagemaker-training-exporter.fullname" -}}
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

{{/*
Chart name and version, for the helm.sh/chart label.
*/}}
{{- define "sagemaker-training-exporter.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Selector labels: never change them on an installed release (selectors are immutable).
*/}}
{{- define "sagemaker-training-exporter.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sagemaker-training-exporter.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Common labels.
*/}}
{{- define "sagemaker-training-exporter.labels" -}}
helm.sh/chart: {{ include "sagemaker-training-exporter.chart" . }}
{{ include "sagemaker-training-exporter.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: sagemaker-training-exporter
{{- end }}

{{/*
The ServiceAccount the pods run as.
*/}}
{{- define "sagemaker-training-exporter.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "sagemaker-training-exporter.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The image reference.
*/}}
{{- define "sagemaker-training-exporter.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/*
Where the ConfigMap (config) and the Secret (webConfig) are mounted.
*/}}
{{- define "sagemaker-training-exporter.configFile" -}}/etc/sagemaker-exporter/config/config.yaml{{- end }}
{{- define "sagemaker-training-exporter.webConfigFile" -}}/etc/sagemaker-exporter/web/web.yml{{- end }}

{{/*
The exporter's command line: the typed `exporter` values, then the files, then extraArgs.
Flags beat the config file (flags > SAGEMAKER_EXPORTER_* environment > --config), so a setting
given both ways is refused here instead of the config file's value being ignored silently.
*/}}
{{- define "sagemaker-training-exporter.args" -}}
{{- $e := .Values.exporter }}
{{- $byFlag := dict "region" $e.regions "poll-interval" $e.pollInterval "retention" $e.retention "tag-labels" $e.tagLabels }}
{{- range $flag, $value := $byFlag }}
{{- if and $value (or (hasKey $.Values.config $flag) (hasKey $.Values.config ($flag | replace "-" "_"))) }}
{{- fail (printf "config.%s is overridden by the --%s flag that the exporter values render: set the exporter value to null (or []) to let the config file decide" $flag $flag) }}
{{- end }}
{{- end }}
{{- range $e.regions }}
- --region={{ . }}
{{- end }}
{{- with $e.pollInterval }}
- --poll-interval={{ . }}
{{- end }}
{{- with $e.retention }}
- --retention={{ . }}
{{- end }}
{{- with $e.tagLabels }}
- --tag-labels={{ join "," . }}
{{- end }}
{{- if .Values.config }}
- --config={{ include "sagemaker-training-exporter.configFile" . }}
{{- end }}
{{- if .Values.webConfig }}
- --web-config-file={{ include "sagemaker-training-exporter.webConfigFile" . }}
{{- end }}
{{- range .Values.extraArgs }}
- {{ . | quote }}
{{- end }}
{{- end }}

{{/*
The probes' handler. /healthz and /readyz never ask for basic auth; with TLS on (webConfig has
tls_server_config) the kubelet probes over HTTPS, and when client certificates are required
it cannot complete the handshake at all, so the probes fall back to a TCP connect.
*/}}
{{- define "sagemaker-training-exporter.probeHandler" -}}
{{- $tls := (.root.Values.webConfig | default dict).tls_server_config }}
{{- if and $tls (eq (toString $tls.client_auth_type) "RequireAndVerifyClientCert") }}
tcpSocket:
  port: metrics
{{- else }}
httpGet:
  path: {{ .path }}
  port: metrics
  {{- if $tls }}
  scheme: HTTPS
  {{- end }}
{{- end }}
{{- end }}
