package istio

import (
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"

	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	klabels "k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	meshconfig "istio.io/api/mesh/v1alpha1"
	"istio.io/istio/pilot/pkg/features"
	"istio.io/istio/pilot/pkg/model"
	"istio.io/istio/pilot/pkg/simulation"
	"istio.io/istio/pilot/test/xds"
	"istio.io/istio/pkg/config/host"
	"istio.io/istio/pkg/config/mesh"
	"istio.io/istio/pkg/jwt"
	istiolog "istio.io/istio/pkg/log"
	"istio.io/istio/pkg/test"
)

var inputs = flag.String("input", "", "comma-separated case directories written by `python -m verify.istio_input`")

// The istiod version compiling the configuration (go.mod): proxies are told they run it.
const proxyVersion = "1.31.0"

// envFlags maps each istiod environment variable the program sets to the compiler's flag, set
// with test.SetForTest as istiod would read it. A variable missing here fails the run: the proof
// must not hold for settings it did not apply.
var envFlags = map[string]func(t *testing.T, v string) error{
	"PILOT_SCOPE_GATEWAY_TO_NAMESPACE": boolFlag(&features.ScopeGatewayToNamespace),
	"ENABLE_DEBUG_ON_HTTP":             boolFlag(&features.EnableDebugOnHTTP),
	features.EnableAlphaGatewayAPIName: boolFlag(&features.EnableAlphaGatewayAPI),
	// Who fetches a RequestAuthentication's jwksUri (Envoy, not istiod): no tenant makes istiod
	// fetch URLs. It changes no route or RBAC decision the proof checks, but is applied all the same.
	"PILOT_JWT_ENABLE_REMOTE_JWKS": func(t *testing.T, v string) error {
		test.SetForTest(t, &features.JwksFetchMode, jwt.ConvertToJwksFetchMode(v))
		return nil
	},
}

func boolFlag(p *bool) func(t *testing.T, v string) error {
	return func(t *testing.T, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return err
		}
		test.SetForTest(t, p, b)
		return nil
	}
}

// Counts is what a case checked, for the summary line.
type Counts struct{ Routes, Denied, Principals int }

func TestTenancy(t *testing.T) {
	if *inputs == "" {
		t.Skip("no -input: run through `make verify`")
	}
	for _, dir := range strings.Split(*inputs, ",") {
		in, err := LoadInput(dir)
		if err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		counts := &Counts{}
		status := "ok"
		if !t.Run(in.Expect.Stack, func(t *testing.T) { proveCase(t, in, counts) }) {
			status = "FAILED"
		}
		fmt.Printf("verify %s: %s: %d routes, %d denied pairs, %d RBAC principals checked\n",
			in.Expect.Stack, status, counts.Routes, counts.Denied, counts.Principals)
	}
}

func proveCase(t *testing.T, in *Input, counts *Counts) {
	ips := in.AssignClusterIPs()
	nsLabels := in.NamespaceLabels()
	for _, m := range in.Expect.Meshes {
		t.Run("mesh "+m.Namespace, func(t *testing.T) { proveMesh(t, in, m, ips, nsLabels, counts) })
	}
}

func meshConfig(t *testing.T, m Mesh) *meshConfigT {
	raw, err := yaml.Marshal(m.MeshConfig)
	if err != nil {
		t.Fatal(err)
	}
	base := mesh.DefaultMeshConfig()
	// The charts and operators write rootNamespace as the control plane's namespace.
	base.RootNamespace = m.Namespace
	mc, err := mesh.ApplyMeshConfig(string(raw), base)
	if err != nil {
		t.Fatalf("mesh %s: meshConfig: %v", m.Namespace, err)
	}
	selectors := []klabels.Selector{}
	for _, s := range mc.GetDiscoverySelectors() {
		ls := &metav1.LabelSelector{MatchLabels: s.GetMatchLabels()}
		for _, e := range s.GetMatchExpressions() {
			ls.MatchExpressions = append(ls.MatchExpressions, metav1.LabelSelectorRequirement{
				Key: e.GetKey(), Operator: metav1.LabelSelectorOperator(e.GetOperator()), Values: e.GetValues(),
			})
		}
		sel, err := metav1.LabelSelectorAsSelector(ls)
		if err != nil {
			t.Fatalf("mesh %s: discoverySelectors: %v", m.Namespace, err)
		}
		selectors = append(selectors, sel)
	}
	return &meshConfigT{mc: mc, selectors: selectors}
}

