package engine

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// The differential test of the rewriter: a small program generator turns
// arbitrary bytes into a valid module, which runs once as it is and twice
// rewritten: with yield refilling the budget as the host does, and with
// yield giving back a budget of 1. Whatever the module computes — results,
// traps, globals, memory, the calls it makes to the host — must be the
// same: the checks, the renumbering and the moved start function are
// invisible to the guest.
//
// The budget starts full, so a refill of 1 only matters once it is spent:
// the tiny-budget run first calls burn, which spends it without doing
// anything, and from then on every function entry yields (and every bulk
// operation of 16 bytes or more). Loop checks count in a local of their
// own up to the refill whatever yield returns; the generator sometimes puts
// dead code in the body of a long loop so that the count gets there, and
// the loop yields and resets its counter in the middle of the guest's work.
// The rewritten modules' runtime module provides what the rewriter imports:
// yield, and functions that trap if called (the call depth's overflow,
// which these shallow guests never reach).
//
// Generated modules import some of env.h (i32) -> i32, env.acc (i64) -> i64
// (a running checksum kept by the host) and env.touch () -> () (counts its
// calls, and is sometimes the start function), in any order, and define:
//
//   - run () -> i64 (defined function 0): random statements, then a checksum
//     of a call to every worker, every numeric global and some memory;
//   - sometimes a start function (defined function 1) setting a global;
//   - workers with i32/i64 parameters, each calling only workers of a higher
//     index; the highest ones form the pool that the table, ref.func and the
//     funcref globals refer to, and only functions below the pool use
//     call_indirect, so every call graph is acyclic but for recursive workers
//     (i32 depth, i64) -> i64, which clamp their depth and recurse at most
//     twice per call outside loops.
//
// Loops are counter-bounded (at most 1000 iterations, and the generator
// keeps an estimate of the work of every function so that nested loops and
// calls stay cheap); memory accesses are masked into the first page and
// bulk operations kept in bounds, except for rare deliberate traps (divisor
// zero, out of bounds, unreachable, indirect calls through a wrong slot),
// which must then trap the same way in both modules.

const (
	dgI32  = 0x7F
	dgI64  = 0x7E
	dgFref = 0x70
	dgF32  = 0x7D
	dgF64  = 0x7C

	dgMaxRecDepth = 5       // recursive workers clamp their depth to this
	dgWorkerCap   = 30_000  // estimated work of one worker
	dgRunCap      = 100_000 // estimated work of run's own statements
	dgStartCap    = 20_000
	dgCallCost    = 20
	dgHostCost    = 30
	dgMaxNodes    = 250 // expressions and statements per function
	dgAddrMask    = 0x7FFF
)

// dgSrc hands out the fuzz input as choices. Once the input is exhausted
// every choice is 0, which is always the simplest option, and rare events
// stop happening, so generation ends quickly on any input.
type dgSrc struct {
	b []byte
	i int
}

func (s *dgSrc) next() byte {
	if s.i >= len(s.b) {
		return 0
	}
	c := s.b[s.i]
	s.i++
	return c
}

func (s *dgSrc) done() bool { return s.i >= len(s.b) }

// intn chooses in [0, n).
func (s *dgSrc) intn(n int) int {
	if n <= 1 {
		return 0
	}
	v := int(s.next())
	if n > 256 {
		v = v<<8 | int(s.next())
	}
	return v % n
}

// rare is true with probability 1/n, never once the input is exhausted.
func (s *dgSrc) rare(n int) bool { return s.intn(n) == n-1 }

func (s *dgSrc) flip() bool { return s.intn(2) == 1 }

func (s *dgSrc) u64() uint64 {
	var v uint64
	for range 8 {
		v = v<<8 | uint64(s.next())
	}
	return v
}

type dgSig struct{ params, results string }

// Import signatures, by name in module env.
var dgImportSigs = map[string]dgSig{
	"h":     {"\x7F", "\x7F"},
	"acc":   {"\x7E", "\x7E"},
	"touch": {"", ""},
}

// dgSigs are the workers' signatures; dgRecSig the recursive workers'.
var (
	dgSigs = []dgSig{
		{"\x7F", "\x7F"},
		{"\x7E\x7F", "\x7E"},
		{"", "\x7F"},
		{"\x7F\x7F", "\x7F"},
		{"\x7E", "\x7E"},
		{"\x7F\x7E\x7F", "\x7E"},
		{"", "\x7E"},
	}
	dgRecSig = dgSig{"\x7F\x7E", "\x7E"}
)

type dgFunc struct {
	sig    dgSig
	rec    bool
	export string
	args   []uint64 // for the export's calls from Go
	locals []byte   // declared locals
	body   []byte   // instructions, up to and including the final end
	cost   int      // estimated work of a call
}

type dgGlobal struct {
	t      byte
	mut    bool
	init   int64
	ref    int // funcref: the function of the initialiser, -1 for null
	export string
	pad    bool // one of many globals that only push the others' indices up
}

type dgElem struct {
	flags  int // encoding, 0..7
	offset int
	funcs  []int // function indices, -1 for null (expression forms only)
}

type dgData struct {
	active   bool
	explicit bool // active with an explicit memory index (flags 2)
	offset   int
	bytes    []byte
}

type dgGen struct {
	s         *dgSrc
	types     []dgSig
	typeIdx   map[dgSig]int
	imports   []string // env functions, in import order
	funcs     []*dgFunc
	startDef  int // defined index of a defined start function, or -1
	burnDef   int // defined index of burn; the heavy function it calls is last
	start     int // function index of the start function, or -1
	poolFirst int // defined index of the first pool function
	globals   []dgGlobal
	startedG  int // the global the start function sets
	gf, gm    int // the immutable and the mutable funcref globals, or -1
	tableMin  int
	tableMax  int // 0: none
	memMin    int
	memMax    int
	tableInit []int // the table's contents after instantiation
	elems     []dgElem
	datas     []dgData
	expTable  bool
	expGF     bool
	names     bool
	custom    []byte
}

func (g *dgGen) typeOf(sig dgSig) int {
	if i, ok := g.typeIdx[sig]; ok {
		return i
	}
	g.types = append(g.types, sig)
	g.typeIdx[sig] = len(g.types) - 1
	return len(g.types) - 1
}

func (g *dgGen) abs(def int) int { return len(g.imports) + def }

func (g *dgGen) imp(name string) int {
	for i, n := range g.imports {
		if n == name {
			return i
		}
	}
	return -1
}

// pool returns the function indices the table and references may hold.
func (g *dgGen) pool() []int {
	var p []int
	for d := g.poolFirst; d < g.burnDef; d++ {
		p = append(p, g.abs(d))
	}
	return p
}

func (g *dgGen) maxPoolCost() int {
	m := 0
	for d := g.poolFirst; d < g.burnDef; d++ {
		m = max(m, g.funcs[d].cost)
	}
	return m
}

func (g *dgGen) sigOf(fn int) dgSig {
	if fn < len(g.imports) {
		return dgImportSigs[g.imports[fn]]
	}
	return g.funcs[fn-len(g.imports)].sig
}

func (g *dgGen) konstVal(t byte) int64 {
	s := g.s
	var v int64
	switch s.intn(7) {
	case 0:
		v = int64(s.intn(16))
	case 1:
		v = -1
	case 2:
		v = int64(s.intn(256)) - 128
	case 3:
		v = math.MinInt64
		if t == dgI32 {
			v = math.MinInt32
		}
	case 4:
		v = math.MaxInt64
		if t == dgI32 {
			v = math.MaxInt32
		}
	default:
		v = int64(s.u64())
	}
	if t == dgI32 {
		v = int64(int32(v))
	}
	return v
}

func (g *dgGen) konst(t byte) []byte {
	if t == dgI32 {
		return appendS64([]byte{0x41}, g.konstVal(t))
	}
	return appendS64([]byte{0x42}, g.konstVal(t))
}

func dgI32Const(v int) []byte { return appendS64([]byte{0x41}, int64(int32(v))) }

func dgU(b []byte, v int) []byte { return appendU32(b, uint32(v)) }

func dgCat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// dgCvt converts the value on the stack from one integer type to another.
func dgCvt(from, to byte, signed bool) []byte {
	switch {
	case from == to:
		return nil
	case to == dgI64 && signed:
		return []byte{0xAC}
	case to == dgI64:
		return []byte{0xAD}
	}
	return []byte{0xA7}
}

