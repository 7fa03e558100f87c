"""Objects and their bytes: where the catalog (what exists) meets the object stores (the bytes).

``MediaService`` is only the assembly of the four parts, each in its own module: ``uploads``
(allocation, multipart), ``registration`` (checks on uploaded bytes before the catalog's rules),
``instances`` (copies onto other backends, client URLs) and ``deletion`` (deletion requests, the
worker, the collection of expired allocations). Which instance to read from is the storage
registry's ``Storage.readable``.
"""

from __future__ import annotations

from catalog.store import Catalog
from streaming.objects.deletion import Deletion
from streaming.objects.instances import Instances
from streaming.objects.registration import Registration
from streaming.objects.settings import MediaSettings as MediaSettings
from streaming.objects.uploads import Uploads
from streaming.storage.registry import Storage


class MediaService:
    def __init__(self, catalog: Catalog, storage: Storage, settings: MediaSettings) -> None:
        self.catalog = catalog
        self.storage = storage
        self.settings = settings
        self.uploads = Uploads(catalog, storage, settings)
        self.registration = Registration(catalog, storage, settings)
        self.instances = Instances(catalog, storage)
        self.deletion = Deletion(catalog, storage, settings)

    def start_gc(self, interval_s: float = 60) -> None:
        self.deletion.start(interval_s)

    async def stop_gc(self) -> None:
        await self.deletion.stop()
