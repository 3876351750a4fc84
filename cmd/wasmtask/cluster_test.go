package main

// The cluster test: one etcd server embedded in the test process and three
// "wasmtask serve --store etcd" child processes sharing it (issue 16).

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"

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

// crash stops the member's Raft at once, as a crash would, without
// handing the leadership over (stop does that first). Its listeners close
// in the background: Close waits for the streams open on it (watches),
// up to etcd's request timeout; the channel returned is closed when it
// is done.
func (m *etcdMember) crash() <-chan struct{} {
	e := m.e
	m.e = nil
	e.Server.HardStop()
	done := make(chan struct{})
	go func() { defer close(done); e.Close() }()
	m.t.Cleanup(func() { <-done })
	return done
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
	var initial []string
	members := make([]*etcdMember, n)
	peers := make([]url.URL, n)
	for i := range n {
		peers[i] = url.URL{Scheme: "http", Host: freeAddr(t)}
		members[i] = &etcdMember{t: t, client: freeAddr(t)}
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
			StartedAt   time.Time `json:"started_at"`
			Type        string
		}
		if err := json.Unmarshal(other.must("GET", "/api/cron/acme/hello/history", other.admin, nil, "", 200), &runs); err != nil {
			t.Fatal(err)
		}
		seen := map[time.Time]bool{}
		var before, after int
		var firstAfter time.Time // the start of the first run after the kill: the new leader's
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
			if r.StartedAt.After(killed) && (firstAfter.IsZero() || r.StartedAt.Before(firstAfter)) {
				firstAfter = r.StartedAt
			}
		}
		t.Logf("%d runs before the leader was killed, %d after the handover (%d records)", before, after, len(runs))
		if before < 2 || after < 2 {
			t.Fatalf("runs before the kill: %d, after the handover: %d; want at least 2 each\n%+v", before, after, runs)
		}
		// The handover: the lease TTL (2 s) and etcd's check of expired
		// leases (every 0.5 s), then the next slot of a job that runs
		// every second (1 s at most), and 1.5 s of slack.
		handover := firstAfter.Sub(killed)
		t.Logf("the first run after the SIGKILL of the leader started %v after it", handover.Round(time.Millisecond))
		if handover > 5*time.Second {
			t.Errorf("the first run after the SIGKILL of the leader started %v after it; want within the lease TTL (2 s) + 3 s\n%+v", handover, runs)
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

// raftLeader returns the running member that leads the cluster's Raft
// group, waiting up to 10 s for one.
func raftLeader(t *testing.T, members []*etcdMember) *etcdMember {
	t.Helper()
	var leader *etcdMember
	if _, ok := until(10*time.Second, func() bool {
		for _, m := range members {
			if m.e != nil && m.e.Server.Leader() == m.e.Server.MemberID() {
				leader = m
				return true
			}
		}
		return false
	}); !ok {
		t.Fatal("no etcd member leads within 10 s")
	}
	return leader
}

// TestCluster_ThreeMembers runs three nodes on a three-member etcd
// cluster and crashes the member that leads its Raft group: once the
// others have elected a new leader, the nodes deploy, run, store and
// revoke as before.
func TestCluster_ThreeMembers(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-member etcd cluster and three servers")
	}
	bin := serverBinary(t)
	members := startEtcdCluster(t, 3)
	all := strings.Join([]string{members[0].client, members[1].client, members[2].client}, ",")
	n1, n2, n3 := startNode(t, bin, all), startNode(t, bin, all), startNode(t, bin, all)
	n1.must("PUT", "/api/webtask/acme/hello", n1.admin, fixture(t, "hello"), "application/wasm", 200)
	n2.must("GET", "/api/run/acme/hello", "", nil, "", 200)

	leader := raftLeader(t, members)
	stopped := time.Now()
	closed := leader.crash()
	// The other members elect a new leader after their election timeout
	// (1 s), and the nodes' calls go to them: a call meanwhile may answer
	// 503; within a few seconds, writes succeed again.
	took, ok := until(10*time.Second, func() bool {
		s, _, _ := n2.do("PUT", "/api/webtask/acme/after", n2.admin, fixture(t, "hello"), "application/wasm")
		return s == 200
	})
	if !ok {
		t.Fatalf("no deploy succeeded within 10 s of the Raft leader's crash%s", n2.tail())
	}
	t.Logf("Raft leader %s crashed: a deploy succeeds again after %v", leader.client, took.Round(time.Millisecond))
	for _, n := range []*child{n1, n3} {
		if _, ok := until(5*time.Second, func() bool {
			s, b, _ := n.do("GET", "/api/run/acme/after", "", nil, "")
			return s == 200 && string(b) == `{"message":"hello, world"}`
		}); !ok {
			t.Fatalf("%s does not run the webtask deployed after the crash%s", n.url, n.tail())
		}
	}

	// Storage: a write on one node, with the etag read on another; the
	// stale etag then loses.
	var doc struct{ ETag string }
	_ = json.Unmarshal(n3.must("GET", "/api/webtask/acme/after/data", n3.admin, nil, "", 200), &doc)
	put := func(n *child, etag string) int {
		b, _ := json.Marshal(map[string]string{"data": `{"after":"stop"}`, "etag": etag})
		s, _, err := n.do("PUT", "/api/webtask/acme/after/data", n.admin, b, "application/json")
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if s := put(n1, doc.ETag); s != 200 {
		t.Fatalf("storage write after the crash: %d%s", s, n1.tail())
	}
	if s := put(n2, doc.ETag); s != 409 {
		t.Fatalf("storage write with a stale etag after the crash: %d; want 409", s)
	}
	if b := n3.must("GET", "/api/webtask/acme/after/data", n3.admin, nil, "", 200); !strings.Contains(string(b), `\"after\":\"stop\"`) {
		t.Fatalf("node 3 reads %s", b)
	}

	// Once the crashed member's streams are closed too, the watches that
	// were on it have moved: revocations propagate as before.
	select {
	case <-closed:
	case <-time.After(30 * time.Second):
		t.Fatal("the crashed member did not close within 30 s")
	}
	if now := raftLeader(t, members); now == leader {
		t.Fatal("the crashed member still leads")
	}
	tok := string(n3.must("POST", "/api/tokens/issue", n3.admin, []byte(`{"ten":"acme"}`), "application/json", 200))
	n1.must("GET", "/api/webtask/acme", tok, nil, "", 200)
	n3.must("POST", "/api/tokens/revoke?token="+url.QueryEscape(tok), n3.admin, nil, "", 200)
	if _, ok := until(time.Second, func() bool { s, _, _ := n1.do("GET", "/api/webtask/acme", tok, nil, ""); return s == 401 }); !ok {
		t.Fatal("a revocation did not reach node 1 within 1 s with the Raft leader down")
	}
	t.Logf("all checks passed %v after the crash", time.Since(stopped).Round(time.Millisecond))
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

// wantStartError runs "wasmtask serve --store etcd" with args (a dial
// timeout of 1 s) and env in this process and requires that it stops
// with exit status 1 within 5 s, printing an error that holds want and
// not secret.
func wantStartError(t *testing.T, args []string, env map[string]string, want, secret string) {
	t.Helper()
	args = append([]string{"--addr", "127.0.0.1:0", "--data", t.TempDir(), "--store", "etcd",
		"--etcd-dial-timeout", "1s", "--etcd-timeout", "1s"}, args...)
	env = maps.Clone(env)
	if env == nil {
		env = map[string]string{}
	}
	env["WASMTASK_KEK"] = testKEK
	opts, err := parseServe(args, mapEnv(env), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr syncBuffer
	stop, done := make(chan os.Signal, 1), make(chan int, 1)
	start := time.Now()
	go func() { done <- serveUntil(opts, &stdout, &stderr, stop) }()
	select {
	case code := <-done:
		took, out := time.Since(start), stderr.String()
		if code != 1 || !strings.Contains(out, want) {
			t.Fatalf("exit %d, stderr %q; want 1 and %q", code, out, want)
		}
		if took > 5*time.Second {
			t.Errorf("the start-up error took %v with a dial timeout of 1 s", took)
		}
		if secret != "" && strings.Contains(stdout.String()+out, secret) {
			t.Errorf("the output shows the password: %q", stdout.String()+out)
		}
		t.Logf("after %v: %s", took.Round(time.Millisecond), strings.TrimSpace(out))
	case <-time.After(15 * time.Second):
		stop <- os.Interrupt
		<-done
		t.Fatalf("the server started: %s", stdout.String())
	}
}

// TestServe_EtcdTLS: with --etcd-tls-ca, --etcd-tls-cert and
// --etcd-tls-key a node works on a member that serves TLS and requires
// client certificates; a missing certificate, another CA or no TLS at
// all stops the start within a bounded time, saying which.
func TestServe_EtcdTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd and a server")
	}
	dir := t.TempDir()
	good, err := etcdtest.NewPKI(dir, "good")
	if err != nil {
		t.Fatal(err)
	}
	other, err := etcdtest.NewPKI(dir, "other") // a CA the member does not know
	if err != nil {
		t.Fatal(err)
	}
	client := startLoneEtcd(t, "tls", func(cfg *embed.Config) { etcdtest.ServeTLS(cfg, good) })
	endpoint := "https://" + client

	n := startNode(t, serverBinary(t), endpoint, "--etcd-tls-ca", good.CA, "--etcd-tls-cert", good.ClientCert, "--etcd-tls-key", good.ClientKey)
	n.must("PUT", "/api/webtask/acme/hello", n.admin, fixture(t, "hello"), "application/wasm", 200)
	if b := n.must("GET", "/api/run/acme/hello", "", nil, "", 200); string(b) != `{"message":"hello, world"}` {
		t.Fatalf("run over TLS: %s", b)
	}

	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no client certificate", []string{"--etcd-endpoints", endpoint, "--etcd-tls-ca", good.CA}, "tls: certificate required"},
		{"a client certificate of another CA", []string{"--etcd-endpoints", endpoint, "--etcd-tls-ca", good.CA,
			"--etcd-tls-cert", other.ClientCert, "--etcd-tls-key", other.ClientKey}, "tls: certificate required"},
		{"another CA", []string{"--etcd-endpoints", endpoint, "--etcd-tls-ca", other.CA,
			"--etcd-tls-cert", good.ClientCert, "--etcd-tls-key", good.ClientKey}, "certificate signed by unknown authority"},
		{"no TLS", []string{"--etcd-endpoints", client}, "the member serves TLS, the client does not use it"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { wantStartError(t, tc.args, nil, tc.want, "") })
	}
}

