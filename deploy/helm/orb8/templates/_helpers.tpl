{{- define "orb8.labels" -}}
app.kubernetes.io/name: orb8
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}

{{- define "orb8.selectorLabels" -}}
app.kubernetes.io/name: orb8
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}
