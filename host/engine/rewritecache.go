package engine

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// A restart compiles nothing (wazero's compilation cache holds the machine
// code), but the rewrite would run again: 0.5 ms for a C guest, 12 ms for
// a 3 MB Go one, most of what the first request after a restart costs. So
// the rewritten module is kept on disk beside wazero's cache (cache.go
// describes the layout), keyed by the upload's hash, the rewriter's version
// and the code limits it was checked against. A cache file is only a hint:
// one that does not read back whole, with its digest, is ignored and
// rewritten.

// rewriterVersion changes whenever rewrite's output would.
const rewriterVersion = "wt-rewrite-4"

// rewriteCacheMagic starts every cache file; it changes with the format.
//
// Format 2: the magic, a JSON header line (rewriteHeader), the code, then
// the SHA-256 of all that (32 bytes), so that a damaged header is caught as
// well as damaged code. Files of format 1 (the code's digest in the header)
// fail the magic and are rewritten.
const rewriteCacheMagic = "wasmtask-rewritten-2\n"

// rewriteHeader is the JSON line after the magic; the code follows.
type rewriteHeader struct {
	// Module is the SHA-256 of the upload the code was rewritten from.
	Module           string   `json:"module"`
	Globals          []string `json:"globals"`
	Start            bool     `json:"start"`
	Resettable       bool     `json:"resettable"`
	CompileMicros    int      `json:"compile_micros"`
	CompileBytes     int64    `json:"compile_bytes"`
	InterpretedBytes int64    `json:"interpreted_bytes"`
}

// rewrittenName is the name of sha's file under rewritten/.
func (e *Engine) rewrittenName(sha string) string {
	key := sha256.Sum256(fmt.Appendf(nil, "%s %s %+v", rewriterVersion, sha, e.cfg.CodeLimits))
	return hex.EncodeToString(key[:16])
}

// rewriteCached is rewrite, through the on-disk cache when the engine has
// one; name is the cache file's (rewrittenName).
func (e *Engine) rewriteCached(sha, name string, wasm []byte) (*rewritten, error) {
	if e.cfg.CacheDir == "" {
		return rewrite(wasm, e.cfg.CodeLimits)
	}
	path := e.cachePath(filepath.Join(rewrittenDir, name))
	if rw := readRewritten(path, sha); rw != nil {
		return rw, nil
	}
	rw, err := rewrite(wasm, e.cfg.CodeLimits)
	if err == nil {
		writeRewritten(path, sha, rw) // best effort: a failure only costs a rewrite
	}
	return rw, err
}

// readRewritten reads the cache file at path, nil unless it is whole and
// holds the rewrite of sha.
func readRewritten(path, sha string) *rewritten {
	b, err := os.ReadFile(path)
	if err != nil || len(b) < len(rewriteCacheMagic)+sha256.Size || !bytes.HasPrefix(b, []byte(rewriteCacheMagic)) {
		return nil
	}
	b, digest := b[:len(b)-sha256.Size], b[len(b)-sha256.Size:]
	if sum := sha256.Sum256(b); !bytes.Equal(sum[:], digest) {
		return nil
	}
	b = b[len(rewriteCacheMagic):]
	nl := bytes.IndexByte(b, '\n')
	if nl < 0 {
		return nil
	}
	var h rewriteHeader
	if json.Unmarshal(b[:nl], &h) != nil || h.Module != sha {
		return nil
	}
	return &rewritten{code: b[nl+1:], globals: h.Globals, start: h.Start, resettable: h.Resettable,
		compileMicros: h.CompileMicros, compileBytes: h.CompileBytes, interpretedBytes: h.InterpretedBytes}
}

func writeRewritten(path, sha string, rw *rewritten) {
	h, _ := json.Marshal(rewriteHeader{Module: sha, Globals: rw.globals, Start: rw.start, Resettable: rw.resettable,
		CompileMicros: rw.compileMicros, CompileBytes: rw.compileBytes, InterpretedBytes: rw.interpretedBytes})
	d := sha256.New()
	for _, p := range [][]byte{[]byte(rewriteCacheMagic), h, {'\n'}, rw.code} {
		d.Write(p)
	}
	writeAtomic(path, []byte(rewriteCacheMagic), h, []byte{'\n'}, rw.code, d.Sum(nil))
}
