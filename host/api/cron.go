package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/wasmtask/wasmtask/host/cron"
	"github.com/wasmtask/wasmtask/host/deploy"
	"github.com/wasmtask/wasmtask/store"
)

// Cron jobs, as sandboxjs 5.0.0 (lib/sandbox.js, lib/cronJob.js) and
// wt-cli 11.0.2 use them:
//
//	GET    /api/cron/{c}                 -> [job, …]
//	PUT    /api/cron/{c}/{n}             {"schedule", "tz", "token", "state", "meta"} -> job
//	GET    /api/cron/{c}/{n}             -> job
//	DELETE /api/cron/{c}/{n}             -> 204
//	PUT    /api/cron/{c}/{n}/state       {"state": "active"|"inactive"} -> job
//	GET    /api/cron/{c}/{n}/history     [?offset&limit] -> [run, …], newest first
//
// The logic is host/cron's; a run is an in-process request through the
// server's own handler (RunCronJob).

// maxCronBody caps a PUT's body: a token may carry secrets and params.
const maxCronBody = 1 << 20

// cronJobJSON is a job as the API shows it.
type cronJobJSON struct {
	Container string            `json:"container"`
	Name      string            `json:"name"`
	Schedule  string            `json:"schedule"`
	TZ        string            `json:"tz"`
	Token     string            `json:"token,omitempty"`
	State     string            `json:"state"`
	Meta      map[string]string `json:"meta"`
	CreatedAt time.Time         `json:"created_at"`
	// LastScheduledAt is the last slot taken; NextScheduledAt (and
	// next_available_at, the name sandboxjs and wt-cli read) the next one,
	// absent while the job is inactive.
	LastScheduledAt *time.Time `json:"last_scheduled_at,omitempty"`
	NextScheduledAt *time.Time `json:"next_scheduled_at,omitempty"`
	NextAvailableAt *time.Time `json:"next_available_at,omitempty"`
	// Results holds the latest run, if any (wt-cli prints results[0]).
	Results []cronRunJSON `json:"results"`
	// Damaged says why the stored job cannot be read (the other fields
	// are then empty); such a job never runs and can only be deleted.
	Damaged string `json:"damaged,omitempty"`
}

// cronRunJSON is one run of a job's history.
type cronRunJSON struct {
	ScheduledAt time.Time `json:"scheduled_at"`
	StartedAt   time.Time `json:"started_at"`
	CompletedAt time.Time `json:"completed_at"`
	// Type is "success", "error" or "missed".
	Type       string `json:"type"`
	StatusCode int    `json:"statusCode,omitempty"`
	Body       string `json:"body,omitempty"`
}

// cronPut is the body of PUT /api/cron/{c}/{n}.
type cronPut struct {
	Schedule string            `json:"schedule"`
	TZ       string            `json:"tz"`
	Token    string            `json:"token"`
	State    string            `json:"state"`
	Meta     map[string]string `json:"meta"`
}

// handleCron serves /api/cron/{container}[/{name}[/state|/history]], with
// the authorization of the other container routes.
func (s *Server) handleCron(ctx *fasthttp.RequestCtx, rest string) error {
	container, rest := split(rest)
	name, sub := split(rest)
	if err := checkName("container", container); err != nil {
		return err
	}
	if name != "" {
		if err := checkName("cron job", name); err != nil {
			return err
		}
	}
	if _, err := s.authorize(ctx, container); err != nil {
		return err
	}
	method := string(ctx.Method())
	switch {
	case name == "" && method == "GET":
		return s.listCronJobs(ctx, container)
	case name == "":
		return methodNotAllowed(ctx, "GET")
	case sub == "" && method == "PUT":
		return s.putCronJob(ctx, container, name)
	case sub == "" && method == "GET":
		return s.getCronJob(ctx, container, name)
	case sub == "" && method == "DELETE":
		if err := noBody(ctx); err != nil {
			return err
		}
		if err := s.cron.Delete(container, name); err != nil {
			return err
		}
		ctx.SetStatusCode(204)
		return nil
	case sub == "":
		return methodNotAllowed(ctx, "GET, PUT, DELETE")
	case sub == "state" && method == "PUT":
		return s.putCronState(ctx, container, name)
	case sub == "state":
		return methodNotAllowed(ctx, "PUT")
	case sub == "history" && method == "GET":
		return s.cronHistory(ctx, container, name)
	case sub == "history":
		return methodNotAllowed(ctx, "GET")
	}
	return fail(deploy.ErrNotFound, "no API at "+string(ctx.Path()))
}

func (s *Server) listCronJobs(ctx *fasthttp.RequestCtx, container string) error {
	if err := noBody(ctx); err != nil {
		return err
	}
	filters, offset, limit, err := listArgs(ctx)
	if err != nil {
		return err
	}
	jobs, err := s.cron.List(container)
	if err != nil {
		return err
	}
	out := []cronJobJSON{}
	for _, j := range jobs {
		if !metaMatches(j.Meta, filters) {
			continue
		}
		if offset > 0 {
			offset--
			continue
		}
		if len(out) == limit {
			break
		}
		out = append(out, s.cronJob(j))
	}
	return writeJSON(ctx, 200, out)
}

func metaMatches(meta, filters map[string]string) bool {
	for k, v := range filters {
		if got, ok := meta[k]; !ok || got != v {
			return false
		}
	}
	return true
}

func (s *Server) getCronJob(ctx *fasthttp.RequestCtx, container, name string) error {
	if err := noBody(ctx); err != nil {
		return err
	}
	j, err := s.cron.Get(container, name)
	if err != nil {
		return err
	}
	return writeJSON(ctx, 200, s.cronJob(j))
}

