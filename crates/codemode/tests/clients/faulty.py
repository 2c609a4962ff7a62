"""A real MCP server (the official Python SDK) whose tools fail on purpose, for the faults no
well-behaved server produces on demand: a tool error, a crash in the middle of a call, a death
while idle, a call that never answers; and a tool list that changes while connected (`grow`); calls whose overlap it counts (`slow`,
`peak`). It counts its starts in the file named by FAULTY_STARTS, if set."""

import asyncio
import json
import os
from typing import Annotated

from pydantic import BaseModel

from mcp import types

from mcp.server.mcpserver import Context, Elicit, ElicitationResult, MCPServer, Resolve, Sample
from mcp.server.mcpserver.exceptions import ToolError

server = MCPServer("faulty")


@server.tool()
def ok(value: str) -> str:
    """Answers at once."""
    return f"ok: {value}"


@server.tool(structured_output=False)
def inventory(secret: str) -> str:
    """Nested JSON as text and no output schema, as most servers answer; `secret` is in its
    values and in a key that is an id."""
    return json.dumps({
        "warehouse": {"name": f"north-{secret}", "bins": [{"sku": f"SKU-{secret}", "count": 17, "tags": ["cold"]}]},
        "byId": {"48213977": {"qty": 3, "owner": secret}},
        "total": 42.5,
    })


@server.tool()
def fail(message: str) -> str:
    """Always fails with `message`."""
    raise ToolError(message)


@server.tool()
def crash() -> str:
    """Kills its own process in the middle of the call."""
    os._exit(3)


def grown(n: int) -> int:
    """Exists only after `grow` ran."""
    return n * 2


@server.tool()
async def grow(ctx: Context) -> str:
    """Adds the tool `grown` and tells the client the tool list changed."""
    server.add_tool(grown)
    # 2026-07-28 says so on `subscriptions/listen` streams; earlier versions by a notification.
    await ctx.notify_tools_changed()
    await ctx.session.send_tool_list_changed()
    return "grown"


@server.tool()
async def trace_context(ctx: Context) -> str:
    """The W3C `traceparent` this call's `_meta` carried (empty without one)."""
    meta = ctx.request_context.meta
    if meta is None:
        return ""
    if isinstance(meta, dict):
        return meta.get("traceparent", "")
    extra = getattr(meta, "model_extra", None) or {}
    return getattr(meta, "traceparent", None) or extra.get("traceparent", "")


in_flight = 0
most = 0


@server.tool()
async def slow(ms: int) -> int:
    """Answers after `ms` milliseconds, counting the calls in flight at once."""
    global in_flight, most
    in_flight += 1
    most = max(most, in_flight)
    try:
        await asyncio.sleep(ms / 1000)
    finally:
        in_flight -= 1
    return ms


@server.tool()
async def exit_soon(ms: int) -> str:
    """Answers, then ends its own process `ms` later, while idle (as a killed server does)."""
    asyncio.get_running_loop().call_later(ms / 1000, lambda: os._exit(4))
    return "exiting"


class Name(BaseModel):
    name: str = "Ada"
    age: int = 36


def name_of_user() -> Elicit[Name]:
    return Elicit("What is your name?", Name)


@server.tool()
async def ask_name(answer: Annotated[ElicitationResult[Name], Resolve(name_of_user)]) -> str:
    """Asks the user for a name (a form, with defaults); the answer, or what they did instead."""
    if answer.action == "accept":
        return f"{answer.data.name} ({answer.data.age})"
    return answer.action


def summary_of(text: str) -> Sample:
    message = types.SamplingMessage(role="user", content=types.TextContent(type="text", text=f"Summarize: {text}"))
    return Sample([message], max_tokens=50)


@server.tool()
async def summarize(text: str, summary: Annotated[types.CreateMessageResult, Resolve(summary_of)]) -> str:
    """Asks the client's model for a one-line summary of `text` (sampling)."""
    return summary.content.text


@server.tool()
def peak() -> int:
    """The most `slow` calls that were in flight at once."""
    return most


@server.tool()
async def hang() -> str:
    """Never answers; notes in the file named by FAULTY_CANCELLED, if set, that it was cancelled."""
    try:
        await asyncio.sleep(3600)
    except BaseException:
        cancelled = os.environ.get("FAULTY_CANCELLED")
        if cancelled:
            with open(cancelled, "a") as f:
                f.write("cancelled\n")
        raise
    return "late"


if __name__ == "__main__":
    starts = os.environ.get("FAULTY_STARTS")
    if starts:
        with open(starts, "a") as f:
            f.write("start\n")
    server.run()
