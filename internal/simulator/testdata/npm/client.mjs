// Drives the simulator with the official openai npm client and prints what it saw as one JSON
// object on stdout. Usage: node client.mjs BASE_URL MODEL QUESTION
import OpenAI from "openai";

const [baseURL, model, question] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey: "sk-sim-test", maxRetries: 0, timeout: 20000 });
const out = {};

const models = await client.models.list();
out.models = models.data.map((m) => m.id);

const chat = await client.chat.completions.create({
  model,
  messages: [
    { role: "system", content: "Solve the math word problem. Respond with only the number." },
    { role: "user", content: question },
  ],
  n: 3,
  seed: 7,
  temperature: 0.7,
  max_tokens: 256,
});
out.chat = {
  object: chat.object,
  model: chat.model,
  contents: chat.choices.map((c) => c.message.content),
  finish: chat.choices.map((c) => c.finish_reason),
  usage: chat.usage,
};

const again = await client.chat.completions.create({
  model,
  messages: [
    { role: "system", content: "Solve the math word problem. Respond with only the number." },
    { role: "user", content: question },
  ],
  n: 3,
  seed: 7,
  temperature: 0.7,
  max_tokens: 256,
});
out.repeatContents = again.choices.map((c) => c.message.content);

const js = await client.chat.completions.create({
  model,
  messages: [{ role: "user", content: question }],
  response_format: {
    type: "json_schema",
    json_schema: {
      name: "answer",
      strict: true,
      schema: { type: "object", properties: { answer: { type: "number" } }, required: ["answer"], additionalProperties: false },
    },
  },
});
out.json = JSON.parse(js.choices[0].message.content);

const short = await client.chat.completions.create({
  model,
  messages: [{ role: "user", content: "Write a Python program def solution() for this problem: " + question }],
  max_completion_tokens: 5,
});
out.short = { finish: short.choices[0].finish_reason, tokens: short.usage.completion_tokens };

try {
  await client.chat.completions.create({ model: "no-such-model", messages: [{ role: "user", content: "hi" }] });
  out.badModel = { status: 0 };
} catch (err) {
  out.badModel = { status: err.status, code: err.code, type: err.type, isAPIError: err instanceof OpenAI.APIError };
}

try {
  await client.chat.completions.create({ model, messages: [{ role: "user", content: "hi" }], n: 1000 });
  out.badN = { status: 0 };
} catch (err) {
  out.badN = { status: err.status, param: err.param, type: err.type };
}

process.stdout.write(JSON.stringify(out) + "\n");
