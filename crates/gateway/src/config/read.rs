//! The one way every section of the config is read: a [`Section`] hands out its keys one at a
//! time, typed, and whatever is left when it is finished is an unknown key (an error naming it
//! and the keys the section takes), or a key of another client's that means nothing here (a
//! warning naming it).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// A config error before it knows its file: the key (`mcpServers.github.env.TOKEN`) and what
/// is wrong with it.
#[derive(Debug, PartialEq)]
pub(super) struct Invalid {
    pub(super) key: String,
    pub(super) message: String,
}

impl Invalid {
    pub(super) fn new(key: impl Into<String>, message: impl Into<String>) -> Invalid {
        Invalid {
            key: key.into(),
            message: message.into(),
        }
    }
}

pub(super) type Read<T> = Result<T, Invalid>;

/// One object of the config, read key by key.
pub(super) struct Section {
    /// Where it is (`""` for the top level), for the keys it names.
    at: String,
    fields: Map<String, Value>,
}

impl Section {
    /// The object at `at`, or an error saying what it must be.
    pub(super) fn new(at: impl Into<String>, value: Value, what: &str) -> Read<Section> {
        let at = at.into();
        match value {
            Value::Object(fields) => Ok(Section { at, fields }),
            _ => Err(Invalid::new(
                if at.is_empty() { "(top level)" } else { &at },
                format!("must be {what}"),
            )),
        }
    }

    /// The full name of this section's key `name`.
    pub(super) fn key(&self, name: &str) -> String {
        if self.at.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.at)
        }
    }

    pub(super) fn at(&self) -> &str {
        &self.at
    }

    /// The keys not yet taken.
    pub(super) fn names(&self) -> Vec<String> {
        self.fields.keys().cloned().collect()
    }

    /// What is left, as an object.
    pub(super) fn into_map(self) -> Map<String, Value> {
        self.fields
    }

    pub(super) fn has(&self, name: &str) -> bool {
        self.fields.contains_key(name)
    }

    /// Adds a key (one lifted out of a nested object).
    pub(super) fn put(&mut self, name: String, value: Value) {
        self.fields.insert(name, value);
    }

    /// The value of `name`, left in place.
    pub(super) fn peek(&self, name: &str) -> Option<&Value> {
        self.fields.get(name)
    }

    /// The value of `name`, taken out (`null` counts as absent, as JSON writers use it).
    pub(super) fn take(&mut self, name: &str) -> Option<Value> {
        self.fields.remove(name).filter(|v| !v.is_null())
    }

    fn typed<T>(
        &mut self,
        name: &str,
        what: &str,
        read: impl FnOnce(&Value) -> Option<T>,
    ) -> Read<Option<T>> {
        match self.take(name) {
            None => Ok(None),
            Some(value) => read(&value)
                .map(Some)
                .ok_or_else(|| Invalid::new(self.key(name), format!("must be {what}"))),
        }
    }

    pub(super) fn string(&mut self, name: &str) -> Read<Option<String>> {
        self.typed(name, "a string", |v| v.as_str().map(str::to_string))
    }

    pub(super) fn bool(&mut self, name: &str) -> Read<Option<bool>> {
        self.typed(name, "true or false", Value::as_bool)
    }

    /// A whole number of at least `least` that fits `T`.
    pub(super) fn whole<T: TryFrom<u64>>(&mut self, name: &str, least: u64) -> Read<Option<T>> {
        let what = if least == 0 {
            "a whole number".to_string()
        } else {
            format!("a whole number, {least} or more")
        };
        self.typed(name, &what, |v| {
            v.as_u64()
                .filter(|n| *n >= least)
                .and_then(|n| T::try_from(n).ok())
        })
    }

    /// A finite number that `ok` accepts; `what` says which ones it does.
    pub(super) fn number(
        &mut self,
        name: &str,
        what: &str,
        ok: fn(f64) -> bool,
    ) -> Read<Option<f64>> {
        self.typed(name, what, |v| {
            v.as_f64().filter(|n| n.is_finite() && ok(*n))
        })
    }

    /// A list of strings.
    pub(super) fn strings(&mut self, name: &str) -> Read<Option<Vec<String>>> {
        let Some(value) = self.take(name) else {
            return Ok(None);
        };
        let Value::Array(items) = value else {
            return Err(Invalid::new(self.key(name), "must be a list of strings"));
        };
        items
            .into_iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(s) => Ok(s),
                // Numbers and booleans in argument lists are written unquoted by some users;
                // they mean their text.
                Value::Number(n) => Ok(n.to_string()),
                Value::Bool(b) => Ok(b.to_string()),
                _ => Err(Invalid::new(
                    format!("{}[{i}]", self.key(name)),
                    "must be a string",
                )),
            })
            .collect::<Read<Vec<String>>>()
            .map(Some)
    }

    /// An object of strings (environment variables, headers).
    pub(super) fn string_map(&mut self, name: &str) -> Read<Option<BTreeMap<String, String>>> {
        let Some(value) = self.take(name) else {
            return Ok(None);
        };
        let Value::Object(items) = value else {
            return Err(Invalid::new(self.key(name), "must be an object of strings"));
        };
        let mut map = BTreeMap::new();
        for (key, item) in items {
            let text = match item {
                Value::String(s) => s,
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => {
                    return Err(Invalid::new(
                        format!("{}.{key}", self.key(name)),
                        "must be a string",
                    ));
                }
            };
            map.insert(key, text);
        }
        Ok(Some(map))
    }

    /// Every key of a section whose keys are names (servers by name): the full key, the name,
    /// the value.
    pub(super) fn into_entries(self) -> Vec<(String, String, Value)> {
        let at = self.at;
        self.fields
            .into_iter()
            .map(|(name, value)| (format!("{at}.{name}"), name, value))
            .collect()
    }

    /// The object under `name`, to be read as a section of its own.
    pub(super) fn section(&mut self, name: &str, what: &str) -> Read<Option<Section>> {
        match self.take(name) {
            None => Ok(None),
            Some(value) => Section::new(self.key(name), value, what).map(Some),
        }
    }

    /// Takes the keys in `foreign` (keys other MCP clients write that mean nothing here), each
    /// with a warning saying so and why; then fails on the first key left, naming the keys the
    /// section takes.
    pub(super) fn finish(
        mut self,
        takes: &[&str],
        foreign: &[(&str, &str)],
        warnings: &mut Vec<String>,
    ) -> Read<()> {
        for (name, why) in foreign {
            if self.fields.remove(*name).is_some() {
                warnings.push(format!("{}: ignored: {why}", self.key(name)));
            }
        }
        let Some(name) = self.fields.keys().next().cloned() else {
            return Ok(());
        };
        let near = takes
            .iter()
            .map(|k| {
                (
                    search::distance(&k.to_lowercase(), &name.to_lowercase(), 3),
                    *k,
                )
            })
            .filter(|(d, _)| *d <= 2)
            .min();
        let hint = match near {
            Some((_, key)) => format!(" (did you mean `{key}`?)"),
            None => String::new(),
        };
        let list: Vec<String> = takes.iter().map(|k| format!("`{k}`")).collect();
        Err(Invalid::new(
            self.key(&name),
            format!("unknown key{hint}; expected one of {}", list.join(", ")),
        ))
    }
}

/// Whether `url` is on this machine: `localhost`, `127.0.0.0/8`, `[::1]`.
pub(crate) fn on_this_machine(url: &reqwest::Url) -> bool {
    match url.host_str() {
        Some("localhost" | "[::1]") => true,
        Some(host) => host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    }
}
