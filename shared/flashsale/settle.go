package flashsale

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"
)

// LeaseTTL bounds one settlement run; a crashed run's lease expires after it.
const LeaseTTL = 5 * time.Minute

// SettleStats is what one settlement run did, for metrics.
type SettleStats struct {
	SaleID        string
	UnitsSold     int64 // units paid since the previous report
	UnitsExpired  int64 // units expired by this run
	LeaksRepaired int64 // units this run returned from leaks
	Unbalanced    bool
}

// Metrics receives each run's stats (CloudWatch EMF in Lambda).
type Metrics interface {
	Settled(ctx context.Context, st SettleStats)
}

// WithMetrics sets where settlement reports its stats.
func WithMetrics(m Metrics) Option { return func(s *Service) { s.metrics = m } }

// Settle runs settlement for one sale under its lease and returns the new
// report. In order:
//
//  1. Expiry: reserved orders past expiresAt become expired, and their
//     units go back exactly once (conditional transition, then restock).
//     Orders left due for restock by an earlier crash are finished too.
//  2. Reconciliation: holds left pending by dead requests are aborted and
//     their claims given back; units taken from stock that no live order
//     accounts for (Audit.Leaked) are returned, and each repair recorded.
//  3. Report: recomputed from the orders, shards and ledger, and stored.
//
// Running it again changes nothing but the report's generatedAt.
// Errors: ErrSaleNotFound, ErrLeaseHeld, ErrUnavailable.
func (s *Service) Settle(ctx context.Context, saleID string) (Report, error) {
	owner := "settle-" + s.newID()
	now := s.now()
	if err := s.store.AcquireLease(ctx, saleID, owner, now, now.Add(LeaseTTL)); err != nil {
		return Report{}, s.unavailable(err, "lease %s", saleID)
	}
	defer func() {
		if err := s.store.ReleaseLease(context.WithoutCancel(ctx), saleID, owner); err != nil {
			s.log.WarnContext(ctx, "lease not released; it expires by itself", "saleId", saleID, "err", err)
		}
	}()
	st, err := s.store.Sale(ctx, saleID)
	if err != nil {
		return Report{}, s.unavailable(err, "read sale %s", saleID)
	}
	stats := SettleStats{SaleID: saleID}

	// 1. Expiry, and restocks an earlier crash left unfinished.
	orders, err := s.store.SaleOrders(ctx, st.Sale)
	if err != nil {
		return Report{}, s.unavailable(err, "read orders of %s", saleID)
	}
	for _, o := range orders {
		ref := RefOf(st.Sale, o.ID)
		if o.Status == OrderReserved && now.After(o.ExpiresAt) {
			released, err := s.store.Release(ctx, ref, "", OrderExpired, now)
			if errors.Is(err, ErrOrderNotReserved) {
				continue // paid or cancelled meanwhile
			}
			if err != nil {
				return Report{}, s.unavailable(err, "expire %s", o.ID)
			}
			o = released
			stats.UnitsExpired += o.Quantity
		}
		if o.RestockDue {
			if err := s.restock(ctx, st.Sale, ref, o.Quantity); err != nil {
				return Report{}, s.unavailable(err, "restock %s", o.ID)
			}
		}
	}

	// 2. Reconciliation.
	first, err := s.audit(ctx, saleID, nil)
	if err != nil {
		return Report{}, s.unavailable(err, "audit %s", saleID)
	}
	dead := map[string]bool{}
	for _, h := range first.StaleHolds {
		err := s.store.Abort(ctx, RefOf(st.Sale, h.ID), h.UserID, h.IdempotencyKey, h.Quantity, now)
		if errors.Is(err, ErrNotPending) {
			continue // the writer or a payment took it meanwhile: it is live
		}
		if err != nil {
			return Report{}, s.unavailable(err, "abort stale hold %s", h.ID)
		}
		dead[h.ID] = true
		adj := Adjustment{Kind: AdjustmentClaimReleased, Units: h.Quantity, At: FormatTime(now),
			Detail: fmt.Sprintf("order %s of user %s: request died before accepting; claim released", h.ID, h.UserID)}
		if err := s.store.AddAdjustment(ctx, saleID, adj); err != nil {
			return Report{}, s.unavailable(err, "record adjustment")
		}
	}
	audit, err := s.audit(ctx, saleID, dead)
	if err != nil {
		return Report{}, s.unavailable(err, "audit %s", saleID)
	}
	if audit.Leaked > 0 {
		adj := Adjustment{Kind: AdjustmentLeakRepaired, Units: audit.Leaked, At: FormatTime(now),
			Detail: fmt.Sprintf("%d units were taken from stock with no live order (a crash between steps); returned to stock", audit.Leaked)}
		if err := s.store.RepairLeak(ctx, saleID, s.pick(st.Shards), audit.Leaked, adj); err != nil {
			return Report{}, s.unavailable(err, "repair leak of %s", saleID)
		}
		stats.LeaksRepaired = audit.Leaked
		s.log.WarnContext(ctx, "leak repaired", "saleId", saleID, "units", audit.Leaked)
	}

	// A sold-out mark with units on the shards (a return whose second write,
	// the mark's clearing, failed) would hide them from buyers for good.
	if cur, err := s.store.Sale(ctx, saleID); err == nil && cur.SoldOut && audit.Available > 0 {
		if err := s.store.ClearSoldOut(ctx, saleID); err != nil {
			return Report{}, s.unavailable(err, "clear sold-out mark of %s", saleID)
		}
		s.log.WarnContext(ctx, "sold-out mark cleared: units were on sale", "saleId", saleID, "units", audit.Available)
	}

	// 3. Report.
	report, err := s.buildReport(ctx, saleID, now)
	if err != nil {
		return Report{}, err
	}
	var soldBefore int64
	if prev, err := s.store.Report(ctx, saleID); err == nil {
		soldBefore = prev.Units.Paid
	}
	if err := s.store.SaveReport(ctx, report); err != nil {
		return Report{}, s.unavailable(err, "save report of %s", saleID)
	}
	s.forget(saleID)
	stats.UnitsSold, stats.Unbalanced = report.Units.Paid-soldBefore, !report.Balanced
	if s.metrics != nil {
		s.metrics.Settled(ctx, stats)
	}
	if !report.Balanced {
		s.log.ErrorContext(ctx, "settlement report does not balance", "saleId", saleID, "units", report.Units)
	}
	return report, nil
}

