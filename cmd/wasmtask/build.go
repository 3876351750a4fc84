package main

// Building a webtask from source: detect the language of a file or folder,
// find its toolchain and the guest SDK, build a module in a temporary
// folder. The flags are the ones guests/Makefile uses for the examples.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Languages a webtask can be written in, as detected and as `new` names them.
const (
	langWasm = "wasm"
	langJS   = "javascript"
	langGo   = "go"
	langRust = "rust"
	langC    = "c"
	langAS   = "assemblyscript"
	langWAT  = "wat"
)

// errToolchain is a compiler that is not installed; the message names the
// package to install.
var errToolchain = errors.New("toolchain missing")

// source is what `create` and `dev` were given.
type source struct {
	path  string // as given, made absolute
	dir   bool
	lang  string
	entry string // the file to compile (folders: the detected main file)
}

// code is a built webtask ready to upload.
type code struct {
	bytes []byte
	js    bool
}

var extLang = map[string]string{
	".wasm": langWasm, ".js": langJS, ".mjs": langJS, ".cjs": langJS, ".go": langGo, ".rs": langRust,
	".c": langC, ".ts": langAS, ".wat": langWAT,
}

// detect tells the language of a file (by its extension) or a folder (by
// its files).
func detect(path string) (*source, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	st, err := os.Stat(abs)
	if err != nil {
		return nil, err
	}
	s := &source{path: abs, dir: st.IsDir()}
	if !s.dir {
		s.lang, s.entry = extLang[strings.ToLower(filepath.Ext(abs))], abs
		if s.lang == "" {
			return nil, usagef("cannot tell the language of %s: want .wasm, .js, .go, .rs, .c, .ts or .wat, or a folder", path)
		}
		return s, nil
	}
	has := func(name string) bool { _, err := os.Stat(filepath.Join(abs, name)); return err == nil }
	glob := func(pattern string) []string {
		m, _ := filepath.Glob(filepath.Join(abs, pattern))
		var out []string
		for _, f := range m {
			if b := filepath.Base(f); b != "wasmtask.rs" && b != "wasmtask.ts" && b != "wasmtask.c" {
				out = append(out, f)
			}
		}
		sort.Strings(out)
		return out
	}
	pick := func(names []string, found []string) string {
		for _, n := range names {
			if has(n) {
				return filepath.Join(abs, n)
			}
		}
		if len(found) == 1 {
			return found[0]
		}
		return ""
	}
	switch {
	case has("go.mod") || len(glob("*.go")) > 0:
		s.lang, s.entry = langGo, abs
	case has("Cargo.toml") || len(glob("*.rs")) > 0 || len(glob("src/*.rs")) > 0:
		s.lang = langRust
		s.entry = pick([]string{"src/lib.rs", "lib.rs", "src/main.rs", "main.rs"}, append(glob("*.rs"), glob("src/*.rs")...))
	case len(glob("*.c")) > 0:
		s.lang, s.entry = langC, abs
	case len(glob("*.ts")) > 0 || len(glob("assembly/*.ts")) > 0:
		s.lang = langAS
		s.entry = pick([]string{"assembly/index.ts", "index.ts"}, append(glob("*.ts"), glob("assembly/*.ts")...))
	case len(glob("*.wat")) > 0:
		s.lang, s.entry = langWAT, pick([]string{"main.wat", "webtask.wat"}, glob("*.wat"))
	case len(glob("*.js")) > 0:
		s.lang, s.entry = langJS, pick([]string{"index.js", "webtask.js"}, glob("*.js"))
	case len(glob("*.wasm")) > 0:
		s.lang, s.entry = langWasm, pick(nil, glob("*.wasm"))
	default:
		return nil, usagef("cannot tell the language of folder %s: no .go, .rs, .c, .ts, .wat, .js or .wasm file in it", path)
	}
	if s.entry == "" {
		return nil, usagef("folder %s holds several %s files and none is the main one (name it %s)", path, s.lang, mainFileHint[s.lang])
	}
	return s, nil
}

var mainFileHint = map[string]string{
	langRust: "src/lib.rs or lib.rs", langAS: "assembly/index.ts or index.ts", langWAT: "main.wat",
	langJS: "index.js", langWasm: "a single .wasm",
}

