"""The registry in the caller's area: regions (also as GeoJSON), edge boxes and devices."""

from __future__ import annotations

from aiohttp import web

from wangge.gateway.cases.registry import export_regions, list_devices, list_edges, list_regions
from wangge.gateway.http.context import POOL, principal_of, region_path_in_scope, require_role
from wangge.gateway.http.responses import json_response
from wangge.gateway.http.schemas.registry import DevicePage, DeviceQuery, EdgePage, EdgeQuery, RegionPage, RegionQuery
from wangge.gateway.http.spec import Reply, RouteTable, json_reply

routes = RouteTable("registry")
OFFICE = ("admin", "supervisor", "operator")


@routes.get("/api/v1/regions", summary="Regions in my area", replies=json_reply(RegionPage), query=RegionQuery)
async def regions(request: web.Request, query: RegionQuery) -> web.Response:
    principal = principal_of(request)
    path = await region_path_in_scope(request, principal, query.region)
    async with request.app[POOL].acquire() as conn:
        items, after = await list_regions(conn, path, list(query.level), query.q, query.cursor, query.limit)
    return json_response({"items": items, "next_cursor": after})


@routes.get(
    "/api/v1/regions.geojson",
    summary="Regions in my area as GeoJSON",
    replies=Reply(200, "a FeatureCollection", media_type="application/geo+json"),
    errors=(401,),
)
async def regions_geojson(request: web.Request) -> web.Response:
    principal = principal_of(request)
    async with request.app[POOL].acquire() as conn:
        text = await export_regions(conn, "geojson", principal.scope)
    return web.Response(text=text, content_type="application/geo+json")


@routes.get("/api/v1/edges", summary="Edge boxes in my area", replies=json_reply(EdgePage), query=EdgeQuery)
async def edges(request: web.Request, query: EdgeQuery) -> web.Response:
    principal = principal_of(request)
    require_role(principal, OFFICE)
    path = await region_path_in_scope(request, principal, query.region)
    async with request.app[POOL].acquire() as conn:
        items, after = await list_edges(conn, path, list(query.state), query.cursor, query.limit)
    return json_response({"items": items, "next_cursor": after})


@routes.get("/api/v1/devices", summary="Devices in my area", replies=json_reply(DevicePage), query=DeviceQuery)
async def devices(request: web.Request, query: DeviceQuery) -> web.Response:
    principal = principal_of(request)
    require_role(principal, OFFICE)
    path = await region_path_in_scope(request, principal, query.region)
    async with request.app[POOL].acquire() as conn:
        items, after = await list_devices(
            conn, path, list(query.kind), query.edge_id, query.q, query.cursor, query.limit
        )
    return json_response({"items": items, "next_cursor": after})
