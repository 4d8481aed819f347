"""Event-mode deployment: the CloudFormation template and the Terraform module.

The template passes cfn-lint and deploys into moto's CloudFormation over a real socket; the
deployed rule then delivers a `put_events` state change to the deployed queue, where the
exporter's parser reads it. moto ignores AWS::SQS::QueuePolicy, so the policy is checked as
data: EventBridge may send, only for this rule. The Terraform module (no terraform binary
here) is parsed with python-hcl2 and must say what the template says.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import hcl2
import pytest
from cfnlint.decode import cfn_yaml
from moto.server import ThreadedMotoServer

from exporter.parse.event import DETAIL_TYPE, SOURCE, JobEvent, parse_event

ROOT = Path(__file__).resolve().parents[2]
CFN = ROOT / "deploy/cloudformation/sagemaker-exporter-events.yaml"
TF = ROOT / "deploy/terraform/sagemaker-exporter-events.tf"
PATTERN = {"source": [SOURCE], "detail-type": [DETAIL_TYPE]}
QUEUE_NAME = "sagemaker-training-exporter-events"


def _template() -> dict[str, Any]:
    data: dict[str, Any] = cfn_yaml.loads(CFN.read_text())
    return data


def test_template_is_cfn_lint_clean() -> None:
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    assert cfn_lint.exists(), "cfn-lint missing: pip install cfn-lint (test extra)"
    result = subprocess.run([str(cfn_lint), str(CFN)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def test_template_queue_policy_allows_only_the_rule() -> None:
    res = _template()["Resources"]
    (st,) = res["EventsQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert st["Effect"] == "Allow"
    assert st["Principal"] == {"Service": "events.amazonaws.com"}
    assert st["Action"] == "sqs:SendMessage"
    assert st["Resource"] == {"Fn::GetAtt": ["EventsQueue", "Arn"]}
    assert st["Condition"] == {
        "ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": ["StateChangeRule", "Arn"]}}
    }
    assert res["EventsQueuePolicy"]["Properties"]["Queues"] == [{"Ref": "EventsQueue"}]


def test_exporter_iam_policy_names_the_deployed_queue() -> None:
    params = _template()["Parameters"]
    assert params["QueueName"]["Default"] == QUEUE_NAME
    tf = hcl2.loads(TF.read_text())
    defaults = {k.strip('"'): v["default"].strip('"') for b in tf["variable"] for k, v in b.items()}
    assert defaults["queue_name"] == QUEUE_NAME
    policy = json.loads((ROOT / "deploy/iam-policy.json").read_text())
    sqs = [s for s in policy["Statement"] if any(a.startswith("sqs:") for a in s["Action"])]
    assert [s["Resource"] for s in sqs] == [f"arn:aws:sqs:*:*:{QUEUE_NAME}"]


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def test_template_deploys_and_delivers_a_state_change(moto_url: str) -> None:
    kw: dict[str, Any] = dict(
        region_name="eu-west-1",
        endpoint_url=moto_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    cf, sqs, events = (boto3.client(s, **kw) for s in ("cloudformation", "sqs", "events"))
    with pytest.warns(UserWarning, match="QueuePolicy"):  # moto skips it; checked above
        cf.create_stack(StackName="exporter-events", TemplateBody=CFN.read_text())
    (stack,) = cf.describe_stacks(StackName="exporter-events")["Stacks"]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    out = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    url = sqs.get_queue_url(QueueName=QUEUE_NAME)["QueueUrl"]
    assert out["QueueUrl"].endswith(f"/{QUEUE_NAME}")
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    redrive = json.loads(attrs["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"].endswith(f":{QUEUE_NAME}-dlq")
    assert redrive["maxReceiveCount"] == 5
    assert attrs["ReceiveMessageWaitTimeSeconds"] == "20"
    (rule,) = events.list_rules()["Rules"]
    assert json.loads(rule["EventPattern"]) == PATTERN and rule["Arn"] == out["RuleArn"]

    arn = "arn:aws:sagemaker:eu-west-1:123456789012:training-job/deployed"
    detail = {
        "TrainingJobName": "deployed",
        "TrainingJobArn": arn,
        "TrainingJobStatus": "Failed",
        "SecondaryStatus": "Failed",
        "LastModifiedTime": 1796040000123,
    }
    for source in (SOURCE, "aws.ec2"):  # the rule lets only SageMaker's through
        events.put_events(
            Entries=[
                {
                    "Source": source,
                    "DetailType": DETAIL_TYPE,
                    "Detail": json.dumps(detail),
                    "Resources": [arn],
                }
            ]
        )
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
    (msg,) = got["Messages"]
    ev = parse_event(msg["Body"])
    assert isinstance(ev, JobEvent)
    assert (ev.account_id, ev.region, ev.job.status) == ("123456789012", "eu-west-1", "Failed")
    assert ev.job.last_modified == pytest.approx(1796040000.123)


def _tf_blocks(tf: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    """resource "kind" "name" {...} -> {name: body}"""
    out: dict[str, dict[str, Any]] = {}
    for block in tf["resource"]:
        for rtype, named in block.items():
            if rtype.strip('"') == kind:
                out.update({name.strip('"'): body for name, body in named.items()})
    return out


def _flat(text: Any) -> str:
    return re.sub(r"\s+", "", str(text))


def test_terraform_module_matches_the_template() -> None:
    tf = hcl2.loads(TF.read_text())
    res = _template()["Resources"]
    queues = _tf_blocks(tf, "aws_sqs_queue")
    cfn_queue = res["EventsQueue"]["Properties"]
    assert queues["events"]["message_retention_seconds"] == cfn_queue["MessageRetentionPeriod"]
    assert (
        queues["events"]["receive_wait_time_seconds"] == cfn_queue["ReceiveMessageWaitTimeSeconds"]
    )
    assert queues["events"]["visibility_timeout_seconds"] == cfn_queue["VisibilityTimeout"]
    assert (
        queues["dead_letter"]["message_retention_seconds"]
        == res["DeadLetterQueue"]["Properties"]["MessageRetentionPeriod"]
    )
    redrive = _flat(queues["events"]["redrive_policy"])
    assert "deadLetterTargetArn=aws_sqs_queue.dead_letter.arn" in redrive
    assert f"maxReceiveCount={cfn_queue['RedrivePolicy']['maxReceiveCount']}" in redrive

    (rule,) = _tf_blocks(tf, "aws_cloudwatch_event_rule").values()
    pattern = _flat(rule["event_pattern"])
    assert f'source=["{SOURCE}"]' in pattern
    assert f'"detail-type"=["{_flat(DETAIL_TYPE)}"]' in pattern
    (target,) = _tf_blocks(tf, "aws_cloudwatch_event_target").values()
    assert _flat(target["arn"]) == "${aws_sqs_queue.events.arn}"
    assert _flat(target["rule"]) == "${aws_cloudwatch_event_rule.state_change.name}"

    (policy,) = _tf_blocks(tf, "aws_sqs_queue_policy").values()
    text = _flat(policy["policy"])
    assert 'Principal={Service="events.amazonaws.com"}' in text
    assert 'Action="sqs:SendMessage"' in text
    assert "Resource=aws_sqs_queue.events.arn" in text
    assert 'ArnEquals={"aws:SourceArn"=aws_cloudwatch_event_rule.state_change.arn}' in text
