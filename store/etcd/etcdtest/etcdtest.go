// Package etcdtest runs etcd members inside the calling process, on
// loopback, for the tests and benchmarks that need a real cluster (the
// etcd store's tests, the cluster test of cmd/wasmtask, the bench): their
// configuration (Config, Start), a throwaway PKI for members that serve
// TLS (NewPKI, ServeTLS), and a Proxy that cuts one client off. The server
// does not import it.
package etcdtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sync"
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

// Proxy forwards TCP connections from a loopback address of its own to an
// etcd member, and can cut them: a client that connects through it loses
// its connection and cannot make another (as if its process had died, or
// its network failed) while the member and its other clients go on.
type Proxy struct {
	// Addr is the host:port clients connect to.
	Addr   string
	target string

	mu    sync.Mutex
	ln    net.Listener // nil while cut
	conns map[net.Conn]struct{}
}

// NewProxy starts a proxy to target (host:port); Close stops it.
func NewProxy(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{Addr: ln.Addr().String(), target: target, conns: map[net.Conn]struct{}{}}
	p.serve(ln)
	return p, nil
}

// Cut closes every connection through the proxy and refuses new ones
// until Restore.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

// Restore accepts connections again, on the same address.
func (p *Proxy) Restore() error {
	ln, err := net.Listen("tcp", p.Addr)
	if err != nil {
		return err
	}
	p.serve(ln)
	return nil
}

// Close cuts the proxy for good.
func (p *Proxy) Close() { p.Cut() }

// serve accepts connections on ln and forwards each to the target.
func (p *Proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return // closed by Cut
			}
			go p.forward(c)
		}
	}()
}

// forward copies between c and a new connection to the target until
// either side closes, or Cut.
func (p *Proxy) forward(c net.Conn) {
	d, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.ln == nil { // cut meanwhile
		p.mu.Unlock()
		c.Close()
		d.Close()
		return
	}
	p.conns[c], p.conns[d] = struct{}{}, struct{}{}
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) { _, _ = io.Copy(dst, src); done <- struct{}{} }
	go cp(d, c)
	go cp(c, d)
	<-done
	c.Close()
	d.Close()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, d)
	p.mu.Unlock()
}

// PKI is a throwaway certificate authority and the certificates it signed,
// as PEM files, for members that serve TLS and clients that present a
// certificate. Each NewPKI is a CA of its own: another one's certificates
// are strangers.
type PKI struct {
	CA                    string // the CA's certificate
	ServerCert, ServerKey string // a member's, for 127.0.0.1
	ClientCert, ClientKey string // a client's
}

// NewPKI writes a CA named name, a server and a client certificate (ECDSA
// P-256, valid for an hour) into dir.
func NewPKI(dir, name string) (PKI, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return PKI{}, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name + " CA"},
		NotBefore: now.Add(-time.Minute), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return PKI{}, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return PKI{}, err
	}
	write := func(file, typ string, der []byte) (string, error) {
		f := filepath.Join(dir, name+"-"+file)
		return f, os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600)
	}
	leaf := func(cn string, serial int64, usage x509.ExtKeyUsage) (string, string, error) {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return "", "", err
		}
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: now.Add(-time.Minute), NotAfter: now.Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			return "", "", err
		}
		kb, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			return "", "", err
		}
		cert, err := write(cn+".pem", "CERTIFICATE", der)
		if err != nil {
			return "", "", err
		}
		key, err := write(cn+"-key.pem", "PRIVATE KEY", kb)
		return cert, key, err
	}
	var p PKI
	if p.CA, err = write("ca.pem", "CERTIFICATE", caDER); err != nil {
		return PKI{}, err
	}
	if p.ServerCert, p.ServerKey, err = leaf("server", 2, x509.ExtKeyUsageServerAuth); err != nil {
		return PKI{}, err
	}
	if p.ClientCert, p.ClientKey, err = leaf("client", 3, x509.ExtKeyUsageClientAuth); err != nil {
		return PKI{}, err
	}
	return p, nil
}

// ServeTLS makes cfg's member serve its clients over TLS with p's server
// certificate (https:// client URLs), requiring a client certificate
// signed by p's CA.
func ServeTLS(cfg *embed.Config, p PKI) {
	for _, us := range [][]url.URL{cfg.ListenClientUrls, cfg.AdvertiseClientUrls} {
		for i := range us {
			us[i].Scheme = "https"
		}
	}
	cfg.ClientTLSInfo.CertFile, cfg.ClientTLSInfo.KeyFile = p.ServerCert, p.ServerKey
	cfg.ClientTLSInfo.TrustedCAFile, cfg.ClientTLSInfo.ClientCertAuth = p.CA, true
}
