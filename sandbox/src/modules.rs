//! The circle's script library: `import` of `.rhai` files confined to one folder
//! ([`ScriptLibrary`]).

use std::cell::RefCell;
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use rhai::{
    AST, Engine, EvalAltResult, FnAccess, GlobalRuntimeState, Module, ModuleResolver, Position,
    Scope, Shared,
};
use serde::Serialize;

use crate::context::RunContext;
use crate::limits::Limits;

type RhaiResultOf<T> = Result<T, Box<EvalAltResult>>;
type SharedModule = Shared<Module>;

/// Compiled modules kept; the cache is emptied when it is full.
const CACHE_ENTRIES: usize = 256;

/// The file extension of modules.
const EXTENSION: &str = "rhai";

/// How deep [`ScriptLibrary::modules`] looks into sub-folders.
const MAX_FOLDER_DEPTH: usize = 8;

/// A function a module of the library publishes: every function not declared `private`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublishedFunction {
    /// The module, as `import` names it (`guestbook`, `sub/util`).
    pub module: String,
    /// The function's name.
    pub name: String,
    /// Its parameters' names, in order.
    pub params: Vec<String>,
    /// Its doc comment (`///` lines before it) without the `///`; empty when it has none.
    pub doc: String,
}

/// A [`ModuleResolver`] serving `.rhai` files from one folder (the circle's `rhai_path`),
/// installed with [`SandboxBuilder::module_resolver`](crate::SandboxBuilder::module_resolver).
///
/// ```no_run
/// # use circles_sandbox::{CircleInfo, Limits, Sandbox, ScriptLibrary};
/// let limits = Limits::default();
/// let library = ScriptLibrary::new("scripts/alice")?.with_max_script_bytes(limits.max_script_bytes);
/// let sandbox = Sandbox::builder(CircleInfo { id: "alice".into(), public_key: "02ab…".into() }, limits)
///     .module_resolver(library)
///     .build()?;
/// // a script may now `import "util" as u;` (scripts/alice/util.rhai)
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// `import "name"`
/// loads `<root>/name.rhai`, `import "sub/name"` loads `<root>/sub/name.rhai` (a name that
/// already ends in `.rhai` is used as it is). Every import resolves against the library's root,
/// also when the `import` statement is inside a module: names are never relative to the
/// importing file.
///
/// Refused, with a runtime error that names the import: empty names, absolute paths, `..`,
/// `.` or empty path segments, backslashes, NUL, files over the size limit, and any name whose
/// canonical path (all symbolic links followed) is not inside the canonical root. A symbolic
/// link inside the root that points inside the root is fine. A missing file is rhai's
/// "Module not found" error. Error messages never show the root's absolute path.
///
/// A module is compiled with the calling engine (so the compile-time limits apply) and its
/// top-level code runs with [`Module::eval_ast_as_new_raw`] under the importing run's own
/// runtime state: its operations count against the run's `max_operations`, it runs before
/// the run's deadline on the same worker thread, in the same [`RunContext`] (its functions
/// see the run's caller through `caller_public_key()` and host functions such as the store's),
/// and modules imported by modules count against the run's `max_modules` (a module being
/// loaded counts already, so nesting cannot get around the limit). An import cycle is refused.
///
/// The module's top-level code sees the constants `CIRCLE_ID`, `CIRCLE_PUBLIC_KEY` and
/// `CALLER_PUBLIC_KEY` with the run's real values (not the importing script's variables,
/// which it cannot see). Its `export`ed variables and non-`private` functions form the module.
///
/// Compiled modules are cached by canonical path, and reused while the file's modification
/// time and size are unchanged. Only the compiled code is cached: the module itself is built
/// again on every import, so its top-level code always runs for the current caller.
#[derive(Debug)]
pub struct ScriptLibrary {
    root: PathBuf,
    max_script_bytes: usize,
    cache: Mutex<HashMap<PathBuf, Cached>>,
}

#[derive(Debug)]
struct Cached {
    modified: Option<SystemTime>,
    len: u64,
    ast: Arc<AST>,
}

