"""Prometheus metrics of the service, served at ``/metrics`` when ``enable_metrics`` is on.

The nine request and cache-hit counters keep the names, help texts and text
format of the original Sandkasten, so its dashboards and alerts keep working.
Our own additions follow them:

* ``sandkasten_jobs_running`` and ``sandkasten_job_duration_seconds{step, environment}``;
* ``sandkasten_compile_errors_total{environment}`` (compile steps that exited non-zero) and
  ``sandkasten_limits_exceeded_total{step, environment, limit}`` (one per limit a job ran into);
* ``sandkasten_http_responses_total{status}``, by status class (2xx, 3xx, 4xx, 5xx);
* ``sandkasten_requests_in_progress`` and ``sandkasten_requests_waiting`` (build and run requests
  holding a job slot, and waiting for one), ``sandkasten_slot_wait_seconds`` (how long they
  waited) and ``sandkasten_requests_refused_total`` (refused at once: `max_queued_jobs` waited);
* ``sandkasten_memory_budget_mb``, ``sandkasten_memory_reserved_mb`` and
  ``sandkasten_jobs_waiting_for_memory`` (the memory budget, what running jobs hold of it, and
  jobs waiting for room);
* the process collector's ``process_*`` (CPU, memory, open files of the daemon).

No ``*_created`` series: nobody reads them, and they double every family.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from collections.abc import Callable

from prometheus_client import (
    CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector, disable_created_metrics,
    generate_latest,
)

__all__ = ["COUNTERS", "LIMITS", "PREFIX", "STEPS", "UNKNOWN_ENVIRONMENT", "Metrics"]

PREFIX = "sandkasten_"
UNKNOWN_ENVIRONMENT = "__unknown__"
STEPS = ("compile", "run")
LIMITS = ("time", "memory", "filesize", "processes", "stdout_max_size", "stderr_max_size")
STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")

# Counter name (without PREFIX) -> (help text, whether it has the "environment" label).
COUNTERS: dict[str, tuple[str, bool]] = {
    "config_requests": ("Number of config requests", False),
    "environments_requests": ("Number of environments requests", False),
    "resource_usage_requests": ("Number of resource_usage requests", True),
    "build_run_requests": ("Number of build_run requests", True),
    "build_requests": ("Number of build requests", True),
    "run_requests": ("Number of run requests", False),
    "resource_usage_cache_hits": ("Number of cache hits in resource_usage", True),
    "build_run_cache_hits": ("Number of cache hits in build_run", True),
    "build_cache_hits": ("Number of cache hits in build", True),
}

# From a few milliseconds (cached or trivial programs) up to the longest time
# limits an operator is likely to allow.
_DURATION_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


def _escape_label_value(value: str) -> str:
    """Escape a label value for the Prometheus text format."""
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class Metrics:
    """The metrics of one app instance, each in its own registry.

    The ``environment`` label of the counters and of the job histogram only
    takes the environment ids given to the constructor. Any other value (a
    request may name an environment that does not exist) is counted under
    ``__unknown__``, so clients cannot grow the number of time series without
    bound. The original used the raw request value there.

    The counters are written by hand, not by ``prometheus_client``, because
    that library renames every counter to ``<name>_total`` and adds
    ``<name>_created`` samples; the original's exact names need neither. The
    job metrics are ordinary ``prometheus_client`` metrics in a registry that
    belongs to this instance (never the process-wide default), so two apps in
    one process do not clash.
    """

    CONTENT_TYPE: str = "text/plain; charset=utf-8"

    def __init__(self, environment_ids: Iterable[str]) -> None:
        self.environment_ids = frozenset(environment_ids)
        if UNKNOWN_ENVIRONMENT in self.environment_ids:
            raise ValueError(f"{UNKNOWN_ENVIRONMENT!r} is reserved and cannot be an environment id")
        # Requests may be served from several threads; the counters are plain ints.
        self._lock = threading.Lock()
        self._unlabelled = {name: 0 for name, (_, labelled) in COUNTERS.items() if not labelled}
        self._labelled: dict[str, dict[str, int]] = {
            name: {} for name, (_, labelled) in COUNTERS.items() if labelled
        }
        # Process-wide in prometheus_client (and one switch for all registries); set before any
        # metric exists.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = CollectorRegistry()
        self._jobs_running = Gauge(
            PREFIX + "jobs_running",
            "Number of jobs (compile or run steps) running in a sandbox",
            registry=self.registry,
        )
        self._job_duration = Histogram(
            PREFIX + "job_duration_seconds",
            "Wall time of finished jobs in seconds, per step and environment",
            ["step", "environment"],
            buckets=_DURATION_BUCKETS,
            registry=self.registry,
        )
        self._compile_errors = Counter(
            PREFIX + "compile_errors", "Compile steps that exited non-zero, per environment",
            ["environment"], registry=self.registry)
        self._limits_exceeded = Counter(
            PREFIX + "limits_exceeded", "Limits jobs ran into, per step, environment and limit",
            ["step", "environment", "limit"], registry=self.registry)
        self._responses = Counter(
            PREFIX + "http_responses", "HTTP responses by status class", ["status"],
            registry=self.registry)
        self._in_progress = Gauge(
            PREFIX + "requests_in_progress", "Build and run requests holding a job slot",
            registry=self.registry)
        self._waiting = Gauge(
            PREFIX + "requests_waiting", "Build and run requests waiting for a job slot",
            registry=self.registry)
        self._refused = Counter(
            PREFIX + "requests_refused",
            "Build and run requests refused at once with 503 because max_queued_jobs requests waited",
            registry=self.registry)
        self._token_requests = Counter(
            PREFIX + "token_requests", "Requests with a valid token, by the token's subject",
            ["subject"], registry=self.registry)
        self._slot_wait = Histogram(
            PREFIX + "slot_wait_seconds", "Seconds build and run requests waited for a job slot",
            buckets=_DURATION_BUCKETS, registry=self.registry)
        self._memory_budget = Gauge(
            PREFIX + "memory_budget_mb", "MB the memory limits of the running jobs may add up to",
            registry=self.registry)
        self._memory_reserved = Gauge(
            PREFIX + "memory_reserved_mb", "MB of the memory budget held by running jobs",
            registry=self.registry)
        self._memory_waiting = Gauge(
            PREFIX + "jobs_waiting_for_memory", "Jobs waiting for room in the memory budget",
            registry=self.registry)
        ProcessCollector(registry=self.registry)

    def environment_label(self, environment: str) -> str:
        """Return the label value recorded for ``environment``."""
        return environment if environment in self.environment_ids else UNKNOWN_ENVIRONMENT

    def inc(self, counter: str, environment: str | None = None) -> None:
        """Add one to ``counter`` (a COUNTERS key), under ``environment`` if it has that label."""
        if counter not in COUNTERS:
            raise ValueError(f"unknown counter {counter!r}")
        labelled = COUNTERS[counter][1]
        if labelled != (environment is not None):
            raise ValueError(
                f"counter {counter!r} {'needs' if labelled else 'takes no'} environment"
            )
        with self._lock:
            if environment is None:
                self._unlabelled[counter] += 1
            else:
                children = self._labelled[counter]
                label = self.environment_label(environment)
                children[label] = children.get(label, 0) + 1

    def watch_slots(self, in_progress: Callable[[], float], waiting: Callable[[], float]) -> None:
        """Read the job slots' counts whenever the metrics are scraped."""
        self._in_progress.set_function(in_progress)
        self._waiting.set_function(waiting)

    def slot_waited(self, seconds: float) -> None:
        """A request got its job slot after `seconds`."""
        self._slot_wait.observe(seconds)

    def token_used(self, subject: str) -> None:
        """A request came with a valid token of `subject` (tokens are issued by the operator,
        so their subjects are a bounded set)."""
        self._token_requests.labels(subject=subject).inc()

    def slot_refused(self) -> None:
        """A request was refused: the queue for job slots was full."""
        self._refused.inc()

    def watch_memory(self, budget_mb: float, reserved: Callable[[], float], waiting: Callable[[], float]) -> None:
        """Read the memory budget's counts whenever the metrics are scraped."""
        self._memory_budget.set(budget_mb)
        self._memory_reserved.set_function(reserved)
        self._memory_waiting.set_function(waiting)

    def job_done(self, step: str, environment: str, exit_code: int, exceeded: list[str]) -> None:
        """Count how a job ended: a failed compile step, the limits it ran into."""
        label = self.environment_label(environment)
        if step == "compile" and exit_code != 0:
            self._compile_errors.labels(environment=label).inc()
        for limit in exceeded:
            if limit in LIMITS:  # a bounded label set, whatever a runner reports
                self._limits_exceeded.labels(step=step, environment=label, limit=limit).inc()

    def response(self, status: int) -> None:
        """Count an HTTP response by its status class."""
        status_class = f"{status // 100}xx"
        if status_class in STATUS_CLASSES:
            self._responses.labels(status=status_class).inc()

    def job_started(self) -> None:
        """Count a job as running."""
        self._jobs_running.inc()

    def job_finished(self, step: str, environment: str, seconds: float) -> None:
        """Count a job as no longer running and record how long it took."""
        if step not in STEPS:
            raise ValueError(f"unknown step {step!r}")
        self._jobs_running.dec()
        label = self.environment_label(environment)
        self._job_duration.labels(step=step, environment=label).observe(seconds)

    @contextmanager
    def track_job(self, step: str, environment: str) -> Iterator[None]:
        """Wrap one job: running while inside, its wall time recorded however it ends."""
        if step not in STEPS:
            raise ValueError(f"unknown step {step!r}")  # before the gauge moves
        self.job_started()
        start = time.monotonic()
        try:
            yield
        finally:
            self.job_finished(step, environment, time.monotonic() - start)

    def exposition(self) -> bytes:
        """Return all metrics in the Prometheus text format (served with CONTENT_TYPE)."""
        return self._counters_text().encode() + generate_latest(self.registry)

    def _counters_text(self) -> str:
        """Render the original's counters as its Prometheus library did: sorted, integer values."""
        with self._lock:
            unlabelled = dict(self._unlabelled)
            labelled = {name: dict(children) for name, children in self._labelled.items()}
        lines = []
        for counter in sorted(COUNTERS):
            if counter in labelled:
                samples = [
                    (f'{{environment="{_escape_label_value(env)}"}}', value)
                    for env, value in sorted(labelled[counter].items())
                ]
                if not samples:
                    continue  # a labelled family shows up with its first sample
            else:
                samples = [("", unlabelled[counter])]
            name = PREFIX + counter
            lines.append(f"# HELP {name} {COUNTERS[counter][0]}")
            lines.append(f"# TYPE {name} counter")
            lines.extend(f"{name}{labels} {value}" for labels, value in samples)
        return "".join(line + "\n" for line in lines)
