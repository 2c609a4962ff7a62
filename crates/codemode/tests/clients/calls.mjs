// What the TypeScript drivers share: making a list of tool calls with an SDK client and
// recording each answer as {isError, structured, text}.

export async function callAll(client, calls) {
  const seen = [];
  for (const call of calls) {
    const result = await client.callTool({ name: call.name, arguments: call.arguments ?? {} });
    seen.push({
      isError: Boolean(result.isError),
      structured: result.structuredContent ?? null,
      text: (result.content ?? []).filter((c) => c.type === "text").map((c) => c.text).join("\n"),
    });
  }
  return seen;
}
