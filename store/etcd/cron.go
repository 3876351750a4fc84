package etcdstore

import (
	"fmt"
	"strconv"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/wasmtask/wasmtask/store"
)

// Run keys end in the run's sequence number, 16 hex digits: key order is
// the order the runs were added in.
func runKey(prefix string, seq uint64) string { return fmt.Sprintf("%s%016x", prefix, seq) }

func runSeq(prefix string, key []byte) uint64 {
	n, _ := strconv.ParseUint(string(key[len(prefix):]), 16, 64)
	return n
}

// PutCronJob implements store.Store. The job count of maxJobs is read in
// the transaction: a job created meanwhile in the container makes it retry.
func (s *Store) PutCronJob(j store.CronJob, maxJobs int) (bool, error) {
	if err := store.CheckWebtaskKey(j.Container, j.Name); err != nil {
		return false, fmt.Errorf("store: put cron job: %w", err)
	}
	now := s.now().UTC()
	var created bool
	_, err := s.update("put cron job", func(t *txn) error {
		nj := j
		key := s.cronKey(j.Container, j.Name)
		kv, err := t.get(key)
		if err != nil {
			return err
		}
		if kv != nil {
			nj.Created = now // a record that does not decode is replaced
			if old, err := store.DecodeCronJob(j.Container, j.Name, kv.Value); err == nil {
				nj.Created = old.Created
			}
		} else {
			nj.Created = now
			if maxJobs > 0 {
				resp, err := t.list(s.cronKey(j.Container, ""), clientv3.WithCountOnly())
				if err != nil {
					return err
				}
				if n := resp.Count; n >= int64(maxJobs) {
					return fmt.Errorf("store: put cron job %q/%q: container holds %d jobs, the most it may: %w",
						j.Container, j.Name, n, store.ErrTooMany)
				}
			}
		}
		v, err := store.EncodeCronJob(nj)
		if err != nil {
			return err
		}
		t.put(key, v)
		created = kv == nil
		return nil
	})
	return created, err
}

// GetCronJob implements store.Store.
func (s *Store) GetCronJob(container, name string) (store.CronJob, error) {
	if err := store.CheckWebtaskKey(container, name); err != nil {
		return store.CronJob{}, fmt.Errorf("store: get cron job: %w", err)
	}
	kv, err := s.get("get cron job", s.cronKey(container, name))
	switch {
	case err != nil:
		return store.CronJob{}, err
	case kv == nil:
		return store.CronJob{}, fmt.Errorf("store: cron job %q/%q: %w", container, name, store.ErrNotFound)
	}
	return store.DecodeCronJob(container, name, kv.Value)
}

