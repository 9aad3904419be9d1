"""A Hugging Face ``transformers`` Trainer callback: the Trainer's logs become runwatch metrics.

    from runwatch.integrations.transformers import RunwatchCallback
    trainer = Trainer(..., args=TrainingArguments(..., report_to="none"),
                      callbacks=[RunwatchCallback(project="glue")])

Every ``on_log`` (loss, learning rate, grad norm, eval metrics) is logged at the Trainer's global
step; the training arguments and the model's config are the run's config. A run the callback
started is finished when training ends; if training raises instead, the exception ends the
process (or the ``with`` block of a run you passed), and the run is marked failed with its
traceback. Pass ``run=`` to log into a run you manage yourself.
"""

from __future__ import annotations

from typing import Any

from transformers import TrainerCallback

import runwatch
from runwatch.sdk.run import Run

SKIPPED_LOG_KEYS = frozenset({"epoch_float"})


class RunwatchCallback(TrainerCallback):
    """Log a Trainer's metrics to runwatch (see the module docstring)."""

    def __init__(self, run: Run | None = None, **init_kwargs: Any) -> None:
        self.run = run
        self._owned = run is None
        self._init_kwargs = init_kwargs

    def on_train_begin(
        self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any
    ) -> None:
        if self.run is None:
            config: dict[str, Any] = {"training_args": args.to_sanitized_dict()}
            model_config = getattr(model, "config", None)
            if model_config is not None and hasattr(model_config, "to_dict"):
                config["model"] = model_config.to_dict()
            options = {"project": "huggingface", "name": args.run_name, "config": config}
            self.run = runwatch.init(**{**options, **self._init_kwargs})
        self.run.event("train.begin", max_steps=state.max_steps, epochs=args.num_train_epochs)

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        if self.run is None or not logs:
            return
        values = {
            k: float(v)
            for k, v in logs.items()
            if isinstance(v, int | float) and not isinstance(v, bool) and k not in SKIPPED_LOG_KEYS
        }
        if values:
            self.run.log(values, step=state.global_step)

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.run is not None:
            self.run.event("checkpoint", step=state.global_step, dir=args.output_dir)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.run is None:
            return
        self.run.event("train.end", global_step=state.global_step)
        if self._owned:
            self.run.finish()
