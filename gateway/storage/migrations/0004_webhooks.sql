-- Outbound webhooks: subscriptions, one delivery per (subscription, event), every attempt logged.

ALTER TABLE outbox_events ADD COLUMN fanned_out boolean NOT NULL DEFAULT false;
CREATE INDEX outbox_events_pending ON outbox_events (id) WHERE NOT fanned_out;

CREATE TABLE webhook_subscriptions (
    id              bigserial PRIMARY KEY,
    name            text NOT NULL,
    url             text NOT NULL,
    format          text NOT NULL CHECK (format IN ('standard', 'dingtalk', 'wecom', 'feishu')),
    secret          text,
    region_path     text NOT NULL DEFAULT '/',
    categories      text[] NOT NULL DEFAULT '{}',
    severities      text[] NOT NULL DEFAULT '{}',
    event_types     text[] NOT NULL DEFAULT '{}',
    enabled         boolean NOT NULL DEFAULT true,
    disabled_reason text,
    rate_per_min    integer,
    failures_in_row integer NOT NULL DEFAULT 0,
    circuit_open_until timestamptz,
    created_by      text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE webhook_deliveries (
    id              bigserial PRIMARY KEY,
    subscription_id bigint NOT NULL REFERENCES webhook_subscriptions (id),
    event_id        bigint NOT NULL REFERENCES outbox_events (id),
    message_id      text NOT NULL UNIQUE,
    state           text NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'delivering', 'delivered', 'dead', 'cancelled')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    lease_until     timestamptz,
    last_status     integer,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    delivered_at    timestamptz,
    UNIQUE (subscription_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE state IN ('pending', 'delivering');
CREATE INDEX webhook_deliveries_sub_state ON webhook_deliveries (subscription_id, state);

CREATE TABLE webhook_attempts (
    id          bigserial PRIMARY KEY,
    delivery_ids bigint[] NOT NULL,
    subscription_id bigint NOT NULL REFERENCES webhook_subscriptions (id),
    at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    status      integer,
    latency_ms  double precision NOT NULL,
    error       text,
    response_excerpt text
);
CREATE INDEX webhook_attempts_sub_at ON webhook_attempts (subscription_id, at);
