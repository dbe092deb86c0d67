import pytest

from kqa.config import load_config
from kqa.evaluation import EvaluationConfig, Evaluator, PipelineSpec, load_set
from tests.conftest import write_jsonl
from tests.evaluation.conftest import as_records, questions

QUIET = EvaluationConfig(progress=False, chunk=3, bootstrap=200, threads=1)  # float bits depend on the thread count


@pytest.fixture
def ten_questions(tmp_path):
    return load_set(str(write_jsonl(tmp_path / "q.jsonl", as_records(questions(10)))))


def test_two_worker_processes_write_the_same_bytes_as_one(tmp_path, tiny_yaml, ten_questions):
    spec = PipelineSpec(load_config(tiny_yaml))
    Evaluator(spec, tmp_path / "one", QUIET, report=False).run([ten_questions])
    two = Evaluator(spec, tmp_path / "two", QUIET.model_copy(update={"workers": 2}), report=False).run([ten_questions])
    assert two.answered == 10 and two.metrics.timing.workers == 2
    assert (tmp_path / "one" / "predictions.jsonl").read_bytes() == (tmp_path / "two" / "predictions.jsonl").read_bytes()


@pytest.mark.ray
def test_ray_engine_on_a_local_instance_writes_the_same_bytes(tmp_path, tiny_yaml, ten_questions):
    ray = pytest.importorskip("ray")
    spec = PipelineSpec(load_config(tiny_yaml))
    Evaluator(spec, tmp_path / "one", QUIET, report=False).run([ten_questions])
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        report = Evaluator(spec, tmp_path / "ray", QUIET.model_copy(update={"engine": "ray"}), report=False).run(
            [ten_questions])
    finally:
        ray.shutdown()
    assert report.metrics.timing.engine == "ray" and report.answered == 10
    assert (tmp_path / "one" / "predictions.jsonl").read_bytes() == (tmp_path / "ray" / "predictions.jsonl").read_bytes()
