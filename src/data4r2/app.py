"""The one composition root: Settings → adapters → engine. Nothing else constructs adapters.

Adapters are imported inside the functions that build them: the CLI stays quick to start
(`--help` loads neither boto3 nor huggingface_hub) and a test that injects its own adapters
never imports the real ones.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .destination import Destination, Kind, parse_destination
from .domain import CredentialsError, Event, Plan, RepoRef, SyncSummary, UsageError
from .settings import Settings

if TYPE_CHECKING:
    from .engine.sync import SyncEngine
    from .engine.verify import VerifyReport
    from .ports import HubSource, JobStore, MirrorReader, MirrorSchedule, ObjectSink
    from .service.context import ServiceContext, Target
    from .service.destinations import Destinations, DestinationSpec
    from .sinks.s3 import S3Sink
    from .sinks.s3_doctor import DoctorReport
    from .state.pg_schema import Upgrade

Emit = Callable[[Event], None]


@dataclass(frozen=True, slots=True)
class Overrides:
    """Adapters to use instead of the real ones (tests, the service); None = build from Settings.

    An injected adapter belongs to the caller: it is never closed here.
    """

    hub: HubSource | None = None
    sink: ObjectSink | None = None
    store: JobStore | None = None


NO_OVERRIDES = Overrides()


# --------------------------------------------------------------------------- settings → values


def repo_of(settings: Settings) -> RepoRef:
    if not settings.repo_id:
        raise UsageError("missing REPO_ID (e.g. openai-community/gpt2)")
    return RepoRef(settings.repo_id, settings.repo_type, settings.revision)


def destination_of(settings: Settings) -> Destination:
    return parse_destination(
        settings.dest,
        r2_account_id=settings.r2_account_id,
        r2_jurisdiction=settings.r2_jurisdiction,
        endpoint_url=settings.endpoint_url,
        aws_endpoint_url=settings.aws_endpoint_url,
    )


# --------------------------------------------------------------------------- adapters


def build_hub(settings: Settings) -> HubSource:
    """The Hub client, paced: one pacer for every request this process sends to the Hub."""
    from .engine.pacer import PacedHub, Pacer
    from .hub.client import HubClient

    token = settings.token.get_secret_value() if settings.token else None
    ca = str(settings.hub_ca_bundle) if settings.hub_ca_bundle else None
    # token None: HubClient falls back to huggingface_hub's own lookup (`hf auth login`).
    client = HubClient(  # it names data4r2 in its UA
        settings.hf_endpoint, token, timeout=settings.hub_timeout, ca_bundle=ca
    )
    return PacedHub(client, Pacer(rps=settings.hub_rps))


def _credentials(settings: Settings, dest: Destination) -> tuple[str, str]:
    key, secret = settings.aws_access_key_id, settings.aws_secret_access_key
    if key and secret:
        return key, secret.get_secret_value()
    missing = [
        n for n, v in (("AWS_ACCESS_KEY_ID", key), ("AWS_SECRET_ACCESS_KEY", secret)) if not v
    ]
    what = (
        "an R2 API token's Access Key ID and Secret Access Key"
        if dest.kind is Kind.R2
        else "the bucket's access key and secret; add AWS_SESSION_TOKEN for temporary ones"
    )
    raise CredentialsError(f"{dest} needs credentials: set {' and '.join(missing)} ({what})")


def build_sink(settings: Settings, dest: Destination) -> ObjectSink:
    if dest.root is not None:
        from .sinks.folder import FolderSink

        return FolderSink(dest.root)
    return build_s3_sink(settings, dest)


def s3_endpoint(settings: Settings, dest: Destination) -> tuple[str, str]:
    """(endpoint URL, SigV4 region) of a bucket destination: R2 signs for `auto` (docs/r2.md §1)."""
    region = "auto" if dest.kind is Kind.R2 else (settings.aws_region or "us-east-1")
    return dest.endpoint_url or f"https://s3.{region}.amazonaws.com", region


def build_s3_sink(settings: Settings, dest: Destination) -> S3Sink:
    """The bucket sink `sync` writes through; `doctor` probes this very object."""
    from .sinks.s3 import S3Sink

    access_key, secret_key = _credentials(settings, dest)
    endpoint, region = s3_endpoint(settings, dest)
    return S3Sink(
        endpoint,
        dest.bucket,
        dest.prefix,  # for describe() only: the engine joins it into every key (SyncOptions)
        access_key=access_key,
        secret_key=secret_key,
        session_token=(
            settings.aws_session_token.get_secret_value() if settings.aws_session_token else None
        ),
        region=region,
        ca_bundle=str(settings.ca_bundle) if settings.ca_bundle else None,
        # Each file worker (single PUTs) and each part uploader may hold a connection at once,
        # plus HEADs and Completes beside them (engine/sync.py: two pools of `concurrency`).
        pool_size=2 * settings.concurrency + 4,
    )


def build_reader(sink: ObjectSink) -> MirrorReader | None:
    """The read side of a destination's sink (the Hub-compatible API serves from it); it
    shares the sink's client. None for a sink that has no read side (the memory sink)."""
    from .sinks.folder import FolderSink
    from .sinks.s3 import S3Sink

    if isinstance(sink, S3Sink):
        from .sinks.s3_reader import S3Reader

        return S3Reader(sink)
    if isinstance(sink, FolderSink):
        from .sinks.folder_reader import FolderReader

        return FolderReader(sink)
    return None


