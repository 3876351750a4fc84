package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wasmtask/wasmtask/host/internal/wasmgen"
)

// cacheGuest returns a guest distinct for every n whose wt_handle runs
// about size bytes of straight-line code and returns 0. Without handler it
// does not export wt_handle: wazero compiles it, validation refuses it.
func cacheGuest(n, size int, handler bool) []byte {
	body := []byte{wasmgen.OpI32Const}
	body = wasmgen.AppendSLEB128(body, int64(n))
	body = append(body, wasmgen.OpLocalSet, 0)
	unit := []byte{wasmgen.OpLocalGet, 0, wasmgen.OpI32Const, 1, wasmgen.OpI32Add, wasmgen.OpLocalSet, 0}
	for len(body) < size {
		body = append(body, unit...)
	}
	body = append(body, wasmgen.OpI32Const, 0, wasmgen.OpLocalGet, 0, wasmgen.OpI32Store, 2, 0, wasmgen.OpI32Const, 0)
	m := wasmgen.Guest([]wasmgen.Local{{Count: 1, Type: wasmgen.I32}}, body)
	if !handler {
		m.Exports = m.Exports[:1]
	}
	return m.Encode()
}

// cacheFiles lists the files under dir (relative path -> size).
func cacheFiles(t testing.TB, dir string) map[string]int64 {
	t.Helper()
	files := map[string]int64{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		files[rel] = info.Size()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func totalBytes(files map[string]int64) (n int64) {
	for _, s := range files {
		n += s
	}
	return n
}

// cacheEntry returns the one file of the kind ("rewritten" or "wazero")
// the cache holds.
func cacheEntry(t testing.TB, dir, kind string) string {
	t.Helper()
	pattern := filepath.Join(dir, "rewritten", "*")
	if kind == "wazero" {
		pattern = filepath.Join(dir, "wazero-*", "*")
	}
	files, _ := filepath.Glob(pattern)
	if len(files) != 1 {
		t.Fatalf("%s cache files: %v, want 1", kind, files)
	}
	return files[0]
}

// serveABI serves one request with the abi fixture's module.
func serveABI(t testing.TB, e *Engine, mod *Module) {
	t.Helper()
	p := e.NewPool(mod, "acme", "abi", PolicyPool)
	defer p.Close(context.Background())
	resp := &Response{}
	if err := p.Serve(context.Background(), testRequest(), resp); err != nil {
		t.Fatal(err)
	}
	if resp.Status != 200 || string(resp.Body) != `{"ok":true}` {
		t.Fatalf("response %d %s", resp.Status, resp.Body)
	}
}

// TestEngine_CacheDamage: a damaged cache file (wazero's compiled code or
// our rewritten module) never makes a valid module invalid: the next
// engine on the cache deletes the entry, compiles again and serves, and
// the engine after that loads the repaired entry without compiling.
func TestEngine_CacheDamage(t *testing.T) {
	ctx := context.Background()
	wasm := fixture(t, "abi")
	sha := SHA256(wasm)
	damages := []struct {
		name string
		fn   func(b []byte) []byte
	}{
		{"truncated to half", func(b []byte) []byte { return b[:len(b)/2] }},
		{"truncated by one byte", func(b []byte) []byte { return b[:len(b)-1] }},
		{"truncated to 10 bytes", func(b []byte) []byte { return b[:10] }},
		{"garbage", func(b []byte) []byte { return bytes.Repeat([]byte("garbage!"), len(b)/8+1) }},
		{"zero length", func(b []byte) []byte { return nil }},
		{"one byte flipped after the header", func(b []byte) []byte {
			b = bytes.Clone(b)
			b[30] ^= 0x40
			return b
		}},
		{"one byte flipped at the end", func(b []byte) []byte {
			b = bytes.Clone(b)
			b[len(b)-1] ^= 0x01
			return b
		}},
	}
	for _, kind := range []string{"wazero", "rewritten", "both"} {
		for _, d := range damages {
			t.Run(kind+"/"+d.name, func(t *testing.T) {
				dir := t.TempDir()
				cfg := Config{CacheDir: dir}
				e := newEngine(t, cfg)
				if _, err := e.Compile(ctx, wasm); err != nil {
					t.Fatal(err)
				}
				e.Close(ctx)
				targets := []string{kind}
				if kind == "both" {
					targets = []string{"wazero", "rewritten"}
				}
				damaged := map[string][]byte{}
				for _, k := range targets {
					path := cacheEntry(t, dir, k)
					b, err := os.ReadFile(path)
					if err != nil {
						t.Fatal(err)
					}
					damaged[path] = d.fn(b)
					if err := os.WriteFile(path, damaged[path], 0o600); err != nil {
						t.Fatal(err)
					}
				}

				// Load (a restart) and Compile (a re-upload) both succeed.
				e = newEngine(t, cfg)
				mod, err := e.Load(ctx, sha, func() ([]byte, error) { return wasm, nil })
				if err != nil {
					t.Fatalf("Load after damage: %v", err)
				}
				serveABI(t, e, mod)
				e.Evict(ctx, sha)
				if mod, err = e.Compile(ctx, wasm); err != nil {
					t.Fatalf("Compile after damage: %v", err)
				}
				serveABI(t, e, mod)
				e.Close(ctx)
				for path, b := range damaged {
					if now, _ := os.ReadFile(path); bytes.Equal(now, b) {
						t.Errorf("%s: the damaged entry is still there", filepath.Base(filepath.Dir(path)))
					}
				}

				// The entry is whole again: the next engine reads it and
				// writes nothing.
				before := map[string]os.FileInfo{}
				for _, k := range []string{"wazero", "rewritten"} {
					info, err := os.Stat(cacheEntry(t, dir, k))
					if err != nil {
						t.Fatal(err)
					}
					before[k] = info
				}
				e = newEngine(t, cfg)
				if mod, err = e.Compile(ctx, wasm); err != nil {
					t.Fatal(err)
				}
				serveABI(t, e, mod)
				for k, b := range before {
					a, err := os.Stat(cacheEntry(t, dir, k))
					if err != nil {
						t.Fatal(err)
					}
					if !os.SameFile(a, b) || !a.ModTime().Equal(b.ModTime()) {
						t.Errorf("%s entry written again: it was not read back from the cache", k)
					}
				}
			})
		}
	}
}

// TestEngine_CacheRefusals: a refused module leaves nothing in the cache,
// whatever refused it and however many there are.
func TestEngine_CacheRefusals(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		cfg    Config
		n      int
		module func(i int) []byte
		want   error
	}{
		{"missing export, after wazero compiled it", Config{}, 30,
			func(i int) []byte { return cacheGuest(i, 64<<10, false) }, ErrMissingExport},
		{"unknown import", Config{}, 3,
			func(i int) []byte { return fixture(t, "validate-unknown-module") }, ErrUnknownImport},
		{"wrong import signature", Config{}, 3,
			func(i int) []byte { return fixture(t, "validate-wrong-signature") }, ErrUnknownImport},
		{"too costly (code limits)", Config{CodeLimits: CodeLimits{MaxFunctionBytes: 1 << 10}}, 3,
			func(i int) []byte { return cacheGuest(i, 4<<10, true) }, ErrInvalidModule},
		{"overloaded (memory budget)", Config{MemoryBudget: 64 << 20}, 3,
			func(i int) []byte { return wasmgen.HugeFunction(256<<10 - 64 + i) }, ErrOverloaded},
		{"not wasm", Config{}, 3,
			func(i int) []byte { return []byte(fmt.Sprintf("\x7fELF%d", i)) }, ErrInvalidModule},
		{"malformed", Config{}, 3,
			func(i int) []byte { return []byte(fmt.Sprintf("\x00asm\x01\x00\x00\x00garbage%d", i)) }, ErrInvalidModule},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tc.cfg.CacheDir = dir
			e := newEngine(t, tc.cfg)
			if _, err := e.Compile(ctx, fixture(t, "validate-valid")); err != nil {
				t.Fatal(err)
			}
			before := cacheFiles(t, dir)
			for i := range tc.n {
				_, err := e.Compile(ctx, tc.module(i))
				if !errors.Is(err, tc.want) {
					t.Fatalf("module %d: err = %v, want %v", i, err, tc.want)
				}
				if strings.Contains(err.Error(), dir) {
					t.Fatalf("the error names a server path: %v", err)
				}
			}
			after := cacheFiles(t, dir)
			t.Logf("%d refusals: %d files, %d bytes before; %d files, %d bytes after",
				tc.n, len(before), totalBytes(before), len(after), totalBytes(after))
			if len(after) != len(before) || totalBytes(after) != totalBytes(before) {
				t.Fatalf("cache after %d refusals: %v, before: %v", tc.n, after, before)
			}
		})
	}
}

