package cron

import (
	"context"
	"errors"
	"time"
)

// A cluster's servers share one store and its jobs; each slot must run
// once. The servers elect a leader (store.Elector: etcd's election
// recipe, a lease of Config.LeaderTTL), and only the leader's loop runs:
// it loads the jobs when it takes the lead (recording the slots no server
// ran meanwhile as missed), then re-reads them every second, since the
// others' API calls change them in the store only. A leader that dies
// loses the lead within the TTL and the next server takes over.
//
// The lead alone is not the guarantee: a leader cut from the cluster may
// still tick until it notices it lost its lease. Each slot is taken in
// the store by a transaction that requires the job's LastScheduled to be
// earlier (errTaken otherwise), so two schedulers never both run a slot.

// errTaken: the slot was taken by another scheduler.
var errTaken = errors.New("the slot was taken by another server")

// Leading reports whether this scheduler runs the jobs: always on a
// store of its own, when elected on a shared one.
func (s *Scheduler) Leading() bool { return s.elector == nil || s.leading.Load() }

// leadLoop campaigns for the lead and runs the loop while leading, until
// Close.
func (s *Scheduler) leadLoop() {
	defer close(s.loopDone)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { <-s.done; cancel() }()
	for {
		lost, err := s.elector.Lead(ctx, "cron", s.cfg.LeaderTTL)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			s.cfg.Logf("cron: cannot campaign for the lead (retrying in 1s): %v", err)
			select {
			case <-time.After(time.Second):
				continue
			case <-s.done:
				return
			}
		}
		s.mu.Lock()
		s.jobs = map[key]*entry{}
		err = s.load("no server was running the jobs")
		s.mu.Unlock()
		if err != nil {
			s.cfg.Logf("%v", err) // refresh reads them again
		}
		s.leading.Store(true)
		s.cfg.Logf("cron: this server leads the cluster: it runs the cron jobs")
		more := s.schedule(lost)
		s.leading.Store(false)
		if !more {
			// Close: resign, and wait until it is written (the elector
			// closes lost then), so the next server leads at once rather
			// than after the lease's TTL — and the store is still open.
			cancel()
			<-lost
			return
		}
		s.cfg.Logf("cron: this server lost the lead: another one runs the cron jobs")
	}
}

// refresh re-reads the jobs from the store (the leader's view of the
// other servers' changes), keeping the parsed schedule of those unchanged.
func (s *Scheduler) refresh() {
	jobs, err := s.st.AllCronJobs()
	if err != nil {
		return // the next refresh tries again
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := make(map[key]bool, len(jobs))
	for _, j := range jobs {
		k := key{j.Container, j.Name}
		seen[k] = true
		if j.Damaged != "" {
			delete(s.jobs, k)
			continue
		}
		e := s.jobs[k]
		if e == nil || e.job.Schedule != j.Schedule || e.job.TZ != j.TZ {
			sched, loc, err := s.parse(j.Schedule, j.TZ)
			if err != nil {
				delete(s.jobs, k)
				continue
			}
			e = &entry{sched: sched, loc: loc}
		} else {
			e = &entry{sched: e.sched, loc: e.loc}
		}
		e.job = j
		s.jobs[k] = e
	}
	for k := range s.jobs {
		if !seen[k] {
			delete(s.jobs, k)
		}
	}
}