def _close(obj: object) -> None:
    # Only the adapters that hold a resource have close(); none is in the Protocols.
    close = getattr(obj, "close", None)
    if callable(close):
        close()


def open_state(settings: Settings) -> JobStore:
    """The persistent JobStore: PostgreSQL when DATA4R2_DB is set (the cluster's, its schema
    checked first), else this host's SQLite file. The caller closes it."""
    if settings.db is None:
        import sqlite3

        from .state.paths import default_state_path, unusable_state_path
        from .state.sqlite import SqliteJobStore

        path = settings.state or default_state_path()
        try:
            return SqliteJobStore(path)
        except (OSError, sqlite3.OperationalError) as e:  # a folder, a file as parent, read-only
            raise unusable_state_path(path, e) from e
    _require_cluster_support()
    from .state.postgres import PostgresJobStore

    # Like the sink's pool (build_s3_sink): each file worker and each part uploader may be in
    # a store call at once (claim, renew, record_part), plus the API's and the reaper's.
    return PostgresJobStore(settings.db.get_secret_value(), pool_size=2 * settings.concurrency + 4)


def upgrade_database(settings: Settings) -> Upgrade:
    """`data4r2 db upgrade`: create or migrate the schema in DATA4R2_DB (idempotent)."""
    _require_cluster_support()
    from .state.pg_schema import upgrade

    return upgrade(_database_url(settings))


def _database_url(settings: Settings) -> str:
    if settings.db is None:
        raise UsageError(
            "DATA4R2_DB is not set: give the cluster's PostgreSQL URL "
            "(postgresql://user@host/dbname) in DATA4R2_DB or --db"
        )
    return settings.db.get_secret_value()


def _require_cluster_support() -> None:
    # find_spec, not import: the message must not depend on which module failed to load.
    if importlib.util.find_spec("procrastinate") is None:
        raise UsageError(
            "DATA4R2_DB needs data4r2's PostgreSQL support: pip install 'data4r2[cluster]'"
        )


@contextmanager
def _store(
    settings: Settings, override: JobStore | None, *, persistent: bool
) -> Iterator[JobStore]:
    if override is not None:
        yield override
        return
    store: JobStore
    if persistent:
        store = open_state(settings)
    else:
        # A dry run must write nothing, not even a state file.
        from .state.memory import MemoryJobStore

        store = MemoryJobStore()
    try:
        yield store
    finally:
        _close(store)


@dataclass(frozen=True, slots=True)
class Wired:
    repo: RepoRef
    destination: Destination
    hub: HubSource
    sink: ObjectSink


@contextmanager
def wire(settings: Settings, overrides: Overrides = NO_OVERRIDES) -> Iterator[Wired]:
    """Validate the request, then build (or take) the hub and the sink; close what we built."""
    repo = repo_of(settings)
    dest = destination_of(settings)
    hub = overrides.hub or build_hub(settings)
    try:
        sink = overrides.sink or build_sink(settings, dest)
        try:
            yield Wired(repo, dest, hub, sink)
        finally:
            if overrides.sink is None:
                _close(sink)
    finally:
        if overrides.hub is None:
            _close(hub)


def _engine(w: Wired, store: JobStore, settings: Settings, emit: Emit) -> SyncEngine:
    from .engine.sync import SyncEngine

    return SyncEngine(
        w.hub,
        w.sink,
        store,
        destination=w.destination.id,
        options=settings.sync_options(prefix=w.destination.prefix),
        emit=emit,
    )


# --------------------------------------------------------------------------- use cases


