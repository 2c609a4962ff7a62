//! One execution: a fresh QuickJS runtime, the bridge, and the event loop that runs the
//! snippet's jobs and its tool calls until the snippet's promise settles or a limit trips.
//!
//! The loop is ours, not rquickjs's: it runs every pending JavaScript job, hands new tool calls
//! to the host (all of them at once, so `Promise.all` runs them concurrently), then waits for
//! the first of: a call's answer, the deadline, cancellation. JavaScript runs on the calling
//! task; host futures are polled by the same task, so a call that answers at once costs no
//! thread hop.

use crate::Code;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures::FutureExt;
use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use rquickjs::context::EvalOptions;
use rquickjs::promise::PromiseState;
use rquickjs::{Context, Ctx, Function, Persistent, Promise};
use rquickjs::{Runtime, Value};
use serde_json::Value as Json;
use tokio_util::sync::CancellationToken;

use crate::bridge::{self, Handle, Request, Settle, Shared, lock, push_log, render};
use crate::convert::{ConvertError, Converter, TooDeep};
use crate::crossing::{Clip, MAX_MESSAGE_CHARS, MAX_NAME_CHARS, MAX_STACK_CHARS};
use crate::guard::{CountingAllocator, Guard, Stop};
use crate::host::{Host, ToolError};
use crate::limits::{Limit, Limits};
use crate::outcome::{CallRecord, ErrorInfo, Outcome, Stats};
use crate::skill::Skill;
use crate::stack;
use crate::transpile::{self, SNIPPET_FILE};

/// How deep a returned value may nest; the default recursion limit of serde_json, so whoever
/// parses our output again can.
const RESULT_DEPTH: usize = 128;

/// A call's answer: `Ok(None)` is `undefined` (a store's `get` of a key that is not there).
type CallFuture = BoxFuture<'static, (usize, Result<Option<Json>, ToolError>)>;

struct Trace {
    tool: String,
    started: Instant,
    record: Option<CallRecord>,
}

/// Runs `code` under `limits`; see [`Sandbox::execute`](crate::Sandbox::execute).
pub(crate) async fn execute(
    limits: &Limits,
    code: &str,
    skills: &[Skill],
    host: Arc<dyn Host>,
    cancel: CancellationToken,
    pauses: Option<crate::Pauses>,
) -> Outcome {
    let started = Instant::now();
    let guard = Arc::new(
        Guard::new(started + limits.timeout(), limits.memory_bytes(), cancel).with_pauses(pauses),
    );
    let mut report = Report::default();

    if code.len() > limits.max_code_bytes {
        report.error = Some(limits.broken(Limit::CodeSize));
        return report.finish(started, &guard, limits);
    }
    let script = match transpile::to_script(code, limits.memory_bytes()) {
        Ok(script) => script,
        Err(error) if error.out_of_memory => {
            report.error = Some(limits.broken(Limit::Memory));
            return report.finish(started, &guard, limits);
        }
        Err(error) => {
            let mut info = ErrorInfo::new("SyntaxError", error.message);
            info.line = error.line;
            info.column = error.column;
            report.error = Some(info);
            return report.finish(started, &guard, limits);
        }
    };

    let mut skill_scripts = Vec::with_capacity(skills.len());
    for skill in skills {
        match skill.script(limits.memory_bytes()) {
            Ok(script) => skill_scripts.push((skill.name.clone(), script)),
            Err(error) if error.out_of_memory => {
                report.error = Some(limits.broken(Limit::Memory));
                return report.finish(started, &guard, limits);
            }
            Err(error) => {
                let mut info = ErrorInfo::new(
                    "SyntaxError",
                    format!("in the skill `{}`: {}", skill.name, error.message),
                );
                info.line = error.line;
                info.column = error.column;
                report.error = Some(info);
                return report.finish(started, &guard, limits);
            }
        }
    }

    let bodies = skills.iter().map(|s| (s.name.clone(), s.body())).collect();
    match Run::start(limits, guard.clone(), &script, &skill_scripts, bodies) {
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
    /// The run's skills: each its name and its text as a snippet body, for their frames.
    skills: Vec<(String, String)>,
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
        shared.clip = None;
    }
}

