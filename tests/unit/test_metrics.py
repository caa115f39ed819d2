"""Tests of the Prometheus metrics (sandkasten_py.metrics)."""

from __future__ import annotations

import re

import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from sandkasten_py.metrics import COUNTERS, UNKNOWN_ENVIRONMENT, Metrics

ENVIRONMENTS = ["python", "rust"]

# What the original exposes before any request: the unlabelled counters only.
INITIAL_COUNTERS = """\
# HELP sandkasten_config_requests Number of config requests
# TYPE sandkasten_config_requests counter
sandkasten_config_requests 0
# HELP sandkasten_environments_requests Number of environments requests
# TYPE sandkasten_environments_requests counter
sandkasten_environments_requests 0
# HELP sandkasten_run_requests Number of run requests
# TYPE sandkasten_run_requests counter
sandkasten_run_requests 0
"""


def _text(metrics: Metrics) -> str:
    return metrics.exposition().decode("utf-8")


def _counter_part(metrics: Metrics) -> str:
    """The exposition up to our own additions (which come after the original's counters)."""
    text = _text(metrics)
    return text[: text.index("# HELP sandkasten_jobs_running")]


def _sample_lines(metrics: Metrics, family: str) -> list[str]:
    return [line for line in _text(metrics).splitlines()
            if re.match(rf"{family}(\{{| )", line)]


def test_initial_exposition_has_the_unlabelled_counters_at_zero() -> None:
    assert _counter_part(Metrics(ENVIRONMENTS)) == INITIAL_COUNTERS


def test_all_nine_counters_after_one_request_each() -> None:
    metrics = Metrics(ENVIRONMENTS)
    for counter, (_, labelled) in COUNTERS.items():
        metrics.inc(counter, "python" if labelled else None)
    metrics.inc("build_requests", "rust")
    metrics.inc("build_requests", "rust")
    assert _counter_part(metrics) == """\
# HELP sandkasten_build_cache_hits Number of cache hits in build
# TYPE sandkasten_build_cache_hits counter
sandkasten_build_cache_hits{environment="python"} 1
# HELP sandkasten_build_requests Number of build requests
# TYPE sandkasten_build_requests counter
sandkasten_build_requests{environment="python"} 1
sandkasten_build_requests{environment="rust"} 2
# HELP sandkasten_build_run_cache_hits Number of cache hits in build_run
# TYPE sandkasten_build_run_cache_hits counter
sandkasten_build_run_cache_hits{environment="python"} 1
# HELP sandkasten_build_run_requests Number of build_run requests
# TYPE sandkasten_build_run_requests counter
sandkasten_build_run_requests{environment="python"} 1
# HELP sandkasten_config_requests Number of config requests
# TYPE sandkasten_config_requests counter
sandkasten_config_requests 1
# HELP sandkasten_environments_requests Number of environments requests
# TYPE sandkasten_environments_requests counter
sandkasten_environments_requests 1
# HELP sandkasten_resource_usage_cache_hits Number of cache hits in resource_usage
# TYPE sandkasten_resource_usage_cache_hits counter
sandkasten_resource_usage_cache_hits{environment="python"} 1
# HELP sandkasten_resource_usage_requests Number of resource_usage requests
# TYPE sandkasten_resource_usage_requests counter
sandkasten_resource_usage_requests{environment="python"} 1
# HELP sandkasten_run_requests Number of run requests
# TYPE sandkasten_run_requests counter
sandkasten_run_requests 1
"""


def test_no_total_or_created_samples_for_the_counters() -> None:
    metrics = Metrics(ENVIRONMENTS)
    for counter, (_, labelled) in COUNTERS.items():
        metrics.inc(counter, "rust" if labelled else None)
    text = _text(metrics)
    for counter in COUNTERS:
        assert f"sandkasten_{counter}_total" not in text
        assert f"sandkasten_{counter}_created" not in text


