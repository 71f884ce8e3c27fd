"""The Hugging Face hub: which file of a repository is its LoRA, and where to get it.

``huggingface.co/<owner>/<repo>`` names a repository that must hold exactly one
``.safetensors`` file; the hub's API lists the files (``GET /api/models/<repo>``, or
``/api/models/<repo>/revision/<revision>``). The endpoint is REPLICAST_HF_ENDPOINT
(``https://huggingface.co``), so a mirror, or a test's fake hub, can stand in for it.
A token (flux-dev-lora's ``hf_api_token``) opens gated and private repositories; httpx
drops it when the hub redirects a download to another host.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx

from replicast.models.lora.fetch import Fetcher, HttpStatusError, LoraError, Unreachable
from replicast.models.lora.sources import HubSource


class Hub:
    """One hub's API, asked through a ``Fetcher``."""

    def __init__(self, endpoint: str, fetcher: Fetcher) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.fetcher = fetcher

    def headers(self, token: str | None) -> Mapping[str, str] | None:
        """What a request to the hub carries: the token, if there is one."""
        return {"Authorization": f"Bearer {token}"} if token else None

    async def file_url(self, client: httpx.AsyncClient, source: HubSource,
                       token: str | None) -> str:
        """The download URL of the LoRA ``source`` names (its one file, if none is named)."""
        if source.file is not None:
            return source.file_url(self.endpoint, source.file)
        api = f"{self.endpoint}/api/models/{source.repo}"
        if source.revision != "main":
            api += f"/revision/{quote(source.revision, safe='')}"
        try:
            found = await self.fetcher.get_json(client, api, headers=self.headers(token))
        except HttpStatusError as exc:
            raise self._refusal(source, exc.status, token) from None
        except Unreachable as exc:
            raise Unreachable(f"cannot reach the Hugging Face hub at {self.endpoint}: {exc}. "
                              "Upload the LoRA through the Files API instead, or set "
                              "REPLICAST_HF_ENDPOINT to a hub mirror this server can "
                              "reach") from None
        return source.file_url(self.endpoint, _only_safetensors(source, found))

    def _refusal(self, source: HubSource, status: int, token: str | None) -> LoraError:
        if status in (401, 403):
            hint = ("the token given cannot read it" if token else
                    "it is gated or private: give a token that can read it in hf_api_token")
            return LoraError(f"the hub refused access to {source.repo} ({status}): {hint}")
        if status == 404:
            return LoraError(f"the hub has no repository {source.repo} (at revision "
                             f"{source.revision})")
        return LoraError(f"the hub could not list {source.repo}: HTTP {status}")


def _only_safetensors(source: HubSource, found: Any) -> str:
    siblings = found.get("siblings") if isinstance(found, dict) else None
    if not isinstance(siblings, list):
        raise LoraError(f"the hub's answer about {source.repo} lists no files")
    names: list[str] = [s["rfilename"] for s in siblings
             if isinstance(s, dict) and isinstance(s.get("rfilename"), str)
             and s["rfilename"].lower().endswith(".safetensors")]
    if len(names) == 1:
        return names[0]
    if not names:
        raise LoraError(f"{source.repo} holds no .safetensors file")
    shown = ", ".join(sorted(names)[:5]) + (", ..." if len(names) > 5 else "")
    raise LoraError(f"{source.repo} holds {len(names)} .safetensors files ({shown}); name "
                    f"one: huggingface.co/{source.repo}/<file>.safetensors")
