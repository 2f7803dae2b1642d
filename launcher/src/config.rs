//! `circles.json`: the circles to start, as read from the file (see [`crate::validate`] for
//! the rules across circles).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use schemars::JsonSchema;
use serde::de::{DeserializeOwned, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::ConfigError;

/// One circle of `circles.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CircleConfig {
    /// The circle's id: unique, 1 to 64 characters of `a-z`, `0-9` and `-`.
    #[schemars(regex(pattern = r"^[a-z0-9-]{1,64}$"))]
    pub id: String,
    /// TCP port of the circle's WebSocket server: 1 to 65535, unique among the circles; or 0
    /// for any free port, chosen by the system when the circle starts (the launcher's table
    /// shows it), which several circles may use.
    pub port: u16,
    /// The circle's own data directory (identity key, store), created if missing. Unique;
    /// not inside another circle's. Relative paths are taken from the config file's folder.
    pub db_path: PathBuf,
    /// The circle's script library: an existing directory; `import "name"` loads
    /// `name.rhai` from it and from nowhere else. Relative to the config file's folder.
    pub rhai_path: PathBuf,
    /// Address to listen on (default 127.0.0.1).
    #[serde(default = "default_host")]
    pub host: IpAddr,
    /// The circle's members: public keys (SEC1 hex) that `access` may give more rights.
    /// Scripts and published functions see whether their caller is one
    /// (`CALLER_IS_MEMBER`, `caller_is_member()`).
    #[serde(default)]
    #[schemars(with = "Vec<MemberKey>")]
    pub members: Vec<circles_identity::PublicKey>,
    /// Who may run scripts of their own (`play`: default `members`) and call the published
    /// functions of the script library (`call`, `list_functions`: default `signed_in`); each
    /// `members`, `signed_in` or `anyone` (anonymous callers too).
    #[serde(default)]
    pub access: rpc_server::Access,
    /// Lifetime of a `fetch_nonce` challenge in seconds (default 300).
    #[serde(default = "default_challenge_ttl_secs")]
    #[schemars(range(min = 1, max = 86400))]
    pub challenge_ttl_secs: u64,
    /// Script sandbox limits (each optional; see the README for defaults).
    #[serde(default)]
    pub limits: circles_sandbox::Limits,
    /// The server: transport limits and allowed web origins (each optional; see the README).
    #[serde(default)]
    pub server: rpc_server::ServerSettings,
    /// The store: quotas per author and per circle, and the bytes one listing may return
    /// (each optional; see the README).
    #[serde(default)]
    pub store: circles_store::StoreLimits,
    /// Circles elsewhere that this circle's scripts may call (`peers::invoke`, `peers::play`),
    /// besides the other circles of this file, which are its peers already.
    #[serde(default)]
    pub peers: Vec<PeerConfig>,
}

/// A circle elsewhere, as a peer of this one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PeerConfig {
    /// The name scripts call it by (`peers::invoke("bob", …)`): 1 to 64 characters of `a-z`,
    /// `0-9` and `-`, unique among the circle's peers and the circles of this file.
    #[schemars(regex(pattern = r"^[a-z0-9-]{1,64}$"))]
    pub id: String,
    /// Where it listens: `ws://host:port` (or `wss://`).
    #[schemars(regex(pattern = r"^wss?://"))]
    pub url: String,
    /// Its identity key, pinned: the circle signs in to it only if its challenge names this
    /// key (SEC1 hex, as its launcher's table shows it).
    #[schemars(with = "MemberKey")]
    pub public_key: circles_identity::PublicKey,
}

/// A member's public key, for the schema: SEC1 hex, 33 or 65 bytes, optional `0x`.
#[derive(JsonSchema)]
#[schemars(regex(pattern = r"^(0[xX])?([0-9a-fA-F]{66}|[0-9a-fA-F]{130})$"))]
#[allow(dead_code)] // only its schema is used
struct MemberKey(String);

