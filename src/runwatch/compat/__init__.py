"""Drop-in APIs of other trackers, backed by runwatch (``import runwatch.compat.wandb as wandb``)."""
