{{/* Names and labels. */}}

{{- define "orderstate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "orderstate.fullname" -}}
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

{{- define "orderstate.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "orderstate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: orderstate
{{- end -}}

{{/* Selector labels of one component: include "orderstate.selectorLabels" (list . "worker") */}}
{{- define "orderstate.selectorLabels" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: {{ include "orderstate.name" $root }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "orderstate.componentLabels" -}}
{{ include "orderstate.labels" (index . 0) }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "orderstate.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "orderstate.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "orderstate.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* The largest worker count KEDA may reach: worker.keda.maxReplicas, 0 meaning partitions. */}}
{{- define "orderstate.workerMaxReplicas" -}}
{{- $max := int .Values.worker.keda.maxReplicas -}}
{{- if eq $max 0 -}}{{- $max = int .Values.kafka.partitions -}}{{- end -}}
{{- $max -}}
{{- end -}}

{{/*
Checks that no template can express: a wrong combination fails `helm install` with a message
that says what to change, instead of pods that crash later.
*/}}
{{- define "orderstate.validate" -}}
{{- $v := .Values -}}
{{- if not $v.kafka.bootstrapServers -}}
{{- fail "kafka.bootstrapServers is required: the Kafka bootstrap servers, e.g. my-cluster-kafka-bootstrap.kafka:9093" -}}
{{- end -}}
{{- if lt (int $v.kafka.partitions) 1 -}}
{{- fail "kafka.partitions must be at least 1: the partition count of each inbound topic" -}}
{{- end -}}
{{- if gt (int $v.worker.replicas) (int $v.kafka.partitions) -}}
{{- fail (printf "worker.replicas=%d exceeds kafka.partitions=%d: a consumer group gives each partition to one worker, so workers beyond the partition count sit idle and only add rebalances. Add partitions to both inbound topics first (see values.yaml, worker.replicas)." (int $v.worker.replicas) (int $v.kafka.partitions)) -}}
{{- end -}}
{{- if $v.worker.keda.enabled -}}
{{- $max := int (include "orderstate.workerMaxReplicas" .) -}}
{{- if gt $max (int $v.kafka.partitions) -}}
{{- fail (printf "worker.keda.maxReplicas=%d exceeds kafka.partitions=%d: KEDA must not scale the worker beyond the partition count (see values.yaml, worker.replicas)." $max (int $v.kafka.partitions)) -}}
{{- end -}}
{{- if gt (int $v.worker.keda.minReplicas) $max -}}
{{- fail (printf "worker.keda.minReplicas=%d is above the maximum %d" (int $v.worker.keda.minReplicas) $max) -}}
{{- end -}}
{{- end -}}
{{- if and $v.monitor.enabled (gt (int $v.monitor.replicas) (int $v.kafka.partitions)) -}}
{{- fail (printf "monitor.replicas=%d exceeds kafka.partitions=%d: the monitor is a consumer group like the worker, so monitors beyond the partition count sit idle." (int $v.monitor.replicas) (int $v.kafka.partitions)) -}}
{{- end -}}
{{- $protocol := $v.kafka.securityProtocol -}}
{{- if not (has $protocol (list "PLAINTEXT" "SSL" "SASL_PLAINTEXT" "SASL_SSL")) -}}
{{- fail (printf "kafka.securityProtocol=%s: use PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL" $protocol) -}}
{{- end -}}
{{- if hasPrefix "SASL_" $protocol -}}
{{- if not (has $v.kafka.sasl.mechanism (list "PLAIN" "SCRAM-SHA-256" "SCRAM-SHA-512")) -}}
{{- fail (printf "kafka.sasl.mechanism=%s: use PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512" $v.kafka.sasl.mechanism) -}}
{{- end -}}
{{- if not $v.kafka.sasl.existingSecret -}}
{{- fail (printf "kafka.securityProtocol=%s needs kafka.sasl.existingSecret: the Secret with the SASL password" $protocol) -}}
{{- end -}}
{{- if and (not $v.kafka.sasl.username) (not $v.kafka.sasl.usernameKey) -}}
{{- fail (printf "kafka.securityProtocol=%s needs kafka.sasl.username (or usernameKey in the Secret)" $protocol) -}}
{{- end -}}
{{- end -}}
{{- if and (or $v.kafka.tls.caSecret $v.kafka.tls.clientSecret) (not (has $protocol (list "SSL" "SASL_SSL"))) -}}
{{- fail (printf "kafka.tls.* is set but kafka.securityProtocol=%s does not use TLS: choose SSL or SASL_SSL" $protocol) -}}
{{- end -}}
{{- if eq $v.environment "production" -}}
{{- if not $v.database.existingSecret -}}
{{- fail "database.existingSecret is required with environment=production: the Secret holding the PostgreSQL URL" -}}
{{- end -}}
{{- if not $v.apiAuth.existingSecret -}}
{{- fail "apiAuth.existingSecret is required with environment=production: the Secret holding the API key pepper and token secret" -}}
{{- end -}}
{{- end -}}
{{- range $name, $_ := $v.config -}}
{{- if not (hasPrefix "ORDERSTATE_" $name) -}}
{{- fail (printf "config.%s: only ORDERSTATE_* settings belong in config" $name) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
Every non-secret ORDERSTATE_* setting, as ConfigMap data. The migration hook renders the same
map into its env (it runs before the ConfigMap exists), so the two cannot differ.
*/}}
{{- define "orderstate.configData" -}}
{{- $v := .Values -}}
{{- $data := dict
  "ORDERSTATE_ENVIRONMENT" $v.environment
  "ORDERSTATE_KAFKA_BOOTSTRAP_SERVERS" $v.kafka.bootstrapServers
  "ORDERSTATE_KAFKA_CLIENT_ID" $v.kafka.clientId
  "ORDERSTATE_KAFKA_SECURITY_PROTOCOL" $v.kafka.securityProtocol
  "ORDERSTATE_CONSUMER_GROUP" $v.kafka.consumerGroup
  "ORDERSTATE_TOPIC_ORDERS" $v.kafka.topics.orders
  "ORDERSTATE_TOPIC_SHIPMENTS" $v.kafka.topics.shipments
  "ORDERSTATE_TOPIC_ORDER_EVENTS" $v.kafka.topics.orderEvents
  "ORDERSTATE_TOPIC_REJECTED" $v.kafka.topics.rejected
  "ORDERSTATE_TOPIC_ALERTS" $v.kafka.topics.alerts
  "ORDERSTATE_MONITOR_GROUP" $v.kafka.monitorGroup
  "ORDERSTATE_TOPIC_PARTITIONS" (toString (int $v.kafka.partitions))
  "ORDERSTATE_DATABASE_POOL_SIZE" (toString (int $v.database.poolSize))
  "ORDERSTATE_API_HOST" "0.0.0.0"
  "ORDERSTATE_API_PORT" (toString (int $v.api.port))
-}}
{{- with $v.api.trustedProxies -}}
{{- $_ := set $data "ORDERSTATE_API_TRUSTED_PROXIES" (join "," .) -}}
{{- end -}}
{{- if hasPrefix "SASL_" $v.kafka.securityProtocol -}}
{{- $_ := set $data "ORDERSTATE_KAFKA_SASL_MECHANISM" $v.kafka.sasl.mechanism -}}
{{- if not $v.kafka.sasl.usernameKey -}}
{{- $_ := set $data "ORDERSTATE_KAFKA_SASL_USERNAME" $v.kafka.sasl.username -}}
{{- end -}}
{{- end -}}
{{- if $v.kafka.tls.caSecret -}}
{{- $_ := set $data "ORDERSTATE_KAFKA_SSL_CAFILE" (printf "/etc/orderstate/kafka-ca/%s" $v.kafka.tls.caKey) -}}
{{- end -}}
{{- if $v.kafka.tls.clientSecret -}}
{{- $_ := set $data "ORDERSTATE_KAFKA_SSL_CERTFILE" (printf "/etc/orderstate/kafka-client/%s" $v.kafka.tls.certKey) -}}
{{- $_ := set $data "ORDERSTATE_KAFKA_SSL_KEYFILE" (printf "/etc/orderstate/kafka-client/%s" $v.kafka.tls.keyKey) -}}
{{- end -}}
{{- if $v.policy -}}
{{- $_ := set $data "ORDERSTATE_POLICY_FILE" "/etc/orderstate/policy/policy.yaml" -}}
{{- end -}}
{{- range $name, $value := $v.config -}}
{{- $_ := set $data $name (toString $value) -}}
{{- end -}}
{{- toYaml $data -}}
{{- end -}}

{{/* Secret settings, as env entries that reference existing Secrets (never values). */}}
{{- define "orderstate.secretEnv" -}}
{{- $v := .Values -}}
{{- if $v.database.existingSecret }}
- name: ORDERSTATE_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ $v.database.existingSecret }}
      key: {{ $v.database.urlKey }}
{{- end }}
{{- if $v.apiAuth.existingSecret }}
- name: ORDERSTATE_API_KEY_PEPPER
  valueFrom:
    secretKeyRef:
      name: {{ $v.apiAuth.existingSecret }}
      key: {{ $v.apiAuth.apiKeyPepperKey }}
- name: ORDERSTATE_TOKEN_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ $v.apiAuth.existingSecret }}
      key: {{ $v.apiAuth.tokenSecretKey }}
{{- end }}
{{- if hasPrefix "SASL_" $v.kafka.securityProtocol }}
{{- if $v.kafka.sasl.usernameKey }}
- name: ORDERSTATE_KAFKA_SASL_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ $v.kafka.sasl.existingSecret }}
      key: {{ $v.kafka.sasl.usernameKey }}
{{- end }}
- name: ORDERSTATE_KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $v.kafka.sasl.existingSecret }}
      key: {{ $v.kafka.sasl.passwordKey }}
{{- end }}
{{- if and $v.kafka.tls.clientSecret $v.kafka.tls.keyPasswordKey }}
- name: ORDERSTATE_KAFKA_SSL_KEY_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $v.kafka.tls.clientSecret }}
      key: {{ $v.kafka.tls.keyPasswordKey }}
{{- end }}
{{- end -}}

