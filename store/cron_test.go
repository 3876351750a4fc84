package store

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func testJob(c, n string) CronJob {
	return CronJob{Container: c, Name: n, Schedule: "*/5 * * * *", TZ: "Europe/Paris", Token: "tok-" + n,
		State: CronActive, Meta: map[string]string{"k": "v"},
		NextScheduled: time.Date(2025, 1, 2, 3, 5, 0, 0, time.UTC)}
}

func mustPutJob(t testing.TB, s Store, j CronJob, maxJobs int) bool {
	t.Helper()
	created, err := s.PutCronJob(j, maxJobs)
	if err != nil {
		t.Fatalf("PutCronJob(%s/%s): %v", j.Container, j.Name, err)
	}
	return created
}

func TestBolt_CronJobs(t *testing.T) {
	s, path := openTest(t)
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
	j.Schedule, j.State, j.Meta = "0 * * * *", CronInactive, nil
	if mustPutJob(t, s, j, 10) {
		t.Fatal("replace: created = true")
	}
	got2, _ := s.GetCronJob("c", "a")
	if !got2.Created.Equal(got.Created) || got2.Schedule != "0 * * * *" || got2.State != CronInactive || got2.Meta != nil {
		t.Fatalf("after replace = %+v", got2)
	}

	// Update, with runs, in one call; an error from fn changes nothing.
	last := time.Date(2025, 1, 2, 4, 0, 0, 0, time.UTC)
	run := CronRun{ScheduledAt: last, StartedAt: last, CompletedAt: last.Add(time.Second), Type: CronSuccess, StatusCode: 200, Body: "ok"}
	if err := s.UpdateCronJob("c", "a", func(j *CronJob) error { j.LastScheduled = last; j.Name = "renamed"; return nil }, run); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	if err := s.UpdateCronJob("c", "a", func(j *CronJob) error { j.State = CronActive; return boom }, run); err != boom {
		t.Fatalf("UpdateCronJob with a failing fn = %v, want boom", err)
	}
	got3, _ := s.GetCronJob("c", "a")
	if !got3.LastScheduled.Equal(last) || got3.Name != "a" || got3.State != CronInactive {
		t.Fatalf("after update = %+v", got3)
	}
	runs, err := s.CronRuns("c", "a", 0, 0)
	if err != nil || len(runs) != 1 || !reflect.DeepEqual(runs[0], run) {
		t.Fatalf("CronRuns = %+v, %v; want [%+v]", runs, err, run)
	}

	mustPutJob(t, s, testJob("c", "b"), 10)
	mustPutJob(t, s, testJob("d", "a"), 10)
	list, err := s.ListCronJobs("c")
	if err != nil || len(list) != 2 || list[0].Name != "a" || list[1].Name != "b" {
		t.Fatalf("ListCronJobs(c) = %+v, %v", list, err)
	}
	if list, err := s.ListCronJobs("nope"); err != nil || list == nil || len(list) != 0 {
		t.Fatalf("ListCronJobs(nope) = %#v, %v; want an empty slice", list, err)
	}

	// Survives a reopen.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	all, err := s.AllCronJobs()
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, j := range all {
		keys = append(keys, j.Container+"/"+j.Name)
	}
	if fmt.Sprint(keys) != "[c/a c/b d/a]" {
		t.Fatalf("AllCronJobs = %v", keys)
	}

	for _, tt := range []struct {
		name string
		err  error
	}{
		{"get", func() error { _, err := s.GetCronJob("c", "zz"); return err }()},
		{"update", s.UpdateCronJob("c", "zz", func(*CronJob) error { return nil })},
		{"runs", func() error { _, err := s.CronRuns("c", "zz", 0, 0); return err }()},
		{"delete", s.DeleteCronJob("c", "zz")},
	} {
		if !errors.Is(tt.err, ErrNotFound) {
			t.Errorf("%s of an unknown job = %v, want ErrNotFound", tt.name, tt.err)
		}
	}
}

