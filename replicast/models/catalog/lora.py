"""flux-dev-lora and flux-schnell-lora: FLUX.1 with LoRA weights named per request.

Their schemas are cog-flux's LoRA predictors'; sizes are FLUX.1's, and so are the
weights that run them (the LoRA of the request is loaded on top).
"""

from __future__ import annotations

from datetime import UTC, datetime

from replicast.models.catalog import flux1
from replicast.models.catalog.record import ModelSpec, References
from replicast.models.schema import NO_DEFAULT, InputField

DEV_LORA = "black-forest-labs/flux-dev-lora"
SCHNELL_LORA = "black-forest-labs/flux-schnell-lora"

_WEIGHTS_FORMS = (
    "Load LoRA weights. Supports Replicate models in the format <owner>/<username> or "
    "<owner>/<username>/<version>, HuggingFace URLs in the format "
    "huggingface.co/<owner>/<model-name>{file}, CivitAI URLs in the format "
    "civitai.com/models/<id>[/<model-name>], or arbitrary .safetensors URLs from the "
    "Internet{signed}. For example, 'fofr/flux-pixar-cars'"
)
_SCALE = (
    "Determines how strongly the {which} LoRA should be applied. Sane results between 0 and 1 "
    "for base inference. For go_fast we apply a 1.5x multiplier to this value; we've "
    "generally seen good performance when scaling the base value by that amount. You may "
    "still need to experiment to find the best value for your particular lora."
)
_TOKEN = ("{site} API token. If you're using a {kind} lora that needs authentication, you'll "
          "need to provide an API token.")


def _lora_scale(name: str, which: str) -> InputField:
    return InputField(name, "number", _SCALE.format(which=which), default=1.0,
                      minimum=-1.0, maximum=3.0)


_SCHNELL_WEIGHTS = InputField(
    "lora_weights", "string", _WEIGHTS_FORMS.format(file="", signed=""), default=NO_DEFAULT)

DEV_LORA_SPEC = ModelSpec(
    name=DEV_LORA,
    description="A version of flux-dev, a text to image model, that supports fast fine-tuned "
    "lora inference",
    inputs=(
        flux1.PROMPT, flux1.ASPECT_RATIO, flux1.IMAGE, flux1.PROMPT_STRENGTH, flux1.NUM_OUTPUTS,
        flux1.DEV_STEPS,
        InputField("guidance", "number", "Guidance for generated image", default=3,
                   minimum=0, maximum=10),
        flux1.SEED, flux1.OUTPUT_FORMAT, flux1.OUTPUT_QUALITY, flux1.DISABLE_SAFETY_CHECKER,
        flux1.GO_FAST_FP8,
        InputField(
            "lora_weights", "string",
            _WEIGHTS_FORMS.format(file="[/<lora-weights-file.safetensors>]",
                                  signed=", including signed URLs")
            + ". Civit AI and HuggingFace LoRAs may require an API token to access, which you "
            "can provide in the `civitai_api_token` and `hf_api_token` inputs respectively.",
            default=NO_DEFAULT,
        ),
        _lora_scale("lora_scale", "main"),
        InputField("extra_lora", "string", _WEIGHTS_FORMS.format(file="", signed=""),
                   default=NO_DEFAULT),
        _lora_scale("extra_lora_scale", "extra"),
        flux1.MEGAPIXELS,
        InputField("hf_api_token", "string", _TOKEN.format(site="HuggingFace", kind="hf"),
                   default=NO_DEFAULT, secret=True),
        InputField("civitai_api_token", "string",
                   _TOKEN.format(site="Civitai", kind="civitai"), default=NO_DEFAULT,
                   secret=True),
    ),
    many_outputs=True,
    size=flux1.size,
    references=References("image", 1, is_list=False),
    version_id="ae0d7d645446924cf1871e3ca8796e8318f72465d2b5af9323a835df93bf0917",
    version_created_at=datetime(2025, 10, 1, tzinfo=UTC),
    runs_on=flux1.DEV,
)

SCHNELL_LORA_SPEC = ModelSpec(
    name=SCHNELL_LORA,
    description="The fastest image generation model tailored for fine-tuned use",
    inputs=(
        flux1.PROMPT, flux1.ASPECT_RATIO, flux1.NUM_OUTPUTS, flux1.SCHNELL_STEPS, flux1.SEED,
        flux1.OUTPUT_FORMAT, flux1.OUTPUT_QUALITY, flux1.DISABLE_SAFETY_CHECKER,
        flux1.GO_FAST_FP8, _SCHNELL_WEIGHTS, _lora_scale("lora_scale", "main"),
        flux1.MEGAPIXELS,
    ),
    many_outputs=True,
    size=flux1.size,
    references=None,
    version_id="83180e3ae073b7f87cd85b8bb649337412fd006d10db49e04ea5e821e87fbeb3",
    version_created_at=datetime(2025, 10, 1, tzinfo=UTC),
    runs_on=flux1.SCHNELL,
)

SPECS = (DEV_LORA_SPEC, SCHNELL_LORA_SPEC)
