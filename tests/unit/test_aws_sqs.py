"""Where the event source sends its SQS calls: the queue URL's own endpoint and region."""

from __future__ import annotations

import pytest

from exporter.aws.sqs import queue_endpoint, queue_region


@pytest.mark.parametrize(
    ("url", "endpoint", "region"),
    [
        (
            "https://sqs.eu-west-1.amazonaws.com/111122223333/q",
            "https://sqs.eu-west-1.amazonaws.com",
            "eu-west-1",
        ),
        (
            "https://sqs.cn-north-1.amazonaws.com.cn/111122223333/q",
            "https://sqs.cn-north-1.amazonaws.com.cn",
            "cn-north-1",
        ),
        (
            "https://sqs.us-gov-west-1.amazonaws.com/111122223333/q",
            "https://sqs.us-gov-west-1.amazonaws.com",
            "us-gov-west-1",
        ),
        # the legacy form
        (
            "https://ap-southeast-2.queue.amazonaws.com/111122223333/q",
            "https://ap-southeast-2.queue.amazonaws.com",
            "ap-southeast-2",
        ),
        # an interface VPC endpoint
        (
            "https://vpce-0a1b2c3d-ab12cd34.sqs.us-east-2.vpce.amazonaws.com/111122223333/q",
            "https://vpce-0a1b2c3d-ab12cd34.sqs.us-east-2.vpce.amazonaws.com",
            "us-east-2",
        ),
        # a local server (moto in the tests and the demo): the default region
        ("http://127.0.0.1:5000/123456789012/q", "http://127.0.0.1:5000", "default-1"),
    ],
)
def test_endpoint_and_region_come_from_the_queue_url(url: str, endpoint: str, region: str) -> None:
    assert queue_endpoint(url) == endpoint
    assert queue_region(url, "default-1") == region


def test_a_url_without_scheme_or_host_is_refused() -> None:
    for url in ("sqs.us-east-1.amazonaws.com/1/q", "file:///tmp/q", "https:///1/q"):
        with pytest.raises(ValueError, match="SQS queue URL"):
            queue_endpoint(url)
