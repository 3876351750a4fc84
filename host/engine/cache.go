package engine

// The on-disk cache (Config.CacheDir) keeps what compiling a module costs
// across restarts. Its layout:
//
//	<CacheDir>/
//	  rewritten/<key>       the rewritten module (rewritecache.go); key is
//	                        sha256(rewriterVersion, sha, code limits)[:16]
//	  wazero-<v>-<arch>-<os>/<key>
//	                        wazero's compiled machine code (its file cache,
//	                        written by wazero itself); key is derived from
//	                        the rewritten code (wazeroKey)
//	  index/<sha>           one per module that compiled and passed
//	                        validation: JSON naming its two files above and
//	                        the size and CRC-32C of wazero's (cacheIndex)
//
// sha is the hex SHA-256 of the uploaded bytes, what callers know a module
// by. Every file is written to a "<name>.*.tmp" sibling and renamed, so a
// reader sees a whole file or none.
//
// A cache file is only a hint; the cache can never make a valid module
// invalid. The rewritten module carries a digest and is rewritten when it
// does not match. wazero's entry is checked against the size and CRC in the
// index before wazero reads it, and deleted when it differs; and because
// wazero validates a module before it reads its entry, a compile error
// while an entry exists means the entry is damaged (wazero only checks its
// magic, version and a checksum of the code): the entry is deleted and the
// module compiled once more, from scratch.
//
// The cache holds only modules something references. A compile that fails
// deletes what it wrote (and, when validation refused the module, its whole
// entry); Forget deletes a module's files when the registry drops it; and
// SweepCache deletes every file no module kept by the registry, and no
// module in memory, references: entries of refused or deleted modules,
// orphans of crashes or older versions of the layout, other wazero
// versions' directories. Deleting any file at any time costs at most a
// recompile, never an error, which is what makes these races harmless;
// still, nothing deletes a file that a module in memory (compiled or
// compiling now) uses: e.cacheUse counts those, under e.mu.
//
// The cache directory belongs to one engine at a time; two engines on it
// (as the api tests run) only cost each other recompiles.

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/tetratelabs/wazero"
	"golang.org/x/sys/cpu"
)

// Cache subdirectories (wazero's is Engine.wazeroDir).
const (
	rewrittenDir = "rewritten"
	indexDir     = "index"
)

// tmpGrace is how long a temporary file may belong to a write in progress
// (in another engine on the same directory); SweepCache leaves younger ones.
const tmpGrace = time.Minute

// cacheIndex is the content of index/<sha>.
type cacheIndex struct {
	// Rewritten is the file's name under rewritten/.
	Rewritten string `json:"rewritten"`
	// Wazero is the file's name under wazero's directory, empty when
	// wazero wrote none; Size and CRC32C are its length and checksum
	// (Castagnoli) when it was written.
	Wazero string `json:"wazero,omitempty"`
	Size   int64  `json:"size,omitempty"`
	CRC32C uint32 `json:"crc32c,omitempty"`
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// wazeroDirName is the directory wazero.NewCompilationCacheWithDir keeps
// its files in: wazero-<version>-<GOARCH>-<GOOS>, the version read from
// the build information as wazero's internal/version does.
func wazeroDirName() string {
	v := ""
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if strings.Contains(dep.Path, "github.com/tetratelabs/wazero") {
				v = dep.Version
			}
		}
		if v == "" || v == "(devel)" {
			v = info.Main.Version
		}
	}
	if v == "" || v == "(devel)" {
		v = "dev"
	}
	return "wazero-" + v + "-" + runtime.GOARCH + "-" + runtime.GOOS
}

// findWazeroDir returns the name of wazero's directory under the cache
// directory dir: wazeroDirName, or else the only wazero directory for this
// GOARCH and GOOS there is (NewCompilationCacheWithDir has just created
// it); "" when it cannot tell.
func findWazeroDir(dir string) string {
	if st, err := os.Stat(filepath.Join(dir, wazeroDirName())); err == nil && st.IsDir() {
		return wazeroDirName()
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "wazero-*-"+runtime.GOARCH+"-"+runtime.GOOS)); len(m) == 1 {
		return filepath.Base(m[0])
	}
	return ""
}

