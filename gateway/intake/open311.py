"""Open311 GeoReport v2 (http://wiki.open311.org/GeoReport_v2) over our cases: services are the resident
categories, requests are cases reported by people, and our stages map onto `status` (open/closed) with the
stage in `status_notes`. Also the `servicerequestupdates` extension (FixMyStreet), so a client follows progress.

A key reads and posts only inside its region. Requests are cases people reported (resident page, Open311, grid
workers); camera and sensor alerts are not published here. Names and e-mail addresses a client sends are not
stored: the call-back phone is the one contact kept, for operators."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree as ET

from wangge.gateway.accounts.tokens import hash_token
from wangge.gateway.cases.errors import CaseError
from wangge.gateway.cases.evidence import MAX_PHOTO_BYTES
from wangge.gateway.cases.reports import PersonReport, Submitted, submit_report
from wangge.gateway.cases.rules import CaseRules
from wangge.gateway.intake.config import IntakeConfig, ResidentCategory
from wangge.gateway.intake.keys import Open311Client, scope_like

if TYPE_CHECKING:
    from wangge.gateway.storage.pool import Conn

MAX_SPAN = timedelta(days=90)  # the spec's default and widest date range
MAX_IDS = 100
STAGE_NOTES = {
    "reported": "已受理 received, waiting to be registered",
    "registered": "已立案 registered, waiting to be dispatched",
    "dispatched": "已派遣 dispatched",
    "accepted": "已签收 accepted by the handler",
    "in_progress": "处置中 being handled",
    "handled": "已处置 handled, waiting to be checked",
    "verified": "已核查 checked, waiting to be closed",
    "closed": "已办结 closed",
    "returned": "退回重派 being reassigned",
    "reopened": "重新办理 reopened",
    "cancelled": "已撤销 cancelled",
}
ATTRIBUTES = (
    {
        "variable": True,
        "code": "location_detail",
        "datatype": "string",
        "required": False,
        "datatype_description": "building, floor, landmark",
        "order": 1,
        "description": "位置说明 Where exactly (building, floor, landmark)",
    },
    {
        "variable": True,
        "code": "urgent",
        "datatype": "singlevaluelist",
        "required": False,
        "datatype_description": "yes: a danger now (the case is opened as major)",
        "order": 2,
        "description": "紧急 Is anyone in danger now?",
        "values": [{"key": "no", "name": "否 No"}, {"key": "yes", "name": "是 Yes"}],
    },
)


class Open311Error(CaseError):
    """An error the spec's way: [{"code": ..., "description": ...}] (or <errors> in XML)."""


def fail(status: int, description: str) -> Open311Error:
    return Open311Error(status, description)


def services(config: IntakeConfig, rules: CaseRules) -> list[dict[str, Any]]:
    return [_service(c, rules) for c in config.categories]


def _service(choice: ResidentCategory, rules: CaseRules) -> dict[str, Any]:
    return {
        "service_code": choice.code,
        "service_name": f"{choice.zh} {choice.en}",
        "description": choice.description or choice.en,
        "metadata": True,
        "type": "realtime",
        "keywords": ",".join(choice.keywords),
        "group": rules.categories.name(choice.category.split(".")[0], "en"),
    }


def definition(config: IntakeConfig, code: str) -> dict[str, Any]:
    if config.by_code(code) is None:
        raise fail(404, f"service_code {code} not found")
    return {"service_code": code, "attributes": list(ATTRIBUTES)}


