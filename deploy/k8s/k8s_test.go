package k8s

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/triggerflow/triggerflow/internal/config"
	"github.com/triggerflow/triggerflow/internal/configcheck"
	"github.com/triggerflow/triggerflow/internal/runtime/natsconn"
	"github.com/triggerflow/triggerflow/services/dispatcher"
	itsmsync "github.com/triggerflow/triggerflow/services/itsm-sync"
	"github.com/triggerflow/triggerflow/services/notifier"
)

// The layout every overlay renders (deploy/k8s/README.md).
const (
	namespace     = "triggerflow"
	secretName    = "triggerflow-secrets" // created by the admin with kubectl, never rendered
	configDir     = "/etc/triggerflow"
	configFile    = configDir + "/triggerflow.yaml"
	templatesDir  = configDir + "/templates"
	secretDir     = "/var/run/secrets/triggerflow"
	ingressName   = "triggerflow-ingress"
	natsName      = "triggerflow-nats"
	tosNamespace  = "default" // where TOS Aurora runs SecureChange (an assumption, documented)
	monitoringNS  = "monitoring"
	natsConfigKey = "nats.conf"
)

// services are the subcommands that run as Deployments, one each.
var services = []string{"ingress", "dispatcher", "itsm-sync", "notifier"}

// overlays are every directory an administrator may apply, with what it promises.
type overlay struct {
	dir          string
	minReplicas  int32 // of every Deployment's autoscaler
	natsReplicas int32 // servers in the NATS StatefulSet = nats.replicas in triggerflow.yaml
	keda         bool  // ScaledObjects instead of HPAs
	ingress      bool  // a networking.k8s.io Ingress for TLS from outside
	podMonitor   bool  // a prometheus-operator PodMonitor
}

var overlays = []overlay{
	{dir: "overlays/dev", minReplicas: 1, natsReplicas: 1},
	{dir: "overlays/production", minReplicas: 2, natsReplicas: 3},
	{dir: "examples/production-keda-traefik", minReplicas: 2, natsReplicas: 3, keda: true, ingress: true},
	{dir: "examples/production-podmonitor", minReplicas: 2, natsReplicas: 3, podMonitor: true},
}

// TestOverlays renders every overlay and example with kustomize's Go API, decodes every
// object strictly into its Kubernetes API type, and checks what deploy/k8s/README.md
// promises.
func TestOverlays(t *testing.T) {
	keys := documentedSecretKeys(t)
	for _, ov := range overlays {
		t.Run(ov.dir, func(t *testing.T) {
			t.Parallel()
			objs := render(t, ov.dir)
			report := func(what string, problems []string) {
				t.Helper()
				for _, p := range problems {
					t.Errorf("%s: %s", what, p)
				}
			}
			report("objects", checkObjects(objs))
			report("containers", checkContainers(objs))
			report("scaling", checkScaling(objs, ov.minReplicas))
			report("network", checkNetwork(objs))
			report("network", checkTraffic(objs))
			report("services", checkServices(objs))

			cfg := checkConfig(t, objs, keys)
			if cfg == nil {
				return
			}
			report("grace", checkGrace(objs, cfg))
			report("ports", checkPorts(objs, cfg))
			report("nats", checkNATS(t, objs, cfg, keys, ov.natsReplicas))
			report("mediator", checkMediatorHost(t, objs))

			sos := of[scaledObject](objs)
			if ov.keda != (len(sos) > 0) {
				t.Errorf("%d ScaledObjects, want them: %v", len(sos), ov.keda)
			}
			if ov.keda {
				report("keda", checkKEDA(t, objs, cfg))
			}
			ings := of[networkingv1.Ingress](objs)
			if ov.ingress != (len(ings) > 0) {
				t.Errorf("%d Ingresses, want one: %v", len(ings), ov.ingress)
			}
			report("ingress", checkIngresses(objs, cfg))
			pms := of[podMonitor](objs)
			if ov.podMonitor != (len(pms) > 0) {
				t.Errorf("%d PodMonitors, want one: %v", len(pms), ov.podMonitor)
			}
			report("podmonitor", checkPodMonitors(objs))
		})
	}
}

// TestEveryOverlayTested: a new overlay or example is tested as soon as it exists.
func TestEveryOverlayTested(t *testing.T) {
	t.Parallel()
	var dirs []string
	for _, parent := range []string{"overlays", "examples"} {
		entries, err := os.ReadDir(parent)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.IsDir() {
				dirs = append(dirs, parent+"/"+e.Name())
			}
		}
	}
	for _, d := range dirs {
		if !slices.ContainsFunc(overlays, func(o overlay) bool { return o.dir == d }) {
			t.Errorf("%s is not in the overlays table of TestOverlays", d)
		}
	}
}

