"""``wandb.watch``: a torch module's parameters and gradients as histograms over steps.

As W&B does, every ``log_freq``-th forward pass logs each parameter's values under
``parameters/<name>``, and every ``log_freq``-th gradient of a parameter logs it under
``gradients/<name>``, at the row being built. Only a copy of the tensor is taken on the training
thread (binning happens on the SDK's thread); torch is never imported here, the hooks use the
modules handed in.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from runwatch.compat.wandb_types import warn_once

LOG_KINDS = ("gradients", "parameters", "all", None)

Record = Callable[[str, Any], None]  # (histogram key, CPU tensor copy)


class Watch:
    """The hooks placed on one module; :meth:`remove` takes them off."""

    def __init__(self, module: Any, prefix: str, log: str | None, log_freq: int, record: Record):
        self.module = module
        self._handles: list[Any] = []
        if log in ("parameters", "all"):
            self._handles.append(
                module.register_forward_hook(self._forward(prefix, log_freq, record))
            )
        if log in ("gradients", "all"):
            for name, param in module.named_parameters():
                if param.requires_grad:
                    hook = _gradient(f"gradients/{prefix}{name}", log_freq, record)
                    self._handles.append(param.register_hook(hook))

    def _forward(self, prefix: str, log_freq: int, record: Record) -> Callable[..., None]:
        calls = 0

        def hook(module: Any, inputs: Any, output: Any) -> None:
            nonlocal calls
            calls += 1
            if calls % log_freq == 0:
                for name, param in module.named_parameters():
                    record(f"parameters/{prefix}{name}", _copy(param))

        return hook

    def remove(self) -> None:
        """Take this watch's hooks off the module."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()


def _gradient(key: str, log_freq: int, record: Record) -> Callable[[Any], None]:
    calls = 0

    def hook(grad: Any) -> None:
        nonlocal calls
        calls += 1
        if calls % log_freq == 0:
            record(key, _copy(grad))

    return hook


def _copy(tensor: Any) -> Any:
    """A CPU copy: the tensor itself changes with the next optimiser step."""
    return tensor.detach().to("cpu", copy=True)


def watch_modules(
    models: Any, log: str | None, log_freq: int, record: Record, watched: list[Watch]
) -> list[Watch]:
    """New :class:`Watch` es for ``models`` (one module or a sequence). As in W&B, the first
    module watched in a run has plain keys and the n-th after it ``graph_<n>`` before the
    parameter's name, so two models' layers of one name stay apart. ``watched`` (the run's
    current watches) makes watching a module twice a no-op."""
    if log not in LOG_KINDS:
        warn_once(f"wandb.watch: log={log!r} is not one of {LOG_KINDS}; nothing is watched")
        return []
    if not isinstance(log_freq, int) or log_freq < 1:
        warn_once(f"wandb.watch: log_freq={log_freq!r} must be a positive int; 1000 is used")
        log_freq = 1000
    modules = list(models) if isinstance(models, list | tuple) else [models]
    for module in modules:
        if not hasattr(module, "named_parameters") or not hasattr(module, "register_forward_hook"):
            warn_once(f"wandb.watch: {type(module).__name__} is not a torch module; not watched")
            return []
    seen = {id(w.module) for w in watched}
    fresh = [m for m in modules if id(m) not in seen]
    return [
        Watch(module, f"graph_{i}" if i else "", log, log_freq, record)
        for i, module in enumerate(fresh, start=len(watched))
    ]
