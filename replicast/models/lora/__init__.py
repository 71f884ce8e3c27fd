"""LoRA per request for the FLUX.1 LoRA models (flux-dev-lora, flux-schnell-lora).

``sources`` parses what ``lora_weights``/``extra_lora`` name; ``fetch`` and ``hub``
download it within limits; ``cache`` keeps it on disk by digest; ``check`` reads its
header to tell whether it fits the model; ``library`` ties those together for a run;
``apply`` switches it into the loaded pipeline; ``spec`` holds the models' inputs.
"""
