"""Watch rules: server-side conditions on runs (diverging, stalled, plateaued, finished) and
the actions they take (feed events, webhooks, commands, cancel)."""
