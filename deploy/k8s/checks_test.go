package k8s

import (
	"fmt"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// The checkers below return what is wrong, one line per problem, so that their own tests
// (checks_neg_test.go) can show that each one reports what it is meant to.

// checkContainers: every container of every workload has a startup, a liveness and a
// readiness probe, CPU and memory requests and limits, and the restricted security
// context (non-root, read-only root filesystem, no privilege escalation, no capabilities,
// a seccomp profile); its image is pinned by a tag other than latest, or by a digest.
func checkContainers(objs []object) []string {
	var out []string
	for _, w := range workloads(objs) {
		pod := &w.template.Spec
		for _, c := range slices.Concat(pod.InitContainers, pod.Containers) {
			where := fmt.Sprintf("%s container %s", w, c.Name)
			for name, p := range map[string]*corev1.Probe{"startupProbe": c.StartupProbe, "livenessProbe": c.LivenessProbe, "readinessProbe": c.ReadinessProbe} {
				if p == nil || (p.HTTPGet == nil && p.Exec == nil && p.TCPSocket == nil && p.GRPC == nil) {
					out = append(out, where+": no "+name)
				}
			}
			for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
				if _, ok := c.Resources.Requests[r]; !ok {
					out = append(out, fmt.Sprintf("%s: no resources.requests.%s", where, r))
				}
				if _, ok := c.Resources.Limits[r]; !ok {
					out = append(out, fmt.Sprintf("%s: no resources.limits.%s", where, r))
				}
			}
			out = append(out, checkSecurity(where, pod.SecurityContext, c.SecurityContext)...)
			if p := imageProblem(c.Image); p != "" {
				out = append(out, fmt.Sprintf("%s: image %q %s", where, c.Image, p))
			}
		}
	}
	return out
}

func checkSecurity(where string, pod *corev1.PodSecurityContext, c *corev1.SecurityContext) []string {
	if pod == nil {
		pod = &corev1.PodSecurityContext{}
	}
	if c == nil {
		c = &corev1.SecurityContext{}
	}
	var out []string
	if nonRoot := cmpOr(c.RunAsNonRoot, pod.RunAsNonRoot); nonRoot == nil || !*nonRoot {
		out = append(out, where+": runAsNonRoot is not true")
	}
	if c.ReadOnlyRootFilesystem == nil || !*c.ReadOnlyRootFilesystem {
		out = append(out, where+": readOnlyRootFilesystem is not true")
	}
	if c.AllowPrivilegeEscalation == nil || *c.AllowPrivilegeEscalation {
		out = append(out, where+": allowPrivilegeEscalation is not false")
	}
	if c.Capabilities == nil || !slices.Contains(c.Capabilities.Drop, "ALL") || len(c.Capabilities.Add) > 0 {
		out = append(out, where+": capabilities do not drop ALL (and add none)")
	}
	if sp := cmpOr(c.SeccompProfile, pod.SeccompProfile); sp == nil || (sp.Type != corev1.SeccompProfileTypeRuntimeDefault && sp.Type != corev1.SeccompProfileTypeLocalhost) {
		out = append(out, where+": no seccompProfile RuntimeDefault or Localhost")
	}
	return out
}

// cmpOr returns the first non-nil pointer.
func cmpOr[T any](ps ...*T) *T {
	for _, p := range ps {
		if p != nil {
			return p
		}
	}
	return nil
}

// imageProblem says what is wrong with an image reference, "" when it is pinned.
func imageProblem(image string) string {
	if _, digest, ok := strings.Cut(image, "@"); ok {
		if !strings.HasPrefix(digest, "sha256:") {
			return "has a digest that is not sha256"
		}
		return ""
	}
	name := image[strings.LastIndex(image, "/")+1:]
	_, tag, ok := strings.Cut(name, ":")
	switch {
	case !ok || tag == "":
		return "has no tag (set it with images: in the overlay)"
	case tag == "latest":
		return "is :latest"
	}
	return ""
}

