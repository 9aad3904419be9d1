"""runwatch: a self-hosted live telemetry hub for long-running compute runs.

>>> import runwatch
>>> with runwatch.init(project="mnist", config={"lr": 3e-4}) as run:  # doctest: +SKIP
...     run.log({"loss": 0.5}, step=0)
"""

__version__ = "0.1.0"

from runwatch.notebook import show
from runwatch.sdk import Run, init

__all__ = ["Run", "__version__", "init", "show"]
