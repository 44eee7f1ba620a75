-- 周报 (gateway/cases/weekly.py): which week's report went out for which area, so each is sent once however
-- many gateways run the weekly job and however often they restart.
CREATE TABLE weekly_reports (
    week        date NOT NULL,         -- the report's Monday (local)
    region_path text NOT NULL,         -- the area it covers: a subscription's region
    sent_at     timestamptz NOT NULL,
    PRIMARY KEY (week, region_path)
);
