// Package outbound makes webtasks' outbound HTTP calls under their
// container's policy (abi/SPEC.md, "Outbound HTTP").
//
// SSRF stance: a container calls nothing until the admin lists hosts for
// it. A name on the list is called only at public addresses: the check is
// made on the addresses the dial actually uses, after DNS resolution, so a
// listed name that resolves to 127.0.0.1 (DNS rebinding) is still refused.
// Loopback, private, link-local, CGNAT, multicast and unspecified addresses
// are reachable only when the list names them explicitly (an IP literal or
// a CIDR prefix). Redirects are followed hop by hop, each hop checked the
// same way; proxies from the environment are ignored.
package outbound

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// Policy is a container's outbound HTTP policy, set by the admin
// (PUT /api/outbound/{c}). The zero Policy allows nothing.
type Policy struct {
	// Allow lists what may be called: "api.example.com" (that host),
	// "*.example.com" (any subdomain, not example.com itself), either
	// with ":port" (that port only; otherwise any), an IP literal
	// ("127.0.0.1:8080", "[::1]:9000", "10.1.2.3") or a CIDR prefix
	// ("10.0.0.0/8"). IP literals and prefixes also open those addresses
	// when they are private or loopback; names never do.
	Allow []string `json:"allow"`
	// MaxCalls caps the calls one request may make (0: DefaultMaxCalls).
	MaxCalls int `json:"max_calls,omitempty"`
	// MaxResponseBytes caps a response body (0: DefaultMaxResponseBytes).
	MaxResponseBytes int `json:"max_response_bytes,omitempty"`
}

// Defaults and bounds of a Policy.
const (
	DefaultMaxCalls         = 10
	MaxMaxCalls             = 100
	DefaultMaxResponseBytes = 1 << 20
	MaxMaxResponseBytes     = 16 << 20
	MaxAllowEntries         = 100
)

// rules is a Policy parsed.
type rules struct {
	hosts    []hostRule
	prefixes []netip.Prefix // IP literals (as /32 or /128) and CIDR entries
	ports    []string       // the port each prefix is limited to ("" any), parallel to prefixes
	maxCalls int
	maxResp  int
}

type hostRule struct {
	host   string // lower case, no trailing dot
	port   string // "" for any
	suffix bool   // "*.host": any subdomain
}

// ParsePolicy reads a policy from JSON, checking every entry.
func ParsePolicy(b []byte) (Policy, error) {
	var p Policy
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.DisallowUnknownFields()
	if err := d.Decode(&p); err != nil {
		return Policy{}, fmt.Errorf("outbound policy: %v", err)
	}
	if _, err := p.compile(); err != nil {
		return Policy{}, err
	}
	return p, nil
}

// Check reports the first entry or limit of p that is not valid.
func (p Policy) Check() error {
	_, err := p.compile()
	return err
}

func (p Policy) compile() (*rules, error) {
	r := &rules{maxCalls: p.MaxCalls, maxResp: p.MaxResponseBytes}
	switch {
	case len(p.Allow) > MaxAllowEntries:
		return nil, fmt.Errorf("outbound policy: at most %d allow entries", MaxAllowEntries)
	case p.MaxCalls < 0 || p.MaxCalls > MaxMaxCalls:
		return nil, fmt.Errorf("outbound policy: max_calls must be 0 (default %d) to %d", DefaultMaxCalls, MaxMaxCalls)
	case p.MaxResponseBytes < 0 || p.MaxResponseBytes > MaxMaxResponseBytes:
		return nil, fmt.Errorf("outbound policy: max_response_bytes must be 0 (default %d) to %d", DefaultMaxResponseBytes, MaxMaxResponseBytes)
	}
	if r.maxCalls == 0 {
		r.maxCalls = DefaultMaxCalls
	}
	if r.maxResp == 0 {
		r.maxResp = DefaultMaxResponseBytes
	}
	for _, a := range p.Allow {
		if err := r.add(a); err != nil {
			return nil, fmt.Errorf("outbound policy: allow %q: %v", a, err)
		}
	}
	return r, nil
}

func (r *rules) add(a string) error {
	a = strings.ToLower(strings.TrimSpace(a))
	if a == "" {
		return fmt.Errorf("empty entry")
	}
	if pfx, err := netip.ParsePrefix(a); err == nil {
		r.prefixes, r.ports = append(r.prefixes, pfx.Masked()), append(r.ports, "")
		return nil
	}
	host, port := a, ""
	if h, p, err := net.SplitHostPort(a); err == nil {
		host, port = h, p
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("port must be 1-65535")
		}
	} else if strings.HasPrefix(a, "[") && strings.HasSuffix(a, "]") {
		host = a[1 : len(a)-1]
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		ip = ip.Unmap()
		r.prefixes, r.ports = append(r.prefixes, netip.PrefixFrom(ip, ip.BitLen())), append(r.ports, port)
		return nil
	}
	rule := hostRule{port: port}
	if rest, ok := strings.CutPrefix(host, "*."); ok {
		rule.suffix, host = true, rest
	}
	host = strings.TrimSuffix(host, ".")
	if !validHostname(host) {
		return fmt.Errorf("not a host name, IP address or CIDR prefix")
	}
	rule.host = host
	r.hosts = append(r.hosts, rule)
	return nil
}

// validHostname: dot-separated labels of letters, digits and hyphens.
func validHostname(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, l := range strings.Split(h, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// allowsName reports whether host (lower case, a name, not an IP) on port
// is on the list.
func (r *rules) allowsName(host, port string) bool {
	for _, h := range r.hosts {
		if h.port != "" && h.port != port {
			continue
		}
		if !h.suffix && h.host == host || h.suffix && strings.HasSuffix(host, "."+h.host) {
			return true
		}
	}
	return false
}

// explicitIP reports whether the list names ip (on port) by an IP literal
// or a prefix.
func (r *rules) explicitIP(ip netip.Addr, port string) bool {
	ip = ip.Unmap()
	for i, p := range r.prefixes {
		if (r.ports[i] == "" || r.ports[i] == port) && p.Contains(ip) {
			return true
		}
	}
	return false
}

// special reports whether ip is not a public unicast address: loopback,
// private (RFC 1918, fc00::/7), link-local (including cloud metadata at
// 169.254.169.254), CGNAT (100.64.0.0/10), multicast, unspecified, or
// reserved ranges that should never be dialled from a server.
func special(ip netip.Addr) bool {
	ip = ip.Unmap()
	if ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() || !ip.IsValid() {
		return true
	}
	for _, p := range specialPrefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

var specialPrefixes = func() []netip.Prefix {
	var ps []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8",       // "this network"
		"100.64.0.0/10",   // CGNAT
		"192.0.0.0/24",    // IETF protocol assignments
		"192.0.2.0/24",    // TEST-NET-1
		"198.18.0.0/15",   // benchmarking
		"198.51.100.0/24", // TEST-NET-2
		"203.0.113.0/24",  // TEST-NET-3
		"240.0.0.0/4",     // reserved, and broadcast
		"64:ff9b::/96",    // NAT64: embeds an IPv4 address
		"64:ff9b:1::/48",  // local-use NAT64
		"2001:db8::/32",   // documentation
		"2002::/16",       // 6to4: embeds an IPv4 address
		"2001::/32",       // Teredo
		"100::/64",        // discard
	} {
		ps = append(ps, netip.MustParsePrefix(s))
	}
	return ps
}()
