"""Switching LoRAs in a pipeline: loaded once, a bounded few kept, none for the base model."""

from __future__ import annotations

from pathlib import Path

import pytest

from replicast.models.lora.apply import Adapters, LoadFailed, Wanted, adapter_name


class FakePipeline:
    """Records what is asked of diffusers' LoRA methods."""

    def __init__(self, broken: set[str] | None = None, partial: bool = False) -> None:
        self.adapters: list[str] = []
        self.calls: list[tuple] = []
        self.broken = broken or set()
        self.partial = partial

    def load_lora_weights(self, path, adapter_name):
        self.calls.append(("load", adapter_name))
        if Path(path).name in self.broken:
            if self.partial:
                self.adapters.append(adapter_name)
            raise ValueError("size mismatch for transformer_blocks.0.attn.to_q")
        if Path(path).name != "matches-nothing.safetensors":
            self.adapters.append(adapter_name)

    def get_list_adapters(self):
        return {"transformer": list(self.adapters)} if self.adapters else {}

    def delete_adapters(self, names):
        self.calls.append(("delete", *names))
        self.adapters = [a for a in self.adapters if a not in names]

    def set_adapters(self, names, adapter_weights):
        self.calls.append(("set", tuple(names), tuple(adapter_weights)))

    def enable_lora(self):
        self.calls.append(("enable",))

    def disable_lora(self):
        self.calls.append(("disable",))


def wanted(letter: str, scale: float = 1.0, field: str = "lora_weights") -> Wanted:
    return Wanted(field, adapter_name(letter * 64), Path(f"{letter}.safetensors"), scale)


def test_each_lora_is_loaded_once_and_switched_per_prediction():
    pipeline = FakePipeline()
    adapters = Adapters(pipeline)
    assert adapters.use([wanted("a")]) == [wanted("a").name]
    assert adapters.use([wanted("b", 0.5), wanted("a", 2.0, "extra_lora")]) == [wanted("b").name]
    assert adapters.use([wanted("a")]) == []
    assert [c for c in pipeline.calls if c[0] == "load"] == [("load", wanted("a").name),
                                                              ("load", wanted("b").name)]
    assert pipeline.calls[-1] == ("set", (wanted("a").name,), (1.0,))
    assert ("set", (wanted("b").name, wanted("a").name), (0.5, 2.0)) in pipeline.calls


def test_no_lora_switches_them_all_off():
    pipeline = FakePipeline()
    adapters = Adapters(pipeline)
    adapters.use([])
    assert pipeline.calls == []  # nothing loaded, nothing to switch off
    adapters.use([wanted("a")])
    adapters.use([])
    assert pipeline.calls[-1] == ("disable",)
    adapters.use([wanted("a")])
    assert pipeline.calls[-2:] == [("enable",), ("set", (wanted("a").name,), (1.0,))]


def test_the_least_recently_used_is_unloaded_past_the_bound():
    pipeline = FakePipeline()
    adapters = Adapters(pipeline, keep=2)
    adapters.use([wanted("a")])
    adapters.use([wanted("b")])
    adapters.use([wanted("a")])
    adapters.use([wanted("c")])
    assert ("delete", wanted("b").name) in pipeline.calls
    assert adapters.loaded == (wanted("a").name, wanted("c").name)
    assert pipeline.adapters == [wanted("a").name, wanted("c").name]


def test_a_lora_that_fails_to_load_is_removed_and_names_its_input():
    pipeline = FakePipeline(broken={"b.safetensors"}, partial=True)
    adapters = Adapters(pipeline)
    with pytest.raises(LoadFailed) as failed:
        adapters.use([wanted("a"), wanted("b", field="extra_lora")])
    assert failed.value.field == "extra_lora"
    assert "size mismatch" in failed.value.reason
    assert pipeline.adapters == [wanted("a").name]
    assert adapters.loaded == (wanted("a").name,)


def test_a_lora_that_loads_nothing_is_refused():
    pipeline = FakePipeline()
    with pytest.raises(LoadFailed, match="none of its layers matched"):
        Adapters(pipeline).use([Wanted("lora_weights", "lora_x", Path("matches-nothing"
                                                                       ".safetensors"), 1.0)])
