-- Broker identities: every edge authenticates to the central broker as itself (username = edge id). Only a
-- hash is kept (PBKDF2-SHA512 in Mosquitto's `$7$` form), so the password file the broker reads can be
-- written from here at any time; the password itself is shown once, when the edge is provisioned.
ALTER TABLE edges ADD COLUMN broker_password_hash text;
ALTER TABLE edges ADD COLUMN provisioned_at timestamptz;