impl ScriptLibrary {
    /// A library rooted at `root` (which must be an existing directory; it is canonicalized).
    /// Module files may be at most [`Limits::default`]`().max_script_bytes` bytes; see
    /// [`ScriptLibrary::with_max_script_bytes`].
    pub fn new(root: impl AsRef<Path>) -> Result<Self, io::Error> {
        let root = std::fs::canonicalize(root.as_ref())?;
        if !root.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                format!("the script library {} is not a directory", root.display()),
            ));
        }
        Ok(Self {
            root,
            max_script_bytes: Limits::default().max_script_bytes,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// Sets the largest module file accepted, in bytes (use the circle's `max_script_bytes`).
    #[must_use]
    pub fn with_max_script_bytes(mut self, max_script_bytes: usize) -> Self {
        self.max_script_bytes = max_script_bytes;
        self
    }

    /// The canonical root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The largest module file accepted, in bytes.
    pub fn max_script_bytes(&self) -> usize {
        self.max_script_bytes
    }

    /// The names of the library's modules (`guestbook`, `sub/util`), sorted: every `.rhai`
    /// file in the root and its sub-folders (up to 8 deep) that `import` would load.
    pub fn modules(&self) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        let mut folders = vec![(self.root.clone(), String::new(), 0)];
        while let Some((folder, prefix, depth)) = folders.pop() {
            for entry in std::fs::read_dir(&folder)? {
                let entry = entry?;
                let Some(file_name) = entry.file_name().to_str().map(str::to_owned) else {
                    continue; // not UTF-8: `import` could not name it either
                };
                let name = format!("{prefix}{file_name}");
                let path = entry.path();
                if path.is_dir() {
                    if depth < MAX_FOLDER_DEPTH {
                        folders.push((path, format!("{name}/"), depth + 1));
                    }
                } else if let Some(module) = name.strip_suffix(&format!(".{EXTENSION}")) {
                    // Only what `import` accepts (symlinks leading outside are not).
                    if matches!(self.locate(module), Ok(Some(_))) {
                        names.push(module.to_owned());
                    }
                }
            }
        }
        names.sort();
        Ok(names)
    }

    /// The functions module `name` publishes, compiling it (with `engine`, cached) if needed.
    /// A missing module is rhai's "Module not found" error.
    pub(crate) fn published(
        &self,
        engine: &Engine,
        name: &str,
    ) -> RhaiResultOf<Vec<PublishedFunction>> {
        let ast = self.compiled(engine, name, Position::NONE)?;
        let mut functions: Vec<PublishedFunction> = ast
            .iter_functions()
            .filter(|f| f.access != FnAccess::Private)
            .map(|f| PublishedFunction {
                module: name.to_owned(),
                name: f.name.to_owned(),
                params: f.params.iter().map(|p| (*p).to_owned()).collect(),
                doc: doc_text(&f.comments),
            })
            .collect();
        functions.sort_by(|a, b| (&a.name, a.params.len()).cmp(&(&b.name, b.params.len())));
        Ok(functions)
    }

    /// The canonical file that `import name` loads, after every check; `Ok(None)` when there
    /// is no such file.
    fn locate(&self, name: &str) -> Result<Option<(PathBuf, std::fs::Metadata)>, String> {
        check_name(name)?;
        let mut relative = PathBuf::from(name);
        if relative.extension().is_none_or(|ext| ext != EXTENSION) {
            relative.as_mut_os_string().push(".");
            relative.as_mut_os_string().push(EXTENSION);
        }
        let canonical = match std::fs::canonicalize(self.root.join(&relative)) {
            Ok(p) => p,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                ) =>
            {
                return Ok(None);
            }
            Err(e) => return Err(format!("cannot read it: {}", e.kind())),
        };
        if !canonical.starts_with(&self.root) {
            return Err(
                "it resolves (through a symbolic link) to a file outside the \
                        circle's script library"
                    .to_owned(),
            );
        }
        let meta =
            std::fs::metadata(&canonical).map_err(|e| format!("cannot read it: {}", e.kind()))?;
        if !meta.is_file() {
            return Ok(None);
        }
        Ok(Some((canonical, meta)))
    }

    /// The compiled module `name`, from the cache or read and compiled with `engine`.
    fn compiled(&self, engine: &Engine, name: &str, pos: Position) -> RhaiResultOf<Arc<AST>> {
        let refused = |why: String| -> Box<EvalAltResult> {
            EvalAltResult::ErrorRuntime(format!("import {name:?} refused: {why}").into(), pos)
                .into()
        };
        let Some((path, meta)) = self.locate(name).map_err(refused)? else {
            return Err(EvalAltResult::ErrorModuleNotFound(name.to_owned(), pos).into());
        };
        let modified = meta.modified().ok();
        let len = meta.len();
        if let Some(hit) = self.cache().get(&path)
            && hit.modified == modified
            && hit.len == len
        {
            return Ok(Arc::clone(&hit.ast));
        }
        let too_large = |actual: u64| {
            refused(format!(
                "the module is {actual} bytes, the limit is {}",
                self.max_script_bytes
            ))
        };
        let max = u64::try_from(self.max_script_bytes).unwrap_or(u64::MAX);
        if len > max {
            return Err(too_large(len));
        }
        let mut text = String::new();
        File::open(&path)
            .and_then(|f| f.take(max.saturating_add(1)).read_to_string(&mut text))
            .map_err(|e| match e.kind() {
                io::ErrorKind::InvalidData => refused("the module is not UTF-8 text".to_owned()),
                kind => refused(format!("cannot read it: {kind}")),
            })?;
        if text.len() > self.max_script_bytes {
            return Err(too_large(text.len() as u64));
        }
        let mut ast = engine
            .compile(&text)
            .map_err(|e| Box::new(EvalAltResult::ErrorInModule(name.to_owned(), e.into(), pos)))?;
        ast.set_source(name);
        let ast = Arc::new(ast);
        let mut cache = self.cache();
        if cache.len() >= CACHE_ENTRIES {
            cache.clear();
        }
        cache.insert(
            path,
            Cached {
                modified,
                len,
                ast: Arc::clone(&ast),
            },
        );
        Ok(ast)
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<PathBuf, Cached>> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn load(
        &self,
        engine: &Engine,
        global: Option<&mut GlobalRuntimeState>,
        name: &str,
        pos: Position,
    ) -> RhaiResultOf<SharedModule> {
        let ast = self.compiled(engine, name, pos)?;
        let loaded = global.as_ref().map_or(0, |g| g.num_modules_loaded);
        let _loading = Loading::enter(name, loaded, engine.max_modules(), pos)?;
        let mut scope = module_scope();
        let module = match global {
            Some(global) => Module::eval_ast_as_new_raw(engine, &mut scope, global, &ast),
            None => Module::eval_ast_as_new(scope, &ast, engine),
        }
        .map_err(|e| Box::new(EvalAltResult::ErrorInModule(name.to_owned(), e, pos)))?;
        Ok(module.into())
    }
}