fn default_challenge_ttl_secs() -> u64 {
    rpc_server::CircleSettings::DEFAULT_CHALLENGE_TTL.as_secs()
}

fn default_host() -> IpAddr {
    IpAddr::V4(Ipv4Addr::LOCALHOST)
}

/// The whole file: a JSON array of circles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(
    title = "circles.json",
    description = "The circles the circles launcher starts: one object per circle."
)]
pub struct CirclesFile(pub Vec<CircleConfig>);

/// Reads and parses `path`; relative `db_path` and `rhai_path` are resolved against the
/// file's folder. Every problem found while parsing is reported (see [`parse`]); rules
/// across circles are checked by [`crate::validate::validate`].
pub fn load(path: &Path) -> Result<Vec<CircleConfig>, Vec<ConfigError>> {
    let parsed = read(path).map_err(|error| vec![error])?;
    if parsed.errors.is_empty() {
        Ok(parsed
            .circles
            .into_iter()
            .flatten()
            .map(|c| c.config)
            .collect())
    } else {
        Err(parsed.errors)
    }
}

/// Reads `path` and [`parse`]s it, with its folder as the base of relative paths.
pub fn read(path: &Path) -> Result<Parsed, ConfigError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Unreadable {
        file: file.clone(),
        source,
    })?;
    Ok(parse(&file, &text, path.parent().unwrap_or(Path::new(""))))
}

/// A `circles.json` as far as it could be parsed.
#[derive(Debug)]
pub struct Parsed {
    /// One entry per element of the file's array, in order: `None` for an element that is
    /// not an object. Empty when the file is not an array.
    pub circles: Vec<Option<ParsedCircle>>,
    /// Every problem found while parsing, in file order; the file is valid JSON of the right
    /// shape when empty.
    pub errors: Vec<ConfigError>,
}

/// One circle as far as it could be parsed.
#[derive(Debug)]
pub struct ParsedCircle {
    /// The circle; each field in `failed` holds its default (or a placeholder, for a
    /// required field) instead of what the file says.
    pub config: CircleConfig,
    /// The fields whose value was missing or wrong (reported in [`Parsed::errors`]).
    pub failed: BTreeSet<&'static str>,
}

/// Parses the text of a `circles.json` (named `file` in errors; relative paths are taken
/// from `base`), reporting every problem rather than the first: the text is read as JSON
/// first (a syntax error or a repeated key stops there), then every circle's fields are
/// read one by one, so that a misspelled field (with the field it most likely meant), a
/// missing one and a value of the wrong type in the same file are all reported, each with
/// its place (`[1].limits.max_time_ms`).
pub fn parse(file: &str, text: &str, base: &Path) -> Parsed {
    let mut errors = Vec::new();
    let value = match serde_path_to_error::deserialize::<_, StrictJson>(
        &mut serde_json::Deserializer::from_str(text),
    ) {
        Ok(StrictJson(value)) => value,
        Err(error) => {
            // A syntax error's message has its line and column; a path names a place only
            // inside the array of circles (serde says `.` or `?` outside it).
            let at = error.path().to_string();
            let at = if at.starts_with('[') {
                at
            } else {
                String::new()
            };
            errors.push(ConfigError::invalid(file, &at, error.into_inner()));
            return Parsed {
                circles: Vec::new(),
                errors,
            };
        }
    };
    let Value::Array(items) = value else {
        let looks_like_a_circle = value
            .as_object()
            .is_some_and(|object| object.contains_key("id") || object.contains_key("port"));
        let message = if looks_like_a_circle {
            "must be a JSON array of circles, and this is one circle: put it in [ ]".to_owned()
        } else {
            format!(
                "must be a JSON array of circles ([{{\"id\": …, \"port\": …, \"db_path\": …, \
                 \"rhai_path\": …}}, …]), not {}",
                kind(&value)
            )
        };
        errors.push(ConfigError::invalid(file, "", message));
        return Parsed {
            circles: Vec::new(),
            errors,
        };
    };
    let circles = items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let mut circle = parse_circle(file, i, item, &mut errors)?;
            circle.config.db_path = normalize(&base.join(&circle.config.db_path));
            circle.config.rhai_path = normalize(&base.join(&circle.config.rhai_path));
            Some(circle)
        })
        .collect();
    Parsed { circles, errors }
}

