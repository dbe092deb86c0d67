"""Errors a user of kqa can see. Every message names the field, the rule and the offending value."""

import reprlib


class KQAError(Exception):
    """Base class for every error kqa raises on purpose."""


class ConfigError(KQAError, ValueError):
    """A pipeline config (YAML or Python) is malformed."""


class InputError(KQAError, ValueError):
    """A user-supplied file or argument is malformed (questions, corpus, CLI options)."""


class StoreError(KQAError):
    """An on-disk artefact (graph store, index, model cache) is missing, damaged, foreign or locked."""


class ModelUnavailableError(KQAError):
    """A model or data package is not installed; the message says which `pip install` line fixes it."""


class DeviceError(KQAError):
    """A feature needs hardware this machine lacks (QLoRA and bitsandbytes need CUDA)."""


def brief(value: object, limit: int = 80) -> str:
    """A short repr of `value`: a message quotes the offending value, not a megabyte of it. Containers go through
    reprlib, which stops after a few items and levels (a YAML alias can make a list too large to repr at all)."""
    if isinstance(value, str):
        text = repr(value)
        return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"
    try:
        text = _SHORT.repr(value)
    except ValueError:  # an int of more than 4300 digits has no repr
        return f"an {type(value).__name__} too large to show"
    return text if len(text) <= limit else f"{text[:limit]}..."


_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxdict, _SHORT.maxstring, _SHORT.maxother = 3, 6, 40, 40
_SHORT.maxlist = _SHORT.maxtuple = _SHORT.maxset = _SHORT.maxfrozenset = 10
