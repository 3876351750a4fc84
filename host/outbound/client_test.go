package outbound

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/wasmtask/wasmtask/host/engine"
)

// marker stands for a credential in a url's path or query.
const marker = "s3cr3t-m4rk"

// TestClient_ErrorsNameNoURL: an error of Do — which the guest reads and
// the container's log shows — names the host or the kind of mistake,
// never the url's path or query, nor the bytes a peer answered.
func TestClient_ErrorsNameNoURL(t *testing.T) {
	// A peer that answers garbage holding a cookie, then closes.
	garbage := listen(t, func(c net.Conn) {
		c.Read(make([]byte, 4096))
		c.Write([]byte("NOT-HTTP Set-Cookie: sid=" + marker + "\r\n\r\n"))
	})
	// A peer that closes without answering.
	closer := listen(t, func(c net.Conn) { c.Read(make([]byte, 4096)) })
	c, err := NewClient(Policy{Allow: []string{garbage, closer}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, url, want string
	}{
		{"bad escape", "http://" + garbage + "/a%zz?key=" + marker, "does not parse: a bad %-escape"},
		{"control character", "http://" + garbage + "/a?key=" + marker + "\n", "does not parse: a control character"},
		{"bad port", "http://127.0.0.1:port/" + marker, "does not parse: an invalid port"},
		{"no scheme", ":/" + marker, "does not parse: no scheme"},
		{"relative", "/a?key=" + marker, "not an absolute http(s) url"},
		{"not http", "ftp://" + garbage + "/" + marker, `scheme "ftp"`},
		{"not listed", "http://127.0.0.1:1/a?key=" + marker, "127.0.0.1:1 is not on the container's outbound allow-list"},
		{"garbage answer", "http://" + garbage + "/a?key=" + marker, garbage + " did not answer with valid HTTP"},
		{"closed", "http://" + closer + "/a?key=" + marker, closer + " closed the connection before answering"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Do(time.Now().Add(5*time.Second), &engine.OutboundRequest{URL: tc.url})
			if err == nil {
				t.Fatal("no error")
			}
			if strings.Contains(err.Error(), marker) {
				t.Errorf("the error quotes the url or the answer: %v", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

// listen serves each connection with h on a loopback port until the test
// ends, and returns host:port.
func listen(t *testing.T, h func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				h(c)
			}()
		}
	}()
	return ln.Addr().String()
}

// FuzzClient_check: whatever a guest puts before a url's path, an error
// of the policy check never quotes what follows the host.
func FuzzClient_check(f *testing.F) {
	for _, s := range []string{"http://api.example.com", "http://127.0.0.1:80", "https://[::1]:9", "http://a b", "http://%zz",
		"ftp://x", "http://u:p@x", "http://x:port", "\x7f", "http://*.example.com", ""} {
		f.Add(s)
	}
	c, err := NewClient(Policy{Allow: []string{"api.example.com", "127.0.0.1:8080"}}, Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, prefix string) {
		if strings.Contains(prefix, marker) {
			return
		}
		for _, raw := range []string{prefix + "/p/" + marker, prefix + "/?k=" + marker + "%zz", prefix + "/#" + marker} {
			if _, err := c.check(raw); err != nil && strings.Contains(err.Error(), marker) {
				t.Fatalf("check(%q) = %v: quotes what follows the host", raw, err)
			}
		}
	})
}
