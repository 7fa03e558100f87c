"""What the object services are configured with (one value shared by uploads, registration,
instances and deletion)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MediaSettings:
    presign_expiry_s: int = 3600  # lifetime of presigned GET and PUT URLs
    object_timeout_s: int = 600  # unregistered allocations are removed after this (spec minimum 300)
    gc_grace_s: int = 60
    allocation_limit: int = 100  # default and largest number of objects per storage request
    check_uploads: bool = True  # HEAD the bytes of an allocated object before its first registration
    require_known_objects: bool = True  # an object must be allocated, already known, or come with get_urls
    probe_on_register: bool = False  # probe first registrations with PyAV: fill key_frame_count, check duration
    probe_max_bytes: int = 256 * 1024 * 1024
    sync_delete_limit: int = 10_000  # segment deletes larger than this run in the background
