"""Terminal views: ``runwatch runs`` (a table of runs) and ``runwatch tail RUN`` (a live view)."""