// TestKustomizeFilesReferenced: every file next to a kustomization.yaml is used by it, so
// nothing is left behind that an administrator would edit in vain.
func TestKustomizeFilesReferenced(t *testing.T) {
	t.Parallel()
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		kust, err := os.ReadFile(filepath.Join(path, "kustomization.yaml"))
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		return filepath.WalkDir(path, func(p string, f os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if f.IsDir() {
				if _, err := os.Stat(filepath.Join(p, "kustomization.yaml")); p != path && err == nil {
					return filepath.SkipDir // another kustomization
				}
				return nil
			}
			rel, _ := filepath.Rel(path, p)
			if rel == "kustomization.yaml" || strings.HasSuffix(rel, ".go") || strings.HasSuffix(rel, ".md") {
				return nil
			}
			if !strings.Contains(string(kust), rel) {
				t.Errorf("%s: %s is not referenced by its kustomization.yaml", path, rel)
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}

// checkObjects: every object but the Namespace is in the namespace, once.
func checkObjects(objs []object) []string {
	var out []string
	seen := map[string]bool{}
	for _, o := range objs {
		if o.kind != "Namespace" && o.namespace != namespace {
			out = append(out, fmt.Sprintf("%s: namespace %q, want %q", o, o.namespace, namespace))
		}
		if seen[o.kind+"/"+o.name] {
			out = append(out, fmt.Sprintf("%s: rendered twice", o))
		}
		seen[o.kind+"/"+o.name] = true
	}
	return out
}

// deploymentOf returns the Deployment running `triggerflow <svc>`.
func deploymentOf(objs []object, svc string) *appsv1.Deployment {
	for _, d := range of[appsv1.Deployment](objs) {
		if c := d.Spec.Template.Spec.Containers; len(c) > 0 && len(c[0].Args) > 0 && c[0].Args[0] == svc {
			return d
		}
	}
	return nil
}

// checkServices: one Deployment per service, each running `triggerflow <svc> --config …`
// with the config, the templates and the Secret mounted read-only from the rendered
// objects (the whole Secret, at the directory the config's *_file keys name), and its
// probes on /healthz and /readyz.
func checkServices(objs []object) []string {
	var out []string
	cms := map[string]*corev1.ConfigMap{}
	for _, cm := range of[corev1.ConfigMap](objs) {
		cms[cm.Name] = cm
	}
	for _, svc := range services {
		d := deploymentOf(objs, svc)
		if d == nil {
			out = append(out, "no Deployment runs triggerflow "+svc)
			continue
		}
		pod := d.Spec.Template.Spec
		where := "Deployment " + d.Name
		if len(pod.Containers) != 1 {
			out = append(out, fmt.Sprintf("%s: %d containers, want 1", where, len(pod.Containers)))
			continue
		}
		c := pod.Containers[0]
		if argv := slices.Concat(c.Command, c.Args); !slices.Equal(argv, []string{"triggerflow", svc, "--config", configFile}) {
			out = append(out, fmt.Sprintf("%s: runs %q, want triggerflow %s --config %s", where, argv, svc, configFile))
		}
		if !slices.Contains(c.Env, corev1.EnvVar{Name: "TRIGGERFLOW_CONFIG", Value: configFile}) {
			out = append(out, where+": no env TRIGGERFLOW_CONFIG="+configFile)
		}
		out = append(out, goRuntimeFromLimits(where, c)...)
		volumes := map[string]corev1.Volume{}
		for _, v := range pod.Volumes {
			volumes[v.Name] = v
		}
		for _, want := range []struct{ path, kind string }{{configDir, "config"}, {templatesDir, "templates"}, {secretDir, "secret"}} {
			i := slices.IndexFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.MountPath == want.path })
			if i < 0 {
				out = append(out, fmt.Sprintf("%s: nothing mounted at %s", where, want.path))
				continue
			}
			m := c.VolumeMounts[i]
			if !m.ReadOnly || m.SubPath != "" {
				out = append(out, fmt.Sprintf("%s: the mount at %s is not read-only and whole", where, want.path))
			}
			v := volumes[m.Name]
			switch want.kind {
			case "secret":
				if v.Secret == nil || v.Secret.SecretName != secretName || len(v.Secret.Items) > 0 {
					out = append(out, fmt.Sprintf("%s: %s is not the whole Secret %s", where, want.path, secretName))
				}
			default:
				if v.ConfigMap == nil || cms[v.ConfigMap.Name] == nil {
					out = append(out, fmt.Sprintf("%s: %s is not a rendered ConfigMap", where, want.path))
				}
			}
		}
		port := "admin"
		if svc == "ingress" {
			port = "http"
		}
		for name, p := range map[string]*corev1.Probe{"startupProbe": c.StartupProbe, "livenessProbe": c.LivenessProbe, "readinessProbe": c.ReadinessProbe} {
			path := "/healthz"
			if name == "readinessProbe" {
				path = "/readyz"
			}
			if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != path || p.HTTPGet.Port.String() != port {
				out = append(out, fmt.Sprintf("%s: %s is not GET %s on port %s", where, name, path, port))
			}
		}
	}
	return out
}

// mountedConfigMap returns the ConfigMap a Deployment mounts at path.
func mountedConfigMap(objs []object, d *appsv1.Deployment, path string) *corev1.ConfigMap {
	pod := d.Spec.Template.Spec
	for _, m := range pod.Containers[0].VolumeMounts {
		if m.MountPath != path {
			continue
		}
		for _, v := range pod.Volumes {
			if v.Name == m.Name && v.ConfigMap != nil {
				for _, cm := range of[corev1.ConfigMap](objs) {
					if cm.Name == v.ConfigMap.Name {
						return cm
					}
				}
			}
		}
	}
	return nil
}

// checkConfig lays the rendered config, templates and the documented Secret's keys out as
// the pods see them and runs what `triggerflow config check` runs (cmd/triggerflow
// configcheck.go): config.Load with its validation, the routes' compilation and the
// templates' check. Every *_file under the Secret's directory must be a documented key,
// every body_file a key of the templates ConfigMap. It returns the loaded config.
func checkConfig(t *testing.T, objs []object, secretKeys []string) *config.Config {
	t.Helper()
	d := deploymentOf(objs, "dispatcher")
	if d == nil {
		t.Error("no dispatcher Deployment to read the config from")
		return nil
	}
	cm := mountedConfigMap(objs, d, configDir)
	tmpl := mountedConfigMap(objs, d, templatesDir)
	if cm == nil || tmpl == nil {
		t.Error("the dispatcher mounts no config or no templates ConfigMap")
		return nil
	}
	for _, svc := range services { // every pod reads the same config
		if o := deploymentOf(objs, svc); o != nil && mountedConfigMap(objs, o, configDir) != cm {
			t.Errorf("triggerflow %s mounts another config than the dispatcher", svc)
		}
	}
	text, ok := cm.Data["triggerflow.yaml"]
	if !ok {
		t.Errorf("ConfigMap %s: no key triggerflow.yaml", cm.Name)
		return nil
	}

	files := configFiles(t, text)
	for key, at := range files.secrets {
		if !slices.Contains(secretKeys, key) {
			t.Errorf("%s names %s/%s, but %s is not a key of the Secret %s documented in README.md (every pod would fail on \"read secret file … no such file\")", at, secretDir, key, key, secretName)
		}
	}
	for rel, at := range files.templates {
		if _, ok := tmpl.Data[strings.TrimPrefix(rel, "templates/")]; !ok || !strings.HasPrefix(rel, "templates/") {
			t.Errorf("%s: %q is not templates/<a key of the templates ConfigMap %s> (mounted at %s; body_file is relative to the config file)", at, rel, tmpl.Name, templatesDir)
		}
	}

	tmp := t.TempDir()
	write := func(path, data string) {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, key := range secretKeys {
		write(filepath.Join(tmp, "secrets", key), "CHANGE-ME\n") // kubectl --from-file often keeps the newline
	}
	for key, val := range tmpl.Data {
		write(filepath.Join(tmp, "templates", key), val)
	}
	path := filepath.Join(tmp, "triggerflow.yaml")
	write(path, strings.ReplaceAll(text, secretDir+"/", filepath.Join(tmp, "secrets")+"/"))

	cfg, problems, err := configcheck.Check(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("triggerflow config check: line %d: %s", p.Line, p.Error())
	}
	if cfg == nil {
		return nil
	}
	for _, w := range cfg.Warnings {
		t.Errorf("triggerflow config check warns: %s", w.Error())
	}
	if cfg.NATS.URL == "" {
		t.Error("nats.url is empty: every pod would start its own embedded server")
	}
	if len(cfg.Ingress.Users) == 0 {
		t.Error("ingress.users is empty: the ingress refuses to start without --dev")
	}
	return cfg
}

// checkGrace: every pod gets longer to stop than the process takes: the preStop sleep, then
// the drain (shutdown.drain_timeout) and the settling the services allow themselves
// (config.StopTimeout), or for the ingress its own ingress.shutdown_timeout plus as much.
func checkGrace(objs []object, cfg *config.Config) []string {
	var out []string
	for _, svc := range services {
		d := deploymentOf(objs, svc)
		if d == nil {
			continue
		}
		need := cfg.StopTimeout()
		if svc == "ingress" {
			need = max(need, cfg.Ingress.ShutdownTimeout+cfg.StopTimeout()-cfg.Shutdown.DrainTimeout)
		}
		c := d.Spec.Template.Spec.Containers[0]
		if c.Lifecycle != nil && c.Lifecycle.PreStop != nil && c.Lifecycle.PreStop.Sleep != nil {
			need += time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
		}
		grace := 30 * time.Second // the API's default
		if g := d.Spec.Template.Spec.TerminationGracePeriodSeconds; g != nil {
			grace = time.Duration(*g) * time.Second
		}
		if grace <= need {
			out = append(out, fmt.Sprintf("Deployment %s: terminationGracePeriodSeconds %s is not longer than the %s it may take to stop (shutdown.drain_timeout %s)", d.Name, grace, need, cfg.Shutdown.DrainTimeout))
		}
	}
	return out
}

// checkPorts: the container ports are the config's listen ports, and the Service
// triggerflow-ingress reaches the ingress's port.
func checkPorts(objs []object, cfg *config.Config) []string {
	var out []string
	port := func(addr string) int32 {
		_, p, err := net.SplitHostPort(addr)
		n, err2 := strconv.Atoi(p)
		if err != nil || err2 != nil {
			out = append(out, fmt.Sprintf("listen address %q has no port", addr))
		}
		return int32(n)
	}
	ingressPort, adminPort := port(cfg.Ingress.Listen), port(cfg.Admin.Listen)
	for _, svc := range services {
		d := deploymentOf(objs, svc)
		if d == nil {
			continue
		}
		name, want := "admin", adminPort
		if svc == "ingress" {
			name, want = "http", ingressPort
		}
		c := d.Spec.Template.Spec.Containers[0]
		if !slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.Name == name && p.ContainerPort == want }) {
			out = append(out, fmt.Sprintf("Deployment %s: no container port %s = %d (the config's listen port)", d.Name, name, want))
		}
	}
	svc := findService(objs, ingressName)
	d := deploymentOf(objs, "ingress")
	if svc == nil || d == nil {
		return append(out, "no Service "+ingressName+" or no ingress Deployment")
	}
	if !selects(&metav1.LabelSelector{MatchLabels: svc.Spec.Selector}, d.Spec.Template.Labels) {
		out = append(out, "Service "+ingressName+" does not select the ingress pods")
	}
	if !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool {
		return p.Port == ingressPort && (p.TargetPort.String() == "http" || p.TargetPort.IntValue() == int(ingressPort))
	}) {
		out = append(out, fmt.Sprintf("Service %s: no port %d to the ingress's listener", ingressName, ingressPort))
	}
	return out
}

