"""Knowledge adapters on frozen language models: gated knowledge adapter, LoRA/QLoRA, activation cache."""
