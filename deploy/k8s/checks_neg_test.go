package k8s

import (
	"slices"
	"strings"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	appsv1 "k8s.io/api/apps/v1"

	"github.com/triggerflow/triggerflow/internal/config"
)

// The checkers' own tests: each starts from objects that pass and breaks one thing, which
// must be reported. Without them a checker that never reports would look like a pass.

const (
	goodDeployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: triggerflow-dispatcher, namespace: triggerflow}
spec:
  selector: {matchLabels: {app: x}}
  template:
    metadata: {labels: {app: x}}
    spec:
      terminationGracePeriodSeconds: 45
      securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}
      containers:
        - name: dispatcher
          image: ghcr.io/triggerflow/triggerflow:0.1.0
          args: [dispatcher]
          ports: [{name: admin, containerPort: 9090}]
          startupProbe: {httpGet: {path: /healthz, port: 9090}}
          livenessProbe: {httpGet: {path: /healthz, port: 9090}}
          readinessProbe: {httpGet: {path: /readyz, port: 9090}}
          resources: {requests: {cpu: 100m, memory: 64Mi}, limits: {cpu: "1", memory: 256Mi}}
          securityContext: {readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
`
	goodPDB = `apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: triggerflow-dispatcher, namespace: triggerflow}
spec: {maxUnavailable: 1, selector: {matchLabels: {app: x}}}
`
	goodHPA = `apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: triggerflow-dispatcher, namespace: triggerflow}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: triggerflow-dispatcher}
  minReplicas: 2
  maxReplicas: 4
  metrics: [{type: Resource, resource: {name: cpu, target: {type: Utilization, averageUtilization: 70}}}]
`
	goodScaledObject = `apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata: {name: triggerflow-dispatcher, namespace: triggerflow}
spec:
  scaleTargetRef: {name: triggerflow-dispatcher}
  minReplicaCount: 2
  triggers:
    - type: nats-jetstream
      metadata: {natsServerMonitoringEndpoint: "triggerflow-nats-headless.triggerflow.svc.cluster.local:8222", account: TRIGGERFLOW, stream: SCW_TRIGGERS, consumer: dispatcher-plan_trigger-p00, lagThreshold: "5"}
`
	denyAll = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny, namespace: triggerflow}
spec: {podSelector: {}, policyTypes: [Ingress, Egress]}
`
	allowX = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: x, namespace: triggerflow}
spec:
  podSelector: {matchLabels: {app: x}}
  policyTypes: [Ingress, Egress]
  ingress: [{from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: monitoring}}}], ports: [{port: 9090}]}]
