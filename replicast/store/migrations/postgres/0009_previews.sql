-- OpenAI's images API: how many previews a run sends as it denoises (partial_images).
ALTER TABLE predictions ADD COLUMN previews INTEGER NOT NULL DEFAULT 0;
