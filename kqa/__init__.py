"""kqa: knowledge-augmented commonsense question answering."""

from kqa.config import PipelineConfig, load_config
from kqa.errors import ConfigError, InputError, KQAError, ModelUnavailableError, StoreError
from kqa.types import Choice, Fact, Prediction, Provenance, Question
from kqa.version import __version__


def __getattr__(name: str):
    # KQAPipeline imports torch; load it on first use so `import kqa` and `kqa --help` stay fast.
    if name == "KQAPipeline":
        from kqa.pipeline import KQAPipeline

        return KQAPipeline
    raise AttributeError(f"module 'kqa' has no attribute {name!r}")


__all__ = [
    "Choice", "ConfigError", "Fact", "InputError", "KQAError", "KQAPipeline", "ModelUnavailableError",
    "PipelineConfig", "Prediction", "Provenance", "Question", "StoreError", "__version__", "load_config",
]