@contextmanager
def _events(subscribers: tuple[Emit, ...]) -> Iterator[Emit]:
    """The engine's `emit`: fanned out to every subscriber, each on its own thread.

    Leaving the block delivers what is still queued, so a display has shown the run's end
    before the caller prints its summary.
    """
    from .engine.events import EventBus

    with EventBus() as bus:
        for subscriber in subscribers:
            bus.subscribe(subscriber)
        yield bus.publish


def run_sync(
    settings: Settings, *subscribers: Emit, overrides: Overrides = NO_OVERRIDES
) -> SyncSummary:
    """Plan, record in the state store and copy. A dry run plans only, whoever asks for it.

    Each of `subscribers` receives every event of the run (display, NDJSON log, metrics …).
    """
    if settings.dry_run:
        plan = run_plan(settings, *subscribers, overrides=overrides)
        return _dry_summary(plan, destination_of(settings))
    if overrides.store is None:
        from .state.paths import check_state_path, default_state_path

        check_state_path(settings.state or default_state_path())
    with wire(settings, overrides) as w, _events(subscribers) as emit:
        w.sink.check()
        # The plan needs no state (it is what a dry run does): the state file is opened only
        # once the plan is ready, so a run that fails before (Hub unreachable, repo not found)
        # leaves no file behind.
        with _store(settings, None, persistent=False) as scratch:
            plan = _engine(w, scratch, settings, emit).plan(w.repo)
        with _store(settings, overrides.store, persistent=True) as store:
            return _engine(w, store, settings, emit).run(plan)


def run_plan(settings: Settings, *subscribers: Emit, overrides: Overrides = NO_OVERRIDES) -> Plan:
    """The plan only (`--dry-run`): files, bytes, what would be skipped. Writes nothing."""
    with (
        wire(settings, overrides) as w,
        _store(settings, overrides.store, persistent=False) as store,
        _events(subscribers) as emit,
    ):
        if w.destination.is_bucket:  # HeadBucket reads; a folder's check writes a probe file
            w.sink.check()
        return _engine(w, store, settings, emit).plan(w.repo)


def run_verify(
    settings: Settings, emit: Emit | None = None, *, overrides: Overrides = NO_OVERRIDES
) -> VerifyReport:
    """Audit the destination against the Hub; reads only. `emit` is unused for now."""
    from .engine.verify import verify

    with wire(settings, overrides) as w:
        w.sink.check()
        return verify(w.hub, w.sink, w.repo, settings.sync_options(prefix=w.destination.prefix))


def run_doctor(settings: Settings) -> DoctorReport:
    """Probe the bucket a sync would write to, through the sink a sync would build."""
    from .sinks.s3_doctor import diagnose

    dest = destination_of(settings)
    if not dest.is_bucket:
        raise UsageError(
            f"doctor checks a bucket and --dest {dest} is a folder: "
            "use r2://bucket[/prefix] or s3://bucket[/prefix]"
        )
    endpoint, _ = s3_endpoint(settings, dest)
    return diagnose(
        destination=str(dest),
        endpoint=endpoint,
        prefix=dest.prefix,
        ca_bundle=str(settings.ca_bundle) if settings.ca_bundle else None,
        make_sink=lambda: build_s3_sink(settings, dest),
    )


def _dry_summary(plan: Plan, dest: Destination) -> SyncSummary:
    from .engine.plan import with_refused

    summary = SyncSummary(
        repo=str(plan.snapshot.repo),
        commit=plan.snapshot.commit,
        destination=str(dest),
        skipped=len(plan.to_skip),
        bytes_skipped=sum(f.file.size for f in plan.to_skip),
    )
    return with_refused(summary, plan.refused)


# --------------------------------------------------------------------------- the service


def _destination_settings(settings: Settings, spec: DestinationSpec) -> Settings:
    """The server's settings with one configured destination's URL, endpoint and credentials."""
    import os

    from pydantic import SecretStr

    update: dict[str, object] = {"dest": spec.url}
    if spec.endpoint:
        update["endpoint_url"] = spec.endpoint
    if spec.region:
        update["aws_region"] = spec.region
    if spec.profile:
        # botocore reads the profile (files, SSO, assume-role): no credential parsing of ours.
        import botocore.session

        creds = botocore.session.Session(profile=spec.profile).get_credentials()
        if creds is None:
            raise CredentialsError(
                f"destination {spec.name}: AWS profile {spec.profile!r} has no credentials"
            )
        frozen = creds.get_frozen_credentials()
        update |= {
            "aws_access_key_id": frozen.access_key,
            "aws_secret_access_key": SecretStr(frozen.secret_key or ""),
            "aws_session_token": SecretStr(frozen.token) if frozen.token else None,
        }
    for field, env in (
        ("aws_access_key_id", spec.access_key_id_env),
        ("aws_secret_access_key", spec.secret_access_key_env),
        ("aws_session_token", spec.session_token_env),
    ):
        if env:
            value = os.environ.get(env)
            if not value:
                raise CredentialsError(
                    f"destination {spec.name}: environment variable {env} is not set"
                )
            update[field] = value if field == "aws_access_key_id" else SecretStr(value)
    return settings.model_copy(update=update)


