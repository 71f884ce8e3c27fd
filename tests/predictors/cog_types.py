"""Cog 0.23's input and output types beyond the plain ones, written as Cog's users write
them: unions, Opaque, dict and TypedDict, Optional inputs without a default. Each
predictor reports what predict() received, with the Python type of each value."""

from typing import Annotated, NotRequired, Optional, TypedDict

from cog import BasePredictor, Input, Opaque, Secret


def typed(value: object) -> dict:
    return {"type": type(value).__name__, "value": value}


class Unions(BasePredictor):
    def predict(
        self,
        value: str | float,
        values: list[int] | list[float],
        either: str | float | None,
        maybe: str | float | None = Input(default=None, description="Text or a number"),
    ) -> dict:
        return {"value": typed(value), "values": [typed(v) for v in values],
                "either": typed(either), "maybe": typed(maybe)}


class Opaques(BasePredictor):
    def predict(
        self,
        payload: Annotated[dict, Opaque],
        payloads: Annotated[list[dict], Opaque],
        data: dict,
        maybe: Annotated[Optional[dict], Opaque] = None,
    ) -> Annotated[dict, Opaque]:
        return {"payload": payload, "payloads": payloads, "data": data, "maybe": maybe}


class Optionals(BasePredictor):
    def predict(
        self,
        value: Optional[str],
        api_key: Secret = Input(default=None, description="Your own key, if any"),
        note: Optional[str] = Input(description="A note"),
    ) -> dict:
        return {"value": typed(value), "api_key": type(api_key).__name__, "note": typed(note),
                "key": None if api_key is None else api_key.get_secret_value()}


class Item(TypedDict):
    name: str
    count: NotRequired[int]


class TypedDicts(BasePredictor):
    def predict(self, items: list[Item], first: Optional[Item] = None) -> Item:
        names = [str(item.get("name", "?")) for item in items]
        if first is not None:
            names.insert(0, str(first.get("name", "?")))
        return {"name": ",".join(names)}
