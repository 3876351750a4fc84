package main

// The cluster test: one etcd server embedded in the test process and three
// "wasmtask serve --store etcd" child processes sharing it (issue 16).

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/server/v3/embed"

	"github.com/wasmtask/wasmtask/store/etcd/etcdtest"
)

// testKEK is the key-encryption key the test nodes share.
var testKEK = strings.Repeat("5a", 32)

// etcdMember is one member of an etcd cluster embedded in the test
// process, on loopback.
type etcdMember struct {
	t      *testing.T
	client string               // host:port
	config func() *embed.Config // its configuration, the same at every start
	e      *embed.Etcd          // nil while stopped
}

// start starts the member (again: with the data of its last run) and
// returns without waiting for the cluster to be ready.
func (m *etcdMember) start() {
	m.t.Helper()
	e, err := embed.StartEtcd(m.config())
	if err != nil {
		m.t.Fatal(err)
	}
	m.e = e
}

// ready waits until the member serves (the cluster has a leader).
func (m *etcdMember) ready() {
	m.t.Helper()
	select {
	case <-m.e.Server.ReadyNotify():
	case err := <-m.e.Err():
		m.t.Fatal(err)
	case <-time.After(30 * time.Second):
		m.t.Fatal("etcd did not start within 30 s")
	}
}

// stop stops the member; stopping a stopped one does nothing.
func (m *etcdMember) stop() {
	if m.e != nil {
		m.e.Close()
		m.e = nil
	}
}

// startEtcd starts a one-member etcd cluster, stopped when the test ends.
func startEtcd(t *testing.T) *etcdMember {
	t.Helper()
	return startEtcdCluster(t, 1)[0]
}

