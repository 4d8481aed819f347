"""The self-metrics carry no prometheus_client `*_created` series (a second series for
every counter and histogram child, which nothing reads), and stay valid text."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from exporter.metrics.cloudwatch_self import CloudWatchMetrics
from exporter.metrics.selfmetrics import SelfMetrics


def test_no_created_series_after_counters_and_histograms_moved() -> None:
    m = SelfMetrics()
    m.init_target("us-east-1", "111122223333")
    m.api_requests.labels("ListTrainingJobs", "us-east-1", "111122223333", "ok").inc()
    m.api_duration.labels("ListTrainingJobs").observe(0.1)
    cw = CloudWatchMetrics()
    cw.init_target("us-east-1", "111122223333")
    for text in (m.exposition().decode(), cw.exposition().decode()):
        names = {s.name for f in text_string_to_metric_families(text) for s in f.samples}
        assert names, "no samples at all"
        assert not [n for n in names if n.endswith("_created")]
    names = {
        s.name for f in text_string_to_metric_families(m.exposition().decode()) for s in f.samples
    }
    # what stays: the counter and the histogram themselves
    assert "sagemaker_exporter_api_requests_total" in names
    assert "sagemaker_exporter_api_request_duration_seconds_count" in names
