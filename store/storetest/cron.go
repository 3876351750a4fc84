package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wasmtask/wasmtask/store"
)

func testJob(c, n string) store.CronJob {
	return store.CronJob{Container: c, Name: n, Schedule: "*/5 * * * *", TZ: "Europe/Paris", Token: "tok-" + n,
		State: store.CronActive, Meta: map[string]string{"k": "v"},
		NextScheduled: time.Date(2025, 1, 2, 3, 5, 0, 0, time.UTC)}
}

func mustPutJob(t testing.TB, s store.Store, j store.CronJob, maxJobs int) bool {
	t.Helper()
	created, err := s.PutCronJob(j, maxJobs)
	if err != nil {
		t.Fatalf("PutCronJob(%s/%s): %v", j.Container, j.Name, err)
	}
	return created
}

func testCronJobs(t *testing.T, b Backend) {
	s := b.open(t)
	j := testJob("c", "a")
	if !mustPutJob(t, s, j, 10) {
		t.Fatal("first put: created = false")
	}
	got, err := s.GetCronJob("c", "a")
	if err != nil {
		t.Fatal(err)
	}
	if got.Created.IsZero() {
		t.Fatal("Created not set")
	}
	want := j
	want.Created = got.Created
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("GetCronJob = %+v, want %+v", got, want)
	}

	// Replacing keeps Created.
	j.Schedule, j.State, j.Meta = "0 * * * *", store.CronInactive, nil
	if mustPutJob(t, s, j, 10) {
		t.Fatal("replace: created = true")
	}
	got2, _ := s.GetCronJob("c", "a")
	if !got2.Created.Equal(got.Created) || got2.Schedule != "0 * * * *" || got2.State != store.CronInactive || got2.Meta != nil {
		t.Fatalf("after replace = %+v", got2)
	}

	// Update, with runs, in one call; an error from fn changes nothing.
	last := time.Date(2025, 1, 2, 4, 0, 0, 0, time.UTC)
	run := store.CronRun{ScheduledAt: last, StartedAt: last, CompletedAt: last.Add(time.Second), Type: store.CronSuccess, StatusCode: 200, Body: "ok"}
	if err := s.UpdateCronJob("c", "a", func(j *store.CronJob) error { j.LastScheduled = last; j.Name = "renamed"; return nil }, run); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	if err := s.UpdateCronJob("c", "a", func(j *store.CronJob) error { j.State = store.CronActive; return boom }, run); err != boom {
		t.Fatalf("UpdateCronJob with a failing fn = %v, want boom", err)
	}
	got3, _ := s.GetCronJob("c", "a")
	if !got3.LastScheduled.Equal(last) || got3.Name != "a" || got3.State != store.CronInactive {
		t.Fatalf("after update = %+v", got3)
	}
	runs, err := s.CronRuns("c", "a", 0, 0)
	if err != nil || len(runs) != 1 || !reflect.DeepEqual(runs[0], run) {
		t.Fatalf("CronRuns = %+v, %v; want [%+v]", runs, err, run)
	}

	mustPutJob(t, s, testJob("c", "b"), 10)
	mustPutJob(t, s, testJob("d", "a"), 10)
	mustPutJob(t, s, testJob("c-d", "a"), 10) // "c-d" sorts after "c", though "c-d/" sorts before "c/"
	list, err := s.ListCronJobs("c")
	if err != nil || len(list) != 2 || list[0].Name != "a" || list[1].Name != "b" {
		t.Fatalf("ListCronJobs(c) = %+v, %v", list, err)
	}
	if list, err := s.ListCronJobs("nope"); err != nil || list == nil || len(list) != 0 {
		t.Fatalf("ListCronJobs(nope) = %#v, %v; want an empty slice", list, err)
	}

	// Survives a reopen.
	if b.Reopen != nil {
		s = b.Reopen(t, s)
	}
	all, err := s.AllCronJobs()
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, j := range all {
		keys = append(keys, j.Container+"/"+j.Name)
	}
	if fmt.Sprint(keys) != "[c/a c/b c-d/a d/a]" {
		t.Fatalf("AllCronJobs = %v", keys)
	}

	for _, tt := range []struct {
		name string
		err  error
	}{
		{"get", func() error { _, err := s.GetCronJob("c", "zz"); return err }()},
		{"update", s.UpdateCronJob("c", "zz", func(*store.CronJob) error { return nil })},
		{"runs", func() error { _, err := s.CronRuns("c", "zz", 0, 0); return err }()},
		{"delete", s.DeleteCronJob("c", "zz")},
	} {
		if !errors.Is(tt.err, store.ErrNotFound) {
			t.Errorf("%s of an unknown job = %v, want ErrNotFound", tt.name, tt.err)
		}
	}
}