func TestBolt_CronJobLimit(t *testing.T) {
	s, _ := openTest(t)
	for i := range 10 {
		mustPutJob(t, s, testJob("c", fmt.Sprintf("j%02d", i)), 10)
	}
	_, err := s.PutCronJob(testJob("c", "j10"), 10)
	if !errors.Is(err, ErrTooMany) {
		t.Fatalf("11th job = %v, want ErrTooMany", err)
	}
	if _, err := s.GetCronJob("c", "j10"); !errors.Is(err, ErrNotFound) {
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
}

func TestBolt_CronRuns(t *testing.T) {
	s, _ := openTest(t)
	mustPutJob(t, s, testJob("c", "a"), 10)
	mustPutJob(t, s, testJob("c", "b"), 10)
	at := func(i int) time.Time { return time.Date(2025, 1, 1, 0, 0, i, 0, time.UTC) }
	for i := range MaxCronRuns + 25 {
		r := CronRun{ScheduledAt: at(i), StartedAt: at(i), CompletedAt: at(i), Type: CronSuccess, Body: fmt.Sprint(i)}
		if err := s.UpdateCronJob("c", "a", nil, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.UpdateCronJob("c", "b", nil, CronRun{Type: CronMissed, Body: "b's"}); err != nil {
		t.Fatal(err)
	}
	runs, err := s.CronRuns("c", "a", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != MaxCronRuns || runs[0].Body != fmt.Sprint(MaxCronRuns+24) || runs[MaxCronRuns-1].Body != "25" {
		t.Fatalf("history: %d runs, newest %q, oldest %q; want %d, newest first", len(runs), runs[0].Body, runs[len(runs)-1].Body, MaxCronRuns)
	}
	page, _ := s.CronRuns("c", "a", 10, 5)
	if len(page) != 5 || page[0].Body != fmt.Sprint(MaxCronRuns+14) {
		t.Fatalf("page = %+v", page)
	}
	if past, _ := s.CronRuns("c", "a", 500, 5); len(past) != 0 {
		t.Fatalf("page past the end = %+v", past)
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
	if runs, _ := s.CronRuns("c", "b", 0, 0); len(runs) != 1 || runs[0].Body != "b's" {
		t.Fatalf("the other job's history = %+v", runs)
	}
	if err := s.DeleteCronJob("c", "a"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteCronJob("c", "b"); err != nil {
		t.Fatal(err)
	}
	if err := s.view("check", func(tx *bolt.Tx) error {
		if tx.Bucket(bktCron).Bucket([]byte("c")) != nil || tx.Bucket(bktCronRuns).Bucket([]byte("c")) != nil {
			return errors.New("emptied container left buckets behind")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// TestBolt_UpdateCronJobs: one transaction for several jobs; an update of
// a job that is not there, or whose fn fails, changes nothing of its own
// and does not stop the others.
func TestBolt_UpdateCronJobs(t *testing.T) {
	s, _ := openTest(t)
	mustPutJob(t, s, testJob("c", "a"), 10)
	mustPutJob(t, s, testJob("c", "b"), 10)
	at := time.Date(2025, 1, 2, 3, 0, 0, 0, time.UTC)
	set := func(j *CronJob) error { j.LastScheduled = at; return nil }
	boom := errors.New("boom")
	errs, err := s.UpdateCronJobs([]CronUpdate{
		{Container: "c", Name: "a", Fn: set, Runs: []CronRun{{Type: CronMissed, Body: "late"}}},
		{Container: "c", Name: "gone", Fn: set},
		{Container: "c", Name: "b", Fn: func(j *CronJob) error { j.LastScheduled = at; return boom }},
		{Container: "c", Name: "../x", Fn: set},
	})
	if err != nil || errs[0] != nil || !errors.Is(errs[1], ErrNotFound) || errs[2] != boom || errs[3] == nil {
		t.Fatalf("errs %v, err %v", errs, err)
	}
	a, _ := s.GetCronJob("c", "a")
	b, _ := s.GetCronJob("c", "b")
	if !a.LastScheduled.Equal(at) || !b.LastScheduled.IsZero() {
		t.Fatalf("a %v, b %v", a.LastScheduled, b.LastScheduled)
	}
	if runs, err := s.CronRuns("c", "a", 0, 10); err != nil || len(runs) != 1 || runs[0].Body != "late" {
		t.Fatalf("a's runs %v %v", runs, err)
	}
}
