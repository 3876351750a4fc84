package store

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Cron jobs: per container, at most a caller-given number of named jobs, each
// with the history of its last MaxCronRuns runs. The store keeps what the
// scheduler (host/cron) decides; it does not parse schedules.
//
// Bolt layout:
//
//	cron     <container> (nested bucket) -> <name> -> JSON job record
//	cronruns <container> (nested bucket) -> <name> (nested bucket) -> 8-byte big-endian sequence -> JSON run record
//
// A job and its history change in one transaction (UpdateCronJob), and
// DeleteCronJob deletes both.

// MaxCronRuns is how many runs of one job the history keeps; older ones are
// dropped as new ones are added.
const MaxCronRuns = 100

// States of a cron job (CronJob.State).
const (
	CronActive   = "active"
	CronInactive = "inactive"
)

// Types of a cron run (CronRun.Type).
const (
	CronSuccess = "success"
	CronError   = "error"
	CronMissed  = "missed"
)

// CronJob is one scheduled job as stored. The store keeps every field
// verbatim (times in UTC) except Created, which it sets.
type CronJob struct {
	// Container and Name identify the job; Name is unique in its container.
	Container, Name string
	// Schedule is the cron expression; TZ the IANA zone it is read in.
	Schedule, TZ string
	// Token is the token the job's runs are made with ("" for none: the
	// webtask Container/Name is run by its public URL). Opaque to the store.
	Token string
	// State is CronActive or CronInactive.
	State string
	// Meta is free-form metadata; an empty map is returned as nil.
	Meta map[string]string
	// Created is when the job was first stored: PutCronJob keeps the
	// Created of a job it replaces and sets it to now for a new one.
	Created time.Time
	// LastScheduled is the last slot the scheduler took, written before it
	// runs the slot, so that no slot runs twice. Zero before the first.
	LastScheduled time.Time
	// NextScheduled is the next slot the scheduler will take; zero when
	// none is planned (an inactive job).
	NextScheduled time.Time
	// Damaged says why the stored record cannot be read; every other field
	// but Container and Name is then empty. Only ListCronJobs returns such
	// entries (so that a listing shows them and they can be deleted);
	// GetCronJob answers ErrDamaged and the scheduler skips them.
	Damaged string
}

// CronRun is one entry of a job's history.
type CronRun struct {
	// ScheduledAt is the slot; StartedAt and CompletedAt bound the run
	// (both equal to the time it was recorded for a missed slot).
	ScheduledAt, StartedAt, CompletedAt time.Time
	// Type is CronSuccess, CronError or CronMissed.
	Type string
	// StatusCode is the HTTP status of the run's answer (0 if none).
	StatusCode int
	// Body is the (host-truncated) answer, or why the slot was missed.
	Body string
}

// cronRecordVersion is the schema version of job and run records; see
// recordVersion for when it changes.
const cronRecordVersion = 1

type cronRecord struct {
	V             int               `json:"v"`
	Schedule      string            `json:"schedule"`
	TZ            string            `json:"tz,omitempty"`
	Token         string            `json:"token,omitempty"`
	State         string            `json:"state"`
	Meta          map[string]string `json:"meta,omitempty"`
	Created       time.Time         `json:"created"`
	LastScheduled time.Time         `json:"last_scheduled,omitzero"`
	NextScheduled time.Time         `json:"next_scheduled,omitzero"`
}

type cronRunRecord struct {
	V           int       `json:"v"`
	ScheduledAt time.Time `json:"scheduled_at"`
	StartedAt   time.Time `json:"started_at"`
	CompletedAt time.Time `json:"completed_at"`
	Type        string    `json:"type"`
	StatusCode  int       `json:"status_code,omitempty"`
	Body        string    `json:"body,omitempty"`
}

var (
	bktCron     = []byte("cron")
	bktCronRuns = []byte("cronruns")
)