{{/* Volumes every orderstate container needs: a writable /tmp and the Kafka TLS files. */}}
{{- define "orderstate.volumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- if .Values.kafka.tls.caSecret }}
- name: kafka-ca
  secret:
    secretName: {{ .Values.kafka.tls.caSecret }}
    defaultMode: 0444
    items:
      - key: {{ .Values.kafka.tls.caKey }}
        path: {{ .Values.kafka.tls.caKey }}
{{- end }}
{{- if .Values.kafka.tls.clientSecret }}
- name: kafka-client
  secret:
    secretName: {{ .Values.kafka.tls.clientSecret }}
    defaultMode: 0440
    items:
      - key: {{ .Values.kafka.tls.certKey }}
        path: {{ .Values.kafka.tls.certKey }}
      - key: {{ .Values.kafka.tls.keyKey }}
        path: {{ .Values.kafka.tls.keyKey }}
{{- end }}
{{- if .Values.policy }}
- name: policy
  configMap:
    name: {{ include "orderstate.fullname" . }}-policy
{{- end }}
{{- end -}}

{{- define "orderstate.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if .Values.kafka.tls.caSecret }}
- name: kafka-ca
  mountPath: /etc/orderstate/kafka-ca
  readOnly: true
{{- end }}
{{- if .Values.kafka.tls.clientSecret }}
- name: kafka-client
  mountPath: /etc/orderstate/kafka-client
  readOnly: true
{{- end }}
{{- if .Values.policy }}
- name: policy
  mountPath: /etc/orderstate/policy
  readOnly: true
{{- end }}
{{- end -}}

{{/*
One long-running orderstate Deployment: include "orderstate.deployment" (list . "worker" $values)
with $values = .Values.worker, .Values.relay, .Values.monitor or .Values.api. The worker is a
StatefulSet instead while worker.staticMembership is on ("orderstate.workerKind").
*/}}
{{- define "orderstate.deployment" -}}
{{- $root := index . 0 -}}
{{- $component := index . 1 -}}
{{- $c := index . 2 -}}
{{- $v := $root.Values -}}
{{- $opsPort := int $c.opsPort -}}
{{- $stateful := and (eq $component "worker") $v.worker.staticMembership -}}
apiVersion: apps/v1
kind: {{ ternary "StatefulSet" "Deployment" $stateful }}
metadata:
  name: {{ include "orderstate.fullname" $root }}-{{ $component }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "orderstate.componentLabels" (list $root $component) | nindent 4 }}
spec:
  {{- $autoscaled := or (and (eq $component "api") $v.api.autoscaling.enabled) (and (eq $component "worker") $v.worker.keda.enabled) }}
  {{- if not $autoscaled }}
  replicas: {{ $c.replicas }}
  {{- end }}
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      {{- include "orderstate.selectorLabels" (list $root $component) | nindent 6 }}
  {{- if $stateful }}
  # The worker's headless ops Service governs the pods' stable names (<fullname>-worker-0, -1...).
  serviceName: {{ include "orderstate.fullname" $root }}-worker
  # Pods start and stop independently: no worker waits for another to be ready.
  podManagementPolicy: Parallel
  # A pod is replaced under the same name, so it rejoins the group as the same static member
  # and gets its partitions back without a rebalance.
  updateStrategy:
    type: RollingUpdate
  {{- else }}
  strategy:
    type: RollingUpdate
    rollingUpdate:
      # A new pod first, then an old one goes: capacity never drops during a rollout.
      maxSurge: 1
      maxUnavailable: 0
  {{- end }}
  template:
    metadata:
      labels:
        {{- include "orderstate.selectorLabels" (list $root $component) | nindent 8 }}
        app.kubernetes.io/part-of: orderstate
      annotations:
        # Pods restart when a setting changes: settings are read once, at start.
        checksum/config: {{ printf "%s\n%s" (include "orderstate.configData" $root) $v.policy | sha256sum }}
        {{- with $c.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ include "orderstate.serviceAccountName" $root }}
      # orderstate never talks to the Kubernetes API.
      automountServiceAccountToken: false
      {{- with $v.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      securityContext:
        {{- toYaml $v.podSecurityContext | nindent 8 }}
      terminationGracePeriodSeconds: {{ $c.terminationGracePeriodSeconds }}
      containers:
        - name: {{ $component }}
          image: {{ include "orderstate.image" $root }}
          imagePullPolicy: {{ $v.image.pullPolicy }}
          args: ["{{ $component }}", "--ops-port", "{{ $opsPort }}"]
          ports:
            {{- if eq $component "api" }}
            - name: http
              containerPort: {{ int $v.api.port }}
              protocol: TCP
            {{- end }}
            # /healthz, /readyz and /metrics: the api serves none of them on its http port.
            - name: ops
              containerPort: {{ $opsPort }}
              protocol: TCP
          envFrom:
            - configMapRef:
                name: {{ include "orderstate.fullname" $root }}
          {{- $secretEnv := include "orderstate.secretEnv" $root | trim }}
          {{- if or $secretEnv $stateful }}
          env:
            {{- if $stateful }}
            # Static membership: the pod's name, the same after every restart, is its
            # group.instance.id (docs/reliability.md, "Group settings").
            - name: ORDERSTATE_KAFKA_GROUP_INSTANCE_ID
              valueFrom:
                fieldRef:
                  fieldPath: metadata.name
            {{- end }}
            {{- with $secretEnv }}
            {{- . | nindent 12 }}
            {{- end }}
          {{- end }}
          # Liveness: the process answers (no dependency checks: a PostgreSQL or Kafka outage
          # must not restart every pod). Readiness per component: the api needs PostgreSQL at a
          # usable migration level only (a Kafka outage leaves the REST API in service); the
          # worker and relay need Kafka metadata too, through one reused client.
          startupProbe:
            httpGet:
              path: /healthz
              port: ops
            # The ops port opens once the PostgreSQL pool is up; the process itself gives up
            # (exit 2, with the reason in its log) after 60 s, before this does at 90 s.
            periodSeconds: 2
            failureThreshold: 45
            timeoutSeconds: 2
          livenessProbe:
            httpGet:
              path: /healthz
              port: ops
            periodSeconds: 10
            failureThreshold: 3
            timeoutSeconds: 3
          readinessProbe:
            httpGet:
              path: /readyz
              port: ops
            periodSeconds: 10
            failureThreshold: 3
            # /readyz waits up to 2 s for PostgreSQL and, in the worker and relay, 3 s for Kafka
            # at the same time.
            timeoutSeconds: {{ ternary 3 5 (eq $component "api") }}
          {{- if gt (int $c.preStopSleepSeconds) 0 }}
          lifecycle:
            # Serve on while the endpoint leaves the Service; SIGTERM comes after this.
            preStop:
              sleep:
                seconds: {{ int $c.preStopSleepSeconds }}
          {{- end }}
          resources:
            {{- toYaml $c.resources | nindent 12 }}
          securityContext:
            {{- toYaml $v.securityContext | nindent 12 }}
          volumeMounts:
            {{- include "orderstate.volumeMounts" $root | nindent 12 }}
      volumes:
        {{- include "orderstate.volumes" $root | nindent 8 }}
      {{- with $c.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $c.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $c.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $c.topologySpreadConstraints }}
      topologySpreadConstraints:
        {{- range . }}
        {{- $constraint := deepCopy . }}
        {{- if not (hasKey $constraint "labelSelector") }}
        {{- $_ := set $constraint "labelSelector" (dict "matchLabels" (include "orderstate.selectorLabels" (list $root $component) | fromYaml)) }}
        {{- end }}
        - {{- toYaml $constraint | nindent 10 }}
        {{- end }}
      {{- end }}
{{- end -}}


{{/* The kind of the worker's workload, for references to it (KEDA). */}}
{{- define "orderstate.workerKind" -}}
{{- ternary "StatefulSet" "Deployment" .Values.worker.staticMembership -}}
{{- end -}}
