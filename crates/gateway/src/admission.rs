//! One path for every tool call, from a snippet or as a direct tool: the policy's decision, an
//! approval when the policy asks and the caller can wait for one, the argument check, the
//! upstream's call, and the audit record with the rule that decided. Direct calls and snippet
//! calls cannot drift apart: this is the only place either is let through.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sandbox::{Code, ToolError};
use serde_json::{Value, json};
use tracing::Instrument;

use crate::audit::Audit;
use crate::policy::{Decision, Policy};
use crate::unwrap::unwrap_result;
use crate::upstream::Upstream;
use crate::validate::ArgumentCheck;

/// What an approval asks: the tool (`namespace/tool` in MCP names), its arguments, and the
/// policy rule that asks.
#[derive(Clone, Debug)]
pub struct ApprovalRequest {
    pub tool: String,
    pub arguments: Value,
    pub rule: String,
}

/// Asks the client whether a call may go ahead: `Ok(true)` accept, `Ok(false)` decline, `Err`
/// why it could not be asked.
pub type Approver = Arc<
    dyn Fn(ApprovalRequest) -> futures::future::BoxFuture<'static, Result<bool, String>>
        + Send
        + Sync,
>;

/// The agent's client of one execution, as the execution's calls can ask it: approvals, and
/// what upstreams ask during those calls. Each is none when the client cannot be asked.
#[derive(Clone, Default)]
pub struct Client {
    pub approver: Option<Approver>,
    pub forward: Option<crate::forward::Forward>,
    /// Who the client signed in as (codemode's own endpoint's token name), for the audit log.
    pub principal: Option<String>,
    /// The scopes its access token grants (`auth.jwt.policies` may hold a scope to a policy).
    pub scopes: Vec<String>,
    /// The snippet's `store`: its session's (none: the snippet's `store` refuses every
    /// operation, saying there is none).
    pub store: Option<std::sync::Arc<crate::Store>>,
    /// The trace context the client's request carried: the execution's span is its child.
    pub trace: Option<crate::trace::TraceContext>,
}

/// How the policy's decision went, as the audit log and a call's span say it.
fn decided_as(decision: Decision, answer: &Result<Value, ToolError>, direct: bool) -> &'static str {
    match (decision, answer.as_ref().map_err(|e| &e.code)) {
        (Decision::Allow, _) => "allow",
        (Decision::Deny, _) => "deny",
        (Decision::Ask, _) if direct => "ask",
        (Decision::Ask, Err(Code::Declined)) => "ask: declined",
        (Decision::Ask, Err(Code::ApprovalUnavailable)) => "ask: could not ask",
        (Decision::Ask, _) => "ask: accepted",
    }
}

/// What every call goes through: the gateway's policy, audit log, approval budget and
/// upstreams.
pub(crate) struct Gate<'a> {
    pub(crate) policy: &'a Policy,
    pub(crate) audit: Option<&'a Audit>,
    pub(crate) approval_timeout_ms: Option<u64>,
    pub(crate) upstreams: &'a BTreeMap<String, Arc<Upstream>>,
    /// The principals' own policies (`auth.tokens.NAME.policy`).
    pub(crate) auth: Option<&'a crate::config::Auth>,
    pub(crate) metrics: &'a crate::metrics::Metrics,
}

/// One call to admit.
pub(crate) struct Call<'a> {
    /// The tool as its caller named it, for messages: `namespace.tool` in a snippet, the
    /// direct tool's name.
    pub(crate) named: &'a str,
    /// The namespace's MCP (configured) name.
    pub(crate) server: &'a str,
    pub(crate) tool: &'a tsgen::Tool,
    pub(crate) args: Value,
    pub(crate) caller: Caller<'a>,
    /// Who calls, as codemode's own endpoint knows them.
    pub(crate) principal: Option<&'a str>,
    /// The scopes of the caller's access token.
    pub(crate) scopes: &'a [String],
}

