// The script editor: CodeMirror 6 with Rhai highlighting, line numbers, Tab to
// indent, Ctrl/Cmd+Enter to run, the draft kept in localStorage, and the
// position of a script error marked (line background, the character at the
// column underlined, the message as a tooltip) until the next run.
import { EditorState, StateEffect, StateField } from "@codemirror/state";
import {
  Decoration, EditorView, drawSelection, highlightActiveLine, highlightActiveLineGutter,
  highlightSpecialChars, keymap, lineNumbers,
} from "@codemirror/view";
import { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
import { bracketMatching, indentOnInput, indentUnit, syntaxHighlighting } from "@codemirror/language";
import { tagHighlighter, tags } from "@lezer/highlight";
import { rhaiLanguage } from "./rhai.js";
import { storage } from "./storage.js";

const DRAFT = "circles.draft";
const DEFAULT_SCRIPT = 'print(`hello from ${CIRCLE_ID}`);\nCALLER_PUBLIC_KEY';

// The editor lives in a shadow root: CodeMirror injects its styles with a
// <style> element into a document, which the page's Content-Security-Policy
// (style-src 'self') blocks, but as a constructed stylesheet into a shadow
// root, which it allows. Its look is therefore set here; the colours are the
// page's CSS variables (they inherit into the shadow root), so it follows the
// light/dark theme.
const theme = EditorView.theme({
  "&": { minHeight: "12rem", maxHeight: "60vh", fontSize: ".9rem", background: "var(--bg)", color: "var(--text)" },
  "&.cm-focused": { outline: "2px solid var(--accent)" },
  ".cm-scroller": { fontFamily: 'ui-monospace, "SF Mono", Menlo, Consolas, monospace', lineHeight: "1.45" },
  ".cm-gutters": { background: "var(--code-bg)", color: "var(--muted)", borderRight: "1px solid var(--border)" },
  ".cm-activeLine": { background: "color-mix(in srgb, var(--code-bg) 60%, transparent)" },
  ".cm-activeLineGutter": { background: "var(--border)" },
  ".cm-content": { caretColor: "var(--text)" },
  ".cm-cursor, .cm-dropCursor": { borderLeftColor: "var(--text)" },
  "&.cm-focused > .cm-scroller > .cm-selectionLayer .cm-selectionBackground, .cm-selectionBackground": { background: "var(--selection)" },
  ".cm-matchingBracket": { background: "var(--selection)", outline: "1px solid var(--accent)" },
  ".cm-error-line": { background: "var(--error-line)", boxShadow: "inset 3px 0 var(--error)" },
  ".cm-error-at": { textDecoration: "underline wavy var(--error)", textUnderlineOffset: "3px" },
  ".tk-keyword": { color: "var(--tk-keyword)", fontWeight: "600" },
  ".tk-literal": { color: "var(--tk-literal)" },
  ".tk-string": { color: "var(--tk-string)" },
  ".tk-template": { color: "var(--tk-template)" },
  ".tk-comment": { color: "var(--tk-comment)", fontStyle: "italic" },
  ".tk-definition": { color: "var(--tk-definition)" },
  ".tk-function": { color: "var(--tk-function)" },
  ".tk-constant": { color: "var(--tk-constant)" },
  ".tk-namespace": { color: "var(--tk-namespace)" },
  ".tk-operator": { color: "var(--tk-operator)" },
});

// Token classes, styled by the theme above.
const highlighter = tagHighlighter([
  { tag: tags.keyword, class: "tk-keyword" },
  { tag: [tags.bool, tags.number], class: "tk-literal" },
  { tag: tags.string, class: "tk-string" },
  { tag: tags.special(tags.string), class: "tk-template" },
  { tag: [tags.comment, tags.docComment], class: "tk-comment" },
  { tag: tags.definition(tags.variableName), class: "tk-definition" },
  { tag: tags.function(tags.variableName), class: "tk-function" },
  { tag: tags.constant(tags.variableName), class: "tk-constant" },
  { tag: tags.namespace, class: "tk-namespace" },
  { tag: tags.operator, class: "tk-operator" },
]);

// The error marks: set by a run's error, mapped through later edits, removed
// by the next run.
const setError = StateEffect.define();
const errorField = StateField.define({
  create: () => Decoration.none,
  update(marks, transaction) {
    marks = marks.map(transaction.changes);
    for (const effect of transaction.effects) {
      if (effect.is(setError)) marks = effect.value;
    }
    return marks;
  },
  provide: (field) => EditorView.decorations.from(field),
});

function errorMarks(state, line, column, message) {
  if (line < 1 || line > state.doc.lines) return Decoration.none;
  const at = state.doc.line(line);
  const marks = [
    Decoration.line({ class: "cm-error-line", attributes: { title: message } }).range(at.from),
  ];
  if (column >= 1 && at.from + column - 1 < at.to) {
    const from = at.from + column - 1;
    // Underline the word (or character) the error points at.
    const word = state.wordAt(from);
    const to = word && word.from === from ? word.to : from + 1;
    marks.push(Decoration.mark({ class: "cm-error-at", attributes: { title: message } }).range(from, to));
  }
  return Decoration.set(marks, true);
}

export function createEditor(parent, { onRun, label }) {
  let saveTimer = null;
  const state = EditorState.create({
    doc: storage.get(DRAFT) ?? DEFAULT_SCRIPT,
    extensions: [
      lineNumbers(),
      highlightActiveLineGutter(),
      highlightSpecialChars(),
      history(),
      drawSelection(),
      indentOnInput(),
      bracketMatching(),
      highlightActiveLine(),
      indentUnit.of("    "),
      rhaiLanguage,
      syntaxHighlighting(highlighter),
      theme,
      errorField,
      // Ctrl/Cmd+Enter runs; before the default keymap, which would insert a line.
      keymap.of([
        { key: "Mod-Enter", run: () => { onRun(); return true; } },
        indentWithTab,
        ...defaultKeymap,
        ...historyKeymap,
      ]),
      EditorView.contentAttributes.of({ "aria-label": label }),
      EditorView.updateListener.of((update) => {
        if (!update.docChanged) return;
        // The draft survives a reload; written at most every 300 ms.
        clearTimeout(saveTimer);
        saveTimer = setTimeout(() => storage.set(DRAFT, update.state.doc.toString()), 300);
      }),
    ],
  });
  const root = parent.attachShadow({ mode: "open" });
  const view = new EditorView({ state, parent: root, root });

  return {
    view,
    text: () => view.state.doc.toString(),
    setText(text) {
      view.dispatch({
        changes: { from: 0, to: view.state.doc.length, insert: text },
        effects: setError.of(Decoration.none),
      });
      storage.set(DRAFT, text);
    },
    // Marks line/column (1-based; 0 = unknown) with the error's message.
    markError(line, column, message) {
      const marks = errorMarks(view.state, line, column, message);
      const effects = [setError.of(marks)];
      if (line >= 1 && line <= view.state.doc.lines) {
        effects.push(EditorView.scrollIntoView(view.state.doc.line(line).from, { y: "center" }));
      }
      view.dispatch({ effects });
    },
    clearError() {
      view.dispatch({ effects: setError.of(Decoration.none) });
    },
    focus: () => view.focus(),
  };
}