def _number(form: Mapping[str, str], name: str, low: float, high: float) -> float | None:
    raw = form.get(name, "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise fail(400, f"{name} is not a number") from None
    if not low <= value <= high:
        raise fail(400, f"{name} must be between {low} and {high}")
    return value


def parse_request(
    config: IntakeConfig, form: Mapping[str, str], photo: tuple[str, bytes] | None, client: Open311Client
) -> PersonReport:
    """A POST requests body (form fields as the spec names them) as a report; 400 naming the field otherwise."""
    code = form.get("service_code", "").strip()
    if not code:
        raise fail(400, "service_code was not provided")
    choice = config.by_code(code)
    if choice is None:
        raise fail(404, f"service_code {code} not found")
    lat, lon = _number(form, "lat", -90, 90), _number(form, "long", -180, 180)
    if lat is None or lon is None:
        raise fail(400, "lat and long are required: cases are placed in their grid by coordinates")
    description = form.get("description", "").strip()
    if len(description) > 4000:
        raise fail(400, "description is longer than 4000 characters")
    attributes = {
        k[len("attribute[") : -1]: v for k, v in form.items() if k.startswith("attribute[") and k.endswith("]")
    }
    for key, value in attributes.items():
        if key not in ("location_detail", "urgent") or len(value) > 500:
            raise fail(400, f"attribute[{key}] is not an attribute of {code} (GET services/{code})")
    if attributes.get("urgent", "no") not in ("yes", "no"):
        raise fail(400, "attribute[urgent] must be yes or no")
    address = (form.get("address_string", "").strip() or attributes.get("location_detail", "").strip())[:300]
    media_url = form.get("media_url", "").strip()[:2000] or None
    if media_url and not media_url.startswith(("http://", "https://")):
        raise fail(400, "media_url must be an http(s) URL")
    phone = form.get("phone", "").strip()[:40] or None
    text = description or choice.zh
    if attributes.get("location_detail"):
        text += f"\n位置 {attributes['location_detail']}"
    return PersonReport(
        "open311",
        choice.category,
        text,
        lat,
        lon,
        severity="major" if attributes.get("urgent") == "yes" else "minor",
        photos=[photo] if photo else [],
        reporter=f"open311:{client.name}",
        phone=phone,
        address=address or None,
        open311_key_id=client.id,
        attributes=attributes or None,
        media_url=media_url,
    )


async def post_request(
    conn: Conn, rules: CaseRules, report: PersonReport, client: Open311Client, now: datetime
) -> Submitted:
    try:
        return await submit_report(conn, rules, report, now, client.region_path)
    except CaseError as exc:
        if exc.extra.get("reason") == "outside_scope":
            raise fail(403, "the location is outside the region of this api_key") from None
        if exc.extra.get("reason") == "outside_regions":
            raise fail(400, "the location is outside every area this service covers") from None
        raise fail(400 if exc.status in (413, 422) else exc.status, str(exc)) from None


def posted(submitted: Submitted) -> dict[str, Any]:
    notice = (
        f"已有人报告，已并入 {submitted.ticket_id} · already reported: joined request {submitted.ticket_id}"
        f" ({submitted.reporters} reporters)"
        if submitted.duplicate
        else "已受理 received"
    )
    return {
        "service_request_id": str(submitted.ticket_id),
        "token": submitted.token,
        "service_notice": notice,
        "account_id": None,
    }


def _when(form: Mapping[str, str], name: str) -> datetime | None:
    raw = form.get(name, "").strip()
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise fail(400, f"{name} is not a w3c date-time such as 2010-01-01T00:00:00Z") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def date_range(query: Mapping[str, str], now: datetime) -> tuple[datetime, datetime]:
    start, end = _when(query, "start_date"), _when(query, "end_date")
    end = end or (start + MAX_SPAN if start else now)
    start = start or end - MAX_SPAN
    if start >= end:
        raise fail(400, "start_date must be before end_date")
    if end - start > MAX_SPAN:
        raise fail(400, "start_date and end_date may not span more than 90 days")
    return start, end


# A request is a case people reported: opened by a report, or an alert's case someone reported too.
PEOPLE = "(t.source = 'report' OR EXISTS (SELECT 1 FROM ticket_reports r WHERE r.ticket_id = t.id))"
_REQUEST_COLUMNS = """
t.id, t.state, t.category, t.description, t.title, t.department, t.opened_at, t.updated_at, t.due_at, t.lat, t.lon,
t.merged_into,
(SELECT p.address FROM ticket_reports p WHERE p.ticket_id = t.id ORDER BY p.id LIMIT 1) AS address,
(SELECT p.media_url FROM ticket_reports p WHERE p.ticket_id = t.id AND p.media_url IS NOT NULL ORDER BY p.id LIMIT 1)
    AS media_link,
(SELECT a.id FROM attachments a WHERE a.ticket_id = t.id AND a.kind = 'photo' ORDER BY a.id LIMIT 1) AS photo_id
"""


async def find_requests(
    conn: Conn, config: IntakeConfig, client: Open311Client, query: Mapping[str, str], now: datetime
) -> list[Any]:
    """GET requests: by service_request_id (a comma list, which overrides the rest), else by service_code,
    status and date range (the last 90 days by default), newest first; only cases inside the key's region."""
    ids_raw = query.get("service_request_id", "").strip()
    scope = scope_like(client)
    if ids_raw:
        try:
            ids = [int(v) for v in ids_raw.split(",") if v.strip()]
        except ValueError:
            raise fail(400, "service_request_id must be request ids, comma separated") from None
        if len(ids) > MAX_IDS:
            raise fail(400, f"at most {MAX_IDS} service_request_id at once")
        return await conn.fetch(
            f"SELECT {_REQUEST_COLUMNS} FROM tickets t WHERE t.id = ANY($1::bigint[]) AND {PEOPLE}"
            " AND t.region_path LIKE $2 ORDER BY t.id DESC",
            ids,
            scope,
        )
    start, end = date_range(query, now)
    codes = [c.strip() for c in query.get("service_code", "").split(",") if c.strip()]
    categories = []
    for code in codes:
        choice = config.by_code(code)
        if choice is None:
            raise fail(404, f"service_code {code} not found")
        categories.append(choice.category)
    statuses = {s.strip() for s in query.get("status", "").split(",") if s.strip()}
    if statuses - {"open", "closed"}:
        raise fail(400, "status must be open, closed or both")
    closed = None if len(statuses) != 1 else statuses == {"closed"}
    return await conn.fetch(
        f"SELECT {_REQUEST_COLUMNS} FROM tickets t WHERE {PEOPLE} AND t.region_path LIKE $1"
        " AND t.opened_at >= $2 AND t.opened_at <= $3 AND (cardinality($4::text[]) = 0 OR t.category = ANY($4))"
        " AND ($5::boolean IS NULL OR (t.closed_at IS NOT NULL) = $5) ORDER BY t.opened_at DESC, t.id DESC LIMIT 1000",
        scope,
        start,
        end,
        categories,
        closed,
    )


async def one_request(conn: Conn, client: Open311Client, request_id: str) -> list[Any]:
    if not request_id.isdigit() or len(request_id) > 18:
        raise fail(404, f"service_request_id {request_id} not found")
    rows = await conn.fetch(
        f"SELECT {_REQUEST_COLUMNS} FROM tickets t WHERE t.id = $1 AND {PEOPLE} AND t.region_path LIKE $2",
        int(request_id),
        scope_like(client),
    )
    if not rows:
        raise fail(404, f"service_request_id {request_id} not found")
    return list(rows)


async def token_request(conn: Conn, client: Open311Client, token: str) -> dict[str, Any]:
    """GET tokens/{token}: the token POST requests returned (the reporter's progress token) → its request."""
    ticket = await conn.fetchval(
        "SELECT p.ticket_id FROM ticket_reports p JOIN tickets t ON t.id = p.ticket_id WHERE p.token_sha256 = $1"
        " AND p.open311_key_id = $2",
        hash_token(token),
        client.id,
    )
    if ticket is None:
        raise fail(404, f"token {token[:40]} not found")
    return {"service_request_id": str(ticket), "token": token}


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def service_code_of(config: IntakeConfig, category: str) -> str:
    """The resident category a case's category is published as (the first listed), else the category itself."""
    return next((c.code for c in config.categories if c.category == category), category)


def request_out(config: IntakeConfig, rules: CaseRules, row: Any, base_url: str) -> dict[str, Any]:
    closed = row["state"] in ("closed", "cancelled")
    notes = STAGE_NOTES.get(row["state"], row["state"])
    if row["state"] == "dispatched" and row["department"]:
        notes = f"{notes} → {row['department']}"
    if row["merged_into"] is not None:
        notes = f"已并入 {row['merged_into']} · merged into request {row['merged_into']} (a duplicate)"
    media = f"{base_url}/open311/v2/media/{row['photo_id']}" if row["photo_id"] else row["media_link"]
    return {
        "service_request_id": str(row["id"]),
        "status": "closed" if closed else "open",
        "status_notes": notes,
        "service_name": rules.categories.name(row["category"], "zh")
        + " "
        + rules.categories.name(row["category"], "en"),
        "service_code": service_code_of(config, row["category"]),
        "description": row["description"] or row["title"],
        "agency_responsible": row["department"],
        "service_notice": None,
        "requested_datetime": _iso(row["opened_at"]),
        "updated_datetime": _iso(row["updated_at"]),
        "expected_datetime": None if closed else _iso(row["due_at"]),
        "address": row["address"],
        "address_id": None,
        "zipcode": None,
        "lat": row["lat"],
        "long": row["lon"],
        "media_url": media,
    }


async def updates(conn: Conn, client: Open311Client, query: Mapping[str, str], now: datetime) -> list[dict[str, Any]]:
    """servicerequestupdates: each change of stage of the key's region's requests in the date range."""
    start, end = date_range(query, now)
    rows = await conn.fetch(
        "SELECT e.id, e.ticket_id, e.at, e.to_state FROM ticket_events e JOIN tickets t ON t.id = e.ticket_id"
        f" WHERE e.at >= $2 AND e.at <= $3 AND e.to_state IS NOT NULL AND {PEOPLE} AND t.region_path LIKE $1"
        " ORDER BY e.at, e.id LIMIT 5000",
        scope_like(client),
        start,
        end,
    )
    return [
        {
            "update_id": str(r["id"]),
            "service_request_id": str(r["ticket_id"]),
            "status": "closed" if r["to_state"] in ("closed", "cancelled") else "open",
            "updated_datetime": _iso(r["at"]),
            "description": STAGE_NOTES.get(r["to_state"], r["to_state"]),
            "media_url": "",
        }
        for r in rows
    ]


async def media_row(conn: Conn, client: Open311Client, attachment_id: int) -> Any:
    row = await conn.fetchrow(
        "SELECT a.id, a.ticket_id, a.content_type, a.object_key, a.data FROM attachments a"
        " JOIN tickets t ON t.id = a.ticket_id WHERE a.id = $1 AND a.kind = 'photo'"
        f" AND {PEOPLE} AND t.region_path LIKE $2",
        attachment_id,
        scope_like(client),
    )
    if row is None:
        raise fail(404, f"media {attachment_id} not found")
    return row


# XML, as the spec's examples write it: a root element, one child per item, lists of values nested.
_ROOTS = {
    "services": ("services", "service"),
    "requests": ("service_requests", "request"),
    "updates": ("service_request_updates", "request_update"),
    "errors": ("errors", "error"),
}


def _element(parent: ET.Element, name: str, value: Any) -> None:
    child = ET.SubElement(parent, name)
    if isinstance(value, dict):
        for k, v in value.items():
            _element(child, k, v)
    elif isinstance(value, list):
        inner = {"attributes": "attribute", "values": "value"}.get(name, "item")
        for item in value:
            _element(child, inner, item)
    elif isinstance(value, bool):
        child.text = "true" if value else "false"
    elif value is not None:
        child.text = str(value)


def to_xml(kind: str, items: list[dict[str, Any]] | dict[str, Any]) -> bytes:
    if kind == "definition":
        root = ET.Element("service_definition")
        assert isinstance(items, dict)
        for k, v in items.items():
            _element(root, k, v)
    else:
        name, child = _ROOTS[kind]
        root = ET.Element(name)
        for item in items if isinstance(items, list) else [items]:
            _element(root, child, item)
    body: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="utf-8"?>' + body


def photo_from_upload(content_type: str, data: bytes) -> tuple[str, bytes]:
    if not 0 < len(data) <= MAX_PHOTO_BYTES:
        raise fail(400, f"media must be 1 byte to {MAX_PHOTO_BYTES} bytes")
    return content_type, data