func findService(objs []object, name string) *corev1.Service {
	for _, s := range of[corev1.Service](objs) {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// checkTraffic: the allowed paths the pipeline needs exist: SecureChange's namespace
// reaches the ingress on its port, and every service reaches NATS on 4222.
func checkTraffic(objs []object) []string {
	var out []string
	nats := natsStatefulSet(objs)
	for _, svc := range services {
		d := deploymentOf(objs, svc)
		if d == nil {
			continue
		}
		l := d.Spec.Template.Labels
		if nats != nil && !admits(objs, l, networkingv1.PolicyTypeEgress, 4222, podPeer(nats.Spec.Template.Labels)) {
			out = append(out, fmt.Sprintf("Deployment %s: no NetworkPolicy lets it reach NATS on 4222", d.Name))
		}
		if svc == "ingress" && !admits(objs, l, networkingv1.PolicyTypeIngress, 8000, namespacePeer(tosNamespace)) {
			out = append(out, fmt.Sprintf("Deployment %s: no NetworkPolicy admits SecureChange (namespace %s) on 8000", d.Name, tosNamespace))
		}
		port := int32(9090)
		if svc == "ingress" {
			port = 8000
		}
		if !admits(objs, l, networkingv1.PolicyTypeIngress, port, namespacePeer(monitoringNS)) {
			out = append(out, fmt.Sprintf("Deployment %s: no NetworkPolicy admits Prometheus (namespace %s) on %d", d.Name, monitoringNS, port))
		}
	}
	return out
}

func natsStatefulSet(objs []object) *appsv1.StatefulSet {
	for _, s := range of[appsv1.StatefulSet](objs) {
		if s.Name == natsName {
			return s
		}
	}
	return nil
}

// checkNATS: the NATS StatefulSet has the servers the config's nats.replicas expects, a
// PVC each for the file store, one server per node when clustered, and its nats.conf
// parses with nats-server's own parser: JetStream on the PVC, the routes to each pod, the
// user triggerflow in a JetStream account, its password from a documented Secret key; the
// config's nats.url is the client Service.
func checkNATS(t *testing.T, objs []object, cfg *config.Config, secretKeys []string, replicas int32) []string {
	t.Helper()
	var out []string
	s := natsStatefulSet(objs)
	if s == nil {
		return []string{"no StatefulSet " + natsName}
	}
	if got := int32(1); s.Spec.Replicas == nil || *s.Spec.Replicas != replicas {
		if s.Spec.Replicas != nil {
			got = *s.Spec.Replicas
		}
		out = append(out, fmt.Sprintf("StatefulSet %s: %d replicas, want %d", s.Name, got, replicas))
	}
	if int32(cfg.NATS.Replicas) != replicas {
		out = append(out, fmt.Sprintf("nats.replicas in triggerflow.yaml is %d, want %d (the NATS servers)", cfg.NATS.Replicas, replicas))
	}
	if len(s.Spec.VolumeClaimTemplates) != 1 {
		return append(out, fmt.Sprintf("StatefulSet %s: %d volumeClaimTemplates, want 1 (the JetStream file store)", s.Name, len(s.Spec.VolumeClaimTemplates)))
	}
	pvc := s.Spec.VolumeClaimTemplates[0].Name
	c := s.Spec.Template.Spec.Containers[0]
	var dataDir string
	for _, m := range c.VolumeMounts {
		if m.Name == pvc {
			dataDir = m.MountPath
		}
	}
	if dataDir == "" {
		out = append(out, fmt.Sprintf("StatefulSet %s: the PVC %s is not mounted", s.Name, pvc))
	}
	if replicas > 1 {
		a := s.Spec.Template.Spec.Affinity
		spread := a != nil && a.PodAntiAffinity != nil && slices.ContainsFunc(a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution, func(term corev1.PodAffinityTerm) bool {
			return term.TopologyKey == "kubernetes.io/hostname" && selects(term.LabelSelector, s.Spec.Template.Labels)
		})
		if !spread {
			out = append(out, fmt.Sprintf("StatefulSet %s: no required podAntiAffinity by kubernetes.io/hostname: two servers on one node lose the quorum with it", s.Name))
		}
	}
	env := map[string]string{}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			if ref.Name != secretName || !slices.Contains(secretKeys, ref.Key) {
				out = append(out, fmt.Sprintf("StatefulSet %s: env %s from Secret %s key %s, not a documented key of %s", s.Name, e.Name, ref.Name, ref.Key, secretName))
			}
			env[e.Name] = "CHANGE-ME"
		case e.ValueFrom != nil && e.ValueFrom.FieldRef != nil:
			env[e.Name] = s.Name + "-0"
		}
	}

	// nats.conf, as the server reads it.
	var conf string
	for _, v := range s.Spec.Template.Spec.Volumes {
		if v.ConfigMap == nil {
			continue
		}
		for _, cm := range of[corev1.ConfigMap](objs) {
			if cm.Name == v.ConfigMap.Name {
				conf = cm.Data[natsConfigKey]
			}
		}
	}
	if conf == "" {
		return append(out, fmt.Sprintf("StatefulSet %s: no ConfigMap with %s mounted", s.Name, natsConfigKey))
	}
	// The server takes $VARS from its environment; here the same names are defined at the
	// top of the file (the parser resolves a variable from the file first).
	var vars strings.Builder
	for k, v := range env {
		fmt.Fprintf(&vars, "%s: %q\n", k, v)
	}
	path := filepath.Join(t.TempDir(), natsConfigKey)
	if err := os.WriteFile(path, []byte(vars.String()+conf), 0o600); err != nil {
		t.Fatal(err)
	}
	opts, err := natsserver.ProcessConfigFile(path)
	if err != nil {
		return append(out, fmt.Sprintf("%s: %v", natsConfigKey, err))
	}
	if !opts.JetStream || dataDir == "" || !strings.HasPrefix(opts.StoreDir, dataDir+"/") {
		out = append(out, fmt.Sprintf("%s: JetStream %v with store_dir %q, want it on the PVC at %s", natsConfigKey, opts.JetStream, opts.StoreDir, dataDir))
	}
	out = append(out, checkStorage(s, opts, cfg)...)
	var routes []string
	for _, r := range opts.Routes {
		routes = append(routes, r.Host)
	}
	var want []string
	if replicas > 1 {
		for i := range replicas {
			want = append(want, fmt.Sprintf("%s-%d.%s.%s.svc.cluster.local:%d", s.Name, i, s.Spec.ServiceName, namespace, opts.Cluster.Port))
		}
		if findService(objs, s.Spec.ServiceName) == nil || findService(objs, s.Spec.ServiceName).Spec.ClusterIP != corev1.ClusterIPNone {
			out = append(out, fmt.Sprintf("StatefulSet %s: serviceName %s is not a rendered headless Service", s.Name, s.Spec.ServiceName))
		}
	}
	if !slices.Equal(routes, want) {
		out = append(out, fmt.Sprintf("%s: cluster routes %v, want one per server: %v", natsConfigKey, routes, want))
	}
	user := slices.IndexFunc(opts.Users, func(u *natsserver.User) bool { return u.Username == cfg.NATS.User })
	if user < 0 || opts.Users[user].Password != "CHANGE-ME" || opts.Users[user].Account == nil {
		out = append(out, fmt.Sprintf("%s: no user %q (nats.user) with the password from the Secret, in an account", natsConfigKey, cfg.NATS.User))
	} else if acc := opts.Users[user].Account.Name; !strings.Contains(conf, acc+" {") || !strings.Contains(conf, "jetstream: enabled") {
		out = append(out, fmt.Sprintf("%s: the account %s of user %s has no JetStream", natsConfigKey, acc, cfg.NATS.User))
	}

	u, err := url.Parse(cfg.NATS.URL)
	if err != nil {
		return append(out, fmt.Sprintf("nats.url %q: %v", cfg.NATS.URL, err))
	}
	svcName, rest, _ := strings.Cut(u.Hostname(), ".")
	svc := findService(objs, svcName)
	if svc == nil || !strings.HasPrefix(rest+".", namespace+".") || !selects(&metav1.LabelSelector{MatchLabels: svc.Spec.Selector}, s.Spec.Template.Labels) ||
		!slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return strconv.Itoa(int(p.Port)) == u.Port() }) {
		out = append(out, fmt.Sprintf("nats.url %s is not a rendered Service of the NATS pods in namespace %s on that port", cfg.NATS.URL, namespace))
	}
	return out
}

