// wasminfo.js — the facts of a WebAssembly module, read in the browser from
// its bytes: size, imports, exports, custom sections and a guess of the
// language it was written in (from the "producers" section and what the
// toolchains leave behind). Reading only; nothing is compiled.

function reader(bytes) {
  let pos = 0;
  const r = {
    get pos() { return pos; },
    set pos(p) { pos = p; },
    byte() {
      if (pos >= bytes.length) throw new Error('truncated module');
      return bytes[pos++];
    },
    u32() {
      let result = 0, shift = 0, b;
      do {
        b = r.byte();
        result |= (b & 0x7f) << shift;
        shift += 7;
      } while (b & 0x80 && shift < 35);
      return result >>> 0;
    },
    name() {
      const n = r.u32();
      if (pos + n > bytes.length) throw new Error('truncated module');
      const s = new TextDecoder().decode(bytes.subarray(pos, pos + n));
      pos += n;
      return s;
    },
  };
  return r;
}

const KINDS = ['func', 'table', 'memory', 'global', 'tag'];

/** wasmInfo reads a module's facts; throws on bytes that are not one. */
export function wasmInfo(bytes) {
  if (bytes.length < 8 || bytes[0] !== 0 || bytes[1] !== 0x61 || bytes[2] !== 0x73 || bytes[3] !== 0x6d) {
    throw new Error('not a WebAssembly module');
  }
  const info = { size: bytes.length, imports: [], exports: [], custom: [], producers: {} };
  const r = reader(bytes);
  r.pos = 8;
  while (r.pos < bytes.length) {
    const id = r.byte();
    const len = r.u32();
    const end = r.pos + len;
    if (id === 0) {
      const name = r.name();
      info.custom.push(name);
      if (name === 'producers') readProducers(r, info.producers);
    } else if (id === 2) {
      for (let n = r.u32(); n > 0; n--) {
        const module = r.name(), field = r.name(), kind = r.byte();
        info.imports.push({ module, name: field, kind: KINDS[kind] || String(kind) });
        skipImportDesc(r, kind);
      }
    } else if (id === 7) {
      for (let n = r.u32(); n > 0; n--) {
        const name = r.name(), kind = r.byte();
        r.u32();
        info.exports.push({ name, kind: KINDS[kind] || String(kind) });
      }
    }
    r.pos = end;
  }
  info.language = guessLanguage(info);
  return info;
}

function readProducers(r, out) {
  for (let n = r.u32(); n > 0; n--) {
    const field = r.name();
    const values = [];
    for (let m = r.u32(); m > 0; m--) {
      const name = r.name(), version = r.name();
      values.push(version ? `${name} ${version}` : name);
    }
    out[field] = values;
  }
}

function skipImportDesc(r, kind) {
  const limits = () => { const flags = r.byte(); r.u32(); if (flags & 1) r.u32(); };
  switch (kind) {
    case 0: r.u32(); break; // type index
    case 1: r.byte(); limits(); break; // reftype, limits
    case 2: limits(); break;
    case 3: r.byte(); r.byte(); break; // valtype, mutability
    case 4: r.byte(); r.u32(); break; // tag: attribute, type index
    default: throw new Error('unknown import kind ' + kind);
  }
}

/** guessLanguage names the source language of a module, or "unknown". */
export function guessLanguage(info) {
  const langs = (info.producers.language || []).join(' ');
  const tools = (info.producers['processed-by'] || []).join(' ');
  const has = s => info.custom.includes(s);
  const importsFrom = m => info.imports.some(i => i.module === m);
  if (has('go:buildid') || importsFrom('gojs')) return 'Go';
  if (/Rust/.test(langs) || /rustc/.test(tools)) return 'Rust';
  if (/TinyGo/i.test(tools)) return 'Go (TinyGo)';
  if (/AssemblyScript/i.test(tools) || importsFrom('env') && info.imports.some(i => i.name === 'abort' && i.module === 'env') && !langs) return 'AssemblyScript';
  if (/C\+\+/.test(langs)) return 'C++';
  if (/\bC\d*\b/.test(langs) || /clang/.test(tools)) return 'C';
  if (info.exports.some(e => e.name === 'wt_handle') && !info.custom.length) return 'WAT (hand-written)';
  return 'unknown';
}
