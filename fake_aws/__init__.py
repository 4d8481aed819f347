"""A fake AWS for benchmarks and tests: SageMaker (training and tuning jobs), CloudWatch
GetMetricData, STS and the Price List API, in one aiohttp server with faults, latency and rate
limits that a test or another process can switch at runtime.

server (FakeSageMaker, the HTTP front), cli (`python -m fake_aws --help`), control (the
/_fake/ control plane), data (generated training jobs), fields (their optional fields), ops
(list/describe/search/tags), tuning, cloudwatch, sts, pricing (one module per API), faults
(fault rules, token buckets, call counts). Nothing here imports bench/, tests/ or exporter/.
"""
