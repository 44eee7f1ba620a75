-- A webhook subscription's region is a region, so its path follows the region when the region moves (tickets
-- and users already hold region ids). Webhook secrets are kept sealed (Fernet, keys outside the database):
-- the gateway seals any plaintext secret left from before at start and clears the plaintext column.
ALTER TABLE webhook_subscriptions ADD COLUMN region_id bigint REFERENCES regions (id);
UPDATE webhook_subscriptions s SET region_id = r.id FROM regions r WHERE r.path = s.region_path;
ALTER TABLE webhook_subscriptions ADD COLUMN secret_sealed text;
-- A robot URL carries its access token: the full URL is sealed too, and `url` keeps a masked form for lists.
ALTER TABLE webhook_subscriptions ADD COLUMN url_sealed text;
-- A rotated Standard Webhooks secret keeps signing beside the new one until the receiver has switched.
ALTER TABLE webhook_subscriptions ADD COLUMN previous_secret_sealed text;
ALTER TABLE webhook_subscriptions ADD COLUMN previous_secret_until timestamptz;
