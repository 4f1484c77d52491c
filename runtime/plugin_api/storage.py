"""Host functions `storage.collection.*` and `storage.files.*`: documents and files private to one installation,
within a storage quota (documents, files and key-value items together).

Queries are simple on purpose: `{field: value}` equality on top-level fields, or `{field: {"$gt"|"$gte"|"$lt"|
"$lte"|"$ne"|"$in": value}}`, plus `$limit` (≤ 100) and `$sort` (`"field"` or `"-field"`).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Sum
from django.urls import reverse

from runtime.plugin_api.gateway import APIRefusal, CallContext, host_function, iso, optional, require
from runtime.plugin_api.models import StorageDocument, StorageFile

NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# No "__": a field name must never become a Django lookup (`score__regex`) or a path out of the document.
FIELD_RE = re.compile(r"^(?!.*__)[A-Za-z_][A-Za-z0-9_]{0,63}$")
OPERATORS = {"$gt": "gt", "$gte": "gte", "$lt": "lt", "$lte": "lte"}
MAX_DOCUMENT_BYTES = 256 * 1024
MAX_RESULTS = 100
FILE_URL_SECONDS = 3600


def quota_bytes() -> int:
    # One quota for everything an installation stores: key-value items, documents and files.
    return int(getattr(settings, "PLUGIN_STORAGE_QUOTA_BYTES", 5 * 1024 * 1024))


def used_bytes(installation_id: str) -> int:
    from runtime.models import PluginStorageItem

    total = 0
    for model in (StorageDocument, StorageFile, PluginStorageItem):
        total += model.objects.filter(installation_id=installation_id).aggregate(n=Sum("size"))["n"] or 0
    return total


def _check_quota(ctx: CallContext, adding: int) -> None:
    used = used_bytes(ctx.installation_id)
    if used + adding > quota_bytes():
        raise APIRefusal("quota_exceeded",
                         f"Storage quota exceeded: {used:,} of {quota_bytes():,} bytes used; this needs {adding:,}.")


def _collection(params: dict[str, Any]) -> str:
    name = require(params, "collection")
    if not NAME_RE.match(name):
        raise APIRefusal("invalid", "A collection name is 1-64 letters, digits, '_' or '-'.")
    return name


def _data(params: dict[str, Any]) -> tuple[dict, int]:
    data = require(params, "data", dict)
    data = {k: v for k, v in data.items() if k != "id"}
    encoded = json.dumps(data, separators=(",", ":"), allow_nan=False)
    if len(encoded) > MAX_DOCUMENT_BYTES:
        raise APIRefusal("invalid", f"A document is at most {MAX_DOCUMENT_BYTES:,} bytes of JSON.")
    return data, len(encoded)


def _doc(document: StorageDocument) -> dict[str, Any]:
    return {**document.data, "id": str(document.id)}


def _documents(ctx: CallContext, collection: str):
    return StorageDocument.objects.filter(installation_id=ctx.installation_id, collection=collection)


def _get(ctx: CallContext, collection: str, doc_id) -> StorageDocument:
    try:
        pk = uuid.UUID(str(doc_id))
    except ValueError:
        raise APIRefusal("not_found", f"Document {str(doc_id)[:64]!r} was not found.")
    document = _documents(ctx, collection).filter(pk=pk).first()
    if document is None:
        raise APIRefusal("not_found", f"Document {str(doc_id)[:64]!r} was not found.")
    return document


def _filtered(ctx: CallContext, collection: str, query: dict[str, Any]):
    qs = _documents(ctx, collection)
    limit, sort = MAX_RESULTS, "created_at"
    for field, condition in query.items():
        if field == "$limit":
            if not isinstance(condition, int) or isinstance(condition, bool) or not 0 < condition <= MAX_RESULTS:
                raise APIRefusal("invalid", f"$limit must be between 1 and {MAX_RESULTS}.")
            limit = condition
            continue
        if field == "$sort":
            name = condition[1:] if isinstance(condition, str) and condition.startswith("-") else condition
            if not isinstance(name, str) or not FIELD_RE.match(name):
                raise APIRefusal("invalid", "$sort is a field name, with '-' in front for descending.")
            sort = ("-" if condition.startswith("-") else "") + f"data__{name}"
            continue
        if field == "id":
            try:
                qs = qs.filter(pk=uuid.UUID(str(condition)))
            except ValueError:
                return qs.none(), limit
            continue
        if not FIELD_RE.match(field):
            raise APIRefusal("invalid", f"{field[:64]!r} is not a field name a query can use.")
        if isinstance(condition, dict):
            for op, value in condition.items():
                if op in OPERATORS:
                    qs = qs.filter(**{f"data__{field}__{OPERATORS[op]}": value})
                elif op == "$ne":
                    qs = qs.exclude(**{f"data__{field}": value})
                elif op == "$in" and isinstance(value, list) and len(value) <= 100:
                    qs = qs.filter(**{f"data__{field}__in": value})
                else:
                    raise APIRefusal("invalid", f"Unknown query operator {str(op)[:20]!r} (use $gt, $gte, $lt, $lte, "
                                                "$ne, $in).")
        else:
            qs = qs.filter(**{f"data__{field}": condition})
    return qs.order_by(sort, "created_at"), limit


@host_function("storage.collection.create", scope=None)
def collection_create(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    collection = _collection(params)
    data, size = _data(params)
    _check_quota(ctx, size)
    document = StorageDocument.objects.create(installation_id=ctx.installation_id, collection=collection, data=data,
                                              size=size)
    ctx.touched("storage_document", document.id)
    return _doc(document)


@host_function("storage.collection.update", scope=None)
def collection_update(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    collection = _collection(params)
    changes, _ = _data(params)
    with transaction.atomic():
        document = _get(ctx, collection, require(params, "id"))
        document = StorageDocument.objects.select_for_update().get(pk=document.pk)
        ctx.touched("storage_document", document.id)
        merged = {**document.data, **changes}  # Partial<T>: the given fields replace, the others stay
        size = len(json.dumps(merged, separators=(",", ":"), allow_nan=False))
        if size > MAX_DOCUMENT_BYTES:
            raise APIRefusal("invalid", f"A document is at most {MAX_DOCUMENT_BYTES:,} bytes of JSON.")
        if size > document.size:
            _check_quota(ctx, size - document.size)
        document.data, document.size = merged, size
        document.save(update_fields=["data", "size", "updated_at"])
    return _doc(document)


@host_function("storage.collection.delete", scope=None)
def collection_delete(ctx: CallContext, params: dict[str, Any]) -> None:
    document = _get(ctx, _collection(params), require(params, "id"))
    ctx.touched("storage_document", document.id)
    document.delete()


@host_function("storage.collection.find", scope=None)
def collection_find(ctx: CallContext, params: dict[str, Any]) -> list[dict[str, Any]]:
    qs, limit = _filtered(ctx, _collection(params), optional(params, "query", dict, {}))
    ctx.touched("storage_collection")
    return [_doc(d) for d in qs[:limit]]


@host_function("storage.collection.findOne", scope=None)
def collection_find_one(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any] | None:
    qs, _ = _filtered(ctx, _collection(params), require(params, "query", dict))
    document = qs.first()
    ctx.touched("storage_document", document.id if document else "")
    return _doc(document) if document else None


# --- files ----------------------------------------------------------------------------------------------------

def max_file_bytes() -> int:
    return min(int(getattr(settings, "PLUGIN_FILE_MAX_BYTES", 5 * 1024 * 1024)), quota_bytes())


def _file(ctx: CallContext, params: dict[str, Any]) -> StorageFile:
    file_id = require(params, "fileId")
    try:
        pk = uuid.UUID(str(file_id))
    except ValueError:
        raise APIRefusal("not_found", f"File {str(file_id)[:64]!r} was not found.")
    row = StorageFile.objects.filter(installation_id=ctx.installation_id, pk=pk).first()
    if row is None:
        raise APIRefusal("not_found", f"File {str(file_id)[:64]!r} was not found.")
    ctx.touched("storage_file", row.id)
    return row


def _file_info(row: StorageFile) -> dict[str, Any]:
    return {"id": str(row.id), "name": row.name, "contentType": row.content_type, "size": row.size,
            "createdAt": iso(row.created_at)}


@host_function("storage.files.upload", scope=None)
def files_upload(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    name = require(params, "name")
    content_type = optional(params, "contentType", str, "application/octet-stream")
    if len(name) > 255 or "/" in name or "\\" in name or name in (".", ".."):
        raise APIRefusal("invalid", "A file name is at most 255 characters, without slashes.")
    if not re.fullmatch(r"[\w.+-]+/[\w.+-]+", content_type):
        raise APIRefusal("invalid", "contentType must be a MIME type such as text/csv.")
    encoded = require(params, "content")
    if len(encoded) > (max_file_bytes() * 4) // 3 + 8:
        raise APIRefusal("invalid", f"A file is at most {max_file_bytes():,} bytes.")
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise APIRefusal("invalid", "content must be base64.")
    if len(data) > max_file_bytes():
        raise APIRefusal("invalid", f"A file is at most {max_file_bytes():,} bytes.")
    _check_quota(ctx, len(data))
    row = StorageFile(installation_id=ctx.installation_id, name=name, content_type=content_type, size=len(data))
    # The stored name is ours (a UUID), never the plugin's: no path tricks, no collisions between tenants.
    row.file.save(f"{uuid.uuid4().hex}.bin", ContentFile(data), save=False)
    row.save()
    ctx.touched("storage_file", row.id)
    return _file_info(row)


@host_function("storage.files.download", scope=None)
def files_download(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    row = _file(ctx, params)
    with row.file.open("rb") as handle:
        data = handle.read()
    return {**_file_info(row), "content": base64.b64encode(data).decode("ascii")}


@host_function("storage.files.delete", scope=None)
def files_delete(ctx: CallContext, params: dict[str, Any]) -> None:
    row = _file(ctx, params)
    name = row.file.name
    row.delete()
    storage = row.file.storage
    transaction.on_commit(lambda: storage.delete(name))


def file_token(row: StorageFile) -> str:
    return signing.dumps({"f": str(row.id)}, salt="plugin-file")


def file_from_token(token: str) -> StorageFile | None:
    try:
        data = signing.loads(token, salt="plugin-file", max_age=FILE_URL_SECONDS)
    except signing.BadSignature:
        return None
    return StorageFile.objects.filter(pk=data.get("f")).first()


@host_function("storage.files.getUrl", scope=None)
def files_get_url(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    row = _file(ctx, params)
    # A signed link that expires within the hour (local storage); S3 answers with its own pre-signed URL.
    if settings.STORAGE_BACKEND == "s3":
        return {"url": row.file.url}
    return {"url": reverse("runtime:plugin-file", args=[file_token(row)])}
