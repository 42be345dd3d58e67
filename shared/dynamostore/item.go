// Package dynamostore implements flashsale.Store on DynamoDB.
//
// Item layout (see shared/schema for the tables):
//
//	Sales   pk=SALE#<sale>                      the definition and counters
//	Sales   pk=SHARD#<sale>#<k>                 one stock shard per partition key
//	Orders  pk=ORDERS#<sale>#<b> sk=ORDER#<id>  an order (a hold until accepted)
//	Orders  pk=IDEM#<user>#<key> sk=IDEM        an idempotency record, TTL 24 h
//	Orders  pk=CLAIM#<sale>#<user> sk=CLAIM     units a user holds in a sale
//	Orders  pk=ALLOW#<sale>#<user> sk=ALLOW     a user on a sale's allowlist
//	Orders  pk=BAN#IP sk=<ban id>               an IP ban, TTL at its expiry
//	Orders  pk=BAN#USER sk=<user>               a user ban, TTL at its expiry
//	Orders  pk=REMIND#<sale>#<b> sk=<user>      a reminder subscription (reminder.go)
//
// A sale's orders sit under OrderBuckets() partitions (five per shard), so
// order writes scale like stock writes and settlement can read them all with
// strongly consistent queries.
package dynamostore

import (
	"fmt"
	"time"

	"flashsale/shared/flashsale"
)

func saleKey(saleID string) string         { return "SALE#" + saleID }
func shardKey(saleID string, k int) string { return fmt.Sprintf("SHARD#%s#%d", saleID, k) }
func bucketKey(saleID string, b int) string {
	return fmt.Sprintf("ORDERS#%s#%d", saleID, b)
}
func orderSK(orderID string) string         { return "ORDER#" + orderID }
func idemKey(userID, key string) string     { return "IDEM#" + userID + "#" + key } // keys hold no '#'
func claimKey(saleID, userID string) string { return "CLAIM#" + saleID + "#" + userID }

const (
	idemSK  = "IDEM"
	claimSK = "CLAIM"
)

// saleItem is the SALE# item. Times are Unix milliseconds so conditions can
// compare them.
type saleItem struct {
	PK                   string `dynamodbav:"pk"`
	SaleID               string `dynamodbav:"saleId"`
	Name                 string `dynamodbav:"name"`
	PriceCents           int64  `dynamodbav:"priceCents"`
	Currency             string `dynamodbav:"currency"`
	StartsAtMs           int64  `dynamodbav:"startsAtMs"`
	EndsAtMs             int64  `dynamodbav:"endsAtMs"`
	Stock                int64  `dynamodbav:"stock"`
	PerUserLimit         int64  `dynamodbav:"perUserLimit"`
	PaymentWindowSeconds int64  `dynamodbav:"paymentWindowSeconds"`
	Shards               int    `dynamodbav:"shards"`
	Loaded               int64  `dynamodbav:"loaded"`
	SoldOut              bool   `dynamodbav:"soldOut"`
	Epoch                int64  `dynamodbav:"epoch"`
	Scheduled            bool   `dynamodbav:"scheduled,omitempty"`
	// Admission is absent on sales stored before v2: they read as having
	// no gate, as they were created.
	Admission *admissionItem `dynamodbav:"admission,omitempty"`
}

type admissionItem struct {
	PurchaseToken      bool     `dynamodbav:"purchaseToken"`
	ChallengeMaxNumber int64    `dynamodbav:"challengeMaxNumber"`
	Groups             []string `dynamodbav:"groups,omitempty"`
	MinAccountAgeDays  int64    `dynamodbav:"minAccountAgeDays"`
	Allowlist          bool     `dynamodbav:"allowlist"`
}

func toSaleItem(s flashsale.Sale) saleItem {
	return saleItem{
		PK: saleKey(s.ID), SaleID: s.ID, Name: s.Name, PriceCents: s.PriceCents, Currency: s.Currency,
		StartsAtMs: s.StartsAt.UnixMilli(), EndsAtMs: s.EndsAt.UnixMilli(), Stock: s.Stock,
		PerUserLimit: s.PerUserLimit, PaymentWindowSeconds: int64(s.PaymentWindow / time.Second),
		Shards: s.Shards, Loaded: s.Stock,
		Admission: &admissionItem{
			PurchaseToken: s.Admission.PurchaseToken, ChallengeMaxNumber: s.Admission.ChallengeMaxNumber,
			Groups: s.Admission.Groups, MinAccountAgeDays: s.Admission.MinAccountAgeDays, Allowlist: s.Admission.Allowlist,
		},
	}
}

