package istio

import (
	"fmt"
	"regexp"
	"strings"

	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	rbachttp "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	rbactcp "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/rbac/v3"
	matcher "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
)

// The RBAC filters Istio compiles AuthorizationPolicies into. The simulation does not evaluate
// them, so this does, for the matchers Istio emits for the policies a render may hold; any other
// matcher is an error, never a silent pass.
const (
	httpRBAC    = "envoy.filters.http.rbac"
	networkRBAC = "envoy.filters.network.rbac"
	hcmName     = "envoy.filters.network.http_connection_manager"
	// Istio also matches the peer's identity from filter state (HBONE and waypoints).
	peerPrincipalState = "io.istio.peer_principal"
)

// rbacFilters are the RBAC configs of one filter chain, in filter order.
func rbacFilters(fc *listener.FilterChain) ([]*rbacv3.RBAC, []*rbacv3.RBAC, error) {
	var rules, shadow []*rbacv3.RBAC
	for _, f := range fc.GetFilters() {
		switch f.GetName() {
		case networkRBAC:
			c := &rbactcp.RBAC{}
			if err := f.GetTypedConfig().UnmarshalTo(c); err != nil {
				return nil, nil, err
			}
			if c.GetMatcher() != nil {
				return nil, nil, fmt.Errorf("chain %s: network RBAC with a matcher tree is not evaluated here", fc.GetName())
			}
			rules = append(rules, c.GetRules())
			shadow = append(shadow, c.GetShadowRules())
		case hcmName:
			h := &hcm.HttpConnectionManager{}
			if err := f.GetTypedConfig().UnmarshalTo(h); err != nil {
				return nil, nil, err
			}
			for _, hf := range h.GetHttpFilters() {
				if hf.GetName() != httpRBAC {
					continue
				}
				c := &rbachttp.RBAC{}
				if err := hf.GetTypedConfig().UnmarshalTo(c); err != nil {
					return nil, nil, err
				}
				if c.GetMatcher() != nil {
					return nil, nil, fmt.Errorf("chain %s: HTTP RBAC with a matcher tree is not evaluated here", fc.GetName())
				}
				rules = append(rules, c.GetRules())
				shadow = append(shadow, c.GetShadowRules())
			}
		}
	}
	return rules, shadow, nil
}

// admits says whether the chain's RBAC lets `principal` (a SPIFFE URI; "" for a peer without
// mTLS) connect to `port`, and which policy decided.
func admits(fc *listener.FilterChain, principal string, port int) (bool, string, error) {
	rules, _, err := rbacFilters(fc)
	if err != nil {
		return false, "", err
	}
	decided := "no RBAC filter"
	for _, r := range rules {
		if r == nil {
			continue // a filter without rules (shadow only) enforces nothing
		}
		matched := ""
		for name, policy := range r.GetPolicies() {
			ok, err := policyMatches(policy, principal, port)
			if err != nil {
				return false, "", fmt.Errorf("policy %s: %v", name, err)
			}
			if ok {
				matched = name
				break
			}
		}
		switch r.GetAction() {
		case rbacv3.RBAC_ALLOW:
			if matched == "" {
				return false, "no ALLOW policy matches", nil
			}
			decided = "allowed by " + matched
		case rbacv3.RBAC_DENY:
			if matched != "" {
				return false, "denied by " + matched, nil
			}
		case rbacv3.RBAC_LOG:
		default:
			return false, "", fmt.Errorf("RBAC action %v is not evaluated here", r.GetAction())
		}
	}
	return true, decided, nil
}

func policyMatches(p *rbacv3.Policy, principal string, port int) (bool, error) {
	if p.GetCondition() != nil || p.GetCheckedCondition() != nil {
		return false, fmt.Errorf("CEL conditions are not evaluated here")
	}
	perm := false
	for _, pm := range p.GetPermissions() {
		ok, err := permissionMatches(pm, port)
		if err != nil {
			return false, err
		}
		if ok {
			perm = true
			break
		}
	}
	if !perm {
		return false, nil
	}
	for _, id := range p.GetPrincipals() {
		ok, err := principalMatches(id, principal)
		if err != nil {
			return false, err
		}
		if ok {
			return true, nil
		}
	}
	return false, nil
}

