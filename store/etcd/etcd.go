package etcdstore

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/wasmtask/wasmtask/store"
)

// Defaults of Config.
const (
	DefaultPrefix      = "/wasmtask/"
	DefaultDialTimeout = 5 * time.Second
	DefaultTimeout     = 5 * time.Second
)

// ChunkSize is the largest piece a module is stored in: one chunk fits in
// an etcd request (1.5 MiB by default) with room to spare.
const ChunkSize = 512 << 10

// formatMarker is stored under <prefix>format by the first Open; Open
// refuses a prefix holding another marker.
const formatMarker = "wasmtask-etcd/1"

// walkBatch is how many records ForEachWebtask and AllCronJobs read per
// request.
const walkBatch = 256

// Config says where the cluster is and how to talk to it. Only Endpoints
// is required.
type Config struct {
	// Endpoints are the client URLs of the cluster's members
	// ("host:2379", "https://host:2379").
	Endpoints []string
	// Prefix is prepended to every key (DefaultPrefix if empty; a "/" is
	// appended when missing), so that several stores, or other
	// applications, can share a cluster.
	Prefix string
	// DialTimeout bounds Open: with no member answering within it, Open
	// fails with store.ErrUnavailable (DefaultDialTimeout if <= 0).
	DialTimeout time.Duration
	// Timeout bounds every request of every call (DefaultTimeout if <= 0),
	// and a call's retries after conflicting writes: a call that cannot
	// finish within it fails with store.ErrUnavailable.
	Timeout time.Duration
	// TLS, when set, is used for the connections (client certificates,
	// the cluster's CA).
	TLS *tls.Config
	// Username and Password, when set, authenticate with etcd's own
	// authentication.
	Username, Password string
	// ChunkSweep is how often the store deletes orphaned module chunks
	// (gc.go; DefaultChunkSweep if 0, never if negative).
	ChunkSweep time.Duration
}

// Store is a store.Store on an etcd cluster. It is safe for concurrent
// use, by several goroutines and by several processes (wasmtask nodes)
// sharing the cluster and the prefix.
type Store struct {
	cli     *clientv3.Client
	prefix  string
	timeout time.Duration

	ctx    context.Context // cancelled by Close: stops calls in flight
	cancel context.CancelFunc
	closed atomic.Bool

	// Set by tests before the first call.
	now        func() time.Time
	batch      int
	afterStage func(chunkPrefix string) // called once a module's chunks are staged

	gcMu   sync.Mutex
	gcSeen map[string]int64 // uploads unnamed at the last sweep (gc.go)
}

var _ store.Store = (*Store)(nil)

// Open connects to the cluster, checks (or, on a fresh prefix, writes) the
// format marker and returns the store. ctx bounds Open only. Unreachable
// endpoints fail with an error wrapping store.ErrUnavailable after
// DialTimeout, and what a dial of each endpoint found (refused, a TLS
// handshake that failed: diagnose.go) within at most 2 s more; a prefix
// holding something else than a wasmtask store fails without that.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if len(cfg.Endpoints) == 0 {
		return nil, fmt.Errorf("store: open etcd: no endpoints: %w", store.ErrInvalid)
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if !strings.HasSuffix(cfg.Prefix, "/") {
		cfg.Prefix += "/"
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	where := strings.Join(cfg.Endpoints, ",")
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   cfg.Endpoints,
		DialTimeout: cfg.DialTimeout,
		TLS:         cfg.TLS,
		Username:    cfg.Username,
		Password:    cfg.Password,
		Logger:      zap.NewNop(),
		// Reconnect within seconds once a member is back (gRPC's default
		// backoff grows to two minutes).
		DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 2 * time.Second},
			MinConnectTimeout: cfg.DialTimeout,
		})},
		Context: context.Background(),
	})
	if err != nil { // with a user, the client authenticates here
		if errors.Is(classify(err), store.ErrUnavailable) {
			return nil, fmt.Errorf("store: open etcd %s: %w", where, noAnswer(err, cfg))
		}
		return nil, fmt.Errorf("store: open etcd %s: %w", where, classify(err))
	}
	sctx, cancel := context.WithCancel(context.Background())
	s := &Store{cli: cli, prefix: cfg.Prefix, timeout: cfg.Timeout, ctx: sctx, cancel: cancel, now: time.Now, batch: walkBatch}
	if err := s.checkFormat(ctx, cfg); err != nil {
		s.Close()
		return nil, fmt.Errorf("store: open etcd %s prefix %q: %w", where, cfg.Prefix, err)
	}
	switch {
	case cfg.ChunkSweep == 0:
		go s.sweepChunks(DefaultChunkSweep)
	case cfg.ChunkSweep > 0:
		go s.sweepChunks(cfg.ChunkSweep)
	}
	return s, nil
}