impl Run {
    fn start(
        limits: &Limits,
        guard: Arc<Guard>,
        script: &str,
        skills: &[(String, String)],
        bodies: Vec<(String, String)>,
    ) -> rquickjs::Result<Run> {
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
            skills: bodies,
            context,
            runtime,
        };
        run.install(script, skills)?;
        Ok(run)
    }

    /// Installs the bridge and the skills, then starts the snippet (it runs until its first
    /// `await`).
    fn install(&mut self, script: &str, skills: &[(String, String)]) -> rquickjs::Result<()> {
        let (main, make_tool_error) = self.context.with(|ctx| {
            let installed = bridge::install(&ctx, &self.shared, &self.guard, &self.limits)?;
            if !skills.is_empty() {
                install_skills(&ctx, skills)?;
            }
            let main = match ctx.eval_with_options::<Promise, _>(script, snippet_options()) {
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
                Handle(Persistent::save(&ctx, installed.make_tool_error)),
            ))
        })?;
        self.main = Some(main);
        self.make_tool_error = Some(make_tool_error);
        Ok(())
    }

    async fn drive(&mut self, host: &Arc<dyn Host>) {
        let mut in_flight: FuturesUnordered<CallFuture> = FuturesUnordered::new();
        let cancel = self.guard.cancel_token().clone();
        loop {
            // While the host pauses the deadline, it is looked at again every 50 ms.
            let deadline = tokio::time::Instant::from_std(if self.guard.paused() {
                std::time::Instant::now() + std::time::Duration::from_millis(50)
            } else {
                self.guard.deadline()
            });
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
                    if !self.guard.paused() && std::time::Instant::now() >= self.guard.deadline() {
                        self.guard.trip(Stop::Limit(Limit::Timeout));
                    }
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
                        let line = format!("[error] uncaught in a job: {}", message.message);
                        push_log(&self.shared, &self.guard, &self.limits, line);
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
                tool: call.request.name(),
                started: Instant::now(),
                record: None,
            });
            let host = host.clone();
            in_flight.push(Box::pin(async move {
                let asked = async {
                    match call.request {
                        Request::Tool {
                            namespace,
                            tool,
                            args,
                        } => host.call(&namespace, &tool, args).await.map(Some),
                        Request::Store(op) => host.store(op).await,
                    }
                };
                let answer = AssertUnwindSafe(asked)
                    .catch_unwind()
                    .await
                    .unwrap_or_else(|_| {
                        Err(ToolError::new(
                            Code::HostPanic,
                            "the host failed while answering this call",
                        ))
                    });
                (id, answer)
            }));
        }
    }

    /// Settles the JavaScript promise of call `id` with the host's answer.
    fn deliver(&mut self, id: usize, answer: Result<Option<Json>, ToolError>) {
        let Some(settle) = self.settles.get_mut(id).and_then(Option::take) else {
            return;
        };
        let answer = answer.map(|json| {
            json.map(|json| serde_json::to_string(&json).unwrap_or_else(|_| "null".into()))
        });
        let trace = &mut self.traces[id];
        trace.record = Some(CallRecord {
            tool: trace.tool.clone(),
            ms: trace.started.elapsed().as_secs_f64() * 1e3,
            ok: answer.is_ok(),
            error: answer.as_ref().err().map(|e| e.message.clone()),
            bytes: answer
                .as_ref()
                .map_or(0, |text| text.as_ref().map_or(0, String::len)),
        });
        let tool = trace.tool.clone();
        let make_tool_error = self.make_tool_error.as_ref().map(|h| h.0.clone());
        self.context.with(|ctx| {
            let settled = (|| {
                let resolve = settle.resolve.0.restore(&ctx)?;
                let reject = settle.reject.0.restore(&ctx)?;
                let site = settle.site.0.restore(&ctx)?;
                let (settle_with, value) = match answer {
                    Ok(None) => (resolve, Value::new_undefined(ctx.clone())),
                    Ok(Some(text)) => match ctx.json_parse(text) {
                        Ok(value) => (resolve, value),
                        Err(_) => (reject, ctx.catch()),
                    },
                    Err(error) => {
                        let make = make_tool_error
                            .ok_or(rquickjs::Error::Unknown)?
                            .restore(&ctx)?;
                        let value = match make.call::<_, Value>((
                            error.message,
                            tool,
                            error.code.as_str(),
                            site,
                        )) {
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
            tool: call.request.name(),
            started: now,
            record: Some(CallRecord {
                tool: call.request.name(),
                ms: 0.0,
                ok: false,
                error: Some("not sent: the execution stopped first".into()),
                bytes: 0,
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
                    bytes: 0,
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
        let helpers = lock(&self.shared).helpers();
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
                    let Some((entries_of, clip)) = helpers.restore(&ctx) else {
                        return (None, Some(internal("the bridge was lost")));
                    };
                    let mut converter = Converter::new(
                        &entries_of,
                        &clip,
                        RESULT_DEPTH,
                        TooDeep::Fail,
                        self.limits.max_result_bytes.saturating_add(1),
                    );
                    match converter.convert(value) {
                        Ok(json) => (json, None),
                        Err(ConvertError::TooLarge) => {
                            (None, Some(self.limits.broken(Limit::ResultSize)))
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
            report.error = Some(self.limits.broken(Limit::ResultSize));
            return;
        }
        report.result = result;
        report.error = error;
    }

    /// An error value as [`ErrorInfo`], positions in the generated script left as they are.
    /// Only the start of each string is read (see `crossing.rs`).
    fn describe<'js>(&self, ctx: &Ctx<'js>, thrown: Value<'js>) -> ErrorInfo {
        let helpers = lock(&self.shared).helpers();
        let Some((_, clip)) = helpers.restore(ctx) else {
            return ErrorInfo::new("Error", "Uncaught [value]");
        };
        let Some(error) = thrown.as_object().filter(|o| o.is_error()) else {
            let rendered = match clip.marked(ctx, thrown.clone(), MAX_MESSAGE_CHARS) {
                Some(text) => Json::String(text).to_string(),
                None => render(ctx, &helpers, thrown, 200),
            };
            return ErrorInfo::new("Error", format!("Uncaught {rendered}"));
        };
        let text = |key: &str, max: usize| field(ctx, &clip, error, key, max);
        let mut info = ErrorInfo::new(
            text("name", MAX_NAME_CHARS).unwrap_or_else(|| "Error".into()),
            text("message", MAX_MESSAGE_CHARS).unwrap_or_default(),
        );
        info.stack = error
            .get::<_, Value>("stack")
            .ok()
            .and_then(|stack| clip.text(ctx, stack, MAX_STACK_CHARS))
            .map(|clipped| clipped.text);
        if info.name == "ToolError" {
            info.tool = text("tool", MAX_NAME_CHARS * 2 + 1);
            info.code = text("code", MAX_NAME_CHARS);
        }
        info
    }

    /// [`describe`](Self::describe), with the stack and position mapped into the snippet, and
    /// QuickJS's stack overflow reported as the stack limit.
    fn describe_mapped<'js>(&self, ctx: &Ctx<'js>, thrown: Value<'js>, code: &str) -> ErrorInfo {
        let mut info = self.describe(ctx, thrown);
        if info.name == "RangeError" && info.message == "Maximum call stack size exceeded" {
            return self.limits.broken(Limit::Stack);
        }
        if let Some(raw) = info.stack.take() {
            let mapped = stack::map(&raw, code, &self.skills, self.limits.memory_bytes());
            info.line = mapped.line;
            info.column = mapped.column;
            info.stack = mapped.stack;
        }
        info
    }
}

/// The string property `key` of an error, its first `max` characters marked when cut.
fn field<'js>(
    ctx: &Ctx<'js>,
    clip: &Clip<'js>,
    error: &rquickjs::Object<'js>,
    key: &str,
    max: usize,
) -> Option<String> {
    let value = error.get::<_, Value>(key).ok()?;
    clip.marked(ctx, value, max)
}

/// Defines `skills`: a frozen object of each skill's function, evaluated from its script
/// (which returns it at once: its only statement is the function).
fn install_skills(ctx: &Ctx<'_>, skills: &[(String, String)]) -> rquickjs::Result<()> {
    let entries = rquickjs::Array::new(ctx.clone())?;
    for (index, (name, script)) in skills.iter().enumerate() {
        let mut options = snippet_options();
        options.filename = Some(format!("skills/{name}.ts"));
        let made = ctx.eval_with_options::<Promise, _>(script.as_str(), options)?;
        let function: Function = match made.state() {
            PromiseState::Resolved => made
                .result::<Function>()
                .transpose()?
                .ok_or(rquickjs::Error::Unknown)?,
            _ => return Err(rquickjs::Error::Unknown),
        };
        let entry = rquickjs::Array::new(ctx.clone())?;
        entry.set(0, name.as_str())?;
        entry.set(1, function)?;
        entries.set(index, entry)?;
    }
    let define: Function = ctx.eval(
        r#"(function (entries) {
  const skills = Object.create(null);
  for (const [name, fn] of entries) skills[name] = Object.freeze(fn);
  Object.defineProperty(globalThis, "skills", {
    value: Object.freeze(skills), writable: false, enumerable: false, configurable: false,
  });
})"#,
    )?;
    define.call::<_, ()>((entries,))
}

fn snippet_options() -> EvalOptions {
    let mut options = EvalOptions::default();
    options.global = true;
    options.strict = false;
    options.backtrace_barrier = true;
    options.filename = Some(SNIPPET_FILE.to_string());
    options
}

fn stop_error(stop: Stop, limits: &Limits) -> ErrorInfo {
    match stop {
        Stop::Limit(limit) => limits.broken(limit),
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
