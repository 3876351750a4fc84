package api

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/wasmtask/wasmtask/abi"
	"github.com/wasmtask/wasmtask/host/deploy"
	"github.com/wasmtask/wasmtask/host/engine"
	"github.com/wasmtask/wasmtask/host/metrics"
	"github.com/wasmtask/wasmtask/host/outbound"
)

// Outbound HTTP: each container's policy, set by the admin,
//
//	GET    /api/outbound/{c}  -> 200 the policy ({"allow": []} when none is set)
//	PUT    /api/outbound/{c}  {"allow": [...], "max_calls": N, "max_response_bytes": N} -> 200 the policy
//	DELETE /api/outbound/{c}  -> 204 (the container calls nothing again)
//
// and, per run, the engine.Outbound that makes the guest's calls under it
// (webtaskOutbound). The container's own tokens may read the policy; only
// the admin token sets it: a tenant must not open its own way out.

// maxPolicyBody caps a PUT /api/outbound body.
const maxPolicyBody = 64 << 10

func (s *Server) handleOutbound(ctx *fasthttp.RequestCtx, container string) error {
	if err := checkName("container", container); err != nil {
		return err
	}
	t, err := s.authorize(ctx, container)
	if err != nil {
		return err
	}
	method := string(ctx.Method())
	if method != "GET" && method != "HEAD" && !t.Claims.IsRoot() {
		return fail(deploy.ErrForbidden, "only the admin token sets a container's outbound policy")
	}
	switch method {
	case "GET", "HEAD":
		if err := noBody(ctx); err != nil {
			return err
		}
		p, _, err := s.outbound.Policy(container)
		if err != nil {
			return storeFailure("outbound policy", err)
		}
		return writeJSON(ctx, 200, policyJSON(p))
	case "PUT":
		reserved, err := s.readBody(ctx, maxPolicyBody)
		if err != nil {
			return err
		}
		defer s.inflight.release(reserved)
		p, err := outbound.ParsePolicy(ctx.PostBody())
		if err != nil {
			return fail(deploy.ErrBadRequest, err.Error())
		}
		if err := s.outbound.SetPolicy(container, p); err != nil {
			return storeFailure("outbound policy", err)
		}
		return writeJSON(ctx, 200, policyJSON(p))
	case "DELETE":
		if err := noBody(ctx); err != nil {
			return err
		}
		if _, err := s.outbound.DeletePolicy(container); err != nil {
			return storeFailure("outbound policy", err)
		}
		ctx.SetStatusCode(204)
		return nil
	}
	return methodNotAllowed(ctx, "GET, PUT, DELETE")
}

// policyJSON is a policy as answered: limits filled in with their defaults.
func policyJSON(p outbound.Policy) outbound.Policy {
	if p.Allow == nil {
		p.Allow = []string{}
	}
	if p.MaxCalls == 0 {
		p.MaxCalls = outbound.DefaultMaxCalls
	}
	if p.MaxResponseBytes == 0 {
		p.MaxResponseBytes = outbound.DefaultMaxResponseBytes
	}
	return p
}

// storeFailure gives a store error its API kind.
func storeFailure(what string, err error) error {
	return deploy.Internal(what+": the store failed", err)
}

// webtaskOutbound is a run's engine.Outbound: the container's client,
// looked up at the first call, and the count of calls against the
// policy's cap. Every call is a host record in the container's logs:
// method, host, status or failure, duration — never a header, a body or
// the url's path and query, which carry credentials. A failure's reason
// is the error the guest gets too; the client's errors name a host only
// (or, for a url that does not parse, the kind of mistake), never the url
// — so the guest is told no more than it sent, and the log no more than
// the host.
type webtaskOutbound struct {
	s               *Server
	container, name string
	requestID       string
	client          *outbound.Client
	looked          bool
	calls           int
}

