"""``replicast predictions list | get ID | cancel ID``, against a server: the one named,
or the one running on the local data folder."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from replicast.client.connection import SERVER_VARIABLE, ClientError, Connection, remote
from replicast.client.display import printable

LOG_TAIL = 10
_VALUE_WIDTH = 100


@contextlib.contextmanager
def connect(server: str | None, token: str | None, env: Mapping[str, str] | None = None,
            data_dir: Path | None = None) -> Iterator[Connection]:
    """A connection to the server the flags or ``REPLICATE_BASE_URL`` name, or else to
    the one running on the local data folder, with a key made for this command."""
    server, token = remote(server, token, env)
    if server is not None:
        with Connection(server, token) as connection:
            yield connection
        return
    from replicast.client.local import command_key, running_server
    from replicast.config import Settings

    settings = Settings.from_env(data_dir=data_dir)
    found = running_server(settings)
    if found is None:
        raise ClientError(f"Which server? No server is running on {settings.data_dir} "
                          "(`replicast serve` starts one); or pass --server URL or set "
                          f"{SERVER_VARIABLE}", exit_code=2)
    with command_key(settings) as local_token, Connection(found, local_token) as connection:
        yield connection


def list_(connection: Connection, *, limit: int, as_json: bool, out: TextIO = sys.stdout) -> int:
    """The newest ``limit`` predictions, as a table or JSON."""
    if limit < 1:
        raise ClientError("--limit must be at least 1", exit_code=2)
    found = list(connection.predictions(limit))
    if as_json:
        print(json.dumps(found, indent=2), file=out)
        return 0
    rows = [("ID", "MODEL", "STATUS", "CREATED", "PREDICT TIME")]
    rows += [(p.get("id", ""), p.get("model", ""), p.get("status", ""),
              _time(p.get("created_at")), _seconds(p)) for p in found]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print(printable("  ".join(cell.ljust(width)
                              for cell, width in zip(row, widths, strict=False))
                        + "  " + row[-1]), file=out)
    if not found:
        print("No predictions yet.", file=out)
    return 0


def get(connection: Connection, prediction_id: str, *, as_json: bool,
        out: TextIO = sys.stdout) -> int:
    """One prediction, as a summary or JSON."""
    prediction = connection.prediction(prediction_id)
    if as_json:
        print(json.dumps(prediction, indent=2), file=out)
        return 0
    print(printable(summary(prediction)), file=out)
    return 0


def cancel(connection: Connection, prediction_id: str, *, as_json: bool,
           out: TextIO = sys.stdout) -> int:
    """Cancel a prediction; print its status after."""
    prediction = connection.cancel(prediction_id)
    if as_json:
        print(json.dumps(prediction, indent=2), file=out)
    elif prediction.get("status") == "canceled":
        print(f"Prediction {prediction_id}: canceled", file=out)
    else:
        print(f"Prediction {prediction_id}: {prediction.get('status')} (it had already "
              "finished)", file=out)
    return 0


def summary(prediction: Mapping[str, Any]) -> str:
    """A prediction for a person to read."""
    fields = [("id", prediction.get("id")), ("model", prediction.get("model")),
              ("version", prediction.get("version")), ("status", prediction.get("status")),
              ("created", _time(prediction.get("created_at"))),
              ("started", _time(prediction.get("started_at"))),
              ("completed", _time(prediction.get("completed_at"))),
              ("predict time", _seconds(prediction))]
    lines = [f"{name + ':':<14}{value}" for name, value in fields if value]
    inputs = prediction.get("input") or {}
    if inputs:
        lines.append("input:")
        lines += [f"  {key}: {_short(value)}" for key, value in inputs.items()]
    output = prediction.get("output")
    if isinstance(output, list):
        lines.append("output:")
        if all(isinstance(item, str) and not item.startswith("http") for item in output):
            lines.append("  " + _short("".join(output)))
        else:
            lines += [f"  {_short(item)}" for item in output]
    elif output is not None:
        lines.append(f"output:       {_short(output)}")
    if prediction.get("error"):
        lines.append(f"error:        {prediction['error']}")
    logs = (prediction.get("logs") or "").replace("\r", "\n").splitlines()
    logs = [line for line in logs if line.strip()]
    if logs:
        lines.append(f"logs (last {min(len(logs), LOG_TAIL)} of {len(logs)} lines):")
        lines += [f"  {line}" for line in logs[-LOG_TAIL:]]
    if prediction.get("data_removed"):
        lines.append("(its input, output and logs were removed after the retention period)")
    return "\n".join(lines)


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    text = text.replace("\n", " ")
    return text if len(text) <= _VALUE_WIDTH else text[:_VALUE_WIDTH - 1] + "…"


def _time(value: Any) -> str:
    """An RFC 3339 time as ``YYYY-MM-DD HH:MM:SS`` in UTC, the way ``keys list`` shows it."""
    if not isinstance(value, str) or not value:
        return ""
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return value


def _seconds(prediction: Mapping[str, Any]) -> str:
    took = (prediction.get("metrics") or {}).get("predict_time")
    return f"{took:.2f} s" if isinstance(took, int | float) else ""
