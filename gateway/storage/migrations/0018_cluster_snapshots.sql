-- 类案 over the rolling windows (gateway/cases/cluster_snapshots.py): each area's clusters of the last 7, 30, 90 or
-- 365 days, computed in the background and read by the console in milliseconds instead of a second's scan of a
-- year of cases. One row per (area, place kind, cell size, grouping, window); `items` is the ranked list with
-- at least two cases (the longest list an API call can ask for), so any min_count and limit are cut from it.
CREATE TABLE cluster_snapshots (
    scope       text NOT NULL,              -- the area's region path ('/' for the whole deployment)
    place       text NOT NULL CHECK (place IN ('cell', 'grid', 'building')),
    radius_m    double precision NOT NULL,  -- the cell size (0 for grids and buildings)
    by_group    boolean NOT NULL,
    days        integer NOT NULL CHECK (days > 0),
    since       timestamptz NOT NULL,
    until       timestamptz NOT NULL,       -- = when it was computed: the window ends then
    items       jsonb NOT NULL,
    took_ms     double precision NOT NULL,  -- what computing it cost, for the refresh job's metric
    asked_at    timestamptz NOT NULL,       -- last read: a window nobody looks at is not kept fresh
    PRIMARY KEY (scope, place, radius_m, by_group, days)
);
