package flashsale

import "time"

// Report is a sale's settlement report, the finance view. Its JSON is the
// contract's shape.
type Report struct {
	SaleID          string        `json:"saleId"`
	GeneratedAt     string        `json:"generatedAt"`
	Balanced        bool          `json:"balanced"`
	Units           ReportUnits   `json:"units"`
	RevenueCents    int64         `json:"revenueCents"`
	RefundsDueCents int64         `json:"refundsDueCents"`
	Currency        string        `json:"currency"`
	Adjustments     []Adjustment  `json:"adjustments"`
	Refunds         []Refund      `json:"refunds"`
	Orders          []ReportOrder `json:"orders"`
}

// ReportUnits is the unit accounting. Balanced means
// Available+Reserved+Paid+InLimbo == Loaded and Restocked == Expired+Cancelled.
type ReportUnits struct {
	Loaded    int64 `json:"loaded"`
	Restocked int64 `json:"restocked"`
	Available int64 `json:"available"`
	Reserved  int64 `json:"reserved"`
	Paid      int64 `json:"paid"`
	Expired   int64 `json:"expired"`
	Cancelled int64 `json:"cancelled"`
	// InLimbo counts units taken from stock by purchases still in flight or
	// cut short (pending holds, compensations under way) and units on their
	// way back from an expiry or cancel: explained, but not yet back on a
	// shard. Settlement returns them once their grace period has passed.
	InLimbo int64 `json:"inLimbo"`
}

// Adjustment records a repair settlement made: units put back from a leak,
// or a dead request's claim given back.
type Adjustment struct {
	Kind   string `json:"kind"`
	Units  int64  `json:"units"`
	Detail string `json:"detail"`
	At     string `json:"at,omitempty"`
}

// Adjustment kinds.
const (
	AdjustmentLeakRepaired  = "leak_repaired"
	AdjustmentClaimReleased = "orphan_claim_released"
	// AdjustmentInLimbo is not stored: each report adds it while units are
	// in limbo, to say where they are.
	AdjustmentInLimbo = "in_limbo"
)

// Refund is money to give back: a payment that could not pay its order.
type Refund struct {
	EventID     string `json:"eventId"`
	OrderID     string `json:"orderId"`
	AmountCents int64  `json:"amountCents"`
	Reason      string `json:"reason"`
}

// ReportOrder is one order line.
type ReportOrder struct {
	OrderID     string `json:"orderId"`
	UserID      string `json:"userId"`
	Quantity    int64  `json:"quantity"`
	AmountCents int64  `json:"amountCents"`
	Status      string `json:"status"`
	CreatedAt   string `json:"createdAt"`
	PaidAt      string `json:"paidAt,omitempty"`
}

// Payment is one payment provider event, as the webhook receives it.
type Payment struct {
	EventID     string `json:"eventId"`
	OrderID     string `json:"orderId"`
	AmountCents int64  `json:"amountCents"`
	Currency    string `json:"currency"`
	Status      string `json:"status"`
}

// PaymentSucceeded is the only provider status that can pay an order.
const PaymentSucceeded = "succeeded"

// LedgerEntry is what a payment event left in a sale's ledger.
type LedgerEntry struct {
	EventID     string
	SaleID      string
	OrderID     string
	Kind        string // one of the Ledger* kinds
	AmountCents int64
	Currency    string
	Reason      string
	At          time.Time
}

// Ledger kinds. Only refund_due counts toward refundsDueCents.
const (
	LedgerPaid      = "paid"
	LedgerRefundDue = "refund_due"
	LedgerMismatch  = "payment_mismatch"
	LedgerIgnored   = "ignored"
)

// Refund reasons.
const (
	ReasonUnknownOrder = "unknown_order"
	ReasonExpired      = "order_expired"
	ReasonCancelled    = "order_cancelled"
	ReasonAlreadyPaid  = "already_paid"
)