func (it saleItem) state() flashsale.SaleState {
	var adm flashsale.Admission
	if a := it.Admission; a != nil {
		adm = flashsale.Admission{
			PurchaseToken: a.PurchaseToken, ChallengeMaxNumber: a.ChallengeMaxNumber,
			Groups: a.Groups, MinAccountAgeDays: a.MinAccountAgeDays, Allowlist: a.Allowlist,
		}
	}
	return flashsale.SaleState{
		Sale: flashsale.Sale{
			ID: it.SaleID, Name: it.Name, PriceCents: it.PriceCents, Currency: it.Currency,
			StartsAt: fromMs(it.StartsAtMs), EndsAt: fromMs(it.EndsAtMs), Stock: it.Stock,
			PerUserLimit: it.PerUserLimit, PaymentWindow: time.Duration(it.PaymentWindowSeconds) * time.Second,
			Shards: it.Shards, Admission: adm,
		},
		Loaded: it.Loaded, SoldOut: it.SoldOut, Epoch: it.Epoch, Scheduled: it.Scheduled,
	}
}

type shardItem struct {
	PK        string `dynamodbav:"pk"`
	SaleID    string `dynamodbav:"saleId"`
	Available int64  `dynamodbav:"available"`
}

type orderItem struct {
	PK            string `dynamodbav:"pk"`
	SK            string `dynamodbav:"sk"`
	OrderID       string `dynamodbav:"orderId"`
	SaleID        string `dynamodbav:"saleId"`
	UserID        string `dynamodbav:"userId"`
	Quantity      int64  `dynamodbav:"quantity"`
	AmountCents   int64  `dynamodbav:"amountCents"`
	Currency      string `dynamodbav:"currency"`
	Status        string `dynamodbav:"status"`
	CreatedAtMs   int64  `dynamodbav:"createdAtMs"`
	ExpiresAtMs   int64  `dynamodbav:"expiresAtMs"`
	PaidAtMs      int64  `dynamodbav:"paidAtMs,omitempty"`
	PersistedAtMs int64  `dynamodbav:"persistedAtMs,omitempty"`
	RestockDue    bool   `dynamodbav:"restockDue,omitempty"`
	RestockedAtMs int64  `dynamodbav:"restockedAtMs,omitempty"`
	AbortedAtMs   int64  `dynamodbav:"abortedAtMs,omitempty"`
	IdemKey       string `dynamodbav:"idemKey,omitempty"`
}

func toOrderItem(o flashsale.Order, bucket int) orderItem {
	return orderItem{
		PK: bucketKey(o.SaleID, bucket), SK: orderSK(o.ID), OrderID: o.ID, SaleID: o.SaleID,
		UserID: o.UserID, Quantity: o.Quantity, AmountCents: o.AmountCents, Currency: o.Currency,
		Status: string(o.Status), CreatedAtMs: o.CreatedAt.UnixMilli(), ExpiresAtMs: o.ExpiresAt.UnixMilli(),
		PaidAtMs: msOrZero(o.PaidAt), RestockDue: o.RestockDue, RestockedAtMs: msOrZero(o.RestockedAt),
		AbortedAtMs: msOrZero(o.AbortedAt), IdemKey: o.IdempotencyKey,
	}
}

func (it orderItem) order() flashsale.Order {
	return flashsale.Order{
		ID: it.OrderID, SaleID: it.SaleID, UserID: it.UserID, Quantity: it.Quantity,
		AmountCents: it.AmountCents, Currency: it.Currency, Status: flashsale.OrderStatus(it.Status),
		CreatedAt: fromMs(it.CreatedAtMs), ExpiresAt: fromMs(it.ExpiresAtMs), PaidAt: fromMs(it.PaidAtMs),
		Persisted: it.PersistedAtMs != 0, RestockDue: it.RestockDue, RestockedAt: fromMs(it.RestockedAtMs),
		AbortedAt: fromMs(it.AbortedAtMs), IdempotencyKey: it.IdemKey,
	}
}

type idemItem struct {
	PK       string `dynamodbav:"pk"`
	SK       string `dynamodbav:"sk"`
	UserID   string `dynamodbav:"userId"`
	Key      string `dynamodbav:"key"`
	SaleID   string `dynamodbav:"saleId"`
	Quantity int64  `dynamodbav:"quantity"`
	OrderID  string `dynamodbav:"orderId"`
	Receipt  []byte `dynamodbav:"receipt"`
	TTL      int64  `dynamodbav:"ttl"`
}

func (it idemItem) record() flashsale.IdempotencyRecord {
	return flashsale.IdempotencyRecord{
		UserID: it.UserID, Key: it.Key, SaleID: it.SaleID, Quantity: it.Quantity,
		OrderID: it.OrderID, Receipt: it.Receipt,
	}
}

func fromMs(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

func msOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}
