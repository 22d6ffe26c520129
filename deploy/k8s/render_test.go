package k8s

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// object is one rendered Kubernetes object, decoded strictly into its API type.
type object struct {
	kind, name, namespace string
	obj                   any // *appsv1.Deployment, *corev1.ConfigMap, *scaledObject, …
}

func (o object) String() string { return fmt.Sprintf("%s %s/%s", o.kind, o.namespace, o.name) }

// kinds are the API types every rendered object must decode into, by apiVersion and kind.
// Anything else fails: a typo'd kind, or a CRD without a local strict type below.
var kinds = map[string]func() any{
	"v1/Namespace":                           func() any { return new(corev1.Namespace) },
	"v1/ServiceAccount":                      func() any { return new(corev1.ServiceAccount) },
	"v1/ConfigMap":                           func() any { return new(corev1.ConfigMap) },
	"v1/Service":                             func() any { return new(corev1.Service) },
	"apps/v1/Deployment":                     func() any { return new(appsv1.Deployment) },
	"apps/v1/StatefulSet":                    func() any { return new(appsv1.StatefulSet) },
	"policy/v1/PodDisruptionBudget":          func() any { return new(policyv1.PodDisruptionBudget) },
	"autoscaling/v2/HorizontalPodAutoscaler": func() any { return new(autoscalingv2.HorizontalPodAutoscaler) },
	"networking.k8s.io/v1/NetworkPolicy":     func() any { return new(networkingv1.NetworkPolicy) },
	"networking.k8s.io/v1/Ingress":           func() any { return new(networkingv1.Ingress) },
	// CRDs: the small allowlist, each with a strict local type.
	"keda.sh/v1alpha1/ScaledObject":       func() any { return new(scaledObject) },
	"monitoring.coreos.com/v1/PodMonitor": func() any { return new(podMonitor) },
}

// scaledObject is the part of KEDA's ScaledObject (keda.sh/v1alpha1) that the manifests
// may use; any other field fails the decoding.
type scaledObject struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		ScaleTargetRef struct {
			APIVersion string `json:"apiVersion,omitempty"`
			Kind       string `json:"kind,omitempty"`
			Name       string `json:"name"`
		} `json:"scaleTargetRef"`
		PollingInterval *int32 `json:"pollingInterval,omitempty"`
		CooldownPeriod  *int32 `json:"cooldownPeriod,omitempty"`
		MinReplicaCount *int32 `json:"minReplicaCount,omitempty"`
		MaxReplicaCount *int32 `json:"maxReplicaCount,omitempty"`
		Advanced        *struct {
			HorizontalPodAutoscalerConfig *struct {
				Name     string                                         `json:"name,omitempty"`
				Behavior *autoscalingv2.HorizontalPodAutoscalerBehavior `json:"behavior,omitempty"`
			} `json:"horizontalPodAutoscalerConfig,omitempty"`
		} `json:"advanced,omitempty"`
		Triggers []kedaTrigger `json:"triggers"`
	} `json:"spec"`
}

// podMonitor is the part of prometheus-operator's PodMonitor (monitoring.coreos.com/v1)
// that the manifests may use.
type podMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		JobLabel            string               `json:"jobLabel,omitempty"`
		Selector            metav1.LabelSelector `json:"selector"`
		PodMetricsEndpoints []struct {
			Port     string `json:"port"`
			Path     string `json:"path,omitempty"`
			Interval string `json:"interval,omitempty"`
		} `json:"podMetricsEndpoints"`
	} `json:"spec"`
}

type kedaTrigger struct {
	Type       string            `json:"type"`
	Name       string            `json:"name,omitempty"`
	MetricType string            `json:"metricType,omitempty"`
	Metadata   map[string]string `json:"metadata"`
}

// render builds a kustomization directory with kustomize's Go API, as `kubectl apply -k`
// does, and decodes every object strictly.
func render(t *testing.T, dir string) []object {
	t.Helper()
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), abs)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	var objs []object
	for _, r := range m.Resources() {
		y, err := r.AsYAML()
		if err != nil {
			t.Fatalf("%s: %s: %v", dir, r.CurId(), err)
		}
		o, err := decode(y)
		if err != nil {
			t.Errorf("%s: %v", dir, err)
			continue
		}
		objs = append(objs, o)
	}
	if len(objs) == 0 {
		t.Fatalf("%s renders no object", dir)
	}
	return objs
}

// decode reads one object strictly: its apiVersion and kind must be known, and every field
// must exist in the API type (no unknown, no duplicate field).
func decode(y []byte) (object, error) {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(y, &tm); err != nil {
		return object{}, err
	}
	id := tm.APIVersion + "/" + tm.Kind
	newObj, ok := kinds[id]
	if !ok {
		return object{}, fmt.Errorf("%s: not a kind these manifests may use (add its API type to kinds)", id)
	}
	v := newObj()
	if err := yaml.UnmarshalStrict(y, v); err != nil {
		return object{}, fmt.Errorf("%s: %w", id, err)
	}
	meta := v.(metav1.Object)
	return object{kind: tm.Kind, name: meta.GetName(), namespace: meta.GetNamespace(), obj: v}, nil
}

// decodeAll decodes the documents of a multi-document YAML text (for the checkers' tests).
func decodeAll(t *testing.T, text string) []object {
	t.Helper()
	var objs []object
	for _, doc := range splitDocs(text) {
		o, err := decode([]byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		objs = append(objs, o)
	}
	return objs
}

func splitDocs(text string) []string {
	var docs []string
	for _, d := range strings.Split("\n"+text, "\n---\n") {
		if strings.TrimSpace(d) != "" {
			docs = append(docs, d)
		}
	}
	return docs
}

// of returns the objects of one Go type.
func of[T any](objs []object) []*T {
	var out []*T
	for _, o := range objs {
		if v, ok := o.obj.(*T); ok {
			out = append(out, v)
		}
	}
	return out
}

// workload is a Deployment or a StatefulSet: what the checks need of either.
type workload struct {
	kind, name string
	template   *corev1.PodTemplateSpec
	selector   *metav1.LabelSelector
}

func (w workload) String() string { return w.kind + " " + w.name }

func workloads(objs []object) []workload {
	var out []workload
	for _, d := range of[appsv1.Deployment](objs) {
		out = append(out, workload{"Deployment", d.Name, &d.Spec.Template, d.Spec.Selector})
	}
	for _, s := range of[appsv1.StatefulSet](objs) {
		out = append(out, workload{"StatefulSet", s.Name, &s.Spec.Template, s.Spec.Selector})
	}
	return out
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