`
)

// wantProblems fails unless exactly the problems containing each of want are reported
// (want empty: none).
func wantProblems(t *testing.T, got []string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !slices.ContainsFunc(got, func(p string) bool { return strings.Contains(p, w) }) {
			t.Errorf("no problem mentions %q; got %q", w, got)
		}
	}
	for _, p := range got {
		if !slices.ContainsFunc(want, func(w string) bool { return strings.Contains(p, w) }) {
			t.Errorf("unexpected problem %q", p)
		}
	}
}

func join(docs ...string) string { return strings.Join(docs, "---\n") }

func TestCheckContainers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, old, new string
		want           []string
	}{
		{"good", "", "", nil},
		{"no startup probe", "          startupProbe: {httpGet: {path: /healthz, port: 9090}}\n", "", []string{"no startupProbe"}},
		{"no probes", "          livenessProbe: {httpGet: {path: /healthz, port: 9090}}\n          readinessProbe: {httpGet: {path: /readyz, port: 9090}}\n", "", []string{"no livenessProbe", "no readinessProbe"}},
		{"no limits", `, limits: {cpu: "1", memory: 256Mi}`, "", []string{"no resources.limits.cpu", "no resources.limits.memory"}},
		{"latest", "triggerflow:0.1.0", "triggerflow:latest", []string{"is :latest"}},
		{"no tag", "triggerflow:0.1.0", "triggerflow", []string{"has no tag"}},
		{"digest", "triggerflow:0.1.0", "triggerflow@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", nil},
		{"registry port, no tag", "ghcr.io/triggerflow/triggerflow:0.1.0", "registry:5000/triggerflow", []string{"has no tag"}},
		{"root", "runAsNonRoot: true", "runAsNonRoot: false", []string{"runAsNonRoot"}},
		{"writable root", "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false", []string{"readOnlyRootFilesystem"}},
		{"escalation", "allowPrivilegeEscalation: false", "allowPrivilegeEscalation: true", []string{"allowPrivilegeEscalation"}},
		{"capabilities", "capabilities: {drop: [ALL]}", "capabilities: {drop: [NET_RAW]}", []string{"drop ALL"}},
		{"seccomp", ", seccompProfile: {type: RuntimeDefault}", "", []string{"seccompProfile"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := goodDeployment
			if tc.old != "" {
				if !strings.Contains(text, tc.old) {
					t.Fatalf("%q is not in the Deployment", tc.old)
				}
				text = strings.Replace(text, tc.old, tc.new, 1)
			}
			wantProblems(t, checkContainers(decodeAll(t, text)), tc.want...)
		})
	}
}

func TestCheckScaling(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		docs string
		min  int32
		want []string
	}{
		{"hpa", join(goodDeployment, goodPDB, goodHPA), 2, nil},
		{"keda", join(goodDeployment, goodPDB, goodScaledObject), 2, nil},
		{"no autoscaler", join(goodDeployment, goodPDB), 1, []string{"no HorizontalPodAutoscaler or ScaledObject"}},
		{"two autoscalers", join(goodDeployment, goodPDB, goodHPA, goodScaledObject), 1, []string{"2 autoscalers fight"}},
		{"below the minimum", join(goodDeployment, goodPDB, strings.Replace(goodHPA, "minReplicas: 2", "minReplicas: 1", 1)), 2, []string{"minimum is 1, want at least 2"}},
		{"replicas field", join(strings.Replace(goodDeployment, "spec:\n  selector", "spec:\n  replicas: 2\n  selector", 1), goodPDB, goodHPA), 2, []string{"has replicas: 2"}},
		{"no pdb", join(goodDeployment, goodHPA), 2, []string{"0 PodDisruptionBudgets"}},
		{"pdb selects other pods", join(goodDeployment, strings.Replace(goodPDB, "app: x", "app: y", 1), goodHPA), 2, []string{"0 PodDisruptionBudgets"}},
		{"hpa on memory", join(goodDeployment, goodPDB, strings.Replace(goodHPA, "name: cpu", "name: memory", 1)), 2, []string{"does not scale on CPU"}},
		{"hpa for nothing", join(goodDeployment, goodPDB, goodHPA, strings.ReplaceAll(goodHPA, "triggerflow-dispatcher", "triggerflow-gone")), 2, []string{"not rendered"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantProblems(t, checkScaling(decodeAll(t, tc.docs), tc.min), tc.want...)
		})
	}
}

func TestCheckNetwork(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		docs string
		want []string
	}{
		{"covered", join(goodDeployment, denyAll, allowX), nil},
		{"no allow policy", join(goodDeployment, denyAll), []string{"no NetworkPolicy names its pods"}},
		{"allow policy for other pods", join(goodDeployment, denyAll, strings.Replace(allowX, "app: x", "app: y", 1)), []string{"no NetworkPolicy names its pods"}},
		{"no default deny", join(goodDeployment, allowX), []string{"no default-deny"}},
		{"deny ingress only", join(goodDeployment, strings.Replace(denyAll, "[Ingress, Egress]", "[Ingress]", 1), allowX), []string{"no default-deny"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantProblems(t, checkNetwork(decodeAll(t, tc.docs)), tc.want...)
		})
	}
}

// TestDecodeStrict: an unknown field, an unknown kind and an unknown ScaledObject field fail.
func TestDecodeStrict(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, doc, want string }{
		{"deployment", goodDeployment, ""},
		{"scaledobject", goodScaledObject, ""},
		{"unknown field", strings.Replace(goodDeployment, "terminationGracePeriodSeconds", "terminationGracePeriod", 1), "unknown field"},
		{"misplaced field", strings.Replace(goodDeployment, "      containers:", "      replicas: 2\n      containers:", 1), "unknown field"},
		{"duplicate field", strings.Replace(goodDeployment, "      terminationGracePeriodSeconds: 45\n", "      terminationGracePeriodSeconds: 45\n      terminationGracePeriodSeconds: 60\n", 1), "already set"},
		{"unknown kind", strings.Replace(goodDeployment, "kind: Deployment", "kind: Deploymnet", 1), "not a kind"},
		{"unknown CRD", strings.Replace(goodScaledObject, "kind: ScaledObject", "kind: ScaledJob", 1), "not a kind"},
		{"scaledobject field", strings.Replace(goodScaledObject, "minReplicaCount", "minReplicas", 1), "unknown field"},
		{"trigger field", strings.Replace(goodScaledObject, "    - type: nats-jetstream\n", "    - type: nats-jetstream\n      authRef: {name: x}\n", 1), "unknown field"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decode([]byte(tc.doc))
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("decode: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("decode: %v, want an error with %q", err, tc.want)
			}
		})
	}
}

func TestCheckGrace(t *testing.T) {
	t.Parallel()
	cfg := &config.Config{}
	cfg.Shutdown.DrainTimeout = 10 * time.Second // stops within 20 s
	wantProblems(t, checkGrace(decodeAll(t, goodDeployment), cfg))
	short := strings.Replace(goodDeployment, "terminationGracePeriodSeconds: 45", "terminationGracePeriodSeconds: 20", 1)
	wantProblems(t, checkGrace(decodeAll(t, short), cfg), "is not longer than the 20s")
	unset := strings.Replace(goodDeployment, "      terminationGracePeriodSeconds: 45\n", "", 1) // the default 30 s
	cfg.Shutdown.DrainTimeout = 25 * time.Second
	wantProblems(t, checkGrace(decodeAll(t, unset), cfg), "30s is not longer than the 35s")
}

// TestCheckStorage: stream limits that the NATS server's max_file_store cannot hold (the
// streams would be refused at start), or a max_file_store beyond the volume, are reported.
func TestCheckStorage(t *testing.T) {
	t.Parallel()
	sts := decodeAll(t, `apiVersion: apps/v1
