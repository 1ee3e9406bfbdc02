"""shadowdiff as a pytest plugin: parity of a rewritten service as one test item per endpoint.

Registered through the ``pytest11`` entry point, so every pytest run of a project that
installs shadowdiff loads it. It is inert unless asked: it adds options and a marker, and
collects nothing and imports nothing heavy without ``--shadowdiff-db``. With it::

    pytest --shadowdiff-db traffic.db --shadowdiff-target http://127.0.0.1:8001 \\
        [--shadowdiff-baseline URL | --shadowdiff-primary URL [--shadowdiff-secondary URL]] \\
        [--shadowdiff-session NAME] [--shadowdiff-rules FILE] [--shadowdiff-accepted FILE] \\
        [--shadowdiff-openapi URL|FILE]

the recorded session is replayed to the target (and the baseline; in lockstep to the primary,
the target and the secondary, the primary's answers being the old side) and diffed once per test
session, at the first parity item that runs; each endpoint is an item
``shadowdiff::POST /predict/`` marked ``shadowdiff`` (``-m shadowdiff``, ``-k predict``,
``-x`` and ``--junitxml`` work on them). The ``shadowdiff_run`` fixture gives hand-written
tests the run (``shadowdiff.parity.ParityRun``) for their own assertions.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from shadowdiff.parity import ParityOptions, ParityRun

MARKER = "shadowdiff"
COLLECTOR = "shadowdiff"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("shadowdiff", "shadowdiff parity (replay recorded traffic, diff)")
    group.addoption(
        "--shadowdiff-db", metavar="FILE", help="shadowdiff database with recorded traffic."
    )
    group.addoption("--shadowdiff-target", metavar="URL", help="The new service.")
    group.addoption("--shadowdiff-baseline", metavar="URL", help="The old service again (noise).")
    group.addoption(
        "--shadowdiff-primary",
        metavar="URL",
        help="Lockstep: a live old instance; the diff compares its answers with the target's.",
    )
    group.addoption(
        "--shadowdiff-secondary",
        metavar="URL",
        help="Lockstep: a second old instance beside --shadowdiff-primary (noise).",
    )
    group.addoption("--shadowdiff-session", metavar="NAME", help="Session (default: latest).")
    group.addoption("--shadowdiff-rules", metavar="FILE", help="Rules file.")
    group.addoption("--shadowdiff-accepted", metavar="FILE", help="Accepted-differences file.")
    group.addoption("--shadowdiff-openapi", metavar="URL|FILE", help="The service's OpenAPI spec.")


def _options(config: pytest.Config) -> ParityOptions | None:
    db = config.getoption("shadowdiff_db", None)
    if not db:
        return None
    target = config.getoption("shadowdiff_target")
    if not target:
        raise pytest.UsageError("--shadowdiff-db needs --shadowdiff-target URL (the new service)")
    primary, secondary = _lockstep(config)
    from shadowdiff.parity import ParityOptions

    def path(name: str) -> Path | None:
        value = config.getoption(name)
        return Path(value) if value else None

    return ParityOptions(
        db=Path(db),
        target=target,
        baseline=config.getoption("shadowdiff_baseline"),
        primary=primary,
        secondary=secondary,
        session=config.getoption("shadowdiff_session"),
        rules=path("shadowdiff_rules"),
        accepted=path("shadowdiff_accepted"),
        openapi=config.getoption("shadowdiff_openapi"),
        search_dir=config.rootpath,
    )


def _lockstep(config: pytest.Config) -> tuple[str | None, str | None]:
    """--shadowdiff-primary and --shadowdiff-secondary, checked against --shadowdiff-baseline."""
    primary = config.getoption("shadowdiff_primary")
    secondary = config.getoption("shadowdiff_secondary")
    if secondary and not primary:
        raise pytest.UsageError("--shadowdiff-secondary needs --shadowdiff-primary URL")
    if primary and config.getoption("shadowdiff_baseline"):
        raise pytest.UsageError(
            "--shadowdiff-baseline and --shadowdiff-primary exclude each other: in lockstep "
            "the second old instance is --shadowdiff-secondary URL"
        )
    return primary, secondary


class _Parity:
    """The test session's one replay-and-diff, run on first use; its failure is kept."""

    def __init__(self, options: ParityOptions) -> None:
        self.options = options
        self._run: ParityRun | None = None
        self._error: Exception | None = None

    def run(self) -> ParityRun:
        if self._run is None and self._error is None:
            from shadowdiff.parity import run_parity

            try:
                self._run = run_parity(self.options)
            except Exception as exc:  # noqa: BLE001 - kept, and raised for every item
                self._error = exc
        if self._error is not None:
            raise self._error
        assert self._run is not None
        return self._run


_KEY = pytest.StashKey[_Parity]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARKER}: a shadowdiff parity item (one endpoint's replayed traffic)"
    )
    options = _options(config)
    if options is not None:
        config.stash[_KEY] = _Parity(options)


class ParityFailure(AssertionError):
    """An endpoint whose replayed traffic differs; the message is the whole explanation."""


class ParityItem(pytest.Item):
    """One endpoint: passes when the gate has nothing to say about it."""

    def __init__(self, *, endpoint: str, **kw: Any) -> None:
        super().__init__(**kw)
        self.endpoint = endpoint
        self.add_marker(MARKER)

    def runtest(self) -> None:
        run = self.config.stash[_KEY].run()
        if run.failures(self.endpoint):
            raise ParityFailure(run.explain(self.endpoint))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        from shadowdiff.errors import ShadowdiffError

        if isinstance(excinfo.value, ParityFailure):
            return str(excinfo.value)
        if isinstance(excinfo.value, ShadowdiffError):
            return f"shadowdiff: {str(excinfo.value).splitlines()[0]}"
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        # the failure's headline; not a suffix of the node id, which pytest would re-spell
        return self.path, None, f"{COLLECTOR}: {self.endpoint}"


class ParityCollector(pytest.Collector):
    """The items: one per endpoint of the recorded session."""

    def __init__(self, *, endpoints: list[str], **kw: Any) -> None:
        super().__init__(**kw)
        self.endpoints = endpoints

    def collect(self) -> list[pytest.Item]:
        return [ParityItem.from_parent(self, name=ep, endpoint=ep) for ep in self.endpoints]


@pytest.hookimpl(tryfirst=True)  # before -m / -k deselect
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    if _KEY not in config.stash:
        return
    from shadowdiff.errors import ShadowdiffError
    from shadowdiff.parity import planned_endpoints

    try:
        endpoints = planned_endpoints(config.stash[_KEY].options)
    except ShadowdiffError as exc:
        raise pytest.UsageError(f"shadowdiff: {str(exc).splitlines()[0]}") from None
    collector = ParityCollector.from_parent(
        session, name=COLLECTOR, nodeid=COLLECTOR, endpoints=endpoints
    )
    report = collector.ihook.pytest_make_collect_report(collector=collector)
    collector.ihook.pytest_collectreport(report=report)  # counted as collected, like any
    items.extend(x for x in report.result if isinstance(x, pytest.Item))


@pytest.fixture(scope="session")
def shadowdiff_run(pytestconfig: pytest.Config) -> ParityRun:
    """The session's replayed and diffed run (``shadowdiff.parity.ParityRun``): ``.run``,
    ``.summary``, ``.gate``, ``.report``, ``.failures(endpoint)``, ``.db``."""
    if _KEY not in pytestconfig.stash:
        pytest.fail(
            "shadowdiff_run needs --shadowdiff-db FILE and --shadowdiff-target URL", pytrace=False
        )
    return pytestconfig.stash[_KEY].run()
