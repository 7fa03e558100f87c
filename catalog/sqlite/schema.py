"""Versioned migrations for the SQLite catalog, applied in order at start (PRAGMA user_version)."""

from catalog.sqlite import page_json

MIGRATIONS: list[str] = [
    # 1: the initial catalog model, the one the VAST DB store shares (docs/VAST.md, "How the store uses VAST").
    """
    CREATE TABLE service (key TEXT PRIMARY KEY, value TEXT NOT NULL);

    CREATE TABLE profiles (
        id TEXT PRIMARY KEY, label TEXT, format TEXT NOT NULL, codec TEXT,
        created_ns INTEGER NOT NULL, doc TEXT NOT NULL
    );

    CREATE TABLE sources (
        id TEXT PRIMARY KEY, format TEXT NOT NULL, label TEXT,
        created_ns INTEGER NOT NULL, updated_ns INTEGER NOT NULL, doc TEXT NOT NULL
    );
    CREATE INDEX sources_by_created ON sources (created_ns, id);

    CREATE TABLE flows (
        id TEXT PRIMARY KEY, source_id TEXT NOT NULL, format TEXT NOT NULL, codec TEXT, label TEXT,
        container TEXT, profile_id TEXT, status TEXT, frame_width INTEGER, frame_height INTEGER,
        init_segments INTEGER NOT NULL DEFAULT 0, read_only INTEGER NOT NULL DEFAULT 0,
        created_ns INTEGER NOT NULL, metadata_updated_ns INTEGER NOT NULL, doc TEXT NOT NULL,
        -- per-flow segment statistics, updated in the same transaction as every segment write
        seg_count INTEGER NOT NULL DEFAULT 0,
        seg_lo_min INTEGER,            -- inclusive start of the first segment
        seg_hi_max INTEGER,            -- inclusive end of the last segment
        seg_end_max INTEGER,           -- raw end bound of the last segment (for its marker)
        seg_end_incl INTEGER,          -- 1 when the last segment's end is inclusive
        seg_maxdur INTEGER NOT NULL DEFAULT 0,  -- upper bound of (hi - lo) over segments; never shrinks
        segments_updated_ns INTEGER
    );
    CREATE INDEX flows_by_source ON flows (source_id);
    CREATE INDEX flows_by_created ON flows (created_ns, id);

    -- tags as rows for filtering; the documents keep the tag dicts for rendering
    CREATE TABLE tags (
        kind TEXT NOT NULL, entity_id TEXT NOT NULL, name TEXT NOT NULL, seq INTEGER NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (kind, entity_id, name, seq)
    ) WITHOUT ROWID;
    CREATE INDEX tags_by_value ON tags (kind, name, value);

    CREATE TABLE flow_collections (
        parent_id TEXT NOT NULL, position INTEGER NOT NULL, child_id TEXT NOT NULL, role TEXT,
        PRIMARY KEY (parent_id, position)
    ) WITHOUT ROWID;
    CREATE INDEX collections_by_child ON flow_collections (child_id);

    -- the hot table: keyed by (flow, inclusive start) so a timerange page is one index range scan
    CREATE TABLE segments (
        flow_id TEXT NOT NULL, ts_lo INTEGER NOT NULL, ts_hi INTEGER NOT NULL,
        timerange TEXT NOT NULL, object_id TEXT NOT NULL,
        ts_offset INTEGER, last_duration INTEGER, sample_offset INTEGER, sample_count INTEGER,
        -- copies of the object's immutable properties (fixed at its first registration), so a
        -- page needs no per-segment lookup into objects
        object_timerange TEXT, key_frame_count INTEGER, init_object_id TEXT,
        created_ns INTEGER NOT NULL,
        PRIMARY KEY (flow_id, ts_lo)
    ) WITHOUT ROWID;
    CREATE INDEX segments_by_object ON segments (object_id, flow_id);

    CREATE TABLE objects (
        id TEXT PRIMARY KEY, first_flow_id TEXT, timerange TEXT, key_frame_count INTEGER,
        init_object_id TEXT, is_init INTEGER NOT NULL DEFAULT 0, created_ns INTEGER NOT NULL
    );
    CREATE INDEX objects_by_init ON objects (init_object_id);

    -- uncontrolled instances registered with segments (controlled instances arrive with storage)
    CREATE TABLE object_urls (
        object_id TEXT NOT NULL, label TEXT NOT NULL, url TEXT NOT NULL, position INTEGER NOT NULL,
        PRIMARY KEY (object_id, label)
    ) WITHOUT ROWID;
    """,
    # 2: storage allocation and controlled instances (bytes on a storage backend, keyed by object id)
    """
    ALTER TABLE objects ADD COLUMN registered INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE objects ADD COLUMN allocated_flow_id TEXT;
    ALTER TABLE objects ADD COLUMN alloc_deadline_ns INTEGER;
    ALTER TABLE objects ADD COLUMN content_type TEXT;
    ALTER TABLE objects ADD COLUMN size INTEGER;
    CREATE INDEX objects_pending ON objects (alloc_deadline_ns) WHERE registered = 0;
    CREATE TABLE object_instances (
        object_id TEXT NOT NULL, storage_id TEXT NOT NULL, key TEXT NOT NULL, created_ns INTEGER NOT NULL,
        PRIMARY KEY (object_id, storage_id)
    ) WITHOUT ROWID
    """,
    # 3: segments ever added to each flow (never decreases): a stable live-playlist media sequence
    """
    ALTER TABLE flows ADD COLUMN seg_added_total INTEGER NOT NULL DEFAULT 0;
    UPDATE flows SET seg_added_total = seg_count
    """,
    # 4: each segment row carries its object's preferred controlled instance (kept in step with the
    # instances), so a playlist of a whole day reads one index range and joins nothing
    """
    ALTER TABLE segments ADD COLUMN home_storage_id TEXT;
    ALTER TABLE segments ADD COLUMN home_key TEXT;
    UPDATE segments SET (home_storage_id, home_key) = (
        SELECT storage_id, key FROM object_instances i WHERE i.object_id = segments.object_id
        ORDER BY created_ns LIMIT 1)
    """,
    # 5: the transactional outbox (events written with the change that causes them) and webhooks
    """
    CREATE TABLE events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, type TEXT NOT NULL, flow_id TEXT, source_id TEXT,
        body TEXT NOT NULL, created_ns INTEGER NOT NULL
    );
    CREATE TABLE webhooks (
        id TEXT PRIMARY KEY, url TEXT NOT NULL, doc TEXT NOT NULL, status TEXT NOT NULL, error TEXT,
        last_seq INTEGER NOT NULL, created_ns INTEGER NOT NULL
    );
    CREATE INDEX webhooks_by_url ON webhooks (url, id)
    """,
    # 6: flow deletion requests, worked through in bounded batches (resumed after a restart)
    """
    CREATE TABLE delete_requests (
        id TEXT PRIMARY KEY, flow_id TEXT NOT NULL, status TEXT NOT NULL, doc TEXT NOT NULL,
        created_ns INTEGER NOT NULL, updated_ns INTEGER NOT NULL
    );
    CREATE INDEX delete_requests_by_status ON delete_requests (status, created_ns)
    """,
    # 7: the SHA-256 of an object's uploaded bytes, recorded at registration (internal: never in the API)
    """
    ALTER TABLE objects ADD COLUMN sha256 TEXT
    """,
    # 8: each segment row's page fragment, NULL unless the row is simple (catalog/sqlite/page_json.py), so
    # a timerange page reads one column of an index range and renders nothing. (An index holding just
    # what a page reads made a random page ~17 us cheaper but halved bulk registration into a big
    # catalog: docs/PERFORMANCE.md.)
    "ALTER TABLE segments ADD COLUMN page_json BLOB;\n" + page_json.FILL,
    # 9: what a VOD playlist need not check row by row (catalog/sqlite/playlist_run.py): segments
    # ever added that are not whole objects at flow time (never decreases), and the least
    # (ts_hi - ts_lo) ever added (never grows; with seg_maxdur, "every segment is as long")
    """
    ALTER TABLE flows ADD COLUMN seg_cut_added INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE flows ADD COLUMN seg_mindur INTEGER;
    UPDATE flows SET
        seg_cut_added = (SELECT COUNT(*) FROM segments s WHERE s.flow_id = flows.id AND NOT (
            s.sample_count IS NULL AND IFNULL(s.sample_offset, 0) = 0 AND IFNULL(s.ts_offset, 0) = 0
            AND (s.object_timerange IS NULL OR IFNULL(s.object_timerange = s.timerange, 0)))),
        seg_mindur = (SELECT MIN(s.ts_hi - s.ts_lo) FROM segments s WHERE s.flow_id = flows.id)
    """,
]