const REQUIRE_AUTH_HINT: &str = "`require_auth` was replaced by `access` and `members`: for what \
     `\"require_auth\": false` did, write `\"access\": {\"play\": \"anyone\", \"call\": \
     \"anyone\"}`; `true` is now the default for calls, and `play` is for members only unless \
     `access.play` says otherwise";

/// One circle, field by field. Built with a struct literal so that a new field of
/// [`CircleConfig`] does not compile until it is read here too (and `parse_agrees_with_serde`
/// checks the defaults are serde's).
fn parse_circle(
    file: &str,
    i: usize,
    item: &Value,
    errors: &mut Vec<ConfigError>,
) -> Option<ParsedCircle> {
    let at = format!("[{i}]");
    let Some(object) = item.as_object() else {
        errors.push(ConfigError::invalid(
            file,
            &at,
            format!(
                "a circle is a JSON object ({{\"id\": …, \"port\": …, \"db_path\": …, \
                 \"rhai_path\": …}}), not {}",
                kind(item)
            ),
        ));
        return None;
    };
    let mut fields = Fields {
        file,
        at,
        object,
        errors,
        failed: BTreeSet::new(),
        needs: "every circle needs id, port, db_path and rhai_path",
    };
    fields.unknown("CircleConfig");
    let config = CircleConfig {
        id: fields.required("id").unwrap_or_default(),
        port: fields.required("port").unwrap_or_default(),
        db_path: fields.required("db_path").unwrap_or_default(),
        rhai_path: fields.required("rhai_path").unwrap_or_default(),
        host: fields.optional("host", default_host),
        members: fields.optional("members", Vec::new),
        access: fields.nested("access", "Access"),
        challenge_ttl_secs: fields.optional("challenge_ttl_secs", default_challenge_ttl_secs),
        limits: fields.nested("limits", "Limits"),
        server: fields.nested("server", "ServerSettings"),
        store: fields.nested("store", "StoreLimits"),
        peers: fields.peers(),
    };
    let failed = fields.failed;
    Some(ParsedCircle { config, failed })
}

/// Reads the fields of one JSON object (a circle, a peer), recording each problem.
struct Fields<'a> {
    file: &'a str,
    /// Where the object is (`[1]`, `[1].peers[0]`).
    at: String,
    object: &'a Map<String, Value>,
    errors: &'a mut Vec<ConfigError>,
    failed: BTreeSet<&'static str>,
    /// What a missing required field's error adds.
    needs: &'static str,
}

