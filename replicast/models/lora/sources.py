"""Where a LoRA comes from: the forms ``lora_weights`` and ``extra_lora`` take.

* ``huggingface.co/<owner>/<repo>``: the one ``.safetensors`` file of a hub repository
  (found through the hub's API); ``huggingface.co/<owner>/<repo>/<file>.safetensors``
  names the file, and so do the hub's own ``.../blob/<revision>/<path>`` and
  ``.../resolve/<revision>/<path>`` links. ``https://`` is optional.
* Any other ``http(s)://`` URL whose path ends in ``.safetensors`` (a query may follow:
  signed URLs).
* A file uploaded to this server through the Files API, by the URL it handed out.

Replicate also takes Replicate model names (trained LoRA tarballs), CivitAI pages and
``data:`` tarballs; Replicast serves none of those, and says so. Parsing is pure: the
same rules refuse a bad value with a 422 at the create (``admission``) and guide the
fetch in the run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from replicast.files.urls import own_file_id

FORMS = ("huggingface.co/<owner>/<repo>[/<file>.safetensors], an http(s) URL of a "
         ".safetensors file, or the URL of a file uploaded through the Files API")

_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]*"
_HUB = re.compile(
    rf"^(?:https?://)?(?:www\.)?huggingface\.co/(?P<owner>{_NAME})/(?P<repo>{_NAME})"
    r"(?:/(?:(?:blob|resolve)/(?P<revision>[^/?#]+)/)?(?P<file>[^?#]+\.safetensors))?/?$",
    re.IGNORECASE,
)
_REPLICATE = re.compile(rf"^(?:https?://)?(?:www\.)?(?:replicate\.com/)?{_NAME}/{_NAME}"
                        r"(?:/(?:versions/)?[0-9a-f]{64})?/?$")


class NotALora(ValueError):
    """A value names no LoRA in a form Replicast serves; the message says why."""


@dataclass(frozen=True, slots=True)
class HubSource:
    """A LoRA in a Hugging Face hub repository."""

    repo: str
    """``owner/repo``."""
    file: str | None
    """The path of the file in the repository; None: its one ``.safetensors`` file."""
    revision: str = "main"

    def file_url(self, endpoint: str, file: str) -> str:
        """Where the hub serves ``file`` of this repository at this revision."""
        return (f"{endpoint}/{self.repo}/resolve/{quote(self.revision, safe='')}/"
                f"{quote(file)}")


@dataclass(frozen=True, slots=True)
class UrlSource:
    """A LoRA at a URL of its own."""

    url: str


@dataclass(frozen=True, slots=True)
class OwnSource:
    """A LoRA uploaded to this server (read as the prediction's account)."""

    url: str


Source = HubSource | UrlSource | OwnSource


def parse(value: str, base_url: str | None = None) -> Source:
    """The source ``value`` names; ``NotALora`` if it names none Replicast serves.

    ``base_url`` is the server's own address, whose file URLs are uploads; with None,
    URLs of uploads are not told apart (the run asks the files service instead).
    """
    value = value.strip()
    if base_url is not None and own_file_id(value, base_url) is not None:
        return OwnSource(value)
    hub = _HUB.match(value)
    if hub is not None:
        return HubSource(f"{hub['owner']}/{hub['repo']}", hub["file"],
                         hub["revision"] or "main")
    if value.lower().startswith(("http://", "https://")):
        parts = urlsplit(value)
        if not parts.hostname:
            raise NotALora(f"{value[:200]!r} is not a URL")
        if parts.hostname.lower().endswith("civitai.com"):
            raise NotALora(f"CivitAI LoRAs are not served by Replicast; give {FORMS}")
        if parts.path.lower().endswith(".safetensors"):
            return UrlSource(value)
        raise NotALora(f"{value[:200]} is not a .safetensors file; give {FORMS}")
    if value.lower().startswith("data:"):
        raise NotALora(f"data URIs are not taken for LoRAs; give {FORMS}")
    if value.lower().startswith(("civitai.com", "www.civitai.com")):
        raise NotALora(f"CivitAI LoRAs are not served by Replicast; give {FORMS}")
    if _REPLICATE.match(value):
        raise NotALora(f"{value[:200]} looks like a Replicate model, whose trained LoRAs "
                       f"Replicast cannot fetch; give {FORMS}")
    raise NotALora(f"{value[:200]!r} names no LoRA; give {FORMS}")

