-- 治理专项: a root-cause case opened from a 类案 cluster (gateway/cases/root_causes.py). It is a ticket of its
-- own (source 'rootcause', its own SLA limits and department); the cluster's cases point at it by
-- root_cause_id and stay linked after it closes; while it is open, a new case of the same category at the same
-- place (the cluster's definition, kept in root_causes) attaches to it when it opens.
ALTER TABLE tickets DROP CONSTRAINT tickets_source_check;
ALTER TABLE tickets ADD CONSTRAINT tickets_source_check CHECK (source IN ('alert', 'report', 'rootcause'));
ALTER TABLE tickets ADD COLUMN root_cause_id bigint REFERENCES tickets (id);
CREATE INDEX tickets_root_cause ON tickets (root_cause_id) WHERE root_cause_id IS NOT NULL;

CREATE TABLE root_causes (
    ticket_id     bigint PRIMARY KEY REFERENCES tickets (id),
    category      text NOT NULL,     -- a category code, or a group (its first part) when by_group
    by_group      boolean NOT NULL,
    place         text NOT NULL CHECK (place IN ('cell', 'grid', 'building')),
    place_key     text NOT NULL,     -- as the cluster names it: cell:x:y, a grid's code, a building's code
    radius_m      double precision,  -- place = cell: the cell size, and its x and y
    cell_x        bigint,
    cell_y        bigint,
    region_id     bigint REFERENCES regions (id),      -- place = grid
    building_code text REFERENCES buildings (code),    -- place = building
    since         timestamptz NOT NULL,                -- the cluster's period when it was opened
    until         timestamptz NOT NULL,
    CHECK (place <> 'cell' OR (radius_m > 0 AND cell_x IS NOT NULL AND cell_y IS NOT NULL)),
    CHECK (place <> 'grid' OR region_id IS NOT NULL),
    CHECK (place <> 'building' OR building_code IS NOT NULL)
);

-- Whether ticket t belongs to root cause rc's cluster: the same category (or group) at the same place, by the
-- same cell arithmetic as the cluster analysis (gateway/cases/clusters.py).
CREATE FUNCTION wangge_in_root_cause(t tickets, rc root_causes) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT t.source <> 'rootcause'
       AND CASE WHEN rc.by_group THEN split_part(t.category, '.', 1) ELSE t.category END = rc.category
       AND CASE rc.place
           WHEN 'cell' THEN t.lat IS NOT NULL AND t.lon IS NOT NULL
                AND floor(t.lon * cos(radians(t.lat)) * 111320.0 / rc.radius_m)::bigint = rc.cell_x
                AND floor(t.lat * 111320.0 / rc.radius_m)::bigint = rc.cell_y
           WHEN 'grid' THEN t.region_id = rc.region_id
           ELSE EXISTS (SELECT 1 FROM devices d WHERE d.device_id = t.device_id AND d.building_code = rc.building_code)
       END
$$;
CREATE INDEX root_causes_category ON root_causes (category);