// checkStorage: every server can hold what triggerflow's streams reserve. nats-server
// reserves each stream's max_bytes against its jetstream.max_file_store when the stream
// is created (a stream that does not fit is refused, and the services do not start); with
// nats.replicas equal to the servers, every server holds a replica of every stream. And
// max_file_store fits in the server's volume.
func checkStorage(s *appsv1.StatefulSet, opts *natsserver.Options, cfg *config.Config) []string {
	var out []string
	var reserved int64
	for _, l := range cfg.Streams.StreamLimits() {
		if l.MaxBytes <= 0 {
			out = append(out, "streams.limits: a stream without max_bytes reserves nothing but can fill the volume; give every stream one")
			continue
		}
		reserved += l.MaxBytes
	}
	if opts.JetStreamMaxStore <= 0 {
		return append(out, natsConfigKey+": no jetstream.max_file_store: the server takes 75% of the disk it finds at start")
	}
	if reserved > opts.JetStreamMaxStore {
		out = append(out, fmt.Sprintf("streams.limits reserve %d MiB per server, more than max_file_store %d MiB in %s: the streams would be refused at start",
			reserved>>20, opts.JetStreamMaxStore>>20, natsConfigKey))
	}
	if len(s.Spec.VolumeClaimTemplates) == 1 {
		if size := s.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests.Storage(); size.Value() < opts.JetStreamMaxStore {
			out = append(out, fmt.Sprintf("%s: max_file_store %d MiB is more than the volume's %s", natsConfigKey, opts.JetStreamMaxStore>>20, size))
		}
	}
	return out
}

