package cron

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasmtask/wasmtask/store"
)

// fakeRunner answers every job with the status of its name ("fail…": 500)
// and remembers the slots it ran.
type fakeRunner struct {
	mu    sync.Mutex
	calls map[string][]time.Time // by job name: when each run started
}

func (r *fakeRunner) RunCronJob(_ context.Context, j store.CronJob) (int, []byte, error) {
	r.mu.Lock()
	if r.calls == nil {
		r.calls = map[string][]time.Time{}
	}
	r.calls[j.Name] = append(r.calls[j.Name], time.Now())
	r.mu.Unlock()
	if strings.HasPrefix(j.Name, "fail") {
		return 500, []byte(`{"code":500,"message":"boom"}`), nil
	}
	return 200, []byte("ok " + j.Name + strings.Repeat("!", MaxBodyBytes)), nil
}

func (r *fakeRunner) count(name string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.calls[name])
}

func openStore(t *testing.T) (*store.Bolt, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "wasmtask.db")
	st, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st, path
}

func newScheduler(t *testing.T, st store.Store, r Runner, cfg Config) *Scheduler {
	t.Helper()
	cfg.Logf = t.Logf
	s, err := New(st, r, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func history(t *testing.T, s *Scheduler, name string) []store.CronRun {
	t.Helper()
	runs, err := s.History("c", name, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	return runs
}

func everySecond(name string) store.CronJob {
	return store.CronJob{Container: "c", Name: name, Schedule: "* * * * * *"}
}

func TestScheduler_RunsAndRecords(t *testing.T) {
	st, _ := openStore(t)
	r := &fakeRunner{}
	s := newScheduler(t, st, r, Config{Seconds: true})
	for _, name := range []string{"ok", "fail"} {
		j, created, err := s.Put(everySecond(name))
		if err != nil || !created || j.State != store.CronActive || j.TZ != "UTC" || j.NextScheduled.IsZero() {
			t.Fatalf("Put(%s) = %+v, %v, %v", name, j, created, err)
		}
	}
	waitFor(t, "two runs of each job", func() bool { return len(history(t, s, "ok")) >= 2 && len(history(t, s, "fail")) >= 2 })
	for name, want := range map[string]struct {
		typ    string
		status int
	}{"ok": {store.CronSuccess, 200}, "fail": {store.CronError, 500}} {
		runs := history(t, s, name)
		for i, run := range runs {
			if run.Type != want.typ || run.StatusCode != want.status {
				t.Errorf("%s run %d = %s %d, want %s %d", name, i, run.Type, run.StatusCode, want.typ, want.status)
			}
			if run.ScheduledAt.Nanosecond() != 0 || run.StartedAt.Before(run.ScheduledAt) || run.CompletedAt.Before(run.StartedAt) {
				t.Errorf("%s run %d times: %+v", name, i, run)
			}
			if len(run.Body) > MaxBodyBytes {
				t.Errorf("%s run %d body is %d bytes, more than %d", name, i, len(run.Body), MaxBodyBytes)
			}
			if i > 0 && !run.ScheduledAt.Before(runs[i-1].ScheduledAt) {
				t.Errorf("%s history not newest first, or a slot twice: %v then %v", name, runs[i-1].ScheduledAt, run.ScheduledAt)
			}
		}
	}
	j, err := s.Get("c", "ok")
	if err != nil || j.LastScheduled.IsZero() || !j.NextScheduled.After(j.LastScheduled) {
		t.Fatalf("Get = %+v, %v", j, err)
	}
}

func TestScheduler_PauseResume(t *testing.T) {
	st, _ := openStore(t)
	r := &fakeRunner{}
	s := newScheduler(t, st, r, Config{Seconds: true})
	if _, _, err := s.Put(everySecond("j")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a run", func() bool { return len(history(t, s, "j")) >= 1 })
	j, err := s.SetState("c", "j", store.CronInactive)
	if err != nil || j.State != store.CronInactive || !j.NextScheduled.IsZero() {
		t.Fatalf("SetState(inactive) = %+v, %v", j, err)
	}
	time.Sleep(300 * time.Millisecond) // a run in flight finishes
	paused := r.count("j")
	time.Sleep(2500 * time.Millisecond)
	if got := r.count("j"); got != paused {
		t.Fatalf("an inactive job ran: %d runs, then %d", paused, got)
	}
	if j, err = s.SetState("c", "j", store.CronActive); err != nil || j.NextScheduled.IsZero() {
		t.Fatalf("SetState(active) = %+v, %v", j, err)
	}
	waitFor(t, "a run after resuming", func() bool { return r.count("j") > paused })
	for _, run := range history(t, s, "j") {
		if run.Type == store.CronMissed {
			t.Fatalf("slots passed while inactive were recorded as missed: %+v", run)
		}
	}
}

// A restart neither runs a slot twice nor runs one that passed while the
// server was down; those are recorded once as missed.
func TestScheduler_Restart(t *testing.T) {
	st, _ := openStore(t)
	r := &fakeRunner{}
	s, err := New(st, r, Config{Seconds: true, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Put(everySecond("j")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "two runs", func() bool { return len(history(t, s, "j")) >= 2 })
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	ranBefore := r.count("j")
	before := history(t, s, "j")

	// Down for 3 s: three slots or so pass.
	time.Sleep(3 * time.Second)
	s = newScheduler(t, st, r, Config{Seconds: true})
	waitFor(t, "a run after the restart", func() bool { return r.count("j") > ranBefore })
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	after := history(t, s, "j")
	seen := map[time.Time]bool{}
	var missedRuns []store.CronRun
	for _, run := range after {
		if seen[run.ScheduledAt] {
			t.Fatalf("slot %v recorded twice: %+v", run.ScheduledAt, after)
		}
		seen[run.ScheduledAt] = true
		if run.Type == store.CronMissed {
			missedRuns = append(missedRuns, run)
		}
	}
	if len(missedRuns) != 1 || !strings.Contains(missedRuns[0].Body, "not running") ||
		!missedRuns[0].ScheduledAt.After(before[0].ScheduledAt) {
		t.Fatalf("missed runs after 3 s down = %+v (last before: %v)", missedRuns, before[0].ScheduledAt)
	}
	if got := len(after) - len(before); got != r.count("j")-ranBefore+1 {
		t.Fatalf("%d history entries added for %d runs and one missed", got, r.count("j")-ranBefore)
	}

}

// Slots stored in the past: one missed record, no run; a slot taken whose
// result was never recorded is an error record, not a run.
func TestScheduler_MissedWhileDown(t *testing.T) {
	st, _ := openStore(t)
	hourAgo := time.Now().Add(-time.Hour).Truncate(time.Minute).UTC()
	jobs := []store.CronJob{
		{Container: "c", Name: "down", Schedule: "* * * * *", TZ: "UTC", State: store.CronActive, NextScheduled: hourAgo},
		{Container: "c", Name: "cut", Schedule: "0 0 1 1 *", TZ: "UTC", State: store.CronActive,
			LastScheduled: hourAgo, NextScheduled: time.Now().Add(24 * time.Hour).UTC()},
		{Container: "c", Name: "paused", Schedule: "* * * * *", TZ: "UTC", State: store.CronInactive},
	}
	for _, j := range jobs {
		if _, err := st.PutCronJob(j, 0); err != nil {
			t.Fatal(err)
		}
	}
	r := &fakeRunner{}
	s := newScheduler(t, st, r, Config{})
	down := history(t, s, "down")
	if len(down) != 1 || down[0].Type != store.CronMissed || !down[0].ScheduledAt.Equal(hourAgo) ||
		!strings.Contains(down[0].Body, "61 scheduled times") && !strings.Contains(down[0].Body, "60 scheduled times") {
		t.Fatalf("history of a job whose slots passed while down = %+v", down)
	}
	if j, _ := s.Get("c", "down"); !j.NextScheduled.After(time.Now()) {
		t.Fatalf("next slot after the restart = %v, not in the future", j.NextScheduled)
	}
	cut := history(t, s, "cut")
	if len(cut) != 1 || cut[0].Type != store.CronError || !cut[0].ScheduledAt.Equal(hourAgo) {
		t.Fatalf("history of a job cut by the stop = %+v", cut)
	}
	if runs := history(t, s, "paused"); len(runs) != 0 {
		t.Fatalf("an inactive job got history: %+v", runs)
	}
	time.Sleep(200 * time.Millisecond)
	if n := r.count("down") + r.count("cut"); n != 0 {
		t.Fatalf("past slots ran: %d runs", n)
	}
	// Once.
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	s = newScheduler(t, st, r, Config{})
	if len(history(t, s, "down")) != 1 || len(history(t, s, "cut")) != 1 {
		t.Fatalf("a second restart recorded more: %+v %+v", history(t, s, "down"), history(t, s, "cut"))
	}
}

func TestScheduler_BadInput(t *testing.T) {
	st, _ := openStore(t)
	s := newScheduler(t, st, &fakeRunner{}, Config{MaxJobs: 2})
	tests := []struct {
		name string
		job  store.CronJob
		want error
		msg  string
	}{
		{"no schedule", store.CronJob{Name: "a"}, ErrInvalid, `needs a "schedule"`},
		{"bad expression", store.CronJob{Name: "a", Schedule: "61 * * * *"}, ErrInvalid, `schedule "61 * * * *"`},
		{"three fields", store.CronJob{Name: "a", Schedule: "* * *"}, ErrInvalid, `schedule "* * *"`},
		{"seconds without the test option", store.CronJob{Name: "a", Schedule: "* * * * * *"}, ErrInvalid, `schedule "* * * * * *"`},
		{"every second without the test option", store.CronJob{Name: "a", Schedule: "@every 1s"}, ErrInvalid, "one minute"},
		{"zone in the schedule", store.CronJob{Name: "a", Schedule: "TZ=UTC * * * * *"}, ErrInvalid, `"tz"`},
		{"never fires", store.CronJob{Name: "a", Schedule: "0 0 30 2 *"}, ErrInvalid, "never fires"},
		{"bad zone", store.CronJob{Name: "a", Schedule: "* * * * *", TZ: "Mars/Olympus"}, ErrInvalid, `tz "Mars/Olympus"`},
		{"local zone", store.CronJob{Name: "a", Schedule: "* * * * *", TZ: "Local"}, ErrInvalid, `tz "Local"`},
		{"bad state", store.CronJob{Name: "a", Schedule: "* * * * *", State: "on"}, ErrInvalid, `state "on"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.job.Container = "c"
			_, _, err := s.Put(tt.job)
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("Put = %v, want %v naming %s", err, tt.want, tt.msg)
			}
			if list, _ := s.List("c"); len(list) != 0 {
				t.Fatalf("a refused job was stored: %+v", list)
			}
		})
	}
	for _, name := range []string{"a", "b"} {
		if _, _, err := s.Put(store.CronJob{Container: "c", Name: name, Schedule: "0 9 * * 1-5", TZ: "Europe/Paris"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := s.Put(store.CronJob{Container: "c", Name: "x", Schedule: "@hourly"}); !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), "--max-cron-jobs") {
		t.Fatalf("third job with MaxJobs 2 = %v, want ErrLimit", err)
	}
	if _, err := s.Get("c", "x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get of an unknown job = %v", err)
	}
	if _, err := s.SetState("c", "x", store.CronActive); !errors.Is(err, ErrNotFound) {
		t.Fatalf("SetState of an unknown job = %v", err)
	}
	if _, err := s.History("c", "x", 0, 0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("History of an unknown job = %v", err)
	}
	if err := s.Delete("c", "x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Delete of an unknown job = %v", err)
	}
	if err := s.Delete("c", "a"); err != nil {
		t.Fatal(err)
	}
	if list, _ := s.List("c"); len(list) != 1 || list[0].Name != "b" {
		t.Fatalf("after delete: %+v", list)
	}
	// Paris, 09:00 on a weekday: in UTC 07:00 or 08:00.
	b, _ := s.Get("c", "b")
	if h := b.NextScheduled.UTC().Hour(); h != 7 && h != 8 {
		t.Fatalf("next slot of 0 9 * * 1-5 in Europe/Paris = %v", b.NextScheduled)
	}
}
