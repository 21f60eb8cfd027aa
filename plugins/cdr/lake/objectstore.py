"""The lake on object storage (``CDR_LAKE_URL=s3://bucket/prefix``): how a unit's files are committed and read.

An object store has no atomic rename, so a unit (a pull interval, a drained batch, a receiver segment, a source's
own-numbers list) is committed by a manifest, not by renaming files into place:

1. every attempt writes its files under names of their own: ``<key>@<attempt>.parquet``, where ``key`` is what
   the local lake names the file (``<source>__<unit>``) and ``attempt`` is unique (UTC time and a random tag);
2. before uploading, it puts an intent, ``_manifests/<key>/<intent time>@<attempt>.intent.json``, naming the
   files it is about to upload, so that a killed upload's files can be found and removed without listing the lake;
3. it uploads the files, then puts the commit manifest
   ``_manifests/<key>/<commit time>@<attempt>+<number of files>.commit.json`` naming them. That single PUT is
   the commit: an object appears whole or not at all.

A reader takes, per key, the commit manifest with the greatest name (the newest commit wins, as the last rename
does on disk) and reads exactly the files of that attempt: it lists the manifests before and after listing the
files, and again if a commit came in between, so each unit it reads was whole before the files were listed.
A killed attempt's files, and the files of attempts a newer commit superseded, are invisible to readers and
are removed ``CDR_LAKE_GRACE_SECONDS`` (default an hour) later, so that a reader that listed the older
version just before the new commit can still finish reading it. A file without an ``@`` is a plain file
(``_schema.parquet``, or a local lake copied up as it is) and always read.

Credentials and endpoint come from the Airflow Connection ``CDR_LAKE_CONN_ID`` (default ``aws_default``, type
``aws`` as the Amazon provider reads it: login/password = access key id/secret, extra ``endpoint_url`` (or
``service_config.s3.endpoint_url``), ``region_name``, ``aws_session_token``), else from the environment
(``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``, ``AWS_ENDPOINT_URL_S3`` or
``AWS_ENDPOINT_URL``, ``AWS_DEFAULT_REGION`` or ``AWS_REGION``), as AWS tools read them.

DuckDB (and so dbt) reads the lake through ``LiveLakeFileSystem``: an fsspec S3 filesystem under the protocol
``cdrlake://`` whose glob returns only the live files. DuckDB's own httpfs is not needed for it.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cdr.settings import settings

log = logging.getLogger(__name__)

SCHEME = "s3://"
READ_PROTOCOL = "cdrlake"  # what DuckDB reads the live lake through (LiveLakeFileSystem)
MANIFESTS = "_manifests"
QUARANTINE = "_quarantine"  # quarantine/ of a lake on object storage: beside the sources, read by no model
STAMP = "%Y%m%dT%H%M%S%fZ"
COMMIT_SUFFIX = ".commit.json"
INTENT_SUFFIX = ".intent.json"


def is_object_url(url: str | os.PathLike | None) -> bool:
    return isinstance(url, str) and url.startswith(SCHEME)


def grace() -> timedelta:
    return timedelta(seconds=settings().lake_grace_seconds)


def _stamp(moment: datetime | None = None) -> str:
    return f"{(moment or datetime.now(UTC)):{STAMP}}"


def _parse_stamp(text: str) -> datetime:
    return datetime.strptime(text, STAMP).replace(tzinfo=UTC)


# --- credentials ------------------------------------------------------------------------------------------------


def conn_env_var(conn_id: str) -> str:
    return f"AIRFLOW_CONN_{conn_id.upper()}"


def _connection(conn_id: str):
    """The Airflow Connection, or None where there is none.

    Only an Airflow process (a task, which has imported Airflow already) or one given the Connection as
    ``AIRFLOW_CONN_<ID>`` asks Airflow: importing it costs seconds, too much for the receiver or dbt's plugin,
    which then read the environment."""
    if "airflow" not in sys.modules and not os.environ.get(conn_env_var(conn_id)):
        return None
    try:
        from airflow.sdk import BaseHook
        from airflow.sdk.exceptions import AirflowNotFoundException
    except ImportError:
        return None
    try:
        return BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return None


def s3_options(conn_id: str | None = None) -> dict[str, Any]:
    """``key``, ``secret``, ``token``, ``endpoint_url``, ``region`` (those set): the Connection's where it exists,
    else the environment's."""
    conn_id = conn_id or settings().lake_conn_id
    env = os.environ
    key = env.get("AWS_ACCESS_KEY_ID")
    secret = env.get("AWS_SECRET_ACCESS_KEY")
    token = env.get("AWS_SESSION_TOKEN")
    endpoint = env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL")
    region = env.get("AWS_DEFAULT_REGION") or env.get("AWS_REGION")
    conn = _connection(conn_id)
    if conn is not None:
        extra = conn.extra_dejson or {}
        service = (extra.get("service_config") or {}).get("s3") or {}
        if conn.login:
            key, secret, token = conn.login, conn.password, extra.get("aws_session_token")
        endpoint = service.get("endpoint_url") or extra.get("endpoint_url") or endpoint
        region = extra.get("region_name") or region
    options: dict[str, Any] = {}
    if key:
        options.update(key=key, secret=secret or "")
        if token:
            options["token"] = token
    if endpoint:
        options["endpoint_url"] = endpoint
    if region:
        options["region"] = region
    return options


