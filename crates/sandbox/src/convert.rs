//! JavaScript values -> JSON, for the returned value and for log lines, by the rules documented
//! on [`Outcome`](crate::Outcome).
//!
//! The walk reads the value through QuickJS's C API, never through `JSON` or anything else the
//! snippet could have replaced. It does run the snippet's own code where JavaScript would
//! (getters, `toJSON`, proxy traps): the interrupt handler still bounds that by the deadline.
//! The walk is bounded in depth (so the host's stack is safe) and in output size, counted as
//! JSON escapes it; no string is copied out of the engine past what the budget has room for.

use rquickjs::convert::Coerced;
use rquickjs::function::Function;
use rquickjs::{Object, Type, Value};
use serde_json::{Map, Number, Value as Json};

use crate::crossing::{Clip, MAX_NAME_CHARS, escaped_len};

/// Why a value could not be converted.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ConvertError {
    /// The output would exceed the byte budget.
    TooLarge,
    /// The value nests deeper than the depth limit.
    TooDeep,
    /// The snippet's own code threw (a getter, `toJSON`, a proxy trap) or was interrupted.
    Threw,
}

/// What to do past the depth limit.
#[derive(Clone, Copy)]
pub(crate) enum TooDeep {
    Fail,
    /// Put a marker (`"[Object]"`, `"[Array]"`) in place of the value, as consoles do.
    Mark,
}

pub(crate) struct Converter<'a, 'js> {
    entries_of: &'a Function<'js>,
    clip: &'a Clip<'js>,
    max_depth: usize,
    too_deep: TooDeep,
    budget: usize,
    ancestors: Vec<Object<'js>>,
}

impl<'a, 'js> Converter<'a, 'js> {
    pub(crate) fn new(
        entries_of: &'a Function<'js>,
        clip: &'a Clip<'js>,
        max_depth: usize,
        too_deep: TooDeep,
        budget: usize,
    ) -> Self {
        Converter {
            entries_of,
            clip,
            max_depth,
            too_deep,
            budget,
            ancestors: Vec::new(),
        }
    }

    /// Converts `value`; `None` for a top-level `undefined`.
    pub(crate) fn convert(&mut self, value: Value<'js>) -> Result<Option<Json>, ConvertError> {
        self.value(value, 0)
    }

    fn spend(&mut self, bytes: usize) -> Result<(), ConvertError> {
        self.budget = self
            .budget
            .checked_sub(bytes)
            .ok_or(ConvertError::TooLarge)?;
        Ok(())
    }

    fn text(&mut self, text: String) -> Result<Option<Json>, ConvertError> {
        self.spend(escaped_len(&text) + 2)?;
        Ok(Some(Json::String(text)))
    }

    /// A string of the snippet's, read no further than the budget reaches (each character
    /// costs at least a byte), or at most `max` characters.
    fn string(&self, value: Value<'js>, max: usize) -> Result<String, ConvertError> {
        let ctx = value.ctx().clone();
        let room = self.budget.saturating_add(1).min(max);
        let clipped = self
            .clip
            .text(&ctx, value, room)
            .ok_or(ConvertError::Threw)?;
        if clipped.cut && room > self.budget {
            return Err(ConvertError::TooLarge);
        }
        Ok(clipped.text)
    }

    /// `None` means "undefined": omitted from objects, `null` in arrays.
    fn value(&mut self, value: Value<'js>, depth: usize) -> Result<Option<Json>, ConvertError> {
        match value.type_of() {
            Type::Undefined | Type::Uninitialized | Type::Unknown | Type::Module => Ok(None),
            Type::Null => {
                self.spend(4)?;
                Ok(Some(Json::Null))
            }
            Type::Bool => {
                self.spend(5)?;
                Ok(value.as_bool().map(Json::Bool))
            }
            Type::Int => {
                self.spend(11)?;
                Ok(value.as_int().map(Json::from))
            }
            Type::Float => {
                let float = value.as_float().unwrap_or(f64::NAN);
                self.spend(24)?;
                Ok(Some(number(float)))
            }
            Type::String => {
                let text = self.string(value, usize::MAX)?;
                self.text(text)
            }
            Type::BigInt => {
                let digits: Coerced<String> = value.get().map_err(|_| ConvertError::Threw)?;
                self.text(digits.0)
            }
            Type::Symbol => {
                let description = value
                    .as_symbol()
                    .and_then(|s| s.description().ok())
                    .filter(Value::is_string)
                    .map(|d| self.string(d, MAX_NAME_CHARS))
                    .transpose()?
                    .unwrap_or_default();
                self.text(format!("[Symbol: {description}]"))
            }
            Type::Function | Type::Constructor => {
                let name = value
                    .as_object()
                    .and_then(|f| f.get::<_, Value>("name").ok())
                    .filter(Value::is_string)
                    .map(|n| self.string(n, MAX_NAME_CHARS))
                    .transpose()?
                    .filter(|n| !n.is_empty());
                self.text(match name {
                    Some(name) => format!("[Function: {name}]"),
                    None => "[Function]".to_string(),
                })
            }
            Type::Promise => self.text("[Promise]".to_string()),
            Type::Array | Type::Object | Type::Exception | Type::Proxy => {
                let object = value.into_object().ok_or(ConvertError::Threw)?;
                self.object(object, depth).map(Some)
            }
        }
    }

