// Signs in to an MCP server as the official TypeScript SDK client (1.x) does, against the
// authorization server its protected resource metadata names: a 401, discovery, the
// authorization-code flow with PKCE (the browser step done by following the authorization
// URL's redirect, as an auto-approving server gives it), the token, then the calls.
//
// Usage: node signin.mjs URL CALLS-JSON. Prints {"calls": [{isError, structured, text}], "signedIn"}.

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { UnauthorizedError } from "@modelcontextprotocol/sdk/client/auth.js";
import { callAll } from "./calls.mjs";

const [url, callsText] = process.argv.slice(2);
const redirect = "http://127.0.0.1:1/callback";
let tokens;
let verifier;
let code;
const provider = {
  get redirectUrl() {
    return redirect;
  },
  get clientMetadata() {
    return { client_name: "signin test", redirect_uris: [redirect], grant_types: ["authorization_code"], response_types: ["code"], token_endpoint_auth_method: "none" };
  },
  clientInformation: () => ({ client_id: "signin-test" }),
  tokens: () => tokens,
  saveTokens: (t) => {
    tokens = t;
  },
  saveCodeVerifier: (v) => {
    verifier = v;
  },
  codeVerifier: () => verifier,
  redirectToAuthorization: async (authorization) => {
    const response = await fetch(authorization, { redirect: "manual" });
    const location = new URL(response.headers.get("location"));
    code = location.searchParams.get("code");
  },
};

const connect = async () => {
  const transport = new StreamableHTTPClientTransport(new URL(url), { authProvider: provider });
  const client = new Client({ name: "signin-test", version: "1.0.0" });
  try {
    await client.connect(transport);
    return client;
  } catch (error) {
    if (!(error instanceof UnauthorizedError) || !code) throw error;
    await transport.finishAuth(code);
    const again = new Client({ name: "signin-test", version: "1.0.0" });
    await again.connect(new StreamableHTTPClientTransport(new URL(url), { authProvider: provider }));
    return again;
  }
};

const client = await connect();
const out = { calls: [], signedIn: Boolean(tokens) };
out.calls = await callAll(client, JSON.parse(callsText));
await client.close();
console.log(JSON.stringify(out));
