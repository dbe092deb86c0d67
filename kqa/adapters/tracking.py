"""Optional experiment trackers for training (`train.report_to`): TensorBoard and MLflow, imported only when asked."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from kqa.errors import ModelUnavailableError

PIP = {"tensorboard": "pip install tensorboard", "mlflow": "pip install mlflow"}


class Tracker:
    """Send scalars to every tracker in `report_to` (main process only); a no-op when the list is empty."""

    def __init__(self, report_to: list[str], out: Path, main: bool = True):
        self.writers = []
        for name in report_to if main else []:
            if importlib.util.find_spec(name) is None:
                raise ModelUnavailableError(f"`train.report_to` includes {name!r} but it is not installed. "
                                            f"Fix: {PIP[name]}")
            self.writers.append(_tensorboard(out) if name == "tensorboard" else _mlflow(out))

    def log(self, values: dict[str, float], step: int) -> None:
        for write, _ in self.writers:
            write(values, step)

    def close(self) -> None:
        for _, close in self.writers:
            close()


def _tensorboard(out: Path):
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(out / "runs"))

    def write(values, step):
        for key, value in values.items():
            writer.add_scalar(key, value, step)

    return write, writer.close


def _mlflow(out: Path):
    import mlflow

    mlflow.start_run(run_name=out.name)
    return (lambda values, step: mlflow.log_metrics(values, step=step)), mlflow.end_run
