"""Errors a user of kqa can see. Every message names the field, the rule and the offending value."""


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
