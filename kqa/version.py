"""The package version, in a module of its own: writers record it (adapter_config.json) without importing `kqa`,
whose __init__ reaches the pipeline."""

__version__ = "0.1.0"