// putCronJob creates or replaces a job: 200 either way, as sandboxjs and
// wt-cli expect.
func (s *Server) putCronJob(ctx *fasthttp.RequestCtx, container, name string) error {
	reserved, err := s.readBody(ctx, maxCronBody)
	if err != nil {
		return err
	}
	defer s.inflight.release(reserved)
	var in cronPut
	if err := json.Unmarshal(ctx.PostBody(), &in); err != nil {
		return fail(deploy.ErrBadRequest, `the body must be JSON {"schedule": "…", "tz": "…", "token": "…", "state": "active"|"inactive", "meta": {…}}: `+err.Error())
	}
	j := store.CronJob{Container: container, Name: name, Schedule: in.Schedule, TZ: in.TZ,
		Token: in.Token, State: in.State, Meta: in.Meta}
	if err := s.cron.Check(j); err != nil {
		return err
	}
	if err := s.checkCronTarget(container, name, in.Token); err != nil {
		return err
	}
	j, _, err = s.cron.Put(j)
	if err != nil {
		return err
	}
	return writeJSON(ctx, 200, s.cronJob(j))
}

// checkCronTarget checks what a job would run: with a token, one that is
// valid now and allows the container (it is run as a request to
// /api/run/{container} with that token); without, a deployed webtask of
// that name (run by its public URL).
func (s *Server) checkCronTarget(container, name, tok string) error {
	if tok == "" {
		_, err := s.st.GetWebtask(container, name)
		if errors.Is(err, store.ErrNotFound) {
			return fail(deploy.ErrNotFound, "no webtask "+strconv.Quote(name)+" in container "+container+
				" for the cron job to run: deploy it first, or give the job a token")
		}
		return nil // a damaged webtask is the run's problem
	}
	t, err := s.reg.Authenticate([]byte(tok))
	if err != nil {
		return fail(deploy.ErrBadRequest, "the cron job's token is not usable: "+err.Error())
	}
	if !t.Ten.Allows(container) {
		return fail(deploy.ErrForbidden, "the cron job's token does not grant access to container "+container+" (ten)")
	}
	return nil
}

func (s *Server) putCronState(ctx *fasthttp.RequestCtx, container, name string) error {
	reserved, err := s.readBody(ctx, maxTokenBody)
	if err != nil {
		return err
	}
	defer s.inflight.release(reserved)
	var in struct {
		State string `json:"state"`
	}
	if err := json.Unmarshal(ctx.PostBody(), &in); err != nil {
		return fail(deploy.ErrBadRequest, `the body must be JSON {"state": "active"|"inactive"}: `+err.Error())
	}
	j, err := s.cron.SetState(container, name, in.State)
	if err != nil {
		return err
	}
	return writeJSON(ctx, 200, s.cronJob(j))
}

func (s *Server) cronHistory(ctx *fasthttp.RequestCtx, container, name string) error {
	if err := noBody(ctx); err != nil {
		return err
	}
	args := ctx.QueryArgs()
	offset, err := intArg(args.Peek("offset"), "offset", 0, store.MaxCronRuns, 0)
	if err != nil {
		return err
	}
	limit, err := intArg(args.Peek("limit"), "limit", 1, store.MaxCronRuns, store.MaxCronRuns)
	if err != nil {
		return err
	}
	runs, err := s.cron.History(container, name, offset, limit)
	if err != nil {
		return err
	}
	out := make([]cronRunJSON, len(runs))
	for i, r := range runs {
		out[i] = cronRun(r)
	}
	return writeJSON(ctx, 200, out)
}

// cronJob describes j, with its latest run.
func (s *Server) cronJob(j store.CronJob) cronJobJSON {
	out := cronJobJSON{Container: j.Container, Name: j.Name, Schedule: j.Schedule, TZ: j.TZ, Token: j.Token,
		State: j.State, Meta: j.Meta, CreatedAt: j.Created, Results: []cronRunJSON{}, Damaged: j.Damaged}
	if out.Meta == nil {
		out.Meta = map[string]string{}
	}
	if !j.LastScheduled.IsZero() {
		out.LastScheduledAt = &j.LastScheduled
	}
	if !j.NextScheduled.IsZero() {
		out.NextScheduledAt, out.NextAvailableAt = &j.NextScheduled, &j.NextScheduled
	}
	if runs, err := s.cron.History(j.Container, j.Name, 0, 1); err == nil && len(runs) == 1 {
		out.Results = append(out.Results, cronRun(runs[0]))
	}
	return out
}

func cronRun(r store.CronRun) cronRunJSON {
	return cronRunJSON{ScheduledAt: r.ScheduledAt, StartedAt: r.StartedAt, CompletedAt: r.CompletedAt,
		Type: r.Type, StatusCode: r.StatusCode, Body: r.Body}
}

// RunCronJob implements cron.Runner: one POST to the job's webtask, made
// in process through the server's own handler, so it is a run like any
// other (token checks, limits, logs, storage). With a token, the run is
// ANY /api/run/{container} with it (the code or jtn it fixes); without,
// the webtask's public URL /api/run/{container}/{name}.
func (s *Server) RunCronJob(_ context.Context, j store.CronJob) (int, []byte, error) {
	var req fasthttp.Request
	req.Header.SetMethod("POST")
	req.Header.SetHost("localhost")
	req.Header.SetUserAgent("wasmtask-cron")
	if j.Token != "" {
		req.SetRequestURI("/api/run/" + j.Container)
		req.Header.Set("Authorization", "Bearer "+j.Token)
	} else {
		req.SetRequestURI("/api/run/" + j.Container + "/" + j.Name)
	}
	var ctx fasthttp.RequestCtx
	ctx.Init(&req, nil, nil)
	s.handle(&ctx)
	return ctx.Response.StatusCode(), bytes.Clone(ctx.Response.Body()), nil
}

var _ cron.Runner = (*Server)(nil)
