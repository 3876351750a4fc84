package outbound

import (
	"net/netip"
	"strings"
	"testing"
)

// TestPolicy_Matching: names, wildcards, ports, IP literals and prefixes
// allow exactly what they say.
func TestPolicy_Matching(t *testing.T) {
	r, err := Policy{Allow: []string{"api.example.com", "*.svc.example", "pay.example:8443", "10.1.2.3", "[::1]:9000", "192.168.0.0/16", "Upper.Example."}}.compile()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		host, port string
		want       bool
	}{
		{"api.example.com", "443", true},
		{"api.example.com", "8080", true},
		{"x.api.example.com", "443", false},
		{"a.svc.example", "80", true},
		{"a.b.svc.example", "80", true},
		{"svc.example", "80", false},
		{"evilsvc.example", "80", false},
		{"pay.example", "8443", true},
		{"pay.example", "443", false},
		{"upper.example", "80", true},
	} {
		if got := r.allowsName(c.host, c.port); got != c.want {
			t.Errorf("allowsName(%s, %s) = %v", c.host, c.port, got)
		}
	}
	for _, c := range []struct {
		ip, port string
		want     bool
	}{
		{"10.1.2.3", "80", true},
		{"10.1.2.4", "80", false},
		{"::1", "9000", true},
		{"::1", "9001", false},
		{"::ffff:10.1.2.3", "80", true},
		{"192.168.44.1", "22", true},
		{"127.0.0.1", "80", false},
	} {
		if got := r.explicitIP(netip.MustParseAddr(c.ip), c.port); got != c.want {
			t.Errorf("explicitIP(%s, %s) = %v", c.ip, c.port, got)
		}
	}
}

// TestSpecial: every address a server must not reach through a name is
// special, in either IP family and in IPv4-mapped form; public ones are not.
func TestSpecial(t *testing.T) {
	for _, ip := range []string{"127.0.0.1", "127.8.8.8", "::1", "10.0.0.1", "172.16.5.5", "192.168.1.1", "169.254.169.254",
		"fe80::1", "fc00::1", "fd12::1", "0.0.0.0", "::", "100.64.0.1", "224.0.0.1", "ff02::1", "255.255.255.255",
		"::ffff:127.0.0.1", "::ffff:169.254.169.254", "64:ff9b::7f00:1", "2002:7f00:1::", "198.18.0.1"} {
		if !special(netip.MustParseAddr(ip)) {
			t.Errorf("%s is not special", ip)
		}
	}
	for _, ip := range []string{"8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "93.184.216.34"} {
		if special(netip.MustParseAddr(ip)) {
			t.Errorf("%s is special", ip)
		}
	}
}

// TestParsePolicy_Bad: each bad policy is refused naming what is wrong.
func TestParsePolicy_Bad(t *testing.T) {
	for body, want := range map[string]string{
		`{"allow":["a b"]}`:                              "not a host name",
		`{"allow":[""]}`:                                 "empty entry",
		`{"allow":["x.example:0"]}`:                      "port must be",
		`{"allow":["-x.example"]}`:                       "not a host name",
		`{"max_calls":101}`:                              "max_calls",
		`{"max_response_bytes":99999999999}`:             "max_response_bytes",
		`{"allow":"x"}`:                                  "cannot unmarshal",
		`{"unknown":1}`:                                  "unknown field",
		`{"allow":["` + strings.Repeat("a", 300) + `"]}`: "not a host name",
	} {
		if _, err := ParsePolicy([]byte(body)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", body, err, want)
		}
	}
	many := `{"allow":[` + strings.Repeat(`"a.example",`, MaxAllowEntries) + `"b.example"]}`
	if _, err := ParsePolicy([]byte(many)); err == nil || !strings.Contains(err.Error(), "at most") {
		t.Errorf("too many entries: %v", err)
	}
}

// FuzzParsePolicy: any bytes either parse into a policy whose client can
// be built, or are refused; nothing panics.
func FuzzParsePolicy(f *testing.F) {
	f.Add([]byte(`{"allow":["api.example.com","*.x.example:443","10.0.0.0/8","[::1]:80"],"max_calls":3}`))
	f.Add([]byte(`{"allow":["1.2.3.4/33"]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParsePolicy(b)
		if err != nil {
			return
		}
		if _, err := NewClient(p, Options{}); err != nil {
			t.Fatalf("parsed policy %+v does not build a client: %v", p, err)
		}
	})
}
