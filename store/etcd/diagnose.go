package etcdstore

// Why Open found no member. The etcd client retries a connection that
// fails (refused, or its TLS handshake failed) until the call's deadline,
// and then reports only that deadline: an operator who gave the wrong CA,
// forgot the client certificate or an https:// would read "no member
// answered" and look for a network problem. So when Open times out, it
// dials each endpoint itself, with the same TLS configuration, and says
// what it met.

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/wasmtask/wasmtask/store"
)

// noAnswer is Open's error when no member answered within the dial
// timeout (err, the client's): with what a dial of each endpoint found.
func noAnswer(err error, cfg Config) error {
	why := err.Error()
	if found := diagnose(cfg.Endpoints, cfg.TLS, min(cfg.DialTimeout, 2*time.Second)); found != "" {
		why += "; " + found
	}
	return fmt.Errorf("no member answered within %v (%s): %w", cfg.DialTimeout, why, store.ErrUnavailable)
}

// diagnose dials every endpoint with tlsCfg (nil: plain TCP) within d and
// returns what went wrong with each, "" when each accepted a connection
// (and its TLS handshake): then the member itself did not answer in time.
func diagnose(endpoints []string, tlsCfg *tls.Config, d time.Duration) string {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	found := make([]string, len(endpoints))
	var wg sync.WaitGroup
	for i, ep := range endpoints {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if why := probe(ctx, ep, tlsCfg); why != "" {
				found[i] = ep + ": " + why
			}
		}()
	}
	wg.Wait()
	var out []string
	for _, f := range found {
		if f != "" {
			out = append(out, f)
		}
	}
	return strings.Join(out, "; ")
}

// probe connects to one endpoint as the client would and returns what
// failed ("" if nothing did).
func probe(ctx context.Context, endpoint string, tlsCfg *tls.Config) string {
	host := endpoint
	if u, err := url.Parse(endpoint); err == nil && u.Host != "" {
		if u.Scheme != "http" && u.Scheme != "https" {
			return "" // unix sockets and the like: not diagnosed
		}
		host = u.Host
	}
	var dialer net.Dialer
	conn, err := dialer.DialContext(ctx, "tcp", host)
	if err != nil {
		return err.Error()
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if tlsCfg == nil {
		// Does the member speak TLS (whatever it thinks of us)?
		err := tls.Client(conn, &tls.Config{InsecureSkipVerify: true}).HandshakeContext(ctx) // #nosec G402: nothing is sent over it
		if err == nil || isAlert(err) {
			return "the member serves TLS, the client does not use it: give an https:// endpoint and the cluster's CA (and a client certificate if the member asks for one)"
		}
		return ""
	}
	cfg := tlsCfg.Clone()
	if cfg.ServerName == "" {
		cfg.ServerName, _, _ = net.SplitHostPort(host)
	}
	cfg.NextProtos = []string{"h2"}
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		if errors.Is(err, io.EOF) {
			return "TLS handshake: the member closed the connection (does it serve TLS? If not, give an http:// endpoint and no TLS settings)"
		}
		return "TLS handshake: " + err.Error()
	}
	// With TLS 1.3 the member checks the client's certificate after the
	// client finished its handshake: a refusal arrives as an alert on the
	// first read. A member that accepted sends its HTTP/2 settings, or
	// nothing yet.
	_ = tc.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	var b [1]byte
	if _, err := tc.Read(b[:]); err != nil && isAlert(err) {
		return "TLS: the member refused the client after the handshake: " + err.Error()
	}
	return ""
}

// isAlert says whether err is a TLS alert the other side sent.
func isAlert(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "remote error"
}
