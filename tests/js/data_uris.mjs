// The npm client's FileOutput reads outputs answered as data: URIs on a plain-http server
// (REPLICAST_DATA_URI_OUTPUTS set), unchanged; a list still shows the files' URLs.
import assert from "node:assert/strict";
import Replicate from "replicate";

const replicate = new Replicate({
  auth: process.env.REPLICAST_TOKEN,
  baseUrl: `${process.env.REPLICAST_URL}/v1`,
});

const images = await replicate.run("black-forest-labs/flux-schnell", {
  input: { prompt: "a paper boat", megapixels: "0.25", seed: 3, num_outputs: 2 },
});
assert.equal(images.length, 2);
assert.ok(images.every((image) => image instanceof ReadableStream), "FileOutput objects");
const blob = await images[0].blob();

const [listed] = (await replicate.predictions.list()).results;
const file = await fetch(listed.output[0]);
assert.equal(file.status, 200);
console.log(JSON.stringify({
  scheme: images[0].url().protocol,
  type: blob.type,
  bytes: blob.size,
  listed_scheme: new URL(listed.output[0]).protocol,
  listed_bytes: (await file.arrayBuffer()).byteLength,
}));