// TestCache_Layout pins the cache's layout, and the engine's idea of
// wazero's (its directory and how it names a module's file, which wazero
// does not export): an upgrade of wazero that changes them fails here.
func TestCache_Layout(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	e := newEngine(t, Config{CacheDir: dir})
	wasm := fixture(t, "abi")
	sha := SHA256(wasm)
	if _, err := e.Compile(ctx, wasm); err != nil {
		t.Fatal(err)
	}
	if e.wazeroDir == "" || e.wazeroDir != wazeroDirName() || findWazeroDir(dir) != wazeroDirName() {
		t.Fatalf("wazero's directory not found: %q", e.wazeroDir)
	}
	rwName := e.rewrittenName(sha)
	rw := readRewritten(filepath.Join(dir, rewrittenDir, rwName), sha)
	if rw == nil {
		t.Fatal("no rewritten module in the cache")
	}
	wzRel := filepath.Join(e.wazeroDir, wazeroKey(rw.code))
	files := cacheFiles(t, dir)
	want := []string{filepath.Join(rewrittenDir, rwName), wzRel, filepath.Join(indexDir, sha)}
	if len(files) != len(want) {
		t.Fatalf("cache files %v, want %v", files, want)
	}
	for _, f := range want {
		if _, ok := files[f]; !ok {
			t.Fatalf("cache files %v, want %v", files, want)
		}
	}
	ix, ok := e.readIndex(sha)
	size, sum, err := checksum(filepath.Join(dir, wzRel))
	if !ok || err != nil || ix != (cacheIndex{Rewritten: rwName, Wazero: filepath.Base(wzRel), Size: size, CRC32C: sum}) {
		t.Fatalf("index %+v (ok %v), want the files' names, size %d, crc %x (%v)", ix, ok, size, sum, err)
	}
}

