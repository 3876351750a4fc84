// Package cron runs webtasks on schedules: the cron jobs of the Webtask
// API (/api/cron/…). It validates jobs (standard 5-field expressions,
// parsed by github.com/robfig/cron/v3, read in an IANA time zone), keeps
// them in the store with their history, and runs each due slot once
// through a Runner — for the server, a normal request to the webtask, so
// its limits, logs and storage apply. It knows nothing of HTTP.
//
// On a store shared by several servers (etcd, store.Elector), one server
// is elected to run the jobs (leader.go); the others only change them.
//
// Guarantees, across restarts:
//   - a slot is taken (LastScheduled and the next slot written to the
//     store) before it runs, so no slot ever runs twice;
//   - slots that passed while the server was down are recorded once, as a
//     "missed" run, and not run;
//   - slots that passed while the scheduler was late (a busy machine, a
//     paused process) are recorded as missed too: only the latest due slot
//     runs, so a job is never run late more than once;
//   - a run cut by a stop (its slot taken, no result) is recorded as an
//     error at the next start, and not run again;
//   - while a job's run is in flight its next slots wait: a job never
//     overlaps itself.
package cron

import (
	"context"
	"errors"
	"fmt"
	"log"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	_ "time/tzdata" // IANA zones even where the system has none

	cronlib "github.com/robfig/cron/v3"

	"github.com/wasmtask/wasmtask/store"
)

// DefaultMaxJobs is the default of Config.MaxJobs, the original platform's.
const DefaultMaxJobs = 10

// MaxBodyBytes is how much of a run's answer the history keeps.
const MaxBodyBytes = 4 << 10

// Config configures a Scheduler. Zero fields take their defaults.
type Config struct {
	// MaxJobs is how many jobs one container may hold (DefaultMaxJobs if 0).
	MaxJobs int
	// Seconds accepts a leading seconds field (6 fields) and "@every"
	// intervals under a minute. For tests only: a job every second.
	Seconds bool
	// Logf reports what the scheduler cannot tell a client (a failed write
	// of a run's result); log.Printf if nil.
	Logf func(format string, args ...any)
	// LeaderTTL is how long a cluster waits for a leader that stopped
	// answering before another server runs the jobs (DefaultLeaderTTL if
	// 0); used only on a store shared by several servers (store.Elector).
	LeaderTTL time.Duration
}

// DefaultLeaderTTL is the default of Config.LeaderTTL.
const DefaultLeaderTTL = 2 * time.Second

// refreshEvery is how often the leader of a cluster re-reads the jobs,
// which the other servers' API calls change in the store only.
const refreshEvery = time.Second

// Runner runs one slot of a job: for the server, a request to the job's
// webtask. It returns the answer's status and body; an error means no
// answer at all. It must be safe for concurrent use.
type Runner interface {
	RunCronJob(ctx context.Context, job store.CronJob) (status int, body []byte, err error)
}

// Scheduler keeps the jobs, and one goroutine that sleeps until the
// earliest next slot (or a change) and starts the runs due. Create it with
// New, stop it with Close.
type Scheduler struct {
	st     store.Store
	runner Runner
	cfg    Config
	parser cronlib.Parser

	mu      sync.Mutex // held across every change of a job, in memory and in the store
	jobs    map[key]*entry
	running map[key]bool

	wake     chan struct{}
	done     chan struct{}
	loopDone chan struct{}
	runs     sync.WaitGroup
	ctx      context.Context // the runs'; cancelled when Close gives up on them
	cancel   context.CancelFunc
	once     sync.Once

	success, failed, missed atomic.Int64 // runs recorded, for Stats

	elector store.Elector // a store shared by a cluster: only the leader runs jobs
	leading atomic.Bool
}

// Stats are the runs the scheduler recorded since it started, by result
// (store.CronSuccess, CronError, CronMissed), for metrics.
type Stats struct {
	Success, Error, Missed int64
}

// Stats returns the runs recorded so far, by result.
func (s *Scheduler) Stats() Stats {
	return Stats{Success: s.success.Load(), Error: s.failed.Load(), Missed: s.missed.Load()}
}

// count counts runs recorded.
func (s *Scheduler) count(runs ...store.CronRun) {
	for _, r := range runs {
		switch r.Type {
		case store.CronSuccess:
			s.success.Add(1)
		case store.CronMissed:
			s.missed.Add(1)
		default:
			s.failed.Add(1)
		}
	}
}

type key struct{ container, name string }

// entry is a job as stored, with its parsed schedule.
type entry struct {
	job   store.CronJob
	sched cronlib.Schedule
	loc   *time.Location
}