    fn object(&mut self, object: Object<'js>, depth: usize) -> Result<Json, ConvertError> {
        if self.ancestors.contains(&object) {
            return self
                .text("[Circular]".to_string())
                .map(Option::unwrap_or_default);
        }
        if depth >= self.max_depth {
            return match self.too_deep {
                TooDeep::Fail => Err(ConvertError::TooDeep),
                TooDeep::Mark if object.is_array() => Ok(Json::String("[Array]".into())),
                TooDeep::Mark => Ok(Json::String("[Object]".into())),
            };
        }
        self.ancestors.push(object.clone());
        let converted = self.object_body(&object, depth + 1);
        self.ancestors.pop();
        converted
    }

    fn object_body(&mut self, object: &Object<'js>, depth: usize) -> Result<Json, ConvertError> {
        if object.is_array() {
            return self.array(object, depth);
        }
        if object.is_error() {
            let mut fields = Map::new();
            for key in ["name", "message"] {
                let value: Value = object.get(key).map_err(|_| ConvertError::Threw)?;
                if let Some(value) = self.value(value, depth)? {
                    fields.insert(key.to_string(), value);
                }
            }
            return Ok(Json::Object(fields));
        }
        let to_json: Value = object.get("toJSON").map_err(|_| ConvertError::Threw)?;
        if let Some(to_json) = to_json.as_function() {
            let replaced: Value = to_json
                .call((rquickjs::function::This(object.clone()), ""))
                .map_err(|_| ConvertError::Threw)?;
            return Ok(self.value(replaced, depth)?.unwrap_or(Json::Null));
        }

        let mut keys = object.keys::<rquickjs::Atom>().peekable();
        if keys.peek().is_none() {
            let entries: Value = self
                .entries_of
                .call((object.clone(),))
                .map_err(|_| ConvertError::Threw)?;
            if let Some(entries) = entries.into_object().filter(|o| o.is_array()) {
                return self.array(&entries, depth);
            }
        }
        self.spend(2)?;
        let mut fields = Map::new();
        for key in keys {
            let key = key.map_err(|_| ConvertError::Threw)?;
            let value: Value = object.get(key.clone()).map_err(|_| ConvertError::Threw)?;
            if let Some(value) = self.value(value, depth)? {
                let name = key.to_js_string().map_err(|_| ConvertError::Threw)?;
                let name = self.string(name.into_value(), usize::MAX)?;
                self.spend(escaped_len(&name) + 4)?;
                fields.insert(name, value);
            }
        }
        Ok(Json::Object(fields))
    }

    fn array(&mut self, array: &Object<'js>, depth: usize) -> Result<Json, ConvertError> {
        let length: Value = array.get("length").map_err(|_| ConvertError::Threw)?;
        let length = length.as_number().unwrap_or(0.0);
        self.spend(2)?;
        let mut items = Vec::new();
        let mut index = 0u32;
        while f64::from(index) < length {
            let item: Value = array.get(index).map_err(|_| ConvertError::Threw)?;
            let item = match self.value(item, depth)? {
                Some(item) => item,
                // A hole or `undefined` is `null` in JSON, and costs what `null` costs: a
                // sparse array is charged for every element the host would build.
                None => {
                    self.spend(4)?;
                    Json::Null
                }
            };
            items.push(item);
            self.spend(1)?;
            index = index.checked_add(1).ok_or(ConvertError::TooLarge)?;
        }
        Ok(Json::Array(items))
    }
}

/// A float as JSON: finite numbers as numbers (integral ones as integers), the rest as strings.
fn number(float: f64) -> Json {
    if float.is_nan() {
        Json::String("NaN".into())
    } else if float.is_infinite() {
        Json::String(if float > 0.0 { "Infinity" } else { "-Infinity" }.into())
    } else if float.fract() == 0.0 && float.abs() < 9_007_199_254_740_992.0 {
        // -0 becomes 0, as in JSON.stringify.
        Json::from(float as i64)
    } else {
        Number::from_f64(float).map_or(Json::Null, Json::Number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keep_their_meaning() {
        assert_eq!(number(1.0), Json::from(1));
        assert_eq!(number(-0.0), Json::from(0));
        assert_eq!(number(1.5), Json::from(1.5));
        assert_eq!(number(f64::NAN), Json::from("NaN"));
        assert_eq!(number(f64::NEG_INFINITY), Json::from("-Infinity"));
        assert_eq!(number(1e300), Json::from(1e300));
    }
}