// TestEngine_CacheInvalidModule: a module wazero refuses stays refused with
// a (garbage) file where its cache entry would be; the file is deleted
// and nothing else is written.
func TestEngine_CacheInvalidModule(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	e := newEngine(t, Config{CacheDir: dir})
	// wt_handle leaves two values on the stack: the rewriter does not
	// check types, wazero's validation refuses it.
	wasm := wasmgen.Guest(nil, []byte{wasmgen.OpI32Const, 0, wasmgen.OpI32Const, 0}).Encode()
	rw, err := rewrite(wasm, e.cfg.CodeLimits)
	if err != nil {
		t.Fatal(err)
	}
	planted := filepath.Join(dir, e.wazeroDir, wazeroKey(rw.code))
	if err := os.WriteFile(planted, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		_, err := e.Compile(ctx, wasm)
		if !errors.Is(err, ErrInvalidModule) || strings.Contains(err.Error(), dir) {
			t.Fatalf("compile %d: err = %v, want ErrInvalidModule without the cache's path", i, err)
		}
	}
	if files := cacheFiles(t, dir); len(files) != 0 {
		t.Fatalf("cache files after refusals: %v", files)
	}
}

// compileAll compiles the modules and returns their hashes.
func compileAll(t testing.TB, e *Engine, mods [][]byte) []string {
	t.Helper()
	shas := make([]string, len(mods))
	for i, m := range mods {
		if _, err := e.Compile(context.Background(), m); err != nil {
			t.Fatal(err)
		}
		shas[i] = SHA256(m)
	}
	return shas
}

