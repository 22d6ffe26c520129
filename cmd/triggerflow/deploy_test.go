package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/triggerflow/triggerflow/pkg/config"
	"github.com/triggerflow/triggerflow/pkg/platform/wfi"
)

// The layout deploy/k8s promises (see deploy/k8s/README.md).
const (
	k8sDir          = "../../deploy/k8s"
	k8sNamespace    = "triggerflow"
	k8sConfigMap    = "triggerflow-config"
	k8sTemplatesMap = "triggerflow-templates"
	k8sSecret       = "triggerflow-secrets"
	k8sConfigDir    = "/etc/triggerflow"
	k8sConfigFile   = k8sConfigDir + "/triggerflow.yaml"
	k8sTemplatesDir = k8sConfigDir + "/templates"
	k8sSecretDir    = "/var/run/secrets/triggerflow"
	k8sSecretFile   = "secret.example.yaml" // not applied: admins create the Secret
)

// k8sObject is one YAML document of a manifest file.
type k8sObject struct {
	file string
	doc  map[string]any
}

func (o k8sObject) kind() string { return k8sStr(o.doc, "kind") }
func (o k8sObject) name() string { return k8sStr(o.doc, "metadata", "name") }
func (o k8sObject) String() string {
	return fmt.Sprintf("%s: %s %q", o.file, o.kind(), o.name())
}