// cpuFeatures are the CPU feature bits wazero v1.12.0 mixes into its cache
// keys (internal/platform, CpuFeatures.Raw), from the same x/sys/cpu flags.
var cpuFeatures = func() (f uint64) {
	switch runtime.GOARCH {
	case "amd64":
		if cpu.X86.HasSSE41 {
			f |= 1
		}
		if cpu.X86.HasBMI1 {
			f |= 2
		}
		if cpu.X86.HasBMI1 && cpu.X86.HasBMI2 && cpu.X86.HasPOPCNT {
			f |= 4
		}
	case "arm64":
		if cpu.ARM64.HasATOMICS {
			f |= 1
		}
	}
	return f
}()

// wazeroKey is the name of code's entry in wazero's file cache. wazero
// v1.12.0 names it sha256(id || "WAZEVO" || CPU features as 8 bytes, little
// endian) (internal/engine/wazevo/engine_cache.go, fileCacheKey), where id
// is sha256(code || ensureTermination as one byte) for a module compiled
// without function listeners (internal/wasm/module.go, AssignModuleID). The
// engine never sets WithCloseOnContextDone. TestCache_Layout fails if an
// upgrade of wazero changes this.
func wazeroKey(code []byte) string {
	h := sha256.New()
	h.Write(code)
	h.Write([]byte{0}) // ensureTermination: false
	id := h.Sum(nil)
	h.Reset()
	h.Write(id)
	h.Write([]byte("WAZEVO"))
	h.Write(binary.LittleEndian.AppendUint64(nil, cpuFeatures))
	return hex.EncodeToString(h.Sum(nil))
}

// isSHA reports whether s is a module hash as SHA256 returns it (and so a
// safe file name).
func isSHA(s string) bool { return isHex(s, 2*sha256.Size) }

// isHex reports whether s is n lower-case hex digits.
func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for _, c := range []byte(s) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// cachePath turns a path relative to the cache directory into a real one.
func (e *Engine) cachePath(rel string) string { return filepath.Join(e.cfg.CacheDir, rel) }

// useFileLocked records that ce's module uses the cache file rel, which no
// sweep may then delete until releaseFilesLocked. Under e.mu.
func (e *Engine) useFileLocked(ce *compileEntry, rel string) {
	ce.files = append(ce.files, rel)
	e.cacheUse[rel]++
}

func (e *Engine) useFile(ce *compileEntry, rel string) {
	e.mu.Lock()
	e.useFileLocked(ce, rel)
	e.mu.Unlock()
}

// releaseFilesLocked ends ce's use of its cache files and returns them.
// Under e.mu; ce's compile has returned.
func (e *Engine) releaseFilesLocked(ce *compileEntry) []string {
	files := ce.files
	ce.files = nil
	for _, rel := range files {
		if e.cacheUse[rel]--; e.cacheUse[rel] <= 0 {
			delete(e.cacheUse, rel)
		}
	}
	return files
}

// inUseLocked reports whether a module in memory uses the cache file rel
// (an index file, an entry or an entry's temporary file). Under e.mu.
func (e *Engine) inUseLocked(rel string) bool {
	dir, name := filepath.Split(rel)
	if i := strings.IndexByte(name, '.'); i >= 0 { // <name>.*.tmp
		name = name[:i]
	}
	if filepath.Clean(dir) == indexDir {
		_, ok := e.compiled[name]
		return ok
	}
	return e.cacheUse[filepath.Join(dir, name)] > 0
}

// removeUnusedLocked deletes the cache files no module in memory uses and
// returns how many it deleted. Under e.mu.
func (e *Engine) removeUnusedLocked(files []string) (removed int, err error) {
	for _, rel := range files {
		if e.inUseLocked(rel) {
			continue
		}
		if _, serr := os.Lstat(e.cachePath(rel)); serr != nil {
			continue
		}
		if rerr := os.RemoveAll(e.cachePath(rel)); rerr != nil {
			err = firstErr(err, fmt.Errorf("engine: cache: remove %s: %v", rel, unwrapPath(rerr)))
			continue
		}
		removed++
	}
	return removed, err
}

