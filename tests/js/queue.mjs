// The npm client reads a waiting prediction, queue place and all, on a server with no worker.
import Replicate from "replicate";

const replicate = new Replicate({
  auth: process.env.REPLICAST_TOKEN,
  baseUrl: `${process.env.REPLICAST_URL}/v1`,
});

const created = [];
for (let i = 0; i < 3; i++) {
  created.push(await replicate.predictions.create({
    model: "replicast/echo", input: { prompt: "x" },
  }));
}
const before = await replicate.predictions.get(created[2].id);
await replicate.predictions.cancel(created[0].id);
const after = await replicate.predictions.get(created[2].id);
console.log(JSON.stringify({
  status: before.status, before: before.queue, after: after.queue,
}));