impl Fields<'_> {
    fn place(&self, name: &str) -> String {
        format!("{}.{name}", self.at)
    }

    /// Reports the fields of the object that `definition` (of the schema) does not have, each
    /// with the known field it most likely meant.
    fn unknown(&mut self, definition: &str) {
        let Some(known) = known_fields(definition) else {
            return; // serde's own check reports them
        };
        for key in self.object.keys() {
            if known.iter().any(|field| field == key) {
                continue;
            }
            let message = unknown_field_message(key, definition, known);
            self.errors
                .push(ConfigError::invalid(self.file, &self.place(key), message));
        }
    }

    fn report(&mut self, name: &'static str, error: serde_path_to_error::Error<serde_json::Error>) {
        let at = join_path(&self.place(name), &error.path().to_string());
        self.errors
            .push(ConfigError::invalid(self.file, &at, error.into_inner()));
        self.failed.insert(name);
    }

    /// A field that must be there.
    fn required<T: DeserializeOwned>(&mut self, name: &'static str) -> Option<T> {
        let Some(value) = self.object.get(name) else {
            let message = format!("missing field `{name}` ({})", self.needs);
            self.errors
                .push(ConfigError::invalid(self.file, &self.at, message));
            self.failed.insert(name);
            return None;
        };
        match serde_path_to_error::deserialize(value) {
            Ok(value) => Some(value),
            Err(error) => {
                self.report(name, error);
                None
            }
        }
    }

    /// A field with a default.
    fn optional<T: DeserializeOwned>(&mut self, name: &'static str, default: fn() -> T) -> T {
        match self.object.get(name).map(serde_path_to_error::deserialize) {
            None => default(),
            Some(Ok(value)) => value,
            Some(Err(error)) => {
                self.report(name, error);
                default()
            }
        }
    }

    /// An object of settings that all have defaults (`limits`, `server`, `store`,
    /// `access`): its unknown fields are reported, then each wrong value, by reading it
    /// again without the field that failed until it reads.
    fn nested<T: DeserializeOwned + Default>(&mut self, name: &'static str, definition: &str) -> T {
        let Some(value) = self.object.get(name) else {
            return T::default();
        };
        let mut value = value.clone();
        let at = self.place(name);
        if let Some(object) = value.as_object_mut()
            && let Some(known) = known_fields(definition)
        {
            let unknown: Vec<String> = object
                .keys()
                .filter(|key| !known.iter().any(|field| field == *key))
                .cloned()
                .collect();
            for key in unknown {
                let message = unknown_field_message(&key, definition, known);
                self.errors.push(ConfigError::invalid(
                    self.file,
                    &format!("{at}.{key}"),
                    message,
                ));
                // The other values are still the file's: the field is not `failed` for it.
                object.remove(&key);
            }
        }
        // Each round removes a field, so this ends.
        loop {
            match serde_path_to_error::deserialize::<_, T>(&value) {
                Ok(settings) => return settings,
                Err(error) => {
                    let field = match error.path().iter().next() {
                        Some(serde_path_to_error::Segment::Map { key }) => Some(key.clone()),
                        _ => None,
                    };
                    self.report(name, error);
                    let removed = match (field, value.as_object_mut()) {
                        (Some(field), Some(object)) => object.remove(&field).is_some(),
                        _ => false,
                    };
                    if !removed {
                        return T::default();
                    }
                }
            }
        }
    }

    /// The circle's `peers`: each one's fields read as a circle's are.
    fn peers(&mut self) -> Vec<PeerConfig> {
        const NAME: &str = "peers";
        let Some(value) = self.object.get(NAME) else {
            return Vec::new();
        };
        let Some(items) = value.as_array() else {
            let message = format!(
                "must be an array of peers ([{{\"id\": …, \"url\": …, \"public_key\": …}}]), \
                 not {}",
                kind(value)
            );
            self.errors
                .push(ConfigError::invalid(self.file, &self.place(NAME), message));
            self.failed.insert(NAME);
            return Vec::new();
        };
        let mut peers = Vec::new();
        for (j, item) in items.iter().enumerate() {
            let at = format!("{}.{NAME}[{j}]", self.at);
            let Some(object) = item.as_object() else {
                let message = format!(
                    "a peer is a JSON object ({{\"id\": …, \"url\": …, \"public_key\": …}}), \
                     not {}",
                    kind(item)
                );
                self.errors
                    .push(ConfigError::invalid(self.file, &at, message));
                self.failed.insert(NAME);
                continue;
            };
            let mut fields = Fields {
                file: self.file,
                at,
                object,
                errors: self.errors,
                failed: BTreeSet::new(),
                needs: "every peer needs id, url and public_key",
            };
            fields.unknown("PeerConfig");
            let peer = (
                fields.required("id"),
                fields.required("url"),
                fields.required("public_key"),
            );
            let failed = !fields.failed.is_empty();
            match peer {
                (Some(id), Some(url), Some(public_key)) if !failed => {
                    peers.push(PeerConfig {
                        id,
                        url,
                        public_key,
                    });
                }
                _ => {
                    self.failed.insert(NAME);
                }
            }
        }
        peers
    }
}