def test_unknown_environments_are_folded() -> None:
    metrics = Metrics(ENVIRONMENTS)
    metrics.inc("build_requests", "python")
    metrics.inc("build_requests", "no-such-env")
    metrics.inc("build_requests", 'evil"\n{label}')
    metrics.inc("build_requests", "")
    metrics.inc("build_cache_hits", "Python")  # ids are case-sensitive
    assert _sample_lines(metrics, "sandkasten_build_requests") == [
        'sandkasten_build_requests{environment="__unknown__"} 3',
        'sandkasten_build_requests{environment="python"} 1',
    ]
    assert _sample_lines(metrics, "sandkasten_build_cache_hits") == [
        'sandkasten_build_cache_hits{environment="__unknown__"} 1',
    ]
    assert metrics.environment_label("rust") == "rust"
    assert metrics.environment_label("ruby") == UNKNOWN_ENVIRONMENT


def test_the_unknown_label_cannot_be_an_environment_id() -> None:
    with pytest.raises(ValueError):
        Metrics(["python", UNKNOWN_ENVIRONMENT])


def test_misuse_is_rejected() -> None:
    metrics = Metrics(ENVIRONMENTS)
    with pytest.raises(ValueError):
        metrics.inc("no_such_counter")
    with pytest.raises(ValueError):
        metrics.inc("build_requests")  # needs an environment
    with pytest.raises(ValueError):
        metrics.inc("config_requests", "python")  # has no environment label
    with pytest.raises(ValueError):
        metrics.job_finished("link", "python", 1.0)
    assert _counter_part(metrics) == INITIAL_COUNTERS


def test_two_instances_are_independent() -> None:
    first, second = Metrics(ENVIRONMENTS), Metrics(["c"])
    first.inc("config_requests")
    first.inc("build_requests", "python")
    first.job_started()
    assert "sandkasten_config_requests 1\n" in _text(first)
    assert _counter_part(second) == INITIAL_COUNTERS
    assert _sample_lines(second, "sandkasten_jobs_running") == ["sandkasten_jobs_running 0.0"]
    assert first.registry is not second.registry


def test_the_default_registry_is_untouched() -> None:
    before = {metric.name for metric in REGISTRY.collect()}
    metrics = Metrics(ENVIRONMENTS)
    metrics.job_started()
    assert {metric.name for metric in REGISTRY.collect()} == before
    assert not any(name.startswith("sandkasten_") for name in before)


def test_job_gauge_and_duration_histogram() -> None:
    metrics = Metrics(ENVIRONMENTS)
    metrics.job_started()
    metrics.job_started()
    assert _sample_lines(metrics, "sandkasten_jobs_running") == ["sandkasten_jobs_running 2.0"]
    metrics.job_finished("compile", "rust", 0.3)
    metrics.job_finished("run", "whatever", 7.0)
    assert _sample_lines(metrics, "sandkasten_jobs_running") == ["sandkasten_jobs_running 0.0"]

    text = _text(metrics)
    assert "# TYPE sandkasten_job_duration_seconds histogram\n" in text
    compile_rust = 'environment="rust",step="compile"'
    assert f"sandkasten_job_duration_seconds_count{{{compile_rust}}} 1.0\n" in text
    assert f"sandkasten_job_duration_seconds_sum{{{compile_rust}}} 0.3\n" in text
    assert 'seconds_bucket{environment="rust",le="0.25",step="compile"} 0.0\n' in text
    assert 'seconds_bucket{environment="rust",le="0.5",step="compile"} 1.0\n' in text
    run_unknown = f'environment="{UNKNOWN_ENVIRONMENT}",step="run"'
    assert f"sandkasten_job_duration_seconds_count{{{run_unknown}}} 1.0\n" in text


def test_track_job_records_even_when_the_job_fails() -> None:
    metrics = Metrics(ENVIRONMENTS)
    with pytest.raises(RuntimeError):
        with metrics.track_job("run", "python"):
            running = _sample_lines(metrics, "sandkasten_jobs_running")
            assert running == ["sandkasten_jobs_running 1.0"]
            raise RuntimeError("sandbox died")
    assert _sample_lines(metrics, "sandkasten_jobs_running") == ["sandkasten_jobs_running 0.0"]
    count = 'sandkasten_job_duration_seconds_count{environment="python",step="run"} 1.0\n'
    assert count in _text(metrics)
    with pytest.raises(ValueError):
        with metrics.track_job("link", "python"):
            pass
    assert _sample_lines(metrics, "sandkasten_jobs_running") == ["sandkasten_jobs_running 0.0"]