// dgGenerate builds a module from in.
func dgGenerate(in []byte) *dgGen {
	s := &dgSrc{b: in}
	g := &dgGen{s: s, typeIdx: map[dgSig]int{}, startDef: -1, start: -1, gf: -1, gm: -1}

	// Sometimes, indices of two LEB128 bytes: unused types before the others
	// (and the rewriter's yield type), functions that do nothing before the
	// workers (whose renumbering then crosses 128), globals before the
	// others (and the rewriter's).
	if s.rare(6) {
		for i := range 64 + s.intn(70) {
			g.typeOf(dgSig{strings.Repeat("\x7E", i), "\x7F\x7F\x7F"})
		}
	}
	padFuncs := s.rare(6)
	var padGlobals []dgGlobal
	if s.rare(6) {
		for range 126 + s.intn(6) {
			padGlobals = append(padGlobals, dgGlobal{t: dgI32, init: g.konstVal(dgI32), ref: -1, pad: true})
		}
	}

	// Imports: usually env.h, sometimes env.acc and env.touch, any order.
	if !s.rare(8) {
		g.imports = append(g.imports, "h")
	}
	if s.flip() {
		g.imports = append(g.imports, "acc")
	}
	if s.intn(3) == 2 {
		g.imports = append(g.imports, "touch")
	}
	for i := len(g.imports) - 1; i > 0; i-- {
		j := s.intn(i + 1)
		g.imports[i], g.imports[j] = g.imports[j], g.imports[i]
	}
	for _, name := range g.imports {
		g.typeOf(dgImportSigs[name])
	}

	// Defined functions: run, the start function, the workers.
	g.funcs = append(g.funcs, &dgFunc{sig: dgSig{"", "\x7E"}, export: "run"})
	switch s.intn(3) {
	case 1:
		g.startDef = 1
	case 2:
		if t := g.imp("touch"); t >= 0 && s.flip() {
			g.start = t
		} else {
			g.startDef = 1
		}
	}
	if g.startDef >= 0 {
		g.funcs = append(g.funcs, &dgFunc{sig: dgSig{"", ""}})
		g.start = g.abs(g.startDef)
	}
	if padFuncs {
		for range 126 - len(g.imports) - len(g.funcs) + s.intn(4) {
			g.funcs = append(g.funcs, &dgFunc{sig: dgSig{"", ""}, body: []byte{0x0B}})
		}
	}
	firstWorker := len(g.funcs)
	workers := 1 + s.intn(6)
	for range workers {
		f := &dgFunc{sig: dgSigs[s.intn(len(dgSigs))]}
		if s.rare(5) {
			f.sig, f.rec = dgRecSig, true
		}
		g.funcs = append(g.funcs, f)
	}
	g.poolFirst = len(g.funcs) - 1 - s.intn(min(3, workers))
	g.burnDef = len(g.funcs)
	g.funcs = append(g.funcs, &dgFunc{sig: dgSig{"\x7F", ""}, export: "burn"}, &dgFunc{sig: dgSig{"", ""}})
	for d, f := range g.funcs {
		g.typeOf(f.sig)
		if d >= firstWorker && d < g.burnDef && s.flip() {
			f.export = fmt.Sprintf("e%d", d)
			for i := 0; i < len(f.sig.params); i++ {
				v := g.konstVal(f.sig.params[i])
				if f.sig.params[i] == dgI32 {
					f.args = append(f.args, uint64(uint32(v)))
				} else {
					f.args = append(f.args, uint64(v))
				}
			}
		}
	}
	pool := g.pool()

	// Globals: numeric ones (the start function's flag among them) and
	// funcref ones, in a random order.
	var gl []dgGlobal
	for range 1 + s.intn(5) {
		t := byte(dgI32)
		if s.flip() {
			t = dgI64
		}
		gl = append(gl, dgGlobal{t: t, mut: !s.rare(3), init: g.konstVal(t), ref: -1})
	}
	gl = append(gl, dgGlobal{t: dgI32, mut: true, ref: -1, export: "started"})
	if !s.rare(4) {
		gl = append(gl, dgGlobal{t: dgFref, ref: pool[s.intn(len(pool))], export: "gf"})
	}
	if s.flip() {
		ref := -1
		if s.flip() {
			ref = pool[s.intn(len(pool))]
		}
		gl = append(gl, dgGlobal{t: dgFref, mut: true, ref: ref, export: "gm"})
	}
	for i := len(gl) - 1; i > 0; i-- {
		j := s.intn(i + 1)
		gl[i], gl[j] = gl[j], gl[i]
	}
	gl = append(padGlobals, gl...)
	for i := range gl {
		switch gl[i].export {
		case "started":
			g.startedG = i
		case "gf":
			g.gf = i
		case "gm":
			g.gm = i
		}
		if gl[i].t != dgFref && !gl[i].pad {
			gl[i].export = fmt.Sprintf("g%d", i)
		} else {
			gl[i].export = ""
		}
	}
	g.globals = gl
	g.expGF = g.gf >= 0 && s.flip()

	// The table, its segments, the memory and its data.
	g.tableMin = 4 << s.intn(3)
	if s.flip() {
		g.tableMax = g.tableMin + s.intn(8)
	}
	g.expTable = s.flip()
	g.memMin = 1 + s.intn(2)
	g.memMax = g.memMin + s.intn(8)
	g.tableInit = make([]int, g.tableMin)
	for i := range g.tableInit {
		g.tableInit[i] = -1
	}
	var elems []dgElem
	for range 1 + s.intn(2) {
		e := dgElem{flags: 2 * s.intn(4), offset: s.intn(g.tableMin)}
		n := 1 + s.intn(min(5, g.tableMin-e.offset))
		for range n {
			fn := pool[s.intn(len(pool))]
			if e.flags >= 4 && s.rare(4) {
				fn = -1
			}
			e.funcs = append(e.funcs, fn)
		}
		elems = append(elems, e)
	}
	for range s.intn(3) {
		e := dgElem{flags: 1 + 4*s.intn(2)}
		for range 1 + s.intn(4) {
			fn := pool[s.intn(len(pool))]
			if e.flags == 5 && s.rare(4) {
				fn = -1
			}
			e.funcs = append(e.funcs, fn)
		}
		elems = append(elems, e)
	}
	decl := dgElem{flags: 3 + 4*s.intn(2), funcs: pool}
	elems = append(elems, decl)
	for i := len(elems) - 1; i > 0; i-- {
		j := s.intn(i + 1)
		elems[i], elems[j] = elems[j], elems[i]
	}
	g.elems = elems
	for _, e := range elems { // active segments are applied in order
		if e.flags&1 == 0 {
			copy(g.tableInit[e.offset:], e.funcs)
		}
	}
	for range s.intn(3) {
		d := dgData{active: true, explicit: s.flip(), offset: s.intn(dgAddrMask)}
		for range 1 + s.intn(32) {
			d.bytes = append(d.bytes, s.next())
		}
		g.datas = append(g.datas, d)
	}
	for range s.intn(3) {
		d := dgData{}
		for range 1 + s.intn(64) {
			d.bytes = append(d.bytes, s.next())
		}
		g.datas = append(g.datas, d)
	}
	g.names = s.flip()
	if s.rare(4) {
		g.custom = []byte{byte(s.intn(256)), byte(s.intn(256))}
	}

	// Code, from the last function to the first, so that the work of every
	// callee is known when a call is generated.
	g.genBurn()
	for d := g.burnDef - 1; d >= firstWorker; d-- {
		g.genWorker(d)
	}
	if g.startDef >= 0 {
		g.genStart()
	}
	g.genRun(firstWorker)
	return g
}

type dgLabel struct {
	types  string // what a branch to it carries
	target bool   // the generator may branch to it
}

// dgFn generates one function's code.
type dgFn struct {
	g        *dgGen
	def      int
	f        *dgFunc
	locals   []byte // parameters, then declared locals
	ro       []bool // loop counters and the recursion depth are never written
	labels   []dgLabel
	indirect bool // may use call_indirect
	recLeft  int  // recursive calls still allowed
	loops    int  // loops around the code being generated
	nodes    int
}

func (g *dgGen) newFn(def int) *dgFn {
	f := g.funcs[def]
	c := &dgFn{g: g, def: def, f: f, locals: []byte(f.sig.params), indirect: def < g.poolFirst}
	c.ro = make([]bool, len(c.locals))
	c.labels = []dgLabel{{types: f.sig.results}}
	if g.s.rare(8) { // push the indices of the rewriter's locals past 127
		t := c.vt()
		for range 120 + g.s.intn(16) {
			c.newLocal(t, false)
		}
	}
	return c
}

func (c *dgFn) finish(code []byte, cost int) {
	c.f.locals = c.locals[len(c.f.sig.params):]
	c.f.body = append(code, 0x0B)
	c.f.cost = cost
}

func (c *dgFn) newLocal(t byte, ro bool) int {
	c.locals = append(c.locals, t)
	c.ro = append(c.ro, ro)
	return len(c.locals) - 1
}

// pickLocal returns a local of type t (a writable one if write), or -1.
func (c *dgFn) pickLocal(t byte, write bool) int {
	var cands []int
	for i, lt := range c.locals {
		if lt == t && !(write && c.ro[i]) {
			cands = append(cands, i)
		}
	}
	if len(cands) == 0 {
		return -1
	}
	return cands[c.g.s.intn(len(cands))]
}

func (c *dgFn) writable(t byte) int {
	if l := c.pickLocal(t, true); l >= 0 && !c.g.s.rare(6) {
		return l
	}
	return c.newLocal(t, false)
}

func (g *dgGen) pickGlobal(t byte, write bool) int {
	var cands []int
	for i, gl := range g.globals {
		if gl.t == t && (gl.mut || !write) {
			cands = append(cands, i)
		}
	}
	if len(cands) == 0 {
		return -1
	}
	return cands[g.s.intn(len(cands))]
}

func (c *dgFn) push(types string, target bool) {
	c.labels = append(c.labels, dgLabel{types, target})
}

func (c *dgFn) pop() { c.labels = c.labels[:len(c.labels)-1] }

// target returns the depth of a label the code may branch to, or -1.
func (c *dgFn) target() int {
	var cands []int
	for i, l := range c.labels {
		if l.target {
			cands = append(cands, len(c.labels)-1-i)
		}
	}
	if len(cands) == 0 {
		return -1
	}
	return cands[c.g.s.intn(len(cands))]
}

func (c *dgFn) vt() byte {
	if c.g.s.flip() {
		return dgI64
	}
	return dgI32
}

func (c *dgFn) blockType(b []byte, params, results string) []byte {
	return appendS64(b, int64(c.g.typeOf(dgSig{params, results})))
}

func (c *dgFn) leaf(t byte) []byte {
	switch c.g.s.intn(4) {
	case 1:
		if l := c.pickLocal(t, false); l >= 0 {
			return dgU([]byte{0x20}, l)
		}
	case 2:
		if gi := c.g.pickGlobal(t, false); gi >= 0 {
			return dgU([]byte{0x23}, gi)
		}
	}
	return c.g.konst(t)
}