type meshConfigT struct {
	mc        *meshconfig.MeshConfig
	selectors []klabels.Selector
}

// discovers applies the mesh's discoverySelectors as istiod does: no selector, every namespace.
func (m *meshConfigT) discovers(labels map[string]string) bool {
	if len(m.selectors) == 0 {
		return true
	}
	for _, s := range m.selectors {
		if s.Matches(klabels.Set(labels)) {
			return true
		}
	}
	return false
}

func proveMesh(t *testing.T, in *Input, m Mesh, ips map[string]string, nsLabels map[string]map[string]string, counts *Counts) {
	for name, value := range m.Env {
		set, ok := envFlags[name]
		if !ok {
			t.Fatalf("mesh %s: istiod env %s is not applied by the verifier (add it to envFlags)", m.Namespace, name)
		}
		if err := set(t, value); err != nil {
			t.Fatalf("mesh %s: env %s=%q: %v", m.Namespace, name, value, err)
		}
	}
	mc := meshConfig(t, m)
	// istiod reads Istio configuration only from the namespaces it discovers (the filter it puts on
	// its Kubernetes client); the fake's in-memory store has none, so the same filter is applied here.
	var config []map[string]any
	for _, o := range in.Config {
		if labels, ok := nsLabels[objNamespace(o)]; !ok || mc.discovers(labels) {
			config = append(config, o)
		}
	}
	configString, err := dump(config)
	if err != nil {
		t.Fatal(err)
	}
	kube := append([]map[string]any{}, in.Kube...)
	if !hasKind(kube, "GatewayClass") && anyGatewayAPI(in.Expect.Tenants) {
		// istiod creates its built-in GatewayClass at start (its class controller); the fake does not.
		kube = append(kube, map[string]any{
			"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass",
			"metadata": map[string]any{"name": "istio"},
			"spec":     map[string]any{"controllerName": "istio.io/gateway-controller"},
		})
	}
	kubeString, err := dump(kube)
	if err != nil {
		t.Fatal(err)
	}
	s := xds.NewFakeDiscoveryServer(t, xds.FakeOptions{
		ConfigString:           configString,
		KubernetesObjectString: kubeString,
		MeshConfig:             mc.mc,
	})
	tenants := map[string]Tenant{}
	for _, tn := range in.Expect.Tenants {
		tenants[tn.Name] = tn
	}
	var mine []Tenant
	for _, tn := range in.Expect.Tenants {
		if tn.Mesh == m.Namespace {
			mine = append(mine, tn)
		}
	}
	for _, tn := range mine {
		t.Run(tn.Name, func(t *testing.T) {
			p := &prover{t: t, s: s, in: in, tenant: tn, tenants: tenants, mine: mine, ips: ips, counts: counts}
			p.gatewayRoutes()
			p.otherHostsOnGateway()
			p.gatewayNotProgrammedElsewhere()
			p.sidecarCalls()
			p.sidecarScope()
			p.hiddenAcrossMeshes()
			p.inboundRBAC()
		})
	}
}

func hasKind(objs []map[string]any, kind string) bool {
	for _, o := range objs {
		if kindOf(o) == kind {
			return true
		}
	}
	return false
}

func anyGatewayAPI(ts []Tenant) bool {
	for _, tn := range ts {
		if tn.Gateway.API == "gateway-api" {
			return true
		}
	}
	return false
}

type prover struct {
	t       *testing.T
	s       *xds.FakeDiscoveryServer
	in      *Input
	tenant  Tenant
	tenants map[string]Tenant
	mine    []Tenant // tenants of the same mesh
	ips     map[string]string
	counts  *Counts
}

func labelsCopy(l map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range l {
		out[k] = v
	}
	return out
}