// New loads the stored jobs — recording what was missed while the server
// was down — and starts the scheduler.
func New(st store.Store, runner Runner, cfg Config) (*Scheduler, error) {
	if cfg.MaxJobs < 0 {
		return nil, errors.New("cron: MaxJobs (--max-cron-jobs) must be positive")
	}
	if cfg.MaxJobs == 0 {
		cfg.MaxJobs = DefaultMaxJobs
	}
	if cfg.Logf == nil {
		cfg.Logf = log.Printf
	}
	if cfg.LeaderTTL <= 0 {
		cfg.LeaderTTL = DefaultLeaderTTL
	}
	fields := cronlib.Minute | cronlib.Hour | cronlib.Dom | cronlib.Month | cronlib.Dow | cronlib.Descriptor
	if cfg.Seconds {
		fields |= cronlib.SecondOptional
	}
	s := &Scheduler{st: st, runner: runner, cfg: cfg, parser: cronlib.NewParser(fields),
		jobs: map[key]*entry{}, running: map[key]bool{},
		wake: make(chan struct{}, 1), done: make(chan struct{}), loopDone: make(chan struct{})}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if el, ok := st.(store.Elector); ok {
		s.elector = el // the jobs are loaded when this server leads
		go s.leadLoop()
		return s, nil
	}
	if err := s.load("the server was not running"); err != nil {
		return nil, err
	}
	go s.loop()
	return s, nil
}

// Close stops the scheduler and waits for the runs in flight until ctx is
// done; it reports whether it had to give up on some (their results are
// then recorded as errors at the next start). Calling it again does nothing.
func (s *Scheduler) Close(ctx context.Context) error {
	var err error
	s.once.Do(func() {
		close(s.done)
		<-s.loopDone
		finished := make(chan struct{})
		go func() { s.runs.Wait(); close(finished) }()
		select {
		case <-finished:
		case <-ctx.Done():
			err = errors.New("cron: runs still in flight were abandoned")
		}
		s.cancel()
	})
	return err
}

// parse checks a job's schedule and zone, as the user gave them.
func (s *Scheduler) parse(schedule, tz string) (cronlib.Schedule, *time.Location, error) {
	switch {
	case strings.TrimSpace(schedule) == "":
		return nil, nil, fail(ErrInvalid, `a cron job needs a "schedule" (5 fields: minute hour day-of-month month day-of-week)`)
	case strings.HasPrefix(schedule, "TZ="), strings.HasPrefix(schedule, "CRON_TZ="):
		return nil, nil, fail(ErrInvalid, fmt.Sprintf(`schedule %q: give the time zone in "tz", not in the schedule`, schedule))
	}
	sched, err := s.parser.Parse(schedule)
	if err != nil {
		return nil, nil, fail(ErrInvalid, fmt.Sprintf("schedule %q is not a valid cron expression (5 fields: minute hour day-of-month month day-of-week): %v", schedule, err))
	}
	if every, ok := sched.(cronlib.ConstantDelaySchedule); ok && every.Delay < time.Minute && !s.cfg.Seconds {
		return nil, nil, fail(ErrInvalid, fmt.Sprintf("schedule %q: the shortest interval is one minute", schedule))
	}
	if tz == "Local" {
		return nil, nil, fail(ErrInvalid, `tz "Local" is the server's zone, not an IANA time zone name (e.g. Europe/Paris, UTC)`)
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, nil, fail(ErrInvalid, fmt.Sprintf("tz %q is not an IANA time zone name (e.g. Europe/Paris, UTC)", tz))
	}
	if sched.Next(time.Now().In(loc)).IsZero() {
		return nil, nil, fail(ErrInvalid, fmt.Sprintf("schedule %q never fires", schedule))
	}
	return sched, loc, nil
}

// next is the first slot of e strictly after t.
func (e *entry) next(t time.Time) time.Time { return e.sched.Next(t.In(e.loc)).UTC() }

// truncate keeps the first MaxBodyBytes of body.
func truncate(body []byte) string {
	if len(body) > MaxBodyBytes {
		body = body[:MaxBodyBytes]
	}
	return string(body)
}

// notFound is the error for an unknown job.
func notFound(container, name string) error {
	return fail(ErrNotFound, fmt.Sprintf("no cron job %q in container %q", name, container))
}

// storeErr turns the store's not-found and too-many into this package's
// errors; the others pass through.
func (s *Scheduler) storeErr(err error, container, name string) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return notFound(container, name)
	case errors.Is(err, store.ErrTooMany):
		return fail(ErrLimit, fmt.Sprintf("container %q already holds %d cron jobs, the most allowed (--max-cron-jobs); delete one first",
			container, s.cfg.MaxJobs))
	}
	return err
}