// expr generates code pushing one value of type t, of about budget work
// at most.
func (c *dgFn) expr(t byte, depth, budget int) ([]byte, int) {
	s := c.g.s
	c.nodes++
	if depth <= 0 || budget < 24 || c.nodes > dgMaxNodes || s.done() {
		return c.leaf(t), 1
	}
	var code []byte
	var cost int
	switch s.intn(28) {
	case 25:
		code, cost = c.floatToInt(t, depth, budget)
	case 26:
		code, cost = c.vecToInt(t, depth, budget)
	case 1, 2, 3:
		code, cost = c.binop(t, depth, budget)
	case 4:
		code, cost = c.unop(t, depth, budget)
	case 5:
		code, cost = c.compare(t, depth, budget)
	case 6:
		if t == dgI32 {
			code, cost = c.expr(dgI64, depth-1, budget)
			code = append(code, 0xA7)
		} else {
			code, cost = c.expr(dgI32, depth-1, budget)
			code = append(code, dgCvt(dgI32, dgI64, s.flip())...)
		}
	case 7:
		code, cost = c.selectExpr(t, depth, budget)
	case 8:
		l := c.writable(t)
		code, cost = c.expr(t, depth-1, budget)
		code = dgU(append(code, 0x22), l)
	case 9:
		code, cost = c.load(t, depth, budget)
	case 10, 11:
		code, cost = c.call(t, depth, budget)
	case 12:
		code, cost = c.hostCall(t, depth, budget)
	case 13, 14:
		code, cost = c.callIndirect(t, depth, budget)
	case 15:
		code, cost = c.ifExpr(t, depth, budget)
	case 16:
		code, cost = c.paramBlock(t, depth, budget)
	case 17:
		code, cost = c.brIfExpr(t, depth, budget)
	case 18:
		code, cost = c.brTableExpr(t, depth, budget)
	case 19:
		code, cost = c.loopExpr(t, depth, budget)
	case 20:
		code, cost = c.sizeExpr(depth, budget)
		code = append(code, dgCvt(dgI32, t, false)...)
	case 21:
		code, cost = c.multiValue(depth, budget)
		code = append(code, dgCvt(dgI64, t, false)...)
	case 22:
		c.push(string(t), false)
		var st []byte
		st, cost = c.stmts(3, depth-1, budget/2)
		e, ce := c.expr(t, depth-1, budget-cost)
		c.pop()
		code, cost = dgCat([]byte{0x02, t}, st, e, []byte{0x0B}), cost+ce+1
	case 23:
		code, cost = c.recCall(t, depth, budget)
	case 24:
		code, cost = c.refExpr(depth, budget)
		code = append(code, 0xD1)
		code = append(code, dgCvt(dgI32, t, false)...)
	}
	if code == nil {
		return c.leaf(t), 1
	}
	return code, cost
}

var (
	dgBinops32 = []byte{0x6A, 0x6B, 0x6C, 0x71, 0x72, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x6D, 0x6E, 0x6F, 0x70}
	dgBinops64 = []byte{0x7C, 0x7D, 0x7E, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x7F, 0x80, 0x81, 0x82}
)

// simpleBinop returns a binary operator that cannot trap.
func (c *dgFn) simpleBinop(t byte) byte {
	i := c.g.s.intn(11)
	if t == dgI32 {
		return dgBinops32[i]
	}
	return dgBinops64[i]
}

func (c *dgFn) binop(t byte, depth, budget int) ([]byte, int) {
	s := c.g.s
	a, ca := c.expr(t, depth-1, budget/2)
	b, cb := c.expr(t, depth-1, budget-ca)
	i := s.intn(len(dgBinops32))
	op := dgBinops32[i]
	if t == dgI64 {
		op = dgBinops64[i]
	}
	if i >= 11 && !s.rare(16) { // a division: make the divisor positive, or risk a trap
		if t == dgI32 {
			b = append(appendS64(append(b, 0x41), dgAddrMask), 0x71, 0x41, 1, 0x72)
		} else {
			b = append(appendS64(append(b, 0x42), dgAddrMask), 0x83, 0x42, 1, 0x84)
		}
	}
	return dgCat(a, b, []byte{op}), ca + cb + 5
}

func (c *dgFn) unop(t byte, depth, budget int) ([]byte, int) {
	a, ca := c.expr(t, depth-1, budget)
	ops := []byte{0x67, 0x68, 0x69, 0x45, 0xC0, 0xC1}
	if t == dgI64 {
		ops = []byte{0x79, 0x7A, 0x7B, 0xC2, 0xC3, 0xC4}
	}
	return append(a, ops[c.g.s.intn(len(ops))]), ca + 1
}

func (c *dgFn) compare(t byte, depth, budget int) ([]byte, int) {
	s := c.g.s
	ot := c.vt()
	a, ca := c.expr(ot, depth-1, budget/2)
	var code []byte
	cost := ca + 1
	if s.rare(5) {
		code = append(a, map[byte]byte{dgI32: 0x45, dgI64: 0x50}[ot])
	} else {
		b, cb := c.expr(ot, depth-1, budget-ca)
		base := byte(0x46)
		if ot == dgI64 {
			base = 0x51
		}
		code, cost = dgCat(a, b, []byte{base + byte(s.intn(10))}), cost+cb
	}
	return append(code, dgCvt(dgI32, t, false)...), cost
}

func (c *dgFn) selectExpr(t byte, depth, budget int) ([]byte, int) {
	a, ca := c.expr(t, depth-1, budget/3)
	b, cb := c.expr(t, depth-1, budget/3)
	cond, cc := c.expr(dgI32, depth-1, budget/3)
	code := dgCat(a, b, cond)
	if c.g.s.flip() {
		code = append(code, 0x1C, 1, t)
	} else {
		code = append(code, 0x1B)
	}
	return code, ca + cb + cc + 1
}

// addr is an address in the first page but for rare deliberate traps.
func (c *dgFn) addr(depth, budget int) ([]byte, int) {
	e, ce := c.expr(dgI32, depth, budget)
	if c.g.s.rare(64) {
		return e, ce
	}
	return append(appendS64(append(e, 0x41), dgAddrMask), 0x71), ce + 2
}

func (c *dgFn) memarg(b []byte, maxAlign int) []byte {
	b = dgU(b, c.g.s.intn(maxAlign+1))
	return dgU(b, c.g.s.intn(256))
}

func (c *dgFn) load(t byte, depth, budget int) ([]byte, int) {
	a, ca := c.addr(depth-1, budget)
	type ld struct {
		op    byte
		align int
	}
	ops := []ld{{0x28, 2}, {0x2C, 0}, {0x2D, 0}, {0x2E, 1}, {0x2F, 1}}
	if t == dgI64 {
		ops = []ld{{0x29, 3}, {0x30, 0}, {0x31, 0}, {0x32, 1}, {0x33, 1}, {0x34, 2}, {0x35, 2}}
	}
	o := ops[c.g.s.intn(len(ops))]
	return c.memarg(append(a, o.op), o.align), ca + 2
}

// args generates the arguments of a call.
func (c *dgFn) args(params string, depth, budget int) ([]byte, int) {
	var code []byte
	cost := 0
	for i := 0; i < len(params); i++ {
		a, ca := c.expr(params[i], depth-1, budget/len(params))
		code, cost = append(code, a...), cost+ca
	}
	return code, cost
}

func (c *dgFn) call(t byte, depth, budget int) ([]byte, int) {
	var cands []int
	for d := c.def + 1; d < len(c.g.funcs); d++ {
		f := c.g.funcs[d]
		if len(f.sig.results) == 1 && f.cost+dgCallCost < budget {
			cands = append(cands, d)
		}
	}
	if len(cands) == 0 {
		return nil, 0
	}
	d := cands[c.g.s.intn(len(cands))]
	f := c.g.funcs[d]
	a, ca := c.args(f.sig.params, depth, (budget-f.cost-dgCallCost)/2)
	code := dgU(append(a, 0x10), c.g.abs(d))
	code = append(code, dgCvt(f.sig.results[0], t, c.g.s.flip())...)
	return code, f.cost + dgCallCost + ca
}

func (c *dgFn) recCall(t byte, depth, budget int) ([]byte, int) {
	if !c.f.rec || c.recLeft == 0 || c.loops > 0 {
		return nil, 0
	}
	c.recLeft--
	x, cx := c.expr(dgI64, depth-1, budget)
	code := dgCat([]byte{0x20, 0, 0x41, 1, 0x6B}, x)
	code = dgU(append(code, 0x10), c.g.abs(c.def))
	return append(code, dgCvt(dgI64, t, false)...), cx + dgCallCost
}

func (c *dgFn) hostCall(t byte, depth, budget int) ([]byte, int) {
	name := "h"
	if c.g.s.flip() {
		name = "acc"
	}
	fn := c.g.imp(name)
	if fn < 0 {
		return nil, 0
	}
	at := dgImportSigs[name].params[0]
	a, ca := c.expr(at, depth-1, budget-dgHostCost)
	code := dgU(append(a, 0x10), fn)
	return append(code, dgCvt(at, t, false)...), ca + dgHostCost
}

func (c *dgFn) callIndirect(t byte, depth, budget int) ([]byte, int) {
	s := c.g.s
	if !c.indirect || c.g.maxPoolCost()+dgCallCost > budget/2 {
		return nil, 0
	}
	var fn, slot int
	var sig dgSig
	var filled []int
	for i, f := range c.g.tableInit {
		if f >= 0 {
			filled = append(filled, i)
		}
	}
	var slotCode []byte
	var cs int
	if len(filled) > 0 && !s.rare(8) {
		slot = filled[s.intn(len(filled))]
		fn = c.g.tableInit[slot]
		slotCode = dgI32Const(slot)
	} else { // any slot: it may be null, or hold another type
		pool := c.g.pool()
		fn = pool[s.intn(len(pool))]
		slotCode, cs = c.expr(dgI32, depth-1, budget/4)
		slotCode = append(appendS64(append(slotCode, 0x41), int64(c.g.tableMin-1)), 0x71)
	}
	sig = c.g.sigOf(fn)
	if s.rare(16) {
		sig = dgSigs[s.intn(len(dgSigs))]
	}
	a, ca := c.args(sig.params, depth, budget/4)
	code := dgCat(a, slotCode, []byte{0x11})
	code = dgU(code, c.g.typeOf(sig))
	code = append(code, 0)
	code = append(code, dgCvt(sig.results[0], t, s.flip())...)
	return code, c.g.maxPoolCost() + dgCallCost + ca + cs
}

func (c *dgFn) ifExpr(t byte, depth, budget int) ([]byte, int) {
	cond, cc := c.expr(dgI32, depth-1, budget/4)
	c.push(string(t), false)
	a, ca := c.expr(t, depth-1, budget/3)
	b, cb := c.expr(t, depth-1, budget/3)
	c.pop()
	return dgCat(cond, []byte{0x04, t}, a, []byte{0x05}, b, []byte{0x0B}), cc + max(ca, cb) + 2
}