// checkFormat writes the format marker on a fresh prefix and checks it on
// one in use.
func (s *Store) checkFormat(ctx context.Context, cfg Config) error {
	ctx, cancel := context.WithTimeout(ctx, cfg.DialTimeout)
	defer cancel()
	key := s.prefix + "format"
	resp, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, formatMarker)).
		Else(clientv3.OpGet(key)).Commit()
	if err != nil {
		if errors.Is(classify(err), store.ErrUnavailable) {
			return noAnswer(err, cfg)
		}
		return classify(err)
	}
	if resp.Succeeded {
		return nil
	}
	if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) == 1 && string(kvs[0].Value) == formatMarker {
		return nil
	}
	return errors.New("the prefix holds another format than " + formatMarker + ": not a wasmtask store, or a newer one")
}

// Close closes the connection; calls in flight fail with store.ErrClosed.
// Later calls return store.ErrClosed; closing twice returns nil.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.cancel()
	_ = s.cli.Close() // its error is the cancelled calls'
	return nil
}

// begin starts a call: store.ErrClosed once closed, else the call's context
// (bounded by the timeout, cancelled by Close).
func (s *Store) begin(op string) (context.Context, context.CancelFunc, error) {
	if s.closed.Load() {
		return nil, nil, fmt.Errorf("store: %s: %w", op, store.ErrClosed)
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.timeout)
	return ctx, cancel, nil
}

// fail wraps an error of etcd (or of the call's context) in op.
func (s *Store) fail(op string, err error) error {
	if s.closed.Load() {
		return fmt.Errorf("store: %s: %w", op, store.ErrClosed)
	}
	c := classify(err)
	if errors.Is(c, store.ErrUnavailable) {
		return fmt.Errorf("store: %s: etcd did not answer within %v (%v): %w", op, s.timeout, err, store.ErrUnavailable)
	}
	return fmt.Errorf("store: %s: %w", op, c)
}

// classify maps an error of the etcd client to the store's sentinels,
// keeping its message.
func classify(err error) error {
	code := status.Code(err)
	var ee rpctypes.EtcdError
	if errors.As(err, &ee) {
		code = ee.Code()
	}
	switch {
	case errors.Is(err, rpctypes.ErrNoSpace) || errors.Is(err, rpctypes.ErrGRPCNoSpace):
		return fmt.Errorf("etcd: %v: %w", err, store.ErrFull)
	case errors.Is(err, rpctypes.ErrRequestTooLarge) || errors.Is(err, rpctypes.ErrGRPCRequestTooLarge),
		errors.Is(err, rpctypes.ErrTooManyOps) || errors.Is(err, rpctypes.ErrGRPCTooManyOps),
		code == codes.ResourceExhausted:
		return fmt.Errorf("etcd refused the request: %v: %w", err, store.ErrTooLarge)
	case errors.Is(err, context.DeadlineExceeded), code == codes.Unavailable, code == codes.DeadlineExceeded:
		return fmt.Errorf("etcd: %v: %w", err, store.ErrUnavailable)
	case errors.Is(err, rpctypes.ErrUserEmpty) || errors.Is(err, rpctypes.ErrGRPCUserEmpty):
		return fmt.Errorf("etcd: %w (the cluster has authentication on: the client needs a user name and password)", err)
	case errors.Is(err, rpctypes.ErrPermissionDenied) || errors.Is(err, rpctypes.ErrGRPCPermissionDenied):
		return fmt.Errorf("etcd: %w (the user may not read and write the keys under the prefix)", err)
	}
	return fmt.Errorf("etcd: %w", err)
}

// errRetry restarts a transaction (its snapshot was compacted away).
var errRetry = errors.New("retry")

// txn is one attempt of a read-modify-write: its reads see one revision,
// and its writes commit only if nothing it read changed since (optimistic
// concurrency, compared on mod revisions).
type txn struct {
	s    *Store
	ctx  context.Context
	op   string
	rev  int64 // revision of the reads, 0 before the first
	cmps []clientv3.Cmp
	ops  []clientv3.Op
}

func (t *txn) read(key string, opts ...clientv3.OpOption) (*clientv3.GetResponse, error) {
	if t.rev > 0 {
		opts = append(opts, clientv3.WithRev(t.rev))
	}
	resp, err := t.s.cli.Get(t.ctx, key, opts...)
	if errors.Is(err, rpctypes.ErrCompacted) {
		return nil, errRetry
	}
	if err != nil {
		return nil, t.s.fail(t.op, err)
	}
	if t.rev == 0 {
		t.rev = resp.Header.Revision
	}
	return resp, nil
}

// get reads key (nil if absent); the commit requires it unchanged.
func (t *txn) get(key string) (*mvccpb.KeyValue, error) {
	resp, err := t.read(key)
	if err != nil {
		return nil, err
	}
	if len(resp.Kvs) == 0 {
		t.cmps = append(t.cmps, clientv3.Compare(clientv3.ModRevision(key), "=", 0))
		return nil, nil
	}
	t.cmps = append(t.cmps, clientv3.Compare(clientv3.ModRevision(key), "=", resp.Kvs[0].ModRevision))
	return resp.Kvs[0], nil
}

