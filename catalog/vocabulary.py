"""The TAMS wire vocabulary, written once: format URNs, statuses, event types, id, MIME and time
patterns, and the msgspec value types built on them.

Each closed set is a ``Literal`` (what the request models validate against) with its tuple of
values derived from it (what query parameters and code compare against), so the two cannot drift.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal, get_args

from msgspec import Meta

# -- content formats (content-format.json) ---------------------------------------------------------
VideoFormat = Literal["urn:x-nmos:format:video"]
ImageFormat = Literal["urn:x-tam:format:image"]
AudioFormat = Literal["urn:x-nmos:format:audio"]
DataFormat = Literal["urn:x-nmos:format:data"]
MultiFormat = Literal["urn:x-nmos:format:multi"]
VIDEO: str = get_args(VideoFormat)[0]
IMAGE: str = get_args(ImageFormat)[0]
AUDIO: str = get_args(AudioFormat)[0]
DATA: str = get_args(DataFormat)[0]
MULTI: str = get_args(MultiFormat)[0]
FORMATS = (VIDEO, IMAGE, AUDIO, DATA, MULTI)  # the schema's order

# -- statuses ----------------------------------------------------------------------------------------
FlowStatus = Literal["awaiting_content", "ingesting", "replication_in_progress", "closed_complete"]
FLOW_STATUSES: tuple[str, ...] = get_args(FlowStatus)
WebhookStatus = Literal["created", "started", "disabled", "error"]
WebhookRequestedStatus = Literal["created", "disabled"]  # what a client may PUT
WEBHOOK_ACTIVE = ("created", "started")  # statuses in which events are sent

# -- event types (the webhook and event-stream schemas) ----------------------------------------------
EventType = Literal[
    "flows/created",
    "flows/updated",
    "flows/deleted",
    "flows/segments_added",
    "flows/segments_deleted",
    "sources/created",
    "sources/updated",
    "sources/deleted",
]
EVENT_TYPES: tuple[str, ...] = get_args(EventType)
FLOW_EVENTS = tuple(e for e in EVENT_TYPES if e.startswith("flows/"))
SEGMENTS_ADDED = "flows/segments_added"

# -- patterns -------------------------------------------------------------------------------------------
# The *_PATTERN strings are the schemas' (ECMA) language; what validates input is ``strict(...)`` of
# them, because in Python ``$`` also matches just before a final newline ("0:0\n" would pass).


def strict(pattern: str) -> str:
    """``pattern`` with every end anchor ``$`` (at the end or before ``|``) made ``\\Z``."""
    return re.sub(r"\$(?=\||\Z)", r"\\Z", pattern)


INT_MAX = 2**63 - 1  # SQLite INTEGER and VAST DB int64: larger JSON integers are refused
UUID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[1-5][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"  # uuid.json
UUID_RE = re.compile(strict(UUID_PATTERN))
MIME_PATTERN = r"^[^\s/]+/[^\s/]+$"  # type/subtype, no parameters (looser than mime-type.json)
MIME_RE = re.compile(strict(MIME_PATTERN))
_STAMP = r"-?(?:0|[1-9][0-9]*):(?:0|[1-9][0-9]{0,8})"
# timestamp.json and timerange.json, with groups for parsing (the languages are the schemas')
TIMESTAMP_PATTERN = r"^(-)?(0|[1-9][0-9]*):(0|[1-9][0-9]{0,8})$"
TIMERANGE_PATTERN = (
    r"^(?P<open>[\[(])?"
    rf"(?P<start>{_STAMP})?"
    rf"(?P<sep>_(?P<end>{_STAMP})?)?"
    r"(?P<close>[\])])?$"
)
TIMESTAMP_RE = re.compile(strict(TIMESTAMP_PATTERN))
TIMERANGE_RE = re.compile(strict(TIMERANGE_PATTERN))

# -- msgspec value types ----------------------------------------------------------------------------
Uuid = Annotated[str, Meta(pattern=strict(UUID_PATTERN))]
Mime = Annotated[str, Meta(pattern=strict(MIME_PATTERN))]
TimestampText = Annotated[str, Meta(pattern=strict(TIMESTAMP_PATTERN))]
TimeRangeText = Annotated[str, Meta(pattern=strict(TIMERANGE_PATTERN))]
Positive = Annotated[int, Meta(gt=0, le=INT_MAX)]
NonNegative = Annotated[int, Meta(ge=0, le=INT_MAX)]
TagValue = str | list[str]
