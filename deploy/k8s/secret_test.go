package k8s

import (
	"fmt"
	"path"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// The Secret triggerflow-secrets is named in one place: the `kubectl create secret generic`
// command of deploy/k8s/README.md. The main README repeats the command word for word.
const secretDoc = "README.md"

// documentedSecretKeys are the keys of the Secret that deploy/k8s/README.md tells
// administrators to create.
func documentedSecretKeys(t *testing.T) []string {
	t.Helper()
	var keys []string
	n := 0
	for _, c := range parseSecretCommands(t, readFile(t, secretDoc)) {
		if c.name == secretName {
			n++
			keys = append(keys, c.keys...)
		}
	}
	if n != 1 {
		t.Fatalf("%s: %d `kubectl create secret generic %s` commands, want exactly 1", secretDoc, n, secretName)
	}
	return keys
}

// TestDeploySecretCommand: the Secret command is the same in both READMEs, creates the
// Secret in the namespace, and provides every secret file that some overlay's config names
// (each *_file key pointing into the Secret's mount path) and every key that NATS reads;
// a key nothing reads is reported too. Nothing is started.
func TestDeploySecretCommand(t *testing.T) {
	t.Parallel()
	keys := documentedSecretKeys(t)
	slices.Sort(keys)
	for _, f := range []string{secretDoc, "../../README.md"} {
		cmds := parseSecretCommands(t, readFile(t, f))
		i := slices.IndexFunc(cmds, func(c secretCommand) bool { return c.name == secretName })
		if i < 0 {
			t.Errorf("%s: no `kubectl create secret generic %s` command", f, secretName)
			continue
		}
		got := slices.Sorted(slices.Values(cmds[i].keys))
		if !slices.Equal(got, keys) {
			t.Errorf("%s: the Secret command creates the keys %v, %s: %v", f, got, secretDoc, keys)
		}
		if cmds[i].namespace != namespace {
			t.Errorf("%s: the Secret %s is created in namespace %q, want %q", f, secretName, cmds[i].namespace, namespace)
		}
	}

	used := map[string]string{} // key → who reads it
	for _, ov := range overlays {
		objs := render(t, ov.dir)
		for _, cm := range of[corev1.ConfigMap](objs) {
			if text, ok := cm.Data["triggerflow.yaml"]; ok {
				for key, at := range configFiles(t, text).secrets {
					used[key] = ov.dir + ": " + at
				}
			}
		}
		for _, s := range of[appsv1.StatefulSet](objs) {
			for _, c := range s.Spec.Template.Spec.Containers {
				for _, e := range c.Env {
					if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil && e.ValueFrom.SecretKeyRef.Name == secretName {
						used[e.ValueFrom.SecretKeyRef.Key] = fmt.Sprintf("%s: %s env %s", ov.dir, s.Name, e.Name)
					}
				}
			}
		}
	}
	for key, at := range used {
		if !slices.Contains(keys, key) {
			t.Errorf("%s: the Secret command leaves out %s (%s); every pod would fail on \"read secret file … no such file\"", secretDoc, key, at)
		}
	}
	for _, key := range keys {
		if used[key] == "" {
			t.Errorf("%s: the Secret key %s is read by nothing any overlay renders", secretDoc, key)
		}
	}
}

// files is what a config names by *_file keys: files under secretDir (file → key path) and
// body_file templates (relative path → key path).
type files struct {
	secrets, templates map[string]string
}

func configFiles(t *testing.T, text string) files {
	t.Helper()
	var root yaml.Node
	if err := yaml.Unmarshal([]byte(text), &root); err != nil {
		t.Fatalf("triggerflow.yaml: %v", err)
	}
	out := files{secrets: map[string]string{}, templates: map[string]string{}}
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
					if rel, ok := strings.CutPrefix(v.Value, secretDir+"/"); ok {
						out.secrets[rel] = p
					} else if k.Value == "body_file" {
						out.templates[v.Value] = p
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
// lines continued by a trailing backslash are joined.
func parseSecretCommands(t *testing.T, text string) []secretCommand {
	t.Helper()
	var lines []string
	cont := false
	for _, l := range strings.Split(text, "\n") {
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
	got := parseSecretCommands(t, text)
	want := []secretCommand{{"s", "triggerflow", []string{"a", "b", "c", "e"}}, {"other", "ns", []string{"x"}}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %v, want %v", got, want)
	}
}
