{{- define "admission.name" -}}
gardener-extension-admission-shoot-flux
{{- end -}}

{{- define "admission.labels" -}}
app.kubernetes.io/name: {{ include "admission.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "admission.image" -}}
{{- $image := .Values.global.image -}}
{{- if $image.digest -}}
{{ $image.repository }}@{{ $image.digest }}
{{- else -}}
{{ $image.repository }}:{{ default .Chart.AppVersion $image.tag }}
{{- end -}}
{{- end -}}

{{- define "admission.priorityClassName" -}}
{{- default .Values.priorityClassName .Values.gardener.runtimeCluster.priorityClassName -}}
{{- end -}}