func (p *prover) proxy(kind model.NodeType, ns string, labels map[string]string, id, ip string) *model.Proxy {
	return p.s.SetupProxy(&model.Proxy{
		Type:            kind,
		ID:              id + "." + ns,
		ConfigNamespace: ns,
		Labels:          labelsCopy(labels),
		IPAddresses:     []string{ip},
		Metadata:        &model.NodeMetadata{Labels: labelsCopy(labels), Namespace: ns, IstioVersion: proxyVersion},
	})
}

func (p *prover) gatewayProxy(tn Tenant, ns string) *model.Proxy {
	return p.proxy(model.Router, ns, tn.Gateway.Labels, tn.Gateway.Name+"-pod", "10.250.0.1")
}

func clusterName(service, ns string, port int) string {
	return fmt.Sprintf("outbound|%d||%s.%s.svc.cluster.local", port, service, ns)
}

// gatewayCall is what a client of the gateway sends for one route of the file.
func gatewayCall(tn Tenant, r Route, hostHeader string) simulation.Call {
	port := r.Port
	if target, ok := tn.Gateway.TargetPorts[strconv.Itoa(r.Port)]; ok {
		port = target // Istio binds a server to its Service port's target port
	}
	c := simulation.Call{Port: port, HostHeader: hostHeader, Path: r.Path, CallMode: simulation.CallModeGateway}
	switch {
	case r.Kind == "http" && (r.Protocol == "HTTP2" || r.Protocol == "GRPC"):
		c.Protocol = simulation.HTTP2
	case r.Kind == "http":
		c.Protocol = simulation.HTTP
	default:
		c.Protocol = simulation.TCP
	}
	if r.Protocol == "HTTPS" || r.Protocol == "TLS" {
		c.TLS = simulation.TLS
		c.Sni = hostHeader
	}
	if r.CredentialName != "" {
		cred := r.CredentialName
		c.CustomListenerValidations = []simulation.CustomFilterChainValidation{func(fc *listener.FilterChain) error {
			return usesCredential(fc, cred)
		}}
	}
	return c
}

func usesCredential(fc *listener.FilterChain, cred string) error {
	ctx := &tlsv3.DownstreamTlsContext{}
	if fc.GetTransportSocket() == nil || fc.GetTransportSocket().GetTypedConfig().UnmarshalTo(ctx) != nil {
		return fmt.Errorf("filter chain %s terminates no TLS", fc.GetName())
	}
	var names []string
	for _, sds := range ctx.GetCommonTlsContext().GetTlsCertificateSdsSecretConfigs() {
		names = append(names, sds.GetName())
		if sds.GetName() == "kubernetes://"+cred || sds.GetName() == cred {
			return nil
		}
	}
	return fmt.Errorf("filter chain %s serves certificates %v, not credential %s", fc.GetName(), names, cred)
}

func hasCluster(sim *simulation.Simulation, name string) bool {
	for _, c := range sim.Clusters {
		if c.GetName() == name {
			return true
		}
	}
	return false
}

func describe(r simulation.Result) string {
	return fmt.Sprintf("listener %q, chain %q, vhost %q, route %q, cluster %q, error %v",
		r.ListenerMatched, r.FilterChainMatched, r.VirtualHostMatched, r.RouteMatched, r.ClusterMatched, r.Error)
}

