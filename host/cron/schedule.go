package cron

import (
	"errors"
	"fmt"
	"time"

	"github.com/wasmtask/wasmtask/store"
)

// maxSlotsCounted bounds the walk over slots that passed (a job every
// second after a month down): past it, the count is "at least".
const maxSlotsCounted = 100_000

// load reads the stored jobs at start. For each active job, a run cut by
// the last stop is recorded as an error, and slots that passed while the
// server was down as one missed run; none of them runs.
func (s *Scheduler) load(why string) error {
	jobs, err := s.st.AllCronJobs()
	if err != nil {
		return fmt.Errorf("cron: load jobs: %w", err)
	}
	now := time.Now()
	for _, j := range jobs {
		sched, loc, err := s.parse(j.Schedule, j.TZ)
		if err != nil {
			s.cfg.Logf("cron: job %q in container %q is not scheduled: %v", j.Name, j.Container, err)
			continue
		}
		e := &entry{job: j, sched: sched, loc: loc}
		var runs []store.CronRun
		if r, ok := s.interrupted(j, now); ok {
			runs = append(runs, r)
		}
		next := j.NextScheduled
		if j.State == store.CronActive && (next.IsZero() || !next.After(now)) {
			if !next.IsZero() {
				n, last := e.slotsUpTo(next, now)
				runs = append(runs, missed(next, last, n, now, why))
			}
			next = e.next(now)
		}
		if len(runs) > 0 || !next.Equal(j.NextScheduled) {
			err := s.st.UpdateCronJob(j.Container, j.Name, func(sj *store.CronJob) error {
				sj.NextScheduled = next
				return nil
			}, runs...)
			if err != nil {
				return fmt.Errorf("cron: job %q in container %q: %w", j.Name, j.Container, err)
			}
			s.count(runs...)
			e.job.NextScheduled = next
		}
		s.jobs[key{j.Container, j.Name}] = e
	}
	return nil
}

// interrupted returns the error run to record when j's last slot was taken
// but its result never recorded (the server stopped during the run).
func (s *Scheduler) interrupted(j store.CronJob, now time.Time) (store.CronRun, bool) {
	if j.LastScheduled.IsZero() {
		return store.CronRun{}, false
	}
	runs, err := s.st.CronRuns(j.Container, j.Name, 0, 1)
	if err != nil || (len(runs) > 0 && !runs[0].ScheduledAt.Before(j.LastScheduled)) {
		return store.CronRun{}, false
	}
	return store.CronRun{ScheduledAt: j.LastScheduled, StartedAt: j.LastScheduled, CompletedAt: now, Type: store.CronError,
		Body: "the server stopped while this run was in flight; it was not run again"}, true
}

// slotsUpTo counts the slots of e from first (a slot) to t included and
// returns the last of them.
func (e *entry) slotsUpTo(first, t time.Time) (n int, last time.Time) {
	n, last = 1, first
	for next := e.next(first); !next.After(t) && n < maxSlotsCounted; next = e.next(next) {
		n, last = n+1, next
	}
	return n, last
}

// missed is the one run recording n slots, from first to last, that did
// not run.
func missed(first, last time.Time, n int, now time.Time, why string) store.CronRun {
	body := fmt.Sprintf("missed: %s at %s", why, first.UTC().Format(time.RFC3339))
	if n > 1 {
		more := ""
		if n >= maxSlotsCounted {
			more = "at least "
		}
		body = fmt.Sprintf("missed: %s at %s%d scheduled times, from %s to %s", why, more, n,
			first.UTC().Format(time.RFC3339), last.UTC().Format(time.RFC3339))
	}
	return store.CronRun{ScheduledAt: first, StartedAt: now, CompletedAt: now, Type: store.CronMissed, Body: body}
}

// loop sleeps until the earliest next slot or a change, and starts what is
// due, until Close.
func (s *Scheduler) loop() {
	defer close(s.loopDone)
	s.schedule(nil)
}

// schedule runs the loop until Close (false) or until lost is closed
// (true); with lost set (a leader), it re-reads the jobs every
// refreshEvery.
func (s *Scheduler) schedule(lost <-chan struct{}) bool {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var refresh <-chan time.Time
	if lost != nil {
		t := time.NewTicker(refreshEvery)
		defer t.Stop()
		refresh = t.C
	}
	for {
		timer.Reset(s.tick(time.Now()))
		select {
		case <-timer.C:
		case <-s.wake:
		case <-refresh:
			s.refresh()
		case <-lost:
			return true
		case <-s.done:
			return false
		}
	}
}

