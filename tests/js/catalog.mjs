// Runs models by name with the official npm `replicate` client, unchanged.
// Usage: REPLICAST_URL=... REPLICAST_TOKEN=... REPLICAST_RUNS='{"owner/name": {input}}' node catalog.mjs
// Prints one JSON line: for each model, its output with every file as its URL string.
import Replicate from "replicate";

const replicate = new Replicate({
  auth: process.env.REPLICAST_TOKEN, baseUrl: `${process.env.REPLICAST_URL}/v1`,
});
const runs = JSON.parse(process.env.REPLICAST_RUNS);
const seen = {};
for (const [model, input] of Object.entries(runs)) {
  const output = await replicate.run(model, { input });
  seen[model] = Array.isArray(output) ? output.map(String) : String(output);
}
console.log(JSON.stringify(seen));