// Every route reaches its service through the tenant's own gateway.
func (p *prover) gatewayRoutes() {
	tn := p.tenant
	if len(tn.Routes) == 0 {
		return
	}
	p.gatewayIdentity()
	sim := simulation.NewSimulation(p.t, p.s, p.gatewayProxy(tn, tn.Namespace))
	for _, r := range tn.Routes {
		want := clusterName(r.Service, tn.Namespace, r.ServicePort)
		call := gatewayCall(tn, r, r.Host)
		var chain *listener.FilterChain
		call.CustomListenerValidations = append(call.CustomListenerValidations, func(fc *listener.FilterChain) error {
			chain = fc
			return nil
		})
		got := sim.Run(call)
		p.counts.Routes++
		path := fmt.Sprintf("internet -> %s gateway %s:%d (%s %s%s) -> %s/%s:%d",
			tn.Name, tn.Gateway.Name, r.Port, r.Protocol, r.Host, r.Path, tn.Namespace, r.Service, r.ServicePort)
		if got.Error != nil || got.ClusterMatched != want {
			p.t.Errorf("route %s does not reach its service: %s: got %s", r.Route, path, describe(got))
			continue
		}
		if !hasCluster(sim, want) {
			p.t.Errorf("route %s: %s: routed to cluster %s, which the gateway does not have", r.Route, path, want)
		}
		// The gateway's clients come from the internet, without a mesh identity: its compiled
		// RBAC must let them in, or every request is refused before it is routed.
		if chain != nil {
			ok, why, err := admits(chain, "", call.Port)
			if err != nil {
				p.t.Errorf("route %s: %s: gateway chain %s: %v", r.Route, path, chain.GetName(), err)
			} else if !ok {
				p.t.Errorf("route %s: %s: the gateway's compiled RBAC refuses clients without a mesh identity (%s)", r.Route, path, why)
			}
		}
	}
}

// The gateway's pods run as a service account the render creates (the chart's), or that their
// installer creates (the in-cluster operator, istiod for Gateway API).
func (p *prover) gatewayIdentity() {
	gw := p.tenant.Gateway
	if gw.ServiceAccountFrom != "render" {
		return
	}
	for _, o := range p.in.Kube {
		if kindOf(o) == "ServiceAccount" && objNamespace(o) == p.tenant.Namespace && objName(o) == gw.ServiceAccount {
			return
		}
	}
	p.t.Errorf("gateway %s/%s runs as service account %s, which the render does not create: its pods would not start",
		p.tenant.Namespace, gw.Name, gw.ServiceAccount)
}

// Another tenant's host on this gateway reaches none of that tenant's services.
func (p *prover) otherHostsOnGateway() {
	tn := p.tenant
	if len(tn.Routes) == 0 {
		return
	}
	// Hosts select HTTP routes and passed-through TLS; a TCP server takes any host by design.
	var byHost []Route
	explicitOnly := true
	for _, r := range tn.Routes {
		if r.Kind == "tcp" {
			continue
		}
		byHost = append(byHost, r)
		if r.Wildcard {
			explicitOnly = false
		}
	}
	sim := simulation.NewSimulation(p.t, p.s, p.gatewayProxy(tn, tn.Namespace))
	for _, other := range p.mine {
		if other.Name == tn.Name {
			continue
		}
		hosts := append([]string{}, other.Hosts...)
		for _, r := range other.Routes {
			if !r.Wildcard {
				hosts = append(hosts, r.Host)
			}
		}
		for _, h := range dedupe(hosts) {
			for _, r := range byHost {
				got := sim.Run(gatewayCall(tn, r, h))
				p.counts.Denied++
				path := fmt.Sprintf("%s gateway %s:%d with host %s (of %s)", tn.Name, tn.Gateway.Name, r.Port, h, other.Name)
				if strings.Contains(got.ClusterMatched, "."+other.Namespace+".svc.") {
					p.t.Errorf("%s reaches %s's service: %s", path, other.Name, describe(got))
				} else if explicitOnly && got.Error == nil && got.ClusterMatched != "" && got.ClusterMatched != "BlackHoleCluster" {
					p.t.Errorf("%s matches a route of its own though it serves explicit hosts only: %s", path, describe(got))
				}
			}
		}
	}
}

