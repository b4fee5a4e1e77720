"""The one composition root: Settings → adapters → engine. Nothing else constructs adapters.

Adapters are imported inside the functions that build them: the CLI stays quick to start
(`--help` loads neither boto3 nor huggingface_hub) and a test that injects its own adapters
never imports the real ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .destination import Destination, Kind, parse_destination
from .domain import CredentialsError, Event, Plan, RepoRef, SyncSummary, UsageError
from .settings import Settings

if TYPE_CHECKING:
    from .doctor import DoctorReport
    from .engine.sync import SyncEngine
    from .engine.verify import VerifyReport
    from .ports import HubSource, JobStore, MirrorReader, MirrorSchedule, ObjectSink
    from .service.context import ServiceContext, Target
    from .service.destinations import Destinations, DestinationSpec
    from .sinks.s3 import S3Sink

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
    from .hub.client import HubClient

    token = settings.token.get_secret_value() if settings.token else None
    ca = str(settings.hub_ca_bundle) if settings.hub_ca_bundle else None
    # token None: HubClient falls back to huggingface_hub's own lookup (`hf auth login`).
    return HubClient(settings.hf_endpoint, token, ca_bundle=ca)  # it names data4r2 in its UA


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
    """(endpoint URL, SigV4 region) of a bucket destination: R2 signs for `auto` (r2.md §1)."""
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


@contextmanager
def _store(
    settings: Settings, override: JobStore | None, *, persistent: bool
) -> Iterator[JobStore]:
    if override is not None:
        yield override
        return
    store: JobStore
    if persistent:
        from .state.paths import default_state_path
        from .state.sqlite import SqliteJobStore

        store = SqliteJobStore(settings.state or default_state_path())
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


def run_sync(settings: Settings, emit: Emit, *, overrides: Overrides = NO_OVERRIDES) -> SyncSummary:
    """Plan, record in the state store and copy. A dry run plans only, whoever asks for it."""
    if settings.dry_run:
        plan = run_plan(settings, emit, overrides=overrides)
        return _dry_summary(plan, destination_of(settings))
    with (
        wire(settings, overrides) as w,
        _store(settings, overrides.store, persistent=True) as store,
    ):
        w.sink.check()
        engine = _engine(w, store, settings, emit)
        return engine.run(engine.plan(w.repo))


def run_plan(settings: Settings, emit: Emit, *, overrides: Overrides = NO_OVERRIDES) -> Plan:
    """The plan only (`--dry-run`): files, bytes, what would be skipped. Writes nothing."""
    with (
        wire(settings, overrides) as w,
        _store(settings, overrides.store, persistent=False) as store,
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
    from .doctor import diagnose

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
    return SyncSummary(
        repo=str(plan.snapshot.repo),
        commit=plan.snapshot.commit,
        destination=str(dest),
        skipped=len(plan.to_skip),
        bytes_skipped=sum(f.file.size for f in plan.to_skip),
    )


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
        with _store(settings, overrides.store, persistent=True) as store:
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
