"""What an images request is refused with, in OpenAI's terms: the parameter at fault
and OpenAI's error code, beside Replicast's own errors (``http/openai_problems.py``
renders both in OpenAI's shape)."""

from __future__ import annotations

from replicast.errors import InvalidField, InvalidRequest, NotFound


class ImageRequestRefused(InvalidRequest):
    """A request to the images API that the chosen model cannot honour, or that breaks
    OpenAI's rules: answered 400 ``invalid_request_error`` naming ``param``."""

    def __init__(self, message: str, param: str | None, code: str = "invalid_value") -> None:
        super().__init__(message, [InvalidField(code, param or "", message)])
        self.param = param
        self.code = code


class ModelNotFound(NotFound):
    """The ``model`` of an images request is not one this server serves: 404
    ``model_not_found``."""

    def __init__(self, model: str) -> None:
        super().__init__(f"The model `{model}` does not exist or you do not have access to it.")
