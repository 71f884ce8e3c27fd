// Drives the Files API of a Replicast server with the official npm `replicate` client.
// Usage: REPLICAST_URL=http://127.0.0.1:8000 REPLICAST_TOKEN=r8_... node files.mjs
// Prints one JSON line of what it saw; exits non-zero when a check fails.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import Replicate from "replicate";

const base = process.env.REPLICAST_URL;
const auth = process.env.REPLICAST_TOKEN;
// "upload": file inputs go through files.create, never inline as data URIs.
const replicate = new Replicate({ auth, baseUrl: `${base}/v1`, fileEncodingStrategy: "upload" });
const seen = {};

// create, get, list
const text = Buffer.from("hello from the npm client\n");
const file = await replicate.files.create(text, { purpose: "test" });
assert.equal(file.size, text.length);
assert.equal(file.checksums.sha256, createHash("sha256").update(text).digest("hex"));
assert.equal(file.etag, createHash("md5").update(text).digest("hex"));
assert.deepEqual(file.metadata, { purpose: "test" });
assert.equal(file.urls.get, `${base}/v1/files/${file.id}`);
seen.content_type = file.content_type;
assert.deepEqual(await replicate.files.get(file.id), file);
const listed = await replicate.files.list();
assert.equal(listed.results[0].id, file.id, "newest first");

// the signed download URL works without a token; a tampered one does not
const download = await fetch(file.urls.download);
seen.download_status = download.status;
seen.downloaded = await download.text();
seen.nosniff = download.headers.get("x-content-type-options");
const tampered = await fetch(file.urls.download.replace("owner=", "owner=x"));
seen.tampered_status = tampered.status;

// a Blob in the input is uploaded through the Files API and read by the model
const png = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAEAAAAAwCAIAAAAuKetIAAAAUklEQVR4nO3PMQ0AIADAMEAI/qUgCxEcDcmqYJtn7/GzpQ" +
  "NeNaA1oDWgNaA1oDWgNaA1oDWgNaA1oDWgNaA1oDWgNaA1oDWgNaA1oDWgNaA1oF2vFwFk2XER3gAAAABJRU5ErkJggg==",
  "base64");
let prediction = await replicate.predictions.create({
  model: "black-forest-labs/flux-dev",
  input: { prompt: "a red card", image: new Blob([png], { type: "image/png" }),
           prompt_strength: 0.5, num_inference_steps: 1 },
});
assert.ok(prediction.input.image.startsWith(`${base}/v1/files/`), prediction.input.image);
prediction = await replicate.wait(prediction, { interval: 50 });
assert.equal(prediction.status, "succeeded", prediction.error);
seen.image_input_logged = prediction.logs.includes("Input image size: 64x48");

// delete, then it is gone
assert.equal(await replicate.files.delete(file.id), true);
await assert.rejects(replicate.files.get(file.id), (error) => {
  seen.after_delete_status = error.response.status;
  return true;
});

console.log(JSON.stringify(seen));
