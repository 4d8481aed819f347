"""Demo mode: a simulated SageMaker fleet, so `sagemaker-exporter --demo` needs no AWS account.

moto (the optional ``demo`` extra) serves SageMaker and STS on 127.0.0.1; a driver thread
creates training jobs and moves them through realistic lifecycles. The exporter polls it
through its normal aiobotocore code path; only the endpoint and credentials differ.

Interface::

    @dataclass(frozen=True)
    class DemoTarget:
        region: str
        account_id: str
        role_arn: str | None   # None = the default (base-credentials) account

    class DemoEnvironment:
        def __init__(self, *, seed: int = 1, speed: float = 30.0,
                     regions: tuple[str, ...] = ("us-east-1", "eu-west-1")) -> None: ...
        endpoint_url: str       # valid after start(); use it for sagemaker AND sts
        access_key_id: str      # dummy base credentials the exporter must use
        secret_access_key: str
        targets: list[DemoTarget]  # every (region, account) to poll: each region in
                                   # 123456789012 (role_arn None) and in 210987654321
                                   # (role_arn arn:aws:iam::210987654321:role/sagemaker-exporter-demo,
                                   # reached with sts:AssumeRole from the base credentials)
        def start(self) -> None  # starts moto on 127.0.0.1:0, inserts the initial fleet
                                 # synchronously (a first poll sees every primary status),
                                 # then starts the driver (a daemon thread)
        def stop(self) -> None   # stops the driver and moto, frees the port, removes the
                                 # demo's jobs from moto; idempotent, fast (< 2 s)

Also a context manager (``with DemoEnvironment() as env:``). One environment per process at a
time: moto's backend is process-global, so start() refuses a second concurrent one.

``speed`` divides nominal phase durations: at 30 a typical job lives a few real minutes. All
timestamps are real wall-clock times, never in the future; waits that alerts need (stuck in
Starting > 30 min, > 90 % of MaxRuntimeInSeconds, metrics stale > 1 h, a day on 8 instances)
are backdated at creation. A hyperparameter sweep in one target ends 35-65 real seconds after
start(), whatever the speed, most trials Failed: a failure burst a poller sees happen.
``seed`` fixes job names, scenarios, instances, metrics and outcomes. Every job carries tags
team, project and demo-scenario, and the canary "DEMO-SECRET-CANARY" in its HyperParameters
and Environment (the exporter must never show it).

The LLM fine-tunes (team nlp) report ProgressInfo and MlflowDetails; every group of trials
sharing a TuningJobArn has a hyperparameter tuning job in moto whose counters and best
objective follow its trials (extras). The exporter prices the fleet with prices.yaml.

Modules: fleet (environment and driver), initial (the fleet at start), lifecycles (scenario
steps and outcomes), jobs (static configuration), plan (pure timeline -> describe fields),
catalog (vocabulary), extras (progress, MLflow, tuning jobs), moto_backend (the only code
touching moto and its internals).
"""

from exporter.demo.catalog import SCENARIO_TAG, SECRET_CANARY
from exporter.demo.fleet import DemoEnvironment, DemoTarget

__all__ = ["SCENARIO_TAG", "SECRET_CANARY", "DemoEnvironment", "DemoTarget"]