def subprocess_env(options: dict[str, Any]) -> dict[str, str]:
    """The same credentials as environment variables, for a subprocess (dbt) that has no Airflow context."""
    env = {}
    if options.get("key"):
        env["AWS_ACCESS_KEY_ID"] = options["key"]
        env["AWS_SECRET_ACCESS_KEY"] = options.get("secret") or ""
        if options.get("token"):
            env["AWS_SESSION_TOKEN"] = options["token"]
    if options.get("endpoint_url"):
        env["AWS_ENDPOINT_URL_S3"] = options["endpoint_url"]
    if options.get("region"):
        env["AWS_DEFAULT_REGION"] = options["region"]
    return env


def arrow_s3(options: dict[str, Any] | None = None):
    """pyarrow's S3 filesystem (C++, no listing cache: a reader sees another process's commit at once)."""
    from pyarrow import fs

    options = s3_options() if options is None else options
    kwargs: dict[str, Any] = {}
    if options.get("key"):
        kwargs.update(access_key=options["key"], secret_key=options["secret"], session_token=options.get("token"))
    if options.get("endpoint_url"):
        endpoint = options["endpoint_url"]
        kwargs["endpoint_override"] = endpoint
        if endpoint.startswith("http://"):
            kwargs["scheme"] = "http"
    if options.get("region"):
        kwargs["region"] = options["region"]
    return fs.S3FileSystem(**kwargs)


def filesystem(options: dict[str, Any] | None = None):
    """The lake's object store as an fsspec filesystem (paths ``bucket/key``) over pyarrow's S3."""
    from fsspec.implementations.arrow import ArrowFSWrapper

    return ArrowFSWrapper(arrow_s3(options))


# --- the commit protocol ----------------------------------------------------------------------------------------


def new_attempt() -> str:
    return f"{_stamp()}-{uuid.uuid4().hex[:8]}"


def tagged_name(key: str, attempt: str) -> str:
    return f"{key}@{attempt}.parquet"


def split_name(name: str) -> tuple[str, str | None]:
    """``<key>@<attempt>.parquet`` -> (key, attempt); a plain name -> (stem, None)."""
    stem = name[: -len(".parquet")] if name.endswith(".parquet") else name
    key, sep, attempt = stem.rpartition("@")
    return (key, attempt) if sep else (stem, None)


def table_dir(path: str) -> str:
    """The folder holding ``_manifests`` for a data file: its folder, or the one above a ``date=`` partition."""
    folder = path.rsplit("/", 1)[0]
    parent, _, leaf = folder.rpartition("/")
    return parent if leaf.startswith("date=") else folder


@dataclass
class Manifest:
    path: str
    at: datetime
    attempt: str
    kind: str  # commit or intent
    files: int | None = None  # a commit's number of files, in its name: a reader checks its listing holds them


def _manifest_of(path: str) -> Manifest | None:
    name = path.rsplit("/", 1)[-1]
    for suffix, kind in ((COMMIT_SUFFIX, "commit"), (INTENT_SUFFIX, "intent")):
        if name.endswith(suffix):
            at, sep, attempt = name[: -len(suffix)].partition("@")
            attempt, plus, count = attempt.partition("+")
            if sep:
                try:
                    return Manifest(path, _parse_stamp(at), attempt, kind, int(count) if plus else None)
                except ValueError:
                    return None
    return None


def manifests(fs, folder: str, key: str | None = None) -> dict[str, list[Manifest]]:
    """Every manifest under ``folder/_manifests`` (or of one key), by key, oldest first."""
    base = f"{folder}/{MANIFESTS}" + (f"/{key}" if key else "")
    found: dict[str, list[Manifest]] = {}
    try:
        paths = fs.find(base)
    except FileNotFoundError:  # some filesystems raise for a missing prefix, others list nothing
        return found
    for path in paths:
        manifest = _manifest_of(path)
        if manifest is not None:
            found.setdefault(path.rsplit("/", 2)[-2], []).append(manifest)
    for items in found.values():
        items.sort(key=lambda m: m.path)
    return found