// TestDeployManifests keeps deploy/k8s deployable: every document is a Kubernetes object,
// kustomization.yaml lists exactly the manifests, the shipped config passes triggerflow's
// own validation with the mounted templates and secrets, and every Deployment runs a real
// subcommand with the config, templates and secrets mounted, probes and a locked-down
// securityContext.
func TestDeployManifests(t *testing.T) {
	files, objs := readK8sManifests(t)

	t.Run("objects", func(t *testing.T) {
		seen := map[string]string{}
		for _, o := range objs {
			if o.kind() == "" || k8sStr(o.doc, "apiVersion") == "" || o.name() == "" {
				t.Errorf("%s: a document needs apiVersion, kind and metadata.name", o)
				continue
			}
			if ns := k8sStr(o.doc, "metadata", "namespace"); o.kind() != "Namespace" && ns != k8sNamespace {
				t.Errorf("%s: metadata.namespace is %q, want %q", o, ns, k8sNamespace)
			}
			id := o.kind() + "/" + o.name()
			if prev, ok := seen[id]; ok {
				t.Errorf("%s: %s is also defined in %s", o, id, prev)
			}
			seen[id] = o.file
		}
	})

	t.Run("kustomization", func(t *testing.T) {
		data, err := os.ReadFile(filepath.Join(k8sDir, "kustomization.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		var k struct {
			APIVersion string   `yaml:"apiVersion"`
			Kind       string   `yaml:"kind"`
			Resources  []string `yaml:"resources"`
		}
		if err := yaml.Unmarshal(data, &k); err != nil {
			t.Fatalf("kustomization.yaml: %v", err)
		}
		if k.Kind != "Kustomization" || !strings.HasPrefix(k.APIVersion, "kustomize.config.k8s.io/") {
			t.Errorf("kustomization.yaml: apiVersion %q kind %q, want a kustomize.config.k8s.io Kustomization", k.APIVersion, k.Kind)
		}
		var want []string
		for _, f := range files {
			if f != "kustomization.yaml" && f != k8sSecretFile {
				want = append(want, f)
			}
		}
		got := slices.Clone(k.Resources)
		sort.Strings(got)
		if !slices.Equal(got, want) {
			t.Errorf("kustomization.yaml resources = %v,\nwant exactly the manifest files (without %s): %v", got, k8sSecretFile, want)
		}
	})

	t.Run("config", func(t *testing.T) {
		checkK8sConfig(t, objs)
	})

	t.Run("deployments", func(t *testing.T) {
		checkK8sDeployments(t, objs)
	})
}

// readManifests decodes every document of every *.yaml file in deploy/k8s (sorted names).
// kustomization.yaml is returned among the names but not among the objects.
func readK8sManifests(t *testing.T) (names []string, objs []k8sObject) {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(k8sDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if yml, _ := filepath.Glob(filepath.Join(k8sDir, "*.yml")); len(yml) > 0 {
		t.Errorf("%v: name manifests *.yaml", yml)
	}
	if len(paths) == 0 {
		t.Fatalf("no manifests in %s", k8sDir)
	}
	for _, p := range paths {
		name := filepath.Base(p)
		names = append(names, name)
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(f)
		for i := 0; ; i++ {
			var doc map[string]any
			err := dec.Decode(&doc)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Errorf("%s: document %d: %v", name, i, err)
				break
			}
			if doc == nil || name == "kustomization.yaml" { // an empty document (e.g. a trailing ---)
				continue
			}
			objs = append(objs, k8sObject{file: name, doc: doc})
		}
		f.Close()
	}
	sort.Strings(names)
	return names, objs
}

// checkShippedConfig lays the ConfigMaps and the example Secret out as the pods see them,
// in a temporary directory, and loads the config with triggerflow's own validation.
func checkK8sConfig(t *testing.T, objs []k8sObject) {
	cm := k8sFind(t, objs, "ConfigMap", k8sConfigMap)
	tmplCM := k8sFind(t, objs, "ConfigMap", k8sTemplatesMap)
	secret := k8sFind(t, objs, "Secret", k8sSecret)
	if cm == nil || tmplCM == nil || secret == nil {
		return
	}
	if secret.file != k8sSecretFile {
		t.Errorf("%s: the Secret belongs in %s only (admins create it with kubectl)", secret, k8sSecretFile)
	}
	text := k8sStr(cm.doc, "data", "triggerflow.yaml")
	if text == "" {
		t.Fatalf("%s: no data key triggerflow.yaml", cm)
	}

	tmp := t.TempDir()
	secretDir := filepath.Join(tmp, "secrets")
	templatesDir := filepath.Join(tmp, "templates")
	for _, d := range []string{secretDir, templatesDir} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	// The secret files the config refers to: the keys of the example Secret.
	keys := k8sDataKeys(t, secret)
	if len(keys) == 0 {
		t.Fatalf("%s: no stringData keys", secret)
	}
	for key, val := range keys {
		if val != "CHANGE-ME" {
			t.Errorf("%s: %s is %q; the example holds placeholders only (CHANGE-ME)", secret, key, val)
		}
		if !strings.Contains(text, k8sSecretDir+"/"+key) {
			t.Errorf("%s: key %s is not referred to by the config (%s/%s)", secret, key, k8sSecretDir, key)
		}
		k8sWriteFile(t, filepath.Join(secretDir, key), val+"\n") // as kubectl --from-file often leaves it
	}
	// The templates, as mounted at /etc/triggerflow/templates.
	for key, val := range k8sDataKeys(t, tmplCM) {
		if strings.HasSuffix(key, ".json") && !json.Valid([]byte(val)) {
			t.Errorf("%s: %s is not valid JSON", tmplCM, key)
		}
		k8sWriteFile(t, filepath.Join(templatesDir, key), val)
	}
	if strings.Contains(text, k8sConfigDir+"/") {
		t.Errorf("%s: refer to templates relative to the config file (templates/…), not by %s/ paths", cm, k8sConfigDir)
	}
	text = strings.ReplaceAll(text, k8sSecretDir+"/", secretDir+string(filepath.Separator))
	cfgPath := filepath.Join(tmp, "triggerflow.yaml")
	k8sWriteFile(t, cfgPath, text)

	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatalf("the config in %s does not load:\n%v", cm.file, err)
	}
	if err := wfi.CheckConfig(cfg); err != nil { // as `triggerflow config check` does
		t.Errorf("%s: templates: %v", cm.file, err)
	}
	if cfg.NATS.URL == "" {
		t.Errorf("%s: nats.url is empty: the services would start an embedded server per pod", cm.file)
	}
	if len(cfg.Ingress.Users) == 0 {
		t.Errorf("%s: ingress.users is empty: the ingress refuses to start without --dev", cm.file)
	}
	if got := k8sListenPort(t, cfg.Ingress.Listen); got != 8000 {
		t.Errorf("%s: ingress.listen port %d, the manifests use 8000", cm.file, got)
	}
	if got := k8sListenPort(t, cfg.Admin.Listen); got != 9090 {
		t.Errorf("%s: admin.listen port %d, the manifests use 9090", cm.file, got)
	}
}

