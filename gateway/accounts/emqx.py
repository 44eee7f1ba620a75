"""EMQX's authentication and authorisation for wangge, as HOCON: both ask the gateway over HTTP.

Written by `wangge admin emqx-auth` (it holds the hook secret, so it lives with the other secrets) and mounted
as EMQX's `etc/base.hocon`. EMQX allows one HTTP authenticator and one HTTP authorisation source, so the URL
names every replica at once (in the shipped compose file, the network alias `gateway` that both replicas
carry). When the gateway does not answer, EMQX skips the source and `no_match = deny` refuses: nothing gets in
unasked, and no client is anonymous.
"""

from __future__ import annotations

import json


def emqx_auth_hocon(gateway_url: str, secret: str, dashboard_password: str | None = None) -> str:
    base = gateway_url.rstrip("/")
    headers = f'{{"content-type" = "application/json", "authorization" = {json.dumps("Bearer " + secret)}}}'
    dashboard = f"dashboard {{default_password = {json.dumps(dashboard_password)}}}\n" if dashboard_password else ""
    return f"""# Written by `wangge admin emqx-auth`: holds the broker hook secret; keep it with the other secrets.
{dashboard}authentication = [
  {{
    mechanism = password_based
    backend = http
    method = post
    url = {json.dumps(base + "/api/v1/broker/authenticate")}
    headers = {headers}
    body = {{username = "${{username}}", password = "${{password}}", clientid = "${{clientid}}"}}
    request_timeout = 5s
  }}
]
authorization {{
  no_match = deny
  deny_action = disconnect
  cache {{enable = true, max_size = 64, ttl = 1m}}
  sources = [
    {{
      type = http
      method = post
      url = {json.dumps(base + "/api/v1/broker/authorize")}
      headers = {headers}
      body = {{username = "${{username}}", topic = "${{topic}}", action = "${{action}}", clientid = "${{clientid}}"}}
      request_timeout = 5s
    }}
  ]
}}
"""
