"""One model load at a time in a process.

While diffusers and transformers build a model, accelerate's ``init_empty_weights``
patches ``torch.nn.Module.register_parameter`` for the whole process, so that a module
built on another thread meanwhile gets its parameters on the meta device ("Cannot copy
out of meta tensor"). Every load — a pipeline, a shared text encoder, the safety
checker, a LoRA's adapter layers — holds ``LOADING``. It is reentrant: a pipeline's load
loads the shared text encoder it names.
"""

from __future__ import annotations

import threading

LOADING = threading.RLock()