impl ModuleResolver for ScriptLibrary {
    fn resolve(
        &self,
        engine: &Engine,
        _source: Option<&str>,
        path: &str,
        pos: Position,
    ) -> RhaiResultOf<SharedModule> {
        self.load(engine, None, path, pos)
    }

    fn resolve_raw(
        &self,
        engine: &Engine,
        global: &mut GlobalRuntimeState,
        _scope: &mut Scope,
        path: &str,
        pos: Position,
    ) -> RhaiResultOf<SharedModule> {
        self.load(engine, Some(global), path, pos)
    }
}

/// A doc comment's text: `///` and `/** */` leaders stripped, lines joined by `\n`.
fn doc_text(comments: &[&str]) -> String {
    let mut lines = Vec::new();
    for comment in comments {
        if let Some(block) = comment.strip_prefix("/**") {
            let block = block.strip_suffix("*/").unwrap_or(block);
            lines.extend(
                block
                    .lines()
                    .map(|l| l.trim().trim_start_matches('*').trim()),
            );
        } else {
            lines.extend(comment.lines().map(|l| {
                let l = l.trim().trim_start_matches("///");
                l.strip_prefix(' ').unwrap_or(l)
            }));
        }
    }
    lines.join("\n").trim().to_owned()
}

/// A [`ScriptLibrary`] shared between the engine (as its module resolver) and the
/// sandbox (which lists and calls its published functions).
#[derive(Debug, Clone)]
pub(crate) struct SharedLibrary(pub(crate) Arc<ScriptLibrary>);

impl ModuleResolver for SharedLibrary {
    fn resolve(
        &self,
        engine: &Engine,
        source: Option<&str>,
        path: &str,
        pos: Position,
    ) -> RhaiResultOf<SharedModule> {
        self.0.resolve(engine, source, path, pos)
    }

