"""Targets are built once per module (a work folder, a tiny graph for the web app); Hypothesis feeds them inputs."""

import logging
import warnings

import pytest


@pytest.fixture(autouse=True, scope="module")
def _quiet():
    """'skipped N invalid records' once per example, and matplotlib's missing-glyph warnings, are noise here."""
    logging.disable(logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield
    logging.disable(logging.NOTSET)
