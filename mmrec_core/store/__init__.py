"""A store on disk: versioned, written atomically (a crash leaves the previous version live), validated on open,
grown in place by add and remove. Reading (_read), writing a version (_write), growing (_grow), file primitives.
"""

from __future__ import annotations

from mmrec_core.store._files import (check_writable, delete_store, disk_bytes, is_read_only, owner_of, prune_uploaded, set_owner,
                                     set_read_only, store_media)
from mmrec_core.store._grow import add_items, remove_items
from mmrec_core.store._read import Store, list_stores, open_store, sweep_stale_uploads
from mmrec_core.store._write import Change, Rows, write_store

__all__ = ["Change", "Rows", "Store", "add_items", "check_writable", "delete_store", "disk_bytes", "is_read_only", "list_stores",
           "open_store", "owner_of", "prune_uploaded", "remove_items", "set_owner", "set_read_only", "store_media", "sweep_stale_uploads",
           "write_store"]