// paramBlock: a block or an if taking the value it transforms as a
// parameter (multi-value block types).
func (c *dgFn) paramBlock(t byte, depth, budget int) ([]byte, int) {
	x, cx := c.expr(t, depth-1, budget/4)
	tt := string(t)
	if c.g.s.flip() {
		c.push(tt, false)
		a, ca := c.expr(t, depth-1, budget/2)
		c.pop()
		code := c.blockType(append(x, 0x02), tt, tt)
		return dgCat(code, a, []byte{c.simpleBinop(t), 0x0B}), cx + ca + 2
	}
	cond, cc := c.expr(dgI32, depth-1, budget/4)
	c.push(tt, false)
	a, ca := c.expr(t, depth-1, budget/4)
	b, cb := c.expr(t, depth-1, budget/4)
	c.pop()
	code := c.blockType(append(dgCat(x, cond), 0x04), tt, tt)
	code = dgCat(code, a, []byte{c.simpleBinop(t), 0x05}, b, []byte{c.simpleBinop(t), 0x0B})
	return code, cx + cc + max(ca, cb) + 3
}

func (c *dgFn) brIfExpr(t byte, depth, budget int) ([]byte, int) {
	c.push(string(t), false)
	a, ca := c.expr(t, depth-1, budget/3)
	cond, cc := c.expr(dgI32, depth-1, budget/3)
	b, cb := c.expr(t, depth-1, budget/3)
	c.pop()
	return dgCat([]byte{0x02, t}, a, cond, []byte{0x0D, 0, 0x1A}, b, []byte{0x0B}), ca + cc + cb + 3
}

// brTableExpr: a br_table carrying a value out of nested blocks, each of
// which transforms it on the way out.
func (c *dgFn) brTableExpr(t byte, depth, budget int) ([]byte, int) {
	s := c.g.s
	n := 2 + s.intn(2)
	var code []byte
	for range n {
		code = append(code, 0x02, t)
		c.push(string(t), false)
	}
	v, cv := c.expr(t, depth-1, budget/(n+2))
	var idx []byte
	ci := 0
	if s.flip() {
		idx = dgI32Const(s.intn(n + 1))
	} else {
		idx, ci = c.expr(dgI32, depth-1, budget/(n+2))
	}
	code = dgCat(code, v, idx, []byte{0x0E})
	targets := s.intn(4)
	code = dgU(code, targets)
	for range targets + 1 { // the targets and the default
		code = dgU(code, s.intn(n))
	}
	code = append(code, 0x0B)
	c.pop()
	cost := cv + ci + 2
	for k := 1; k < n; k++ {
		e, ce := c.expr(t, depth-1, budget/(n+2))
		code = dgCat(code, e, []byte{c.simpleBinop(t), 0x0B})
		c.pop()
		cost += ce + 2
	}
	return code, cost
}

// loopExpr: a loop carrying an accumulator as its parameter.
func (c *dgFn) loopExpr(t byte, depth, budget int) ([]byte, int) {
	s := c.g.s
	ctr := c.newLocal(dgI32, true)
	init, ci := c.expr(t, depth-1, budget/4)
	c.loops++
	c.push(string(t), false)
	div := []int{4, 10, 100, 1000}[s.intn(4)]
	e, ce := c.expr(t, depth-1, budget/div)
	st, cs := c.stmts(2, depth-1, budget/div)
	c.pop()
	c.loops--
	iter := ce + cs + 10
	n := c.g.iterations(budget-ci, iter)
	code := dgU([]byte{0x41, 0, 0x21}, ctr)
	code = c.blockType(append(dgCat(code, init), 0x03), string(t), string(t))
	code = dgCat(code, e, []byte{c.simpleBinop(t)}, st, c.g.ballast(n))
	code = dgU(append(code, 0x20), ctr)
	code = dgU(append(code, 0x41, 1, 0x6A, 0x22), ctr)
	code = append(appendS64(append(code, 0x41), int64(n)), 0x49, 0x0D, 0, 0x0B)
	return code, ci + n*iter + 4
}

// ballast returns dead code to put in the body of a loop of n iterations,
// sometimes: a loop check charges a loop's counter for the size of its body
// at each iteration, and ballast makes it large enough for the counter to
// reach the refill, so that the loop yields and resets its counter.
func (g *dgGen) ballast(n int) []byte {
	if n < 100 || !g.s.rare(3) {
		return nil
	}
	size := min(48<<10, budgetRefill*(1+g.s.intn(3))/n)
	code := []byte{0x02, 0x40, 0x0C, 0}
	for len(code) < size {
		code = append(appendS64(append(code, 0x42), math.MinInt64), 0x1A)
	}
	return append(code, 0x0B)
}

// iterations chooses a loop's iteration count: at most 1000, and within
// budget for iterations costing iter each.
func (g *dgGen) iterations(budget, iter int) int {
	m := max(1, min(1000, budget/max(iter, 1)))
	switch g.s.intn(3) {
	case 0:
		return 1 + g.s.intn(min(m, 8))
	case 1:
		return 1 + g.s.intn(min(m, 100))
	}
	return 1 + g.s.intn(m)
}

// sizeExpr pushes an i32 from memory.size, memory.grow, table.size or
// table.grow.
func (c *dgFn) sizeExpr(depth, budget int) ([]byte, int) {
	s := c.g.s
	switch s.intn(4) {
	case 0:
		return []byte{0x3F, 0}, 1
	case 1:
		var n []byte
		if s.flip() {
			n = dgI32Const(s.intn(3))
		} else {
			n, _ = c.expr(dgI32, depth-1, budget/2)
			n = append(n, 0x41, 1, 0x71)
		}
		return append(n, 0x40, 0), 50
	case 2:
		return []byte{0xFC, 16, 0}, 1
	}
	r, cr := c.refExpr(depth, budget)
	return dgCat(r, dgI32Const(s.intn(3)), []byte{0xFC, 15, 0}), cr + 10
}

// multiValue: a block of two results, folded into an i64.
func (c *dgFn) multiValue(depth, budget int) ([]byte, int) {
	tmp := c.writable(dgI64)
	c.push("\x7F\x7E", false)
	a, ca := c.expr(dgI32, depth-1, budget/2)
	b, cb := c.expr(dgI64, depth-1, budget/2)
	c.pop()
	code := c.blockType([]byte{0x02}, "", "\x7F\x7E")
	code = dgCat(code, a, b, []byte{0x0B})
	code = dgU(append(code, 0x21), tmp)
	code = dgU(append(code, 0xAD, 0x20), tmp)
	return append(code, 0x85), ca + cb + 5
}

// refExpr pushes a funcref: null, a pool function, a funcref global, a
// table entry, or a choice between two.
func (c *dgFn) refExpr(depth, budget int) ([]byte, int) {
	s := c.g.s
	pool := c.g.pool()
	switch s.intn(6) {
	case 1, 2:
		return dgU([]byte{0xD2}, pool[s.intn(len(pool))]), 1
	case 3:
		gi := c.g.gf
		if s.flip() {
			gi = c.g.gm
		}
		if gi >= 0 {
			return dgU([]byte{0x23}, gi), 1
		}
	case 4:
		slot, cs := c.slot(depth, budget)
		return append(slot, 0x25, 0), cs + 1
	case 5:
		if depth > 0 {
			a, ca := c.refExpr(depth-1, budget/3)
			b, cb := c.refExpr(depth-1, budget/3)
			cond, cc := c.expr(dgI32, depth-1, budget/3)
			return dgCat(a, b, cond, []byte{0x1C, 1, dgFref}), ca + cb + cc + 1
		}
	}
	return []byte{0xD0, dgFref}, 1
}

// slot is an index into the table as it was instantiated.
func (c *dgFn) slot(depth, budget int) ([]byte, int) {
	if c.g.s.flip() {
		return dgI32Const(c.g.s.intn(c.g.tableMin)), 1
	}
	e, ce := c.expr(dgI32, depth-1, budget)
	return append(appendS64(append(e, 0x41), int64(c.g.tableMin-1)), 0x71), ce + 2
}

// length is the length of a bulk memory operation.
func (c *dgFn) length(depth, budget int) ([]byte, int) {
	s := c.g.s
	switch s.intn(5) {
	case 0:
		return dgI32Const(s.intn(17)), 1
	case 1:
		return dgI32Const(s.intn(64)), 1
	case 2:
		return dgI32Const(s.intn(4096)), 1
	}
	e, ce := c.expr(dgI32, depth-1, budget)
	if s.rare(64) {
		return e, ce
	}
	return append(e, 0x41, 0x3F, 0x71), ce + 2
}

// stmts generates a sequence of statements, sometimes ending in a branch,
// return or trap followed by dead code.
func (c *dgFn) stmts(most, depth, budget int) ([]byte, int) {
	s := c.g.s
	n := s.intn(most + 1)
	var code []byte
	cost := 0
	for i := range n {
		b, k := c.stmt(depth, (budget-cost)/(n-i))
		code, cost = append(code, b...), cost+k
	}
	if s.intn(12) == 11 {
		b, k := c.terminator(depth, budget-cost)
		code, cost = append(code, b...), cost+k
		if s.flip() {
			b, k := c.stmt(depth, budget-cost)
			code, cost = append(code, b...), cost+k
		}
	}
	return code, cost
}

func (c *dgFn) terminator(depth, budget int) ([]byte, int) {
	s := c.g.s
	switch s.intn(4) {
	case 0:
		if d := c.target(); d >= 0 {
			return dgU([]byte{0x0C}, d), 1
		}
	case 1:
		if d := c.target(); d >= 0 {
			idx, ci := c.expr(dgI32, depth-1, budget)
			if s.flip() {
				idx = append(idx, 0x41, 3, 0x71)
			}
			n := s.intn(4)
			code := dgU(append(idx, 0x0E), n)
			for range n {
				code = dgU(code, c.target())
			}
			return dgU(code, d), ci + 1
		}
	case 2:
		if len(c.f.sig.results) == 0 {
			return []byte{0x0F}, 1
		}
		e, ce := c.expr(c.f.sig.results[0], depth-1, budget)
		return append(e, 0x0F), ce + 1
	case 3:
		if s.rare(4) {
			return []byte{0x00}, 1
		}
	}
	return []byte{0x01}, 1
}

