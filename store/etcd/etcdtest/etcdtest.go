// Package etcdtest runs etcd members inside the calling process, on
// loopback, for the tests and benchmarks that need a real cluster (the
// etcd store's tests, the cluster test of cmd/wasmtask, the bench). The
// server does not import it.
package etcdtest

import (
	"errors"
	"net"
	"net/url"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// FreeAddr returns a loopback host:port no one listens on now (embed
// wants real ports in its URLs, not ":0").
func FreeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// Config is the configuration of member name, with its data in dir,
// serving clients on client and peers on peer (host:port), quiet. cluster
// is the initial cluster ("m0=http://…,m1=http://…"); empty means this
// member alone. Fsync stays on: a caller that measures nothing durable
// sets UnsafeNoFsync.
func Config(name, dir, client, peer, cluster string) *embed.Config {
	cu, pu := url.URL{Scheme: "http", Host: client}, url.URL{Scheme: "http", Host: peer}
	cfg := embed.NewConfig()
	cfg.Name = name
	cfg.Dir = dir
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{cu}, []url.URL{cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{pu}, []url.URL{pu}
	cfg.InitialCluster = cluster
	if cluster == "" {
		cfg.InitialCluster = name + "=" + pu.String()
	}
	cfg.Logger = "zap"
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	return cfg
}

// Start starts a member with cfg and waits until it is ready (30 s at
// most).
func Start(cfg *embed.Config) (*embed.Etcd, error) {
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, err
	}
	select {
	case <-e.Server.ReadyNotify():
		return e, nil
	case err := <-e.Err():
		e.Close()
		return nil, err
	case <-time.After(30 * time.Second):
		e.Close()
		return nil, errors.New("etcd did not start within 30 s")
	}
}
