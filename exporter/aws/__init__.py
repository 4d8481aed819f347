"""The AWS edge: the only package that imports aiobotocore or botocore.

errors (what a failure is), session (sessions, configs, credentials, attempt counting),
paging (the one NextToken loop), ratelimit (discovered rates), sagemaker (the rate-paced
SageMaker client), services (CloudWatch, EC2, Price List), sqs (the event queue).
"""

#: Every AWS operation this code calls, as IAM actions (deploy/iam-policy.json is tested
#: against this set). GetCallerIdentity needs no permission.
OPERATIONS_USED: frozenset[str] = frozenset(
    {
        "sagemaker:ListTrainingJobs",
        "sagemaker:DescribeTrainingJob",
        "sagemaker:ListTags",
        "sagemaker:Search",
        "sts:AssumeRole",
        "sts:GetCallerIdentity",
        # --cloudwatch (exporter/sources/cloudwatch.py)
        "cloudwatch:GetMetricData",
        "ec2:DescribeInstanceTypes",
        # event mode (exporter/aws/sqs.py); DeleteMessageBatch is authorised as sqs:DeleteMessage
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sagemaker:ListHyperParameterTuningJobs",
        "sagemaker:DescribeHyperParameterTuningJob",
        "pricing:GetProducts",
    }
)