// defaultName is the webtask name a source gives: a file's name without
// extension, or its folder's name for main.go, index.ts and the like, or a
// folder's name.
func (s *source) defaultName() string {
	p := s.path
	if !s.dir {
		stem := strings.TrimSuffix(filepath.Base(p), filepath.Ext(p))
		switch stem {
		case "main", "index", "lib", "webtask", "mod":
			p = filepath.Dir(p)
			if filepath.Base(p) == "src" || filepath.Base(p) == "assembly" {
				p = filepath.Dir(p)
			}
		default:
			return stem
		}
	}
	return filepath.Base(p)
}

// builder builds sources; sdk is the guests/ folder (found lazily).
type builder struct {
	sdkFlag string
	sdk     string
}

// build compiles s into a module (or reads a .wasm or JavaScript file).
func (b *builder) build(ctx context.Context, s *source) (*code, error) {
	switch s.lang {
	case langWasm:
		wasm, err := os.ReadFile(s.entry)
		return &code{bytes: wasm}, err
	case langJS:
		js, err := os.ReadFile(s.entry)
		return &code{bytes: js, js: true}, err
	}
	tmp, err := os.MkdirTemp("", "wasmtask-build-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, "webtask.wasm")
	switch s.lang {
	case langWAT:
		err = b.buildWAT(ctx, s, out)
	case langC:
		err = b.buildC(ctx, s, out)
	case langRust:
		err = b.buildRust(ctx, s, tmp, out)
	case langAS:
		err = b.buildAS(ctx, s, tmp, out)
	case langGo:
		err = b.buildGo(ctx, s, tmp, out)
	}
	if err != nil {
		return nil, err
	}
	wasm, err := os.ReadFile(out)
	return &code{bytes: wasm}, err
}

// tool finds a program or fails naming what to install.
func tool(install string, candidates ...string) (string, error) {
	for _, c := range candidates {
		if c == "" {
			continue
		}
		if p, err := exec.LookPath(c); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w: %s not found; install it: %s", errToolchain, candidates[len(candidates)-1], install)
}

// sh runs a build step; its output becomes the error when it fails.
func sh(ctx context.Context, dir string, env []string, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(out.String())
		if len(msg) > 2000 {
			msg = msg[:2000] + "…"
		}
		return fmt.Errorf("%s failed: %v: %s", filepath.Base(name), err, msg)
	}
	return nil
}

// sdkDir finds the guest SDKs: --sdk, WASMTASK_SDK, else a guests/ folder
// above the working directory or above the executable.
func (b *builder) sdkDir() (string, error) {
	if b.sdk != "" {
		return b.sdk, nil
	}
	isSDK := func(d string) bool {
		_, err := os.Stat(filepath.Join(d, "c", "wasmtask.h"))
		return err == nil
	}
	if d := first(b.sdkFlag, os.Getenv("WASMTASK_SDK")); d != "" {
		if !isSDK(d) {
			return "", fmt.Errorf("%s is not the wasmtask guests/ folder (no c/wasmtask.h in it)", d)
		}
		b.sdk, _ = filepath.Abs(d)
		return b.sdk, nil
	}
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if exe, err := os.Executable(); err == nil {
		if exe, err = filepath.EvalSymlinks(exe); err == nil {
			starts = append(starts, filepath.Dir(exe))
		}
	}
	for _, d := range starts {
		for {
			if g := filepath.Join(d, "guests"); isSDK(g) {
				b.sdk = g
				return g, nil
			}
			parent := filepath.Dir(d)
			if parent == d {
				break
			}
			d = parent
		}
	}
	return "", errors.New("the wasmtask guest SDK (the guests/ folder of the wasmtask repository) was not found above this folder " +
		"or the wasmtask binary: pass --sdk PATH/TO/guests or set WASMTASK_SDK")
}

func (b *builder) buildWAT(ctx context.Context, s *source, out string) error {
	w2w, err := tool("apt-get install wabt", "wat2wasm")
	if err != nil {
		return err
	}
	return sh(ctx, filepath.Dir(s.entry), nil, w2w, "-o", out, s.entry)
}

func (b *builder) buildC(ctx context.Context, s *source, out string) error {
	const install = "apt-get install clang-14 lld-14 wasi-libc libclang-rt-14-dev-wasm32"
	clang, err := tool(install, os.Getenv("CLANG"), "clang-14")
	if err != nil {
		return err
	}
	if _, err := tool(install, "wasm-ld-14", "wasm-ld"); err != nil {
		return err
	}
	dir, files := filepath.Dir(s.entry), []string{s.entry}
	if s.dir {
		dir = s.path
		files, _ = filepath.Glob(filepath.Join(dir, "*.c"))
	}
	args := []string{"--target=wasm32-wasi", "-mexec-model=reactor", "-Os", "-std=c11", "-D_GNU_SOURCE", "-Wall", "-Wextra", "-I" + dir}
	if _, err := os.Stat(filepath.Join(dir, "wasmtask.c")); err != nil {
		sdk, err := b.sdkDir()
		if err != nil {
			return err
		}
		args = append(args, "-I"+filepath.Join(sdk, "c"))
		files = append(files, filepath.Join(sdk, "c", "wasmtask.c"))
	}
	args = append(append(append(args, "-o", out), files...), "-Wl,--strip-all", "-Wl,--stack-first")
	return sh(ctx, dir, nil, clang, args...)
}

// rustc finds a rustc with the standard library for WASI: $RUSTC, Debian's
// /usr/bin/rustc (the rustup one often has no wasm target), then PATH.
func rustc() (path, target string, err error) {
	const install = "apt-get install rustc libstd-rust-dev-wasm32 (or: rustup target add wasm32-wasip1)"
	var cands []string
	for _, c := range []string{os.Getenv("RUSTC"), "/usr/bin/rustc", "rustc"} {
		if c == "" {
			continue
		}
		if p, err := exec.LookPath(c); err == nil {
			cands = append(cands, p)
		}
	}
	if len(cands) == 0 {
		return "", "", fmt.Errorf("%w: rustc not found; install it: %s", errToolchain, install)
	}
	for _, p := range cands {
		out, err := exec.Command(p, "--print", "sysroot").Output()
		if err != nil {
			continue
		}
		root := strings.TrimSpace(string(out))
		for _, t := range []string{"wasm32-wasip1", "wasm32-wasi"} {
			if _, err := os.Stat(filepath.Join(root, "lib", "rustlib", t, "lib")); err == nil {
				return p, t, nil
			}
		}
	}
	return "", "", fmt.Errorf("%w: no rustc has the wasm32-wasip1 (or wasm32-wasi) standard library; install it: %s", errToolchain, install)
}

// sdkImport finds where an entry file expects the SDK: the path of
// #[path = "…"] mod wasmtask; (Rust) or from "…/wasmtask" (AssemblyScript),
// relative to the entry's folder.
var (
	rustModRE = regexp.MustCompile(`(?m)^\s*(?:#\[path\s*=\s*"([^"]+)"\]\s*)?(?:pub\s+)?mod\s+wasmtask\s*;`)
	asImpRE   = regexp.MustCompile(`from\s*["'](\.{1,2}/(?:[^"']*/)?wasmtask)["']`)
)

// stage copies a source into tmp/w/p (two levels down, so that an SDK path
// with ../ stays inside tmp) and returns the copied entry.
func stage(s *source, tmp string) (string, error) {
	root := filepath.Join(tmp, "w", "p")
	if !s.dir {
		if err := copyFile(s.entry, filepath.Join(root, filepath.Base(s.entry))); err != nil {
			return "", err
		}
		return filepath.Join(root, filepath.Base(s.entry)), nil
	}
	err := filepath.WalkDir(s.path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(s.path, p)
		if d.IsDir() {
			switch d.Name() {
			case "node_modules", "target", "build", ".git":
				if rel != "." {
					return filepath.SkipDir
				}
			}
			return nil
		}
		if d.Type().IsRegular() {
			return copyFile(p, filepath.Join(root, rel))
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	rel, _ := filepath.Rel(s.path, s.entry)
	return filepath.Join(root, rel), nil
}

func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	return os.WriteFile(to, b, 0o644)
}

// placeSDK writes the SDK file where entry expects it (rel, relative to its
// folder) unless a file is there already, and returns that path.
func (b *builder) placeSDK(entry, rel, sdkFile string) (string, error) {
	want := filepath.Join(filepath.Dir(entry), rel)
	if _, err := os.Stat(want); err == nil {
		return want, nil
	}
	sdk, err := b.sdkDir()
	if err != nil {
		return "", err
	}
	return want, copyFile(filepath.Join(sdk, sdkFile), want)
}

func (b *builder) buildRust(ctx context.Context, s *source, tmp, out string) error {
	rc, target, err := rustc()
	if err != nil {
		return err
	}
	entry, err := stage(s, tmp)
	if err != nil {
		return err
	}
	src, _ := os.ReadFile(entry)
	if m := rustModRE.FindSubmatch(src); m != nil {
		rel := "wasmtask.rs" // in a crate root, mod wasmtask; is its sibling
		if len(m[1]) > 0 {
			rel = string(m[1])
		}
		if _, err := b.placeSDK(entry, rel, filepath.Join("rust", "wasmtask.rs")); err != nil {
			return err
		}
	}
	crate := strings.NewReplacer("-", "_", ".", "_").Replace(s.defaultName())
	return sh(ctx, filepath.Dir(entry), nil, rc, "--edition", "2021", "--target", target, "-C", "opt-level=s", "-C", "panic=abort",
		"-C", "lto", "-C", "codegen-units=1", "-C", "strip=symbols", "-C", "link-arg=-zstack-size=65536",
		"--crate-type", "cdylib", "--crate-name", crate, "-o", out, entry)
}

func (b *builder) buildAS(ctx context.Context, s *source, tmp, out string) error {
	node, err := tool("apt-get install nodejs npm", "node")
	if err != nil {
		return err
	}
	_ = node
	entry, err := stage(s, tmp)
	if err != nil {
		return err
	}
	src, _ := os.ReadFile(entry)
	m := asImpRE.FindSubmatch(src)
	if m == nil {
		return fmt.Errorf("%s does not import the SDK (import { … } from \"./wasmtask\")", s.entry)
	}
	sdkFile, err := b.placeSDK(entry, string(m[1])+".ts", filepath.Join("assemblyscript", "assembly", "wasmtask.ts"))
	if err != nil {
		return err
	}
	asc := ""
	if sdk, err := b.sdkDir(); err == nil {
		asc = filepath.Join(sdk, "assemblyscript", "node_modules", ".bin", "asc")
		if _, err := os.Stat(asc); err != nil {
			asc = ""
		}
	}
	if asc == "" {
		if asc, err = exec.LookPath("asc"); err != nil {
			return fmt.Errorf("%w: the AssemblyScript compiler (asc) not found; install it: apt-get install nodejs npm, then npm ci in the SDK's guests/assemblyscript (or npm install -g assemblyscript)", errToolchain)
		}
	}
	// asc names functions by path from its working folder: run it beside
	// the SDK so that the abort handler is wasmtask/wtAbort.
	cwd := filepath.Dir(sdkFile)
	relEntry, _ := filepath.Rel(cwd, entry)
	abort := strings.TrimSuffix(filepath.Base(sdkFile), ".ts") + "/wtAbort"
	return sh(ctx, cwd, nil, asc, relEntry, "-o", out, "-O3", "--runtime", "minimal", "--exportStart", "_initialize", "--use", "abort="+abort)
}

// buildGo builds a Go webtask as a wasip1 reactor. A package inside a
// module (a go.mod in its folder or above) builds there; a lone main.go
// builds in a temporary module that points at the SDK's module.
func (b *builder) buildGo(ctx context.Context, s *source, tmp, out string) error {
	goBin, err := tool("apt-get install golang-go (Go 1.21 or later; or https://go.dev/dl)", "go")
	if err != nil {
		return err
	}
	dir := s.path
	if !s.dir {
		dir = filepath.Dir(s.entry)
	}
	env := []string{"GOOS=wasip1", "GOARCH=wasm"}
	args := []string{"build", "-buildmode=c-shared", "-trimpath", "-ldflags=-s -w", "-o", out, "."}
	if !inModule(dir) {
		sdk, err := b.sdkDir()
		if err != nil {
			return err
		}
		repo := filepath.Dir(sdk)
		mod := filepath.Join(tmp, "mod")
		files := []string{s.entry}
		if s.dir {
			files, _ = filepath.Glob(filepath.Join(dir, "*.go"))
		}
		for _, f := range files {
			if err := copyFile(f, filepath.Join(mod, filepath.Base(f))); err != nil {
				return err
			}
		}
		gomod := "module webtask\n\ngo 1.21\n\nrequire github.com/wasmtask/wasmtask v0.0.0\n\nreplace github.com/wasmtask/wasmtask => " + repo + "\n"
		if err := os.WriteFile(filepath.Join(mod, "go.mod"), []byte(gomod), 0o644); err != nil {
			return err
		}
		if sum, err := os.ReadFile(filepath.Join(repo, "go.sum")); err == nil {
			_ = os.WriteFile(filepath.Join(mod, "go.sum"), sum, 0o644)
		}
		dir, env = mod, append(env, "GOFLAGS=-mod=mod")
	}
	return sh(ctx, dir, env, goBin, args...)
}

// inModule reports whether dir has a go.mod in it or above it.
func inModule(dir string) bool {
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return false
		}
		dir = parent
	}
}