// firstErr returns the first non-nil error.
func firstErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// readIndex reads index/<sha>; ok is false when it is missing or damaged.
// The names it returns are safe to join to a directory.
func (e *Engine) readIndex(sha string) (ix cacheIndex, ok bool) {
	b, err := os.ReadFile(e.cachePath(filepath.Join(indexDir, sha)))
	if err != nil || json.Unmarshal(b, &ix) != nil ||
		!isHex(ix.Rewritten, 32) || (ix.Wazero != "" && !isHex(ix.Wazero, 64)) {
		return cacheIndex{}, false
	}
	return ix, true
}

// files lists the cache files ix names, relative to the cache directory.
func (e *Engine) files(ix cacheIndex) []string {
	files := []string{filepath.Join(rewrittenDir, ix.Rewritten)}
	if ix.Wazero != "" && e.wazeroDir != "" {
		files = append(files, filepath.Join(e.wazeroDir, ix.Wazero))
	}
	return files
}

// wazeroEntry is a module's entry in wazero's file cache.
type wazeroEntry struct {
	path  string     // the file, "" without a cache
	index cacheIndex // the module's index as it was before the compile
	whole bool       // the file existed and matched the index
}

// checkWazeroEntry deletes wazero's entry at path when the index of sha
// names it but describes another file (a truncated or damaged one).
func (e *Engine) checkWazeroEntry(sha, path string) wazeroEntry {
	w := wazeroEntry{path: path}
	ix, ok := e.readIndex(sha)
	w.index = ix
	if !ok || ix.Wazero != filepath.Base(path) || ix.Size == 0 {
		return w
	}
	size, sum, err := checksum(path)
	if errors.Is(err, fs.ErrNotExist) {
		return w
	}
	if err != nil || size != ix.Size || sum != ix.CRC32C {
		os.RemoveAll(path) // best effort: wazero's own checks and the retry remain
		return w
	}
	w.whole = true
	return w
}

// cacheEntry returns code's entry in wazero's file cache, which ce's
// module uses from now on, deleting the entry when it is damaged
// (checkWazeroEntry). Only with a cache.
func (e *Engine) cacheEntry(ce *compileEntry, sha string, code []byte) wazeroEntry {
	rel := filepath.Join(e.wazeroDir, wazeroKey(code))
	e.useFile(ce, rel)
	return e.checkWazeroEntry(sha, e.cachePath(rel))
}

// compileCode compiles code with rt (through wazero's file cache when w
// names an entry; the interpreter's runtime has none, and gets an empty w). A compile that fails while
// the entry exists, or on a file error, deletes the entry and compiles once
// more: wazero validates a module before it reads its entry, so the entry
// was damaged (wazero reported a bad magic, a short read, a checksum
// mismatch) or could not be written (the retry then finds the module
// wazero compiled in memory). w.whole is cleared when the entry was not
// used after all.
func (e *Engine) compileCode(ctx context.Context, w *wazeroEntry, rt wazero.Runtime, code []byte) (wazero.CompiledModule, error) {
	cm, err := rt.CompileModule(ctx, code)
	if err != nil && w.path != "" {
		_, serr := os.Lstat(w.path)
		if serr == nil || isFSError(err) {
			if rerr := os.RemoveAll(w.path); rerr != nil {
				return nil, fmt.Errorf("engine: compilation cache: cannot remove a damaged entry: %v", unwrapPath(rerr))
			}
			w.whole = false
			cm, err = rt.CompileModule(ctx, code)
		}
	}
	switch {
	case err != nil && isFSError(err):
		return nil, fmt.Errorf("engine: compilation cache: %v", unwrapPath(err))
	case err != nil:
		return nil, fmt.Errorf("%w: %s", ErrInvalidModule, e.scrub(firstLine(err.Error())))
	}
	return cm, nil
}

// checksum returns the length and CRC-32C of the file at path.
func checksum(path string) (int64, uint32, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	h := crc32.New(castagnoli)
	n, err := io.Copy(h, f)
	return n, h.Sum32(), err
}

