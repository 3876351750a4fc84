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
// the rewritten module is kept on disk beside wazero's cache, keyed by the
// upload's hash, the rewriter's version and the code limits it was checked
// against. A cache file is only a hint: one that does not read back whole,
// with the hash of its code, is ignored and rewritten.

// rewriterVersion changes whenever rewrite's output would.
const rewriterVersion = "wt-rewrite-3"

// rewriteCacheMagic starts every cache file.
const rewriteCacheMagic = "wasmtask-rewritten\n"

// rewriteHeader is the JSON line after the magic; the code follows.
type rewriteHeader struct {
	Globals       []string `json:"globals"`
	Start         bool     `json:"start"`
	Resettable    bool     `json:"resettable"`
	CompileMicros int      `json:"compile_micros"`
	CompileBytes  int64    `json:"compile_bytes"`
	CodeSHA256    string   `json:"code_sha256"`
}

// rewriteCached is rewrite, through the on-disk cache when the engine has one.
func (e *Engine) rewriteCached(sha string, wasm []byte) (*rewritten, error) {
	if e.cfg.CacheDir == "" {
		return rewrite(wasm, e.cfg.CodeLimits)
	}
	key := sha256.Sum256(fmt.Appendf(nil, "%s %s %+v", rewriterVersion, sha, e.cfg.CodeLimits))
	path := filepath.Join(e.cfg.CacheDir, "rewritten", hex.EncodeToString(key[:16]))
	if rw := readRewritten(path); rw != nil {
		return rw, nil
	}
	rw, err := rewrite(wasm, e.cfg.CodeLimits)
	if err == nil {
		writeRewritten(path, rw) // best effort: a failure only costs a rewrite
	}
	return rw, err
}

func readRewritten(path string) *rewritten {
	b, err := os.ReadFile(path)
	if err != nil || !bytes.HasPrefix(b, []byte(rewriteCacheMagic)) {
		return nil
	}
	b = b[len(rewriteCacheMagic):]
	nl := bytes.IndexByte(b, '\n')
	if nl < 0 {
		return nil
	}
	var h rewriteHeader
	if json.Unmarshal(b[:nl], &h) != nil {
		return nil
	}
	code := b[nl+1:]
	if sum := sha256.Sum256(code); hex.EncodeToString(sum[:]) != h.CodeSHA256 {
		return nil
	}
	return &rewritten{code: code, globals: h.Globals, start: h.Start, resettable: h.Resettable,
		compileMicros: h.CompileMicros, compileBytes: h.CompileBytes}
}

func writeRewritten(path string, rw *rewritten) {
	sum := sha256.Sum256(rw.code)
	h, _ := json.Marshal(rewriteHeader{Globals: rw.globals, Start: rw.start, Resettable: rw.resettable,
		CompileMicros: rw.compileMicros, CompileBytes: rw.compileBytes, CodeSHA256: hex.EncodeToString(sum[:])})
	if os.MkdirAll(filepath.Dir(path), 0o700) != nil {
		return
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "tmp-")
	if err != nil {
		return
	}
	_, err = tmp.WriteString(rewriteCacheMagic)
	if err == nil {
		_, err = tmp.Write(append(h, '\n'))
	}
	if err == nil {
		_, err = tmp.Write(rw.code)
	}
	if cerr := tmp.Close(); err == nil && cerr == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
}
