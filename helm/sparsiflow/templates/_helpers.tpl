{{/*
Chart name, truncated to the 63 characters Kubernetes allows in names.
*/}}
{{- define "sparsiflow.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name: the release name when it already contains the chart name, else
"<release>-<chart>", truncated to 63 characters.
*/}}
{{- define "sparsiflow.fullname" -}}
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
Chart name and version for the helm.sh/chart label.
*/}}
{{- define "sparsiflow.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels of every object.
*/}}
{{- define "sparsiflow.labels" -}}
helm.sh/chart: {{ include "sparsiflow.chart" . }}
{{ include "sparsiflow.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/component: worker
app.kubernetes.io/part-of: sparsiflow
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
Selector labels: stable across upgrades.
*/}}
{{- define "sparsiflow.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sparsiflow.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Name of the service account the worker runs as.
*/}}
{{- define "sparsiflow.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "sparsiflow.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Worker image: the CUDA variant (tag suffix) when the GPU is enabled.
*/}}
{{- define "sparsiflow.image" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion }}
{{- if .Values.gpu.enabled }}
{{- $tag = printf "%s%s" $tag .Values.gpu.imageTagSuffix }}
{{- end }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}

{{/*
Secret holding the SASL credentials: the user's existing one, or the chart's.
*/}}
{{- define "sparsiflow.saslSecretName" -}}
{{- .Values.kafka.sasl.existingSecret | default (printf "%s-sasl" (include "sparsiflow.fullname" .)) }}
{{- end }}

{{/*
Whether the worker authenticates with SASL.
*/}}
{{- define "sparsiflow.sasl" -}}
{{- if hasPrefix "SASL" .Values.kafka.securityProtocol }}true{{ end }}
{{- end }}

{{/*
Whether Kafka TLS files are mounted from kafka.tls.existingSecret; fails on an inconsistent
kafka.tls (a protocol without TLS, a certificate without its key, nothing selected).
*/}}
{{- define "sparsiflow.tls" -}}
{{- $tls := .Values.kafka.tls }}
{{- if $tls.existingSecret }}
{{- if not (has .Values.kafka.securityProtocol (list "SSL" "SASL_SSL")) }}
{{- fail (printf "kafka.tls.existingSecret needs kafka.securityProtocol SSL or SASL_SSL, not %s" .Values.kafka.securityProtocol) }}
{{- end }}
{{- if ne (empty $tls.certKey) (empty $tls.keyKey) }}
{{- fail "kafka.tls.certKey and kafka.tls.keyKey go together (the client certificate and its key, for mTLS)" }}
{{- end }}
{{- if and $tls.keyPasswordKey (not $tls.keyKey) }}
{{- fail "kafka.tls.keyPasswordKey needs kafka.tls.keyKey" }}
{{- end }}
{{- if and (not $tls.caKey) (not $tls.certKey) }}
{{- fail "kafka.tls.existingSecret needs kafka.tls.caKey and/or kafka.tls.certKey with keyKey" }}
{{- end -}}
true
{{- end }}
{{- end }}