// ListCronJobs implements store.Store.
func (s *Store) ListCronJobs(container string) ([]store.CronJob, error) {
	if err := store.CheckName("container", container); err != nil {
		return nil, fmt.Errorf("store: list cron jobs: %w", err)
	}
	list := []store.CronJob{}
	root := s.prefix + "cron/"
	err := s.walk("list cron jobs", s.cronKey(container, ""), func(kv *mvccpb.KeyValue) error {
		c, n := splitKey(kv.Key, root)
		j, err := store.DecodeCronJob(c, n, kv.Value)
		if err != nil {
			j = store.CronJob{Container: c, Name: n, Damaged: err.Error()}
		}
		list = append(list, j)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return list, nil
}

// AllCronJobs implements store.Store. Jobs whose record does not decode
// are left out, as Bolt does.
func (s *Store) AllCronJobs() ([]store.CronJob, error) {
	list := []store.CronJob{}
	root := s.prefix + "cron/"
	err := s.walk("all cron jobs", root, func(kv *mvccpb.KeyValue) error {
		c, n := splitKey(kv.Key, root)
		if j, err := store.DecodeCronJob(c, n, kv.Value); err == nil {
			list = append(list, j)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return list, nil
}

// UpdateCronJob implements store.Store.
func (s *Store) UpdateCronJob(container, name string, fn func(*store.CronJob) error, runs ...store.CronRun) error {
	if err := store.CheckWebtaskKey(container, name); err != nil {
		return fmt.Errorf("store: update cron job: %w", err)
	}
	_, err := s.update("update cron job", func(t *txn) error {
		own, err := s.updateCronJob(t, store.CronUpdate{Container: container, Name: name, Fn: fn, Runs: runs})
		if own != nil {
			return own
		}
		return err
	})
	return err
}

// UpdateCronJobs implements store.Store: one etcd transaction for all the
// updates. etcd limits a transaction's operations (128 by default): each
// update takes two compares and a put per run and one more for the job.
func (s *Store) UpdateCronJobs(updates []store.CronUpdate) ([]error, error) {
	var errs []error
	_, err := s.update("update cron jobs", func(t *txn) error {
		errs = make([]error, len(updates))
		for i, u := range updates {
			if err := store.CheckWebtaskKey(u.Container, u.Name); err != nil {
				errs[i] = fmt.Errorf("store: update cron job: %w", err)
				continue
			}
			own, err := s.updateCronJob(t, u)
			if err != nil {
				return err
			}
			errs[i] = own
		}
		return nil
	})
	if err != nil {
		return make([]error, len(updates)), err
	}
	return errs, nil
}

// updateCronJob adds u's changes to t. own is u's own refusal (no such job,
// its fn's error), before anything is written; err is the store's.
func (s *Store) updateCronJob(t *txn, u store.CronUpdate) (own, err error) {
	key := s.cronKey(u.Container, u.Name)
	kv, err := t.get(key)
	switch {
	case err != nil:
		return nil, err
	case kv == nil:
		return fmt.Errorf("store: cron job %q/%q: %w", u.Container, u.Name, store.ErrNotFound), nil
	}
	j, err := store.DecodeCronJob(u.Container, u.Name, kv.Value)
	if err != nil {
		return err, nil
	}
	if u.Fn != nil {
		if err := u.Fn(&j); err != nil {
			return err, nil // as is: the caller's
		}
		j.Container, j.Name = u.Container, u.Name
		v, err := store.EncodeCronJob(j)
		if err != nil {
			return nil, err
		}
		t.put(key, v)
	}
	if len(u.Runs) == 0 {
		return nil, nil
	}
	return nil, s.addCronRuns(t, u.Container, u.Name, u.Runs)
}

// addCronRuns appends runs to the history of container/name in t and
// drops the oldest runs beyond store.MaxCronRuns, with one range delete.
func (s *Store) addCronRuns(t *txn, container, name string, runs []store.CronRun) error {
	p := s.cronRunsPrefix(container, name)
	resp, err := t.list(p, clientv3.WithKeysOnly())
	if err != nil {
		return err
	}
	var next uint64 = 1
	if n := len(resp.Kvs); n > 0 {
		next = runSeq(p, resp.Kvs[n-1].Key) + 1
	}
	drop := len(resp.Kvs) + len(runs) - store.MaxCronRuns // oldest first: stored ones, then new ones
	if drop > 0 && len(resp.Kvs) > 0 {
		last := min(drop, len(resp.Kvs)) - 1
		t.del(string(resp.Kvs[0].Key), clientv3.WithRange(string(resp.Kvs[last].Key)+"\x00"))
	}
	for i, r := range runs {
		if len(resp.Kvs)+i < drop {
			continue // dropped before it was stored
		}
		v, err := store.EncodeCronRun(r)
		if err != nil {
			return fmt.Errorf("store: add cron run %q/%q: %w", container, name, err)
		}
		t.put(runKey(p, next+uint64(i)), v)
	}
	return nil
}

// DeleteCronJob implements store.Store.
func (s *Store) DeleteCronJob(container, name string) error {
	if err := store.CheckWebtaskKey(container, name); err != nil {
		return fmt.Errorf("store: delete cron job: %w", err)
	}
	_, err := s.update("delete cron job", func(t *txn) error {
		key := s.cronKey(container, name)
		kv, err := t.get(key)
		switch {
		case err != nil:
			return err
		case kv == nil:
			return fmt.Errorf("store: delete cron job %q/%q: %w", container, name, store.ErrNotFound)
		}
		t.del(key)
		t.del(s.cronRunsPrefix(container, name), clientv3.WithPrefix())
		return nil
	})
	return err
}

// CronRuns implements store.Store: the job and its history are read in one
// transaction.
func (s *Store) CronRuns(container, name string, offset, limit int) ([]store.CronRun, error) {
	if err := store.CheckWebtaskKey(container, name); err != nil {
		return nil, fmt.Errorf("store: cron runs: %w", err)
	}
	ctx, cancel, err := s.begin("cron runs")
	if err != nil {
		return nil, err
	}
	defer cancel()
	resp, err := s.cli.Txn(ctx).Then(
		clientv3.OpGet(s.cronKey(container, name)),
		clientv3.OpGet(s.cronRunsPrefix(container, name), clientv3.WithPrefix(),
			clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend))).Commit()
	if err != nil {
		return nil, s.fail(fmt.Sprintf("cron runs %q/%q", container, name), err)
	}
	jobs := resp.Responses[0].GetResponseRange().Kvs
	if len(jobs) == 0 {
		return nil, fmt.Errorf("store: cron job %q/%q: %w", container, name, store.ErrNotFound)
	}
	if _, err := store.DecodeCronJob(container, name, jobs[0].Value); err != nil {
		return nil, err
	}
	list := []store.CronRun{}
	for i, kv := range resp.Responses[1].GetResponseRange().Kvs {
		if i < offset {
			continue
		}
		if limit > 0 && len(list) == limit {
			break
		}
		r, err := store.DecodeCronRun(container, name, kv.Value)
		if err != nil {
			return nil, err
		}
		list = append(list, r)
	}
	return list, nil
}
