"""The S3 client every media object goes through (boto3, a maintained client, on worker threads).

Any S3 endpoint serves: SeaweedFS (embedded), MinIO, Alibaba OSS, Tencent COS. A store that cannot be reached
raises `MediaUnavailable`, which callers turn into "try again later" (an edge keeps its spool) rather than loss.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from wangge.gateway import metrics

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef


T = TypeVar("T")


class MediaUnavailable(Exception):
    """The object store did not answer (down, overloaded, misconfigured): the upload or view can be retried."""


class MediaMissing(Exception):
    """The store answered that the object is not there."""


class ObjectStore:
    def __init__(
        self, url: str, bucket: str, access_key: str, secret_key: str, region: str = "us-east-1", timeout_s: float = 10
    ) -> None:
        self.url = url
        self.bucket = bucket
        self._client: S3Client = boto3.client(
            "s3",
            endpoint_url=url,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            region_name=region,
            config=Config(
                connect_timeout=min(timeout_s, 3.0),
                read_timeout=timeout_s,
                retries={"max_attempts": 2, "mode": "standard"},
                max_pool_connections=32,
                s3={"addressing_style": "path"},
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )

    def _call(self, op: str, work: Callable[[], T]) -> T:
        started = time.perf_counter()
        try:
            result = work()
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in ("NoSuchKey", "404", "NotFound"):
                metrics.MEDIA_REQUESTS.labels(op, "missing").inc()
                raise MediaMissing(code) from None
            metrics.MEDIA_REQUESTS.labels(op, "unavailable").inc()
            raise MediaUnavailable(f"the object store refused {op}: {code or exc}") from None
        except BotoCoreError as exc:
            metrics.MEDIA_REQUESTS.labels(op, "unavailable").inc()
            raise MediaUnavailable(f"the object store is unreachable: {exc}") from None
        metrics.MEDIA_REQUESTS.labels(op, "ok").inc()
        metrics.MEDIA_SECONDS.labels(op).observe(time.perf_counter() - started)
        return result

    def ensure_bucket_sync(self) -> None:
        def work() -> None:
            try:
                self._client.head_bucket(Bucket=self.bucket)
            except ClientError as exc:
                if str(exc.response.get("Error", {}).get("Code", "")) not in ("404", "NoSuchBucket", "NotFound"):
                    raise
                self._client.create_bucket(Bucket=self.bucket)

        self._call("bucket", work)

    async def ensure_bucket(self) -> None:
        await asyncio.to_thread(self.ensure_bucket_sync)

    def put_sync(self, key: str, data: bytes, content_type: str) -> None:
        self._call(
            "put", lambda: self._client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)
        )

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await asyncio.to_thread(self.put_sync, key, data, content_type)

    def get_sync(self, key: str, first: int | None = None, last: int | None = None) -> bytes:
        """The object, or bytes first..last (inclusive, as HTTP ranges count) of it."""

        def work() -> bytes:
            if first is None:
                reply = self._client.get_object(Bucket=self.bucket, Key=key)
            else:
                span = f"bytes={first}-{'' if last is None else last}"
                reply = self._client.get_object(Bucket=self.bucket, Key=key, Range=span)
            return reply["Body"].read()

        return self._call("get", work)

    async def get(self, key: str, first: int | None = None, last: int | None = None) -> bytes:
        return await asyncio.to_thread(self.get_sync, key, first, last)

    def delete_sync(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):  # S3 deletes at most 1,000 keys a request
            chunk: list[ObjectIdentifierTypeDef] = [{"Key": k} for k in keys[start : start + 1000]]
            self._call("delete", partial(self._delete_chunk, chunk))

    def _delete_chunk(self, chunk: list[ObjectIdentifierTypeDef]) -> None:
        self._client.delete_objects(Bucket=self.bucket, Delete={"Objects": chunk, "Quiet": True})

    async def delete(self, keys: list[str]) -> None:
        if keys:
            await asyncio.to_thread(self.delete_sync, keys)

    def keys_sync(self, prefix: str) -> list[str]:
        def work() -> list[str]:
            found: list[str] = []
            for page in self._client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
                found += [o["Key"] for o in page.get("Contents", [])]
            return found

        return self._call("list", work)

    async def keys(self, prefix: str) -> list[str]:
        return await asyncio.to_thread(self.keys_sync, prefix)
