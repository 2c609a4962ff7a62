"""codemode as the client of the MCP conformance suite's client scenarios.

The suite runs `python conformance_client.py CODEMODE <server-url>` with the scenario's name in
MCP_CONFORMANCE_SCENARIO: this writes a config whose only server is that URL and makes codemode
do what the scenario asks of a client (connect and list tools, or call the scenario's tool from
a snippet, with the Python SDK's client as the agent's where the scenario asks the user). It
exits with codemode's status."""

import json
import os
import subprocess
import sys
import tempfile

SNIPPETS = {
    # Connecting (the probe, then the handshake the server has) and listing is the scenario.
    "initialize": None,
    "tools_call": "return await tools.test.add_numbers({ a: 2, b: 3 });",
    "sse-retry": "return await tools.test.test_reconnection({});",
    "elicitation-sep1034-client-defaults": "return await tools.test.test_client_elicitation_defaults({});",
}


def main() -> int:
    codemode, url = sys.argv[1], sys.argv[-1]
    scenario = os.environ.get("MCP_CONFORMANCE_SCENARIO", "")
    if scenario not in SNIPPETS:
        print(f"no such client scenario here: {scenario!r}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as folder:
        config = os.path.join(folder, "codemode.json")
        with open(config, "w") as f:
            json.dump(
                {
                    "mcpServers": {"test": {"url": url}},
                    "isolation": "none",
                    "cache": False,
                    "limits": {"timeoutMs": 20000},
                },
                f,
            )
        snippet = SNIPPETS[scenario]
        if snippet is None:
            command = [codemode, "check", "--config", config]
            return subprocess.run(command).returncode
        if scenario.startswith("elicitation"):
            # The test server asks during the call: codemode passes the question to the
            # agent's client (the Python SDK's, which accepts and fills in nothing), and
            # answers the server with the schema's defaults applied.
            spec = {
                "command": codemode,
                "args": ["serve", "--config", config],
                "elicit": "accept",
                "calls": [{"name": "execute", "arguments": {"code": snippet}}],
            }
            drive = os.path.join(os.path.dirname(os.path.abspath(__file__)), "drive.py")
            done = subprocess.run([sys.executable, drive, json.dumps(spec)], capture_output=True, text=True)
            print(done.stdout, done.stderr, file=sys.stderr)
            return done.returncode
        command = [codemode, "run", "-", "--config", config]
        return subprocess.run(command, input=snippet.encode()).returncode


if __name__ == "__main__":
    sys.exit(main())
