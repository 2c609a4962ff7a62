//! The bridge between a snippet and the host: what `bridge.js` installs in the global object
//! (`tools`, `console`, `ToolError`), the host functions it is given, and the state those
//! functions share with the event loop.
//!
//! `bridge.js` is compiled to QuickJS bytecode once per process; each run only loads it, which
//! costs a few microseconds instead of a parse and compile.

use std::ffi::{CStr, CString, c_void};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use rquickjs::function::Rest;
use rquickjs::{Ctx, Exception, Function, Object, Persistent, Promise, Value, qjs};
use serde_json::Value as Json;

use crate::convert::{ConvertError, Converter, TooDeep};
use crate::crossing::{Clip, MAX_NAME_CHARS, escaped_len};
use crate::guard::{Guard, Stop};
use crate::host::{MAX_STORE_KEY_CHARS, StoreOp};
use crate::limits::{Limit, Limits};

const SOURCE: &str = include_str!("bridge.js");
/// The file name of the bridge in stack traces; frames there are not the agent's.
pub(crate) const BRIDGE_FILE: &CStr = c"codemode:bridge";
/// How deep a logged value is shown before `[Object]` stands in.
const LOG_DEPTH: usize = 8;
const LOG_PREFIXES: [&str; 5] = ["", "[info] ", "[warn] ", "[error] ", "[debug] "];

/// A JavaScript value kept outside `Context::with`.
///
/// `Persistent` is not `Send` only because it holds a raw pointer to its runtime. Every
/// `Handle` belongs to the runtime of one run, which owns that runtime privately, moves
/// with it, only restores handles inside `Context::with` (which locks the runtime), and drops
/// them before the runtime. No two threads ever touch a handle's runtime at once.
pub(crate) struct Handle<T>(pub(crate) Persistent<T>);

// SAFETY: see the type's documentation.
unsafe impl<T> Send for Handle<T> {}

/// What the host functions and the loop share.
#[derive(Default)]
pub(crate) struct Shared {
    pub(crate) new_calls: Vec<NewCall>,
    pub(crate) calls_made: u32,
    pub(crate) logs: Vec<String>,
    pub(crate) log_bytes: usize,
    pub(crate) entries_of: Option<Handle<Function<'static>>>,
    pub(crate) clip: Option<Handle<Function<'static>>>,
}

impl Shared {
    /// The bridge's helpers, for `Context::with`.
    pub(crate) fn helpers(&self) -> Helpers {
        Helpers {
            entries_of: self.entries_of.as_ref().map(|h| h.0.clone()),
            clip: self.clip.as_ref().map(|h| h.0.clone()),
        }
    }
}

/// The bridge functions the host reads values with, kept outside a context.
#[derive(Clone)]
pub(crate) struct Helpers {
    entries_of: Option<Persistent<Function<'static>>>,
    clip: Option<Persistent<Function<'static>>>,
}

impl Helpers {
    /// Restored in `ctx`; `None` once the run has lost them (it is stopping).
    pub(crate) fn restore<'js>(&self, ctx: &Ctx<'js>) -> Option<(Function<'js>, Clip<'js>)> {
        let entries_of = self.entries_of.clone()?.restore(ctx).ok()?;
        let clip = self.clip.clone()?.restore(ctx).ok()?;
        Some((entries_of, Clip(clip)))
    }
}

pub(crate) struct NewCall {
    pub(crate) request: Request,
    pub(crate) settle: Settle,
}

/// What a snippet asked the host for: a tool call, or an operation on its store.
pub(crate) enum Request {
    Tool {
        namespace: String,
        tool: String,
        args: Json,
    },
    Store(StoreOp),
}

impl Request {
    /// The name the trace gives it: `namespace.tool`, `store.get`, ...
    pub(crate) fn name(&self) -> String {
        match self {
            Request::Tool {
                namespace, tool, ..
            } => format!("{namespace}.{tool}"),
            Request::Store(op) => op.name().to_string(),
        }
    }
}

/// How to answer a call in JavaScript.
pub(crate) struct Settle {
    pub(crate) resolve: Handle<Function<'static>>,
    pub(crate) reject: Handle<Function<'static>>,
    /// An `Error` made at the call, for the stack of a `ToolError`.
    pub(crate) site: Handle<Value<'static>>,
}

/// What the bridge hands back to the host after installing itself.
pub(crate) struct Installed<'js> {
    /// `makeToolError(message, tool, code, site)`.
    pub(crate) make_tool_error: Function<'js>,
}

