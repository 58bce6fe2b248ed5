{{/* Names, labels and the small pieces every template shares. */}}

{{- define "bright-smile.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "bright-smile.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Object name of a component: <fullname>-<component>. Call with (list $ "agent-worker"). */}}
{{- define "bright-smile.componentName" -}}
{{- $root := index . 0 -}}
{{- printf "%s-%s" (include "bright-smile.fullname" $root) (index . 1) -}}
{{- end -}}

{{- define "bright-smile.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels of every object. Call with (list $ "component"). */}}
{{- define "bright-smile.labels" -}}
{{- $root := index . 0 -}}
helm.sh/chart: {{ include "bright-smile.chart" $root }}
{{ include "bright-smile.selectorLabels" . }}
app.kubernetes.io/version: {{ $root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ $root.Release.Service }}
app.kubernetes.io/part-of: bright-smile
{{- with $root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Labels that pick a component's pods. Call with (list $ "component"). */}}
{{- define "bright-smile.selectorLabels" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: {{ include "bright-smile.name" $root }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "bright-smile.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "bright-smile.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Image reference of one of the project's images. Call with (list $ .Values.schedulingApi.image "scheduling-api"). */}}
{{- define "bright-smile.image" -}}
{{- $root := index . 0 -}}
{{- $image := index . 1 -}}
{{- $repository := default (printf "%s/%s" $root.Values.image.registry (index . 2)) $image.repository -}}
{{- printf "%s:%s" $repository (default $root.Chart.AppVersion $image.tag) -}}
{{- end -}}

{{- define "bright-smile.imagePullPolicy" -}}
{{- $root := index . 0 -}}
{{- default $root.Values.image.pullPolicy (index . 1).pullPolicy -}}
{{- end -}}

{{/*
Name of the Secret of a credentials group. Call with (list $ "livekit" .Values.secrets.livekit).
existingSecret wins; otherwise <fullname>-<group>, created by the chart when create is true.
*/}}
{{- define "bright-smile.secretName" -}}
{{- $root := index . 0 -}}
{{- $group := index . 2 -}}
{{- if and $group.existingSecret $group.create -}}
{{- fail (printf "secrets for %q: set either existingSecret or create, not both" (index . 1)) -}}
{{- end -}}
{{- default (printf "%s-%s" (include "bright-smile.fullname" $root) (index . 1)) $group.existingSecret -}}
{{- end -}}

{{/* An env var read from a Secret key. Call with (dict "name" "ENV" "secret" "name" "optional" false). */}}
{{- define "bright-smile.secretEnv" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ .secret }}
      key: {{ .name }}
      {{- if .optional }}
      optional: true
      {{- end }}
{{- end -}}

{{/* Extra env vars from a name -> value map, in a stable order (empty map: nothing). */}}
{{- define "bright-smile.envMap" -}}
{{- $env := list -}}
{{- range $name, $value := . -}}
{{- $env = append $env (dict "name" $name "value" (toString $value)) -}}
{{- end -}}
{{- if $env -}}
{{- toYaml $env -}}
{{- end -}}
{{- end -}}

{{- define "bright-smile.livekitSecretName" -}}
{{- include "bright-smile.secretName" (list . "livekit" .Values.secrets.livekit) -}}
{{- end -}}

{{- define "bright-smile.providersSecretName" -}}
{{- include "bright-smile.secretName" (list . "providers" .Values.secrets.providers) -}}
{{- end -}}

{{- define "bright-smile.schedulingSecretName" -}}
{{- include "bright-smile.secretName" (list . "scheduling" .Values.secrets.schedulingApi) -}}
{{- end -}}

{{- define "bright-smile.tokenKeysSecretName" -}}
{{- include "bright-smile.secretName" (list . "token-keys" .Values.secrets.tokenService) -}}
{{- end -}}

{{- define "bright-smile.redisSecretName" -}}
{{- if .Values.redis.enabled -}}
{{- include "bright-smile.secretName" (list . "redis-auth" .Values.redis.auth) -}}
{{- else -}}
{{- include "bright-smile.secretName" (list . "redis-url" .Values.externalRedis) -}}
{{- end -}}
{{- end -}}

{{/*
REDIS_URL for the services. Bundled Redis: built from the password Secret through
Kubernetes' $(VAR) expansion, so the password never appears in the pod spec.
External Redis: the whole URL comes from a Secret (it usually carries credentials).
*/}}
{{- define "bright-smile.redisEnv" -}}
{{- $host := include "bright-smile.componentName" (list . "redis") -}}
{{- if not .Values.redis.enabled -}}
{{ include "bright-smile.secretEnv" (dict "name" "REDIS_URL" "secret" (include "bright-smile.redisSecretName" .)) }}
{{- else if .Values.redis.auth.enabled -}}
{{ include "bright-smile.secretEnv" (dict "name" "REDIS_PASSWORD" "secret" (include "bright-smile.redisSecretName" .)) }}
- name: REDIS_URL
  value: {{ printf "redis://:$(REDIS_PASSWORD)@%s:6379/0" $host | quote }}
{{- else -}}
- name: REDIS_URL
  value: {{ printf "redis://%s:6379/0" $host | quote }}
{{- end -}}
{{- end -}}

{{/* Writable scratch space for a read-only root filesystem. */}}
{{- define "bright-smile.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ . }}
{{- end -}}

{{/* The NetworkPolicy peer (a one-item list) for Prometheus. */}}
{{- define "bright-smile.prometheusPeer" -}}
{{- $p := .Values.networkPolicy.prometheus -}}
{{- toYaml (list (dict "namespaceSelector" $p.namespaceSelector "podSelector" $p.podSelector)) -}}
{{- end -}}

{{/* The NetworkPolicy peer (a one-item list) for pods of a component. Call with (list $ "component"). */}}
{{- define "bright-smile.componentPeer" -}}
{{- $labels := include "bright-smile.selectorLabels" . | fromYaml -}}
{{- toYaml (list (dict "podSelector" (dict "matchLabels" $labels))) -}}
{{- end -}}

{{/* The clinic files as ConfigMap data: the chart's files/clinics/*.yaml plus clinics.extraFiles. */}}
{{- define "bright-smile.clinicFiles" -}}
{{- $files := dict -}}
{{- range $path, $_ := .Files.Glob "files/clinics/*.yaml" -}}
{{- $_ := set $files (base $path) ($.Files.Get $path) -}}
{{- end -}}
{{- range $name, $content := .Values.clinics.extraFiles -}}
{{- $_ := set $files $name $content -}}
{{- end -}}
{{- range $name, $content := $files }}
{{ $name }}: |
  {{- $content | trimSuffix "\n" | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Checksum of the clinic files, so editing a clinic rolls the pods that read it. */}}
{{- define "bright-smile.clinicsChecksum" -}}
{{- include "bright-smile.clinicFiles" . | sha256sum -}}
{{- end -}}

{{/* Pod-level settings shared by the project's Deployments. Call with (list $ .Values.<component>). */}}
{{- define "bright-smile.podCommon" -}}
{{- $root := index . 0 -}}
{{- $component := index . 1 -}}
serviceAccountName: {{ include "bright-smile.serviceAccountName" $root }}
automountServiceAccountToken: false
enableServiceLinks: false
securityContext:
  {{- toYaml $root.Values.podSecurityContext | nindent 2 }}
{{- with $root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $component.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with $component.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $component.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $component.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $component.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* redis.conf of the bundled Redis. */}}
{{- define "bright-smile.redisConf" -}}
port 6379
bind * -::*
{{- if not .Values.redis.auth.enabled }}
# No password: the NetworkPolicy admits only the scheduling API and token service.
protected-mode no
{{- end }}
dir /data
# Bookings live here: append-only file, fsynced per the chosen policy, never evicted.
appendonly yes
appendfsync {{ .Values.redis.appendfsync }}
aof-use-rdb-preamble yes
save ""
maxmemory {{ .Values.redis.maxmemory }}
maxmemory-policy noeviction
{{- end -}}