func permissionMatches(p *rbacv3.Permission, port int) (bool, error) {
	switch r := p.GetRule().(type) {
	case *rbacv3.Permission_Any:
		return r.Any, nil
	case *rbacv3.Permission_DestinationPort:
		return int(r.DestinationPort) == port, nil
	case *rbacv3.Permission_DestinationPortRange:
		return int32(port) >= r.DestinationPortRange.GetStart() && int32(port) < r.DestinationPortRange.GetEnd(), nil
	case *rbacv3.Permission_AndRules:
		for _, sub := range r.AndRules.GetRules() {
			ok, err := permissionMatches(sub, port)
			if err != nil || !ok {
				return false, err
			}
		}
		return true, nil
	case *rbacv3.Permission_OrRules:
		for _, sub := range r.OrRules.GetRules() {
			ok, err := permissionMatches(sub, port)
			if err != nil || ok {
				return ok, err
			}
		}
		return false, nil
	case *rbacv3.Permission_NotRule:
		ok, err := permissionMatches(r.NotRule, port)
		return !ok, err
	default:
		return false, fmt.Errorf("permission %T is not evaluated here", r)
	}
}

func principalMatches(id *rbacv3.Principal, principal string) (bool, error) {
	switch r := id.GetIdentifier().(type) {
	case *rbacv3.Principal_Any:
		return r.Any, nil
	case *rbacv3.Principal_Authenticated_:
		if principal == "" {
			return false, nil
		}
		if r.Authenticated.GetPrincipalName() == nil {
			return true, nil
		}
		return stringMatches(r.Authenticated.GetPrincipalName(), principal)
	case *rbacv3.Principal_FilterState:
		if r.FilterState.GetKey() != peerPrincipalState {
			return false, fmt.Errorf("filter state %q is not evaluated here", r.FilterState.GetKey())
		}
		if principal == "" {
			return false, nil
		}
		return stringMatches(r.FilterState.GetStringMatch(), principal)
	case *rbacv3.Principal_AndIds:
		for _, sub := range r.AndIds.GetIds() {
			ok, err := principalMatches(sub, principal)
			if err != nil || !ok {
				return false, err
			}
		}
		return true, nil
	case *rbacv3.Principal_OrIds:
		for _, sub := range r.OrIds.GetIds() {
			ok, err := principalMatches(sub, principal)
			if err != nil || ok {
				return ok, err
			}
		}
		return false, nil
	case *rbacv3.Principal_NotId:
		ok, err := principalMatches(r.NotId, principal)
		return !ok, err
	default:
		return false, fmt.Errorf("principal %T is not evaluated here", r)
	}
}

func stringMatches(m *matcher.StringMatcher, s string) (bool, error) {
	if m.GetIgnoreCase() {
		s = strings.ToLower(s)
	}
	lower := func(v string) string {
		if m.GetIgnoreCase() {
			return strings.ToLower(v)
		}
		return v
	}
	switch p := m.GetMatchPattern().(type) {
	case *matcher.StringMatcher_Exact:
		return s == lower(p.Exact), nil
	case *matcher.StringMatcher_Prefix:
		return strings.HasPrefix(s, lower(p.Prefix)), nil
	case *matcher.StringMatcher_Suffix:
		return strings.HasSuffix(s, lower(p.Suffix)), nil
	case *matcher.StringMatcher_Contains:
		return strings.Contains(s, lower(p.Contains)), nil
	case *matcher.StringMatcher_SafeRegex:
		re, err := regexp.Compile("^(?:" + p.SafeRegex.GetRegex() + ")$")
		if err != nil {
			return false, err
		}
		return re.MatchString(s), nil
	default:
		return false, fmt.Errorf("string matcher %T is not evaluated here", p)
	}
}