// writeIndex records, after sha compiled and passed validation, which
// cache files it uses. Best effort: without an index the files are only
// swept as orphans sooner.
func (e *Engine) writeIndex(sha, rewritten string, w wazeroEntry) {
	ix := cacheIndex{Rewritten: rewritten}
	if w.whole {
		ix.Wazero, ix.Size, ix.CRC32C = w.index.Wazero, w.index.Size, w.index.CRC32C
	} else if w.path != "" {
		if size, sum, err := checksum(w.path); err == nil {
			ix.Wazero, ix.Size, ix.CRC32C = filepath.Base(w.path), size, sum
		}
	}
	if ix == w.index {
		return
	}
	b, _ := json.Marshal(ix)
	writeAtomic(e.cachePath(filepath.Join(indexDir, sha)), b)
}

// writeAtomic writes the parts to path through a temporary file renamed
// over it. Best effort: it reports whether the file was written.
func writeAtomic(path string, parts ...[]byte) bool {
	dir := filepath.Dir(path)
	if os.MkdirAll(dir, 0o700) != nil {
		return false
	}
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".*.tmp")
	if err != nil {
		return false
	}
	for _, p := range parts {
		if err == nil {
			_, err = tmp.Write(p)
		}
	}
	if cerr := tmp.Close(); err == nil && cerr == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err == nil
}

// refused reports whether err says the module itself is unacceptable (as
// opposed to the server being busy or the bytes not arriving).
func refused(err error) bool {
	return errors.Is(err, ErrInvalidModule) || errors.Is(err, ErrUnknownImport) ||
		errors.Is(err, ErrMissingExport) || errors.Is(err, ErrABIVersion)
}

// dropFailedLocked deletes what a failed compile of sha leaves in the
// cache: the files it used when the module has no index (it never passed
// validation), and the whole entry when the module itself was refused.
// Under e.mu, after the entry left e.compiled and released files.
func (e *Engine) dropFailedLocked(sha string, files []string, err error) {
	if _, again := e.compiled[sha]; again || e.cfg.CacheDir == "" {
		return // loaded again since an Evict: the new compile owns the files
	}
	ix, indexed := e.readIndex(sha)
	switch {
	case refused(err):
		files = append(files, filepath.Join(indexDir, sha))
		if indexed {
			files = append(files, e.files(ix)...)
		}
	case indexed:
		return // it compiled before: keep the entry for the next attempt
	}
	e.removeUnusedLocked(files)
}

