"""Hooks for training frameworks (import the one you use: ``runwatch.integrations.transformers``)."""