// poke wakes the loop after a change.
func (s *Scheduler) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// tick starts the runs due at now and returns how long to sleep.
func (s *Scheduler) tick(now time.Time) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	var due []taken
	for k, e := range s.jobs {
		next := e.job.NextScheduled
		if e.job.State != store.CronActive || next.IsZero() || s.running[k] || next.After(now) {
			continue // a finished run pokes the loop
		}
		due = append(due, s.slot(k, e, now))
	}
	s.take(due)
	sleep := time.Hour
	for k, e := range s.jobs {
		next := e.job.NextScheduled
		if e.job.State != store.CronActive || next.IsZero() || s.running[k] {
			continue
		}
		if d := next.Sub(now); d < sleep {
			sleep = d
		}
	}
	return max(sleep, 0)
}

// taken is a due slot of a job, about to be written and run.
type taken struct {
	k          key
	e          *entry
	slot, next time.Time
	runs       []store.CronRun // one missed run for earlier due slots
}

// slot is the latest slot of e due at now, the next one after it, and a
// missed run for the earlier due slots, if any.
func (s *Scheduler) slot(k key, e *entry, now time.Time) taken {
	first := e.job.NextScheduled
	n, slot := e.slotsUpTo(first, now)
	t := taken{k: k, e: e, slot: slot, next: e.next(now)}
	if n > 1 {
		_, prev := e.slotsUpTo(first, slot.Add(-time.Nanosecond))
		t.runs = append(t.runs, missed(first, prev, n-1, now, "the scheduler was late"))
		t.runs[0].Body = fmt.Sprintf("%s (%s ran instead)", t.runs[0].Body, slot.UTC().Format(time.RFC3339))
	}
	return t
}

// take writes the due slots taken and their next ones, all in one
// transaction (one commit however many jobs are due at once), then starts
// the runs: a slot whose write failed does not run.
func (s *Scheduler) take(due []taken) {
	if len(due) == 0 {
		return
	}
	updates := make([]store.CronUpdate, len(due))
	for i, t := range due {
		slot, next := t.slot, t.next
		updates[i] = store.CronUpdate{Container: t.k.container, Name: t.k.name, Runs: t.runs,
			Fn: func(j *store.CronJob) error {
				if !slot.After(j.LastScheduled) {
					return errTaken // by another scheduler (a former leader)
				}
				j.LastScheduled, j.NextScheduled = slot, next
				return nil
			}}
	}
	errs, txErr := s.st.UpdateCronJobs(updates)
	for i, t := range due {
		t.e.job.NextScheduled = t.next
		err := txErr // the transaction failed: no slot was written
		if err == nil {
			err = errs[i]
		}
		if err != nil {
			s.cfg.Logf("cron: job %q in container %q: slot %s not run: %v", t.k.name, t.k.container, t.slot.Format(time.RFC3339), err)
			continue
		}
		s.count(t.runs...)
		t.e.job.LastScheduled = t.slot
		s.running[t.k] = true
		s.runs.Add(1)
		go s.run(t.k, t.e.job, t.slot)
	}
}

// run runs one slot and records its result.
func (s *Scheduler) run(k key, j store.CronJob, slot time.Time) {
	defer s.runs.Done()
	r := store.CronRun{ScheduledAt: slot, StartedAt: time.Now()}
	status, body, err := s.runner.RunCronJob(s.ctx, j)
	r.CompletedAt, r.StatusCode = time.Now(), status
	switch {
	case err != nil:
		r.Type, r.Body = store.CronError, truncate([]byte(err.Error()))
	case status >= 200 && status < 400:
		r.Type, r.Body = store.CronSuccess, truncate(body)
	default:
		r.Type, r.Body = store.CronError, truncate(body)
	}
	// Recorded without holding s.mu, so a commit here never delays tick;
	// the job stays running (not taken again) until it is recorded.
	s.mu.Lock()
	_, ok := s.jobs[k]
	s.mu.Unlock()
	if ok { // deleted meanwhile (or now): nothing to record
		if err := s.st.UpdateCronJob(k.container, k.name, nil, r); err != nil && !errors.Is(err, store.ErrNotFound) {
			s.cfg.Logf("cron: job %q in container %q: cannot record the run of %s: %v", k.name, k.container, slot.Format(time.RFC3339), err)
		} else if err == nil {
			s.count(r)
		}
	}
	s.mu.Lock()
	delete(s.running, k)
	s.mu.Unlock()
	s.poke()
}
