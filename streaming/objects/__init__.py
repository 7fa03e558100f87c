"""Objects and their bytes: ``uploads`` (allocation, multipart), ``registration`` (checks on the
bytes before the catalog's rules), ``instances`` (copies, client URLs), ``deletion`` (requests, the
worker, expired allocations), ``reconcile`` (catalog against stores after a restore); ``media``
assembles the first four as ``MediaService``."""
