"""Makes many `execute` calls at once with the official Python SDK's Client (2026-07-28, no
session) and prints how each ended, for the replicas tests: a call whose replica died fails,
and that must not stop the others.

Usage: many_at_once.py URL CODE N [AT_ONCE [accept]]: N calls of CODE (`$I` replaced by the
call's index), at most AT_ONCE (default N) in flight; with `accept`, the client accepts every
approval it is asked for (and counts them). Prints {"calls": [{"ok": bool, "result"?: value,
"error"?: text}, ...] in call order, "asked": number of approvals}.
"""

import asyncio
import json
import sys

from mcp import Client, types


async def main() -> None:
    url, code, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    at_once = int(sys.argv[4]) if len(sys.argv) > 4 else n
    accept = len(sys.argv) > 5 and sys.argv[5] == "accept"
    asked = 0

    async def elicit(context, params):
        nonlocal asked
        asked += 1
        return types.ElicitResult(action="accept", content={})

    options = {"elicitation_callback": elicit} if accept else {}
    gate = asyncio.Semaphore(at_once)
    async with Client(url, **options) as client:

        async def one(i: int):
            async with gate:
                try:
                    result = await client.call_tool("execute", {"code": code.replace("$I", str(i))})
                except Exception as error:  # the replica went away mid-call
                    return {"ok": False, "error": repr(error)}
            structured = result.structured_content or {}
            if result.is_error or not structured.get("ok"):
                return {"ok": False, "error": json.dumps(structured)[:300]}
            return {"ok": True, "result": structured.get("result")}

        calls = await asyncio.gather(*(one(i) for i in range(n)))
    print(json.dumps({"calls": calls, "asked": asked}))


asyncio.run(main())