def live_attempts(fs, folder: str) -> dict[str, Manifest]:
    """Per key, its newest commit manifest."""
    live = {}
    for key, items in manifests(fs, folder).items():
        commits = [m for m in items if m.kind == "commit"]
        if commits:
            live[key] = commits[-1]
    return live


class IncompleteListing(OSError):
    pass


def static_folder(pattern: str) -> str:
    """The table folder a glob pattern (or a plain path) reads: the part before its first wildcard, as
    ``table_dir`` names it."""
    parts = pattern.rstrip("/").split("/")
    for index, part in enumerate(parts):
        if any(char in part for char in "*?["):
            folder = "/".join(parts[:index])
            parent, _, leaf = folder.rpartition("/")
            return parent if leaf.startswith("date=") else folder
    return table_dir(pattern)


def live_only(
    fs, paths: Iterable[str], live: dict[str, dict[str, Manifest]] | None = None, whole: bool = False
) -> list[str]:
    """The files among ``paths`` (bucket/key paths) that readers see: plain files, and the live attempts'
    (``live``: per table folder, per key, the live commit; listed here where not given). ``whole``: the listing
    covered whole units, so each must hold as many files as its commit names."""
    live = {} if live is None else live
    kept = []
    counts: dict[tuple[str, str], int] = {}
    for path in paths:
        name = path.rsplit("/", 1)[-1]
        if f"/{MANIFESTS}/" in path or f"/{QUARANTINE}/" in path or name.startswith("."):
            continue
        key, attempt = split_name(name)
        folder = table_dir(path)
        if folder not in live:
            live[folder] = live_attempts(fs, folder)
        commit = live[folder].get(key)
        if attempt is None:
            # a plain file (a local lake copied up) is its unit's version until a run commits one over it
            if commit is None:
                kept.append(path)
            continue
        if commit is not None and commit.attempt == attempt:
            kept.append(path)
            counts[folder, key] = counts.get((folder, key), 0) + 1
    for (folder, key), count in counts.items() if whole else ():
        expected = live[folder][key].files
        if expected is not None and count != expected:
            raise IncompleteListing(f"{folder}: {key} commits {expected} files, the listing holds {count}")
    return kept


def live_listing(fs, listing, folder: str, whole: bool = False, attempts: int = 6) -> list[str]:
    """``live_only`` of ``listing()`` (the files under table folder ``folder``), consistent with one moment:
    the manifests are listed before and after the files, and the files again if a commit came in between. So
    every live attempt was committed, its files therefore uploaded, before the files were listed: a reader
    sees each unit's previous version or its new one, whole."""
    for attempt in range(attempts):
        before = live_attempts(fs, folder)
        found = listing()
        after = live_attempts(fs, folder)
        if {k: m.path for k, m in before.items()} == {k: m.path for k, m in after.items()}:
            try:
                return live_only(fs, found, {folder: after}, whole)
            except IncompleteListing:
                if attempt == attempts - 1:
                    raise
        time.sleep(0.05 * (attempt + 1))
    raise IncompleteListing(f"{folder}: commits kept racing the listing ({attempts} tries)")


def put_bytes(fs, path: str, data: bytes) -> None:
    """One PUT, straight through pyarrow: fsspec's ``pipe_file``/``put_file`` would first create
    "directory" marker objects, which an object store does not need."""
    with fs.fs.open_output_stream(path) as out:
        out.write(data)


def upload(fs, local: str, path: str) -> None:
    """A local file to ``path`` (a multipart upload for a big file: nothing is visible until it completes)."""
    with open(local, "rb") as src, fs.fs.open_output_stream(path) as out:
        shutil.copyfileobj(src, out, 8 * 1024 * 1024)


def put_json(fs, path: str, document: dict) -> None:
    put_bytes(fs, path, json.dumps(document, indent=1, default=str).encode())


def commit_unit(fs, folder: str, key: str, attempt: str, uploads: list[tuple[str, str]], rows: int) -> list[str]:
    """Upload ``uploads`` (local file, remote path) and commit them as ``key``'s live version.

    Returns the files of the version this one superseded (no longer read; deleted after the grace period)."""
    remote = [target for _, target in uploads]
    before = live_attempts_of(fs, folder, key)
    base = f"{folder}/{MANIFESTS}/{key}"
    intent = f"{base}/{_stamp()}@{attempt}{INTENT_SUFFIX}"
    put_json(fs, intent, {"key": key, "attempt": attempt, "files": remote})
    for local, target in uploads:
        upload(fs, local, target)
    committed_at = datetime.now(UTC)
    put_json(
        fs,
        f"{base}/{_stamp(committed_at)}@{attempt}+{len(remote)}{COMMIT_SUFFIX}",
        {"key": key, "attempt": attempt, "files": remote, "rows": rows, "committed_at": committed_at},
    )
    fs.rm_file(intent)  # the commit names the files now; a leftover intent would only be cleaned later
    superseded = before[1] if before else []
    vacuum(fs, folder)
    return superseded