// stmt generates a statement, leaving the stack as it was.
func (c *dgFn) stmt(depth, budget int) ([]byte, int) {
	s := c.g.s
	c.nodes++
	if depth <= 0 || budget < 24 || c.nodes > dgMaxNodes || s.done() {
		t := c.vt()
		return dgU(append(c.g.konst(t), 0x21), c.writable(t)), 2
	}
	var code []byte
	var cost int
	switch s.intn(24) {
	case 0, 1:
		t := c.vt()
		l := c.writable(t)
		code, cost = c.expr(t, depth-1, budget)
		code = dgU(append(code, 0x21), l)
	case 2:
		if s.rare(4) && c.g.gm >= 0 {
			code, cost = c.refExpr(depth-1, budget)
			code = dgU(append(code, 0x24), c.g.gm)
		} else if gi := c.g.pickGlobal(c.vt(), true); gi >= 0 {
			code, cost = c.expr(c.g.globals[gi].t, depth-1, budget)
			code = dgU(append(code, 0x24), gi)
		}
	case 3:
		code, cost = c.store(depth, budget)
	case 4:
		if s.flip() {
			code, cost = c.vecStore(depth, budget)
		} else {
			code, cost = c.floatStore(depth, budget)
		}
	case 5:
		code, cost = c.expr(c.vt(), depth-1, budget)
		code = append(code, 0x1A)
	case 6, 7:
		cond, cc := c.expr(dgI32, depth-1, budget/4)
		c.push("", true)
		a, ca := c.stmts(3, depth-1, (budget-cc)/2)
		code = dgCat(cond, []byte{0x04, 0x40}, a)
		cost = cc + ca + 2
		if s.flip() {
			b, cb := c.stmts(3, depth-1, (budget-cc)/2)
			code = dgCat(code, []byte{0x05}, b)
			cost = cc + max(ca, cb) + 2
		}
		c.pop()
		code = append(code, 0x0B)
	case 8:
		c.push("", true)
		code, cost = c.stmts(4, depth-1, budget)
		c.pop()
		code = dgCat([]byte{0x02, 0x40}, code, []byte{0x0B})
	case 9, 10:
		code, cost = c.loop(depth, budget)
	case 11:
		code, cost = c.doWhile(depth, budget)
	case 12:
		if d := c.target(); d >= 0 {
			code, cost = c.expr(dgI32, depth-1, budget)
			code = dgU(append(code, 0x0D), d)
		}
	case 13, 14:
		code, cost = c.bulkMemory(depth, budget)
	case 15, 16:
		code, cost = c.tableOp(depth, budget)
	case 17:
		if t := c.g.imp("touch"); t >= 0 {
			code, cost = dgU([]byte{0x10}, t), dgHostCost
		} else if c.g.startDef > c.def && c.g.funcs[c.g.startDef].cost+dgCallCost < budget {
			code, cost = dgU([]byte{0x10}, c.g.start), c.g.funcs[c.g.startDef].cost+dgCallCost
		}
	case 18:
		if s.rare(4) { // a trap, when a value happens to be right
			e, ce := c.expr(dgI32, depth-1, budget)
			code = dgCat(e, c.g.konst(dgI32), []byte{0x46, 0x04, 0x40, 0x00, 0x0B})
			cost = ce + 4
		}
	case 19:
		code, cost = []byte{0x01}, 1
	default:
		code, cost = c.stmt(depth-1, budget)
	}
	if code == nil {
		return []byte{0x01}, 1
	}
	return code, cost
}

// floatToInt: a float computation, back to an integer.
func (c *dgFn) floatToInt(t byte, depth, budget int) ([]byte, int) {
	s := c.g.s
	ft := byte(dgF32)
	if s.flip() {
		ft = dgF64
	}
	f, cf := c.fexpr(ft, depth-1, budget)
	switch s.intn(4) {
	case 0: // reinterpret, when the widths match
		if t == dgI32 && ft == dgF32 {
			return append(f, 0xBC), cf + 1
		}
		if t == dgI64 && ft == dgF64 {
			return append(f, 0xBD), cf + 1
		}
	case 1: // compare
		g, cg := c.fexpr(ft, depth-1, budget)
		op := 0x5B + byte(s.intn(6))
		if ft == dgF64 {
			op = 0x61 + byte(s.intn(6))
		}
		return dgCat(f, g, []byte{op}, dgCvt(dgI32, t, false)), cf + cg + 1
	}
	sub := byte(s.intn(2)) // trunc_sat: i32 from f32 0, 1; from f64 2, 3; i64 4..7
	if ft == dgF64 {
		sub += 2
	}
	if t == dgI64 {
		sub += 4
	}
	return append(f, 0xFC, sub), cf + 1
}

// fexpr pushes a float of type ft.
func (c *dgFn) fexpr(ft byte, depth, budget int) ([]byte, int) {
	s := c.g.s
	f32 := ft == dgF32
	k := s.intn(7)
	if depth <= 0 || budget < 24 {
		k = 0
	}
	switch {
	case k == 1: // from an integer
		t := c.vt()
		e, ce := c.expr(t, depth-1, budget)
		var op byte
		switch {
		case f32 && t == dgI32:
			op = []byte{0xB2, 0xB3, 0xBE}[s.intn(3)] // convert s, u, reinterpret
		case f32:
			op = []byte{0xB4, 0xB5}[s.intn(2)]
		case t == dgI32:
			op = []byte{0xB7, 0xB8}[s.intn(2)]
		default:
			op = []byte{0xB9, 0xBA, 0xBF}[s.intn(3)]
		}
		return append(e, op), ce + 1
	case k == 2: // binary
		a, ca := c.fexpr(ft, depth-1, budget/2)
		b, cb := c.fexpr(ft, depth-1, budget/2)
		op := 0x92 + byte(s.intn(7))
		if !f32 {
			op = 0xA0 + byte(s.intn(7))
		}
		return dgCat(a, b, []byte{op}), ca + cb + 1
	case k == 3: // unary
		a, ca := c.fexpr(ft, depth-1, budget)
		op := 0x8B + byte(s.intn(7))
		if !f32 {
			op = 0x99 + byte(s.intn(7))
		}
		return append(a, op), ca + 1
	case k == 4: // the other width
		a, ca := c.fexpr(map[byte]byte{dgF32: dgF64, dgF64: dgF32}[ft], depth-1, budget)
		if f32 {
			return append(a, 0xB6), ca + 1
		}
		return append(a, 0xBB), ca + 1
	case k == 5:
		a, ca := c.addr(depth-1, budget)
		if f32 {
			return c.memarg(append(a, 0x2A), 2), ca + 2
		}
		return c.memarg(append(a, 0x2B), 3), ca + 2
	}
	// A constant: any bits, NaNs and bytes that look like opcodes included.
	n := 4
	code := []byte{0x43}
	if !f32 {
		n, code = 8, []byte{0x44}
	}
	for range n {
		code = append(code, s.next())
	}
	return code, 1
}

func (c *dgFn) floatStore(depth, budget int) ([]byte, int) {
	a, ca := c.addr(depth-1, budget/2)
	if c.g.s.flip() {
		f, cf := c.fexpr(dgF64, depth-1, budget/2)
		return c.memarg(dgCat(a, f, []byte{0x39}), 3), ca + cf + 1
	}
	f, cf := c.fexpr(dgF32, depth-1, budget/2)
	return c.memarg(dgCat(a, f, []byte{0x38}), 2), ca + cf + 1
}

// simd appends a SIMD instruction (its sub-opcode is a LEB128, of two bytes
// from 128 on).
func dgSIMD(b []byte, sub int) []byte { return dgU(append(b, 0xFD), sub) }

// vecToInt: a vector computation, back to an integer.
func (c *dgFn) vecToInt(t byte, depth, budget int) ([]byte, int) {
	s := c.g.s
	v, cv := c.vexpr(depth-1, budget)
	if t == dgI64 && s.flip() {
		return append(dgSIMD(v, 0x1D), byte(s.intn(2))), cv + 1 // i64x2.extract_lane
	}
	var code []byte
	switch s.intn(5) {
	case 0:
		code = append(dgSIMD(v, 0x1B), byte(s.intn(4))) // i32x4.extract_lane
	case 1:
		code = append(dgSIMD(v, 0x15+s.intn(2)), byte(s.intn(16))) // i8x16.extract_lane_s/u
	case 2:
		code = append(dgSIMD(v, 0x18+s.intn(2)), byte(s.intn(8))) // i16x8.extract_lane_s/u
	default: // any_true, i8x16.bitmask, i32x4.all_true, i32x4.bitmask
		code = dgSIMD(v, []int{0x53, 0x64, 0xA3, 0xA4}[s.intn(4)])
	}
	return append(code, dgCvt(dgI32, t, s.flip())...), cv + 1
}

