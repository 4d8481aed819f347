# Event mode for sagemaker-training-exporter: an EventBridge rule sends every
# "SageMaker Training Job State Change" event of this account and region to an SQS queue
# that the exporter long-polls (--events-queue-url). A dead-letter queue keeps what the
# exporter could not take. The same resources as
# deploy/cloudformation/sagemaker-exporter-events.yaml; see docs/deploy.md for several
# regions and accounts.

variable "queue_name" {
  description = "Name of the queue (the dead-letter queue gets the suffix -dlq)."
  type        = string
  default     = "sagemaker-training-exporter-events"
}

variable "event_bus_name" {
  description = "Bus the rule listens on: default, or a central bus other accounts forward to."
  type        = string
  default     = "default"
}

resource "aws_sqs_queue" "dead_letter" {
  name                      = "${var.queue_name}-dlq"
  message_retention_seconds = 1209600 # 14 days, the most SQS keeps: time to look
  sqs_managed_sse_enabled   = true
}

resource "aws_sqs_queue" "events" {
  name = var.queue_name
  # A state change older than a day is long since known from polling.
  message_retention_seconds  = 86400
  receive_wait_time_seconds  = 20
  visibility_timeout_seconds = 60
  sqs_managed_sse_enabled    = true
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dead_letter.arn
    # The exporter deletes every message it applies, and every poison message; a message
    # received 5 times is one it could not route (a target it does not watch yet) or delete.
    maxReceiveCount = 5
  })
}

resource "aws_cloudwatch_event_rule" "state_change" {
  name           = "sagemaker-training-job-state-change"
  description    = "SageMaker training job state changes to the exporter's queue"
  event_bus_name = var.event_bus_name
  event_pattern = jsonencode({
    source        = ["aws.sagemaker"]
    "detail-type" = ["SageMaker Training Job State Change"]
  })
}

resource "aws_cloudwatch_event_target" "queue" {
  rule           = aws_cloudwatch_event_rule.state_change.name
  event_bus_name = var.event_bus_name
  target_id      = "sagemaker-training-exporter"
  arn            = aws_sqs_queue.events.arn
}

resource "aws_sqs_queue_policy" "events" {
  queue_url = aws_sqs_queue.events.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "OnlyTheStateChangeRuleMaySend"
      Effect    = "Allow"
      Principal = { Service = "events.amazonaws.com" }
      Action    = "sqs:SendMessage"
      Resource  = aws_sqs_queue.events.arn
      Condition = { ArnEquals = { "aws:SourceArn" = aws_cloudwatch_event_rule.state_change.arn } }
    }]
  })
}

output "queue_url" {
  description = "Pass to the exporter as --events-queue-url"
  value       = aws_sqs_queue.events.id
}

output "dead_letter_queue_url" {
  value = aws_sqs_queue.dead_letter.id
}

output "rule_arn" {
  value = aws_cloudwatch_event_rule.state_change.arn
}