// TestServe_EtcdAuth: with --etcd-user and WASMTASK_ETCD_PASSWORD a node
// works on a cluster with authentication on, as a user whose role may
// read and write the prefix only (its cron election included); a wrong
// password, an unknown user, no user or another prefix stops the start
// at once, TLS to this plain member within the dial timeout, saying
// which, and no output shows the password.
func TestServe_EtcdAuth(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd and a server")
	}
	client := startLoneEtcd(t, "auth", nil)
	const password = "pw-7c1e9d-secret"
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{client}, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	steps := []func() error{
		func() error { _, err := cli.UserAdd(ctx, "root", "root-"+password); return err },
		func() error { _, err := cli.UserGrantRole(ctx, "root", "root"); return err },
		func() error { _, err := cli.RoleAdd(ctx, "wasmtask"); return err },
		func() error {
			_, err := cli.RoleGrantPermission(ctx, "wasmtask", "/wasmtask/", clientv3.GetPrefixRangeEnd("/wasmtask/"),
				clientv3.PermissionType(clientv3.PermReadWrite))
			return err
		},
		func() error { _, err := cli.UserAdd(ctx, "wasmtask", password); return err },
		func() error { _, err := cli.UserGrantRole(ctx, "wasmtask", "wasmtask"); return err },
		func() error { _, err := cli.AuthEnable(ctx); return err },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	cli.Close()

	n := startChildWith(t, serverBinary(t), t.TempDir(), []string{"WASMTASK_KEK=" + testKEK, "WASMTASK_ETCD_PASSWORD=" + password},
		"--store", "etcd", "--etcd-endpoints", client, "--etcd-user", "wasmtask", "--etcd-timeout", "1s", "--cron-seconds")
	n.must("PUT", "/api/webtask/acme/hello", n.admin, fixture(t, "hello"), "application/wasm", 200)
	n.must("GET", "/api/run/acme/hello", "", nil, "", 200)
	n.must("PUT", "/api/webtask/acme/hello/data", n.admin, []byte(`{"data":"{}"}`), "application/json", 200)
	if _, ok := until(5*time.Second, func() bool { return strings.Contains(n.stderr.String(), "leads the cluster") }); !ok {
		t.Fatalf("the node does not lead the cron jobs within 5 s%s", n.tail())
	}
	if strings.Contains(n.stdout.String()+n.stderr.String(), password) {
		t.Fatalf("the node's output shows the password%s", n.tail())
	}

	user := []string{"--etcd-endpoints", client, "--etcd-user", "wasmtask"}
	pki, err := etcdtest.NewPKI(t.TempDir(), "unused")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		args   []string
		env    map[string]string
		want   string
		secret string
	}{
		{"wrong password", user, map[string]string{"WASMTASK_ETCD_PASSWORD": "wrong-" + password}, "authentication failed", "wrong-" + password},
		{"wrong password as a flag", append(slices.Clone(user), "--etcd-password", "flag-"+password), nil, "authentication failed", "flag-" + password},
		{"unknown user", []string{"--etcd-endpoints", client, "--etcd-user", "nobody"}, map[string]string{"WASMTASK_ETCD_PASSWORD": password},
			"authentication failed", password},
		{"no user", []string{"--etcd-endpoints", client}, nil, "needs a user name and password", ""},
		{"a prefix the user may not use", append(slices.Clone(user), "--etcd-prefix", "/other/"), map[string]string{"WASMTASK_ETCD_PASSWORD": password},
			"permission denied", password},
		{"TLS to a member without", []string{"--etcd-endpoints", "https://" + client, "--etcd-tls-ca", pki.CA, "--etcd-user", "wasmtask"},
			map[string]string{"WASMTASK_ETCD_PASSWORD": password}, "does it serve TLS?", password},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { wantStartError(t, tc.args, tc.env, tc.want, tc.secret) })
	}
}

// freeAddr is a loopback host:port no one listens on now.
// startLoneEtcd starts a one-member etcd that tests configure (tweak, when
// not nil, before it starts: TLS) and talk to directly, stopped when the
// test ends, and returns its client address.
func startLoneEtcd(t *testing.T, name string, tweak func(*embed.Config)) string {
	t.Helper()
	client := freeAddr(t)
	cfg := etcdtest.Config(name, t.TempDir(), client, freeAddr(t), "")
	cfg.UnsafeNoFsync = true
	if tweak != nil {
		tweak(cfg)
	}
	e, err := etcdtest.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return client
}

func freeAddr(t *testing.T) string {
	t.Helper()
	a, err := etcdtest.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return a
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