// vexpr pushes a v128.
func (c *dgFn) vexpr(depth, budget int) ([]byte, int) {
	s := c.g.s
	k := s.intn(8)
	if depth <= 0 || budget < 24 {
		k = 0
	}
	switch {
	case k == 1: // splat
		if s.flip() {
			e, ce := c.expr(dgI32, depth-1, budget)
			return dgSIMD(e, 0x0F+s.intn(3)), ce + 1 // i8x16, i16x8, i32x4
		}
		e, ce := c.expr(dgI64, depth-1, budget)
		return dgSIMD(e, 0x12), ce + 1
	case k == 2: // load, or load and splat
		a, ca := c.addr(depth-1, budget)
		if s.flip() {
			return c.memarg(dgSIMD(a, 0), 4), ca + 2
		}
		sub := 7 + s.intn(4)
		return c.memarg(dgSIMD(a, sub), sub-7), ca + 2
	case k == 3: // binary: and, or, xor, i8x16.add, i32x4.add/mul, i64x2.add/mul
		a, ca := c.vexpr(depth-1, budget/2)
		b, cb := c.vexpr(depth-1, budget/2)
		return dgSIMD(dgCat(a, b), []int{0x4E, 0x50, 0x51, 0x6E, 0xAE, 0xB5, 0xCE, 0xD5}[s.intn(8)]), ca + cb + 1
	case k == 4: // i8x16.shuffle
		a, ca := c.vexpr(depth-1, budget/2)
		b, cb := c.vexpr(depth-1, budget/2)
		code := dgSIMD(dgCat(a, b), 0x0D)
		for range 16 {
			code = append(code, byte(s.intn(32)))
		}
		return code, ca + cb + 1
	case k == 5: // replace a lane
		v, cv := c.vexpr(depth-1, budget/2)
		if s.flip() {
			e, ce := c.expr(dgI32, depth-1, budget/2)
			return append(dgSIMD(dgCat(v, e), 0x1C), byte(s.intn(4))), cv + ce + 1
		}
		e, ce := c.expr(dgI64, depth-1, budget/2)
		return append(dgSIMD(dgCat(v, e), 0x1E), byte(s.intn(2))), cv + ce + 1
	case k == 6: // load a lane
		a, ca := c.addr(depth-1, budget/2)
		v, cv := c.vexpr(depth-1, budget/2)
		w := s.intn(4) // 8 << w bits
		code := c.memarg(dgSIMD(dgCat(a, v), 0x54+w), w)
		return append(code, byte(s.intn(16>>w))), ca + cv + 2
	case k == 7: // bitselect
		a, ca := c.vexpr(depth-1, budget/3)
		b, cb := c.vexpr(depth-1, budget/3)
		m, cm := c.vexpr(depth-1, budget/3)
		return dgSIMD(dgCat(a, b, m), 0x52), ca + cb + cm + 1
	}
	code := dgSIMD(nil, 0x0C) // v128.const
	for range 16 {
		code = append(code, s.next())
	}
	return code, 1
}

// vecStore stores a vector, or one of its lanes.
func (c *dgFn) vecStore(depth, budget int) ([]byte, int) {
	s := c.g.s
	a, ca := c.addr(depth-1, budget/2)
	v, cv := c.vexpr(depth-1, budget/2)
	if s.flip() {
		return c.memarg(dgSIMD(dgCat(a, v), 0x0B), 4), ca + cv + 1
	}
	w := s.intn(4)
	code := c.memarg(dgSIMD(dgCat(a, v), 0x58+w), w)
	return append(code, byte(s.intn(16>>w))), ca + cv + 1
}

func (c *dgFn) store(depth, budget int) ([]byte, int) {
	s := c.g.s
	t := c.vt()
	a, ca := c.addr(depth-1, budget/3)
	v, cv := c.expr(t, depth-1, budget/2)
	type st struct {
		op    byte
		align int
	}
	ops := []st{{0x36, 2}, {0x3A, 0}, {0x3B, 1}}
	if t == dgI64 {
		ops = []st{{0x37, 3}, {0x3C, 0}, {0x3D, 1}, {0x3E, 2}}
	}
	o := ops[s.intn(len(ops))]
	return c.memarg(dgCat(a, v, []byte{o.op}), o.align), ca + cv + 2
}

// loop: a loop whose counter is checked at its top, so that the body may
// branch to the loop (continue) or past it (break).
func (c *dgFn) loop(depth, budget int) ([]byte, int) {
	ctr := c.newLocal(dgI32, true)
	c.loops++
	c.push("", true) // break
	c.push("", true) // continue
	div := []int{2, 10, 100, 1000}[c.g.s.intn(4)]
	body, cb := c.stmts(4, depth-1, budget/div)
	c.pop()
	c.pop()
	c.loops--
	iter := cb + 12
	n := c.g.iterations(budget, iter)
	code := dgU([]byte{0x41, 0, 0x21}, ctr)
	code = dgU(append(code, 0x02, 0x40, 0x03, 0x40, 0x20), ctr)
	code = append(appendS64(append(code, 0x41), int64(n)), 0x4F, 0x0D, 1, 0x20)
	code = dgU(code, ctr)
	code = dgU(append(code, 0x41, 1, 0x6A, 0x21), ctr)
	code = dgCat(code, body, c.g.ballast(n), []byte{0x0C, 0, 0x0B, 0x0B})
	return code, n*iter + 4
}

// doWhile: a loop whose counter is checked at its end; the body may not
// branch to the loop.
func (c *dgFn) doWhile(depth, budget int) ([]byte, int) {
	ctr := c.newLocal(dgI32, true)
	c.loops++
	c.push("", false)
	div := []int{2, 10, 100, 1000}[c.g.s.intn(4)]
	body, cb := c.stmts(4, depth-1, budget/div)
	c.pop()
	c.loops--
	iter := cb + 8
	n := c.g.iterations(budget, iter)
	code := dgU([]byte{0x41, 0, 0x21}, ctr)
	code = dgCat(code, []byte{0x03, 0x40}, c.g.ballast(n), body, []byte{0x20})
	code = dgU(code, ctr)
	code = dgU(append(code, 0x41, 1, 0x6A, 0x22), ctr)
	code = append(appendS64(append(code, 0x41), int64(n)), 0x49, 0x0D, 0, 0x0B)
	return code, n*iter + 2
}

func (c *dgFn) bulkMemory(depth, budget int) ([]byte, int) {
	s := c.g.s
	d, cd := c.addr(depth-1, budget/4)
	n, cn := c.length(depth-1, budget/4)
	switch s.intn(3) {
	case 0:
		v, cv := c.expr(dgI32, depth-1, budget/4)
		return dgCat(d, v, n, []byte{0xFC, 11, 0}), cd + cv + cn + 300
	case 1:
		src, cs := c.addr(depth-1, budget/4)
		return dgCat(d, src, n, []byte{0xFC, 10, 0, 0}), cd + cs + cn + 300
	}
	if len(c.g.datas) == 0 {
		return nil, 0
	}
	seg := s.intn(len(c.g.datas))
	if s.rare(6) {
		return dgU([]byte{0xFC, 9}, seg), 1
	}
	l := len(c.g.datas[seg].bytes)
	from := s.intn(l + 1)
	count := s.intn(l - from + 1)
	if s.rare(16) {
		count = s.intn(100)
	}
	code := dgCat(d, dgI32Const(from), dgI32Const(count), []byte{0xFC, 8})
	return append(dgU(code, seg), 0), cd + 100
}

func (c *dgFn) tableOp(depth, budget int) ([]byte, int) {
	s := c.g.s
	size := c.g.tableMin
	switch s.intn(6) {
	case 0, 1:
		slot, cs := c.slot(depth, budget/2)
		r, cr := c.refExpr(depth-1, budget/2)
		return dgCat(slot, r, []byte{0x26, 0}), cs + cr + 1
	case 2:
		var passive []int
		for i, e := range c.g.elems {
			if e.flags&3 == 1 || s.rare(16) { // other segments are dropped: a trap unless empty
				passive = append(passive, i)
			}
		}
		if len(passive) == 0 {
			return nil, 0
		}
		seg := passive[s.intn(len(passive))]
		if s.rare(6) {
			return dgU([]byte{0xFC, 13}, seg), 1
		}
		l := len(c.g.elems[seg].funcs)
		from := s.intn(l + 1)
		count := s.intn(min(l-from, size) + 1)
		to := s.intn(size - count + 1)
		code := dgCat(dgI32Const(to), dgI32Const(from), dgI32Const(count), []byte{0xFC, 12})
		return append(dgU(code, seg), 0), 20
	case 3:
		count := s.intn(size + 1)
		code := dgCat(dgI32Const(s.intn(size-count+1)), dgI32Const(s.intn(size-count+1)), dgI32Const(count))
		return append(code, 0xFC, 14, 0, 0), 20
	case 4:
		count := s.intn(size + 1)
		r, cr := c.refExpr(depth-1, budget/2)
		code := dgCat(dgI32Const(s.intn(size-count+1)), r, dgI32Const(count))
		return append(code, 0xFC, 17, 0), cr + 20
	}
	r, cr := c.refExpr(depth-1, budget/2)
	return dgCat(r, dgI32Const(s.intn(3)), []byte{0xFC, 15, 0, 0x1A}), cr + 10
}

func (g *dgGen) genWorker(def int) {
	c := g.newFn(def)
	f := c.f
	if !f.rec {
		body, cb := c.stmts(5, 4, dgWorkerCap/2)
		res, cr := c.expr(f.sig.results[0], 4, dgWorkerCap-cb)
		c.finish(append(body, res...), cb+cr+5)
		return
	}
	// Clamp the depth, end the recursion at depth 0, recurse at most twice.
	const budget = dgWorkerCap / 64
	c.ro[0] = true
	code := []byte{0x20, 0, 0x41, dgMaxRecDepth, 0x4B, 0x04, 0x40, 0x41, dgMaxRecDepth, 0x21, 0, 0x0B}
	base, cbase := c.expr(dgI64, 3, budget/4)
	code = dgCat(code, []byte{0x20, 0, 0x45, 0x04, 0x40}, base, []byte{0x0F, 0x0B})
	sites := 1 + g.s.intn(2)
	c.recLeft = sites
	body, cb := c.stmts(4, 3, budget/2)
	res, cr := c.expr(dgI64, 4, budget/4)
	if c.recLeft == sites && g.s.flip() { // make sure it recurses, mostly
		c.recLeft--
		res = dgCat([]byte{0x20, 0, 0x41, 1, 0x6B}, res, dgU([]byte{0x10}, g.abs(def)))
	}
	sites -= c.recLeft
	work := cbase + cb + cr + 20
	factor := dgMaxRecDepth + 1
	if sites == 2 {
		factor = 1<<(dgMaxRecDepth+1) - 1
	}
	c.finish(dgCat(code, body, res), work*factor)
}

// genBurn: burn (n) calls n times a function that does nothing, but whose
// entry charges the budget for its code, a kilobyte of dead code (which
// wazero does not even compile). The tiny-budget run calls it until the
// initial budget is spent.
func (g *dgGen) genBurn() {
	c := g.newFn(g.burnDef + 1)
	code := []byte{0x02, 0x40, 0x0C, 0}
	for range 100 {
		code = append(appendS64(append(code, 0x42), math.MinInt64), 0x1A)
	}
	c.finish(append(code, 0x0B), 1)
	c = g.newFn(g.burnDef)
	ctr := c.newLocal(dgI32, true)
	code = dgU([]byte{0x03, 0x40, 0x20}, ctr)
	code = append(code, 0x20, 0, 0x49, 0x04, 0x40, 0x10)
	code = dgU(code, g.abs(g.burnDef+1))
	code = dgU(append(code, 0x20), ctr)
	code = dgU(append(code, 0x41, 1, 0x6A, 0x21), ctr)
	c.finish(append(code, 0x0C, 1, 0x0B, 0x0B), 1)
}