// list reads the keys under prefix, in key order; the commit requires that
// none was added or changed since (a deleted one goes unnoticed: callers
// compare a key that such a delete also changes, or do not mind).
func (t *txn) list(prefix string, opts ...clientv3.OpOption) (*clientv3.GetResponse, error) {
	resp, err := t.read(prefix, append(opts, clientv3.WithPrefix())...)
	if err != nil {
		return nil, err
	}
	t.cmps = append(t.cmps, clientv3.Compare(clientv3.ModRevision(prefix), "<", t.rev+1).WithPrefix())
	return resp, nil
}

// put and del add writes to the commit.
func (t *txn) put(key string, value []byte) {
	t.ops = append(t.ops, clientv3.OpPut(key, string(value)))
}
func (t *txn) del(key string, opts ...clientv3.OpOption) {
	t.ops = append(t.ops, clientv3.OpDelete(key, opts...))
}

// update runs fn and commits its writes, again on a conflict, until the
// call's timeout. An error of fn is returned as is. The revision of the
// commit is returned (0 if fn wrote nothing).
func (s *Store) update(op string, fn func(t *txn) error) (int64, error) {
	ctx, cancel, err := s.begin(op)
	if err != nil {
		return 0, err
	}
	defer cancel()
	for attempt := 1; ; attempt++ {
		t := &txn{s: s, ctx: ctx, op: op}
		err := fn(t)
		if err == nil && len(t.ops) == 0 {
			return 0, nil
		}
		if err == nil {
			var resp *clientv3.TxnResponse
			resp, err = s.cli.Txn(ctx).If(t.cmps...).Then(t.ops...).Commit()
			switch {
			case err != nil:
				return 0, s.fail(op, err)
			case resp.Succeeded:
				return resp.Header.Revision, nil
			}
		} else if !errors.Is(err, errRetry) {
			return 0, err
		}
		// Another writer got in first: back off a little and try again.
		d := time.Duration(rand.Int64N(int64(min(attempt, 20)) * int64(time.Millisecond)))
		select {
		case <-ctx.Done():
			if s.closed.Load() {
				return 0, fmt.Errorf("store: %s: %w", op, store.ErrClosed)
			}
			return 0, fmt.Errorf("store: %s: gave up after %d attempts in %v, each meeting a concurrent write: %w",
				op, attempt, s.timeout, store.ErrUnavailable)
		case <-time.After(d):
		}
	}
}

// get reads one key outside a transaction (nil if absent).
func (s *Store) get(op, key string) (*mvccpb.KeyValue, error) {
	ctx, cancel, err := s.begin(op)
	if err != nil {
		return nil, err
	}
	defer cancel()
	resp, err := s.cli.Get(ctx, key)
	if err != nil {
		return nil, s.fail(op, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, nil
	}
	return resp.Kvs[0], nil
}

// walk calls fn for every key under prefix, in key order, reading s.batch
// keys per request (each at its own revision) and calling fn between
// requests.
func (s *Store) walk(op, prefix string, fn func(kv *mvccpb.KeyValue) error, opts ...clientv3.OpOption) error {
	end := clientv3.GetPrefixRangeEnd(prefix)
	from := prefix
	for {
		ctx, cancel, err := s.begin(op)
		if err != nil {
			return err
		}
		resp, err := s.cli.Get(ctx, from, append(opts, clientv3.WithRange(end), clientv3.WithLimit(int64(s.batch)))...)
		cancel()
		if err != nil {
			return s.fail(op, err)
		}
		for _, kv := range resp.Kvs {
			if err := fn(kv); err != nil {
				return err
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return nil
		}
		from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

// Keys. A container (or namespace) and a name (or key) are joined with NUL,
// which no container holds, so that key order is container order, then
// name order ("a" < "a-b" by container, though "a/" > "a-b/").
func (s *Store) webtaskKey(c, n string) string { return s.prefix + "w/" + c + "\x00" + n }
func (s *Store) storageKey(c, n string) string { return s.prefix + "s/" + c + "\x00" + n }
func (s *Store) moduleKey(sha string) string   { return s.prefix + "m/" + sha }
func (s *Store) chunkPrefix(sha, upload string) string {
	return s.prefix + "c/" + sha + "/" + upload + "/"
}
func (s *Store) kvKey(ns, key string) string { return s.prefix + "kv/" + ns + "\x00" + key }
func (s *Store) cronKey(c, n string) string  { return s.prefix + "cron/" + c + "\x00" + n }
func (s *Store) cronRunsPrefix(c, n string) string {
	return s.prefix + "runs/" + c + "\x00" + n + "\x00"
}

// splitKey returns the container and name of a key below root
// (s.prefix+"w/"...).
func splitKey(key []byte, root string) (string, string) {
	c, n, _ := strings.Cut(string(key[len(root):]), "\x00")
	return c, n
}

// clone copies v; the result is never nil.
func clone(v []byte) []byte { return append(make([]byte, 0, len(v)), v...) }