def live_attempts_of(fs, folder: str, key: str) -> tuple[str, list[str]] | None:
    """The live attempt of one key and its files, or None."""
    commits = [m for m in manifests(fs, folder, key).get(key, []) if m.kind == "commit"]
    if not commits:
        return None
    return commits[-1].attempt, _files_of(fs, commits[-1].path)


def _files_of(fs, manifest_path: str) -> list[str]:
    try:
        return list(json.loads(fs.cat_file(manifest_path)).get("files", []))
    except (FileNotFoundError, ValueError):
        return []


def cleanup_key(fs, folder: str, key: str, now: datetime | None = None, items: list[Manifest] | None = None) -> int:
    """Delete what no reader needs any more: superseded versions once the grace period after the commit that
    superseded them is over, and a killed attempt's files (from its intent) once the grace after the intent is.
    ``items``: the key's manifests, where the caller listed them already."""
    now = now or datetime.now(UTC)
    limit = grace()
    if items is None:
        items = manifests(fs, folder, key).get(key, [])
    commits = [m for m in items if m.kind == "commit"]
    live = commits[-1] if commits else None
    doomed: list[Manifest] = []
    for manifest in items:
        if live is not None and manifest.attempt == live.attempt:
            continue
        if manifest.kind == "intent":
            # an attempt still uploading has a fresh intent; one older than the grace was killed
            if now - manifest.at >= limit:
                doomed.append(manifest)
        elif live is not None and now - live.at >= limit and manifest.at < live.at:
            doomed.append(manifest)
    removed = 0
    for manifest in doomed:
        files = _files_of(fs, manifest.path)
        live_files = set(_files_of(fs, live.path)) if live is not None else set()
        for path in files:
            if path not in live_files and fs.exists(path):
                fs.rm_file(path)
                removed += 1
        fs.rm_file(manifest.path)
    if removed:
        log.info("%s: removed %d files of superseded or killed attempts of %s", folder, removed, key)
    return removed


def vacuum(fs, folder: str, now: datetime | None = None) -> int:
    """``cleanup_key`` for every key of a source's folder, from one listing of its manifests: what killed runs
    of units never run again left (safe beside running writers: it only takes what the grace period let go)."""
    return sum(cleanup_key(fs, folder, key, now, items) for key, items in manifests(fs, folder).items())


# --- reading through DuckDB ---------------------------------------------------------------------------------------


def _live_filesystem_class():
    from fsspec.implementations.arrow import ArrowFSWrapper

    class LiveLakeFileSystem(ArrowFSWrapper):
        """S3 under ``cdrlake://`` whose glob lists the lake's live files only (see the module's docstring)."""

        protocol = (READ_PROTOCOL,)
        cachable = False

        @classmethod
        def _strip_protocol(cls, path):
            path = path[len(READ_PROTOCOL) + 3 :] if path.startswith(READ_PROTOCOL + "://") else path
            return path.rstrip("/")

        def glob(self, path, maxdepth=None, **kwargs):
            def listing():
                found = super(LiveLakeFileSystem, self).glob(path, maxdepth=maxdepth, **kwargs)
                return list(found) if isinstance(found, dict) else found

            bare = self._strip_protocol(path)
            if not any(char in bare for char in "*?["):
                # a file named outright: its reader resolved the live files already (cdr.lake.writer.read_paths), and
                # a commit since then must not take it away mid-read (superseded files outlive the grace period)
                return listing()
            folder = static_folder(bare)
            whole = bare[len(folder) :].lstrip("/") in ("**/*.parquet", "*.parquet", "**")
            return live_listing(self, listing, folder, whole)

    return LiveLakeFileSystem


def live_filesystem(options: dict[str, Any] | None = None):
    return _live_filesystem_class()(arrow_s3(options))


def register(conn, options: dict[str, Any] | None = None) -> None:
    """Let a DuckDB connection read ``cdrlake://bucket/prefix/...`` (the lake's live files)."""
    if READ_PROTOCOL not in conn.list_filesystems():
        conn.register_filesystem(live_filesystem(options))


def read_url(url: str) -> str:
    """``s3://bucket/prefix`` as DuckDB reads its live files: ``cdrlake://bucket/prefix``."""
    return READ_PROTOCOL + "://" + url[len(SCHEME) :] if is_object_url(url) else url