kind: StatefulSet
metadata: {name: triggerflow-nats, namespace: triggerflow}
spec:
  selector: {matchLabels: {app: nats}}
  template:
    metadata: {labels: {app: nats}}
    spec:
      containers: [{name: nats, image: nats:2.15.2-alpine}]
  volumeClaimTemplates:
    - metadata: {name: data}
      spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 2Gi}}}
`)
	s := of[appsv1.StatefulSet](sts)[0]
	cfg, err := config.Parse("t.yaml", []byte("streams:\n  limits:\n    SCW_TRIGGERS: {max_age: 720h, max_bytes: 1GiB}\n    SCW_PLANS: {max_bytes: 100MiB}\n    SCW_OPS: {max_bytes: 100MiB}\n    SCW_RESULTS: {max_age: 720h, max_bytes: 100MiB}\n    SCW_DLQ: {max_bytes: 10MiB}\n    SCW_PARKED: {max_bytes: 10MiB}\n    SCW_ALERTS: {max_bytes: 10MiB}\n    SCW_INBOUND: {max_bytes: 10MiB}\n"))
	if err != nil {
		t.Fatal(err)
	}
	fits := &natsserver.Options{JetStreamMaxStore: 1800 << 20}
	wantProblems(t, checkStorage(s, fits, cfg))
	wantProblems(t, checkStorage(s, &natsserver.Options{JetStreamMaxStore: 1 << 30}, cfg), "more than max_file_store 1024 MiB")
	wantProblems(t, checkStorage(s, &natsserver.Options{JetStreamMaxStore: 3 << 30}, cfg), "more than the volume's 2Gi")
	wantProblems(t, checkStorage(s, &natsserver.Options{}, cfg), "no jetstream.max_file_store")
	defaults, err := config.Parse("t.yaml", []byte("log: {level: info}\n"))
	if err != nil {
		t.Fatal(err)
	}
	wantProblems(t, checkStorage(s, fits, defaults), "more than max_file_store 1800 MiB")
}

// TestCheckPodMonitors: a PodMonitor on a port the pods do not have is reported.
func TestCheckPodMonitors(t *testing.T) {
	t.Parallel()
	pm := `apiVersion: monitoring.coreos.com/v1
kind: PodMonitor
metadata: {name: triggerflow, namespace: triggerflow}
spec:
  selector: {matchLabels: {app: x}}
  podMetricsEndpoints: [{port: admin, path: /metrics}]
`
	wantProblems(t, checkPodMonitors(decodeAll(t, join(goodDeployment, denyAll, allowX, pm))))
	wantProblems(t, checkPodMonitors(decodeAll(t, join(goodDeployment, denyAll, allowX, strings.Replace(pm, "port: admin", "port: metrics", 1)))), "no PodMonitor scrapes")
	wantProblems(t, checkPodMonitors(decodeAll(t, join(goodDeployment, denyAll, pm))), "no PodMonitor scrapes") // the policy does not admit Prometheus
}

// TestCheckKEDA: a ScaledObject on a consumer the service does not create is reported.
func TestCheckKEDA(t *testing.T) {
	t.Parallel()
	cfg := &config.Config{}
	objs := decodeAll(t, join(goodDeployment, strings.Replace(goodScaledObject, "dispatcher-plan_trigger-p00", "dispatcher-p00", 1)))
	wantProblems(t, checkKEDA(t, objs, cfg), "creates no consumer dispatcher-p00 on SCW_TRIGGERS", "not the monitoring port", "not an account of nats.conf")
}

func TestConfigFiles(t *testing.T) {
	t.Parallel()
	f := configFiles(t, "nats: {password_file: /var/run/secrets/triggerflow/nats-password}\n"+
		"routes:\n  - actions:\n      - itsm: {body_file: templates/a.json}\n"+
		"ingress: {users: [{name: m, password_file: /elsewhere/p}]}\n")
	if len(f.secrets) != 1 || f.secrets["nats-password"] != "nats.password_file" {
		t.Errorf("secrets %v", f.secrets)
	}
	if len(f.templates) != 1 || f.templates["templates/a.json"] != "routes[0].actions[0].itsm.body_file" {
		t.Errorf("templates %v", f.templates)
	}
}