// checkKEDA: every ScaledObject on a consumer scales on a durable consumer that its
// service really creates (the services' own Consumers functions, with this config), in the
// NATS account of the user triggerflow, through the monitoring port of the headless Service.
func checkKEDA(t *testing.T, objs []object, cfg *config.Config) []string {
	t.Helper()
	var out []string
	consumers := map[string][]natsconn.ConsumerConfig{
		"dispatcher": dispatcher.Consumers(cfg.Dispatcher, dispatcher.ConfigOf(cfg).Inbound),
		"itsm-sync":  itsmsync.Consumers(itsmsync.ConfigOf(cfg)),
	}
	lanes, alerts, digest := notifier.Consumers(notifier.ConfigOf(cfg))
	consumers["notifier"] = slices.Concat(lanes, alerts, []natsconn.ConsumerConfig{digest})
	nats := natsStatefulSet(objs)
	for _, so := range of[scaledObject](objs) {
		svc := ""
		for _, s := range services {
			if d := deploymentOf(objs, s); d != nil && d.Name == so.Spec.ScaleTargetRef.Name {
				svc = s
			}
		}
		if len(so.Spec.Triggers) == 0 {
			out = append(out, "ScaledObject "+so.Name+": no trigger")
		}
		for _, tr := range so.Spec.Triggers {
			where := fmt.Sprintf("ScaledObject %s trigger %s", so.Name, tr.Type)
			switch tr.Type {
			case "cpu":
				continue
			case "nats-jetstream":
			default:
				out = append(out, where+": not cpu or nats-jetstream")
				continue
			}
			m := tr.Metadata
			if !slices.ContainsFunc(consumers[svc], func(c natsconn.ConsumerConfig) bool { return c.Stream == m["stream"] && c.Durable == m["consumer"] }) {
				out = append(out, fmt.Sprintf("%s: triggerflow %s creates no consumer %s on %s", where, svc, m["consumer"], m["stream"]))
			}
			if n, err := strconv.Atoi(m["lagThreshold"]); err != nil || n < 1 {
				out = append(out, fmt.Sprintf("%s: lagThreshold %q is not a positive number", where, m["lagThreshold"]))
			}
			host, port, _ := net.SplitHostPort(m["natsServerMonitoringEndpoint"])
			if nats == nil || host != fmt.Sprintf("%s.%s.svc.cluster.local", nats.Spec.ServiceName, namespace) || port != "8222" {
				out = append(out, fmt.Sprintf("%s: natsServerMonitoringEndpoint %q is not the monitoring port of the NATS headless Service", where, m["natsServerMonitoringEndpoint"]))
			}
			if m["account"] == "" || !strings.Contains(natsConf(objs), m["account"]+" {") {
				out = append(out, fmt.Sprintf("%s: account %q is not an account of nats.conf", where, m["account"]))
			}
			for k := range m {
				if !slices.Contains([]string{"natsServerMonitoringEndpoint", "account", "stream", "consumer", "lagThreshold", "activationLagThreshold", "useHttps"}, k) {
					out = append(out, fmt.Sprintf("%s: unknown metadata %s", where, k))
				}
			}
		}
	}
	if len(of[scaledObject](objs)) > 0 && nats != nil && !admits(objs, nats.Spec.Template.Labels, networkingv1.PolicyTypeIngress, 8222, namespacePeer("keda")) {
		out = append(out, "no NetworkPolicy admits KEDA (namespace keda) to NATS's monitoring port 8222")
	}
	return out
}