/// Installs `tools`, `store`, `console` and `ToolError` in a fresh context. Must run before
/// the snippet.
pub(crate) fn install<'js>(
    ctx: &Ctx<'js>,
    shared: &Arc<Mutex<Shared>>,
    guard: &Arc<Guard>,
    limits: &Limits,
) -> rquickjs::Result<Installed<'js>> {
    let setup: Function = load(ctx)?;
    let host_call = host_call(ctx, shared.clone(), guard.clone(), limits.clone())?;
    let host_log = host_log(ctx, shared.clone(), guard.clone(), limits.clone())?;
    let host_store = host_store(ctx, shared.clone(), guard.clone(), limits.clone())?;
    let helpers: Object = setup.call((host_call, host_log, host_store))?;
    let entries_of: Function = helpers.get("entriesOf")?;
    let clip: Function = helpers.get("clip")?;
    let mut shared = lock(shared);
    shared.entries_of = Some(Handle(Persistent::save(ctx, entries_of)));
    shared.clip = Some(Handle(Persistent::save(ctx, clip)));
    Ok(Installed {
        make_tool_error: helpers.get("makeToolError")?,
    })
}

pub(crate) fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    // A panic while holding the lock cannot leave `Shared` inconsistent: keep going.
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The bridge's setup function, from bytecode compiled once per process.
fn load<'js>(ctx: &Ctx<'js>) -> rquickjs::Result<Function<'js>> {
    static BYTECODE: OnceLock<Option<Vec<u8>>> = OnceLock::new();
    let bytecode = BYTECODE
        .get_or_init(|| {
            let runtime = rquickjs::Runtime::new().ok()?;
            let context = rquickjs::Context::full(&runtime).ok()?;
            context.with(|ctx| compile(&ctx))
        })
        .as_deref()
        .ok_or(rquickjs::Error::Unknown)?;
    let raw = ctx.as_raw().as_ptr();
    // SAFETY: the bytes were written by `JS_WriteObject` of this same QuickJS build, from our
    // own source; `JS_EvalFunction` takes ownership of the function object it is given, and
    // `Value::from_raw` of the value it returns.
    unsafe {
        let function = qjs::JS_ReadObject(
            raw,
            bytecode.as_ptr(),
            bytecode.len() as _,
            qjs::JS_READ_OBJ_BYTECODE as _,
        );
        if qjs::JS_IsException(function) {
            return Err(rquickjs::Error::Exception);
        }
        let setup = qjs::JS_EvalFunction(raw, function);
        if qjs::JS_IsException(setup) {
            return Err(rquickjs::Error::Exception);
        }
        Value::from_raw(ctx.clone(), setup).get()
    }
}

/// `bridge.js` compiled (not run) to bytecode.
fn compile(ctx: &Ctx<'_>) -> Option<Vec<u8>> {
    let source = CString::new(SOURCE).ok()?;
    let raw = ctx.as_raw().as_ptr();
    // SAFETY: QuickJS reads `SOURCE.len()` bytes of a NUL-terminated string; the compiled
    // function is freed after writing, and the written buffer with the context's allocator.
    unsafe {
        let compiled = qjs::JS_Eval(
            raw,
            source.as_ptr(),
            SOURCE.len() as _,
            BRIDGE_FILE.as_ptr(),
            (qjs::JS_EVAL_TYPE_GLOBAL | qjs::JS_EVAL_FLAG_COMPILE_ONLY) as _,
        );
        if qjs::JS_IsException(compiled) {
            let _ = ctx.catch();
            return None;
        }
        let mut size = 0;
        let bytes = qjs::JS_WriteObject(raw, &mut size, compiled, qjs::JS_WRITE_OBJ_BYTECODE as _);
        qjs::JS_FreeValue(raw, compiled);
        if bytes.is_null() {
            return None;
        }
        let copy = std::slice::from_raw_parts(bytes, size as usize).to_vec();
        qjs::js_free(raw, bytes.cast::<c_void>());
        Some(copy)
    }
}

/// `hostCall(namespace, tool, args, site)`: records a call and returns its promise.
/// The run's `clip`, for a host function that is starting a call; a run that is stopping
/// takes no more.
fn clip_of<'js>(
    ctx: &Ctx<'js>,
    shared: &Mutex<Shared>,
    guard: &Guard,
) -> rquickjs::Result<Clip<'js>> {
    let stopping = || Exception::throw_internal(ctx, "the execution is stopping");
    if guard.stopped().is_some() {
        return Err(stopping());
    }
    let helpers = lock(shared).helpers();
    helpers
        .restore(ctx)
        .map(|(_, clip)| clip)
        .ok_or_else(stopping)
}

