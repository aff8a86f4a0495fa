{{/*
Helpers for Deputy's chart. Templates render the same objects as
manifests/overlays/prod for equivalent values (test/charts/deputy.test.ts
compares them); names of Deputy's own objects are fixed, as there.
*/}}

{{/* Labels on every object (and, as kustomize's includeTemplates, on pod and claim templates). */}}
{{- define "deputy.labels" -}}
app.kubernetes.io/part-of: deputy
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
The three namespaces. Fixed: OpenBao's auth roles (manifests/openbao/roles.yaml)
bind each login to its service account's namespace.
*/}}
{{- define "deputy.agentNamespace" -}}deputy-agent{{- end }}
{{- define "deputy.systemNamespace" -}}deputy-system{{- end }}
{{- define "deputy.jitNamespace" -}}deputy-jit{{- end }}

{{/* The Deputy image, with the reason when it is not set. */}}
{{- define "deputy.image" -}}
{{- $repository := required "image.repository is required: where the Deputy image is (e.g. registry.example.com/platform/deputy)" .Values.image.repository -}}
{{- if .Values.image.digest -}}
{{ $repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ $repository }}:{{ required "image.tag (or image.digest) is required: the Deputy release to run (e.g. 0.1.0)" .Values.image.tag }}
{{- end -}}
{{- end }}

{{/* The cluster's name as Deputy shows it. */}}
{{- define "deputy.clusterName" -}}
{{ required "clusterName is required: the name Deputy shows in Slack and records in the audit log (e.g. production)" .Values.clusterName }}
{{- end }}

{{/* A workload's SPIFFE principal: <trust domain>/ns/<namespace>/sa/<account>. */}}
{{- define "deputy.principal" -}}
{{ .root.Values.istio.trustDomain }}/ns/{{ .namespace }}/sa/{{ .account }}
{{- end }}

{{/* In-cluster Service addresses. */}}
{{- define "deputy.mcpUrl" -}}
http://deputy-mcp.{{ include "deputy.systemNamespace" . }}.svc.cluster.local:8080/mcp
{{- end }}
{{- define "deputy.executorUrl" -}}
http://deputy-executor.{{ include "deputy.systemNamespace" . }}.svc.cluster.local:8081
{{- end }}
{{- define "deputy.redisHost" -}}
deputy-redis.{{ include "deputy.systemNamespace" . }}.svc.cluster.local
{{- end }}

{{/* OpenBao's port, from its address (the NetworkPolicies open it). */}}
{{- define "deputy.openbaoPort" -}}
{{- $url := urlParse .Values.openbao.address -}}
{{- $hostPort := splitList ":" $url.host -}}
{{- if gt (len $hostPort) 1 -}}
{{ last $hostPort }}
{{- else if eq $url.scheme "https" -}}
443
{{- else -}}
80
{{- end -}}
{{- end }}

{{/* KV v2 data path of Deputy's secrets, e.g. secret/data/deputy. */}}
{{- define "deputy.kvDataPath" -}}
{{ .Values.openbao.kvMount }}/data/deputy
{{- end }}

{{/*
Namespaces writes are always refused in: Istio's, OpenBao's and Deputy's own,
then the operator's additions (kube-* are added by Deputy itself).
*/}}
{{- define "deputy.protectedNamespaces" -}}
{{- $namespaces := list .Values.istio.namespace .Values.openbao.namespace (include "deputy.agentNamespace" .) (include "deputy.systemNamespace" .) (include "deputy.jitNamespace" .) -}}
{{- concat $namespaces .Values.protectedNamespaces | uniq | join "," -}}
{{- end }}

{{/* The writable namespaces, refused when empty or protected. */}}
{{- define "deputy.writableNamespaces" -}}
{{- if empty .Values.writableNamespaces -}}
{{- fail "writableNamespaces is required: list the namespaces Deputy may change (OpenBao gets a RoleBinding in each)" -}}
{{- end -}}
{{- $protected := concat (splitList "," (include "deputy.protectedNamespaces" .)) (list "kube-system" "kube-public" "kube-node-lease") -}}
{{- range .Values.writableNamespaces -}}
{{- if has . $protected -}}
{{- fail (printf "writableNamespaces must not name %q: it is a protected namespace (Deputy's own, Istio's, OpenBao's, kube-* or protectedNamespaces)" .) -}}
{{- end -}}
{{- end -}}
{{- join "," .Values.writableNamespaces -}}
{{- end }}

{{/* Who may approve, refused when nobody could. */}}
{{- define "deputy.checkApprovers" -}}
{{- if and (empty .Values.approvals.approvers) (empty .Values.approvals.approverGroup) -}}
{{- fail "approvals.approvers or approvals.approverGroup is required: with neither, nobody can approve a write" -}}
{{- end -}}
{{- end }}

{{/* The Redis URL every Deputy component reads, password from deputy-redis-auth. */}}
{{- define "deputy.redisEnv" -}}
- name: REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: deputy-redis-auth
      key: password
- name: REDIS_URL
  value: redis://deputy:$(REDIS_PASSWORD)@{{ include "deputy.redisHost" . }}:6379
{{- end }}

{{/* The pod security context of Deputy's own pods (the image's non-root user). */}}
{{- define "deputy.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* Every container: non-root, read-only root, no privilege escalation, no capabilities. */}}
{{- define "deputy.containerSecurityContext" -}}
runAsNonRoot: true
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* Istio: probes rewritten to the sidecar; the app starts after its proxy. */}}
{{- define "deputy.podAnnotations" -}}
sidecar.istio.io/rewriteAppHTTPProbers: "true"
proxy.istio.io/config: '{"holdApplicationUntilProxyStarts": true}'
{{- end }}

{{/* Spread replicas over nodes (hard) and zones (soft). */}}
{{- define "deputy.topologySpread" -}}
- maxSkew: 1
  topologyKey: kubernetes.io/hostname
  whenUnsatisfiable: DoNotSchedule
  labelSelector:
    matchLabels:
      app.kubernetes.io/name: {{ . }}
- maxSkew: 1
  topologyKey: topology.kubernetes.io/zone
  whenUnsatisfiable: ScheduleAnyway
  labelSelector:
    matchLabels:
      app.kubernetes.io/name: {{ . }}
{{- end }}

{{/* A projected token of audience "openbao", one hour: it only logs in to OpenBao. */}}
{{- define "deputy.openbaoTokenVolume" -}}
- name: openbao-token
  projected:
    defaultMode: 292 # 0444
    sources:
      - serviceAccountToken:
          path: token
          audience: openbao
          expirationSeconds: 3600
{{- end }}

{{/* In-memory /tmp (the root filesystem is read-only). */}}
{{- define "deputy.tmpVolume" -}}
- name: tmp
  emptyDir:
    medium: Memory
    sizeLimit: 64Mi
{{- end }}

{{/* imagePullSecrets, when any are named. */}}
{{- define "deputy.imagePullSecrets" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* A PodDisruptionBudget keeping all but one replica of a workload up. */}}
{{- define "deputy.pdb" -}}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ .name }}
  namespace: {{ .namespace }}
  labels:
    {{- include "deputy.labels" .root | nindent 4 }}
spec:
  maxUnavailable: 1
  selector:
    matchLabels:
      app.kubernetes.io/name: {{ .name }}
{{- end }}