// Forget evicts the module sha (see Evict) and deletes its entries from the
// on-disk cache at once, unless a Load brought it back meanwhile. The
// registry calls it when no webtask uses sha any more; SweepCache would
// delete the files later. An upload that differs from sha's only in custom
// sections shares wazero's file (the rewrite drops them) and compiles
// again on its next load. The error reports a file that could not be
// deleted; it names no server path.
func (e *Engine) Forget(ctx context.Context, sha string) error {
	e.Evict(ctx, sha)
	if e.cfg.CacheDir == "" || !isSHA(sha) {
		return nil
	}
	files := []string{filepath.Join(indexDir, sha), filepath.Join(rewrittenDir, e.rewrittenName(sha))}
	if ix, ok := e.readIndex(sha); ok {
		files = append(files, e.files(ix)...)
	} else if rw := readRewritten(e.cachePath(files[1]), sha); rw != nil && e.wazeroDir != "" {
		files = append(files, filepath.Join(e.wazeroDir, wazeroKey(rw.code)))
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, again := e.compiled[sha]; again {
		return nil
	}
	_, err := e.removeUnusedLocked(files)
	return err
}

// SweepCache deletes from the on-disk cache every module for which keep
// returns false, and every file no module references (entries left by
// crashes, by older versions of the cache's layout or by other wazero
// versions). Modules in memory (compiled or compiling now; see Compiled)
// keep their files whatever keep says: Evict or Forget them first. keep is
// called without engine locks held. removed counts the files deleted; err
// reports the first file that could not be, and names no server path.
// The registry calls it at startup; it is safe at any time, concurrently
// with everything else.
func (e *Engine) SweepCache(keep func(sha string) bool) (removed int, err error) {
	if e.cfg.CacheDir == "" {
		return 0, nil
	}
	index, err := e.listCache(indexDir)
	if err != nil {
		return 0, err // without the index every file would look unreferenced
	}
	referenced := map[string]bool{}
	var candidates []string
	for _, d := range index {
		rel := filepath.Join(indexDir, d.Name())
		if !isSHA(d.Name()) {
			candidates = append(candidates, rel)
			continue
		}
		ix, ok := e.readIndex(d.Name())
		if !ok || !keep(d.Name()) {
			candidates = append(candidates, rel)
			continue
		}
		referenced[rel] = true
		for _, f := range e.files(ix) {
			referenced[f] = true
		}
	}
	dirs := []string{rewrittenDir}
	if e.wazeroDir != "" {
		dirs = append(dirs, e.wazeroDir)
	}
	for _, dir := range dirs {
		entries, lerr := e.listCache(dir)
		err = firstErr(err, lerr)
		for _, d := range entries {
			if rel := filepath.Join(dir, d.Name()); !referenced[rel] {
				candidates = append(candidates, rel)
			}
		}
	}
	for _, rel := range candidates {
		e.mu.Lock()
		n, rerr := e.removeUnusedLocked([]string{rel})
		e.mu.Unlock()
		removed, err = removed+n, firstErr(err, rerr)
	}
	n, serr := e.removeStaleWazeroDirs()
	return removed + n, firstErr(err, serr)
}

// listCache lists the cache directory dir, leaving out temporary files
// young enough to belong to a write in progress.
func (e *Engine) listCache(dir string) ([]fs.DirEntry, error) {
	entries, err := os.ReadDir(e.cachePath(dir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("engine: cache: list %s: %v", dir, unwrapPath(err))
	}
	out := entries[:0]
	for _, d := range entries {
		if strings.HasSuffix(d.Name(), ".tmp") || strings.HasPrefix(d.Name(), "tmp-") {
			if info, err := d.Info(); err != nil || time.Since(info.ModTime()) < tmpGrace {
				continue
			}
		}
		out = append(out, d)
	}
	return out, nil
}

// removeStaleWazeroDirs deletes the directories of other wazero versions
// (for this GOARCH and GOOS) and returns how many files they held.
func (e *Engine) removeStaleWazeroDirs() (removed int, err error) {
	if e.wazeroDir == "" {
		return 0, nil // which one is current is unknown
	}
	stale, _ := filepath.Glob(e.cachePath("wazero-*-" + runtime.GOARCH + "-" + runtime.GOOS))
	for _, dir := range stale {
		if filepath.Base(dir) == e.wazeroDir {
			continue
		}
		n := 0
		filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				n++
			}
			return nil
		})
		if rerr := os.RemoveAll(dir); rerr != nil {
			err = firstErr(err, fmt.Errorf("engine: cache: remove %s: %v", filepath.Base(dir), unwrapPath(rerr)))
			continue
		}
		removed += n
	}
	return removed, err
}

// unwrapPath drops the path from an os error, leaving the operation and
// the cause.
func unwrapPath(err error) error {
	var pe *fs.PathError
	var le *os.LinkError
	switch {
	case errors.As(err, &pe):
		return fmt.Errorf("%s: %w", pe.Op, pe.Err)
	case errors.As(err, &le):
		return fmt.Errorf("%s: %w", le.Op, le.Err)
	}
	return err
}

// isFSError reports whether err is a file system error (of wazero's cache).
func isFSError(err error) bool {
	var pe *fs.PathError
	var le *os.LinkError
	return errors.As(err, &pe) || errors.As(err, &le)
}

// scrub removes the cache directory's path from msg: wazero formats the
// errors of its file cache with their paths.
func (e *Engine) scrub(msg string) string {
	for _, dir := range []string{e.absCacheDir, e.cfg.CacheDir} {
		if dir != "" {
			msg = strings.ReplaceAll(msg, dir, "<cache>")
		}
	}
	return msg
}
