import base64

from replicast.errors import StorageUnavailable
from replicast.outputs.inline import RESPONSE_FILES, inline
from replicast.outputs.local import LocalOutputs

BASE = "http://h"


def decoded(uri: str) -> tuple[str, bytes]:
    head, _, data = uri.partition(",")
    assert head.startswith("data:") and head.endswith(";base64")
    return head[len("data:"):-len(";base64")], base64.b64decode(data)


async def test_small_own_files_become_data_uris_with_their_media_type(tmp_path):
    outputs = LocalOutputs(tmp_path)
    png = await outputs.save(BASE, "p1", "run", "out 0.png", b"\x89PNG")
    text = await outputs.save(BASE, "p1", "run", "notes.txt", b"hi")
    output = {"images": [png], "notes": text, "count": 2, "caption": "a boat"}
    shown = await inline(outputs, 100, output, BASE, "p1")
    assert decoded(shown["images"][0]) == ("image/png", b"\x89PNG")
    assert decoded(shown["notes"]) == ("text/plain;charset=utf-8", b"hi")
    assert shown["count"] == 2 and shown["caption"] == "a boat"
    assert output["images"] == [png]  # the stored output is left alone


async def test_files_over_the_bound_or_not_this_predictions_stay_urls(tmp_path):
    outputs = LocalOutputs(tmp_path)
    big = await outputs.save(BASE, "p1", "run", "big.bin", b"x" * 101)
    other = await outputs.save(BASE, "p2", "run", "a.bin", b"x")
    missing = f"{BASE}/outputs/p1/run/gone.bin"
    elsewhere = "http://elsewhere/outputs/p1/run/big.bin"
    output = [big, other, missing, elsewhere, f"{BASE}/outputs/p1/../p2/run/a.bin"]
    assert await inline(outputs, 100, output, BASE, "p1") == output


async def test_one_response_inlines_a_bounded_total_in_output_order(tmp_path):
    outputs = LocalOutputs(tmp_path)
    urls = [await outputs.save(BASE, "p1", "run", f"{i}.bin", b"x" * 10)
            for i in range(RESPONSE_FILES + 3)]
    shown = await inline(outputs, 10, urls, BASE, "p1")
    assert all(s.startswith("data:") for s in shown[:RESPONSE_FILES])
    assert shown[RESPONSE_FILES:] == urls[RESPONSE_FILES:]


async def test_files_the_bucket_cannot_read_now_stay_urls(tmp_path):
    class Unreachable(LocalOutputs):
        async def read(self, prediction_id, folder, name, max_bytes=None):
            if name == "b.bin":
                raise StorageUnavailable("cannot read s3://b/outputs/p1/run/b.bin: timeout")
            return await super().read(prediction_id, folder, name, max_bytes)

    outputs = Unreachable(tmp_path)
    a = await outputs.save(BASE, "p1", "run", "a.bin", b"a")
    b = await outputs.save(BASE, "p1", "run", "b.bin", b"b")
    shown = await inline(outputs, 100, [a, b], BASE, "p1")
    assert decoded(shown[0])[1] == b"a" and shown[1] == b