// moduleFiles lists the cache files of module sha (its index names them).
func moduleFiles(t testing.TB, e *Engine, sha string) []string {
	t.Helper()
	ix, ok := e.readIndex(sha)
	if !ok {
		t.Fatalf("module %.8s has no index", sha)
	}
	return append(e.files(ix), filepath.Join(indexDir, sha))
}

// TestEngine_SweepCache: a sweep deletes exactly the files of the modules
// not kept (but not those of a module in memory) and the files nothing
// references; the kept modules load from the cache afterwards.
func TestEngine_SweepCache(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cfg := Config{CacheDir: dir}
	var mods [][]byte
	for i := range 6 {
		mods = append(mods, cacheGuest(i, 4<<10, true))
	}
	e := newEngine(t, cfg)
	shas := compileAll(t, e, mods)
	e.Close(ctx)

	e = newEngine(t, cfg)
	old := time.Now().Add(-time.Hour)
	orphans := map[string]bool{ // relative path -> removed by the sweep
		filepath.Join(rewrittenDir, "0123456789abcdef0123456789abcdef"):      true,
		filepath.Join(e.wazeroDir, strings.Repeat("ab", 32)):                 true,
		filepath.Join(indexDir, strings.Repeat("cd", 32)):                    true, // not JSON
		filepath.Join(indexDir, "not-a-hash"):                                true,
		filepath.Join(rewrittenDir, "0123456789abcdef.123.tmp"):              true,  // an old temporary file
		filepath.Join(rewrittenDir, "fedcba9876543210.456.tmp"):              false, // a write in progress
		filepath.Join("wazero-v0.0.1-"+runtime.GOARCH+"-"+runtime.GOOS, "x"): true,
		filepath.Join("wazero-v0.0.1-otherarch-otheros", "x"):                false,
		"README": false,
	}
	for rel := range orphans {
		path := filepath.Join(dir, rel)
		os.MkdirAll(filepath.Dir(path), 0o700)
		if err := os.WriteFile(path, []byte("orphan"), 0o600); err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(rel, ".123.tmp") {
			os.Chtimes(path, old, old)
		}
	}
	// Module 0 is in memory: its files stay though keep drops it.
	if _, err := e.Load(ctx, shas[0], func() ([]byte, error) { return mods[0], nil }); err != nil {
		t.Fatal(err)
	}
	kept := map[string]bool{shas[1]: true, shas[2]: true}
	want := map[string]bool{} // the files the sweep must leave
	for rel, gone := range orphans {
		if !gone {
			want[rel] = true
		}
	}
	before := info(t, dir, moduleFiles(t, e, shas[1])...)
	for _, sha := range shas[:3] {
		for _, f := range moduleFiles(t, e, sha) {
			want[f] = true
		}
	}
	removed, err := e.SweepCache(func(sha string) bool { return kept[sha] })
	if err != nil {
		t.Fatal(err)
	}
	files := cacheFiles(t, dir)
	if len(files) != len(want) {
		t.Errorf("after the sweep %d files, want %d", len(files), len(want))
	}
	for f := range want {
		if _, ok := files[f]; !ok {
			t.Errorf("%s was deleted", f)
		}
	}
	for f := range files {
		if !want[f] {
			t.Errorf("%s was not deleted", f)
		}
	}
	if wantRemoved := 3*3 + 6; removed != wantRemoved {
		t.Errorf("removed = %d, want %d", removed, wantRemoved)
	}

	// The kept modules load from the cache (their files are not written
	// again); the dropped ones compile again.
	for _, i := range []int{1, 3} {
		if _, err := e.Load(ctx, shas[i], func() ([]byte, error) { return mods[i], nil }); err != nil {
			t.Fatal(err)
		}
	}
	for path, b := range before {
		a, err := os.Stat(path)
		if err != nil || !os.SameFile(a, b) || !a.ModTime().Equal(b.ModTime()) {
			t.Errorf("%s was written again (%v)", path, err)
		}
	}
	moduleFiles(t, e, shas[3])
	if removed, err := e.SweepCache(func(sha string) bool { return kept[sha] }); removed != 0 || err != nil {
		t.Errorf("a second sweep removed %d files (%v)", removed, err)
	}
}