def test_exposition_parses_as_prometheus_text() -> None:
    metrics = Metrics(ENVIRONMENTS)
    metrics.inc("build_run_requests", "python")
    metrics.job_finished("run", "python", 0.01)
    families = {family.name: family for family in text_string_to_metric_families(_text(metrics))}
    # The parser strips a "_total" suffix from counter names; ours have none to strip.
    assert families["sandkasten_build_run_requests"].type == "counter"
    assert families["sandkasten_config_requests"].samples[0].value == 0
    assert families["sandkasten_job_duration_seconds"].type == "histogram"
    assert Metrics.CONTENT_TYPE == "text/plain; charset=utf-8"


# ------------------------------------------------------------------ outcomes, slots, process


def test_no_created_series() -> None:
    metrics = Metrics(ENVIRONMENTS)
    metrics.job_done("run", "python", 0, [])
    metrics.response(200)
    with metrics.track_job("run", "python"):
        pass
    assert "_created" not in _text(metrics)


def test_compile_errors_and_exceeded_limits_are_counted_per_environment() -> None:
    metrics = Metrics(ENVIRONMENTS)
    metrics.job_done("compile", "rust", 1, [])
    metrics.job_done("compile", "rust", 0, [])  # a successful compile is not an error
    metrics.job_done("run", "python", 137, ["time"])
    metrics.job_done("run", "python", 137, ["memory", "processes"])
    metrics.job_done("run", "brainfuck", 137, ["time", "something-new"])
    assert _sample_lines(metrics, "sandkasten_compile_errors_total") == [
        'sandkasten_compile_errors_total{environment="rust"} 1.0']
    assert sorted(_sample_lines(metrics, "sandkasten_limits_exceeded_total")) == [
        f'sandkasten_limits_exceeded_total{{environment="{UNKNOWN_ENVIRONMENT}",limit="time",step="run"}} 1.0',
        'sandkasten_limits_exceeded_total{environment="python",limit="memory",step="run"} 1.0',
        'sandkasten_limits_exceeded_total{environment="python",limit="processes",step="run"} 1.0',
        'sandkasten_limits_exceeded_total{environment="python",limit="time",step="run"} 1.0',
    ]


def test_http_responses_by_status_class() -> None:
    metrics = Metrics(ENVIRONMENTS)
    for status in (200, 201, 307, 404, 422, 500, 999):
        metrics.response(status)
    assert sorted(_sample_lines(metrics, "sandkasten_http_responses_total")) == [
        'sandkasten_http_responses_total{status="2xx"} 2.0',
        'sandkasten_http_responses_total{status="3xx"} 1.0',
        'sandkasten_http_responses_total{status="4xx"} 2.0',
        'sandkasten_http_responses_total{status="5xx"} 1.0',
    ]


def test_requests_in_progress_and_waiting_are_read_at_scrape_time() -> None:
    metrics = Metrics(ENVIRONMENTS)
    counts = {"in_progress": 3, "waiting": 7}
    metrics.watch_slots(in_progress=lambda: counts["in_progress"], waiting=lambda: counts["waiting"])
    assert _sample_lines(metrics, "sandkasten_requests_in_progress") == ["sandkasten_requests_in_progress 3.0"]
    counts["waiting"] = 0
    assert _sample_lines(metrics, "sandkasten_requests_waiting") == ["sandkasten_requests_waiting 0.0"]


def test_the_process_collector_reports_the_daemon() -> None:
    families = {f.name for f in text_string_to_metric_families(_text(Metrics(ENVIRONMENTS)))}
    assert {"process_resident_memory_bytes", "process_cpu_seconds", "process_open_fds"} <= families
