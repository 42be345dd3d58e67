package reportfmt_test

import (
	"fmt"
	"math/rand/v2"
	"time"

	"flashsale/shared/flashsale"
)

// generated is a balanced report of n orders created over span from
// 10:00 UTC, with refunds and adjustments: the figures are sums of its
// lines, so a renderer that drops or misplaces one is caught. The seed
// makes it the same on every run.
func generated(n int, span time.Duration, currency string) flashsale.Report {
	rnd := rand.New(rand.NewPCG(14, uint64(n)))
	start := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	r := flashsale.Report{
		SaleID: fmt.Sprintf("gen-%d", n), GeneratedAt: flashsale.FormatTime(start.Add(span + time.Hour)),
		Balanced: true, Currency: currency,
		Adjustments: []flashsale.Adjustment{}, Refunds: []flashsale.Refund{}, Orders: make([]flashsale.ReportOrder, 0, n),
	}
	u := &r.Units
	for i := range n {
		created := start.Add(time.Duration(int64(span) * int64(i) / int64(max(n, 1)))).Add(time.Duration(rnd.IntN(1000)) * time.Millisecond).Truncate(time.Second)
		qty := int64(1 + rnd.IntN(3))
		price := []int64{1999, 5, 123456789}[rnd.IntN(3)]
		o := flashsale.ReportOrder{OrderID: fmt.Sprintf("%s.%06d", r.SaleID, i), UserID: fmt.Sprintf("user-%d", rnd.IntN(n+1)),
			Quantity: qty, AmountCents: qty * price, CreatedAt: flashsale.FormatTime(created)}
		switch k := rnd.IntN(10); {
		case k < 6:
			o.Status = "paid"
			o.PaidAt = flashsale.FormatTime(created.Add(time.Duration(30+rnd.IntN(270)) * time.Second))
			u.Paid += qty
			r.RevenueCents += o.AmountCents
		case k < 7:
			o.Status = "reserved"
			u.Reserved += qty
		case k < 9:
			o.Status = "expired"
			u.Expired += qty
		default:
			o.Status = "cancelled"
			u.Cancelled += qty
		}
		if o.Status == "expired" && rnd.IntN(4) == 0 {
			r.Refunds = append(r.Refunds, flashsale.Refund{EventID: fmt.Sprintf("evt_%d", i), OrderID: o.OrderID, AmountCents: o.AmountCents, Reason: flashsale.ReasonExpired})
			r.RefundsDueCents += o.AmountCents
		}
		r.Orders = append(r.Orders, o)
	}
	u.InLimbo = 3
	u.Restocked = u.Expired + u.Cancelled
	u.Available = 5000 + int64(n)
	u.Loaded = u.Available + u.Reserved + u.Paid + u.InLimbo
	r.Adjustments = append(r.Adjustments,
		flashsale.Adjustment{Kind: flashsale.AdjustmentLeakRepaired, Units: 2, Detail: "2 units returned to stock, <shard 3> & co", At: flashsale.FormatTime(start.Add(span / 2))},
		flashsale.Adjustment{Kind: flashsale.AdjustmentClaimReleased, Units: 1, Detail: `claim of "dead" request released`, At: flashsale.FormatTime(start.Add(span))},
		flashsale.Adjustment{Kind: flashsale.AdjustmentInLimbo, Units: 3, Detail: "3 units in limbo"},
	)
	return r
}

// period is three sales in two currencies, with totals per currency as
// the service computes them.
func period() flashsale.PeriodReport {
	return flashsale.PeriodReport{
		From: "2026-12-01", To: "2026-12-31", GeneratedAt: "2027-01-01T08:00:00Z",
		Sales: []flashsale.PeriodSale{
			{SaleID: "spring-1", Name: "Spring <drop> & more", SettledAt: "2026-12-01T10:15:00Z", Currency: "USD",
				Units: flashsale.ReportUnits{Loaded: 1000, Paid: 2, Available: 996, Reserved: 2}, RevenueCents: 3998, RefundsDueCents: 1999, Balanced: true},
			{SaleID: "winter-7", Name: "Winter", SettledAt: "2026-12-12T18:30:05Z", Currency: "EUR",
				Units: flashsale.ReportUnits{Loaded: 500, Paid: 480, Available: 20}, RevenueCents: 123456789, RefundsDueCents: 0, Balanced: true},
			{SaleID: "summer-2", Name: "Summer", SettledAt: "2026-12-20T00:00:00Z", Currency: "USD",
				Units: flashsale.ReportUnits{Loaded: 10, Paid: 9, Available: 0}, RevenueCents: 17991, RefundsDueCents: 5, Balanced: false},
		},
		Totals: []flashsale.CurrencyTotal{
			{Currency: "EUR", Sales: 1, UnitsPaid: 480, RevenueCents: 123456789, RefundsDueCents: 0, Balanced: true},
			{Currency: "USD", Sales: 2, UnitsPaid: 11, RevenueCents: 21989, RefundsDueCents: 2004, Balanced: false},
		},
	}
}