func testCronJobLimit(t *testing.T, b Backend) {
	s := b.open(t)
	for i := range 10 {
		mustPutJob(t, s, testJob("c", fmt.Sprintf("j%02d", i)), 10)
	}
	_, err := s.PutCronJob(testJob("c", "j10"), 10)
	if !errors.Is(err, store.ErrTooMany) {
		t.Fatalf("11th job = %v, want ErrTooMany", err)
	}
	if _, err := s.GetCronJob("c", "j10"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the refused job was stored: %v", err)
	}
	// Replacing one of the 10 is fine, so is another container.
	mustPutJob(t, s, testJob("c", "j03"), 10)
	mustPutJob(t, s, testJob("other", "j10"), 10)
	// After a delete there is room again.
	if err := s.DeleteCronJob("c", "j00"); err != nil {
		t.Fatal(err)
	}
	mustPutJob(t, s, testJob("c", "j10"), 10)
	// No limit with maxJobs <= 0.
	for i := range 3 {
		mustPutJob(t, s, testJob("c", fmt.Sprintf("k%02d", i)), 0)
	}
}

func testCronRuns(t *testing.T, b Backend) {
	s := b.open(t)
	mustPutJob(t, s, testJob("c", "a"), 10)
	mustPutJob(t, s, testJob("c", "b"), 10)
	at := func(i int) time.Time { return time.Date(2025, 1, 1, 0, 0, i, 0, time.UTC) }
	for i := range store.MaxCronRuns + 25 {
		r := store.CronRun{ScheduledAt: at(i), StartedAt: at(i), CompletedAt: at(i), Type: store.CronSuccess, Body: fmt.Sprint(i)}
		if err := s.UpdateCronJob("c", "a", nil, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.UpdateCronJob("c", "b", nil, store.CronRun{Type: store.CronMissed, Body: "b's"}); err != nil {
		t.Fatal(err)
	}
	runs, err := s.CronRuns("c", "a", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != store.MaxCronRuns || runs[0].Body != fmt.Sprint(store.MaxCronRuns+24) || runs[store.MaxCronRuns-1].Body != "25" {
		t.Fatalf("history: %d runs, newest %q, oldest %q; want %d, newest first", len(runs), runs[0].Body, runs[len(runs)-1].Body, store.MaxCronRuns)
	}
	page, _ := s.CronRuns("c", "a", 10, 5)
	if len(page) != 5 || page[0].Body != fmt.Sprint(store.MaxCronRuns+14) {
		t.Fatalf("page = %+v", page)
	}
	if past, _ := s.CronRuns("c", "a", 500, 5); len(past) != 0 {
		t.Fatalf("page past the end = %+v", past)
	}
	// Several runs in one update keep their order.
	if err := s.UpdateCronJob("c", "b", nil, store.CronRun{Body: "1"}, store.CronRun{Body: "2"}); err != nil {
		t.Fatal(err)
	}
	if runs, _ := s.CronRuns("c", "b", 0, 0); len(runs) != 3 || runs[0].Body != "2" || runs[1].Body != "1" {
		t.Fatalf("b's history = %+v", runs)
	}

	// Deleting a job deletes its history only; a job of the same name
	// created again starts with none.
	if err := s.DeleteCronJob("c", "a"); err != nil {
		t.Fatal(err)
	}
	mustPutJob(t, s, testJob("c", "a"), 10)
	if runs, _ := s.CronRuns("c", "a", 0, 0); len(runs) != 0 {
		t.Fatalf("a job created again has %d runs", len(runs))
	}
	if runs, _ := s.CronRuns("c", "b", 0, 0); len(runs) != 3 || runs[2].Body != "b's" {
		t.Fatalf("the other job's history = %+v", runs)
	}
	if err := s.DeleteCronJob("c", "a"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteCronJob("c", "b"); err != nil {
		t.Fatal(err)
	}
	b.wantEmpty(t, s, "after deleting every job")
}

// testUpdateCronJobs: one transaction for several jobs; an update of a job
// that is not there, or whose fn fails, changes nothing of its own and does
// not stop the others.
func testUpdateCronJobs(t *testing.T, b Backend) {
	s := b.open(t)
	mustPutJob(t, s, testJob("c", "a"), 10)
	mustPutJob(t, s, testJob("c", "b"), 10)
	at := time.Date(2025, 1, 2, 3, 0, 0, 0, time.UTC)
	set := func(j *store.CronJob) error { j.LastScheduled = at; return nil }
	boom := errors.New("boom")
	errs, err := s.UpdateCronJobs([]store.CronUpdate{
		{Container: "c", Name: "a", Fn: set, Runs: []store.CronRun{{Type: store.CronMissed, Body: "late"}}},
		{Container: "c", Name: "gone", Fn: set},
		{Container: "c", Name: "b", Fn: func(j *store.CronJob) error { j.LastScheduled = at; return boom },
			Runs: []store.CronRun{{Body: "not stored"}}},
		{Container: "c", Name: "../x", Fn: set},
	})
	if err != nil || len(errs) != 4 || errs[0] != nil || !errors.Is(errs[1], store.ErrNotFound) || errs[2] != boom || !errors.Is(errs[3], store.ErrInvalid) {
		t.Fatalf("errs %v, err %v", errs, err)
	}
	a, _ := s.GetCronJob("c", "a")
	bj, _ := s.GetCronJob("c", "b")
	if !a.LastScheduled.Equal(at) || !bj.LastScheduled.IsZero() {
		t.Fatalf("a %v, b %v", a.LastScheduled, bj.LastScheduled)
	}
	if runs, err := s.CronRuns("c", "a", 0, 10); err != nil || len(runs) != 1 || runs[0].Body != "late" {
		t.Fatalf("a's runs %v %v", runs, err)
	}
	if runs, err := s.CronRuns("c", "b", 0, 10); err != nil || len(runs) != 0 {
		t.Fatalf("b's runs %v %v; want none (its fn failed)", runs, err)
	}
	if errs, err := s.UpdateCronJobs(nil); err != nil || len(errs) != 0 {
		t.Fatalf("no updates: %v, %v", errs, err)
	}
}

// testCronDamaged: a job record that does not decode is listed with
// Damaged set, refused by the calls that need it, skipped by AllCronJobs,
// and can be deleted or replaced.
func testCronDamaged(t *testing.T, b Backend) {
	if b.PutRaw == nil {
		t.Skip("the backend cannot write raw records")
	}
	setup := func(t *testing.T) store.Store {
		s := b.open(t)
		mustPutJob(t, s, testJob("c", "a"), 0)
		mustPutJob(t, s, testJob("c", "b"), 0)
		if err := s.UpdateCronJob("c", "b", nil, store.CronRun{Body: "old"}); err != nil {
			t.Fatal(err)
		}
		b.PutRaw(t, s, KindCronJob, "c", "b", []byte(`{"v":99}`))
		return s
	}
	t.Run("read", func(t *testing.T) {
		s := setup(t)
		list, err := s.ListCronJobs("c")
		if err != nil || len(list) != 2 || list[1].Name != "b" || !strings.Contains(list[1].Damaged, "does not decode") ||
			list[1].Schedule != "" || list[0].Damaged != "" {
			t.Fatalf("ListCronJobs = %+v, %v", list, err)
		}
		if _, err := s.GetCronJob("c", "b"); !errors.Is(err, store.ErrDamaged) {
			t.Errorf("GetCronJob: %v, want ErrDamaged", err)
		}
		if err := s.UpdateCronJob("c", "b", nil, store.CronRun{}); !errors.Is(err, store.ErrDamaged) {
			t.Errorf("UpdateCronJob: %v, want ErrDamaged", err)
		}
		if _, err := s.CronRuns("c", "b", 0, 0); !errors.Is(err, store.ErrDamaged) {
			t.Errorf("CronRuns: %v, want ErrDamaged", err)
		}
		if all, err := s.AllCronJobs(); err != nil || len(all) != 1 || all[0].Name != "a" {
			t.Errorf("AllCronJobs = %+v, %v; want only c/a", all, err)
		}
	})
	t.Run("delete", func(t *testing.T) {
		s := setup(t)
		if err := s.DeleteCronJob("c", "b"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetCronJob("c", "b"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("after delete: %v, want ErrNotFound", err)
		}
	})
	t.Run("replace", func(t *testing.T) {
		s := setup(t)
		created, err := s.PutCronJob(testJob("c", "b"), 2)
		if err != nil || created {
			t.Fatalf("PutCronJob over a damaged record = %v, %v; want replaced", created, err)
		}
		if j, err := s.GetCronJob("c", "b"); err != nil || j.Created.IsZero() {
			t.Errorf("GetCronJob = %+v, %v", j, err)
		}
	})
}