// PutCronJob implements Store.
func (b *Bolt) PutCronJob(j CronJob, maxJobs int) (bool, error) {
	if err := checkWebtaskKey(j.Container, j.Name); err != nil {
		return false, fmt.Errorf("store: put cron job: %w", err)
	}
	now := b.now().UTC()
	var created bool
	err := b.update("put cron job", func(tx *bolt.Tx) error {
		cb, err := tx.Bucket(bktCron).CreateBucketIfNotExists([]byte(j.Container))
		if err != nil {
			return fmt.Errorf("store: put cron job %q/%q: %w", j.Container, j.Name, err)
		}
		old, found, err := findCronJob(cb, j.Container, j.Name)
		switch {
		case found && err == nil:
			j.Created = old.Created
		case found: // a record that does not decode: replace it
			j.Created = now
			if err := deleteRecord(cb, j.Name); err != nil {
				return fmt.Errorf("store: put cron job %q/%q: replace damaged record: %w", j.Container, j.Name, err)
			}
		default:
			j.Created = now
			if n := countKeys(cb); maxJobs > 0 && n >= maxJobs {
				return fmt.Errorf("store: put cron job %q/%q: container holds %d jobs, the most it may: %w",
					j.Container, j.Name, n, ErrTooMany)
			}
		}
		created = !found
		return putCronJob(cb, j)
	})
	return created, err
}

// GetCronJob implements Store.
func (b *Bolt) GetCronJob(container, name string) (CronJob, error) {
	if err := checkWebtaskKey(container, name); err != nil {
		return CronJob{}, fmt.Errorf("store: get cron job: %w", err)
	}
	var j CronJob
	err := b.view("get cron job", func(tx *bolt.Tx) error {
		var err error
		j, _, err = findCronJob(tx.Bucket(bktCron).Bucket([]byte(container)), container, name)
		return err
	})
	return j, err
}

// ListCronJobs implements Store.
func (b *Bolt) ListCronJobs(container string) ([]CronJob, error) {
	if err := checkName("container", container); err != nil {
		return nil, fmt.Errorf("store: list cron jobs: %w", err)
	}
	list := []CronJob{}
	err := b.view("list cron jobs", func(tx *bolt.Tx) error {
		list = appendCronJobs(list, tx.Bucket(bktCron).Bucket([]byte(container)), container)
		return nil
	})
	return list, err
}

// AllCronJobs implements Store. Jobs whose record does not decode are left
// out (ListCronJobs shows them, GetCronJob reports them, DeleteCronJob
// removes them).
func (b *Bolt) AllCronJobs() ([]CronJob, error) {
	list := []CronJob{}
	err := b.view("all cron jobs", func(tx *bolt.Tx) error {
		root := tx.Bucket(bktCron)
		return root.ForEachBucket(func(ck []byte) error {
			c := root.Bucket(ck).Cursor()
			for k, v := c.First(); k != nil; k, v = c.Next() {
				if j, err := decodeCronJob(string(ck), string(k), v); err == nil {
					list = append(list, j)
				}
			}
			return nil
		})
	})
	return list, err
}

// appendCronJobs appends the jobs of the container bucket cb (nil: none),
// a record that does not decode as a job with Damaged set.
func appendCronJobs(list []CronJob, cb *bolt.Bucket, container string) []CronJob {
	if cb == nil {
		return list
	}
	c := cb.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		j, err := decodeCronJob(container, string(k), v)
		if err != nil {
			j = CronJob{Container: container, Name: string(k), Damaged: err.Error()}
		}
		list = append(list, j)
	}
	return list
}

// UpdateCronJob implements Store.
func (b *Bolt) UpdateCronJob(container, name string, fn func(*CronJob) error, runs ...CronRun) error {
	if err := checkWebtaskKey(container, name); err != nil {
		return fmt.Errorf("store: update cron job: %w", err)
	}
	return b.update("update cron job", func(tx *bolt.Tx) error {
		own, err := updateCronJob(tx, CronUpdate{container, name, fn, runs})
		if own != nil {
			return own
		}
		return err
	})
}

// CronUpdate is one job's change in UpdateCronJobs: Fn (nil: none) on the
// job, Runs appended to its history.
type CronUpdate struct {
	Container, Name string
	Fn              func(*CronJob) error
	Runs            []CronRun
}

// UpdateCronJobs implements Store.
func (b *Bolt) UpdateCronJobs(updates []CronUpdate) ([]error, error) {
	errs := make([]error, len(updates))
	err := b.update("update cron jobs", func(tx *bolt.Tx) error {
		for i, u := range updates {
			if err := checkWebtaskKey(u.Container, u.Name); err != nil {
				errs[i] = fmt.Errorf("store: update cron job: %w", err)
				continue
			}
			own, err := updateCronJob(tx, u)
			if err != nil {
				return err
			}
			errs[i] = own
		}
		return nil
	})
	return errs, err
}

