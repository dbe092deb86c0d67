"""DEFT core-set: one question per K-means cluster, the one nearest its centroid; training on it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from kqa.adapters.config import TrainConfig
from kqa.coreset import CoresetSelector, nearest_unique
from kqa.errors import ConfigError, InputError
from kqa.overrides import override
from kqa.train import Trainer
from tests.test_adapter_model import FakeRetriever, make_question, tiny_config

CENTRES = np.array([[10.0, 0.0], [0.0, 10.0], [-10.0, -10.0]], dtype=np.float32)


def clustered(offsets=(0.0, 0.3, -0.4, 0.5)):
    """Twelve 2-d points, four around each centre; the first of each group sits exactly on its centre."""
    points = [c + np.array([o, -o], dtype=np.float32) for c in CENTRES for o in offsets]
    return np.stack(points)  # (12, 2)


def questions(n):
    return [make_question(f"question number {i}?", ["a", "b"], f"q{i}") for i in range(n)]


def test_one_question_per_cluster_nearest_its_centre():
    vectors = clustered()
    selector = CoresetSelector(0.25, seed=0, embed=lambda texts: vectors[: len(texts)])
    chosen = selector.run(questions(12))
    assert chosen == (0, 4, 8)  # each group's point on its centre
    assert selector.run(questions(12)) == chosen
    assert CoresetSelector(1.0, embed=lambda texts: vectors).run(questions(12)) == tuple(range(12))


def test_a_centroid_whose_nearest_question_is_taken_gets_the_next():
    vectors = np.array([[0.0, 0.0], [1.0, 0.0], [5.0, 0.0]], dtype=np.float32)
    centroids = np.array([[0.1, 0.0], [0.0, 0.0]], dtype=np.float32)
    assert nearest_unique(vectors, centroids) == [0, 1]


def test_share_outside_zero_one_is_refused():
    with pytest.raises(InputError, match=r"--coreset must be in \(0, 1\], got 0"):
        CoresetSelector(0)
    with pytest.raises(ConfigError, match=r"--coreset: `coreset`: Input should be less than or equal to 1"):
        override(TrainConfig(), coreset=1.5)  # what `kqa train --coreset 1.5` does to the train section


def test_training_on_half_the_train_split(tiny_bert_dir, tmp_path):
    data = [make_question(f"Which thing goes with {w} number {i}?", ["stone", "river", "lamp"], f"t{i}", "ABC"[i % 3])
            for i, w in enumerate(["fish", "paper", "stone", "river", "bread", "cloud", "chair", "lamp"] * 2)]
    train = TrainConfig(seed=1, train_fraction=0.5, dev_fraction=0.25, epochs=1, batch_size=2, max_length=32,
                        checkpoint_every=100, coreset=0.5, coreset_embedder=str(tiny_bert_dir))
    result = Trainer(tiny_config(tiny_bert_dir), train, FakeRetriever(), progress=False).run(data, tmp_path)
    split = json.loads((tmp_path / "split.json").read_text())
    assert result.n_train == 4 and result.steps == 2 and len(split["train"]) == 8
    assert len(split["coreset"]) == 4 and set(split["coreset"]) <= set(split["train"])
