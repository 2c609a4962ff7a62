"""codemode as the client of the MCP conformance suite's client scenarios.

The suite runs `python conformance_client.py CODEMODE <server-url>` with the scenario's name in
MCP_CONFORMANCE_SCENARIO: this writes a config whose only server is that URL and makes codemode
do what the scenario asks of a client (connect and list tools, or call the scenario's tool from
a snippet, with the Python SDK's client as the agent's where the scenario asks the user). It
exits with codemode's status.

In the `auth/*` scenarios codemode signs in to the server on its own, as it would for a user:
`browser.py` stands in for the user's browser (the suite's authorization server approves at
once), the sign-in is kept in a file of the scenario's own, and the config says what the
scenario gives in MCP_CONFORMANCE_CONTEXT (a pre-registered client, client credentials)."""

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


# The sign-in scenarios: each calls the server's one tool once signed in. Where the right outcome
# is a refusal (a resource that is not the server; a server that never has enough scope),
# codemode must fail, and the suite checks it stopped where it should.
AUTH_REFUSED = {"auth/resource-mismatch", "auth/scope-retry-limit"}
AUTH_SNIPPET = "return await tools.test.testTool({});"


def oauth_config(scenario: str, context: dict) -> dict:
    """The server's `oauth`, from what the scenario gives."""
    if scenario == "auth/basic-cimd":
        return {"clientMetadataUrl": "https://conformance-test.local/client-metadata.json"}
    if scenario == "auth/pre-registration":
        return {"clientId": context["client_id"], "clientSecret": context["client_secret"]}
    if scenario == "auth/client-credentials-basic":
        return {
            "grant": "client_credentials",
            "clientId": context["client_id"],
            "clientSecret": context["client_secret"],
        }
    if scenario == "auth/client-credentials-jwt":
        return {
            "grant": "client_credentials",
            "clientId": context["client_id"],
            "privateKey": context["private_key_pem"],
            "signingAlgorithm": context.get("signing_algorithm", "ES256"),
        }
    if scenario == "auth/cross-app-access-complete-flow":
        return {
            "grant": "enterprise",
            "clientId": context["client_id"],
            "clientSecret": context["client_secret"],
            "idToken": context["idp_id_token"],
            "idpIssuer": context["idp_issuer"],
            "idpTokenEndpoint": context["idp_token_endpoint"],
            "idpClientId": context["idp_client_id"],
        }
    return {}


def run_auth(codemode: str, url: str, scenario: str, folder: str) -> int:
    context = json.loads(os.environ.get("MCP_CONFORMANCE_CONTEXT") or "{}")
    config = os.path.join(folder, "codemode.json")
    server = {"url": url}
    oauth = oauth_config(scenario, context)
    if oauth:
        server["oauth"] = oauth
    with open(config, "w") as f:
        json.dump(
            {
                "mcpServers": {"test": server},
                "isolation": "none",
                "cache": False,
                "limits": {"timeoutMs": 20000},
            },
            f,
        )
    browser = os.path.join(os.path.dirname(os.path.abspath(__file__)), "browser.py")
    env = dict(
        os.environ,
        BROWSER=f"{sys.executable} {browser}",
        CODEMODE_CREDENTIALS=os.path.join(folder, "credentials.json"),
    )
    done = subprocess.run(
        [codemode, "run", "-", "--config", config],
        input=AUTH_SNIPPET.encode(),
        env=env,
        capture_output=True,
    )
    sys.stderr.write(done.stdout.decode(errors="replace") + done.stderr.decode(errors="replace"))
    if scenario in AUTH_REFUSED:
        return 0 if done.returncode != 0 else 1
    return done.returncode


def main() -> int:
    codemode, url = sys.argv[1], sys.argv[-1]
    scenario = os.environ.get("MCP_CONFORMANCE_SCENARIO", "")
    if scenario.startswith("auth/"):
        with tempfile.TemporaryDirectory() as folder:
            return run_auth(codemode, url, scenario, folder)
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