func natsConf(objs []object) string {
	for _, cm := range of[corev1.ConfigMap](objs) {
		if c, ok := cm.Data[natsConfigKey]; ok {
			return c
		}
	}
	return ""
}

// checkIngresses: every Ingress routes the mediator's path to a rendered Service port that
// reaches the ingress, with TLS, and a NetworkPolicy admits the ingress controller.
func checkIngresses(objs []object, cfg *config.Config) []string {
	var out []string
	for _, ing := range of[networkingv1.Ingress](objs) {
		where := "Ingress " + ing.Name
		if len(ing.Spec.TLS) == 0 || ing.Spec.TLS[0].SecretName == "" {
			out = append(out, where+": no TLS")
		}
		paths := 0
		routed := false
		for _, r := range ing.Spec.Rules {
			if r.HTTP == nil {
				continue
			}
			for _, p := range r.HTTP.Paths {
				paths++
				b := p.Backend.Service
				svc := (*corev1.Service)(nil)
				if b != nil {
					svc = findService(objs, b.Name)
				}
				if svc == nil || !slices.ContainsFunc(svc.Spec.Ports, func(sp corev1.ServicePort) bool { return sp.Port == b.Port.Number || sp.Name == b.Port.Name }) {
					out = append(out, fmt.Sprintf("%s: path %s goes to no rendered Service port", where, p.Path))
				}
				routed = routed || p.Path == cfg.Ingress.Path
			}
		}
		if !routed {
			out = append(out, fmt.Sprintf("%s: does not route ingress.path %s", where, cfg.Ingress.Path))
		}
		if d := deploymentOf(objs, "ingress"); d != nil && !admits(objs, d.Spec.Template.Labels, networkingv1.PolicyTypeIngress, 8000, namespacePeer("kube-system")) {
			out = append(out, where+": no NetworkPolicy admits the ingress controller (kube-system) to the ingress pods")
		}
	}
	return out
}

