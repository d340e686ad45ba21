// Calls `sgde serve` with the official openai npm client and prints what it saw as one JSON
// object on stdout. Usage: node client.mjs BASE_URL API_KEY
import OpenAI from "openai";

const [baseURL, apiKey] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 60000 });
const out = {};

out.models = (await client.models.list()).data.map((m) => m.id);

const chat = await client.chat.completions.create({
  model: "shout",
  messages: [
    { role: "system", content: "ignored by the plan" },
    { role: "user", content: "hello from node" },
  ],
  n: 2,
  temperature: 0,
});
out.chat = {
  object: chat.object,
  model: chat.model,
  fingerprint: chat.system_fingerprint,
  contents: chat.choices.map((c) => c.message.content),
  finish: chat.choices.map((c) => c.finish_reason),
  usage: chat.usage,
};

const stream = await client.chat.completions.create({
  model: "shout",
  messages: [{ role: "user", content: "stream me" }],
  stream: true,
  stream_options: { include_usage: true },
});
out.stream = { content: "", finish: null, usage: null, chunks: 0 };
for await (const chunk of stream) {
  out.stream.chunks++;
  for (const c of chunk.choices) {
    out.stream.content += c.delta?.content ?? "";
    if (c.finish_reason) out.stream.finish = c.finish_reason;
  }
  if (chunk.usage) out.stream.usage = chunk.usage;
}

const sum = await client.chat.completions.create({ model: "add", messages: [{ role: "user", content: '{"a": 0.1, "b": 0.2}' }] });
out.sum = sum.choices[0].message.content;

async function failure(fn) {
  try {
    await fn();
    return { status: 0 };
  } catch (err) {
    return { status: err.status, code: err.code, type: err.type, param: err.param, name: err.constructor.name };
  }
}
out.hidden = await failure(() => client.chat.completions.create({ model: "bob-secret", messages: [{ role: "user", content: "x" }] }));
out.badN = await failure(() => client.chat.completions.create({ model: "shout", n: 100, messages: [{ role: "user", content: "x" }] }));
out.wrongKey = await failure(() =>
  new OpenAI({ baseURL, apiKey: "sk-wrong", maxRetries: 0 }).chat.completions.create({ model: "shout", messages: [{ role: "user", content: "x" }] }),
);

process.stdout.write(JSON.stringify(out) + "\n");
