// serve_openai_client.mjs - the official `openai` npm client against
// `llmroute serve` (run by tests/serve_openai_client.sh, which sets
// LLMROUTE_BASE_URL and LLMROUTE_KEY).  Targets are those of the CONF in
// tests/unit/test_serve.c: "a" answers "Hello there", "s" streams "Hello
// streaming world", "tool" calls get_weather({"city":"Paris"}).
import OpenAI from "openai";
import assert from "node:assert/strict";

const client = new OpenAI({
  baseURL: process.env.LLMROUTE_BASE_URL,
  apiKey: process.env.LLMROUTE_KEY,
  maxRetries: 0,
  timeout: 30000,
});
const messages = [{ role: "user", content: "hi" }];

// Non-streamed.
const r = await client.chat.completions.create({ model: "a", messages });
assert.equal(r.object, "chat.completion");
assert.equal(r.choices[0].message.role, "assistant");
assert.equal(r.choices[0].message.content, "Hello there");
assert.equal(r.choices[0].finish_reason, "stop");
assert.equal(r.usage.total_tokens, 5);

// Streamed, with usage.
const stream = await client.chat.completions.create({
  model: "s", messages, stream: true, stream_options: { include_usage: true },
});
let text = "", finish = null, usage = null;
for await (const chunk of stream) {
  if (chunk.usage) usage = chunk.usage;
  for (const c of chunk.choices) {
    text += c.delta?.content ?? "";
    if (c.finish_reason) finish = c.finish_reason;
  }
}
assert.equal(text, "Hello streaming world");
assert.equal(finish, "stop");
assert.equal(usage.total_tokens, 5);

// A tool call, and the stream helper's accumulated final message.
const tools = [{
  type: "function",
  function: {
    name: "get_weather",
    parameters: { type: "object", properties: { city: { type: "string" } } },
  },
}];
const t = await client.chat.completions.create({ model: "tool", messages, tools });
const call = t.choices[0].message.tool_calls[0];
assert.equal(t.choices[0].finish_reason, "tool_calls");
assert.equal(call.function.name, "get_weather");
assert.deepEqual(JSON.parse(call.function.arguments), { city: "Paris" });

const ts = client.chat.completions.stream({ model: "toolstream", messages, tools });
const final = await ts.finalChatCompletion();
const scall = final.choices[0].message.tool_calls[0];
assert.equal(scall.function.name, "get_weather");
assert.deepEqual(JSON.parse(scall.function.arguments), { city: "Paris" });

// Errors surface as the SDK's typed errors.
await assert.rejects(
  client.chat.completions.create({ model: "no-such-model", messages }),
  (e) => e instanceof OpenAI.NotFoundError && e.code === "model_not_found");
const bad = new OpenAI({ baseURL: process.env.LLMROUTE_BASE_URL, apiKey: "wrong", maxRetries: 0 });
await assert.rejects(bad.chat.completions.create({ model: "a", messages }),
  (e) => e instanceof OpenAI.AuthenticationError);

// The model list.
const ids = [];
for await (const m of client.models.list()) ids.push(m.id);
assert.ok(ids.includes("a") && ids.includes("auto") && ids.includes("simple"));

console.log("openai npm client: all checks passed");
