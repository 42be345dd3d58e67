package awsclient

// Environment variable names: the CDK stack (and the local stack) sets them,
// and FromEnv reads the functions' settings from them.
const (
	EnvSalesTable     = "SALES_TABLE"
	EnvOrdersTable    = "ORDERS_TABLE"
	EnvOrdersQueueURL = "ORDERS_QUEUE_URL"
	EnvFIFOGroups     = "FIFO_GROUPS"
	// EnvDynamoDBEndpoint and EnvSQSEndpoint point the SDK at local emulators;
	// they are unset in AWS.
	EnvDynamoDBEndpoint = "DYNAMODB_ENDPOINT"
	EnvSQSEndpoint      = "SQS_ENDPOINT"
	// EnvS3Endpoint points the SDK's S3 client at a local S3-protocol
	// server (shared/local/s3local); unset in AWS.
	EnvS3Endpoint = "S3_ENDPOINT"
	// EnvReportsBucket names the versioned bucket that keeps every
	// settlement report version (shared/s3reports). The settlement and
	// admin functions get it; unset, a process has no report archive.
	EnvReportsBucket = "REPORTS_BUCKET"
	// EnvWebhookSecret holds the payment provider's signing secret locally; in
	// AWS, EnvWebhookSecretARN names the Secrets Manager secret instead.
	EnvWebhookSecret    = "WEBHOOK_SECRET"
	EnvWebhookSecretARN = "WEBHOOK_SECRET_ARN"
	// EnvAdmissionKeys holds the admission key set's JSON (admission.KeySet)
	// locally; in AWS, EnvAdmissionKeysARN names the stack's generated
	// Secrets Manager secret instead.
	EnvAdmissionKeys    = "ADMISSION_KEYS"
	EnvAdmissionKeysARN = "ADMISSION_KEYS_ARN"
	// EnvChallengeRate and EnvChallengeCeiling tune the challenge's
	// difficulty governor: the issue rate per container (challenges a
	// second) above which maxNumber rises, and how far.
	EnvChallengeRate    = "CHALLENGE_RATE"
	EnvChallengeCeiling = "CHALLENGE_CEILING"
	// The WebACL's IP sets of banned addresses, one per IP version, which
	// the ip-ban-sync function keeps in line with the ban items: each set's
	// name and id, and the WebACL's scope (REGIONAL for a REST API).
	EnvIPSetV4Name = "IPSET_V4_NAME"
	EnvIPSetV4ID   = "IPSET_V4_ID"
	EnvIPSetV6Name = "IPSET_V6_NAME"
	EnvIPSetV6ID   = "IPSET_V6_ID"
	EnvWAFScope    = "WAF_SCOPE"
	// EnvBanSyncFunction names the ip-ban-sync function, which the admin
	// function invokes (asynchronously) after each IP ban change.
	EnvBanSyncFunction = "BAN_SYNC_FUNCTION"

	// The preparation phase (docs/design/preparation.md).
	// EnvLead is how long before a sale opens its warm-up and reminders
	// run, as a Go duration ("10m"); unset: flashsale.DefaultLead. The
	// admin, orders, warm-up and notifier functions read the same value.
	EnvLead = "PREPARE_LEAD"
	// The admin function creates each sale's one-time schedules in this
	// EventBridge Scheduler group, with this role (which may invoke the two
	// targets), targeting the warm-up and notifier functions.
	EnvScheduleGroup    = "SCHEDULE_GROUP"
	EnvSchedulerRole    = "SCHEDULER_ROLE_ARN"
	EnvWarmUpFunction   = "WARMUP_FUNCTION_ARN"
	EnvNotifierFunction = "NOTIFIER_FUNCTION_ARN"
	// The warm-up function sets the provisioned concurrency of this
	// function's alias, between the baseline and the ceiling.
	EnvReserveFunction = "RESERVE_FUNCTION_NAME"
	EnvReserveAlias    = "RESERVE_ALIAS"
	EnvWarmBaseline    = "WARM_BASELINE"
	EnvWarmCeiling     = "WARM_CEILING"
	// EnvReminderTopic is the SNS topic the notifier publishes reminders to.
	EnvReminderTopic = "REMINDER_TOPIC_ARN"
	// EnvOrdersDLQURL is the orders dead-letter queue, where the order
	// writer sets poison messages aside at once; only the writer gets it.
	EnvOrdersDLQURL = "ORDERS_DLQ_URL"
)
