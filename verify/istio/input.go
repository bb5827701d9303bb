// Package istio proves a stack's tenancy with Istio's own config compiler (issue 18, part 1).
//
// The input is made by `python -m verify.istio_input STACK` (build/verify/<case>/): the render's
// Istio configuration, its Kubernetes objects with one synthetic workload per service the tenants
// file names, and expect.json, what the tenants file says must hold.
package istio

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// Expect mirrors expect.json (verify/istio_input.py).
type Expect struct {
	Stack       string   `json:"stack"`
	TrustDomain string   `json:"trustDomain"`
	Meshes      []Mesh   `json:"meshes"`
	Tenants     []Tenant `json:"tenants"`
	Calls       []Call   `json:"calls"`
	Hidden      []Hidden `json:"hidden"`
}

type Mesh struct {
	Namespace  string            `json:"namespace"`
	MeshConfig map[string]any    `json:"meshConfig"`
	Env        map[string]string `json:"env"`
}

type Gateway struct {
	Name               string            `json:"name"`
	API                string            `json:"api"`
	Labels             map[string]string `json:"labels"`
	ServiceAccount     string            `json:"serviceAccount"`
	ServiceAccountFrom string            `json:"serviceAccountFrom"`
	TargetPorts        map[string]int    `json:"targetPorts"`
}

type Route struct {
	Route          string `json:"route"`
	Kind           string `json:"kind"`
	Port           int    `json:"port"`
	Protocol       string `json:"protocol"`
	TLSMode        string `json:"tlsMode"`
	CredentialName string `json:"credentialName"`
	Host           string `json:"host"`
	Wildcard       bool   `json:"wildcard"` // the host stands for a wildcard the server serves
	Path           string `json:"path"`
	Service        string `json:"service"`
	ServicePort    int    `json:"servicePort"`
}

type Port struct {
	Port     int    `json:"port"`
	Name     string `json:"name"`
	Protocol string `json:"protocol"`
}

type Workload struct {
	Name           string            `json:"name"`
	Labels         map[string]string `json:"labels"`
	ServiceAccount string            `json:"serviceAccount"`
	Ports          []Port            `json:"ports"`
	Admitted       []string          `json:"admitted"`
	Denied         []string          `json:"denied"`
}

type Tenant struct {
	Name      string     `json:"name"`
	Namespace string     `json:"namespace"`
	Mesh      string     `json:"mesh"`
	Gateway   Gateway    `json:"gateway"`
	Hosts     []string   `json:"hosts"`
	Routes    []Route    `json:"routes"`
	Workloads []Workload `json:"workloads"`
	Egress    Egress     `json:"egress"`
}

type Egress struct {
	Namespaces []string `json:"namespaces"`
	Hosts      []string `json:"hosts"`
}

type Call struct {
	From     string `json:"from"`
	To       string `json:"to"`
	Service  string `json:"service"`
	Host     string `json:"host"`
	Port     int    `json:"port"`
	Protocol string `json:"protocol"`
	Allowed  bool   `json:"allowed"`
}

type Hidden struct {
	From string `json:"from"`
	To   string `json:"to"`
	Host string `json:"host"`
}

// Input is one case: what istiod reads, and what must follow.
type Input struct {
	Dir    string
	Expect Expect
	Config []map[string]any // Istio configuration (config.yaml)
	Kube   []map[string]any // Kubernetes objects (kube.yaml)
}

func readDocs(path string) ([]map[string]any, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []map[string]any
	for _, doc := range strings.Split(string(raw), "\n---\n") {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		var obj map[string]any
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			return nil, fmt.Errorf("%s: %v", path, err)
		}
		if obj != nil {
			out = append(out, obj)
		}
	}
	return out, nil
}

// LoadInput reads a case directory written by verify/istio_input.py.
func LoadInput(dir string) (*Input, error) {
	in := &Input{Dir: dir}
	raw, err := os.ReadFile(filepath.Join(dir, "expect.json"))
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(raw, &in.Expect); err != nil {
		return nil, fmt.Errorf("%s/expect.json: %v", dir, err)
	}
	if in.Config, err = readDocs(filepath.Join(dir, "config.yaml")); err != nil {
		return nil, err
	}
	if in.Kube, err = readDocs(filepath.Join(dir, "kube.yaml")); err != nil {
		return nil, err
	}
	return in, nil
}

func meta(obj map[string]any) map[string]any {
	m, _ := obj["metadata"].(map[string]any)
	if m == nil {
		m = map[string]any{}
		obj["metadata"] = m
	}
	return m
}

func objNamespace(obj map[string]any) string {
	ns, _ := meta(obj)["namespace"].(string)
	return ns
}

func objName(obj map[string]any) string {
	n, _ := meta(obj)["name"].(string)
	return n
}

func kindOf(obj map[string]any) string {
	k, _ := obj["kind"].(string)
	return k
}

func dump(objs []map[string]any) (string, error) {
	parts := make([]string, 0, len(objs))
	for _, o := range objs {
		b, err := yaml.Marshal(o)
		if err != nil {
			return "", err
		}
		parts = append(parts, string(b))
	}
	return strings.Join(parts, "\n---\n"), nil
}

// NamespaceLabels: namespace name -> its labels, from the Namespace objects.
func (in *Input) NamespaceLabels() map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, o := range in.Kube {
		if kindOf(o) != "Namespace" {
			continue
		}
		labels := map[string]string{"kubernetes.io/metadata.name": objName(o)}
		if l, ok := meta(o)["labels"].(map[string]any); ok {
			for k, v := range l {
				labels[k], _ = v.(string)
			}
		}
		out[objName(o)] = labels
	}
	return out
}

// AssignClusterIPs gives each Service without one a stable cluster IP, as the API server would on
// create: sidecars route to a Service by its address.
func (in *Input) AssignClusterIPs() map[string]string {
	byHost := map[string]string{}
	var services []map[string]any
	for _, o := range in.Kube {
		if kindOf(o) == "Service" {
			services = append(services, o)
		}
	}
	sort.Slice(services, func(i, j int) bool {
		return objNamespace(services[i])+"/"+objName(services[i]) < objNamespace(services[j])+"/"+objName(services[j])
	})
	for i, s := range services {
		spec, _ := s["spec"].(map[string]any)
		if spec == nil {
			spec = map[string]any{}
			s["spec"] = spec
		}
		ip, _ := spec["clusterIP"].(string)
		if ip == "" || ip == "None" {
			ip = fmt.Sprintf("10.96.%d.%d", (i+1)/250, (i+1)%250+1)
			spec["clusterIP"] = ip
		}
		byHost[fmt.Sprintf("%s.%s.svc.cluster.local", objName(s), objNamespace(s))] = ip
	}
	return byHost
}
