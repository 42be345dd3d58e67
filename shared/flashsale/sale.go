// Package flashsale is the domain: sales, sharded stock, orders, the rules
// that keep the invariants, and the ports its adapters implement. It imports
// no AWS package.
package flashsale

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"time"
)

// Sale is what an admin defines. Stock is the initial load; restocks add to
// SaleState.Loaded.
type Sale struct {
	ID            string
	Name          string
	PriceCents    int64
	Currency      string
	StartsAt      time.Time
	EndsAt        time.Time
	Stock         int64
	PerUserLimit  int64
	PaymentWindow time.Duration
	Shards        int
	Admission     Admission
}

// SaleState is a sale as the store holds it: its definition plus the
// counters that change while it runs.
type SaleState struct {
	Sale
	// Loaded is the initial stock plus every admin restock.
	Loaded int64
	// SoldOut is set when a reserve found every shard empty. Any return of
	// stock clears it and bumps Epoch.
	SoldOut bool
	// Epoch counts returns of stock. MarkSoldOut is conditional on it, so a
	// stale view can never hide units that came back.
	Epoch int64
	// Scheduled records that the sale's preparation schedules were put.
	Scheduled bool
}

// SaleStatus is what buyers see.
type SaleStatus string

const (
	StatusScheduled SaleStatus = "scheduled"
	StatusOpen      SaleStatus = "open"
	StatusSoldOut   SaleStatus = "sold_out"
	StatusClosed    SaleStatus = "closed"
)

// StatusAt applies the contract's precedence: closed, scheduled, sold out, open.
func (s Sale) StatusAt(now time.Time, soldOut bool) SaleStatus {
	switch {
	case !now.Before(s.EndsAt):
		return StatusClosed
	case now.Before(s.StartsAt):
		return StatusScheduled
	case soldOut:
		return StatusSoldOut
	default:
		return StatusOpen
	}
}

// Limits on sale definitions.
const (
	MaxStock            = 10_000_000
	MaxShards           = 1000
	MaxPaymentWindow    = 86400 * time.Second
	PerShardPurchaseRPS = 800 // headroom under a partition's 1,000 WCU/s
)

var currencyPattern = regexp.MustCompile(`^[A-Z]{3}$`)

// ValidID reports whether s is a well-formed sale ID or idempotency key:
// 1-64 characters of [A-Za-z0-9_-]. A byte loop rather than a regexp: it
// runs several times per request on the sold-out path, where a regexp was a
// quarter of the CPU.
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// NewSale is the admin's request to create a sale.
type NewSale struct {
	ID                   string
	Name                 string
	PriceCents           int64
	Currency             string
	StartsAt             time.Time
	EndsAt               time.Time
	Stock                int64
	PerUserLimit         int64
	PaymentWindowSeconds int64
	// Shards and ExpectedPeakRPS are exclusive; with neither there is 1 shard.
	Shards          int
	ExpectedPeakRPS int64
	// Admission is the sale's gate; nil means DefaultAdmission (tokens on).
	Admission *Admission
}

// Build validates the request and returns the sale, or an *InputError naming
// the first bad field.
func (n NewSale) Build() (Sale, error) {
	bad := func(field, msg string) (Sale, error) {
		return Sale{}, &InputError{Code: "invalid_" + field, Field: field, Message: msg}
	}
	switch {
	case !ValidID(n.ID):
		return bad("saleId", "saleId must be 1-64 characters of [A-Za-z0-9_-]")
	case n.Name == "" || len(n.Name) > 200:
		return bad("name", "name must be 1-200 characters")
	case n.PriceCents < 0:
		return bad("priceCents", "priceCents must be >= 0")
	case !currencyPattern.MatchString(n.Currency):
		return bad("currency", "currency must be an ISO 4217 code such as USD")
	case n.StartsAt.IsZero():
		return bad("startsAt", "startsAt is required (RFC 3339)")
	case n.EndsAt.IsZero() || !n.EndsAt.After(n.StartsAt):
		return bad("endsAt", "endsAt must be after startsAt")
	case n.Stock < 1 || n.Stock > MaxStock:
		return bad("stock", fmt.Sprintf("stock must be between 1 and %d", MaxStock))
	case n.PerUserLimit < 1:
		return bad("perUserLimit", "perUserLimit must be >= 1")
	case n.PaymentWindowSeconds < 1 || n.PaymentWindowSeconds > int64(MaxPaymentWindow/time.Second):
		return bad("paymentWindowSeconds", "paymentWindowSeconds must be between 1 and 86400")
	case n.Shards != 0 && n.ExpectedPeakRPS != 0:
		return bad("shards", "give at most one of shards and expectedPeakRps")
	case n.Shards < 0 || n.Shards > MaxShards:
		return bad("shards", fmt.Sprintf("shards must be between 1 and %d", MaxShards))
	case n.ExpectedPeakRPS < 0:
		return bad("expectedPeakRps", "expectedPeakRps must be positive")
	}
	adm := DefaultAdmission()
	if n.Admission != nil {
		adm = *n.Admission
		adm.Groups = slices.Clone(adm.Groups)
		if err := adm.validate(); err != nil {
			return Sale{}, err
		}
	}
	shards := n.Shards
	if n.ExpectedPeakRPS > 0 {
		shards = ShardsFor(n.ExpectedPeakRPS)
		if shards > MaxShards {
			return bad("expectedPeakRps", fmt.Sprintf("expectedPeakRps needs more than %d shards", MaxShards))
		}
	}
	if shards == 0 {
		shards = 1
	}
	if int64(shards) > n.Stock {
		// An empty shard only costs probes; never create more shards than units.
		shards = int(n.Stock)
	}
	return Sale{
		ID: n.ID, Name: n.Name, PriceCents: n.PriceCents, Currency: n.Currency,
		StartsAt: n.StartsAt.UTC().Truncate(time.Millisecond), EndsAt: n.EndsAt.UTC().Truncate(time.Millisecond), Stock: n.Stock,
		PerUserLimit: n.PerUserLimit, PaymentWindow: time.Duration(n.PaymentWindowSeconds) * time.Second,
		Shards: shards, Admission: adm,
	}, nil
}

// ShardsFor derives the shard count from an expected peak purchase rate:
// ceil(rps / 800), so each shard stays under its partition's 1,000 WCU/s.
func ShardsFor(rps int64) int {
	return int(math.Ceil(float64(rps) / PerShardPurchaseRPS))
}

// SplitStock spreads units evenly over n shards; the first shards get the
// remainder. Even shards run dry at about the same time, which keeps a
// request that finds its shard empty from being a false sold-out.
func SplitStock(units int64, n int) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = units / int64(n)
		if int64(i) < units%int64(n) {
			out[i]++
		}
	}
	return out
}
