package main

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestDeploySecretCommand: every secret file the shipped config names (each *_file key
// pointing into the Secret's mount path) is a key of the Secret that deploy/k8s/README.md
// tells administrators to create, and of the command in secret.example.yaml, and every
// Deployment mounts that Secret, all of its keys, at that path. Nothing is started.
func TestDeploySecretCommand(t *testing.T) {
	_, objs := readK8sManifests(t)
	cm := k8sFind(t, objs, "ConfigMap", k8sConfigMap)
	if cm == nil {
		return
	}
	files := k8sSecretFiles(t, k8sStr(cm.doc, "data", "triggerflow.yaml"))
	if len(files) == 0 {
		t.Fatalf("%s: no *_file key points into %s", cm, k8sSecretDir)
	}

	readme, err := os.ReadFile(filepath.Join(k8sDir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile(filepath.Join(k8sDir, k8sSecretFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range []struct {
		name string
		cmds []secretCommand
	}{
		{"README.md", parseSecretCommands(t, string(readme), false)},
		{k8sSecretFile, parseSecretCommands(t, string(example), true)},
	} {
		var keys []string
		n := 0
		for _, c := range doc.cmds {
			if c.name == k8sSecret {
				n++
				keys = append(keys, c.keys...)
				if c.namespace != k8sNamespace {
					t.Errorf("%s: the Secret %s is created in namespace %q, want %q", doc.name, k8sSecret, c.namespace, k8sNamespace)
				}
			}
		}
		if n == 0 {
			t.Errorf("%s: no `kubectl create secret generic %s` command", doc.name, k8sSecret)
			continue
		}
		for key, where := range files {
			if !slices.Contains(keys, key) {
				t.Errorf("%s: the Secret command leaves out %s (%s: %s/%s); every pod would fail on \"read secret file … no such file\"",
					doc.name, key, where, k8sSecretDir, key)
			}
		}
	}

	// The Secret is mounted whole at the path the config names, in every Deployment.
	deployments := 0
	for _, o := range objs {
		if o.kind() != "Deployment" {
			continue
		}
		deployments++
		spec := k8sDig(o.doc, "spec", "template", "spec")
		var volume map[string]any
		for _, v := range k8sList(spec, "volumes") {
			if v, _ := v.(map[string]any); k8sStr(v, "secret", "secretName") == k8sSecret {
				volume = v
			}
		}
		if volume == nil {
			t.Errorf("%s: no volume from the Secret %s", o, k8sSecret)
			continue
		}
		if items := k8sList(volume, "secret", "items"); items != nil {
			t.Errorf("%s: the Secret's volume lists items %v: mount every key", o, items)
		}
		for _, c := range k8sList(spec, "containers") {
			mounted := false
			for _, m := range k8sList(c, "volumeMounts") {
				m, _ := m.(map[string]any)
				if k8sStr(m, "name") == k8sStr(volume, "name") && k8sStr(m, "mountPath") == k8sSecretDir && k8sStr(m, "subPath") == "" {
					mounted = true
				}
			}
			if !mounted {
				t.Errorf("%s container %q: the Secret %s is not mounted at %s", o, k8sStr(c, "name"), k8sSecret, k8sSecretDir)
			}
		}
	}
	if deployments == 0 {
		t.Errorf("no Deployment in %s", k8sDir)
	}
}

// k8sSecretFiles returns the files under k8sSecretDir that a config names by a *_file
// key: file name → the key's path.
func k8sSecretFiles(t *testing.T, text string) map[string]string {
	t.Helper()
	var root yaml.Node
	if err := yaml.Unmarshal([]byte(text), &root); err != nil {
		t.Fatalf("the shipped config: %v", err)
	}
	out := map[string]string{}
	var walk func(n *yaml.Node, at string)
	walk = func(n *yaml.Node, at string) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, at)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				walk(c, fmt.Sprintf("%s[%d]", at, i))
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				p := strings.TrimPrefix(at+"."+k.Value, ".")
				if strings.HasSuffix(k.Value, "_file") && v.Kind == yaml.ScalarNode {
					if rel, ok := strings.CutPrefix(v.Value, k8sSecretDir+"/"); ok {
						out[rel] = p
					}
				}
				walk(v, p)
			}
		}
	}
	walk(&root, "")
	return out
}

// secretCommand is one `kubectl create secret generic NAME` command.
type secretCommand struct {
	name, namespace string
	keys            []string // what --from-literal and --from-file put in the Secret
}

// parseSecretCommands finds the `kubectl … create secret generic …` commands in text: shell
// lines continued by a trailing backslash are joined; in a YAML file's comment (comment
// true) the leading '#' is removed first.
func parseSecretCommands(t *testing.T, text string, comment bool) []secretCommand {
	t.Helper()
	var lines []string
	cont := false
	for _, l := range strings.Split(text, "\n") {
		if comment {
			l = strings.TrimPrefix(strings.TrimSpace(l), "#")
		}
		l = strings.TrimSpace(l)
		joined := l
		if cont {
			joined = lines[len(lines)-1] + " " + l
			lines = lines[:len(lines)-1]
		}
		cont = strings.HasSuffix(joined, "\\")
		lines = append(lines, strings.TrimSuffix(joined, "\\"))
	}
	var out []secretCommand
	for _, l := range lines {
		args := strings.Fields(l)
		i := slices.Index(args, "kubectl")
		if i < 0 {
			continue
		}
		args = args[i+1:]
		var c secretCommand
		var pos []string
		for j := 0; j < len(args); j++ {
			a := args[j]
			val := func() string { // --flag=V or --flag V
				if _, v, ok := strings.Cut(a, "="); ok {
					return v
				}
				if j+1 < len(args) {
					j++
					return args[j]
				}
				return ""
			}
			switch {
			case a == "-n" || a == "--namespace" || strings.HasPrefix(a, "--namespace="):
				c.namespace = val()
			case strings.HasPrefix(a, "--from-literal"):
				key, _, _ := strings.Cut(val(), "=")
				c.keys = append(c.keys, key)
			case strings.HasPrefix(a, "--from-file"):
				v := val()
				if key, _, ok := strings.Cut(v, "="); ok {
					c.keys = append(c.keys, key)
				} else {
					c.keys = append(c.keys, path.Base(v))
				}
			case strings.HasPrefix(a, "--from-env-file"):
				t.Errorf("%q: --from-env-file is not understood by this test", l)
			case strings.HasPrefix(a, "-"):
			default:
				pos = append(pos, a)
			}
		}
		if len(pos) >= 4 && pos[0] == "create" && pos[1] == "secret" && pos[2] == "generic" {
			c.name = pos[3]
			out = append(out, c)
		}
	}
	return out
}

// TestParseSecretCommands: the README's forms, and the others kubectl takes.
func TestParseSecretCommands(t *testing.T) {
	t.Parallel()
	text := "kubectl -n triggerflow create secret generic s \\\n  --from-file=a --from-file=b=./x/y \\\n  --from-literal=c=\"$C\" --from-file ./d/e\n" +
		"kubectl create secret generic other --namespace=ns --from-literal x=1\nkubectl get pods\n"
	got := parseSecretCommands(t, text, false)
	want := []secretCommand{{"s", "triggerflow", []string{"a", "b", "c", "e"}}, {"other", "ns", []string{"x"}}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if got := parseSecretCommands(t, "#   kubectl -n t create secret generic s \\\n#     --from-file=k=./k\n", true); fmt.Sprint(got) != fmt.Sprint([]secretCommand{{"s", "t", []string{"k"}}}) {
		t.Errorf("in a comment: %v", got)
	}
}
