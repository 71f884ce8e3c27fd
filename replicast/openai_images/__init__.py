"""OpenAI's images API (``/v1/images/generations``, ``/v1/images/edits``) as a second
dialect over the same predictions: ``errors.py`` (what a request is refused with, in
OpenAI's terms), ``sizes.py`` (``size`` onto a model's size inputs), ``mapping.py``
(a request's fields onto a model's inputs, read from its schema), ``wire.py`` (the
answers and stream events in OpenAI's shape). The handlers are ``api/images.py``."""
