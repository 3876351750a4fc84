// highlight.js — the code panel: a <textarea> the user types in, over a
// <pre> that shows the same text highlighted, with a gutter of line numbers.
// The textarea's text is transparent (its caret is not); both share one font
// and padding, and the <pre> and gutter follow the textarea's scrolling.

const KEYWORDS = new Set(('async await break case catch class const continue debugger default delete do ' +
  'else export extends finally for function if import in instanceof let new of return static super switch ' +
  'this throw try typeof var void while with yield').split(' '));
const LITERALS = new Set(['true', 'false', 'null', 'undefined', 'NaN', 'Infinity']);
// Tokens after which a '/' starts a regular expression, not a division.
const REGEX_AFTER = /(^|[=(,:;!&|?{}[+\-*%<>~^]|\breturn|\btypeof|\bcase)\s*$/;

/** escapeHTML makes s safe to put in HTML text. */
export function escapeHTML(s) {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * tokens splits JavaScript source into [kind, text] pairs: comment, string,
 * number, keyword, literal, regex, prop (a name after '.'), fn (a name
 * before '('), punct, or plain. It never fails: unfinished strings and
 * comments run to the end of the line or the text.
 */
export function tokens(src) {
  const out = [];
  let i = 0;
  let plain = '';
  const flush = () => { if (plain) { out.push(['plain', plain]); plain = ''; } };
  const push = (kind, text) => { flush(); out.push([kind, text]); };
  const before = () => out.map(t => t[1]).slice(-3).join('') + plain;
  while (i < src.length) {
    const c = src[i];
    const rest = src.slice(i, i + 2);
    let m;
    if (rest === '//') {
      const end = src.indexOf('\n', i);
      const j = end < 0 ? src.length : end;
      push('comment', src.slice(i, j)); i = j;
    } else if (rest === '/*') {
      const end = src.indexOf('*/', i + 2);
      const j = end < 0 ? src.length : end + 2;
      push('comment', src.slice(i, j)); i = j;
    } else if (c === '"' || c === "'" || c === '`') {
      let j = i + 1;
      while (j < src.length && src[j] !== c && (c === '`' || src[j] !== '\n')) j += src[j] === '\\' ? 2 : 1;
      j = Math.min(j + 1, src.length);
      push('string', src.slice(i, j)); i = j;
    } else if (c === '/' && REGEX_AFTER.test(before()) && (m = /^\/(?![*/])(?:\\.|\[(?:\\.|[^\]\n])*\]|[^/\\\n])+\/[a-z]*/.exec(src.slice(i)))) {
      push('regex', m[0]); i += m[0].length;
    } else if ((m = /^(?:0[xob][0-9a-f_]+|\d[\d_]*(?:\.\d*)?(?:e[+-]?\d+)?n?|\.\d+)/i.exec(src.slice(i))) && !/[\w$]$/.test(plain)) {
      push('number', m[0]); i += m[0].length;
    } else if ((m = /^[A-Za-z_$][\w$]*/.exec(src.slice(i)))) {
      const w = m[0];
      const prev = (plain || (out.length ? out[out.length - 1][1] : '')).replace(/\s+$/, '');
      let kind = 'plain';
      if (prev.endsWith('.') && !prev.endsWith('..')) kind = 'prop';
      else if (KEYWORDS.has(w)) kind = 'keyword';
      else if (LITERALS.has(w)) kind = 'literal';
      if ((kind === 'plain' || kind === 'prop') && /^\s*\(/.test(src.slice(i + w.length))) kind = 'fn';
      if (kind === 'plain') plain += w; else push(kind, w);
      i += w.length;
    } else if (/[{}()[\];,.<>=!+\-*/%&|^~?:]/.test(c)) {
      push('punct', c); i++;
    } else {
      plain += c; i++;
    }
  }
  flush();
  return out;
}

/** highlight returns src as HTML with a span of class "t-KIND" per token. */
export function highlight(src) {
  return tokens(src).map(([kind, text]) =>
    kind === 'plain' ? escapeHTML(text) : `<span class="t-${kind}">${escapeHTML(text)}</span>`).join('');
}

/**
 * CodeEditor wires a textarea, the <pre> behind it and a gutter. Tab and
 * Shift-Tab indent and dedent; Escape then Tab leaves the field (so the
 * keyboard is never trapped); Enter keeps the line's indentation.
 */
export class CodeEditor {
  constructor(textarea, pre, gutter) {
    this.ta = textarea;
    this.pre = pre;
    this.gutter = gutter;
    this.escaped = false;
    this.onChange = () => {};
    textarea.addEventListener('input', () => { this.render(); this.onChange(); });
    textarea.addEventListener('scroll', () => this.sync());
    textarea.addEventListener('keydown', e => this.key(e));
    this.render();
  }

  get value() { return this.ta.value; }

  set value(v) {
    this.ta.value = v;
    this.ta.scrollTop = 0;
    this.mark(0);
    this.render();
  }

  render() {
    // The trailing newline and space keep the last line's height in the <pre>.
    this.pre.innerHTML = highlight(this.ta.value) + '\n ';
    const lines = this.ta.value.split('\n').length;
    if (this.gutter.childElementCount !== lines) {
      const frag = document.createDocumentFragment();
      for (let n = 1; n <= lines; n++) {
        const d = document.createElement('div');
        d.textContent = n;
        frag.appendChild(d);
      }
      this.gutter.replaceChildren(frag);
      this.mark(this.marked || 0);
    }
    this.sync();
  }

  sync() {
    this.pre.scrollTop = this.ta.scrollTop;
    this.pre.scrollLeft = this.ta.scrollLeft;
    this.gutter.scrollTop = this.ta.scrollTop;
  }

  /** mark flags line n (1-based) in the gutter as where an error is; 0 clears. */
  mark(n) {
    this.marked = n;
    for (const d of this.gutter.children) d.classList.remove('error-line');
    if (n > 0 && this.gutter.children[n - 1]) this.gutter.children[n - 1].classList.add('error-line');
  }

  /** goTo puts the caret at line, column (1-based) and scrolls it into view. */
  goTo(line, col) {
    const lines = this.ta.value.split('\n');
    let pos = 0;
    for (let i = 0; i < line - 1 && i < lines.length; i++) pos += lines[i].length + 1;
    pos += Math.max(0, col - 1);
    this.ta.focus();
    this.ta.setSelectionRange(pos, pos);
    const lh = parseFloat(getComputedStyle(this.ta).lineHeight) || 20;
    this.ta.scrollTop = Math.max(0, (line - 3) * lh);
    this.sync();
  }

  insert(text) {
    // execCommand keeps the browser's undo history; setRangeText is the fallback.
    if (!document.execCommand || !document.execCommand('insertText', false, text)) {
      this.ta.setRangeText(text, this.ta.selectionStart, this.ta.selectionEnd, 'end');
      this.render();
      this.onChange();
    }
  }

  key(e) {
    if (e.key === 'Escape') { this.escaped = true; return; }
    const escaped = this.escaped;
    this.escaped = false;
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const ta = this.ta;
    if (e.key === 'Tab' && !escaped) {
      e.preventDefault();
      const start = ta.value.lastIndexOf('\n', ta.selectionStart - 1) + 1;
      if (e.shiftKey) {
        const n = ta.value.slice(start, start + 2).match(/^ {0,2}/)[0].length;
        if (n) { ta.setSelectionRange(start, start + n); this.insert(''); }
      } else {
        this.insert('  ');
      }
    } else if (e.key === 'Enter') {
      e.preventDefault();
      const start = ta.value.lastIndexOf('\n', ta.selectionStart - 1) + 1;
      const indent = ta.value.slice(start).match(/^[ \t]*/)[0];
      const extra = /[{[(]\s*$/.test(ta.value.slice(start, ta.selectionStart)) ? '  ' : '';
      this.insert('\n' + indent + extra);
    }
  }
}
