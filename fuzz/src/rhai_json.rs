//! Rhai values ↔ JSON (`circles_sandbox::json`), in both modes.
//!
//! An input that is JSON text is read as JSON: `from_json` then strict `to_json` gives it
//! back (numbers past `i64` become floats, as documented), and a second trip changes nothing.
//! Any other input is decoded (with `arbitrary`) into a graph of Rhai values — every type a
//! script can hold, shared values as closures make them, cycles included — and limits, either
//! the store's, a `play` result's or arbitrary ones. Then:
//! - `to_json` never panics, in either mode;
//! - what it returns is within the limits (depth, elements, string bytes);
//! - what strict accepts, lenient renders the same, and it comes back the same through
//!   `from_json` and strict `to_json` again.

use std::time::Instant;

use arbitrary::{Arbitrary, Unstructured};
use circles_sandbox::json::{JsonLimits, JsonMode, ToJsonError, from_json, to_json};
use circles_sandbox::rhai::{Array, Blob, Dynamic, FnPtr, Map};
use serde_json::Value;

/// Values built by copying (not sharing) are capped at this many nodes, so that a small input
/// cannot describe an exponentially large tree.
const MAX_COPIED_NODES: usize = 4096;

/// The store's depth limit (`circles_store`'s `MAX_VALUE_DEPTH`) and a `play` result's
/// (`MAX_RESULT_DEPTH` in the sandbox).
const STORE_DEPTH: usize = 128;
const RESULT_DEPTH: usize = 128;

#[derive(Arbitrary, Debug)]
enum Node {
    Unit,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Char(char),
    Blob(Vec<u8>),
    Array(Vec<Link>),
    Map(Vec<(String, Link)>),
    /// A function pointer; curried arguments are where closures keep captured variables.
    FnPtr {
        name: String,
        curry: Vec<Link>,
    },
    Timestamp,
    Custom(u8),
}

/// A reference from a container to node `node`: shared (the same value, as a captured
/// variable is; may form cycles) or a copy (only of later nodes, so copies stay finite).
/// Only function pointers hold shared values: Rhai flattens a shared value put into an array
/// or a map (`let f = || a; [a, a]` holds copies), so for those a shared link is a copy.
#[derive(Arbitrary, Debug)]
struct Link {
    node: u8,
    shared: bool,
}

#[derive(Arbitrary, Debug)]
enum Bounds {
    /// The store's: depth only (it bounds the size on the JSON text).
    Store,
    /// A `play` result's with these engine limits (array, map, string size).
    Result(u16, u16, u16),
    Custom {
        max_depth: u8,
        max_items: u16,
        max_string_bytes: Option<u16>,
    },
}

impl Bounds {
    fn limits(&self) -> JsonLimits {
        match *self {
            Bounds::Store => JsonLimits::depth_only(STORE_DEPTH),
            Bounds::Result(array, map, string) => JsonLimits {
                max_depth: RESULT_DEPTH,
                max_items: usize::from(array) + usize::from(map) + 1,
                max_string_bytes: usize::from(string),
            },
            Bounds::Custom {
                max_depth,
                max_items,
                max_string_bytes,
            } => JsonLimits {
                max_depth: max_depth.into(),
                max_items: max_items.into(),
                max_string_bytes: max_string_bytes.map_or(usize::MAX, usize::from),
            },
        }
    }
}

#[derive(Arbitrary, Debug)]
struct Graph {
    nodes: Vec<Node>,
    root_shared: bool,
    bounds: Bounds,
}