// info stats the cache files rel (relative to dir), by path.
func info(t testing.TB, dir string, rel ...string) map[string]os.FileInfo {
	t.Helper()
	m := map[string]os.FileInfo{}
	for _, r := range rel {
		fi, err := os.Stat(filepath.Join(dir, r))
		if err != nil {
			t.Fatal(err)
		}
		m[filepath.Join(dir, r)] = fi
	}
	return m
}

// TestEngine_Forget: Forget evicts a module and deletes its cache files,
// and only its own; the module compiles again afterwards.
func TestEngine_Forget(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	e := newEngine(t, Config{CacheDir: dir})
	mods := [][]byte{cacheGuest(0, 1<<10, true), cacheGuest(1, 1<<10, true)}
	shas := compileAll(t, e, mods)
	other := moduleFiles(t, e, shas[1])
	tests := []struct {
		name string
		sha  string
		want int // files left
	}{
		{"not a hash", "../../etc", 6},
		{"unknown", strings.Repeat("0", 64), 6},
		{"compiled", shas[0], 3},
		{"again", shas[0], 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := e.Forget(ctx, tc.sha); err != nil {
				t.Fatal(err)
			}
			if files := cacheFiles(t, dir); len(files) != tc.want {
				t.Fatalf("cache files %v, want %d", files, tc.want)
			}
		})
	}
	if e.Compiled(shas[0]) {
		t.Fatal("Forget left the module in memory")
	}
	info(t, dir, other...)
	if _, err := e.Compile(ctx, mods[0]); err != nil {
		t.Fatal(err)
	}
	moduleFiles(t, e, shas[0])

	// Without an index (a cache of an older version), Forget finds
	// wazero's entry from the rewritten module.
	os.Remove(filepath.Join(dir, indexDir, shas[0]))
	if err := e.Forget(ctx, shas[0]); err != nil {
		t.Fatal(err)
	}
	if files := cacheFiles(t, dir); len(files) != 3 {
		t.Fatalf("cache files %v, want module 1's", files)
	}
}

// TestEngine_CacheHammer compiles, refuses, evicts, forgets and sweeps at
// once (run it with -race): valid modules always compile, refused ones are
// always refused, every module in memory keeps its cache files, and once
// nothing is in memory a sweep keeping nothing empties the cache.
func TestEngine_CacheHammer(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	e := newEngine(t, Config{CacheDir: dir})
	const n = 12
	var valid, invalid [][]byte
	for i := range n {
		valid = append(valid, cacheGuest(i, 2<<10, true))
		invalid = append(invalid, cacheGuest(i, 2<<10, false))
	}
	stop := make(chan struct{})
	errs := make(chan error, 16)
	var wg sync.WaitGroup
	var compiles, sweeps, forgets atomic.Int64
	for g := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				m := (i*7 + g) % n
				if _, err := e.Compile(ctx, valid[m]); err != nil {
					errs <- fmt.Errorf("valid module %d: %w", m, err)
					return
				}
				compiles.Add(1)
				if _, err := e.Compile(ctx, invalid[m]); !errors.Is(err, ErrMissingExport) {
					errs <- fmt.Errorf("invalid module %d: err = %v", m, err)
					return
				}
				if i%3 == 0 {
					e.Evict(ctx, SHA256(valid[(m+1)%n]))
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if i%2 == 0 {
				if _, err := e.SweepCache(func(string) bool { return false }); err != nil {
					errs <- err
					return
				}
				sweeps.Add(1)
			} else if err := e.Forget(ctx, SHA256(valid[i%n])); err != nil {
				errs <- err
				return
			} else {
				forgets.Add(1)
			}
		}
	}()
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	t.Logf("%d compiles (and as many refusals), %d sweeps, %d forgets", compiles.Load(), sweeps.Load(), forgets.Load())
	for _, m := range valid {
		sha := SHA256(m)
		if !e.Compiled(sha) {
			continue
		}
		for _, f := range moduleFiles(t, e, sha) {
			if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
				t.Errorf("module %.8s in memory lost %s", sha, f)
			}
		}
		e.Evict(ctx, sha)
	}
	if _, err := e.SweepCache(func(string) bool { return false }); err != nil {
		t.Fatal(err)
	}
	if files := cacheFiles(t, dir); len(files) != 0 {
		t.Fatalf("cache files after the last sweep: %v", files)
	}
}

