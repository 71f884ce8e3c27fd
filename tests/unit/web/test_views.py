"""What the pages show of a prediction's output."""

from __future__ import annotations

from replicast.web.views import OutputItem, input_rows, output_items, seconds, thumbnail

BASE = "http://127.0.0.1:8000"
SIGNED = f"{BASE}/outputs/1795348800.AbC/pid/run/out-0.webp"


def test_own_files_are_shown_through_same_origin_paths():
    items = output_items([SIGNED, f"{BASE}/outputs/1.s/pid/run/data.json"], BASE, "/root")
    assert items == [
        OutputItem("image", "/root/outputs/1795348800.AbC/pid/run/out-0.webp", "out-0.webp"),
        OutputItem("file", "/root/outputs/1.s/pid/run/data.json", "data.json"),
    ]
    assert output_items(SIGNED, BASE, "") == [
        OutputItem("image", "/outputs/1795348800.AbC/pid/run/out-0.webp", "out-0.webp")]


def test_text_pieces_are_joined_and_other_urls_are_links():
    items = output_items(["Hello", " world", "https://elsewhere.example/a.png", "!"], BASE, "")
    assert items == [OutputItem("text", "Hello world"),
                     OutputItem("link", "https://elsewhere.example/a.png"),
                     OutputItem("text", "!")]
    assert output_items({"a": 1}, BASE, "") == [OutputItem("text", '{\n  "a": 1\n}\n')]
    assert output_items(None, BASE, "") == []


def test_the_thumbnail_is_the_first_image():
    assert thumbnail(["text", f"{BASE}/outputs/1.s/p/r/a.txt", SIGNED], BASE, "") == \
        "/outputs/1795348800.AbC/pid/run/out-0.webp"
    assert thumbnail(["text"], BASE, "") is None
    # Another server's output is not this server's file.
    assert thumbnail([SIGNED], "http://elsewhere.example", "") is None


def test_inputs_and_durations_as_text():
    assert input_rows({"prompt": "a", "n": 2, "go": True}) == [
        ("prompt", "a"), ("n", "2"), ("go", "true")]
    assert seconds(1.234) == "1.23 s" and seconds(None) == ""