/// A custom type, as a host function could hand a script.
#[derive(Clone)]
struct Opaque(#[allow(dead_code)] u8);

pub fn run(data: &[u8]) {
    if let Ok(json) = serde_json::from_slice::<Value>(data) {
        json_round_trip(&json);
        return;
    }
    let Ok(graph) = Graph::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    if graph.nodes.is_empty() {
        return;
    }
    let mut builder = Builder::new(&graph.nodes);
    let value = builder.root(graph.root_shared);
    check_value(&value, graph.bounds.limits());
    drop(value);
    builder.break_cycles();
}

/// JSON → Rhai → JSON gives the JSON back (but for integers past `i64`, which become floats).
fn json_round_trip(json: &Value) {
    let limits = JsonLimits::depth_only(usize::MAX);
    let back = to_json(&from_json(json), JsonMode::Strict, limits)
        .unwrap_or_else(|e| panic!("strict to_json refused what from_json made of {json}: {e}"));
    assert_eq!(back, wide_ints_as_floats(json), "JSON → Rhai → JSON");
    let again = to_json(&from_json(&back), JsonMode::Strict, limits);
    assert_eq!(again.as_ref(), Ok(&back), "a second round trip changed it");
}

fn wide_ints_as_floats(json: &Value) -> Value {
    match json {
        Value::Number(n) if n.as_i64().is_none() && n.is_u64() => {
            n.as_f64().map_or(Value::Null, |f| {
                serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
            })
        }
        Value::Array(a) => Value::Array(a.iter().map(wide_ints_as_floats).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), wide_ints_as_floats(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn check_value(value: &Dynamic, limits: JsonLimits) {
    let strict = to_json(value, JsonMode::Strict, limits);
    // Lenient follows function pointers into what they captured, which can be cyclic: only
    // the element budget bounds it, so it is never used without one (the store's depth-only
    // limits are strict's, which refuses function pointers).
    if limits.max_items == usize::MAX {
        return check_strict(&strict, limits);
    }
    let lenient = to_json(value, JsonMode::Lenient, limits);
    if let Ok(json) = &lenient {
        // Lenient's stand-ins (a char, a function's name, a type's name) are strings too.
        Measure::of(json).assert_within(limits, "lenient");
    }
    match &strict {
        Ok(json) => assert_eq!(lenient.as_ref(), Ok(json), "lenient differs from strict"),
        Err(ToJsonError::NotFinite(_) | ToJsonError::Unsupported { .. }) => {}
        Err(limit) => assert_eq!(
            lenient.as_ref().err(),
            Some(limit),
            "strict hit a limit that lenient did not hit first"
        ),
    }
    check_strict(&strict, limits);
}

/// What strict accepts is within the limits and comes back the same.
fn check_strict(strict: &Result<Value, ToJsonError>, limits: JsonLimits) {
    if let Ok(json) = strict {
        Measure::of(json).assert_within(limits, "strict");
        let back = to_json(&from_json(json), JsonMode::Strict, limits);
        assert_eq!(back.as_ref(), Ok(json), "strict JSON → Rhai → JSON");
    } else if let Err(ToJsonError::Unsupported { type_name }) = strict {
        assert!(
            !type_name.is_empty(),
            "a value refused without its type's name"
        );
    }
}

/// What a JSON value holds, counted as [`JsonLimits`] counts it.
#[derive(Debug, Default)]
struct Measure {
    depth: usize,
    items: usize,
    string_bytes: usize,
}

impl Measure {
    fn of(json: &Value) -> Measure {
        let mut measure = Measure::default();
        measure.depth = measure.walk(json);
        measure
    }

    /// Counts `json`'s elements and string bytes; returns its depth.
    fn walk(&mut self, json: &Value) -> usize {
        match json {
            Value::String(s) => {
                self.string_bytes += s.len();
                0
            }
            Value::Array(a) => {
                self.items += a.len();
                1 + a.iter().map(|v| self.walk(v)).max().unwrap_or(0)
            }
            Value::Object(o) => {
                self.items += o.len();
                let mut deepest = 0;
                for (k, v) in o {
                    self.string_bytes += k.len();
                    deepest = deepest.max(self.walk(v));
                }
                1 + deepest
            }
            _ => 0,
        }
    }

    fn assert_within(&self, limits: JsonLimits, mode: &str) {
        assert!(
            self.depth <= limits.max_depth
                && self.items <= limits.max_items
                && self.string_bytes <= limits.max_string_bytes,
            "{mode} output {self:?} is over its limits {limits:?}"
        );
    }
}

/// Turns the nodes into Rhai values: each node also has a shared cell (its value, as a
/// captured variable holds it), which links marked shared point to.
struct Builder<'a> {
    nodes: &'a [Node],
    cells: Vec<Dynamic>,
    copied: usize,
}

impl<'a> Builder<'a> {
    fn new(nodes: &'a [Node]) -> Self {
        let mut builder = Builder {
            nodes,
            cells: (0..nodes.len())
                .map(|_| Dynamic::UNIT.into_shared())
                .collect(),
            copied: 0,
        };
        for i in 0..nodes.len() {
            let value = builder.node(i);
            let mut cell = builder.cells[i].clone();
            *cell
                .write_lock::<Dynamic>()
                .expect("a shared cell can be written") = value;
        }
        builder
    }

    /// Empties every shared cell: the cycles the graph made are reference cycles, which
    /// would otherwise outlive the input (and be reported by LeakSanitizer as a leak of the
    /// code under test). A script's cycles are not broken for it: see fuzz/README.md.
    fn break_cycles(&mut self) {
        for cell in &mut self.cells {
            *cell
                .write_lock::<Dynamic>()
                .expect("a shared cell can be written") = Dynamic::UNIT;
        }
    }

    fn root(&mut self, shared: bool) -> Dynamic {
        if shared {
            self.cells[0].clone()
        } else {
            self.copied = 0;
            self.node(0)
        }
    }

    fn link(&mut self, from: usize, link: &Link) -> Dynamic {
        let to = usize::from(link.node) % self.nodes.len();
        if link.shared && matches!(self.nodes[from], Node::FnPtr { .. }) {
            self.cells[to].clone()
        } else if to > from && self.copied < MAX_COPIED_NODES {
            self.node(to)
        } else {
            Dynamic::UNIT
        }
    }

    fn node(&mut self, i: usize) -> Dynamic {
        self.copied += 1;
        let nodes = self.nodes;
        match &nodes[i] {
            Node::Unit => Dynamic::UNIT,
            Node::Bool(b) => (*b).into(),
            Node::Int(n) => (*n).into(),
            Node::Float(f) => Dynamic::from_float(*f),
            Node::Str(s) => s.clone().into(),
            Node::Char(c) => (*c).into(),
            Node::Blob(bytes) => Dynamic::from_blob(Blob::from(bytes.clone())),
            Node::Array(links) => {
                Dynamic::from_array(links.iter().map(|l| self.link(i, l)).collect::<Array>())
            }
            Node::Map(entries) => Dynamic::from_map(
                entries
                    .iter()
                    .map(|(k, l)| (k.as_str().into(), self.link(i, l)))
                    .collect::<Map>(),
            ),
            Node::FnPtr { name, curry } => {
                // Only names a script could make (identifiers, not keywords; `Fn(name)` takes
                // any length): another name becomes `fff…`, one longer than it.
                let mut pointer = FnPtr::new(name.as_str()).unwrap_or_else(|_| {
                    FnPtr::new("f".repeat(name.len() + 1)).expect("an identifier")
                });
                for link in curry {
                    let argument = self.link(i, link);
                    pointer.add_curry(argument);
                }
                Dynamic::from(pointer)
            }
            Node::Timestamp => Dynamic::from_timestamp(Instant::now()),
            Node::Custom(n) => Dynamic::from(Opaque(*n)),
        }
    }
}
