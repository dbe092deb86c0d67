"""kqa.atomic: a file or a folder appears whole or not at all."""

import pytest

from kqa.atomic import atomic_folder, atomic_text


def test_atomic_text_replaces_the_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "out.json"
    atomic_text(target, "old")
    atomic_text(target, "new")
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_atomic_folder_publishes_the_built_subfolder(tmp_path):
    def build(tmp):
        (tmp / "x" / "model").mkdir(parents=True)
        (tmp / "x" / "model" / "config.json").write_text("{}")
        (tmp / "scratch.zip").write_text("left behind")
        return tmp / "x" / "model"

    target = atomic_folder(tmp_path / "cache" / "m", build)
    assert sorted(p.name for p in target.iterdir()) == ["config.json"]
    assert [p.name for p in target.parent.iterdir()] == ["m"]  # the temp folder and its scratch are gone


def test_a_failed_build_leaves_nothing(tmp_path):
    def build(tmp):
        (tmp / "half").write_text("...")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_folder(tmp_path / "m", build)
    assert list(tmp_path.iterdir()) == []


def test_a_folder_published_first_by_another_process_is_kept(tmp_path):
    target = tmp_path / "m"

    def build(tmp):
        (tmp / "mine").write_text("mine")
        target.mkdir()
        (target / "theirs").write_text("theirs")  # renamed into place while we were building
        return tmp

    assert atomic_folder(target, build) == target
    assert [p.name for p in target.iterdir()] == ["theirs"]
    assert [p.name for p in tmp_path.iterdir()] == ["m"]


def test_a_wrong_built_path_is_an_error_even_when_the_target_exists(tmp_path):
    target = tmp_path / "m"
    target.mkdir()
    (target / "theirs").write_text("theirs")
    with pytest.raises(FileNotFoundError):
        atomic_folder(target, lambda tmp: tmp / "no-such-folder")