// checkDeployments checks each Deployment's container and the objects that point at it.
func checkK8sDeployments(t *testing.T, objs []k8sObject) {
	allowed := map[string]bool{}
	for name := range serveHelp { // the serving subcommands main.go has
		if name != "all" {
			allowed[name] = true
		}
	}
	podLabels := map[string]map[string]any{} // Deployment name → pod template labels
	ran := map[string]string{}               // subcommand → Deployment
	for _, o := range objs {
		if o.kind() != "Deployment" {
			continue
		}
		spec := k8sDig(o.doc, "spec", "template", "spec")
		podLabels[o.name()], _ = k8sDig(o.doc, "spec", "template", "metadata", "labels").(map[string]any)
		if sel, _ := k8sDig(o.doc, "spec", "selector", "matchLabels").(map[string]any); !k8sSubset(sel, podLabels[o.name()]) || len(sel) == 0 {
			t.Errorf("%s: spec.selector.matchLabels %v does not select the pod labels %v", o, sel, podLabels[o.name()])
		}
		volumes := map[string]map[string]any{}
		for _, v := range k8sList(spec, "volumes") {
			vm, _ := v.(map[string]any)
			volumes[k8sStr(vm, "name")] = vm
		}
		containers := k8sList(spec, "containers")
		if len(containers) != 1 {
			t.Errorf("%s: %d containers, want 1", o, len(containers))
		}
		for _, c := range containers {
			c, _ := c.(map[string]any)
			where := fmt.Sprintf("%s container %q", o, k8sStr(c, "name"))
			var argv []string
			for _, a := range append(k8sList(c, "command"), k8sList(c, "args")...) {
				s, _ := a.(string)
				argv = append(argv, s)
			}
			if len(argv) < 2 || filepath.Base(argv[0]) != "triggerflow" || !allowed[argv[1]] {
				t.Errorf("%s: runs %q, want triggerflow <%s> …", where, argv, strings.Join(k8sSortedSet(allowed), "|"))
				continue
			}
			sub := argv[1]
			if prev, ok := ran[sub]; ok {
				t.Errorf("%s: triggerflow %s already runs in %s", where, sub, prev)
			}
			ran[sub] = o.name()
			if i := slices.Index(argv, "--config"); i < 0 || i+1 >= len(argv) || argv[i+1] != k8sConfigFile {
				t.Errorf("%s: args %q, want --config %s", where, argv, k8sConfigFile)
			}
			if env := k8sEnvValue(c, "TRIGGERFLOW_CONFIG"); env != k8sConfigFile {
				t.Errorf("%s: env TRIGGERFLOW_CONFIG = %q, want %s", where, env, k8sConfigFile)
			}

			// Mounts: the config, the templates and the secrets, read-only, from the right objects.
			mounts := map[string]map[string]any{}
			for _, m := range k8sList(c, "volumeMounts") {
				m, _ := m.(map[string]any)
				mounts[k8sStr(m, "mountPath")] = m
			}
			for _, want := range []struct{ path, source, field, name string }{
				{k8sConfigDir, "configMap", "name", k8sConfigMap},
				{k8sTemplatesDir, "configMap", "name", k8sTemplatesMap},
				{k8sSecretDir, "secret", "secretName", k8sSecret},
			} {
				m := mounts[want.path]
				if m == nil {
					t.Errorf("%s: nothing mounted at %s", where, want.path)
					continue
				}
				if ro, _ := m["readOnly"].(bool); !ro {
					t.Errorf("%s: the mount at %s is not readOnly", where, want.path)
				}
				if got := k8sStr(volumes[k8sStr(m, "name")], want.source, want.field); got != want.name {
					t.Errorf("%s: %s comes from volume %q (%s %q), want %s %q", where, want.path, k8sStr(m, "name"), want.source, got, want.source, want.name)
				}
			}

			// Probes on the service's HTTP port: the ingress's own, the admin listener otherwise.
			port := 9090
			if sub == "ingress" {
				port = 8000
			}
			for probe, path := range map[string]string{"readinessProbe": "/readyz", "livenessProbe": "/healthz"} {
				get, _ := k8sDig(c, probe, "httpGet").(map[string]any)
				if get == nil {
					t.Errorf("%s: no %s.httpGet", where, probe)
					continue
				}
				if got := k8sStr(get, "path"); got != path {
					t.Errorf("%s: %s path %q, want %s", where, probe, got, path)
				}
				if got := k8sContainerPort(c, get["port"]); got != port {
					t.Errorf("%s: %s port %v is container port %d, want %d", where, probe, get["port"], got, port)
				}
			}

			sc, _ := c["securityContext"].(map[string]any)
			for _, key := range []string{"runAsNonRoot", "readOnlyRootFilesystem"} {
				if v, _ := sc[key].(bool); !v {
					t.Errorf("%s: securityContext.%s is not true", where, key)
				}
			}
			if v, ok := sc["allowPrivilegeEscalation"].(bool); !ok || v {
				t.Errorf("%s: securityContext.allowPrivilegeEscalation is not false", where)
			}
			if drop := k8sList(sc, "capabilities", "drop"); !slices.Contains(drop, any("ALL")) {
				t.Errorf("%s: securityContext.capabilities.drop %v does not drop ALL", where, drop)
			}
			if k8sDig(c, "resources", "requests") == nil || k8sDig(c, "resources", "limits") == nil {
				t.Errorf("%s: set resources.requests and resources.limits", where)
			}
		}
	}
	for _, sub := range []string{"ingress", "dispatcher", "itsm-sync", "notifier"} {
		if ran[sub] == "" {
			t.Errorf("no Deployment runs triggerflow %s", sub)
		}
	}

	// Whatever points at a Deployment's pods must find them.
	for _, o := range objs {
		switch o.kind() {
		case "Service", "PodDisruptionBudget":
			sel, _ := k8sDig(o.doc, "spec", "selector").(map[string]any)
			if o.kind() == "PodDisruptionBudget" {
				sel, _ = sel["matchLabels"].(map[string]any)
			}
			matched := false
			for _, labels := range podLabels {
				matched = matched || (len(sel) > 0 && k8sSubset(sel, labels))
			}
			if !matched {
				t.Errorf("%s: selector %v matches no Deployment's pods", o, sel)
			}
		case "HorizontalPodAutoscaler":
			target := k8sStr(o.doc, "spec", "scaleTargetRef", "name")
			if _, ok := podLabels[target]; !ok || k8sStr(o.doc, "spec", "scaleTargetRef", "kind") != "Deployment" {
				t.Errorf("%s: scaleTargetRef %q is not a Deployment here", o, target)
			}
		}
	}
}