// Test_cacheErrors: errors of the cache name no server path.
func Test_cacheErrors(t *testing.T) {
	e := &Engine{cfg: Config{CacheDir: "/srv/data/cache"}, absCacheDir: "/srv/data/cache"}
	tests := []struct {
		name string
		msg  string
	}{
		{"path error", unwrapPath(&fs.PathError{Op: "open", Path: "/srv/data/cache/x", Err: fs.ErrPermission}).Error()},
		{"link error", unwrapPath(&os.LinkError{Op: "rename", Old: "/srv/data/cache/a", New: "/srv/data/cache/b", Err: fs.ErrExist}).Error()},
		{"wrapped", unwrapPath(fmt.Errorf("x: %w", &fs.PathError{Op: "read", Path: "/srv/data/cache/y", Err: io.EOF})).Error()},
		{"wazero's message", e.scrub("compilationcache: error reading header: read /srv/data/cache/wazero-dev/z: is a directory")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if strings.Contains(tc.msg, "/srv") {
				t.Fatalf("message names the path: %s", tc.msg)
			}
		})
	}
}

// TestEngine_NoCache: without a cache directory, sweeping and forgetting
// do nothing.
func TestEngine_NoCache(t *testing.T) {
	e := newEngine(t, Config{})
	sha := compileAll(t, e, [][]byte{fixture(t, "validate-valid")})[0]
	if n, err := e.SweepCache(func(string) bool { return false }); n != 0 || err != nil {
		t.Fatalf("SweepCache = %d, %v", n, err)
	}
	if err := e.Forget(context.Background(), sha); err != nil || e.Compiled(sha) {
		t.Fatalf("Forget = %v, compiled %v", err, e.Compiled(sha))
	}
}

// BenchmarkEngine_SweepCache sweeps a cache of 200 modules: keeping them
// all (a scan) and keeping none (deleting 600 files).
//
//	go test -run '^$' -bench SweepCache ./host/engine/
func BenchmarkEngine_SweepCache(b *testing.B) {
	const n = 200
	ctx := context.Background()
	src := b.TempDir()
	e := newEngine(b, Config{CacheDir: src})
	for i := range n {
		if _, err := e.Compile(ctx, cacheGuest(i, 1<<10, true)); err != nil {
			b.Fatal(err)
		}
	}
	e.Close(ctx)
	b.Run("keep-all", func(b *testing.B) {
		e := newEngine(b, Config{CacheDir: src})
		for b.Loop() {
			if removed, err := e.SweepCache(func(string) bool { return true }); removed != 0 || err != nil {
				b.Fatalf("removed %d (%v)", removed, err)
			}
		}
	})
	b.Run("keep-none", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			dir := filepath.Join(b.TempDir(), "cache")
			if err := os.CopyFS(dir, os.DirFS(src)); err != nil {
				b.Fatal(err)
			}
			e := newEngine(b, Config{CacheDir: dir})
			b.StartTimer()
			if removed, err := e.SweepCache(func(string) bool { return false }); removed != 3*n || err != nil {
				b.Fatalf("removed %d (%v)", removed, err)
			}
		}
	})
}
