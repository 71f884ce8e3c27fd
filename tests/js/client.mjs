// Drives a Replicast server with the official npm `replicate` client, unchanged.
// Usage: REPLICAST_URL=http://127.0.0.1:8000 REPLICAST_TOKEN=r8_... node client.mjs
// Prints one JSON line of what it saw; exits non-zero when a check fails.
import assert from "node:assert/strict";
import Replicate from "replicate";

const base = process.env.REPLICAST_URL;
const auth = process.env.REPLICAST_TOKEN;
const replicate = new Replicate({ auth, baseUrl: `${base}/v1` });
const seen = {};

// run() blocks with `Prefer: wait` and returns the output files' URLs.
const images = await replicate.run("black-forest-labs/flux-schnell", {
  input: { prompt: "a paper boat", megapixels: "0.25", seed: 3, num_outputs: 2 },
});
assert.equal(images.length, 2);
const file = await fetch(String(images[0]));  // no token: the URL is the secret
assert.equal(file.status, 200);
seen.image_type = file.headers.get("content-type");
seen.image_bytes = (await file.arrayBuffer()).byteLength;

// create + wait
let prediction = await replicate.predictions.create({
  model: "replicast/echo", input: { prompt: "hello from js" },
});
assert.equal(prediction.status, "starting");
prediction = await replicate.wait(prediction, { interval: 50 });
assert.equal(prediction.status, "succeeded");
assert.deepEqual(prediction.output, ["hello", " from", " js"]);
seen.echo = prediction.output.join("");

// create by version
const model = await replicate.models.get("replicast", "echo");
const byVersion = await replicate.wait(
  await replicate.predictions.create({ version: model.latest_version.id, input: { prompt: "v" } }),
  { interval: 50 },
);
assert.equal(byVersion.version, model.latest_version.id);
assert.deepEqual(byVersion.output, ["v"]);

// pagination follows absolute `next` URLs
const created = [];
for (let i = 0; i < 105; i++) {
  created.push((await replicate.predictions.create({
    model: "replicast/echo", input: { prompt: `page ${i}` },
  })).id);
}
const listed = [];
let pages = 0;
for await (const page of replicate.paginate(replicate.predictions.list)) {
  pages += 1;
  listed.push(...page.map((p) => p.id));
}
assert.equal(new Set(listed).size, listed.length, "no prediction listed twice");
const order = listed.filter((id) => created.includes(id));
assert.deepEqual(order, [...created].reverse(), "newest first, none missing");
seen.pages = pages;
seen.listed = listed.length;

// cancel
const sleeper = await replicate.predictions.create({
  model: "replicast/sleep", input: { seconds: 30 },
});
const canceled = await replicate.predictions.cancel(sleeper.id);
assert.equal(canceled.status, "canceled");
seen.canceled = canceled.status;

// a failing model makes run() throw
await assert.rejects(
  replicate.run("replicast/fail", { input: { message: "failed on purpose in js" } }),
  (error) => error.message.includes("failed on purpose in js"),
);

// a timed-out wait comes back `starting`, so run() keeps polling to the end
const slept = await replicate.run("replicast/sleep", {
  input: { seconds: 2 }, wait: { mode: "block", timeout: 1 },
});
assert.equal(slept, "Slept for 2 seconds");

// a bad token is an ApiError with status 401
const stranger = new Replicate({ auth: "r8_wrong", baseUrl: `${base}/v1` });
await assert.rejects(stranger.predictions.list(), (error) => {
  seen.bad_token_status = error.response.status;
  return error.response.status === 401;
});

console.log(JSON.stringify(seen));