func (o *webtaskOutbound) Do(deadline time.Time, req *engine.OutboundRequest) (*engine.OutboundResponse, error) {
	if !o.looked {
		c, err := o.s.outbound.Client(o.container)
		if err != nil {
			o.log(abi.LogError, "outbound: the container's policy cannot be read")
			return nil, fmt.Errorf("%w: the container's outbound policy cannot be read", engine.ErrOutboundFailed)
		}
		o.client, o.looked = c, true
	}
	if o.client == nil {
		o.s.metrics.OutboundCall(metrics.OutboundDenied)
		return nil, fmt.Errorf("%w: container %s has no outbound policy: the admin allows hosts with PUT /api/outbound/%s", engine.ErrOutboundDenied, o.container, o.container)
	}
	if o.calls >= o.client.MaxCalls() {
		o.s.metrics.OutboundCall(metrics.OutboundLimit)
		return nil, fmt.Errorf("%w: a request may make %d outbound calls (the container's max_calls)", engine.ErrOutboundTooMany, o.client.MaxCalls())
	}
	o.calls++
	start := time.Now()
	resp, err := o.client.Do(deadline, req)
	host := "(invalid url)"
	if u, perr := url.Parse(req.URL); perr == nil && u.Host != "" {
		host = u.Host
	}
	took := time.Since(start).Round(100 * time.Microsecond).String()
	if err != nil {
		o.s.metrics.OutboundCall(outboundResult(err))
		o.log(abi.LogWarn, "outbound "+logMethod(req.Method)+" "+host+" failed after "+took+": "+err.Error())
		return nil, err
	}
	o.s.metrics.OutboundCall(metrics.OutboundOK)
	o.log(abi.LogInfo, "outbound "+logMethod(req.Method)+" "+host+" "+strconv.Itoa(resp.Status)+" in "+took)
	return resp, nil
}

func (o *webtaskOutbound) log(level uint32, msg string) {
	o.s.hub.Log(o.container, o.name, o.requestID, level, []byte(msg))
}

// outboundResult is the metrics label of a failed call.
func outboundResult(err error) string {
	switch {
	case errors.Is(err, engine.ErrOutboundDenied):
		return metrics.OutboundDenied
	case errors.Is(err, engine.ErrOutboundTooLarge):
		return metrics.OutboundTooLarge
	case errors.Is(err, engine.ErrOutboundTooMany):
		return metrics.OutboundLimit
	case errors.Is(err, engine.ErrOutboundInvalid):
		return metrics.OutboundOther
	case errors.Is(err, outbound.ErrTimeout):
		return metrics.OutboundTimeout
	}
	return metrics.OutboundError
}

// logMethod is the method for a log line: as given when it is a short
// word of letters, else a placeholder (the engine refuses it anyway).
func logMethod(m string) string {
	if m == "" {
		return "GET"
	}
	if len(m) > 16 {
		return "(invalid method)"
	}
	for i := 0; i < len(m); i++ {
		if c := m[i]; !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return "(invalid method)"
		}
	}
	return m
}

// jwksClient is the client a webtask's JWT check fetches its JWKS with:
// through the container's outbound policy, so a JWKS url in a tenant's
// meta reaches only what the admin allowed the container to call.
func (s *Server) jwksClient(container string) (*http.Client, error) {
	c, err := s.outbound.Client(container)
	if err != nil {
		return nil, errors.New("the container's outbound policy cannot be read")
	}
	if c == nil {
		return nil, errors.New("container " + container + " has no outbound policy: the admin must allow the JWKS host (PUT /api/outbound/" + container + ")")
	}
	return c.HTTPClient(5 * time.Second), nil
}

// tokenRunsWebtask is the cron middleware's check: raw is a valid token
// of this server that runs container/name — the webtask's own token (or
// one issued from it with the same jtn, as a cron job holds), or a token
// that manages the container.
func (s *Server) tokenRunsWebtask(raw []byte, container, name string) error {
	t, err := s.reg.Authenticate(raw)
	if err != nil {
		return err
	}
	if err := checkTen(t, container); err != nil {
		return err
	}
	if c := t.Claims; c.WebtaskName != name && c.FixesCode() {
		return errors.New("the token runs other code")
	}
	return nil
}