func (g *dgGen) genStart() {
	c := g.newFn(g.startDef)
	code := dgU(append(g.konst(dgI32), 0x24), g.startedG)
	if g.s.flip() {
		code = dgU([]byte{0x41, 1, 0x24}, g.startedG)
	}
	body, cb := c.stmts(5, 4, dgStartCap)
	c.finish(append(code, body...), cb+2)
}

// genRun: random statements, then a checksum of everything.
func (g *dgGen) genRun(firstWorker int) {
	c := g.newFn(0)
	acc := c.newLocal(dgI64, true)
	body, cost := c.stmts(6, 4, dgRunCap)
	mix := func(b []byte, val []byte, t byte) []byte {
		b = dgU(append(b, 0x20), acc)
		b = dgCat(b, []byte{0x42, 31, 0x7E}, val, dgCvt(t, dgI64, false), []byte{0x7C, 0x21})
		return dgU(b, acc)
	}
	for d := firstWorker; d < g.burnDef; d++ {
		f := g.funcs[d]
		var args []byte
		for i := 0; i < len(f.sig.params); i++ {
			args = append(args, g.konst(f.sig.params[i])...)
		}
		body = mix(body, dgU(append(args, 0x10), g.abs(d)), f.sig.results[0])
		cost += f.cost + dgCallCost
	}
	for i, gl := range g.globals {
		if gl.t != dgFref && !gl.pad {
			body = mix(body, dgU([]byte{0x23}, i), gl.t)
		}
	}
	body = mix(body, []byte{0x3F, 0}, dgI32)
	body = mix(body, []byte{0xFC, 16, 0}, dgI32)
	for range 4 {
		body = mix(body, append(dgI32Const(g.s.intn(dgAddrMask)), 0x29, 0, 0), dgI64)
	}
	if a := g.imp("acc"); a >= 0 {
		body = mix(body, dgU([]byte{0x42, 0, 0x10}, a), dgI64)
	}
	body = dgU(append(body, 0x20), acc)
	c.finish(body, cost)
}

// encode writes the module.
func (g *dgGen) encode() []byte {
	out := []byte("\x00asm\x01\x00\x00\x00")
	if g.custom != nil {
		out = appendSection(out, secCustom, append(appendName(nil, "dg.custom"), g.custom...))
	}
	b := dgU(nil, len(g.types))
	for _, t := range g.types {
		b = append(b, 0x60)
		b = append(dgU(b, len(t.params)), t.params...)
		b = append(dgU(b, len(t.results)), t.results...)
	}
	out = appendSection(out, secType, b)
	if len(g.imports) > 0 {
		b = dgU(nil, len(g.imports))
		for _, name := range g.imports {
			b = appendName(appendName(b, "env"), name)
			b = dgU(append(b, 0), g.typeOf(dgImportSigs[name]))
		}
		out = appendSection(out, secImport, b)
	}
	b = dgU(nil, len(g.funcs))
	for _, f := range g.funcs {
		b = dgU(b, g.typeOf(f.sig))
	}
	out = appendSection(out, secFunction, b)
	b = []byte{1, dgFref}
	if g.tableMax > 0 {
		b = dgU(dgU(append(b, 1), g.tableMin), g.tableMax)
	} else {
		b = dgU(append(b, 0), g.tableMin)
	}
	out = appendSection(out, 4, b)
	out = appendSection(out, 5, dgU(dgU([]byte{1, 1}, g.memMin), g.memMax))
	b = dgU(nil, len(g.globals))
	for _, gl := range g.globals {
		mut := byte(0)
		if gl.mut {
			mut = 1
		}
		b = append(b, gl.t, mut)
		switch {
		case gl.t == dgI32:
			b = appendS64(append(b, 0x41), gl.init)
		case gl.t == dgI64:
			b = appendS64(append(b, 0x42), gl.init)
		case gl.ref >= 0:
			b = dgU(append(b, 0xD2), gl.ref)
		default:
			b = append(b, 0xD0, dgFref)
		}
		b = append(b, 0x0B)
	}
	out = appendSection(out, secGlobal, b)

	var exports []byte
	n := 0
	export := func(name string, kind byte, idx int) {
		exports = dgU(append(appendName(exports, name), kind), idx)
		n++
	}
	for d, f := range g.funcs {
		if f.export != "" {
			export(f.export, 0, g.abs(d))
		}
	}
	export("mem", 2, 0)
	if g.expTable {
		export("tbl", 1, 0)
	}
	for i, gl := range g.globals {
		if gl.export != "" {
			export(gl.export, 3, i)
		}
	}
	if g.expGF {
		export("gf", 3, g.gf)
	}
	out = appendSection(out, secExport, append(dgU(nil, n), exports...))
	if g.start >= 0 {
		out = appendSection(out, secStart, dgU(nil, g.start))
	}

	b = g.elemSection()
	out = appendSection(out, secElement, b)
	if len(g.datas) > 0 {
		out = appendSection(out, secDataCount, dgU(nil, len(g.datas)))
	}
	b = dgU(nil, len(g.funcs))
	for _, f := range g.funcs {
		var fb []byte
		var groups []byte // count, type pairs
		ng := 0
		for i := 0; i < len(f.locals); {
			j := i
			for j < len(f.locals) && f.locals[j] == f.locals[i] {
				j++
			}
			groups = append(dgU(groups, j-i), f.locals[i])
			ng++
			i = j
		}
		fb = dgCat(dgU(nil, ng), groups, f.body)
		b = append(dgU(b, len(fb)), fb...)
	}
	out = appendSection(out, secCode, b)
	if len(g.datas) > 0 {
		b = dgU(nil, len(g.datas))
		for _, d := range g.datas {
			switch {
			case !d.active:
				b = append(b, 1)
			case d.explicit:
				b = append(b, 2, 0)
			default:
				b = append(b, 0)
			}
			if d.active {
				b = append(dgCat(b, dgI32Const(d.offset)), 0x0B)
			}
			b = append(dgU(b, len(d.bytes)), d.bytes...)
		}
		out = appendSection(out, 11, b)
	}
	if g.names {
		var names []byte
		names = dgU(names, len(g.funcs))
		for d := range g.funcs {
			names = appendName(dgU(names, g.abs(d)), fmt.Sprintf("f%d", d))
		}
		content := appendName(nil, "name")
		content = append(dgU(append(content, 1), len(names)), names...)
		out = appendSection(out, secCustom, content)
	}
	return out
}

func (g *dgGen) elemSection() []byte {
	b := dgU(nil, len(g.elems))
	for _, e := range g.elems {
		b = dgU(b, e.flags)
		if e.flags == 2 || e.flags == 6 {
			b = append(b, 0) // table 0
		}
		if e.flags&1 == 0 {
			b = append(dgCat(b, dgI32Const(e.offset)), 0x0B)
		}
		switch {
		case e.flags&3 == 0:
		case e.flags&4 == 0:
			b = append(b, 0) // elemkind funcref
		default:
			b = append(b, dgFref)
		}
		b = dgU(b, len(e.funcs))
		for _, fn := range e.funcs {
			switch {
			case e.flags&4 == 0:
				b = dgU(b, fn)
			case fn < 0:
				b = append(b, 0xD0, dgFref, 0x0B)
			default:
				b = append(dgU(append(b, 0xD2), fn), 0x0B)
			}
		}
	}
	return b
}

// ---- running ----

type dgHostKey struct{}

// dgHost is the host's side of one instance: env.acc's checksum, the
// env.touch count, and what yield gives back.
type dgHost struct {
	acc     uint64
	touches uint64
	refill  uint32
	yields  int
}

func dgHostOf(ctx context.Context) *dgHost { return ctx.Value(dgHostKey{}).(*dgHost) }

// dgRuntime is a runtime with env and, if rt, with the module of the
// host's runtime functions that rewritten modules import.
func dgRuntime(t testing.TB, ctx context.Context, rt bool) wazero.Runtime {
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCoreFeatures(api.CoreFeaturesV2))
	i32, i64 := []api.ValueType{api.ValueTypeI32}, []api.ValueType{api.ValueTypeI64}
	_, err := r.NewHostModuleBuilder("env").
		NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(func(_ context.Context, _ api.Module, stack []uint64) {
			stack[0] = uint64(uint32(stack[0]) * 3)
		}), i32, i32).Export("h").
		NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, _ api.Module, stack []uint64) {
			h := dgHostOf(ctx)
			h.acc = h.acc*1_000_003 + stack[0]
			stack[0] = h.acc
		}), i64, i64).Export("acc").
		NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, _ api.Module, _ []uint64) {
			dgHostOf(ctx).touches++
		}), nil, nil).Export("touch").
		Instantiate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rt {
		dgRTModule(t, ctx, r)
	}
	return r
}

// dgRTModule instantiates in r the module of the host's runtime functions,
// as Engine.rtModule does: yield gives back the refill of the call's
// dgHost. It provides whatever the rewriter imports (read from a rewritten
// empty module); the functions other than yield (the call depth's
// overflow) must not be called by these shallow guests, and trap if they
// are.
func dgRTModule(t testing.TB, ctx context.Context, r wazero.Runtime) {
	rw, err := rewrite([]byte("\x00asm\x01\x00\x00\x00"), DefaultCodeLimits())
	if err != nil {
		t.Fatal(err)
	}
	cm, err := r.CompileModule(ctx, rw.code)
	if err != nil {
		t.Fatal(err)
	}
	defer cm.Close(ctx)
	b := r.NewHostModuleBuilder(rtModule)
	for _, fn := range cm.ImportedFunctions() {
		mod, name, _ := fn.Import()
		if mod != rtModule {
			continue
		}
		var f api.GoModuleFunc = func(context.Context, api.Module, []uint64) {
			panic(fmt.Errorf("unexpected call of %s.%s", rtModule, name))
		}
		if name == yieldName {
			f = func(ctx context.Context, _ api.Module, stack []uint64) {
				h := dgHostOf(ctx)
				h.yields++
				stack[0] = uint64(h.refill)
			}
		}
		b.NewFunctionBuilder().WithGoModuleFunction(f, fn.ParamTypes(), fn.ResultTypes()).Export(name)
	}
	if _, err := b.Instantiate(ctx); err != nil {
		t.Fatal(err)
	}
}