// SettleAll settles every sale that is running or ended within the last
// week; a sale whose lease another run holds is skipped.
func (s *Service) SettleAll(ctx context.Context) error {
	sales, err := s.store.ListSales(ctx)
	if err != nil {
		return s.unavailable(err, "list sales")
	}
	var errs []error
	now := s.now()
	for _, st := range sales {
		if now.Sub(st.EndsAt) > 7*24*time.Hour {
			continue
		}
		if _, err := s.Settle(ctx, st.ID); err != nil && !errors.Is(err, ErrLeaseHeld) {
			errs = append(errs, fmt.Errorf("settle %s: %w", st.ID, err))
		}
	}
	return errors.Join(errs...)
}

// LatestReport reads the stored report of a sale.
// Errors: ErrSaleNotFound, ErrNotSettled, ErrUnavailable.
func (s *Service) LatestReport(ctx context.Context, saleID string) (Report, error) {
	if _, err := s.LookupSale(ctx, saleID); err != nil {
		return Report{}, err
	}
	r, err := s.store.Report(ctx, saleID)
	if err != nil {
		return Report{}, s.unavailable(err, "read report of %s", saleID)
	}
	return r, nil
}

func (s *Service) buildReport(ctx context.Context, saleID string, now time.Time) (Report, error) {
	audit, err := s.audit(ctx, saleID, nil)
	if err != nil {
		return Report{}, s.unavailable(err, "audit %s", saleID)
	}
	st, err := s.store.Sale(ctx, saleID)
	if err != nil {
		return Report{}, s.unavailable(err, "read sale %s", saleID)
	}
	ledger, err := s.store.Ledger(ctx, saleID)
	if err != nil {
		return Report{}, s.unavailable(err, "read ledger of %s", saleID)
	}
	adjustments, err := s.store.Adjustments(ctx, saleID)
	if err != nil {
		return Report{}, s.unavailable(err, "read adjustments of %s", saleID)
	}
	r := Report{
		SaleID: saleID, GeneratedAt: FormatTime(now), Currency: st.Currency,
		Adjustments: append([]Adjustment{}, adjustments...), Refunds: []Refund{}, Orders: []ReportOrder{},
	}
	r.Units.Loaded, r.Units.Available = audit.Loaded, audit.Available
	orders := append([]Order(nil), audit.Orders...)
	sort.Slice(orders, func(i, j int) bool {
		if !orders[i].CreatedAt.Equal(orders[j].CreatedAt) {
			return orders[i].CreatedAt.Before(orders[j].CreatedAt)
		}
		return orders[i].ID < orders[j].ID
	})
	for _, o := range orders {
		switch o.Status {
		case OrderAborted:
			continue
		case OrderPending, OrderReserved:
			r.Units.Reserved += o.Quantity
		case OrderPaid:
			r.Units.Paid += o.Quantity
			r.RevenueCents += o.AmountCents
		case OrderExpired:
			r.Units.Expired += o.Quantity
		case OrderCancelled:
			r.Units.Cancelled += o.Quantity
		}
		if !o.RestockedAt.IsZero() {
			r.Units.Restocked += o.Quantity
		}
		line := ReportOrder{
			OrderID: o.ID, UserID: o.UserID, Quantity: o.Quantity, AmountCents: o.AmountCents,
			Status: string(o.StatusAt(now)), CreatedAt: FormatTime(o.CreatedAt),
		}
		if !o.PaidAt.IsZero() {
			line.PaidAt = FormatTime(o.PaidAt)
		}
		r.Orders = append(r.Orders, line)
	}
	for _, e := range ledger {
		if e.Kind == LedgerRefundDue {
			r.Refunds = append(r.Refunds, Refund{EventID: e.EventID, OrderID: e.OrderID, AmountCents: e.AmountCents, Reason: e.Reason})
			r.RefundsDueCents += e.AmountCents
		}
	}
	u := r.Units
	r.Balanced = u.Available+u.Reserved+u.Paid == u.Loaded && u.Restocked == u.Expired+u.Cancelled
	return r, nil
}