/// `at` followed by serde's path inside it (`.` for the value itself, `[2]`, `max_time_ms`).
fn join_path(at: &str, path: &str) -> String {
    match path {
        "." | "" => at.to_owned(),
        path if path.starts_with('[') => format!("{at}{path}"),
        path => format!("{at}.{path}"),
    }
}

/// `null`, `a string`, … for messages.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The schema's definitions of nested settings, by the circle field that holds them.
const NESTED: [(&str, &str); 4] = [
    ("limits", "Limits"),
    ("server", "ServerSettings"),
    ("store", "StoreLimits"),
    ("access", "Access"),
];

/// The field names of `definition` in the schema (`CircleConfig`, `Limits`, …).
fn known_fields(definition: &str) -> Option<&'static [String]> {
    static FIELDS: OnceLock<BTreeMap<String, Vec<String>>> = OnceLock::new();
    let all = FIELDS.get_or_init(|| {
        let schema = schema();
        let definitions = schema.get("definitions").and_then(Value::as_object);
        definitions
            .into_iter()
            .flatten()
            .filter_map(|(name, definition)| {
                let properties = definition.get("properties")?.as_object()?;
                Some((name.clone(), properties.keys().cloned().collect()))
            })
            .collect()
    });
    all.get(definition).map(Vec::as_slice)
}

/// Why `key` is not a field of `definition`, and what was most likely meant.
fn unknown_field_message(key: &str, definition: &str, known: &[String]) -> String {
    if definition == "CircleConfig" && key == "require_auth" {
        return REQUIRE_AUTH_HINT.to_owned();
    }
    if let Some(meant) = did_you_mean(key, known) {
        return format!("unknown field `{key}`: did you mean `{meant}`?");
    }
    if definition == "CircleConfig" {
        for (field, nested) in NESTED {
            if known_fields(nested).is_some_and(|fields| fields.iter().any(|f| f == key)) {
                return format!(
                    "unknown field `{key}`: it is a field of `{field}`: write \
                     \"{field}\": {{\"{key}\": …}}"
                );
            }
        }
    }
    let known: Vec<String> = known.iter().map(|field| format!("`{field}`")).collect();
    format!(
        "unknown field `{key}`, expected one of {}",
        known.join(", ")
    )
}

/// The known field `key` most likely misspells: the nearest by edit distance (a letter
/// wrong, missing, extra or two swapped count one each) within a third of its length, or
/// one it begins (`max_time` for `max_time_ms`).
fn did_you_mean<'a>(key: &str, known: &'a [String]) -> Option<&'a str> {
    let key = key.to_ascii_lowercase();
    known
        .iter()
        .filter_map(|field| {
            let distance = strsim::damerau_levenshtein(&key, field);
            let near = distance <= (field.len().max(key.len()) / 3).max(1);
            let prefix = key.len() >= 4 && field.starts_with(&key);
            (near || prefix).then_some((distance, field.as_str()))
        })
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, field)| field)
}

/// Any JSON value, as `serde_json::Value`, except that an object repeating a key is an
/// error (`Value` would keep the last one silently).
struct StrictJson(Value);

impl<'de> Deserialize<'de> for StrictJson {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(StrictJson)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("any JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(StrictJson(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(A::Error::custom(format_args!(
                    "duplicate field `{key}`: each field may appear once"
                )));
            }
            let StrictJson(value) = map.next_value()?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

