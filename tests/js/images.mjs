// Drives OpenAI's images API on a Replicast server with the official npm openai client.
import OpenAI, { toFile } from "openai";
import zlib from "node:zlib";

const client = new OpenAI({
  baseURL: `${process.env.REPLICAST_URL}/v1`,
  apiKey: process.env.REPLICAST_TOKEN,
  maxRetries: 0,
});

// A plain PNG of one colour, made here so that no image library is needed.
function png(width, height) {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf) => {
    let c = 0xffffffff;
    for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const out = Buffer.alloc(12 + data.length);
    out.writeUInt32BE(data.length, 0);
    out.write(type, 4, "ascii");
    data.copy(out, 8);
    out.writeUInt32BE(crc(out.subarray(4, 8 + data.length)), 8 + data.length);
    return out;
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; header[9] = 2;
  const row = Buffer.concat([Buffer.from([0]), Buffer.alloc(width * 3, 200)]);
  const raw = Buffer.concat(Array.from({ length: height }, () => row));
  return Buffer.concat([
    Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]),
    chunk("IHDR", header), chunk("IDAT", zlib.deflateSync(raw)), chunk("IEND", Buffer.alloc(0)),
  ]);
}

const seen = {};
const generated = await client.images.generate({
  prompt: "a paper boat", n: 2, size: "1024x1024", output_format: "png",
});
seen.generated = generated.data.length;
const download = await fetch(generated.data[0].url);
seen.download_type = download.headers.get("content-type");

const b64 = await client.images.generate({
  prompt: "a paper boat", response_format: "b64_json", seed: 3,
});
seen.b64_bytes = Buffer.from(b64.data[0].b64_json, "base64").length;

const { data: edited, response } = await client.images.edit({
  model: "black-forest-labs/flux-2-klein-4b", prompt: "a hat",
  image: [await toFile(png(64, 64), "a.png", { type: "image/png" }),
          await toFile(png(32, 32), "b.png", { type: "image/png" })],
}).withResponse();
seen.edited = edited.data.length;
seen.edit_prediction = response.headers.get("x-replicast-prediction-id");

const stream = await client.images.generate({ prompt: "a paper boat", stream: true,
                                             partial_images: 1 });
seen.stream = [];
for await (const event of stream) seen.stream.push(event.type);

try {
  await client.images.generate({ prompt: "a paper boat", size: "4000x1000" });
} catch (error) {
  seen.bad_size = [error.constructor.name, error.status, error.param];
}
try {
  await client.images.generate({ prompt: "a paper boat", model: "nobody/nothing" });
} catch (error) {
  seen.unknown_model = [error.constructor.name, error.status, error.code];
}
try {
  await new OpenAI({ baseURL: `${process.env.REPLICAST_URL}/v1`, apiKey: "r8_wrong",
                     maxRetries: 0 }).images.generate({ prompt: "x" });
} catch (error) {
  seen.bad_token = [error.constructor.name, error.status];
}
console.log(JSON.stringify(seen));
