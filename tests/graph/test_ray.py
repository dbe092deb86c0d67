"""--engine ray: a Ray Data map_batches job on a local Ray instance, merged by the single writer."""

import pytest

from kqa.graph.builder import GraphBuilder
from kqa.graph.config import GraphConfig
from kqa.graph.engines import LocalParser
from kqa.graph.store import GraphStore

pytestmark = pytest.mark.ray


def test_ray_engine_equals_local(tmp_path, nlp_sm):
    pytest.importorskip("ray.data")
    import ray

    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        config = GraphConfig(engine="ray", workers=1, batch_size=2)
        result = GraphBuilder(config, progress=False).run("data/corpus_small", tmp_path / "ray", create=True)
    finally:
        ray.shutdown()
    local = GraphBuilder(GraphConfig(), parser=LocalParser(GraphConfig(), nlp_sm), progress=False).run(
        "data/corpus_small", tmp_path / "local", create=True)
    assert result.parsed == 4 and result.added == local.added
    with GraphStore.open(tmp_path / "ray") as a, GraphStore.open(tmp_path / "local") as b:
        assert sorted((e.id, e.supports) for e in a.edges()) == sorted((e.id, e.supports) for e in b.edges())
        assert list(a.sentences()) == list(b.sentences()) != []