func k8sFind(t *testing.T, objs []k8sObject, kind, name string) *k8sObject {
	t.Helper()
	for i := range objs {
		if objs[i].kind() == kind && objs[i].name() == name {
			return &objs[i]
		}
	}
	t.Errorf("no %s %q in %s", kind, name, k8sDir)
	return nil
}

// dataKeys returns a ConfigMap's data or a Secret's stringData as strings.
func k8sDataKeys(t *testing.T, o *k8sObject) map[string]string {
	t.Helper()
	field := "data"
	if o.kind() == "Secret" {
		field = "stringData"
	}
	m, _ := o.doc[field].(map[string]any)
	out := make(map[string]string, len(m))
	for k, v := range m {
		s, ok := v.(string)
		if !ok {
			t.Errorf("%s: %s.%s is a %T, want a string", o, field, k, v)
		}
		out[k] = s
	}
	return out
}

func k8sWriteFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

func k8sListenPort(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Errorf("listen address %q: %v", addr, err)
		return 0
	}
	n, _ := strconv.Atoi(p)
	return n
}

// containerPort resolves a probe's port (a number or a port name) to a container port.
func k8sContainerPort(c map[string]any, port any) int {
	if n, ok := port.(int); ok {
		return n
	}
	for _, p := range k8sList(c, "ports") {
		p, _ := p.(map[string]any)
		if name, _ := port.(string); name != "" && k8sStr(p, "name") == name {
			n, _ := p["containerPort"].(int)
			return n
		}
	}
	return 0
}

func k8sEnvValue(c map[string]any, name string) string {
	for _, e := range k8sList(c, "env") {
		e, _ := e.(map[string]any)
		if k8sStr(e, "name") == name {
			return k8sStr(e, "value")
		}
	}
	return ""
}

// dig walks nested YAML maps; nil when a key is missing.
func k8sDig(v any, path ...string) any {
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func k8sStr(v any, path ...string) string {
	s, _ := k8sDig(v, path...).(string)
	return s
}

func k8sList(v any, path ...string) []any {
	l, _ := k8sDig(v, path...).([]any)
	return l
}

// subset reports whether every key of sel has the same value in labels.
func k8sSubset(sel, labels map[string]any) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func k8sSortedSet(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
