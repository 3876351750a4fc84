package store

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// checkLimit is the largest file Open checks completely (prefetch, then
// checkPages) before serving; larger files get the size check only, which
// reads two pages. Measured with BenchmarkOpen_check and BenchmarkOpen_cold
// on a 2-core VM with an SSD-backed virtio disk, files half modules, half
// small KV entries:
//
//	file      warm cache   cold cache (evicted first)
//	  2 MiB     1.5 ms        -
//	 33 MiB      23 ms       41 ms
//	108 MiB     115 ms      122 ms
//	200 MiB     157 ms      324 ms
//
// About 1-1.6 ms per MiB, so 64 MiB takes ~0.1 s here; the limit leaves room
// for a disk ten times slower (64 MiB sequentially at 100 MB/s is 0.7 s)
// while keeping Open well under a second. Without the prefetch, the walk's
// page faults read a cold file a page at a time: 33 MiB took 0.6 s and 108
// MiB 2.8 s.
const checkLimit = 64 << 20

// bboltCheckCmd is how an operator inspects a file with the bbolt CLI of the
// bbolt version this package is built with.
const bboltCheckCmd = "go run go.etcd.io/bbolt/cmd/bbolt@v1.5.0 check"

// damagedOnOpen wraps ErrDamaged with what is wrong with the file at path and
// how to recover.
func damagedOnOpen(path, what string) error {
	return fmt.Errorf("store: open %s: %s: %w; to recover, stop the server, inspect the file with `%s %s`, "+
		"then restore it from a backup; keep the other files of its directory (key file, admin token, compile cache): "+
		"they are not in this file, and the stored secrets need the key they were sealed with; "+
		"moving only this file aside starts an empty store",
		path, what, ErrDamaged, bboltCheckCmd, path)
}

// checkFile checks the open database at path before it serves: the file must
// hold every page its meta page counts (a truncated file faults on the first
// read of a missing page), and a file of at most limit bytes must pass
// checkPages. It returns what is wrong, "" if nothing is.
func (b *Bolt) checkFile(limit int64) (string, error) {
	fi, err := b.file.Stat()
	if err != nil {
		return "", err
	}
	size := fi.Size()
	var what string
	_, err = b.run(false, func(tx *bolt.Tx) error {
		// Size is the high-water mark: highest page id x page size.
		if hwm := tx.Size(); size < hwm {
			what = fmt.Sprintf("the file is %d bytes but its pages end at byte %d (the meta page's high-water mark): it is truncated", size, hwm)
			return nil
		}
		if size <= limit {
			prefetch(b.file, size)
			what = checkPages(tx)
		}
		return nil
	})
	if isDamage(err) {
		return fmt.Sprintf("%v (the file is %d bytes)", err, size), nil
	}
	return what, err
}

// checkPages reads every page reachable from the root (branch, leaf and
// overflow pages, nested buckets) and then runs bbolt's Tx.Check, which finds
// pages referenced twice, freed and in use, leaked, or with keys out of
// order. It returns what is wrong, "" if nothing is. It runs under guard.
//
// The walk comes first because Tx.Check runs in a goroutine of its own, where
// guard cannot turn a fault into an error: once the walk has read every page,
// Tx.Check reads no page the walk did not. bbolt panics on pages it cannot
// parse; the walk turns those panics into the answer too.
func checkPages(tx *bolt.Tx) (what string) {
	defer func() {
		if r := recover(); r != nil {
			if _, fault := r.(interface{ Addr() uintptr }); fault {
				panic(r) // guard's to report
			}
			what = fmt.Sprintf("bbolt cannot parse it: %v", r)
		}
	}()
	err := tx.ForEach(func(_ []byte, bk *bolt.Bucket) error {
		walkBucket(bk)
		return nil
	})
	if err != nil {
		return "walking it failed: " + err.Error()
	}
	var problems []string
	n := 0
	for err := range tx.Check() { // drain: Check blocks until read
		if n++; len(problems) < 3 {
			problems = append(problems, err.Error())
		}
	}
	if n > 0 {
		return fmt.Sprintf("bbolt check found %d problem(s): %s", n, strings.Join(problems, "; "))
	}
	return ""
}

// walkBucket reads every key and value of bk and its nested buckets, touching
// the first and last byte of each value so that its overflow pages are read.
// The returned byte is meaningless; returning it keeps the reads.
func walkBucket(bk *bolt.Bucket) byte {
	var sum byte
	c := bk.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		switch {
		case v == nil:
			if nb := bk.Bucket(k); nb != nil {
				sum ^= walkBucket(nb)
			}
		case len(v) > 0:
			sum ^= v[0] ^ v[len(v)-1]
		}
	}
	return sum
}

// openErr wraps an error from opening the file at path (size bytes; -1 if
// unknown): the path stays in the message, the operator gave it. Errors that
// say the file is not readable as a bbolt database wrap ErrDamaged with the
// recovery hint.
func openErr(path string, size int64, err error) error {
	switch {
	case isDamage(err):
		return damagedOnOpen(path, fmt.Sprintf("%v, while opening it (the file is %d bytes)", err, size))
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrChecksum):
		return damagedOnOpen(path, "not a bbolt database, or both its meta pages are damaged ("+err.Error()+")")
	case strings.HasPrefix(err.Error(), "file size too small"):
		// bbolt v1.5.0 has no sentinel for this one (TestOpen_damaged pins it).
		return damagedOnOpen(path, "too short for a bbolt database ("+err.Error()+")")
	}
	return wrapIOErr("store: open "+path, path, err)
}

// prefetch reads the file from start to end, so that the walk finds its pages
// in the page cache: on a cold cache the walk's page faults read the disk one
// page at a time, several times slower than one sequential read. Errors are
// ignored: the walk reads the same pages and reports what matters.
func prefetch(f *os.File, size int64) {
	_, _ = io.Copy(io.Discard, io.NewSectionReader(f, 0, size))
}