// checkMediatorHost: both READMEs give the exact HOST for a SecureChange pod in the same
// cluster, as the rendered Service makes it.
func checkMediatorHost(t *testing.T, objs []object) []string {
	t.Helper()
	svc := findService(objs, ingressName)
	if svc == nil || len(svc.Spec.Ports) == 0 {
		return []string{"no Service " + ingressName}
	}
	host := fmt.Sprintf("http://%s.%s.svc.cluster.local:%d", svc.Name, svc.Namespace, svc.Spec.Ports[0].Port)
	var out []string
	for _, f := range []string{"README.md", "../../README.md"} {
		if !strings.Contains(readFile(t, f), host) {
			out = append(out, fmt.Sprintf("%s does not give the mediator's HOST %s", f, host))
		}
	}
	return out
}

// checkPodMonitors: a PodMonitor scrapes /metrics of every service's pods on a port the pod
// has, which its NetworkPolicy admits from the monitoring namespace.
func checkPodMonitors(objs []object) []string {
	var out []string
	pms := of[podMonitor](objs)
	if len(pms) == 0 {
		return nil
	}
	for _, svc := range services {
		d := deploymentOf(objs, svc)
		if d == nil {
			continue
		}
		scraped := false
		for _, pm := range pms {
			if !selects(&pm.Spec.Selector, d.Spec.Template.Labels) {
				continue
			}
			for _, e := range pm.Spec.PodMetricsEndpoints {
				for _, p := range d.Spec.Template.Spec.Containers[0].Ports {
					if p.Name == e.Port && e.Path == "/metrics" &&
						admits(objs, d.Spec.Template.Labels, networkingv1.PolicyTypeIngress, p.ContainerPort, namespacePeer(monitoringNS)) {
						scraped = true
					}
				}
			}
		}
		if !scraped {
			out = append(out, fmt.Sprintf("Deployment %s: no PodMonitor scrapes /metrics on a port of its pods that the monitoring namespace may reach", d.Name))
		}
	}
	return out
}