fn host_call<'js>(
    ctx: &Ctx<'js>,
    shared: Arc<Mutex<Shared>>,
    guard: Arc<Guard>,
    limits: Limits,
) -> rquickjs::Result<Function<'js>> {
    Function::new(
        ctx.clone(),
        move |ctx: Ctx<'js>,
              namespace: Value<'js>,
              tool: Value<'js>,
              args: Value<'js>,
              site: Value<'js>|
              -> rquickjs::Result<Promise<'js>> {
            let clip = clip_of(&ctx, &shared, &guard)?;
            // Names no longer than any tool's are all the host ever copies.
            let name = |value: Value<'js>| -> rquickjs::Result<String> {
                match clip.text(&ctx, value, MAX_NAME_CHARS) {
                    Some(clipped) if !clipped.cut => Ok(clipped.text),
                    Some(clipped) => {
                        let start: String = clipped.text.chars().take(40).collect();
                        Err(Exception::throw_type(
                            &ctx,
                            &format!(
                                "there is no tool or namespace named \"{start}…\": names are at most {MAX_NAME_CHARS} characters"
                            ),
                        ))
                    }
                    None => Err(Exception::throw_type(
                        &ctx,
                        "a tool's name must be a string",
                    )),
                }
            };
            let namespace = name(namespace)?;
            let tool = name(tool)?;
            room_for_call(&ctx, &shared, &guard, &limits)?;
            let args = if args.is_undefined() {
                Json::Object(serde_json::Map::new())
            } else {
                let not_json = || {
                    format!(
                        "the arguments of {namespace}.{tool} must be JSON: an object of named \
                         arguments"
                    )
                };
                json_of(&ctx, &clip, args, &guard, &limits, not_json)?
            };
            push_call(
                &ctx,
                &shared,
                Request::Tool {
                    namespace,
                    tool,
                    args,
                },
                site,
            )
        },
    )
}

/// `hostStore(op, key, value, site)`: records an operation on the store (0 set, 1 get, 2 keys,
/// 3 delete) and returns its promise. It counts as a call against `maxToolCalls`, and a value
/// against `maxCallBytes`.
fn host_store<'js>(
    ctx: &Ctx<'js>,
    shared: Arc<Mutex<Shared>>,
    guard: Arc<Guard>,
    limits: Limits,
) -> rquickjs::Result<Function<'js>> {
    Function::new(
        ctx.clone(),
        move |ctx: Ctx<'js>,
              op: i32,
              key: Value<'js>,
              value: Value<'js>,
              site: Value<'js>|
              -> rquickjs::Result<Promise<'js>> {
            let clip = clip_of(&ctx, &shared, &guard)?;
            let key_of = |key: Value<'js>| -> rquickjs::Result<String> {
                match clip.text(&ctx, key, MAX_STORE_KEY_CHARS) {
                    Some(clipped) if !clipped.cut => Ok(clipped.text),
                    _ => Err(Exception::throw_type(
                        &ctx,
                        &format!(
                            "a store key is a string of at most {MAX_STORE_KEY_CHARS} characters"
                        ),
                    )),
                }
            };
            room_for_call(&ctx, &shared, &guard, &limits)?;
            let op = match op {
                0 => {
                    let key = key_of(key)?;
                    if value.is_undefined() {
                        return Err(Exception::throw_type(
                            &ctx,
                            "store.set(key, value) needs a JSON value (undefined is none); \
                             store.delete(key) removes a key",
                        ));
                    }
                    let not_json = || "a stored value must be JSON".to_string();
                    let value = json_of(&ctx, &clip, value, &guard, &limits, not_json)?;
                    StoreOp::Set { key, value }
                }
                1 => StoreOp::Get { key: key_of(key)? },
                3 => StoreOp::Delete { key: key_of(key)? },
                _ => StoreOp::Keys,
            };
            push_call(&ctx, &shared, Request::Store(op), site)
        },
    )
}

/// Refuses a call past `maxToolCalls`, which ends the run.
fn room_for_call(
    ctx: &Ctx<'_>,
    shared: &Mutex<Shared>,
    guard: &Guard,
    limits: &Limits,
) -> rquickjs::Result<()> {
    if lock(shared).calls_made >= limits.max_tool_calls {
        guard.trip(Stop::Limit(Limit::ToolCalls));
        let error = limits.broken(Limit::ToolCalls);
        return Err(Exception::throw_range(ctx, &error.message));
    }
    Ok(())
}

