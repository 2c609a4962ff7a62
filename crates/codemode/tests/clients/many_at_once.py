"""Makes many `execute` calls at once with the official Python SDK's Client (2026-07-28, no
session) and prints how each ended, for the replicas test: a call whose replica died fails,
and that must not stop the others.

Usage: many_at_once.py URL CODE N. Prints [{"ok": bool, "result"?: value, "error"?: text}, ...]
in call order.
"""

import asyncio
import json
import sys

from mcp import Client


async def main() -> None:
    url, code, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    async with Client(url) as client:

        async def one(i: int):
            try:
                result = await client.call_tool("execute", {"code": code.replace("$I", str(i))})
            except Exception as error:  # the replica went away mid-call
                return {"ok": False, "error": repr(error)}
            structured = result.structured_content or {}
            if result.is_error or not structured.get("ok"):
                return {"ok": False, "error": json.dumps(structured)[:300]}
            return {"ok": True, "result": structured.get("result")}

        print(json.dumps(await asyncio.gather(*(one(i) for i in range(n)))))


asyncio.run(main())
