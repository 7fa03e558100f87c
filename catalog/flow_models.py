"""msgspec models of Flow documents (flow-common, flow-technical and each format's essence).

Written from the TAMS 8.2 schemas: ``essence_parameters`` objects are closed (unknown keys are
errors), top-level unknown keys are dropped.
"""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import UNSET, Meta, Struct, UnsetType

from catalog.rules import TECHNICAL_FIELDS as TECHNICAL_FIELDS

Uuid = Annotated[str, Meta(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[1-5][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")]
Mime = Annotated[str, Meta(pattern=r"^[^\s/]+/[^\s/]+$")]
Positive = Annotated[int, Meta(gt=0)]
NonNegative = Annotated[int, Meta(ge=0)]
TagValue = str | list[str]



class Rational(Struct, omit_defaults=True):
    numerator: Positive
    denominator: Positive | UnsetType = UNSET


class Ratio(Struct):
    numerator: Positive
    denominator: Positive


class AudioTrack(Struct, omit_defaults=True):
    channel_numbers: list[int] | UnsetType = UNSET
    channel_range: Annotated[str, Meta(pattern=r"^[0-9]+_[0-9]+$")] | UnsetType = UNSET


class Mp2tsContainer(Struct, omit_defaults=True):
    pid: int | UnsetType = UNSET


class MxfContainer(Struct, omit_defaults=True):
    package_uid: Annotated[str, Meta(pattern=(
        r"^urn:smpte:umid:[0-9a-fA-F]{8}(.[0-9a-fA-F]{8}){7}$|"
        r"^urn:uuid:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    ))] | UnsetType = UNSET
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
    unc_type: Literal["planar", "YUYV", "UYVY", "AYUV", "v210", "v216", "RGB", "RGBx", "xRGB", "BGRx",
                      "xBGR", "RGBA", "ARGB", "BGRA", "ABGR", "alpha"]


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
    status: Literal["awaiting_content", "ingesting", "replication_in_progress", "closed_complete"] | UnsetType = UNSET
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
    format: Literal["urn:x-nmos:format:video"]
    codec: Mime
    essence_parameters: VideoEssence


class FlowMetadataAudio(Technical, kw_only=True):
    format: Literal["urn:x-nmos:format:audio"]
    codec: Mime
    essence_parameters: AudioEssence


class FlowMetadataImage(Technical, kw_only=True):
    format: Literal["urn:x-tam:format:image"]
    codec: Mime
    essence_parameters: ImageEssence


class FlowMetadataData(Technical, kw_only=True):
    format: Literal["urn:x-nmos:format:data"]
    codec: Mime
    essence_parameters: DataEssence


class FlowMetadataMulti(Technical, kw_only=True):
    format: Literal["urn:x-nmos:format:multi"]
    essence_parameters: MultiEssence | UnsetType = UNSET


class ProfileFlow(FlowCommon, kw_only=True):
    """A flow created from a Profile: flow-common fields plus ``profile_id``, no technical fields."""

    profile_id: Uuid  # type: ignore[assignment]
