//! One execution: a fresh QuickJS runtime, the bridge, and the event loop that runs the
//! snippet's jobs and its tool calls until the snippet's promise settles or a limit trips.
//!
//! The loop is ours, not rquickjs's: it runs every pending JavaScript job, hands new tool calls
//! to the host (all of them at once, so `Promise.all` runs them concurrently), then waits for
//! the first of: a call's answer, the deadline, cancellation. JavaScript runs on the calling
//! task; host futures are polled by the same task, so a call that answers at once costs no
//! thread hop.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use futures::FutureExt;
use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use rquickjs::context::EvalOptions;
use rquickjs::function::Rest;
use rquickjs::promise::PromiseState;
use rquickjs::{Context, Ctx, Exception, Function, Object, Persistent, Promise};
use rquickjs::{Runtime, Value};
use serde_json::Value as Json;
use tokio_util::sync::CancellationToken;

use crate::convert::{ConvertError, Converter, TooDeep};
use crate::guard::{CountingAllocator, Guard, Stop};
use crate::host::{Host, ToolError};
use crate::limits::{Limit, Limits};
use crate::outcome::{CallRecord, ErrorInfo, Outcome, Stats};
use crate::stack;
use crate::transpile::{self, SNIPPET_FILE};

const BRIDGE: &str = include_str!("bridge.js");
const BRIDGE_FILE: &str = "codemode:bridge";
/// How deep a returned value may nest; the default recursion limit of serde_json, so whoever
/// parses our output again can.
const RESULT_DEPTH: usize = 128;
/// How deep a logged value is shown before `[Object]` stands in.
const LOG_DEPTH: usize = 8;
const LOG_PREFIXES: [&str; 5] = ["", "[info] ", "[warn] ", "[error] ", "[debug] "];

/// A JavaScript value kept outside `Context::with`.
///
/// `Persistent` is not `Send` only because it holds a raw pointer to its runtime. Every
/// `Handle` belongs to the runtime of one [`Run`], which owns that runtime privately, moves
/// with it, only restores handles inside `Context::with` (which locks the runtime), and drops
/// them before the runtime. No two threads ever touch a handle's runtime at once.
struct Handle<T>(Persistent<T>);

// SAFETY: see the type's documentation.
unsafe impl<T> Send for Handle<T> {}

/// What the host functions and the loop share.
#[derive(Default)]
struct Shared {
    new_calls: Vec<NewCall>,
    calls_made: u32,
    logs: Vec<String>,
    log_bytes: usize,
    entries_of: Option<Handle<Function<'static>>>,
}

struct NewCall {
    namespace: String,
    tool: String,
    args: Json,
    settle: Settle,
}

/// How to answer a call in JavaScript.
struct Settle {
    resolve: Handle<Function<'static>>,
    reject: Handle<Function<'static>>,
    /// An `Error` made at the call, for the stack of a `ToolError`.
    site: Handle<Value<'static>>,
}

type CallFuture = BoxFuture<'static, (usize, Result<Json, ToolError>)>;

struct Trace {
    tool: String,
    started: Instant,
    record: Option<CallRecord>,
}

/// Runs `code` under `limits`; see [`Sandbox::execute`](crate::Sandbox::execute).
pub(crate) async fn execute(
    limits: &Limits,
    code: &str,
    host: Arc<dyn Host>,
    cancel: CancellationToken,
) -> Outcome {
    let started = Instant::now();
    let guard = Arc::new(Guard::new(
        started + limits.timeout(),
        limits.memory_bytes(),
        cancel,
    ));
    let mut report = Report::default();

    if code.len() > limits.max_code_bytes {
        report.error = Some(limit_error(Limit::CodeSize, limits));
        return report.finish(started, &guard, limits);
    }
    let script = match transpile::to_script(code) {
        Ok(script) => script,
        Err(error) => {
            let mut info = ErrorInfo::new("SyntaxError", error.message);
            info.line = error.line;
            info.column = error.column;
            report.error = Some(info);
            return report.finish(started, &guard, limits);
        }
    };

    match Run::start(limits, guard.clone(), &script) {
        Ok(mut run) => {
            run.drive(&host).await;
            run.conclude(code, &mut report);
        }
        Err(error) => {
            report.error = Some(match guard.stopped() {
                Some(stop) => stop_error(stop, limits),
                None => ErrorInfo::new(
                    "InternalError",
                    format!("the sandbox could not start: {error}"),
                ),
            })
        }
    }
    report.finish(started, &guard, limits)
}