func dedupe(xs []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range xs {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	sort.Strings(out)
	return out
}

// serverNamespaces: the namespaces of the Gateways programmed on a gateway proxy.
func serverNamespaces(proxy *model.Proxy) []string {
	if proxy.MergedGateway == nil {
		return nil
	}
	var out []string
	for _, name := range proxy.MergedGateway.GatewayNameForServer {
		ns, _, _ := strings.Cut(name, "/")
		out = append(out, ns)
	}
	return dedupe(out)
}

// This tenant's Gateway is programmed on no other tenant's gateway pods, even pods that copy its labels.
func (p *prover) gatewayNotProgrammedElsewhere() {
	tn := p.tenant
	own := serverNamespaces(p.gatewayProxy(tn, tn.Namespace))
	for _, ns := range own {
		if ns != tn.Namespace {
			p.t.Errorf("gateway %s/%s is programmed with a Gateway of namespace %s", tn.Namespace, tn.Gateway.Name, ns)
		}
	}
	for _, other := range p.mine {
		if other.Name == tn.Name {
			continue
		}
		for _, labels := range []map[string]string{other.Gateway.Labels, tn.Gateway.Labels} {
			proxy := p.proxy(model.Router, other.Namespace, labels, other.Gateway.Name+"-pod", "10.250.0.2")
			p.counts.Denied++
			for _, ns := range serverNamespaces(proxy) {
				if ns == tn.Namespace {
					p.t.Errorf("%s's Gateway is programmed on gateway pods in %s (labels %v)", tn.Name, other.Namespace, labels)
				}
			}
		}
	}
}

func (p *prover) callerProxy(tn Tenant) *model.Proxy {
	labels := map[string]string{"app": "verify-client"}
	if len(tn.Workloads) > 0 {
		labels = tn.Workloads[0].Labels
	}
	return p.proxy(model.SidecarProxy, tn.Namespace, labels, "caller", "10.250.1.1")
}

func callProtocol(protocol string) simulation.Protocol {
	switch protocol {
	case "http":
		return simulation.HTTP
	case "http2", "grpc":
		return simulation.HTTP2
	default:
		return simulation.TCP
	}
}

// A sidecar of this tenant calling another tenant's service is blackholed, unless exported and imported.
func (p *prover) sidecarCalls() {
	tn := p.tenant
	var sim *simulation.Simulation
	for _, c := range p.in.Expect.Calls {
		if c.From != tn.Name {
			continue
		}
		if sim == nil {
			sim = simulation.NewSimulation(p.t, p.s, p.callerProxy(tn))
		}
		ip, ok := p.ips[c.Host]
		if !ok {
			p.t.Errorf("no Service %s in the input", c.Host)
			continue
		}
		got := sim.Run(simulation.Call{
			Address: ip, Port: c.Port, Protocol: callProtocol(c.Protocol), HostHeader: c.Host, CallMode: simulation.CallModeOutbound,
		})
		want := fmt.Sprintf("outbound|%d||%s", c.Port, c.Host)
		path := fmt.Sprintf("sidecar %s -> %s:%d (%s)", tn.Namespace, c.Host, c.Port, c.Protocol)
		if c.Allowed {
			if got.Error != nil || got.ClusterMatched != want || !hasCluster(sim, want) {
				p.t.Errorf("%s is exported to %s and imported, yet not routed to its service: %s", path, tn.Name, describe(got))
			}
			continue
		}
		p.counts.Denied++
		if got.Error == nil && got.ClusterMatched != "" && got.ClusterMatched != "BlackHoleCluster" {
			p.t.Errorf("%s is not exported to %s, yet it is routed: %s", path, tn.Name, describe(got))
		}
	}
}

// The Sidecar scope istiod computes for the tenant's proxies takes configuration only from its own
// namespace, its control plane's, and the services it imports: a wider scope would hand its
// proxies whatever another namespace exports, with exportTo as the only guard left.
func (p *prover) sidecarScope() {
	tn := p.tenant
	proxy := p.callerProxy(tn)
	sc := proxy.SidecarScope
	if sc == nil || sc.Sidecar == nil {
		p.t.Errorf("proxies of %s get no Sidecar scope: they receive configuration of every namespace", tn.Namespace)
		return
	}
	allowedNs := map[string]bool{".": true}
	for _, ns := range tn.Egress.Namespaces {
		allowedNs[ns] = true
	}
	allowedHosts := map[string]bool{}
	for _, h := range tn.Egress.Hosts {
		allowedHosts[h] = true
	}
	for _, egress := range sc.Sidecar.GetEgress() {
		for _, h := range egress.GetHosts() {
			ns, _, _ := strings.Cut(h, "/")
			if allowedNs[ns] || allowedHosts[h] {
				continue
			}
			p.t.Errorf("proxies of %s take configuration from %s (Sidecar %s/%s): wider than its namespace, %v and its imports %v",
				tn.Namespace, h, sc.Namespace, sc.Name, tn.Egress.Namespaces, tn.Egress.Hosts)
		}
	}
}

// Across meshes: the other mesh's services are unknown to this tenant's istiod.
func (p *prover) hiddenAcrossMeshes() {
	tn := p.tenant
	for _, h := range p.in.Expect.Hidden {
		if h.From != tn.Name {
			continue
		}
		p.counts.Denied++
		if svc := p.s.Env().ServiceDiscovery.GetService(host.Name(h.Host)); svc != nil {
			p.t.Errorf("%s's control plane discovers %s of tenant %s, in another mesh", tn.Name, h.Host, h.To)
		}
	}
}

// The inbound RBAC istiod compiles for this tenant's workloads admits exactly the expected identities.
func (p *prover) inboundRBAC() {
	tn := p.tenant
	for _, w := range tn.Workloads {
		proxy := p.proxy(model.SidecarProxy, tn.Namespace, w.Labels, w.Name+"-pod", "10.250.2.1")
		sim := simulation.NewSimulation(p.t, p.s, proxy)
		var inbound *listener.Listener
		for _, l := range sim.Listeners {
			if l.GetName() == model.VirtualInboundListenerName {
				inbound = l
			}
		}
		if inbound == nil {
			p.t.Errorf("workload %s/%s: no inbound listener", tn.Namespace, w.Name)
			continue
		}
		for _, port := range w.Ports {
			var chains []*listener.FilterChain
			for _, fc := range inbound.GetFilterChains() {
				if int(fc.GetFilterChainMatch().GetDestinationPort().GetValue()) == port.Port {
					chains = append(chains, fc)
				}
			}
			if len(chains) == 0 {
				p.t.Errorf("workload %s/%s: no inbound filter chain for port %d", tn.Namespace, w.Name, port.Port)
				continue
			}
			check := func(principal string, want bool) {
				p.counts.Principals++
				evaluated := 0
				defer func() {
					// An identity arrives over mTLS only: a port without an mTLS chain proves nothing.
					if principal != "" && evaluated == 0 {
						p.t.Errorf("workload %s/%s port %d: no mTLS filter chain, so no identity can be checked", tn.Namespace, w.Name, port.Port)
					}
				}()
				for _, fc := range chains {
					mtls := fc.GetTransportSocket() != nil
					if principal != "" && !mtls || principal == "" && mtls {
						continue // an identity arrives over mTLS only; a peer without one, over plain text
					}
					evaluated++
					ok, why, err := admits(fc, principal, port.Port)
					if err != nil {
						p.t.Errorf("workload %s/%s port %d chain %s: %v", tn.Namespace, w.Name, port.Port, fc.GetName(), err)
						return
					}
					who := principal
					if who == "" {
						who = "a peer without mTLS"
					}
					if ok != want {
						verb := map[bool]string{true: "admits", false: "refuses"}[ok]
						p.t.Errorf("%s -> %s/%s:%d: the compiled RBAC (chain %s) %s it (%s), expected the opposite",
							who, tn.Namespace, w.Name, port.Port, fc.GetName(), verb, why)
					}
				}
			}
			for _, principal := range w.Admitted {
				check(principal, true)
			}
			for _, principal := range w.Denied {
				check(principal, false)
			}
			check("", false)
		}
	}
}

func TestMain(m *testing.M) {
	flag.Parse()
	// istiod's own log goes to stderr, errors only: stdout holds the findings and the summary.
	opts := istiolog.DefaultOptions()
	opts.OutputPaths = []string{"stderr"}
	opts.SetDefaultOutputLevel(istiolog.OverrideScopeName, istiolog.ErrorLevel)
	if err := istiolog.Configure(opts); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	for _, scope := range istiolog.Scopes() {
		scope.SetOutputLevel(istiolog.ErrorLevel)
	}
	os.Exit(m.Run())
}