/// Who calls, and what that changes.
pub(crate) enum Caller<'a> {
    /// A snippet: its arguments are checked against the tool's schema, it may wait for an
    /// approval (its execution's clock paused with `approvalTimeoutMs`), and the result is
    /// unwrapped into a value.
    Snippet {
        execution: u64,
        approver: Option<&'a Approver>,
        /// Where what the upstream asks during the call goes.
        forward: Option<&'a crate::forward::Forward>,
        pauses: &'a sandbox::Pauses,
        check: Option<&'a ArgumentCheck>,
    },
    /// A tool exposed directly: it cannot wait for an approval, and the upstream's result
    /// passes through as it is.
    Direct,
}

impl Gate<'_> {
    /// Decides, asks, checks, calls and records `call`.
    pub(crate) async fn admit(&self, call: Call<'_>) -> Result<Value, ToolError> {
        let hints = call.tool.hints();
        let (mut decision, rule) = self.policy.decide(call.server, &call.tool.name, &hints);
        let mut rule = rule.map(str::to_string);
        // A principal's own policy, its subject's and its scopes' can only narrow the config's:
        // the strictest decision holds.
        if let Some(auth) = self.auth {
            for (whose, own) in auth.policies_of(call.principal, call.scopes) {
                let (theirs, their_rule) = own.decide(call.server, &call.tool.name, &hints);
                if theirs.strictness() > decision.strictness() {
                    decision = theirs;
                    rule = their_rule.map(|r| format!("{r} (of {whose})"));
                }
            }
        }
        let rule = rule.as_deref();
        let started = Instant::now();
        let arguments = self
            .audit
            .filter(|audit| audit.arguments)
            .map(|_| call.args.clone());
        let tool = format!("{}/{}", call.server, call.tool.name);
        let (event, execution) = match &call.caller {
            Caller::Snippet { execution, .. } => ("call", Some(*execution)),
            Caller::Direct => ("direct", None),
        };
        let direct = execution.is_none();
        let principal = call.principal.map(str::to_string);
        let server = call.server;
        let span = tracing::info_span!(
            "call",
            tool = %tool,
            upstream = server,
            decision = tracing::field::Empty,
            outcome = tracing::field::Empty,
            bytes = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
        );
        let answer = self
            .decided(call, &tool, decision, rule)
            .instrument(span.clone())
            .await;
        self.metrics
            .called(server, &answer, started.elapsed().as_secs_f64());
        span.record("decision", decided_as(decision, &answer, direct));
        match &answer {
            Ok(value) => {
                span.record("outcome", "ok");
                if crate::trace::exporting() {
                    let bytes = serde_json::to_string(value).map_or(0, |s| s.len());
                    span.record("bytes", i64::try_from(bytes).unwrap_or(i64::MAX));
                }
            }
            Err(error) => {
                span.record("outcome", error.code.as_str());
                span.record("otel.status_code", "ERROR");
            }
        }
        if let Some(audit) = self.audit {
            let decision = decided_as(decision, &answer, direct);
            let mut record = serde_json::Map::new();
            if let Some(execution) = execution {
                record.insert("execution".into(), json!(execution));
            }
            if let Some(principal) = principal {
                record.insert("principal".into(), json!(principal));
            }
            record.insert("tool".into(), json!(tool));
            record.insert("decision".into(), json!(decision));
            record.insert("rule".into(), json!(rule));
            audit.call(event, Value::Object(record), started, &answer, arguments);
        }
        answer
    }

    /// Records a snippet's call to a tool the catalog does not have (no rule decided it).
    pub(crate) fn unknown(
        &self,
        execution: u64,
        principal: Option<&str>,
        tool: &str,
        error: &ToolError,
    ) {
        if let Some(audit) = self.audit {
            let mut record =
                json!({"execution": execution, "tool": tool, "decision": null, "rule": null});
            if let Some(principal) = principal {
                record["principal"] = json!(principal);
            }
            audit.call("call", record, Instant::now(), &Err(error.clone()), None);
        }
    }

    /// The call once the policy has decided.
    async fn decided(
        &self,
        call: Call<'_>,
        tool: &str,
        decision: Decision,
        rule: Option<&str>,
    ) -> Result<Value, ToolError> {
        let Call {
            named,
            server,
            tool: definition,
            args,
            caller,
            ..
        } = call;
        let rule = rule.unwrap_or("*");
        match (decision, &caller) {
            (Decision::Allow, _) => {}
            (Decision::Deny, _) => {
                return Err(ToolError::new(
                    Code::Denied,
                    format!(
                        "{named} is denied by the policy rule `{rule}` (the config's \"policy\"); it was not called"
                    ),
                ));
            }
            (Decision::Ask, Caller::Direct) => {
                return Err(ToolError::new(
                    Code::Denied,
                    format!(
                        "{named} is to be asked about by the policy rule `{rule}` (the config's \"policy\"; a direct tool cannot wait for approval); it was not called"
                    ),
                ));
            }
            (
                Decision::Ask,
                Caller::Snippet {
                    approver, pauses, ..
                },
            ) => {
                self.approve(named, tool, &args, rule, *approver, pauses)
                    .await?
            }
        }
        if let Caller::Snippet {
            check: Some(check), ..
        } = &caller
            && let Err(problems) = check.check(&definition.input_schema, &args)
        {
            return Err(ToolError::new(
                Code::InvalidArguments,
                format!("invalid arguments for {named}: {problems}"),
            ));
        }
        let Some(upstream) = self.upstreams.get(server) else {
            return Err(ToolError::new(
                Code::NoUpstream,
                format!("{named} is only described (from a tool list); there is no server to call"),
            ));
        };
        let started = Instant::now();
        let hints = definition.hints();
        let repeatable = hints.read_only || hints.idempotent;
        let answer = match caller {
            Caller::Direct => {
                upstream
                    .call(&definition.name, args, repeatable, None, None)
                    .await
            }
            Caller::Snippet {
                pauses, forward, ..
            } => upstream
                .call(&definition.name, args, repeatable, Some(pauses), forward)
                .await
                .and_then(|raw| unwrap_result(&raw)),
        };
        tracing::info!(
            ok = answer.is_ok(),
            ms = started.elapsed().as_secs_f64() * 1e3,
            "called"
        );
        answer
    }

    /// Asks the user about a call the policy asks about: `Ok` when they accept.
    async fn approve(
        &self,
        named: &str,
        tool: &str,
        args: &Value,
        rule: &str,
        approver: Option<&Approver>,
        pauses: &sandbox::Pauses,
    ) -> Result<(), ToolError> {
        let Some(approver) = approver else {
            return Err(ToolError::new(
                Code::ApprovalUnavailable,
                format!(
                    "{named} needs approval (policy rule `{rule}`), and this client cannot be asked (it has no MCP elicitation); it was not called. To allow it without asking, set \"policy\": {{\"{tool}\": \"allow\"}} in codemode's config"
                ),
            ));
        };
        let request = ApprovalRequest {
            tool: tool.to_string(),
            arguments: args.clone(),
            rule: rule.to_string(),
        };
        let _waiting = self.metrics.approval_waiting();
        // With its own budget, an approval stops the execution's clock while it waits.
        let asked = approver(request);
        let answer = match self.approval_timeout_ms {
            None => asked.await,
            Some(budget) => {
                let _pause = pauses.pause();
                tokio::time::timeout(Duration::from_millis(budget), asked)
                    .await
                    .unwrap_or_else(|_| {
                        Err(format!(
                            "no answer within {budget} ms (limits.approvalTimeoutMs)"
                        ))
                    })
            }
        };
        match answer {
            Ok(true) => Ok(()),
            Ok(false) => Err(ToolError::new(
                Code::Declined,
                format!("{named} was declined by the user; it was not called"),
            )),
            Err(why) => Err(ToolError::new(
                Code::ApprovalUnavailable,
                format!(
                    "{named} needs approval (policy rule `{rule}`), and asking failed: {why}; it was not called"
                ),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool(annotations: Value) -> tsgen::Tool {
        let schema =
            json!({"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]});
        let tool = json!({"name": "drop_table", "inputSchema": schema, "annotations": annotations});
        serde_json::from_value(tool).unwrap()
    }

    fn policy(rules: Value) -> Policy {
        Policy::parse(rules.as_object().unwrap().clone()).unwrap()
    }

    fn approver(answer: Result<bool, String>) -> Approver {
        Arc::new(move |_| {
            let answer = answer.clone();
            Box::pin(async move { answer })
        })
    }

    /// Every decision, for a snippet and for a direct tool, through the one path, and the
    /// audit record of each with the rule that decided it.
    #[tokio::test]
    async fn every_call_is_decided_asked_checked_and_recorded_in_one_place() {
        let dir = std::env::temp_dir().join(format!("codemode-admission-{}", std::process::id()));
        let path = dir.join("audit.jsonl");
        let _ = std::fs::remove_file(&path);
        let audit = Audit::open(&path, false).unwrap();
        let policy = policy(json!({"db/*": "ask", "db/drop_*": "deny", "@readOnly": "allow"}));
        let upstreams = BTreeMap::new();
        let gate = Gate {
            policy: &policy,
            audit: Some(&audit),
            approval_timeout_ms: None,
            upstreams: &upstreams,
            auth: None,
            metrics: &crate::metrics::Metrics::default(),
        };
        let pauses = sandbox::Pauses::new();
        let check = ArgumentCheck::new();
        let (accept, decline, broken) = (
            approver(Ok(true)),
            approver(Ok(false)),
            approver(Err("the client went away".into())),
        );
        let snippet = |approver: Option<&'static Approver>| Caller::Snippet {
            execution: 7,
            approver,
            forward: None,
            pauses: &pauses,
            check: Some(&check),
        };
        let leak = |a: Approver| -> &'static Approver { Box::leak(Box::new(a)) };
        let (accept, decline, broken) = (leak(accept), leak(decline), leak(broken));
        let drop = tool(json!({}));
        let read = {
            let mut t = tool(json!({"readOnlyHint": true}));
            t.name = "count_rows".into();
            t
        };
        let write = {
            let mut t = tool(json!({"destructiveHint": false}));
            t.name = "insert_row".into();
            t
        };
        let cases: Vec<(&tsgen::Tool, Caller<'_>, Value, Result<(), Code>)> = vec![
            (
                &drop,
                snippet(Some(accept)),
                json!({"n": 1}),
                Err(Code::Denied),
            ),
            (&drop, Caller::Direct, json!({}), Err(Code::Denied)),
            (
                &write,
                snippet(None),
                json!({"n": 1}),
                Err(Code::ApprovalUnavailable),
            ),
            (
                &write,
                snippet(Some(decline)),
                json!({"n": 1}),
                Err(Code::Declined),
            ),
            (
                &write,
                snippet(Some(broken)),
                json!({"n": 1}),
                Err(Code::ApprovalUnavailable),
            ),
            (&write, Caller::Direct, json!({}), Err(Code::Denied)),
            // Accepted, then checked: wrong arguments never reach an upstream.
            (
                &write,
                snippet(Some(accept)),
                json!({"n": "one"}),
                Err(Code::InvalidArguments),
            ),
            // Accepted and well-formed: the upstream is next (a tool list has none).
            (
                &write,
                snippet(Some(accept)),
                json!({"n": 1}),
                Err(Code::NoUpstream),
            ),
            // `@readOnly` allows without asking where no pattern says more (in `files`).
            (&read, snippet(None), json!({"n": 1}), Err(Code::NoUpstream)),
        ];
        for (tool, caller, args, expected) in cases {
            let server = if tool.name == "count_rows" {
                "files"
            } else {
                "db"
            };
            let named = format!("{server}.{}", tool.name);
            let call = Call {
                named: &named,
                server,
                tool,
                args,
                caller,
                principal: None,
                scopes: &[],
            };
            let answer = gate.admit(call).await;
            assert_eq!(
                answer.as_ref().map(|_| ()).map_err(|e| e.code.clone()),
                expected,
                "{named}: {answer:?}"
            );
        }
        let records: Vec<Value> = std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        let seen: Vec<(&str, &str, &str)> = records
            .iter()
            .map(|r| {
                (
                    r["event"].as_str().unwrap(),
                    r["decision"].as_str().unwrap(),
                    r["rule"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                ("call", "deny", "db/drop_*"),
                ("direct", "deny", "db/drop_*"),
                ("call", "ask: could not ask", "db/*"),
                ("call", "ask: declined", "db/*"),
                ("call", "ask: could not ask", "db/*"),
                ("direct", "ask", "db/*"),
                ("call", "ask: accepted", "db/*"),
                ("call", "ask: accepted", "db/*"),
                ("call", "allow", "@readOnly"),
            ]
        );
        assert_eq!(records[0]["execution"], 7);
        assert!(records[1].get("execution").is_none());
    }
}