#[derive(Default)]
struct Report {
    result: Option<Json>,
    error: Option<ErrorInfo>,
    logs: Vec<String>,
    calls: Vec<CallRecord>,
}

impl Report {
    fn finish(mut self, started: Instant, guard: &Guard, limits: &Limits) -> Outcome {
        if self.error.is_none()
            && let Some(stop) = guard.stopped()
        {
            self.error = Some(stop_error(stop, limits));
        }
        if self.error.is_some() {
            self.result = None;
        }
        let tool_calls = u32::try_from(self.calls.len()).unwrap_or(u32::MAX);
        Outcome {
            ok: self.error.is_none(),
            result: self.result,
            logs: self.logs,
            calls: self.calls,
            error: self.error,
            stats: Stats {
                ms: started.elapsed().as_secs_f64() * 1e3,
                tool_calls,
                memory_peak_bytes: guard.memory_peak(),
            },
        }
    }
}

/// A live execution. Field order is drop order: JavaScript handles go before the context,
/// the context before the runtime (QuickJS aborts if a value outlives its runtime).
struct Run {
    settles: Vec<Option<Settle>>,
    traces: Vec<Trace>,
    main: Option<Handle<Promise<'static>>>,
    make_tool_error: Option<Handle<Function<'static>>>,
    shared: Arc<Mutex<Shared>>,
    guard: Arc<Guard>,
    limits: Limits,
    context: Context,
    runtime: Runtime,
}

impl Drop for Run {
    fn drop(&mut self) {
        self.settles.clear();
        self.main = None;
        self.make_tool_error = None;
        let mut shared = lock(&self.shared);
        shared.new_calls.clear();
        shared.entries_of = None;
    }
}

fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    // A panic while holding the lock cannot leave `Shared` inconsistent: keep going.
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Run {
    fn start(limits: &Limits, guard: Arc<Guard>, script: &str) -> rquickjs::Result<Run> {
        let runtime = Runtime::new_with_alloc(CountingAllocator {
            guard: guard.clone(),
        })?;
        runtime.set_max_stack_size(limits.stack_bytes());
        let interrupt = guard.clone();
        runtime.set_interrupt_handler(Some(Box::new(move || interrupt.should_stop())));
        let context = Context::full(&runtime)?;
        let mut run = Run {
            settles: Vec::new(),
            traces: Vec::new(),
            main: None,
            make_tool_error: None,
            shared: Arc::default(),
            guard,
            limits: limits.clone(),
            context,
            runtime,
        };
        run.install(script)?;
        Ok(run)
    }

    /// Installs the bridge, then starts the snippet (it runs until its first `await`).
    fn install(&mut self, script: &str) -> rquickjs::Result<()> {
        let shared = self.shared.clone();
        let guard = self.guard.clone();
        let limits = self.limits.clone();
        let (main, make_tool_error) = self.context.with(|ctx| {
            let setup: Function = ctx.eval_with_options(BRIDGE, eval_options(BRIDGE_FILE))?;
            let host_call = host_call(&ctx, shared.clone(), guard.clone(), limits.clone())?;
            let host_log = host_log(&ctx, shared.clone(), guard, limits)?;
            let helpers: Object = setup.call((host_call, host_log))?;
            let make_tool_error: Function = helpers.get("makeToolError")?;
            let entries_of: Function = helpers.get("entriesOf")?;
            lock(&shared).entries_of = Some(Handle(Persistent::save(&ctx, entries_of)));

            let main = match ctx.eval_with_options::<Promise, _>(script, eval_options(SNIPPET_FILE))
            {
                Ok(main) => main,
                Err(_) => {
                    // The snippet threw before its first await (or did not compile): make the
                    // main promise a rejected one, so every ending goes through one path.
                    let reason = ctx.catch();
                    let (promise, _, reject) = ctx.promise()?;
                    reject.call::<_, ()>((reason,))?;
                    promise
                }
            };
            Ok::<_, rquickjs::Error>((
                Handle(Persistent::save(&ctx, main)),
                Handle(Persistent::save(&ctx, make_tool_error)),
            ))
        })?;
        self.main = Some(main);
        self.make_tool_error = Some(make_tool_error);
        Ok(())
    }

    async fn drive(&mut self, host: &Arc<dyn Host>) {
        let mut in_flight: FuturesUnordered<CallFuture> = FuturesUnordered::new();
        let deadline = tokio::time::Instant::from_std(self.guard.deadline());
        let cancel = self.guard.cancel_token().clone();
        loop {
            self.run_jobs();
            if self.guard.stopped().is_some() {
                break;
            }
            self.dispatch(host, &mut in_flight);
            if self.guard.stopped().is_some() {
                break;
            }
            if in_flight.is_empty() {
                // Nothing can happen any more: the snippet settled, or it awaits a promise
                // that nothing will ever settle.
                break;
            }
            tokio::select! {
                biased;
                () = cancel.cancelled() => self.guard.trip(Stop::Cancelled),
                () = tokio::time::sleep_until(deadline) => {
                    self.guard.trip(Stop::Limit(Limit::Timeout));
                }
                Some((id, answer)) = in_flight.next() => {
                    self.deliver(id, answer);
                    while let Some(Some((id, answer))) = in_flight.next().now_or_never() {
                        self.deliver(id, answer);
                    }
                }
            }
        }
    }

    /// Runs JavaScript jobs (promise reactions) until there are none or the run must stop.
    fn run_jobs(&self) {
        while self.guard.stopped().is_none() {
            match self.runtime.execute_pending_job() {
                Ok(true) => {}
                Ok(false) => return,
                Err(failed) => {
                    // A job that threw outside any promise (`queueMicrotask`), or was stopped.
                    if self.guard.stopped().is_none() {
                        let message = failed.0.with(|ctx| self.describe(&ctx, ctx.catch()));
                        let mut logs = lock(&self.shared);
                        logs.logs
                            .push(format!("[error] uncaught in a job: {}", message.message));
                    }
                }
            }
        }
    }

    /// Hands the calls the snippet made since the last turn to the host.
    fn dispatch(&mut self, host: &Arc<dyn Host>, in_flight: &mut FuturesUnordered<CallFuture>) {
        let new_calls = std::mem::take(&mut lock(&self.shared).new_calls);
        for call in new_calls {
            let id = self.settles.len();
            self.settles.push(Some(call.settle));
            self.traces.push(Trace {
                tool: format!("{}.{}", call.namespace, call.tool),
                started: Instant::now(),
                record: None,
            });
            let host = host.clone();
            in_flight.push(Box::pin(async move {
                let answer = AssertUnwindSafe(host.call(&call.namespace, &call.tool, call.args))
                    .catch_unwind()
                    .await
                    .unwrap_or_else(|_| {
                        Err(ToolError::new(
                            "host_panic",
                            "the host failed while answering this call",
                        ))
                    });
                (id, answer)
            }));
        }
    }

    /// Settles the JavaScript promise of call `id` with the host's answer.
    fn deliver(&mut self, id: usize, answer: Result<Json, ToolError>) {
        let Some(settle) = self.settles.get_mut(id).and_then(Option::take) else {
            return;
        };
        let trace = &mut self.traces[id];
        trace.record = Some(CallRecord {
            tool: trace.tool.clone(),
            ms: trace.started.elapsed().as_secs_f64() * 1e3,
            ok: answer.is_ok(),
            error: answer.as_ref().err().map(|e| e.message.clone()),
        });
        let tool = trace.tool.clone();
        let make_tool_error = self.make_tool_error.as_ref().map(|h| h.0.clone());
        self.context.with(|ctx| {
            let settled = (|| {
                let resolve = settle.resolve.0.restore(&ctx)?;
                let reject = settle.reject.0.restore(&ctx)?;
                let site = settle.site.0.restore(&ctx)?;
                let (settle_with, value) = match answer {
                    Ok(json) => {
                        let text = serde_json::to_string(&json).unwrap_or_else(|_| "null".into());
                        match ctx.json_parse(text) {
                            Ok(value) => (resolve, value),
                            Err(_) => (reject, ctx.catch()),
                        }
                    }
                    Err(error) => {
                        let make = make_tool_error
                            .ok_or(rquickjs::Error::Unknown)?
                            .restore(&ctx)?;
                        let value =
                            match make.call::<_, Value>((error.message, tool, error.code, site)) {
                                Ok(value) => value,
                                Err(_) => ctx.catch(),
                            };
                        (reject, value)
                    }
                };
                settle_with.call::<_, ()>((value,))
            })();
            if settled.is_err() {
                // Only a stopped run (interrupt, out of memory) fails to settle a promise.
                let _ = ctx.catch();
            }
        });
    }

    /// Turns the state the run ended in into the report.
    fn conclude(&mut self, code: &str, report: &mut Report) {
        let now = Instant::now();
        // Calls made in the last turn before the run stopped never reached the host.
        let never_sent = std::mem::take(&mut lock(&self.shared).new_calls);
        self.traces.extend(never_sent.into_iter().map(|call| Trace {
            tool: format!("{}.{}", call.namespace, call.tool),
            started: now,
            record: Some(CallRecord {
                tool: format!("{}.{}", call.namespace, call.tool),
                ms: 0.0,
                ok: false,
                error: Some("not sent: the execution stopped first".into()),
            }),
        }));
        report.calls = self
            .traces
            .drain(..)
            .map(|trace| {
                trace.record.unwrap_or_else(|| CallRecord {
                    tool: trace.tool,
                    ms: now.duration_since(trace.started).as_secs_f64() * 1e3,
                    ok: false,
                    error: Some("unfinished: the execution ended before the call answered".into()),
                })
            })
            .collect();
        report.logs = std::mem::take(&mut lock(&self.shared).logs);
        if let Some(stop) = self.guard.stopped() {
            report.error = Some(stop_error(stop, &self.limits));
            return;
        }
        let Some(main) = self.main.as_ref().map(|h| h.0.clone()) else {
            return;
        };
        let entries_of = lock(&self.shared).entries_of.as_ref().map(|h| h.0.clone());
        let (result, error) = self.context.with(|ctx| {
            let Ok(main) = main.restore(&ctx) else {
                return (None, Some(internal("the snippet's promise was lost")));
            };
            match main.state() {
                PromiseState::Pending => (None, Some(never_settles())),
                PromiseState::Rejected => {
                    let reason = match main.result::<Value>() {
                        Some(Err(_)) => ctx.catch(),
                        _ => Value::new_undefined(ctx.clone()),
                    };
                    (None, Some(self.describe_mapped(&ctx, reason, code)))
                }
                PromiseState::Resolved => {
                    let value = match main.result::<Value>() {
                        Some(Ok(value)) => value,
                        _ => return (None, Some(internal("the snippet's result was lost"))),
                    };
                    let Some(entries_of) = entries_of.and_then(|h| h.restore(&ctx).ok()) else {
                        return (None, Some(internal("the bridge was lost")));
                    };
                    let mut converter = Converter::new(
                        &entries_of,
                        RESULT_DEPTH,
                        TooDeep::Fail,
                        self.limits.max_result_bytes.saturating_add(1),
                    );
                    match converter.convert(value) {
                        Ok(json) => (json, None),
                        Err(ConvertError::TooLarge) => {
                            (None, Some(limit_error(Limit::ResultSize, &self.limits)))
                        }
                        Err(ConvertError::TooDeep) => (
                            None,
                            Some(ErrorInfo::new(
                                "TypeError",
                                format!(
                                    "the returned value nests deeper than {RESULT_DEPTH} levels: \
                                     return a flatter value"
                                ),
                            )),
                        ),
                        Err(ConvertError::Threw) => {
                            let thrown = ctx.catch();
                            let mut info = self.describe_mapped(&ctx, thrown, code);
                            info.message =
                                format!("the returned value could not be read: {}", info.message);
                            (None, Some(info))
                        }
                    }
                }
            }
        });
        if let Some(stop) = self.guard.stopped() {
            report.error = Some(stop_error(stop, &self.limits));
            return;
        }
        let too_large = result.as_ref().is_some_and(|json| {
            serde_json::to_string(json)
                .map_or(true, |text| text.len() > self.limits.max_result_bytes)
        });
        if too_large {
            report.error = Some(limit_error(Limit::ResultSize, &self.limits));
            return;
        }
        report.result = result;
        report.error = error;
    }

    /// An error value as [`ErrorInfo`], positions in the generated script left as they are.
    fn describe<'js>(&self, ctx: &Ctx<'js>, thrown: Value<'js>) -> ErrorInfo {
        let Some(error) = thrown.as_object().filter(|o| o.is_error()) else {
            let rendered = match thrown.as_string().and_then(|s| s.to_string().ok()) {
                Some(text) => Json::String(text).to_string(),
                None => self.render(ctx, thrown, 200),
            };
            return ErrorInfo::new("Error", format!("Uncaught {rendered}"));
        };
        let text = |key: &str| {
            error
                .get::<_, Value>(key)
                .ok()
                .and_then(|v| v.as_string().and_then(|s| s.to_string().ok()))
        };
        let mut info = ErrorInfo::new(
            text("name").unwrap_or_else(|| "Error".into()),
            text("message").unwrap_or_default(),
        );
        info.stack = text("stack");
        if info.name == "ToolError" {
            info.tool = text("tool");
            info.code = text("code");
        }
        info
    }

    /// [`describe`](Self::describe), with the stack and position mapped into the snippet, and
    /// QuickJS's stack overflow reported as the stack limit.
    fn describe_mapped<'js>(&self, ctx: &Ctx<'js>, thrown: Value<'js>, code: &str) -> ErrorInfo {
        let mut info = self.describe(ctx, thrown);
        if info.name == "RangeError" && info.message == "Maximum call stack size exceeded" {
            return limit_error(Limit::Stack, &self.limits);
        }
        if let Some(raw) = info.stack.take() {
            let mapped = stack::map(&raw, code);
            info.line = mapped.line;
            info.column = mapped.column;
            info.stack = mapped.stack;
        }
        info
    }

    /// A value rendered compactly for a message, at most about `max` bytes.
    fn render<'js>(&self, ctx: &Ctx<'js>, value: Value<'js>, max: usize) -> String {
        let entries_of = lock(&self.shared).entries_of.as_ref().map(|h| h.0.clone());
        render(ctx, entries_of, value, max)
    }
}