// updateCronJob applies u in tx. own is u's own refusal (no such job, its
// fn's error), before anything is written; err is the store's, which
// fails the transaction.
func updateCronJob(tx *bolt.Tx, u CronUpdate) (own, err error) {
	cb := tx.Bucket(bktCron).Bucket([]byte(u.Container))
	j, _, err := findCronJob(cb, u.Container, u.Name)
	if err != nil {
		return err, nil
	}
	if u.Fn != nil {
		if err := u.Fn(&j); err != nil {
			return err, nil // as is: the caller's
		}
		j.Container, j.Name = u.Container, u.Name
		if err := putCronJob(cb, j); err != nil {
			return nil, err
		}
	}
	for _, r := range u.Runs {
		if err := addCronRun(tx, u.Container, u.Name, r); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

// DeleteCronJob implements Store.
func (b *Bolt) DeleteCronJob(container, name string) error {
	if err := checkWebtaskKey(container, name); err != nil {
		return fmt.Errorf("store: delete cron job: %w", err)
	}
	return b.update("delete cron job", func(tx *bolt.Tx) error {
		root := tx.Bucket(bktCron)
		cb := root.Bucket([]byte(container))
		if _, found, _ := findCronJob(cb, container, name); !found {
			return fmt.Errorf("store: delete cron job %q/%q: %w", container, name, ErrNotFound)
		}
		if err := deleteRecord(cb, name); err != nil {
			return fmt.Errorf("store: delete cron job %q/%q: %w", container, name, err)
		}
		if err := dropIfEmpty(root, []byte(container)); err != nil {
			return err
		}
		runs := tx.Bucket(bktCronRuns)
		rc := runs.Bucket([]byte(container))
		if rc == nil || rc.Bucket([]byte(name)) == nil {
			return nil
		}
		if err := rc.DeleteBucket([]byte(name)); err != nil {
			return fmt.Errorf("store: delete cron history %q/%q: %w", container, name, err)
		}
		return dropIfEmpty(runs, []byte(container))
	})
}

// CronRuns implements Store.
func (b *Bolt) CronRuns(container, name string, offset, limit int) ([]CronRun, error) {
	if err := checkWebtaskKey(container, name); err != nil {
		return nil, fmt.Errorf("store: cron runs: %w", err)
	}
	list := []CronRun{}
	err := b.view("cron runs", func(tx *bolt.Tx) error {
		if _, _, err := findCronJob(tx.Bucket(bktCron).Bucket([]byte(container)), container, name); err != nil {
			return err
		}
		hb := cronRunsBucket(tx, container, name)
		if hb == nil {
			return nil
		}
		c := hb.Cursor()
		skip := offset
		for k, v := c.Last(); k != nil && (limit <= 0 || len(list) < limit); k, v = c.Prev() {
			if skip > 0 {
				skip--
				continue
			}
			r, err := decodeCronRun(container, name, v)
			if err != nil {
				return err
			}
			list = append(list, r)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return list, nil
}

// findCronJob returns the job stored under name in the container bucket cb
// (nil for an unknown container): ErrNotFound (found false) when there is
// none, ErrDamaged (found true) when its record does not decode.
func findCronJob(cb *bolt.Bucket, container, name string) (j CronJob, found bool, err error) {
	if cb != nil {
		if v, ok := lookup(cb, []byte(name)); ok {
			j, err = decodeCronJob(container, name, v)
			return j, true, err
		}
	}
	return CronJob{}, false, fmt.Errorf("store: cron job %q/%q: %w", container, name, ErrNotFound)
}

func putCronJob(cb *bolt.Bucket, j CronJob) error {
	v, err := encodeCronJob(j)
	if err != nil {
		return err
	}
	if err := cb.Put([]byte(j.Name), v); err != nil {
		return fmt.Errorf("store: put cron job %q/%q: %w", j.Container, j.Name, err)
	}
	return nil
}

// encodeCronJob is the JSON record of j (times in UTC; Container and Name
// are the keys it is stored under).
func encodeCronJob(j CronJob) ([]byte, error) {
	v, err := json.Marshal(cronRecord{V: cronRecordVersion, Schedule: j.Schedule, TZ: j.TZ, Token: j.Token,
		State: j.State, Meta: j.Meta, Created: j.Created.UTC(),
		LastScheduled: utc(j.LastScheduled), NextScheduled: utc(j.NextScheduled)})
	if err != nil {
		return nil, fmt.Errorf("store: encode cron job %q/%q: %w", j.Container, j.Name, err)
	}
	return v, nil
}

// encodeCronRun is the JSON record of r (times in UTC).
func encodeCronRun(r CronRun) ([]byte, error) {
	return json.Marshal(cronRunRecord{V: cronRecordVersion, ScheduledAt: r.ScheduledAt.UTC(), StartedAt: r.StartedAt.UTC(),
		CompletedAt: r.CompletedAt.UTC(), Type: r.Type, StatusCode: r.StatusCode, Body: r.Body})
}

// decodeCronRun decodes a run record; the error is ErrDamaged for
// container/name's history.
func decodeCronRun(container, name string, v []byte) (CronRun, error) {
	var r cronRunRecord
	if err := json.Unmarshal(v, &r); err != nil || r.V < 1 || r.V > cronRecordVersion {
		return CronRun{}, fmt.Errorf("store: cron runs of %q/%q: a record does not decode (delete the job to clear it): %w",
			container, name, ErrDamaged)
	}
	return CronRun{ScheduledAt: r.ScheduledAt, StartedAt: r.StartedAt, CompletedAt: r.CompletedAt,
		Type: r.Type, StatusCode: r.StatusCode, Body: r.Body}, nil
}

// decodeCronJob decodes a job record (v nil: a bucket in its place); the
// result does not alias v.
func decodeCronJob(container, name string, v []byte) (CronJob, error) {
	var r cronRecord
	if v == nil || json.Unmarshal(v, &r) != nil || r.V < 1 || r.V > cronRecordVersion {
		return CronJob{}, fmt.Errorf("store: cron job %q/%q: the record does not decode (delete the job and create it again): %w",
			container, name, ErrDamaged)
	}
	j := CronJob{Container: container, Name: name, Schedule: r.Schedule, TZ: r.TZ, Token: r.Token, State: r.State,
		Meta: r.Meta, Created: r.Created, LastScheduled: r.LastScheduled, NextScheduled: r.NextScheduled}
	if len(j.Meta) == 0 {
		j.Meta = nil
	}
	return j, nil
}

// cronRunsBucket returns the history bucket of container/name, nil if none.
func cronRunsBucket(tx *bolt.Tx, container, name string) *bolt.Bucket {
	rc := tx.Bucket(bktCronRuns).Bucket([]byte(container))
	if rc == nil {
		return nil
	}
	return rc.Bucket([]byte(name))
}

// addCronRun appends r to the history of container/name and drops the runs
// beyond MaxCronRuns.
func addCronRun(tx *bolt.Tx, container, name string, r CronRun) error {
	wrap := func(err error) error { return fmt.Errorf("store: add cron run %q/%q: %w", container, name, err) }
	rc, err := tx.Bucket(bktCronRuns).CreateBucketIfNotExists([]byte(container))
	if err != nil {
		return wrap(err)
	}
	hb, err := rc.CreateBucketIfNotExists([]byte(name))
	if err != nil {
		return wrap(err)
	}
	seq, err := hb.NextSequence()
	if err != nil {
		return wrap(err)
	}
	v, err := encodeCronRun(r)
	if err != nil {
		return wrap(err)
	}
	if err := hb.Put(seqKey(seq), v); err != nil {
		return wrap(err)
	}
	if seq <= MaxCronRuns {
		return nil
	}
	oldest := seqKey(seq - MaxCronRuns) // the newest key to drop
	c := hb.Cursor()
	for k, _ := c.First(); k != nil && string(k) <= string(oldest); k, _ = c.First() {
		if err := c.Delete(); err != nil {
			return wrap(err)
		}
	}
	return nil
}

// countKeys counts the entries of cb (nil: none).
func countKeys(cb *bolt.Bucket) int {
	n := 0
	if cb != nil {
		c := cb.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			n++
		}
	}
	return n
}

func seqKey(n uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], n)
	return k[:]
}

// utc is t in UTC, the zero time kept zero.
func utc(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}