/// `path` made absolute (against the current directory) with `.` and `..` folded away
/// lexically, so that two spellings of one directory compare equal.
fn normalize(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut out = PathBuf::new();
    for part in absolute.components() {
        match part {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// The JSON Schema of `circles.json` (committed as `circles.schema.json`).
pub fn schema() -> serde_json::Value {
    let mut schema =
        serde_json::to_value(schemars::schema_for!(CirclesFile)).unwrap_or(serde_json::Value::Null);
    // The worker count defaults to this machine's parallelism: not a fact of the format.
    if let Some(workers) = schema.pointer_mut("/definitions/Limits/properties/workers")
        && let Some(fields) = workers.as_object_mut()
    {
        fields.remove("default");
        fields.insert(
            "description".into(),
            "Worker threads (default: the machine's available parallelism).".into(),
        );
    }
    schema
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The field-by-field reading gives what serde's derive gives, defaults included.
    #[test]
    fn parse_agrees_with_serde() {
        let key = circles_identity::SecretKey::generate()
            .public_key()
            .to_hex();
        let files = [
            serde_json::json!([{"id": "a", "port": 0, "db_path": "/d/a", "rhai_path": "/s/a"}]),
            serde_json::json!([
                {"id": "a", "port": 9101, "db_path": "/d/a", "rhai_path": "/s/a",
                 "host": "::1", "members": [key], "access": {"play": "anyone"},
                 "challenge_ttl_secs": 60, "limits": {"max_time_ms": 5, "workers": 1},
                 "server": {"allowed_origins": ["http://x"], "max_batch_calls": 3},
                 "store": {"max_bytes": 1000000},
                 "peers": [{"id": "far", "url": "ws://127.0.0.1:1", "public_key": key}]},
                {"id": "b", "port": 1, "db_path": "/d/b", "rhai_path": "/s/b", "peers": []}
            ]),
        ];
        for file in files {
            let parsed = parse("f", &file.to_string(), Path::new("/"));
            assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
            let ours: Vec<CircleConfig> = parsed
                .circles
                .into_iter()
                .flatten()
                .map(|circle| {
                    assert!(circle.failed.is_empty());
                    circle.config
                })
                .collect();
            let serde: Vec<CircleConfig> =
                serde_json::from_value(file.clone()).expect("serde reads it");
            assert_eq!(ours, serde, "{file}");
        }
    }

    #[test]
    fn did_you_mean_finds_near_fields_only() {
        let known: Vec<String> = ["port", "db_path", "rhai_path", "host", "max_time_ms"]
            .map(String::from)
            .into();
        for (typed, meant) in [
            ("prot", Some("port")),
            ("PORT", Some("port")),
            ("dbpath", Some("db_path")),
            ("rhai", Some("rhai_path")),
            ("max_time", Some("max_time_ms")),
            ("hots", Some("host")),
            ("colour", None),
            ("p", None),
            ("xyz", None),
        ] {
            assert_eq!(did_you_mean(typed, &known), meant, "{typed}");
        }
    }

    /// Every definition whose fields are checked is in the schema: a renamed type would
    /// otherwise lose its "did you mean" silently (serde would still refuse the field).
    #[test]
    fn the_schema_names_every_checked_definition() {
        for definition in ["CircleConfig", "PeerConfig"]
            .into_iter()
            .chain(NESTED.map(|(_, definition)| definition))
        {
            let fields = known_fields(definition).unwrap_or_default();
            assert!(!fields.is_empty(), "{definition}");
        }
        for (field, _) in NESTED {
            assert!(
                known_fields("CircleConfig").is_some_and(|f| f.iter().any(|f| f == field)),
                "{field}"
            );
        }
    }

    #[test]
    fn a_repeated_key_is_refused_anywhere() {
        let parsed = parse(
            "f",
            r#"[{"id": "a", "limits": {"workers": 1, "workers": 2}}]"#,
            Path::new("/"),
        );
        let shown: Vec<String> = parsed.errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(shown.len(), 1, "{shown:?}");
        assert!(
            shown[0].starts_with("f: [0].limits: duplicate field `workers`"),
            "{shown:?}"
        );
    }
}