// startEtcdCluster starts an etcd cluster of n members in this process, on
// loopback, stopped when the test ends.
func startEtcdCluster(t *testing.T, n int) []*etcdMember {
	t.Helper()
	free := func() string {
		a, err := etcdtest.FreeAddr()
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	var initial []string
	members := make([]*etcdMember, n)
	peers := make([]url.URL, n)
	for i := range n {
		peers[i] = url.URL{Scheme: "http", Host: free()}
		members[i] = &etcdMember{t: t, client: free()}
		initial = append(initial, fmt.Sprintf("m%d=%s", i, peers[i].String()))
	}
	for i, m := range members {
		dir, peer, cluster := t.TempDir(), peers[i].Host, strings.Join(initial, ",")
		m.config = func() *embed.Config {
			cfg := etcdtest.Config(fmt.Sprintf("m%d", i), dir, m.client, peer, cluster)
			cfg.UnsafeNoFsync = true
			return cfg
		}
		m.start()
		t.Cleanup(m.stop)
	}
	for _, m := range members {
		m.ready()
	}
	return members
}

// startNode starts one wasmtask node on the etcd at endpoint.
func startNode(t *testing.T, bin, endpoint string, extra ...string) *child {
	t.Helper()
	args := append([]string{"--store", "etcd", "--etcd-endpoints", endpoint, "--etcd-timeout", "1s", "--cron-seconds"}, extra...)
	return startChildWith(t, bin, t.TempDir(), []string{"WASMTASK_KEK=" + testKEK}, args...)
}

// fixture reads a module of host/api/testdata.
func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "host", "api", "testdata", name+".wasm"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// must sends a request and requires status want, returning the body.
func (c *child) must(method, path, token string, body []byte, contentType string, want int) []byte {
	c.t.Helper()
	status, b, err := c.do(method, path, token, body, contentType)
	if err != nil || status != want {
		c.t.Fatalf("%s %s on %s: %d %s %v; want %d%s", method, path, c.url, status, b, err, want, c.tail())
	}
	return b
}

// until polls cond every 10 ms until it holds or d passes; it returns how
// long that took and whether it held.
func until(d time.Duration, cond func() bool) (time.Duration, bool) {
	start := time.Now()
	for {
		if cond() {
			return time.Since(start), true
		}
		if time.Since(start) > d {
			return time.Since(start), false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestCluster runs three nodes on one etcd: what one node writes, the
// others serve; a revocation reaches the others within a second; storage
// etags hold across nodes; a cron job every second runs once per slot
// while its leader is killed; etcd lost: runs go on, writes answer 503.
func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd and three servers")
	}
	bin := serverBinary(t)
	etcd := startEtcd(t)
	endpoint := etcd.client
	nodes := []*child{startNode(t, bin, endpoint), startNode(t, bin, endpoint), startNode(t, bin, endpoint)}
	n1, n2, n3 := nodes[0], nodes[1], nodes[2]

	t.Run("deploy", func(t *testing.T) {
		n1.must("PUT", "/api/webtask/acme/hello", n1.admin, fixture(t, "hello"), "application/wasm", 200)
		for _, n := range []*child{n2, n3} {
			if b := n.must("GET", "/api/run/acme/hello", "", nil, "", 200); string(b) != `{"message":"hello, world"}` {
				t.Fatalf("run on %s: %s", n.url, b)
			}
		}
		// Node 2 runs the old code from its pool: a deploy on node 1
		// replaces it there too, within a second.
		n1.must("PUT", "/api/webtask/acme/hello", n1.admin, fixture(t, "counter"), "application/wasm", 200)
		took, ok := until(time.Second, func() bool {
			_, b, _ := n2.do("GET", "/api/run/acme/hello", "", nil, "")
			return bytes.HasPrefix(b, []byte(`{"count":`))
		})
		if !ok {
			t.Fatalf("node 2 still runs the old code 1 s after the deploy on node 1")
		}
		t.Logf("deploy on node 1 runnable on node 2 after %v", took)
		n1.must("PUT", "/api/webtask/acme/gone", n1.admin, fixture(t, "hello"), "application/wasm", 200)
		n3.must("GET", "/api/run/acme/gone", "", nil, "", 200)
		n2.must("DELETE", "/api/webtask/acme/gone", n2.admin, nil, "", 204)
		if _, ok := until(time.Second, func() bool { s, _, _ := n3.do("GET", "/api/run/acme/gone", "", nil, ""); return s == 404 }); !ok {
			t.Fatal("node 3 still runs a webtask deleted on node 2 after 1 s")
		}
	})

	t.Run("revoke", func(t *testing.T) {
		tok := string(n3.must("POST", "/api/tokens/issue", n3.admin, []byte(`{"ten":"acme"}`), "application/json", 200))
		n1.must("GET", "/api/webtask/acme", tok, nil, "", 200) // signed on node 3, valid on node 1
		n3.must("POST", "/api/tokens/revoke?token="+url.QueryEscape(tok), n3.admin, nil, "", 200)
		took, ok := until(time.Second, func() bool { s, _, _ := n1.do("GET", "/api/webtask/acme", tok, nil, ""); return s == 401 })
		if !ok {
			t.Fatal("a token revoked on node 3 is still accepted by node 1 after 1 s")
		}
		t.Logf("revoked on node 3, refused by node 1 after %v", took)

		// The propagation time, over more revocations (polled every 1 ms).
		var times []time.Duration
		for range 20 {
			tok := string(n3.must("POST", "/api/tokens/issue", n3.admin, []byte(`{"ten":"acme"}`), "application/json", 200))
			n1.must("GET", "/api/webtask/acme", tok, nil, "", 200)
			n3.must("POST", "/api/tokens/revoke?token="+url.QueryEscape(tok), n3.admin, nil, "", 200)
			start := time.Now()
			for {
				if s, _, _ := n1.do("GET", "/api/webtask/acme", tok, nil, ""); s == 401 {
					break
				}
				if time.Since(start) > time.Second {
					t.Fatal("a revocation took more than 1 s to reach node 1")
				}
				time.Sleep(time.Millisecond)
			}
			times = append(times, time.Since(start))
		}
		slices.Sort(times)
		t.Logf("revocation propagation over %d revocations: p50 %v, max %v", len(times), times[len(times)/2], times[len(times)-1])
	})

	t.Run("storage", func(t *testing.T) {
		var doc struct{ ETag string }
		_ = json.Unmarshal(n1.must("GET", "/api/webtask/acme/hello/data", n1.admin, nil, "", 200), &doc)
		put := func(n *child, data, etag string) (int, []byte) {
			b, _ := json.Marshal(map[string]string{"data": data, "etag": etag})
			s, body, err := n.do("PUT", "/api/webtask/acme/hello/data", n.admin, b, "application/json")
			if err != nil {
				t.Fatal(err)
			}
			return s, body
		}
		if s, b := put(n2, `{"by":2}`, doc.ETag); s != 200 {
			t.Fatalf("node 2 write with the etag: %d %s", s, b)
		}
		if s, b := put(n3, `{"by":3}`, doc.ETag); s != 409 || !strings.Contains(string(b), `\"by\":2`) {
			t.Fatalf("node 3 write with the stale etag: %d %s; want 409 with node 2's document", s, b)
		}
	})

	t.Run("cron", func(t *testing.T) {
		n2.must("PUT", "/api/cron/acme/hello", n2.admin, []byte(`{"schedule":"* * * * * *"}`), "application/json", 200)
		var leader *child
		for _, n := range nodes {
			if strings.Contains(n.stderr.String(), "leads the cluster") {
				if leader != nil {
					t.Fatalf("two nodes say they lead: %s and %s", leader.url, n.url)
				}
				leader = n
			}
		}
		if leader == nil {
			t.Fatal("no node leads the cron jobs")
		}
		time.Sleep(3 * time.Second)
		killed := time.Now()
		leader.kill()
		var other *child
		for _, n := range nodes {
			if n != leader {
				other = n
			}
		}
		// A new leader within the lease TTL (2 s), then runs again.
		time.Sleep(6 * time.Second)
		var runs []struct {
			ScheduledAt time.Time `json:"scheduled_at"`
			Type        string
		}
		if err := json.Unmarshal(other.must("GET", "/api/cron/acme/hello/history", other.admin, nil, "", 200), &runs); err != nil {
			t.Fatal(err)
		}
		seen := map[time.Time]bool{}
		var before, after int
		for _, r := range runs {
			if r.Type == "missed" {
				continue
			}
			if seen[r.ScheduledAt] {
				t.Errorf("slot %s ran twice", r.ScheduledAt.Format(time.RFC3339))
			}
			seen[r.ScheduledAt] = true
			if r.ScheduledAt.Before(killed) {
				before++
			} else if r.ScheduledAt.After(killed.Add(2500 * time.Millisecond)) {
				after++
			}
		}
		t.Logf("%d runs before the leader was killed, %d after the handover (%d records)", before, after, len(runs))
		if before < 2 || after < 2 {
			t.Fatalf("runs before the kill: %d, after the handover: %d; want at least 2 each\n%+v", before, after, runs)
		}
	})

	t.Run("etcd lost", func(t *testing.T) {
		var alive []*child
		for _, n := range nodes {
			select {
			case <-n.exited:
			default:
				alive = append(alive, n)
			}
		}
		n, m := alive[0], alive[1]
		n.must("PUT", "/api/webtask/acme/hello", n.admin, fixture(t, "hello"), "application/wasm", 200)
		n.must("GET", "/api/run/acme/hello", "", nil, "", 200)
		etcd.stop()
		if b := n.must("GET", "/api/run/acme/hello", "", nil, "", 200); string(b) != `{"message":"hello, world"}` {
			t.Fatalf("run without etcd: %s", b)
		}
		start := time.Now()
		status, b, err := n.do("PUT", "/api/webtask/acme/other", n.admin, fixture(t, "hello"), "application/wasm")
		var e struct{ Error, Message string }
		_ = json.Unmarshal(b, &e)
		if err != nil || status != 503 || e.Error != "store_unavailable" || !strings.Contains(e.Message, "etcd") {
			t.Fatalf("deploy without etcd: %d %s %v; want 503 store_unavailable", status, b, err)
		}
		t.Logf("a deploy without etcd answered 503 after %v", time.Since(start).Round(time.Millisecond))

		// etcd back: writes work again, and the watches resume.
		etcd.start()
		etcd.ready()
		took, ok := until(15*time.Second, func() bool {
			s, _, _ := n.do("PUT", "/api/webtask/acme/other", n.admin, fixture(t, "hello"), "application/wasm")
			return s == 200
		})
		if !ok {
			t.Fatalf("no deploy succeeded within 15 s of etcd's return%s", n.tail())
		}
		t.Logf("deploys work again %v after etcd's return", took.Round(time.Millisecond))
		tok := string(n.must("POST", "/api/tokens/issue", n.admin, []byte(`{"ten":"acme"}`), "application/json", 200))
		if _, ok := until(5*time.Second, func() bool { s, _, _ := m.do("GET", "/api/webtask/acme", tok, nil, ""); return s == 200 }); !ok {
			t.Fatalf("the other node does not answer 5 s after etcd's return%s", m.tail())
		}
		n.must("POST", "/api/tokens/revoke?token="+url.QueryEscape(tok), n.admin, nil, "", 200)
		if _, ok := until(2*time.Second, func() bool { s, _, _ := m.do("GET", "/api/webtask/acme", tok, nil, ""); return s == 401 }); !ok {
			t.Fatal("after etcd's return, a revocation does not reach the other node")
		}
	})
}

// TestCluster_ThreeMembers (long: WASMTASK_TEST_LONG=1) runs three nodes
// on a three-member etcd cluster and stops one member: the nodes keep
// serving reads and writes.
func TestCluster_ThreeMembers(t *testing.T) {
	if testing.Short() || os.Getenv("WASMTASK_TEST_LONG") == "" {
		t.Skip("long: set WASMTASK_TEST_LONG=1 (starts a 3-member etcd cluster and three servers)")
	}
	bin := serverBinary(t)
	members := startEtcdCluster(t, 3)
	all := strings.Join([]string{members[0].client, members[1].client, members[2].client}, ",")
	n1, n2, n3 := startNode(t, bin, all), startNode(t, bin, all), startNode(t, bin, all)
	n1.must("PUT", "/api/webtask/acme/hello", n1.admin, fixture(t, "hello"), "application/wasm", 200)
	n2.must("GET", "/api/run/acme/hello", "", nil, "", 200)
	members[0].stop()
	// The nodes' clients move to the other members: a call cut by the stop
	// may answer 503 once; within a few seconds, writes succeed again.
	if _, ok := until(10*time.Second, func() bool {
		s, _, _ := n2.do("PUT", "/api/webtask/acme/after", n2.admin, fixture(t, "hello"), "application/wasm")
		return s == 200
	}); !ok {
		t.Fatal("no deploy succeeded within 10 s of one member stopping")
	}
	for _, n := range []*child{n1, n3} {
		if _, ok := until(5*time.Second, func() bool { s, _, _ := n.do("GET", "/api/run/acme/after", "", nil, ""); return s == 200 }); !ok {
			t.Fatalf("%s does not run the webtask deployed after the stop%s", n.url, n.tail())
		}
	}
	tok := string(n3.must("POST", "/api/tokens/issue", n3.admin, []byte(`{"ten":"acme"}`), "application/json", 200))
	n3.must("POST", "/api/tokens/revoke?token="+url.QueryEscape(tok), n3.admin, nil, "", 200)
	if _, ok := until(time.Second, func() bool { s, _, _ := n1.do("GET", "/api/webtask/acme", tok, nil, ""); return s == 401 }); !ok {
		t.Fatal("a revocation did not reach node 1 within 1 s with one member down")
	}
}

// TestServe_EtcdUnreachable: a node whose endpoints do not answer stops
// with a clear error within its dial timeout.
func TestServe_EtcdUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nobody listens there now
	opts, err := parseServe([]string{"--addr", "127.0.0.1:0", "--data", t.TempDir(), "--store", "etcd",
		"--etcd-endpoints", addr, "--etcd-dial-timeout", "500ms"}, mapEnv(map[string]string{"WASMTASK_KEK": testKEK}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	start := time.Now()
	code := serveUntil(opts, io.Discard, &stderr, nil)
	took := time.Since(start)
	if code != 1 || !strings.Contains(stderr.String(), "no member answered within 500ms") || !strings.Contains(stderr.String(), addr) {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
	if took > 3*time.Second {
		t.Fatalf("the start-up error took %v", took)
	}
}

func mapEnv(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// TestParseServe_Store checks the store flags.
func TestParseServe_Store(t *testing.T) {
	kekFile := filepath.Join(t.TempDir(), "kek")
	if err := os.WriteFile(kekFile, []byte(testKEK+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string // error substring; "" for success
	}{
		{"bolt default", nil, nil, ""},
		{"etcd with env KEK", []string{"--store", "etcd", "--etcd-endpoints", "a:2379,b:2379"}, map[string]string{"WASMTASK_KEK": testKEK}, ""},
		{"etcd with key file", []string{"--store", "etcd", "--etcd-endpoints", "a:2379", "--key-file", kekFile}, nil, ""},
		{"etcd without endpoints", []string{"--store", "etcd", "--key-file", kekFile}, nil, "needs --etcd-endpoints"},
		{"etcd without KEK", []string{"--store", "etcd", "--etcd-endpoints", "a:2379"}, nil, "key-encryption key"},
		{"bad KEK", []string{"--store", "etcd", "--etcd-endpoints", "a:2379"}, map[string]string{"WASMTASK_KEK": "short"}, "32 bytes"},
		{"unknown store", []string{"--store", "redis"}, nil, "bolt or etcd"},
		{"endpoints without etcd", []string{"--etcd-endpoints", "a:2379"}, nil, "needs --store etcd"},
		{"password without user", []string{"--store", "etcd", "--etcd-endpoints", "a:2379", "--etcd-password", "x"}, map[string]string{"WASMTASK_KEK": testKEK}, "without --etcd-user"},
		{"cert without key", []string{"--store", "etcd", "--etcd-endpoints", "a:2379", "--etcd-tls-cert", "c.pem"}, map[string]string{"WASMTASK_KEK": testKEK}, "go together"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parseServe(tc.args, mapEnv(tc.env), io.Discard)
			switch {
			case tc.want == "" && err != nil:
				t.Fatal(err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("err = %v, want %q", err, tc.want)
			case tc.want == "" && strings.Contains(strings.Join(tc.args, " "), "etcd") && (o.etcd == nil || len(o.cfg.KEK) != 1):
				t.Fatalf("etcd config %+v, KEK %d", o.etcd, len(o.cfg.KEK))
			}
			if err != nil && !errors.Is(err, errUsage) {
				t.Fatalf("not a usage error: %v", err)
			}
		})
	}
}