// dgOutcome is everything a run of a module shows (but for the values of
// funcref globals, which the API shows as addresses).
type dgOutcome struct {
	steps   []string
	globals []string
	memSize uint32
	mem     []byte // the original's
	memDiff int    // the rewritten's: the first byte that differs from the original's, or -1
	acc     uint64
	touches uint64
	yields  int // not compared
}

// dgTrap reduces an error to the trap it reports.
func dgTrap(err error) string {
	s := err.Error()
	if i := strings.Index(s, "wasm error: "); i >= 0 {
		s = s[i:]
	}
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return "trap: " + s
}

// exec instantiates cm and calls run, every worker export, and run again.
// want is nil for the original module; for a rewritten one (its start
// function exported instead) it is the original's outcome, whose memory
// exec compares.
func (g *dgGen) exec(t testing.TB, ctx context.Context, r wazero.Runtime, cm wazero.CompiledModule, want *dgOutcome, refill uint32) *dgOutcome {
	h := &dgHost{refill: refill}
	ctx = context.WithValue(ctx, dgHostKey{}, h)
	rewritten := want != nil
	o := &dgOutcome{memDiff: -1}
	defer func() { o.acc, o.touches, o.yields = h.acc, h.touches, h.yields }()
	cfg := wazero.NewModuleConfig().WithName("")
	if rewritten {
		cfg = cfg.WithStartFunctions()
	}
	m, err := r.InstantiateModule(ctx, cm, cfg)
	if err != nil {
		o.steps = append(o.steps, "init: "+dgTrap(err))
		return o
	}
	defer m.Close(ctx)
	if rewritten && g.start >= 0 {
		fn := m.ExportedFunction(startExport)
		if fn == nil {
			t.Fatalf("the rewritten module does not export %s", startExport)
		}
		if d, ok := m.ExportedGlobal("__wt_depth").(api.MutableGlobal); ok {
			d.Set(0) // as the host does before each of its calls
		}
		if _, err := fn.Call(ctx); err != nil {
			o.steps = append(o.steps, "init: "+dgTrap(err))
			return o
		}
	}
	o.steps = append(o.steps, "init: ok")
	if rewritten && refill < budgetRefill {
		// Spend the initial budget: from now on every entry check yields.
		burn := m.ExportedFunction("burn")
		for i := 0; h.yields == 0; i++ {
			if _, err := burn.Call(ctx, 1000); err != nil || i == 1000 {
				t.Fatalf("burn: %v, %d calls, %d yields", err, i, h.yields)
			}
		}
		h.yields = 0
	}
	call := func(name string, args []uint64) {
		fn := m.ExportedFunction(name)
		if fn == nil {
			t.Fatalf("export %s is missing", name)
		}
		if d, ok := m.ExportedGlobal("__wt_depth").(api.MutableGlobal); ok {
			d.Set(0)
		}
		res, err := fn.Call(ctx, args...)
		if err != nil {
			o.steps = append(o.steps, name+": "+dgTrap(err))
			return
		}
		o.steps = append(o.steps, fmt.Sprintf("%s: %#x", name, res))
	}
	call("run", nil)
	for _, f := range g.funcs {
		if f.export != "" && f.export != "run" && f.export != "burn" {
			call(f.export, f.args)
		}
	}
	call("run", nil)
	for _, gl := range g.globals {
		if gl.export != "" {
			o.globals = append(o.globals, fmt.Sprintf("%s=%#x", gl.export, m.ExportedGlobal(gl.export).Get()))
		}
	}
	mem := m.ExportedMemory("mem")
	o.memSize = mem.Size()
	b, _ := mem.Read(0, o.memSize)
	if !rewritten {
		o.mem = bytes.Clone(b)
	} else if len(b) == len(want.mem) && !bytes.Equal(b, want.mem) {
		for i := range b {
			if b[i] != want.mem[i] {
				o.memDiff = i
				break
			}
		}
	}
	return o
}

// diff describes how two outcomes differ, or returns "".
func (o *dgOutcome) diff(p *dgOutcome) string {
	var d []string
	if a, b := strings.Join(o.steps, "\n  "), strings.Join(p.steps, "\n  "); a != b {
		d = append(d, fmt.Sprintf("calls:\n  %s\nvs\n  %s", a, b))
	}
	if a, b := strings.Join(o.globals, " "), strings.Join(p.globals, " "); a != b {
		d = append(d, fmt.Sprintf("globals: %s vs %s", a, b))
	}
	if o.memSize != p.memSize {
		d = append(d, fmt.Sprintf("memory size: %d vs %d", o.memSize, p.memSize))
	} else if p.memDiff >= 0 {
		d = append(d, fmt.Sprintf("memory differs from byte %d (%#x in the original)", p.memDiff, o.mem[p.memDiff]))
	}
	if o.acc != p.acc || o.touches != p.touches {
		d = append(d, fmt.Sprintf("host: acc %#x touches %d vs acc %#x touches %d", o.acc, o.touches, p.acc, p.touches))
	}
	return strings.Join(d, "\n")
}

// dgHarness holds the two runtimes of the differential test.
type dgHarness struct {
	ctx    context.Context
	plain  wazero.Runtime // runs the original modules
	hosted wazero.Runtime // runs the rewritten ones
	mu     sync.Mutex
	yields map[uint32]int // by refill
	execs  int
}

func newDGHarness(t testing.TB) *dgHarness {
	ctx := context.Background()
	h := &dgHarness{ctx: ctx, plain: dgRuntime(t, ctx, false), hosted: dgRuntime(t, ctx, true), yields: map[uint32]int{}}
	t.Cleanup(func() {
		h.plain.Close(ctx)
		h.hosted.Close(ctx)
	})
	return h
}

// check generates a module from in and compares the original with the
// rewritten module, with a normal and with a tiny budget. With
// WASMTASK_DIFF_DUMP set to a directory, it writes both modules there
// (orig.wasm, rewritten.wasm) for wasm2wat.
func (h *dgHarness) check(t testing.TB, in []byte) {
	g := dgGenerate(in)
	wasm := g.encode()
	dump := os.Getenv("WASMTASK_DIFF_DUMP")
	if dump != "" {
		_ = os.WriteFile(filepath.Join(dump, "orig.wasm"), wasm, 0o600)
	}
	hex := "(set WASMTASK_DIFF_DUMP to a directory to get it)"
	if len(wasm) <= 8<<10 {
		hex = fmt.Sprintf("%x", wasm)
	}
	orig, err := h.plain.CompileModule(h.ctx, wasm)
	if err != nil {
		t.Fatalf("the generator made an invalid module: %v\nmodule: %s", err, hex)
	}
	defer orig.Close(h.ctx)
	rw, err := rewrite(wasm, DefaultCodeLimits())
	if err != nil {
		t.Fatalf("rewrite: %v\nmodule: %s", err, hex)
	}
	if dump != "" {
		_ = os.WriteFile(filepath.Join(dump, "rewritten.wasm"), rw.code, 0o600)
	}
	if rw.start != (g.start >= 0) {
		t.Fatalf("rewritten.start = %v, but the module's start function is %d", rw.start, g.start)
	}
	got, err := h.hosted.CompileModule(h.ctx, rw.code)
	if err != nil {
		t.Fatalf("the rewritten module does not compile: %v\nmodule: %s", err, hex)
	}
	defer got.Close(h.ctx)
	want := g.exec(t, h.ctx, h.plain, orig, nil, 0)
	for _, refill := range []uint32{budgetRefill, 1} {
		have := g.exec(t, h.ctx, h.hosted, got, want, refill)
		h.mu.Lock()
		h.execs++
		h.yields[refill] += have.yields
		h.mu.Unlock()
		if d := want.diff(have); d != "" {
			t.Fatalf("original vs rewritten (yield refills %d, %d yields):\n%s\nmodule: %s", refill, have.yields, d, hex)
		}
	}
}

// dgSeed returns the generator input of seed.
func dgSeed(seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	b := make([]byte, 32+r.IntN(1000))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// TestRewriteBehaviour_Seeds runs the differential test on fixed inputs.
func TestRewriteBehaviour_Seeds(t *testing.T) {
	h := newDGHarness(t)
	start := time.Now()
	t.Run("seeds", func(t *testing.T) {
		for seed := range uint64(200) {
			t.Run(fmt.Sprint(seed), func(t *testing.T) {
				t.Parallel()
				h.check(t, dgSeed(seed))
			})
		}
		t.Run("empty", func(t *testing.T) {
			t.Parallel()
			h.check(t, nil)
		})
	})
	if t.Failed() {
		return
	}
	if h.yields[1] < 2_000 || h.yields[budgetRefill] == 0 {
		t.Fatalf("yields: %d with the host's refill, %d with a tiny one: the yield paths were hardly exercised",
			h.yields[budgetRefill], h.yields[1])
	}
	t.Logf("%d executions of rewritten modules in %s; yields: %d with the host's refill, %d with a refill of 1",
		h.execs, time.Since(start), h.yields[budgetRefill], h.yields[1])
}

// FuzzRewriteBehaviour: the rewritten module computes what the original
// does (see the top of this file). Every new input the fuzzer keeps is
// minimized for -fuzzminimizetime (a minute by default), which here is most
// of the time: -fuzzminimizetime 10x fuzzes some 200 inputs a second.
func FuzzRewriteBehaviour(f *testing.F) {
	f.Add([]byte{})
	for _, seed := range []uint64{1, 7, 42, 1000} {
		f.Add(dgSeed(seed))
	}
	h := newDGHarness(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		h.check(t, in)
	})
}
