"""Data-efficient training after DEFT (Das & Khetan 2023): train on a K-means core-set of the questions.

The question stems are embedded (sentence-transformers, L2-normalized), faiss K-means finds k = round(share x n)
centroids, and the question nearest each centroid joins the core-set (each question at most once: a centroid whose
nearest question is taken gets its next nearest). The choice is seeded and does not depend on the labels.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import numpy as np

from kqa.errors import InputError
from kqa.types import Question

logger = logging.getLogger(__name__)
KMEANS_ITERATIONS = 25

Embed = Callable[[Sequence[str]], np.ndarray]  # texts -> (n, d) float32


class CoresetSelector:
    """Pick round(share x n) representative questions: the nearest question to each K-means centroid."""

    def __init__(self, share: float, *, seed: int = 0, embedder: str = "minilm-l6", embed: Embed | None = None):
        if not 0 < share <= 1:
            raise InputError(f"--coreset must be in (0, 1], got {share}; e.g. 0.5 trains on half of the train split.")
        self.share, self.seed, self.embedder = share, seed, embedder
        self.embed = embed  # None: the sentence-transformers model `embedder`, loaded on first use

    def run(self, questions: Sequence[Question]) -> tuple[int, ...]:
        """Sorted indices into `questions` of the core-set."""
        k = max(1, round(self.share * len(questions)))
        if k >= len(questions):
            return tuple(range(len(questions)))
        vectors = np.ascontiguousarray(self._embed([q.stem for q in questions]), dtype=np.float32)  # (n, d)
        centroids = self._kmeans(vectors, k)  # (k, d)
        return tuple(sorted(nearest_unique(vectors, centroids)))

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        if self.embed is None:
            from kqa.retrieval.index import Embedder

            self.embed = Embedder(self.embedder).encode
        return self.embed(texts)

    def _kmeans(self, vectors: np.ndarray, k: int) -> np.ndarray:
        import faiss

        kmeans = faiss.Kmeans(vectors.shape[1], k, niter=KMEANS_ITERATIONS, seed=self.seed, verbose=False,
                              min_points_per_centroid=1)
        kmeans.train(vectors)
        logger.info("core-set: %d of %d questions (K-means, %d iterations)", k, len(vectors), KMEANS_ITERATIONS)
        return kmeans.centroids


def nearest_unique(vectors: np.ndarray, centroids: np.ndarray) -> list[int]:
    """For each centroid in turn, the nearest vector not already chosen (len(centroids) <= len(vectors))."""
    import faiss

    index = faiss.IndexFlatL2(vectors.shape[1])
    index.add(vectors)
    _, order = index.search(np.ascontiguousarray(centroids, dtype=np.float32), len(vectors))  # (k, n) nearest first
    chosen: list[int] = []
    taken: set[int] = set()
    for row in order:
        pick = next(int(i) for i in row if i not in taken)
        chosen.append(pick)
        taken.add(pick)
    return chosen
