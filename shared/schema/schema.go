// Package schema defines the tables and queues once. The CDK stack turns them
// into CloudFormation and the local stack into CreateTable/CreateQueue calls,
// so the deployed and the local shapes cannot drift apart. It imports neither
// the CDK nor the SDK.
package schema

import "time"

// Attribute types, as DynamoDB spells them.
const (
	TypeString = "S"
	TypeNumber = "N"
)

// Key is one key attribute.
type Key struct {
	Name string
	Type string
}

// Table is one DynamoDB table: on-demand, with an optional sort key and TTL.
type Table struct {
	// Name is the logical name; deployed names get a stack prefix, local ones
	// a configurable prefix.
	Name         string
	PartitionKey Key
	SortKey      *Key
	// TTLAttribute holds an epoch-seconds expiry, or is empty.
	TTLAttribute string
}

// Queue is one SQS queue. A FIFO queue's name ends in ".fifo".
type Queue struct {
	Name              string
	FIFO              bool
	HighThroughput    bool // DeduplicationScope=messageGroup, FifoThroughputLimit=perMessageGroupId
	VisibilityTimeout time.Duration
	RetentionPeriod   time.Duration
	// DeadLetter, when set, receives messages after MaxReceiveCount receives.
	DeadLetter      *Queue
	MaxReceiveCount int
}

// Key attribute names shared by both tables.
const (
	AttrPK  = "pk"
	AttrSK  = "sk"
	AttrTTL = "ttl"
)

// Sales holds each sale's definition, its stock shards (one partition key per
// shard, so each shard gets its own 1,000 WCU/s), settlement leases and reports.
var Sales = Table{
	Name:         "Sales",
	PartitionKey: Key{Name: AttrPK, Type: TypeString},
}

// Orders holds reservations in flight, orders, per-user claims, idempotency
// keys (expiring through TTL after 24 h) and the payment ledger. A sale's
// orders live under a few bucket partition keys so settlement can read them
// with strongly consistent queries.
var Orders = Table{
	Name:         "Orders",
	PartitionKey: Key{Name: AttrPK, Type: TypeString},
	SortKey:      &Key{Name: AttrSK, Type: TypeString},
	TTLAttribute: AttrTTL,
}

// Tables lists every table.
var Tables = []Table{Sales, Orders}

// OrderWriterTimeout is the consumer's Lambda timeout; the queue's visibility
// timeout must be at least six times it.
const OrderWriterTimeout = 30 * time.Second

// OrdersDLQ receives order messages the writer failed MaxReceiveCount times.
var OrdersDLQ = Queue{
	Name:              "orders-dlq.fifo",
	FIFO:              true,
	VisibilityTimeout: OrderWriterTimeout * 6,
	RetentionPeriod:   14 * 24 * time.Hour,
}

// OrdersQueue buffers accepted orders between the reserve handler and the
// order writer. High-throughput FIFO: ordering and dedup per message group.
var OrdersQueue = Queue{
	Name:              "orders.fifo",
	FIFO:              true,
	HighThroughput:    true,
	VisibilityTimeout: OrderWriterTimeout * 6,
	RetentionPeriod:   4 * 24 * time.Hour,
	DeadLetter:        &OrdersDLQ,
	MaxReceiveCount:   5,
}

// Queues lists every queue, dead-letter queues first so redrive targets exist
// before the queues that point at them.
var Queues = []Queue{OrdersDLQ, OrdersQueue}

// DefaultFIFOGroups is how many message groups orders spread over:
// group = hash(userId) mod G. Lambda consumes a FIFO queue with at most one
// concurrent batch per group.
const DefaultFIFOGroups = 64
