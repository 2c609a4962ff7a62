// Drives an MCP server with the official TypeScript SDK's client and prints what it saw as JSON.
//
// Usage: node drive.mjs SDK SPEC. SDK is "v1" (`@modelcontextprotocol/sdk`, whose client makes
// the initialize handshake) or "v2" (`@modelcontextprotocol/client`, which probes for
// 2026-07-28 first: `versionNegotiation: "auto"`). SPEC is JSON: {"command", "args"} for stdio
// or {"url", "headers"?} for streamable HTTP, and "calls": [{"name", "arguments"}].
// Prints {"protocol", "server", "tools": [names], "calls": [{isError, structured, text}]}.

import { callAll } from "./calls.mjs";

const [sdk, specText] = process.argv.slice(2);
const spec = JSON.parse(specText);

async function load() {
  if (sdk === "v1") {
    const { Client } = await import("@modelcontextprotocol/sdk/client/index.js");
    const { StdioClientTransport } = await import("@modelcontextprotocol/sdk/client/stdio.js");
    const { StreamableHTTPClientTransport } = await import("@modelcontextprotocol/sdk/client/streamableHttp.js");
    return { Client, StdioClientTransport, StreamableHTTPClientTransport, options: {} };
  }
  const { Client, StreamableHTTPClientTransport } = await import("@modelcontextprotocol/client");
  const { StdioClientTransport } = await import("@modelcontextprotocol/client/stdio");
  return { Client, StdioClientTransport, StreamableHTTPClientTransport, options: { versionNegotiation: { mode: "auto" } } };
}

const { Client, StdioClientTransport, StreamableHTTPClientTransport, options } = await load();
const transport = spec.url
  ? new StreamableHTTPClientTransport(new URL(spec.url), { requestInit: { headers: spec.headers ?? {} } })
  : new StdioClientTransport({ command: spec.command, args: spec.args ?? [], stderr: "ignore" });
const client = new Client({ name: `typescript-sdk-${sdk}`, version: "1.0.0" }, options);
await client.connect(transport);
const out = { calls: [] };
out.protocol = client.getNegotiatedProtocolVersion?.() ?? transport.protocolVersion ?? null;
out.server = client.getServerVersion()?.name ?? null;
const listed = await client.listTools();
out.tools = listed.tools.map((t) => t.name);
out.calls = await callAll(client, spec.calls ?? []);
await client.close();
console.log(JSON.stringify(out));
