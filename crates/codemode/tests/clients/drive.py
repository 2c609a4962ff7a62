"""Drives an MCP server with the official Python SDK's Client and prints what it saw as JSON.

Usage: drive.py SPEC, where SPEC is JSON: {"command": ..., "args": [...], "env": {...}} for
stdio or {"url": ...} for streamable HTTP, and "calls": [{"name": ..., "arguments": {...}}]
(a call {"sleep": seconds} waits instead; a call with "progress": true asks for progress, and
what arrives is in "progress": [{call, progress, message}]; a call with "timeout": seconds is
abandoned then, which cancels it, and recorded as {"abandoned": true}). With "elicit": "accept"
or "decline" in SPEC the client answers elicitation requests so (and lists their messages in
"elicitations"); without it, it has no elicitation capability. With "sample": TEXT the client
answers sampling requests with TEXT (and lists what they asked in "samplings"). "legacy": true makes the
initialize handshake (a 2025-era session) instead of the 2026 discovery; "elicit_delay": seconds
makes the user take that long to answer; "browser": a script that the user opens the link of a
URL-mode elicitation they accept with (`browser.py`).
Prints {"protocol", "server", "tools": [{name, description}], "calls": [{isError, structured, text}],
"notifications": [method, ...]}.
"""

import asyncio
import json
import subprocess
import sys

from mcp import Client, StdioServerParameters, types


async def main() -> None:
    spec = json.loads(sys.argv[1])
    if "url" in spec:
        target = spec["url"]
    else:
        target = StdioServerParameters(command=spec["command"], args=spec.get("args", []), env=spec.get("env"))
    out = {"calls": [], "notifications": [], "progress": [], "elicitations": [], "samplings": []}
    answer = spec.get("elicit")

    async def elicit(context, params):
        out["elicitations"].append(params.message)
        if getattr(params, "mode", None) == "url" and spec.get("browser") and answer == "accept":
            # The user opens the link the client shows them.
            subprocess.Popen([sys.executable, spec["browser"], params.url])
        await asyncio.sleep(spec.get("elicit_delay", 0))
        return types.ElicitResult(action=answer, content={} if answer == "accept" else None)

    async def record(message) -> None:
        method = getattr(message, "method", None) or getattr(getattr(message, "root", None), "method", None)
        if method:
            out["notifications"].append(method)

    async def sample(context, params):
        asked = " ".join(getattr(m.content, "text", "") for m in params.messages)
        out["samplings"].append(asked)
        return types.CreateMessageResult(
            role="assistant", content=types.TextContent(type="text", text=spec["sample"]), model="test-model"
        )

    options = {"elicitation_callback": elicit} if answer else {}
    if "sample" in spec:
        options["sampling_callback"] = sample
    if spec.get("legacy"):
        options["mode"] = "legacy"
    async with Client(target, message_handler=record, **options) as client:
        out["protocol"] = str(client.protocol_version)
        out["server"] = client.server_info.name if client.server_info else None
        listed = await client.list_tools()
        out["tools"] = [{"name": t.name, "description": t.description} for t in listed.tools]
        for call in spec.get("calls", []):
            if "sleep" in call:
                await asyncio.sleep(call["sleep"])
                continue
            progress = None
            if call.get("progress"):
                index = len(out["calls"])

                async def progress(value, total, message, index=index) -> None:
                    out["progress"].append({"call": index, "progress": value, "message": message})

            try:
                result = await client.call_tool(
                    call["name"],
                    call.get("arguments", {}),
                    read_timeout_seconds=call.get("timeout"),
                    progress_callback=progress,
                )
            except Exception:
                if "timeout" not in call:
                    raise
                out["calls"].append({"abandoned": True})
                continue
            out["calls"].append({
                "isError": bool(result.is_error),
                "structured": result.structured_content,
                "text": "\n".join(c.text for c in result.content if getattr(c, "type", "") == "text"),
            })
    print(json.dumps(out))


asyncio.run(main())
