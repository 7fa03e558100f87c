"""Request bodies as msgspec models, written from the TAMS 8.2 schemas: flows (flow-common,
flow-technical and each format's essence), profiles, segments, storage requests, instances,
multipart uploads, webhooks and the service.

``essence_parameters`` and the other closed objects refuse unknown keys, as the schemas do;
unknown top-level keys are dropped. The checks that a model cannot say (which format's model
applies, frame_rate against vfr) are in ``catalog.models``, the entry point that uses these.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from msgspec import UNSET, Meta, Struct, UnsetType

from catalog.vocabulary import (
    AudioFormat,
    DataFormat,
    EventType,
    FlowStatus,
    ImageFormat,
    Mime,
    MultiFormat,
    NonNegative,
    Positive,
    TagValue,
    TimeRangeText,
    TimestampText,
    Uuid,
    VideoFormat,
    WebhookRequestedStatus,
    strict,
)


class Rational(Struct, omit_defaults=True):
    numerator: Positive
    denominator: Positive | UnsetType = UNSET


class Ratio(Struct):
    numerator: Positive
    denominator: Positive


class AudioTrack(Struct, omit_defaults=True):
    channel_numbers: list[int] | UnsetType = UNSET
    channel_range: Annotated[str, Meta(pattern=strict(r"^[0-9]+_[0-9]+$"))] | UnsetType = UNSET


class Mp2tsContainer(Struct, omit_defaults=True):
    pid: int | UnsetType = UNSET


class MxfContainer(Struct, omit_defaults=True):
    package_uid: (
        Annotated[
            str,
            Meta(
                pattern=strict(
                    r"^urn:smpte:umid:[0-9a-fA-F]{8}(.[0-9a-fA-F]{8}){7}$|"
                    r"^urn:uuid:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
                )
            ),
        ]
        | UnsetType
    ) = UNSET
    track_id: int | UnsetType = UNSET


class IsobmffContainer(Struct, omit_defaults=True):
    track_id: int | UnsetType = UNSET


class ContainerMapping(Struct, omit_defaults=True):
    track_index: NonNegative | UnsetType = UNSET
    format_track_index: NonNegative | UnsetType = UNSET
    audio_track: AudioTrack | UnsetType = UNSET
    mp2ts_container: Mp2tsContainer | UnsetType = UNSET
    mxf_container: MxfContainer | UnsetType = UNSET
    isobmff_container: IsobmffContainer | UnsetType = UNSET


class CollectionItem(Struct, omit_defaults=True):
    id: Uuid
    role: str | UnsetType = UNSET
    container_mapping: ContainerMapping | UnsetType = UNSET


# -- essence parameters (closed objects) ---------------------------------------------------------------
class UncVideo(Struct):
    unc_type: Literal[
        "planar",
        "YUYV",
        "UYVY",
        "AYUV",
        "v210",
        "v216",
        "RGB",
        "RGBx",
        "xRGB",
        "BGRx",
        "xBGR",
        "RGBA",
        "ARGB",
        "BGRA",
        "ABGR",
        "alpha",
    ]


class AvcParameters(Struct):
    profile: int
    level: int
    flags: int


class VideoEssence(Struct, omit_defaults=True, forbid_unknown_fields=True):
    frame_width: Positive
    frame_height: Positive
    frame_rate: Rational | UnsetType = UNSET
    vfr: bool | UnsetType = UNSET
    bit_depth: Positive | UnsetType = UNSET
    interlace_mode: Literal["progressive", "interlaced_tff", "interlaced_bff", "interlaced_psf"] | UnsetType = UNSET
    colorspace: Literal["BT601", "BT709", "BT2020", "BT2100"] | UnsetType = UNSET
    transfer_characteristic: Literal["SDR", "HLG", "PQ"] | UnsetType = UNSET
    aspect_ratio: Ratio | UnsetType = UNSET
    pixel_aspect_ratio: Ratio | UnsetType = UNSET
    component_type: Literal["YCbCr", "RGB"] | UnsetType = UNSET
    horiz_chroma_subs: Positive | UnsetType = UNSET
    vert_chroma_subs: Positive | UnsetType = UNSET
    unc_parameters: UncVideo | UnsetType = UNSET
    avc_parameters: AvcParameters | UnsetType = UNSET
    init_segments: bool | UnsetType = UNSET


class CodecParameters(Struct, omit_defaults=True):
    coded_frame_size: int | UnsetType = UNSET
    mp4_oti: int | UnsetType = UNSET


class UncAudio(Struct):
    unc_type: Literal["interleaved", "planar", "pairs"]


class AudioEssence(Struct, omit_defaults=True, forbid_unknown_fields=True):
    sample_rate: Positive
    channels: Positive
    bit_depth: Positive | UnsetType = UNSET
    codec_parameters: CodecParameters | UnsetType = UNSET
    unc_parameters: UncAudio | UnsetType = UNSET
    init_segments: bool | UnsetType = UNSET


class ImageEssence(Struct, omit_defaults=True, forbid_unknown_fields=True):
    frame_width: Positive
    frame_height: Positive
    aspect_ratio: Ratio | UnsetType = UNSET


class DataEssence(Struct, omit_defaults=True, forbid_unknown_fields=True):
    data_type: str | UnsetType = UNSET
    init_segments: bool | UnsetType = UNSET


class MultiEssence(Struct, omit_defaults=True, forbid_unknown_fields=True):
    init_segments: bool | UnsetType = UNSET


# -- flows -----------------------------------------------------------------------------------------------
class FlowCommon(Struct, omit_defaults=True, kw_only=True):
    id: Uuid
    source_id: Uuid
    label: str | UnsetType = UNSET
    description: str | UnsetType = UNSET
    created_by: str | UnsetType = UNSET
    updated_by: str | UnsetType = UNSET
    tags: dict[str, TagValue] | UnsetType = UNSET
    metadata_version: str | UnsetType = UNSET
    generation: NonNegative | UnsetType = UNSET
    status: FlowStatus | UnsetType = UNSET
    read_only: bool | UnsetType = UNSET
    max_bit_rate: NonNegative | UnsetType = UNSET
    flow_collection: list[CollectionItem] | UnsetType = UNSET
    profile_id: Literal[""] | UnsetType = UNSET  # "" unlinks a flow from its profile


class Technical(Struct, omit_defaults=True, kw_only=True):
    codec: Mime | UnsetType = UNSET
    container: Mime | UnsetType = UNSET
    avg_bit_rate: NonNegative | UnsetType = UNSET
    segment_duration: Rational | UnsetType = UNSET
    container_mapping: ContainerMapping | UnsetType = UNSET


class FlowMetadataVideo(Technical, kw_only=True):
    format: VideoFormat
    codec: Mime
    essence_parameters: VideoEssence


class FlowMetadataAudio(Technical, kw_only=True):
    format: AudioFormat
    codec: Mime
    essence_parameters: AudioEssence


class FlowMetadataImage(Technical, kw_only=True):
    format: ImageFormat
    codec: Mime
    essence_parameters: ImageEssence


class FlowMetadataData(Technical, kw_only=True):
    format: DataFormat
    codec: Mime
    essence_parameters: DataEssence


class FlowMetadataMulti(Technical, kw_only=True):
    format: MultiFormat
    essence_parameters: MultiEssence | UnsetType = UNSET


class ProfileFlow(FlowCommon, kw_only=True):
    """A flow created from a Profile: flow-common fields plus ``profile_id``, no technical fields."""

    profile_id: Uuid  # type: ignore[assignment]


# -- profiles ---------------------------------------------------------------------------------------
class Profile(Struct, omit_defaults=True):
    id: Uuid
    flow_metadata: dict[str, Any]  # one of the single-essence flow models, by its format
    label: str | UnsetType = UNSET
    description: str | UnsetType = UNSET
    created_by: str | UnsetType = UNSET
    tags: dict[str, TagValue] | UnsetType = UNSET


# -- segments ---------------------------------------------------------------------------------------
class GetUrl(Struct, forbid_unknown_fields=False):
    url: str
    label: str


class SegmentPost(Struct, omit_defaults=True):
    object_id: str
    timerange: TimeRangeText
    init_object_id: str | UnsetType = UNSET
    ts_offset: TimestampText | UnsetType = UNSET
    object_timerange: TimeRangeText | UnsetType = UNSET
    last_duration: TimestampText | UnsetType = UNSET
    sample_offset: int | UnsetType = UNSET
    sample_count: NonNegative | UnsetType = UNSET
    get_urls: list[GetUrl] | UnsetType = UNSET
    key_frame_count: NonNegative | UnsetType = UNSET


# -- the service ------------------------------------------------------------------------------------
class ServicePost(Struct, omit_defaults=True):
    name: str | UnsetType = UNSET
    description: str | UnsetType = UNSET


# -- storage, instances and multipart uploads -------------------------------------------------------
class FlowStoragePost(Struct, omit_defaults=True, rename={"content_type_hyphen": "content-type"}):
    limit: Positive | UnsetType = UNSET
    object_ids: list[str] | UnsetType = UNSET
    storage_id: Uuid | UnsetType = UNSET
    content_type: Mime | UnsetType = UNSET
    content_type_hyphen: Mime | UnsetType = UNSET  # the spec's prose spells it "content-type"
    presigned: bool | UnsetType = UNSET


class ControlledInstance(Struct, forbid_unknown_fields=True):
    storage_id: Uuid


class UncontrolledInstance(Struct, forbid_unknown_fields=True):
    url: str
    label: str


S3Part = Annotated[int, Meta(ge=1, le=10_000)]  # S3 numbers parts 1..10,000: a count or a number


class MultipartStart(Struct, forbid_unknown_fields=True):
    parts: S3Part


class CompletedPart(Struct, forbid_unknown_fields=True):
    part_number: S3Part
    etag: str


class MultipartComplete(Struct, forbid_unknown_fields=True):
    parts: Annotated[list[CompletedPart], Meta(min_length=1)]


# -- webhooks ---------------------------------------------------------------------------------------
class Webhook(Struct, omit_defaults=True, forbid_unknown_fields=False):
    url: Annotated[str, Meta(pattern=r"^https?://")]
    events: list[EventType]
    api_key_name: str | UnsetType = UNSET
    api_key_value: str | UnsetType = UNSET
    flow_ids: list[Uuid] | UnsetType = UNSET
    source_ids: list[Uuid] | UnsetType = UNSET
    flow_collected_by_ids: list[Uuid] | UnsetType = UNSET
    source_collected_by_ids: list[Uuid] | UnsetType = UNSET
    accept_get_urls: list[str] | UnsetType = UNSET
    accept_storage_ids: list[Uuid] | UnsetType = UNSET
    presigned: bool | UnsetType = UNSET
    verbose_storage: bool | UnsetType = UNSET
    include_object_timerange: bool | UnsetType = UNSET
    tags: dict[str, TagValue] | UnsetType = UNSET
    status: WebhookRequestedStatus | UnsetType = UNSET
    id: Uuid | UnsetType = UNSET
