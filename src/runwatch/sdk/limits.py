"""What one batch the SDK builds may hold: its own copies of the server's default limits
(``runwatch.store.prepare.Limits``, ``Settings.max_body_bytes``), so the SDK never builds a
batch the server refuses. A test checks that each is at most the server's default."""

from __future__ import annotations

MAX_BODY_BYTES = 16 * 2**20  # the server's body cap
MAX_BATCH_BYTES = 12 * 2**20  # the estimated size a batch is cut at: room for the estimate's error
MAX_BATCH_KEYS = 10_000
MAX_BATCH_VALUES = 2_000_000
MAX_BATCH_EVENTS = 10_000
MAX_EVENT_PAYLOAD_BYTES = 65_536
MAX_SNAPSHOT_BYTES = 1_048_576
MAX_CONFIG_BYTES = 65_536  # a run's config, and one change to it
MAX_BATCH_MEDIA = 1_000  # media records, and histograms, per batch
MAX_TABLE_ROWS = 10_000
MAX_POINT_SET = 100_000
MAX_KEY_LENGTH = 256  # a metric key, or an event's entity when a string
MAX_EVENT_ENTITIES = 64  # entities one event names (protocol.MAX_EVENT_ENTITIES)
MAX_KIND_LENGTH = 128  # an event's kind
MAX_NAME_LENGTH = 256  # a snapshot's key, a table's or a point set's name
MAX_TEXT_LENGTH = 4_096  # characters of one text value passed to log()
MAX_BATCH_TEXTS = 100_000  # text values per batch
MAX_TIMESTAMP = 1e11  # wall times are unix seconds (protocol.MAX_TIMESTAMP)
MAX_INT64 = 2**63 - 1  # a step, an integer entity
