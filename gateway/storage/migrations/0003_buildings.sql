-- Buildings inside estates (sites); devices may name the building they are in.
CREATE TABLE buildings (
    code       text PRIMARY KEY,
    name       text NOT NULL,
    site_code  text REFERENCES sites (code),
    region_id  bigint NOT NULL REFERENCES regions (id)
);
ALTER TABLE devices ADD COLUMN building_code text REFERENCES buildings (code);
