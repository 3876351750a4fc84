package cron

import (
	"fmt"
	"time"

	"github.com/wasmtask/wasmtask/store"
)

// Check validates j's schedule, zone and state as Put does, storing
// nothing: for callers that have more to check before Put.
func (s *Scheduler) Check(j store.CronJob) error {
	if j.TZ == "" {
		j.TZ = "UTC"
	}
	if j.State != "" {
		if err := checkState(j.State); err != nil {
			return err
		}
	}
	_, _, err := s.parse(j.Schedule, j.TZ)
	return err
}

// Put validates and stores j (Container, Name, Schedule, TZ, Token, State,
// Meta; the rest is the scheduler's), creating or replacing the job, and
// returns it as stored. TZ "" is UTC, State "" active. A replaced job keeps
// its history and creation time; its next slot is computed afresh.
func (s *Scheduler) Put(j store.CronJob) (store.CronJob, bool, error) {
	if j.TZ == "" {
		j.TZ = "UTC"
	}
	if j.State == "" {
		j.State = store.CronActive
	}
	if err := checkState(j.State); err != nil {
		return store.CronJob{}, false, err
	}
	sched, loc, err := s.parse(j.Schedule, j.TZ)
	if err != nil {
		return store.CronJob{}, false, err
	}
	e := &entry{sched: sched, loc: loc}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := key{j.Container, j.Name}
	j.LastScheduled, j.NextScheduled = time.Time{}, time.Time{}
	if old, ok := s.jobs[k]; ok && s.elector == nil {
		j.LastScheduled = old.job.LastScheduled
	} else if old, err := s.st.GetCronJob(j.Container, j.Name); err == nil { // in a cluster, the store knows
		j.LastScheduled = old.LastScheduled
	}
	if j.State == store.CronActive {
		j.NextScheduled = e.next(time.Now())
	}
	created, err := s.st.PutCronJob(j, s.cfg.MaxJobs)
	if err != nil {
		return store.CronJob{}, false, s.storeErr(err, j.Container, j.Name)
	}
	if j, err = s.st.GetCronJob(j.Container, j.Name); err != nil { // for Created
		return store.CronJob{}, false, s.storeErr(err, j.Container, j.Name)
	}
	e.job = j
	s.jobs[k] = e
	s.poke()
	return j, created, nil
}

// Get returns a job.
func (s *Scheduler) Get(container, name string) (store.CronJob, error) {
	j, err := s.st.GetCronJob(container, name)
	if err != nil {
		return store.CronJob{}, s.storeErr(err, container, name)
	}
	return j, nil
}

// List returns the jobs of container, by name.
func (s *Scheduler) List(container string) ([]store.CronJob, error) {
	return s.st.ListCronJobs(container)
}

// Delete deletes a job and its history. A run in flight finishes; its
// result is not recorded.
func (s *Scheduler) Delete(container, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.st.DeleteCronJob(container, name); err != nil {
		return s.storeErr(err, container, name)
	}
	delete(s.jobs, key{container, name})
	s.poke()
	return nil
}

// SetState makes a job active (its next slot computed from now: slots
// passed while it was inactive are not run) or inactive (no slot runs; a
// run in flight finishes) and returns it.
func (s *Scheduler) SetState(container, name, state string) (store.CronJob, error) {
	if err := checkState(state); err != nil {
		return store.CronJob{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.jobs[key{container, name}]
	if !ok || s.elector != nil { // in a cluster, another server may have put it
		j, err := s.st.GetCronJob(container, name)
		if err != nil {
			return store.CronJob{}, s.storeErr(err, container, name)
		}
		sched, loc, err := s.parse(j.Schedule, j.TZ)
		if err != nil {
			return store.CronJob{}, fail(ErrInvalid, fmt.Sprintf("cron job %q in container %q cannot be scheduled (its schedule no longer parses): put it again", name, container))
		}
		e = &entry{job: j, sched: sched, loc: loc}
		s.jobs[key{container, name}] = e
	}
	var updated store.CronJob
	err := s.st.UpdateCronJob(container, name, func(j *store.CronJob) error {
		if j.State == state {
			updated = *j
			return nil
		}
		j.State, j.NextScheduled = state, time.Time{}
		if state == store.CronActive {
			j.NextScheduled = e.next(time.Now())
		}
		updated = *j
		return nil
	})
	if err != nil {
		return store.CronJob{}, s.storeErr(err, container, name)
	}
	e.job = updated
	s.poke()
	return updated, nil
}

// History returns a job's runs, newest first (at most store.MaxCronRuns
// are kept).
func (s *Scheduler) History(container, name string, offset, limit int) ([]store.CronRun, error) {
	runs, err := s.st.CronRuns(container, name, offset, limit)
	if err != nil {
		return nil, s.storeErr(err, container, name)
	}
	return runs, nil
}

func checkState(state string) error {
	if state != store.CronActive && state != store.CronInactive {
		return fail(ErrInvalid, fmt.Sprintf(`state %q: a cron job's state is "active" or "inactive"`, state))
	}
	return nil
}