/// A snippet's value as JSON, at most `maxCallBytes` of it (a larger one ends the run).
fn json_of<'js>(
    ctx: &Ctx<'js>,
    clip: &Clip<'js>,
    value: Value<'js>,
    guard: &Guard,
    limits: &Limits,
    not_json: impl Fn() -> String,
) -> rquickjs::Result<Json> {
    let Some(text) = ctx.json_stringify(value)? else {
        return Err(Exception::throw_type(ctx, &not_json()));
    };
    // A string longer than the limit in UTF-16 units is longer in bytes too.
    let too_large = || {
        guard.trip(Stop::Limit(Limit::CallSize));
        let error = limits.broken(Limit::CallSize);
        Exception::throw_range(ctx, &error.message)
    };
    let text = match clip.text(ctx, text.into_value(), limits.max_call_bytes) {
        Some(clipped) if !clipped.cut && clipped.text.len() <= limits.max_call_bytes => {
            clipped.text
        }
        Some(_) => return Err(too_large()),
        None => {
            return Err(Exception::throw_internal(ctx, "the execution is stopping"));
        }
    };
    serde_json::from_str(&text)
        .map_err(|error| Exception::throw_type(ctx, &format!("{}: {error}", not_json())))
}

/// Records a request for the loop to hand to the host, and returns its promise.
fn push_call<'js>(
    ctx: &Ctx<'js>,
    shared: &Mutex<Shared>,
    request: Request,
    site: Value<'js>,
) -> rquickjs::Result<Promise<'js>> {
    let (promise, resolve, reject) = ctx.promise()?;
    let mut shared = lock(shared);
    shared.calls_made += 1;
    shared.new_calls.push(NewCall {
        request,
        settle: Settle {
            resolve: Handle(Persistent::save(ctx, resolve)),
            reject: Handle(Persistent::save(ctx, reject)),
            site: Handle(Persistent::save(ctx, site)),
        },
    });
    Ok(promise)
}

/// `hostLog(level, ...values)`: captures one console line, within the log limits.
fn host_log<'js>(
    ctx: &Ctx<'js>,
    shared: Arc<Mutex<Shared>>,
    guard: Arc<Guard>,
    limits: Limits,
) -> rquickjs::Result<Function<'js>> {
    Function::new(
        ctx.clone(),
        move |ctx: Ctx<'js>, level: usize, values: Rest<Value<'js>>| -> rquickjs::Result<()> {
            if guard.stopped().is_some() {
                return Ok(());
            }
            let (helpers, room) = {
                let shared = lock(&shared);
                if shared.logs.len() >= limits.max_log_lines as usize {
                    guard.trip(Stop::Limit(Limit::LogLines));
                    return Ok(());
                }
                (
                    shared.helpers(),
                    limits.max_log_bytes.saturating_sub(shared.log_bytes),
                )
            };
            let mut line = LOG_PREFIXES
                .get(level)
                .copied()
                .unwrap_or_default()
                .to_string();
            for (i, value) in values.0.into_iter().enumerate() {
                if i > 0 {
                    line.push(' ');
                }
                let left = (room + 1).saturating_sub(escaped_len(&line));
                line.push_str(&render(&ctx, &helpers, value, left));
                if escaped_len(&line) > room {
                    break;
                }
            }
            push_log(&shared, &guard, &limits, line);
            Ok(())
        },
    )
}

/// Captures one log line (a console line, an error thrown in a job), within the log limits:
/// its size counts as JSON escapes it.
pub(crate) fn push_log(shared: &Mutex<Shared>, guard: &Guard, limits: &Limits, line: String) {
    let mut shared = lock(shared);
    if shared.logs.len() >= limits.max_log_lines as usize {
        guard.trip(Stop::Limit(Limit::LogLines));
        return;
    }
    let size = escaped_len(&line);
    if shared.log_bytes + size > limits.max_log_bytes {
        guard.trip(Stop::Limit(Limit::LogSize));
        return;
    }
    shared.log_bytes += size;
    shared.logs.push(line);
}

/// A value as a log line shows it, at most about `max` bytes (escaped) of it.
pub(crate) fn render<'js>(
    ctx: &Ctx<'js>,
    helpers: &Helpers,
    value: Value<'js>,
    max: usize,
) -> String {
    let Some((entries_of, clip)) = helpers.restore(ctx) else {
        return "[value]".into();
    };
    if value.is_string() {
        // Each character escapes to at least one byte: `max + 1` of them are past `max`.
        return clip
            .text(ctx, value, max.saturating_add(1))
            .map(|clipped| clipped.text)
            .unwrap_or_default();
    }
    let mut converter = Converter::new(&entries_of, &clip, LOG_DEPTH, TooDeep::Mark, max);
    match converter.convert(value) {
        Ok(Some(json)) => json.to_string(),
        Ok(None) => "undefined".into(),
        Err(ConvertError::TooLarge) => "[value too large to show]".into(),
        Err(_) => {
            let _ = ctx.catch();
            "[value that could not be read]".into()
        }
    }
}