    fn resolve_raw(
        &self,
        engine: &Engine,
        global: &mut GlobalRuntimeState,
        scope: &mut Scope,
        path: &str,
        pos: Position,
    ) -> RhaiResultOf<SharedModule> {
        self.0.resolve_raw(engine, global, scope, path, pos)
    }
}

/// Checks the text of an import: a relative path of plain names separated by `/`.
pub(crate) fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the module name is empty".to_owned());
    }
    if name.contains('\0') {
        return Err("the module name contains a NUL character".to_owned());
    }
    if name.contains('\\') {
        return Err("backslashes are not allowed; separate folders with '/'".to_owned());
    }
    if name.starts_with('/') || Path::new(name).has_root() {
        return Err(
            "absolute paths are not allowed; name a module inside the circle's \
                    script library, e.g. \"util\" or \"sub/util\""
                .to_owned(),
        );
    }
    for segment in name.split('/') {
        match segment {
            ".." => return Err("'..' is not allowed in a module name".to_owned()),
            "" | "." => {
                return Err("empty or '.' path segments are not allowed".to_owned());
            }
            _ => {}
        }
    }
    // Belt and braces: whatever the platform's path syntax, only plain names remain.
    if !Path::new(name)
        .components()
        .all(|c| matches!(c, Component::Normal(_)))
    {
        return Err("only plain names separated by '/' are allowed".to_owned());
    }
    Ok(())
}

/// A fresh scope for a module's top-level code, with the run's real identity constants.
fn module_scope() -> Scope<'static> {
    let mut scope = Scope::new();
    if let Some(ctx) = RunContext::current() {
        scope.push_constant("CIRCLE_ID", ctx.circle_id);
        scope.push_constant("CIRCLE_PUBLIC_KEY", ctx.circle_public_key);
        scope.push_constant("CALLER_PUBLIC_KEY", ctx.caller_public_key);
        scope.push_constant("CALLER_IS_MEMBER", ctx.caller_is_member);
    }
    scope
}

thread_local! {
    /// The modules being loaded on this thread, outermost first.
    static LOADING: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// Marks a module as being loaded for as long as it lives (also when unwinding).
struct Loading(());

impl Loading {
    /// Refuses an import cycle, and an import that, counting the modules still being loaded
    /// (rhai counts a module only once it is loaded), would exceed `max_modules`.
    fn enter(name: &str, loaded: usize, max_modules: usize, pos: Position) -> RhaiResultOf<Self> {
        LOADING.with(|stack| {
            let mut stack = stack.borrow_mut();
            if stack.iter().any(|n| n == name) {
                let chain = stack
                    .iter()
                    .skip_while(|n| *n != name)
                    .chain(std::iter::once(&name.to_owned()))
                    .map(|n| format!("{n:?}"))
                    .collect::<Vec<_>>()
                    .join(" -> ");
                return Err(EvalAltResult::ErrorRuntime(
                    format!("import {name:?} refused: circular import {chain}").into(),
                    pos,
                )
                .into());
            }
            if loaded.saturating_add(stack.len()) >= max_modules {
                return Err(EvalAltResult::ErrorTooManyModules(pos).into());
            }
            stack.push(name.to_owned());
            Ok(Self(()))
        })
    }
}

impl Drop for Loading {
    fn drop(&mut self) {
        LOADING.with(|stack| {
            if let Ok(mut stack) = stack.try_borrow_mut() {
                stack.pop();
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::check_name;

    #[test]
    fn names_are_plain_relative_paths() {
        for ok in ["util", "sub/util", "a/b/c", "util.rhai", ".hidden", "a..b"] {
            assert_eq!(check_name(ok), Ok(()), "{ok}");
        }
        for (bad, why) in [
            ("", "empty"),
            ("/etc/passwd", "absolute"),
            ("../x", "'..'"),
            ("sub/../../x", "'..'"),
            ("sub/..", "'..'"),
            ("a//b", "empty or '.'"),
            ("./a", "empty or '.'"),
            ("a/", "empty or '.'"),
            ("a\\b", "backslashes"),
            ("a\0b", "NUL"),
        ] {
            let err = check_name(bad).expect_err(bad);
            assert!(err.contains(why), "{bad:?}: {err}");
        }
    }
}
