"""Request bodies in: each ``validate_*`` checks one body against its model (``catalog.bodies``,
written from the TAMS 8.2 JSON schemas) with msgspec, plus what a model cannot say.

Each ``validate_*`` takes already-decoded JSON and returns the normalised document as plain
Python data, or raises ``ValidationError`` naming the offending field. Absent optional fields
stay absent; unknown top-level keys are dropped; closed objects (``essence_parameters`` and the
like) refuse unknown keys, as the schemas do.
"""

from __future__ import annotations

from typing import Any

import msgspec

from catalog import rules
from catalog.bodies import (
    CollectionItem,
    ControlledInstance,
    FlowCommon,
    FlowMetadataAudio,
    FlowMetadataData,
    FlowMetadataImage,
    FlowMetadataMulti,
    FlowMetadataVideo,
    FlowStoragePost,
    MultipartComplete,
    MultipartStart,
    Profile,
    ProfileFlow,
    SegmentPost,
    ServicePost,
    UncontrolledInstance,
    Webhook,
)
from catalog.rules import TECHNICAL_FIELDS
from catalog.vocabulary import AUDIO, DATA, IMAGE, MULTI, VIDEO, NonNegative, TagValue


class ValidationError(ValueError):
    """A request body that does not match its schema; the message names the field."""


def _convert(data: Any, model: Any) -> Any:
    try:
        return msgspec.convert(data, model, strict=True)
    except msgspec.ValidationError as exc:
        raise ValidationError(_describe(str(exc))) from None


def _describe(message: str) -> str:
    # msgspec says "Expected `int`, got `str` - at `$.a.b`"; lead with the path, as clients scan for it
    if " - at `" in message:
        text, path = message.rsplit(" - at `", 1)
        return f"{path.rstrip('`')}: {text}"
    return message


def _plain(struct: Any) -> Any:
    return msgspec.to_builtins(struct)


# -- flows ----------------------------------------------------------------------------------------------
_PROFILE_FORMATS: dict[str, type] = {  # a profile describes one essence: every format but multi
    VIDEO: FlowMetadataVideo,
    AUDIO: FlowMetadataAudio,
    IMAGE: FlowMetadataImage,
    DATA: FlowMetadataData,
}
_FLOW_FORMATS: dict[str, type] = {**_PROFILE_FORMATS, MULTI: FlowMetadataMulti}
SERVER_MANAGED = rules.SERVER_FIELDS


def validate_flow_put(data: Any) -> dict[str, Any]:
    """flow-put.json: flow-common plus one of the Profile branch or a format's technical fields."""
    if not isinstance(data, dict):
        raise ValidationError("$: a flow must be a JSON object")
    body = {k: v for k, v in data.items() if k not in SERVER_MANAGED}
    if body.get("profile_id"):
        present = [k for k in TECHNICAL_FIELDS if k in body]
        if present:
            raise ValidationError(
                f"$: a flow with profile_id takes its technical metadata from the profile; remove {', '.join(present)}"
            )
        return _plain(_convert(body, ProfileFlow))
    fmt = body.get("format")
    model = _FLOW_FORMATS.get(fmt) if isinstance(fmt, str) else None
    if model is None:
        raise ValidationError(f"$.format: expected one of {', '.join(_FLOW_FORMATS)}, got {fmt!r}")
    # flow-common and the format's technical fields are two schemas over one object (allOf)
    flow = {**_plain(_convert(body, FlowCommon)), **_plain(_convert(body, model))}
    if flow.get("profile_id") == "":
        del flow["profile_id"]
    _check_frame_rate(flow)
    return flow


def _check_frame_rate(flow: dict[str, Any]) -> None:
    essence = flow.get("essence_parameters") or {}
    if flow.get("format") != VIDEO:
        return
    if essence.get("vfr") and "frame_rate" in essence:
        raise ValidationError("$.essence_parameters.frame_rate: must be absent when vfr is true")
    if not essence.get("vfr") and "frame_rate" not in essence:
        raise ValidationError("$.essence_parameters.frame_rate: required unless vfr is true")


# -- profiles -------------------------------------------------------------------------------------------
def validate_profile(data: Any) -> dict[str, Any]:
    """profile.json; ``flow_metadata`` is one of the single-essence technical schemas (not multi)."""
    if isinstance(data, dict):
        data = {k: v for k, v in data.items() if k != "created"}
    profile = _plain(_convert(data, Profile))
    meta = profile["flow_metadata"]
    fmt = meta.get("format")
    model = _PROFILE_FORMATS.get(fmt) if isinstance(fmt, str) else None
    if model is None:
        raise ValidationError(f"$.flow_metadata.format: expected one of {', '.join(_PROFILE_FORMATS)}, got {fmt!r}")
    try:
        profile["flow_metadata"] = _plain(_convert(meta, model))
    except ValidationError as exc:
        raise ValidationError(str(exc).replace("$", "$.flow_metadata", 1)) from None
    _check_frame_rate(profile["flow_metadata"])
    return profile


# -- segments -----------------------------------------------------------------------------------------
def validate_segment_post(data: Any) -> dict[str, Any]:
    return _plain(_convert(data, SegmentPost))


# -- service and small values ---------------------------------------------------------------------
def validate_service_post(data: Any) -> dict[str, str]:
    return _plain(_convert(data, ServicePost))


def validate_tag_value(data: Any) -> str | list[str]:
    return _convert(data, TagValue)


def validate_flow_collection(data: Any) -> list[dict[str, Any]]:
    return _plain(_convert(data, list[CollectionItem]))


def validate_string(data: Any) -> str:
    return _convert(data, str)


def validate_bool(data: Any) -> bool:
    return _convert(data, bool)


def validate_bit_rate(data: Any) -> int:
    return _convert(data, NonNegative)


# -- storage and instances ---------------------------------------------------------------------------
def validate_storage_post(data: Any) -> dict[str, Any]:
    """flow-storage-post.json; ``content-type`` is accepted as a spelling of ``content_type``."""
    body = _plain(_convert({} if data is None else data, FlowStoragePost))
    hyphen = body.pop("content-type", None)
    if hyphen is not None:
        body.setdefault("content_type", hyphen)
    if "limit" in body and "object_ids" in body:
        raise ValidationError("$: give limit or object_ids, not both")
    return body


def validate_instance_post(data: Any) -> dict[str, Any]:
    """objects-instances-post.json: {storage_id} (a controlled copy) or {url, label} (a client URL)."""
    if isinstance(data, dict) and "storage_id" in data:
        return _plain(_convert(data, ControlledInstance))
    return _plain(_convert(data, UncontrolledInstance))


def validate_multipart_start(data: Any) -> int:
    return _convert(data, MultipartStart).parts


def validate_multipart_complete(data: Any) -> list[tuple[int, str]]:
    return [(p.part_number, p.etag) for p in _convert(data, MultipartComplete).parts]


# -- webhooks -------------------------------------------------------------------------------------------
def validate_webhook(data: Any, put: bool = False) -> dict[str, Any]:
    """webhook-post.json / webhook-put.json (PUT needs id and status)."""
    doc = _plain(_convert(data, Webhook))
    if put and ("id" not in doc or "status" not in doc):
        raise ValidationError("$: a webhook PUT needs its id and a status (created or disabled)")
    return doc