fn render<'js>(
    ctx: &Ctx<'js>,
    entries_of: Option<Persistent<Function<'static>>>,
    value: Value<'js>,
    max: usize,
) -> String {
    if let Some(text) = value.as_string().and_then(|s| s.to_string().ok()) {
        return text;
    }
    let Some(entries_of) = entries_of.and_then(|h| h.restore(ctx).ok()) else {
        return "[value]".into();
    };
    let mut converter = Converter::new(&entries_of, LOG_DEPTH, TooDeep::Mark, max);
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

fn eval_options(file: &str) -> EvalOptions {
    let mut options = EvalOptions::default();
    options.global = true;
    options.strict = false;
    options.backtrace_barrier = true;
    options.filename = Some(file.to_string());
    options
}

/// `hostCall(namespace, tool, args, site)`: records a call and returns its promise.
fn host_call<'js>(
    ctx: &Ctx<'js>,
    shared: Arc<Mutex<Shared>>,
    guard: Arc<Guard>,
    limits: Limits,
) -> rquickjs::Result<Function<'js>> {
    Function::new(
        ctx.clone(),
        move |ctx: Ctx<'js>,
              namespace: String,
              tool: String,
              args: Value<'js>,
              site: Value<'js>|
              -> rquickjs::Result<Promise<'js>> {
            if guard.stopped().is_some() {
                return Err(Exception::throw_internal(&ctx, "the execution is stopping"));
            }
            if lock(&shared).calls_made >= limits.max_tool_calls {
                guard.trip(Stop::Limit(Limit::ToolCalls));
                let error = limit_error(Limit::ToolCalls, &limits);
                return Err(Exception::throw_range(&ctx, &error.message));
            }
            let args = if args.is_undefined() {
                Json::Object(serde_json::Map::new())
            } else {
                let not_json = || {
                    format!(
                        "the arguments of {namespace}.{tool} must be JSON: an object of named \
                         arguments"
                    )
                };
                let Some(text) = ctx.json_stringify(args)? else {
                    return Err(Exception::throw_type(&ctx, &not_json()));
                };
                let text = text.to_string()?;
                serde_json::from_str(&text).map_err(|error| {
                    Exception::throw_type(&ctx, &format!("{}: {error}", not_json()))
                })?
            };
            let (promise, resolve, reject) = ctx.promise()?;
            let mut shared = lock(&shared);
            shared.calls_made += 1;
            shared.new_calls.push(NewCall {
                namespace,
                tool,
                args,
                settle: Settle {
                    resolve: Handle(Persistent::save(&ctx, resolve)),
                    reject: Handle(Persistent::save(&ctx, reject)),
                    site: Handle(Persistent::save(&ctx, site)),
                },
            });
            Ok(promise)
        },
    )
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
            let (entries_of, room) = {
                let shared = lock(&shared);
                if shared.logs.len() >= limits.max_log_lines as usize {
                    guard.trip(Stop::Limit(Limit::LogLines));
                    return Ok(());
                }
                (
                    shared.entries_of.as_ref().map(|h| h.0.clone()),
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
                let left = (room + 1).saturating_sub(line.len());
                line.push_str(&render(&ctx, entries_of.clone(), value, left));
                if line.len() > room {
                    break;
                }
            }
            let mut shared = lock(&shared);
            if shared.log_bytes + line.len() > limits.max_log_bytes {
                guard.trip(Stop::Limit(Limit::LogSize));
                return Ok(());
            }
            shared.log_bytes += line.len();
            shared.logs.push(line);
            Ok(())
        },
    )
}

fn limit_error(limit: Limit, limits: &Limits) -> ErrorInfo {
    let mut info = ErrorInfo::new(
        "LimitError",
        format!(
            "{} ({} = {}): {}",
            limit.explain(),
            limit.key(),
            limits.value_of(limit),
            limit.advice()
        ),
    );
    info.limit = Some(limit);
    info
}

fn stop_error(stop: Stop, limits: &Limits) -> ErrorInfo {
    match stop {
        Stop::Limit(limit) => limit_error(limit, limits),
        Stop::Cancelled => ErrorInfo::new("Cancelled", "the execution was cancelled"),
    }
}

fn never_settles() -> ErrorInfo {
    ErrorInfo::new(
        "Error",
        "the snippet awaits a promise that nothing will ever settle (no tool call is pending, \
         and there are no timers in the sandbox)",
    )
}

fn internal(message: &str) -> ErrorInfo {
    ErrorInfo::new("InternalError", message)
}
