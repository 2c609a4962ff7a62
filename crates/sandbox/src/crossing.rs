//! The boundary every string of a snippet's crosses into the host by: results, log lines,
//! errors (names, messages, stacks, thrown values), tool names and arguments.
//!
//! The rule: the host copies at most a fixed number of characters of any snippet string, cut
//! inside the engine (by the bridge's `clip`, captured before the snippet ran) before Rust sees
//! it, and sizes are counted as they will be sent, escaped for JSON. Nothing the host does after
//! that grows with a size the snippet chose.

use rquickjs::{Ctx, Function, Value};

/// The most characters of an error's name, of a tool's or namespace's name.
pub(crate) const MAX_NAME_CHARS: usize = 256;
/// The most characters of an error's message (or of a thrown string).
pub(crate) const MAX_MESSAGE_CHARS: usize = 8 << 10;
/// The most characters of an error's stack read for mapping.
pub(crate) const MAX_STACK_CHARS: usize = 16 << 10;

/// The bridge's `clip(value, max)`.
#[derive(Clone)]
pub(crate) struct Clip<'js>(pub(crate) Function<'js>);

/// A string read through [`Clip`].
pub(crate) struct Clipped {
    pub(crate) text: String,
    /// The snippet's string was longer than asked for: `text` is its start.
    pub(crate) cut: bool,
}

impl<'js> Clip<'js> {
    /// The first `max` characters (UTF-16 units) of `value`, when it is a string; `None` for
    /// anything else, or when the engine refuses (the run is stopping). A string that fits is
    /// read as it is; only a longer one is cut, by a call into the engine.
    pub(crate) fn text(&self, ctx: &Ctx<'js>, value: Value<'js>, max: usize) -> Option<Clipped> {
        let length = string_length(ctx, &value)?;
        if length <= max as u64 {
            let text = value.as_string()?.to_string().ok()?;
            return Some(Clipped { text, cut: false });
        }
        let max_arg = u32::try_from(max).unwrap_or(u32::MAX);
        let clipped: Value = match self.0.call((value, max_arg)) {
            Ok(clipped) => clipped,
            Err(_) => {
                let _ = ctx.catch();
                return None;
            }
        };
        let text = clipped.as_string()?.to_string().ok()?;
        Some(Clipped { text, cut: true })
    }

    /// Like [`text`](Self::text), with a marker at the end of a string that was cut.
    pub(crate) fn marked(&self, ctx: &Ctx<'js>, value: Value<'js>, max: usize) -> Option<String> {
        self.text(ctx, value, max).map(|clipped| {
            if clipped.cut {
                format!("{}… [cut at {max} characters]", clipped.text)
            } else {
                clipped.text
            }
        })
    }
}

/// The length of a string in UTF-16 units; `None` for anything else. The engine answers a
/// string's `length` itself, from the string, never through a prototype a snippet could
/// have changed.
fn string_length<'js>(ctx: &Ctx<'js>, value: &Value<'js>) -> Option<u64> {
    if !value.is_string() {
        return None;
    }
    let mut length = 0i64;
    // SAFETY: `value` is a live string of `ctx`'s runtime, and `length` a valid pointer to a
    // local; for a string, `JS_GetLength` reads the length the string carries.
    let status =
        unsafe { rquickjs::qjs::JS_GetLength(ctx.as_raw().as_ptr(), value.as_raw(), &mut length) };
    u64::try_from(length).ok().filter(|_| status == 0)
}

/// The size of `text` inside a JSON string, as `serde_json` writes it (without the quotes).
pub(crate) fn escaped_len(text: &str) -> usize {
    text.chars()
        .map(|c| match c {
            '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
            c if (c as u32) < 0x20 => 6,
            c => c.len_utf8(),
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_count_escapes() {
        assert_eq!(escaped_len("abc"), 3);
        assert_eq!(escaped_len("a\"b\n"), 6);
        assert_eq!(escaped_len("\u{1}"), 6);
        assert_eq!(escaped_len("é"), 2);
        for text in ["a\u{1}\"é\n", "plain", ""] {
            assert_eq!(
                escaped_len(text),
                serde_json::to_string(text).unwrap().len() - 2
            );
        }
    }
}