// checkScaling: no Deployment has a replicas field (its autoscaler owns it), each has exactly
// one autoscaler (an HPA on CPU, or a KEDA ScaledObject) whose minimum is at least
// minReplicas, and every workload has a PodDisruptionBudget selecting its pods.
func checkScaling(objs []object, minReplicas int32) []string {
	var out []string
	scalers := map[string][]string{} // Deployment → its autoscalers
	mins := map[string]int32{}
	for _, h := range of[autoscalingv2.HorizontalPodAutoscaler](objs) {
		if h.Spec.ScaleTargetRef.Kind != "Deployment" {
			out = append(out, fmt.Sprintf("HorizontalPodAutoscaler %s: scales a %s", h.Name, h.Spec.ScaleTargetRef.Kind))
			continue
		}
		scalers[h.Spec.ScaleTargetRef.Name] = append(scalers[h.Spec.ScaleTargetRef.Name], "HorizontalPodAutoscaler "+h.Name)
		mins[h.Spec.ScaleTargetRef.Name] = 1 // the API's default
		if h.Spec.MinReplicas != nil {
			mins[h.Spec.ScaleTargetRef.Name] = *h.Spec.MinReplicas
		}
		if len(h.Spec.Metrics) == 0 || h.Spec.Metrics[0].Resource == nil || h.Spec.Metrics[0].Resource.Name != corev1.ResourceCPU {
			out = append(out, fmt.Sprintf("HorizontalPodAutoscaler %s: does not scale on CPU", h.Name))
		}
	}
	for _, s := range of[scaledObject](objs) {
		ref := s.Spec.ScaleTargetRef
		if ref.Kind != "" && ref.Kind != "Deployment" {
			out = append(out, fmt.Sprintf("ScaledObject %s: scales a %s", s.Name, ref.Kind))
			continue
		}
		scalers[ref.Name] = append(scalers[ref.Name], "ScaledObject "+s.Name)
		mins[ref.Name] = 0 // KEDA's default: scale to zero
		if s.Spec.MinReplicaCount != nil {
			mins[ref.Name] = *s.Spec.MinReplicaCount
		}
	}
	deployments := map[string]bool{}
	for _, w := range workloads(objs) {
		if w.kind != "Deployment" {
			continue
		}
		deployments[w.name] = true
		switch n := len(scalers[w.name]); {
		case n == 0:
			out = append(out, w.String()+": no HorizontalPodAutoscaler or ScaledObject")
		case n > 1:
			out = append(out, fmt.Sprintf("%s: %d autoscalers fight over it: %v", w, n, scalers[w.name]))
		case mins[w.name] < minReplicas:
			out = append(out, fmt.Sprintf("%s: its autoscaler's minimum is %d, want at least %d", w, mins[w.name], minReplicas))
		}
	}
	for name, s := range scalers {
		if !deployments[name] {
			out = append(out, fmt.Sprintf("%v: scales Deployment %s, which is not rendered", s, name))
		}
	}
	out = append(out, deploymentReplicas(objs)...)
	for _, w := range workloads(objs) {
		n := 0
		for _, p := range of[policyv1.PodDisruptionBudget](objs) {
			if selects(p.Spec.Selector, w.template.Labels) {
				n++
			}
		}
		if n != 1 {
			out = append(out, fmt.Sprintf("%s: %d PodDisruptionBudgets select its pods, want 1", w, n))
		}
	}
	return out
}

func deploymentReplicas(objs []object) []string {
	var out []string
	for _, d := range of[appsv1.Deployment](objs) {
		if d.Spec.Replicas != nil {
			out = append(out, fmt.Sprintf("Deployment %s: has replicas: %d; its autoscaler owns that field (an apply would reset it)", d.Name, *d.Spec.Replicas))
		}
	}
	return out
}