@dataclass
class _Targets:
    """Each configured destination's sink, built on first use and kept (they pool connections)."""

    settings: Settings
    destinations: Destinations
    sink: ObjectSink | None  # one injected sink for every destination (tests)
    built: dict[str, Target]

    def __call__(self, name: str) -> Target:
        from .service.context import Target

        target = self.built.get(name)
        if target is None:
            spec = self.destinations.choose(name)
            local = _destination_settings(self.settings, spec)
            dest = destination_of(local)
            sink = self.sink if self.sink is not None else build_sink(local, dest)
            target = Target(name, dest.id, dest.prefix, sink, build_reader(sink))
            self.built[name] = target
        return target


def _mirror_schedule(settings: Settings) -> MirrorSchedule:
    """The scheduled mirrors, in a table of the service's state file."""
    from .state.mirrors import SqliteMirrorSchedule
    from .state.paths import default_state_path

    return SqliteMirrorSchedule(settings.state or default_state_path())


@contextmanager
def _reaper(settings: Settings, store: JobStore, *, injected: bool) -> Iterator[None]:
    """On PostgreSQL, the cluster's reaper loop beside every `serve` and `worker`
    (state/pg_reaper.py): it gives back the jobs of workers silent past the stall timeout and
    of transfers hung past their size-scaled timeout, whoever is claiming. SQLite needs none:
    one host, whose claims take expired leases back themselves."""
    if settings.db is None or injected:
        yield
        return
    import threading

    from .state.pg_reaper import start_reaper
    from .state.postgres import PostgresJobStore

    assert isinstance(store, PostgresJobStore)  # what open_state builds when DATA4R2_DB is set
    stop = threading.Event()
    reaper = start_reaper(store, stop)
    try:
        yield
    finally:
        stop.set()
        reaper.join()  # a round in progress ends before the store closes under it


def retire_worker(store: JobStore, worker: str) -> None:
    """A worker process leaving cleanly, its jobs finished or given back: on PostgreSQL its
    heartbeat row goes now, rather than being taken for a dead worker's by the reaper a stall
    timeout later. The SQLite store keeps no such row."""
    retire = getattr(store, "retire_worker", None)  # not in the JobStore port: a cluster duty
    if not callable(retire):
        return
    try:
        retire(worker)
    except Exception as e:  # best effort on the way out: the reaper prunes the row later anyway
        import logging

        logging.getLogger(__name__).warning("could not retire worker %s: %s", worker, e)


@contextmanager
def service_context(
    settings: Settings,
    destinations: Destinations,
    *,
    api_token: str | None,
    emit: Emit,
    overrides: Overrides = NO_OVERRIDES,
) -> Iterator[ServiceContext]:
    """Build what `serve` runs on: the hub, the state store and each destination's sink."""
    from . import __version__
    from .service.auth import BearerToken
    from .service.context import ServiceContext

    targets = _Targets(settings, destinations, overrides.sink, {})
    for name in destinations.names:  # fail at start, not on the first request
        targets(name)
    hub = overrides.hub or build_hub(settings)
    mirrors = _mirror_schedule(settings) if overrides.store is None else None
    try:
        with (
            _store(settings, overrides.store, persistent=True) as store,
            _reaper(settings, store, injected=overrides.store is not None),
        ):
            yield ServiceContext(
                store=store,
                hub=hub,
                destinations=destinations,
                target=targets,
                options=settings.sync_options(),
                auth=BearerToken(api_token),
                version=__version__,
                hub_endpoint=settings.hf_endpoint,
                emit=emit,
                mirrors=mirrors,
            )
    finally:
        if mirrors is not None:
            _close(mirrors)
        for target in targets.built.values():
            if overrides.sink is None:
                _close(target.sink)
        if overrides.hub is None:
            _close(hub)
