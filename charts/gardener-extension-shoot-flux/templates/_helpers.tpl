{{- define "shoot-flux.name" -}}
gardener-extension-shoot-flux
{{- end -}}

{{- define "shoot-flux.labels" -}}
app.kubernetes.io/name: {{ include "shoot-flux.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "shoot-flux.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ default .Chart.AppVersion .Values.image.tag }}
{{- end -}}
{{- end -}}

{{- define "shoot-flux.priorityClassName" -}}
{{- if .Values.gardener.runtimeCluster.enabled -}}
{{ .Values.gardener.runtimeCluster.priorityClassName }}
{{- else -}}
{{ .Values.priorityClassName }}
{{- end -}}
{{- end -}}

{{- define "shoot-flux.clusterRoleName" -}}
extensions.gardener.cloud:{{ include "shoot-flux.name" . }}
{{- end -}}

{{- /* The labels of every alert: severity, Gardener's topology, and the seed when gardenlet
passed its name. Called with (dict "root" $ "severity" "<severity>"). */ -}}
{{- define "shoot-flux.alertLabels" -}}
severity: {{ .severity }}
topology: seed
{{- with .root.Values.gardener.seed.name }}
seed: {{ . }}
{{- end }}
{{- end -}}

{{- /* The shoots not synced, with labels namespace (the shoot's) and project. A scrape through
prometheus-operator's PodMonitor sets the target label namespace (the extension's namespace) and
keeps the series' own as exported_namespace: the shoot's namespace is taken from there when it
is set. */ -}}
{{- define "shoot-flux.notSynced" -}}
max without (exported_namespace) (label_replace(label_replace(shoot_flux_sync_ready == 0, "namespace", "$1", "exported_namespace", "(.+)"), "project", "$1", "namespace", "shoot--(.+?)--.+"))
{{- end -}}