// selects reports whether a label selector matches the labels; an empty or nil selector
// matches nothing here (a PDB or policy that names no pod is a mistake in these manifests).
func selects(sel *metav1.LabelSelector, l map[string]string) bool {
	if sel == nil || (len(sel.MatchLabels) == 0 && len(sel.MatchExpressions) == 0) {
		return false
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	return err == nil && s.Matches(labels.Set(l))
}

// checkNetwork: every pod is under a default-deny policy (all pods, Ingress and Egress, no
// rule) and under at least one policy that names it (a non-empty podSelector): nothing
// reaches a pod, and a pod reaches nothing, that is not written down.
func checkNetwork(objs []object) []string {
	var out []string
	policies := of[networkingv1.NetworkPolicy](objs)
	for _, w := range workloads(objs) {
		denied, allowed := false, false
		for _, p := range policies {
			if isDefaultDeny(p) {
				denied = true
			} else if selects(&p.Spec.PodSelector, w.template.Labels) {
				allowed = true
			}
		}
		if !denied {
			out = append(out, w.String()+": no default-deny NetworkPolicy (podSelector {}, policyTypes Ingress and Egress, no rules) covers its pods")
		}
		if !allowed {
			out = append(out, w.String()+": no NetworkPolicy names its pods (what may it reach, who may reach it?)")
		}
	}
	return out
}

func isDefaultDeny(p *networkingv1.NetworkPolicy) bool {
	s := p.Spec
	return len(s.PodSelector.MatchLabels) == 0 && len(s.PodSelector.MatchExpressions) == 0 &&
		slices.Contains(s.PolicyTypes, networkingv1.PolicyTypeIngress) && slices.Contains(s.PolicyTypes, networkingv1.PolicyTypeEgress) &&
		len(s.Ingress) == 0 && len(s.Egress) == 0
}

// admits reports whether some policy selecting pods with these labels has a rule in the
// direction (Ingress or Egress) for the TCP port whose peers include one accepted by peer.
func admits(objs []object, pod map[string]string, dir networkingv1.PolicyType, port int32, peer func(networkingv1.NetworkPolicyPeer) bool) bool {
	for _, p := range of[networkingv1.NetworkPolicy](objs) {
		if !selects(&p.Spec.PodSelector, pod) && !isAllPods(p) {
			continue
		}
		type rule struct {
			ports []networkingv1.NetworkPolicyPort
			peers []networkingv1.NetworkPolicyPeer
		}
		var rules []rule
		if dir == networkingv1.PolicyTypeIngress {
			for _, r := range p.Spec.Ingress {
				rules = append(rules, rule{r.Ports, r.From})
			}
		} else {
			for _, r := range p.Spec.Egress {
				rules = append(rules, rule{r.Ports, r.To})
			}
		}
		for _, r := range rules {
			portOK := len(r.ports) == 0
			for _, pp := range r.ports {
				proto := corev1.ProtocolTCP
				if pp.Protocol != nil {
					proto = *pp.Protocol
				}
				portOK = portOK || (proto == corev1.ProtocolTCP && pp.Port != nil && pp.Port.IntValue() == int(port))
			}
			if portOK && slices.ContainsFunc(r.peers, peer) {
				return true
			}
		}
	}
	return false
}

func isAllPods(p *networkingv1.NetworkPolicy) bool {
	return len(p.Spec.PodSelector.MatchLabels) == 0 && len(p.Spec.PodSelector.MatchExpressions) == 0
}

// podPeer accepts a peer that selects pods of the same namespace with these labels.
func podPeer(l map[string]string) func(networkingv1.NetworkPolicyPeer) bool {
	return func(p networkingv1.NetworkPolicyPeer) bool {
		return p.NamespaceSelector == nil && p.IPBlock == nil && selects(p.PodSelector, l)
	}
}

// namespacePeer accepts a peer that selects the namespace by its name label.
func namespacePeer(ns string) func(networkingv1.NetworkPolicyPeer) bool {
	return func(p networkingv1.NetworkPolicyPeer) bool {
		return p.NamespaceSelector != nil && selects(p.NamespaceSelector, map[string]string{"kubernetes.io/metadata.name": ns})
	}
}
