import pytest

from replicast.outputs.local import LocalOutputs


async def test_files_are_found_only_inside_the_outputs_folder(tmp_path):
    (tmp_path / "secret.db").write_bytes(b"keep out")
    outputs = LocalOutputs(tmp_path / "outputs")
    url = await outputs.save("http://h", "p1", "run", "out-0.png", b"png")
    assert url == "http://h/outputs/p1/run/out-0.png"
    assert outputs.locate("p1", "run", "out-0.png").read_bytes() == b"png"
    for parts in [("..", "..", "secret.db"), ("p1", "..", "..%2Fsecret.db"),
                  ("p1", "run", "../../../secret.db"), ("p1", "run", "..\\..\\secret.db"),
                  ("p1", "run", "out-0.png\x00"), ("", "run", "out-0.png"),
                  ("p1", ".", "out-0.png")]:
        assert outputs.locate(*parts) is None, parts


async def test_unsafe_names_are_refused_when_saving(tmp_path):
    outputs = LocalOutputs(tmp_path / "outputs")
    for name in ["../x.png", "a/b.png", "..", "a\\b.png", "x\x00.png"]:
        with pytest.raises(ValueError):
            await outputs.save("http://h", "p1", "run", name, b"x")


async def test_removing_a_predictions_files_frees_them_and_is_idempotent(tmp_path):
    outputs = LocalOutputs(tmp_path / "outputs")
    await outputs.save("http://h", "p1", "run", "a.png", b"1")
    await outputs.save("http://h", "p2", "run", "a.png", b"2")
    await outputs.remove("p1")
    await outputs.remove("p1")
    assert not (tmp_path / "outputs" / "p1").exists()
    assert outputs.locate("p2", "run", "a.png") is not None
    await outputs.remove("..")  # never anything outside
    assert (tmp_path / "outputs").is_dir()


async def test_removing_many_says_which_went(tmp_path, monkeypatch):
    from replicast.outputs import local

    outputs = LocalOutputs(tmp_path / "outputs")
    for prediction_id in ("p1", "p2", "p3"):
        await outputs.save("http://h", prediction_id, "run", "out.png", b"x")
    real = local._remove_tree

    def remove(path):
        if path.name == "p2":
            raise PermissionError(13, "Permission denied", str(path))
        real(path)

    monkeypatch.setattr(local, "_remove_tree", remove)
    assert await outputs.remove_many(["p1", "p2", "p3", "../x"]) == ["p1", "p3"]
    assert sorted(p.name for p in (tmp_path / "outputs").iterdir()) == ["p2"]
