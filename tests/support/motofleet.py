"""Test support: a moto SageMaker server on loopback, and jobs put into any state
through moto's backend objects (moto has no API to change a job's state)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import boto3
import requests
from moto.backends import get_backend
from moto.server import ThreadedMotoServer

DEFAULT_ACCOUNT = "123456789012"
SECOND_ACCOUNT = "210987654321"
SECOND_ROLE = f"arn:aws:iam::{SECOND_ACCOUNT}:role/sagemaker-exporter"
CANARY = "CANARY-s3cr3t-7f1d"


def utc(ts: float) -> dt.datetime:
    """moto keeps naive UTC datetimes."""
    return dt.datetime.fromtimestamp(ts, dt.UTC).replace(tzinfo=None)


class MotoSageMaker:
    def __init__(self) -> None:
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._clients: dict[str, Any] = {}

    def start(self) -> None:
        self.server.start()
        host, port = self.server.get_host_and_port()
        self.url = f"http://{host}:{port}"

    def stop(self) -> None:
        self.server.stop()

    def reset(self) -> None:
        requests.post(f"{self.url}/moto-api/reset", timeout=10).raise_for_status()

    def client(self, region: str = "us-east-1", **creds: str) -> Any:
        return boto3.client(
            "sagemaker",
            region_name=region,
            endpoint_url=self.url,
            aws_access_key_id=creds.get("key", "testing"),
            aws_secret_access_key=creds.get("secret", "testing"),
            aws_session_token=creds.get("token"),
        )

    def account_client(self, account: str, region: str) -> Any:
        if account == DEFAULT_ACCOUNT:
            # boto3 client creation costs ~50 ms: bulk tests create hundreds of jobs.
            if region not in self._clients:
                self._clients[region] = self.client(region)
            return self._clients[region]
        sts = boto3.client(
            "sts",
            region_name=region,
            endpoint_url=self.url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        c = sts.assume_role(
            RoleArn=f"arn:aws:iam::{account}:role/sagemaker-exporter", RoleSessionName="test"
        )["Credentials"]
        return self.client(
            region, key=c["AccessKeyId"], secret=c["SecretAccessKey"], token=c["SessionToken"]
        )

    def create(
        self,
        name: str,
        region: str = "us-east-1",
        account: str = DEFAULT_ACCOUNT,
        instance_type: str = "ml.m5.xlarge",
        count: int = 1,
        tags: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> Any:
        args: dict[str, Any] = dict(
            TrainingJobName=name,
            AlgorithmSpecification={
                "TrainingImage": "123.dkr.ecr/xgboost:1",
                "TrainingInputMode": "File",
            },
            RoleArn=f"arn:aws:iam::{account}:role/sm",
            OutputDataConfig={"S3OutputPath": "s3://bucket/out"},
            ResourceConfig={
                "InstanceType": instance_type,
                "InstanceCount": count,
                "VolumeSizeInGB": 50,
            },
            StoppingCondition={"MaxRuntimeInSeconds": 86400},
            HyperParameters={"password": CANARY},
            Environment={"API_TOKEN": CANARY},
            Tags=[{"Key": k, "Value": v} for k, v in (tags or {}).items()],
        )
        args.update(kwargs)
        self.account_client(account, region).create_training_job(**args)
        return self.job(name, region, account)

    def bulk_create(
        self, names: list[str], region: str = "us-east-1", account: str = DEFAULT_ACCOUNT
    ) -> None:
        """Many plain jobs straight into the backend (moto's HTTP create costs ~40 ms each)."""
        backend = get_backend("sagemaker")[account][region]
        for name in names:
            backend.create_training_job(
                training_job_name=name,
                hyper_parameters={"password": CANARY},
                algorithm_specification={"TrainingImage": "img", "TrainingInputMode": "File"},
                role_arn=f"arn:aws:iam::{account}:role/sm",
                input_data_config=[],
                output_data_config={"S3OutputPath": "s3://bucket/out"},
                resource_config={"InstanceType": "ml.m5.xlarge", "InstanceCount": 1},
                vpc_config={},
                stopping_condition={},
                tags=[],
                enable_network_isolation=False,
                enable_inter_container_traffic_encryption=False,
                enable_managed_spot_training=False,
                checkpoint_config={},
                debug_hook_config={},
                debug_rule_configurations=[],
                tensor_board_output_config={},
                experiment_config={},
            )

    def job(self, name: str, region: str = "us-east-1", account: str = DEFAULT_ACCOUNT) -> Any:
        return get_backend("sagemaker")[account][region].training_jobs[name]

    def delete(self, name: str, region: str = "us-east-1", account: str = DEFAULT_ACCOUNT) -> None:
        del get_backend("sagemaker")[account][region].training_jobs[name]

    def set(
        self,
        name: str,
        region: str = "us-east-1",
        account: str = DEFAULT_ACCOUNT,
        modified: float | None = None,
        **fields: Any,
    ) -> Any:
        """Set backend fields (snake_case, as moto's response generator reads them) and bump
        LastModifiedTime, as SageMaker does on every change."""
        job = self.job(name, region, account)
        for key, value in fields.items():
            if (
                isinstance(value, float | int)
                and key.endswith("_time")
                and not isinstance(value, bool)
            ):
                value = utc(value)
            setattr(job, key, value)
        job.last_modified_time = (
            utc(modified) if modified is not None else dt.datetime.now(dt.UTC).replace(tzinfo=None)
        )
        return job

    def transitions(self, *steps: tuple[str, float, float | None, str]) -> list[dict[str, Any]]:
        out = []
        for status, start, end, msg in steps:
            t: dict[str, Any] = {"Status": status, "StartTime": utc(start), "StatusMessage": msg}
            if end is not None:
                t["EndTime"] = utc(end)
            out.append(t)
        return out
