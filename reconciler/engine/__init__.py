"""Orchestration: gather inputs through the adapters, decide with the core, act once."""
