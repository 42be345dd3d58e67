package flashsale

import (
	"fmt"
	"hash/fnv"
	"strings"
	"time"
)

// OrderStatus is an order's state. Pending is internal: a reservation whose
// request is still in flight; clients never see it.
type OrderStatus string

const (
	OrderPending   OrderStatus = "pending"
	OrderReserved  OrderStatus = "reserved"
	OrderPaid      OrderStatus = "paid"
	OrderExpired   OrderStatus = "expired"
	OrderCancelled OrderStatus = "cancelled"
	// OrderAborted is internal too: a hold whose purchase failed and was
	// compensated. It stays as a tombstone so audits know its units may be
	// on their way back.
	OrderAborted OrderStatus = "aborted"
)

// Holds reports whether units of an order in this status are held (not on sale).
func (s OrderStatus) Holds() bool {
	return s == OrderPending || s == OrderReserved || s == OrderPaid
}

// Order is one buyer's reservation of units of one sale.
//
// Before the order writer persists it, an order exists as a hold: the
// reservation journal the reserve path writes before it touches stock.
// Persisted tells the two apart.
type Order struct {
	ID          string
	SaleID      string
	UserID      string
	Quantity    int64
	AmountCents int64
	Currency    string
	Status      OrderStatus
	CreatedAt   time.Time
	ExpiresAt   time.Time
	PaidAt      time.Time // zero until paid
	// Persisted is true once the order writer wrote the order record.
	Persisted bool
	// RestockDue is set by the transition to expired or cancelled and cleared
	// when the units are returned; RestockedAt records that return.
	RestockDue  bool
	RestockedAt time.Time
	// AbortedAt is when a pending hold was aborted.
	AbortedAt time.Time
	// IdempotencyKey is the key of the request that made the order, so a
	// dead request's hold can be aborted and its key freed.
	IdempotencyKey string
}

// StatusAt is the status clients see: a reserved order past its expiry reads
// as expired everywhere, before settlement gets to it.
func (o Order) StatusAt(now time.Time) OrderStatus {
	if (o.Status == OrderReserved || o.Status == OrderPending) && now.After(o.ExpiresAt) {
		return OrderExpired
	}
	if o.Status == OrderPending {
		return OrderReserved
	}
	return o.Status
}

// OrderRef locates an order: its sale and its bucket among the sale's order
// partitions.
type OrderRef struct {
	SaleID  string
	Bucket  int
	OrderID string
}

// NewOrderID makes an order ID that carries its sale, so any order can be
// found with one key lookup: "<saleId>.<unique>".
func NewOrderID(saleID, unique string) string { return saleID + "." + unique }

// ParseOrderID returns the sale ID inside an order ID.
func ParseOrderID(orderID string) (saleID string, err error) {
	sale, unique, ok := strings.Cut(orderID, ".")
	if !ok || !ValidID(sale) || unique == "" || len(unique) > 64 || !ValidID(unique) {
		return "", ErrOrderNotFound
	}
	return sale, nil
}

// OrderBucketsPerShard sizes a sale's order partitions. A shard takes up to
// about 800 attempts a second at 1 WCU each, but every accepted order writes
// its partition about 4 times (the hold in a transaction: 2 WCU; the accept;
// the writer's persist), plus its payment or expiry. Five order partitions
// per shard keep each one under a partition's 1,000 WCU/s even when every
// attempt on a shard is accepted.
const OrderBucketsPerShard = 5

// OrderBuckets is how many partitions hold the sale's orders.
func (s Sale) OrderBuckets() int { return s.Shards * OrderBucketsPerShard }

// ShardOf is the stock shard an order's units go back to when restocked:
// any shard would do; this spreads returns like the orders.
func (s Sale) ShardOf(ref OrderRef) int { return ref.Bucket % s.Shards }

// BucketOf spreads orders over buckets partitions by a hash of the ID.
func BucketOf(orderID string, buckets int) int {
	h := fnv.New32a()
	h.Write([]byte(orderID))
	return int(h.Sum32() % uint32(buckets))
}

// RefOf locates an order of sale s.
func RefOf(s Sale, orderID string) OrderRef {
	return OrderRef{SaleID: s.ID, Bucket: BucketOf(orderID, s.OrderBuckets()), OrderID: orderID}
}

// Receipt is an order as its buyer sees it on the wire: the 202 body of an
// accepted purchase (stored with the idempotency key and replayed byte for
// byte, with no paidAt), GET /orders/{id}, and each line of my-orders.
type Receipt struct {
	OrderID     string `json:"orderId"`
	SaleID      string `json:"saleId"`
	Status      string `json:"status"`
	Quantity    int64  `json:"quantity"`
	AmountCents int64  `json:"amountCents"`
	Currency    string `json:"currency"`
	ExpiresAt   string `json:"expiresAt"`
	PaidAt      string `json:"paidAt,omitempty"`
}

// FIFOGroup picks an order's message group: hash(user) mod groups. Per-user
// ordering is all the writer needs, and many groups let Lambda consume the
// queue with as many concurrent batches.
func FIFOGroup(userID string, groups int) string {
	h := fnv.New32a()
	h.Write([]byte(userID))
	return fmt.Sprintf("g%d", h.Sum32()%uint32(groups))
}