// goRuntimeFromLimits: the Go runtime of a service works to its container's limits:
// GOMEMLIMIT from limits.memory, GOMAXPROCS from limits.cpu in whole CPUs (Go's own
// default rounds a limit of 1 up to 2 Ps, which the CFS quota then throttles; one P per
// CPU, the split deployment used 9–18 % less CPU per trigger in make bench-pipeline), and both limits set (a
// resourceFieldRef without a limit reads the node's allocatable).
func goRuntimeFromLimits(where string, c corev1.Container) []string {
	var out []string
	for _, want := range []struct {
		env      string
		resource corev1.ResourceName
		divisor  string
	}{{"GOMEMLIMIT", corev1.ResourceLimitsMemory, ""}, {"GOMAXPROCS", corev1.ResourceLimitsCPU, "1"}} {
		i := slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == want.env })
		if i < 0 || c.Env[i].ValueFrom == nil || c.Env[i].ValueFrom.ResourceFieldRef == nil ||
			corev1.ResourceName(c.Env[i].ValueFrom.ResourceFieldRef.Resource) != want.resource {
			out = append(out, fmt.Sprintf("%s: env %s is not from resourceFieldRef %s", where, want.env, want.resource))
			continue
		}
		if d := c.Env[i].ValueFrom.ResourceFieldRef.Divisor; want.divisor != "" && d.String() != want.divisor {
			out = append(out, fmt.Sprintf("%s: env %s has divisor %s, want %s", where, want.env, d.String(), want.divisor))
		}
	}
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if _, ok := c.Resources.Limits[r]; !ok {
			out = append(out, fmt.Sprintf("%s: no %s limit", where, r))
		}
	}
	return out
}
