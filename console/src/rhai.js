// Rhai for CodeMirror: a small stream tokenizer (StreamLanguage), enough to
// highlight scripts and library modules. It knows Rhai's keywords, literals
// (numbers, "strings", `templates ${...}`, 'c'haracters), nested /* */ and
// // comments, `module::` paths and CONSTANTS; it does not parse.
import { StreamLanguage } from "@codemirror/language";

const KEYWORDS = new Set([
  "let", "const", "if", "else", "switch", "do", "while", "until", "loop", "for", "in",
  "break", "continue", "return", "throw", "try", "catch", "fn", "private", "import",
  "export", "as", "global", "this", "is",
]);
const BOOLEANS = new Set(["true", "false"]);

// Reads a string body up to its closing quote; returns true when it closed.
function readString(stream, quote) {
  let escaped = false;
  while (!stream.eol()) {
    const ch = stream.next();
    if (escaped) escaped = false;
    else if (ch === "\\" && quote === '"') escaped = true;
    else if (ch === quote) return true;
  }
  return false;
}

// Inside /* */ (which nest in Rhai): reads to the end of the comment or line.
function readComment(stream, state) {
  while (!stream.eol()) {
    if (stream.match("/*")) state.commentDepth++;
    else if (stream.match("*/")) {
      state.commentDepth--;
      if (state.commentDepth === 0) break;
    } else stream.next();
  }
  return "comment";
}

export const rhaiLanguage = StreamLanguage.define({
  name: "rhai",
  startState: () => ({ commentDepth: 0, openString: null, afterDefiner: false }),
  copyState: (state) => ({ ...state }),
  token(stream, state) {
    if (state.commentDepth > 0) return readComment(stream, state);
    if (state.openString) {
      if (readString(stream, state.openString)) state.openString = null;
      return "string";
    }
    if (stream.eatSpace()) return null;
    if (stream.match("///") || stream.match("//!")) {
      stream.skipToEnd();
      return "docComment";
    }
    if (stream.match("//")) {
      stream.skipToEnd();
      return "comment";
    }
    if (stream.match("/*")) {
      state.commentDepth = 1;
      return readComment(stream, state);
    }
    const ch = stream.peek();
    if (ch === '"' || ch === "`") {
      stream.next();
      // "…" may continue on the next line only with a trailing \; `…` may span lines.
      if (!readString(stream, ch) && ch === "`") state.openString = ch;
      return ch === "`" ? "string.special" : "string";
    }
    if (stream.match(/^'(?:\\.|[^'\\])+'/)) return "string";
    if (stream.match(/^(?:0x[0-9a-fA-F_]+|0o[0-7_]+|0b[01_]+|\d[\d_]*(?:\.\d[\d_]*)?(?:[eE][+-]?\d+)?)/)) {
      return "number";
    }
    if (stream.match(/^[A-Za-z_][A-Za-z0-9_]*/)) {
      const word = stream.current();
      const definer = state.afterDefiner;
      state.afterDefiner = word === "let" || word === "const" || word === "fn";
      if (KEYWORDS.has(word)) return "keyword";
      if (BOOLEANS.has(word)) return "bool";
      if (definer) return "variableName.definition";
      if (stream.match("::", false)) return "namespace";
      if (/^[A-Z][A-Z0-9_]+$/.test(word)) return "variableName.constant";
      if (stream.match(/^\s*\(/, false)) return "variableName.function";
      return "variableName";
    }
    state.afterDefiner = false;
    if (stream.match(/^(?:::|=>|->|\?\.|\?\?|[-+*/%=!<>&|^]=?|\.\.=?)/)) return "operator";
    if (stream.match(/^[.,;:#]/)) return "punctuation";
    if (stream.match(/^[()[\]{}]/)) return "bracket";
    stream.next();
    return null;
  },
  languageData: {
    commentTokens: { line: "//", block: { open: "/*", close: "*/" } },
    closeBrackets: { brackets: ["(", "[", "{", '"', "`"] },
  },
});
