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

// DefaultSettleWait is how long an on-demand settlement waits for a run that
// holds the sale's lease (a scheduled one, usually) before giving up.
const DefaultSettleWait = 20 * time.Second

// SettleStats is what one settlement run did, for metrics.
type SettleStats struct {
	SaleID        string
	UnitsSold     int64 // units paid since the previous report
	UnitsExpired  int64 // units expired by this run
	LeaksRepaired int64 // units this run returned from leaks
	Unbalanced    bool
	Remaining     int64 // units on sale after the run (the report's available)
}

// Metrics receives each run's stats (CloudWatch EMF in Lambda).
type Metrics interface {
	Settled(ctx context.Context, st SettleStats)
}

// WithMetrics sets where settlement reports its stats.
func WithMetrics(m Metrics) Option { return func(s *Service) { s.metrics = m } }

// WithSettleWait bounds how long Settle waits for another run's lease.
// Default DefaultSettleWait.
func WithSettleWait(d time.Duration) Option { return func(s *Service) { s.settleWait = d } }

// ErrSettlementIncomplete means a settlement pass stopped at a safe point
// because its caller's deadline came: what it did stays done, the lease is
// released, and the next pass (the schedule's, or another call) carries on
// from there. No report was published by this pass.
var ErrSettlementIncomplete = errors.New("settlement made progress and continues on the schedule; ask again")

// settleStopMargin is how long before its context's deadline a pass stops at
// its next safe point. It is far longer than one store write takes, so the
// pass normally stops between writes; the deadline itself only cuts a call
// that hangs, which is no worse than a crash between steps (see settle).
const settleStopMargin = time.Second

// releaseTimeout bounds the lease's release after a pass, on a context of
// its own: the pass's may be cancelled, and the release must not outlive
// the caller's limit by more than this.
const releaseTimeout = 2 * time.Second

// LeaseHeldError is ErrLeaseHeld with a hint of when to try again.
type LeaseHeldError struct{ RetryAfter time.Duration }

func (e *LeaseHeldError) Error() string { return ErrLeaseHeld.Error() }
func (e *LeaseHeldError) Unwrap() error { return ErrLeaseHeld }

// Settle runs settlement for one sale on demand and returns the new report.
// If another run (the schedule's) holds the sale's lease, Settle waits for
// it to finish, up to the settle wait and never closer than a few seconds to
// ctx's deadline, then runs a pass of its own, so the report it returns is
// never older than the call. See settle for what a pass does.
// If ctx has a deadline, the pass stops at a safe point a second before it
// and answers ErrSettlementIncomplete; the lease is always released.
// Errors: ErrSaleNotFound, a *LeaseHeldError (errors.Is ErrLeaseHeld) when
// the lease is still held after the wait, ErrSettlementIncomplete,
// ErrUnavailable.
func (s *Service) Settle(ctx context.Context, saleID string) (Report, error) {
	owner := "settle-" + s.newID()
	if err := s.awaitLease(ctx, saleID, owner); err != nil {
		return Report{}, err
	}
	return s.settle(ctx, saleID, owner, true)
}

// SettleAll settles every sale that is running or ended within the last
// week, as the schedule does; a sale whose lease another run holds is
// skipped, since that run is doing the work.
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
		owner := "schedule-" + s.newID()
		err := s.store.AcquireLease(ctx, st.ID, owner, now, now.Add(LeaseTTL))
		if errors.Is(err, ErrLeaseHeld) {
			continue
		}
		if err == nil {
			_, err = s.settle(ctx, st.ID, owner, false)
		}
		if errors.Is(err, ErrSettlementIncomplete) {
			// Out of time: the sales not reached wait for the next run.
			errs = append(errs, fmt.Errorf("settle %s: %w", st.ID, err))
			break
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("settle %s: %w", st.ID, s.unavailable(err, "lease %s", st.ID)))
		}
	}
	return errors.Join(errs...)
}

// leaseMargin is the part of a caller's deadline that awaitLease leaves for
// the settlement pass itself.
const leaseMargin = 5 * time.Second

// awaitLease takes the sale's lease for owner, waiting for a run that holds
// it. Runs take seconds, so it polls: 50 ms at first, doubling to 500 ms.
// Waiting is measured on the wall clock, not the service's (which tests
// may freeze).
func (s *Service) awaitLease(ctx context.Context, saleID, owner string) error {
	deadline := time.Now().Add(s.settleWait)
	if d, ok := ctx.Deadline(); ok && d.Add(-leaseMargin).Before(deadline) {
		deadline = d.Add(-leaseMargin)
	}
	for pause := 50 * time.Millisecond; ; pause = min(2*pause, 500*time.Millisecond) {
		now := s.now()
		err := s.store.AcquireLease(ctx, saleID, owner, now, now.Add(LeaseTTL))
		if err == nil {
			return nil
		}
		if !errors.Is(err, ErrLeaseHeld) {
			return s.unavailable(err, "lease %s", saleID)
		}
		if time.Now().Add(pause).After(deadline) {
			return &LeaseHeldError{RetryAfter: 5 * time.Second}
		}
		select {
		case <-ctx.Done():
			return &LeaseHeldError{RetryAfter: 5 * time.Second}
		case <-time.After(pause):
		}
	}
}

// settle is one settlement pass over a sale whose lease owner holds; it
// releases the lease when done, on a context of its own (ctx may be
// cancelled by then), so a pass cut short never strands the lease. In order:
//
//  1. expire: reserved orders past expiresAt become expired, and their units
//     go back exactly once (conditional transition, then restock). Orders
//     left due for restock by an earlier crash are finished too.
//  2. reconcile: holds left pending by dead requests are aborted and their
//     claims given back; then units taken from stock that no live order
//     accounts for (Audit.Leaked, which counts the holds this pass aborted)
//     are returned, and each repair recorded. Everything a crash left in
//     limbo comes back in this one pass.
//  3. publish: the report, recomputed from the orders, shards and ledger,
//     is stored.
//
// Running it again changes nothing but the report's generatedAt.
//
// Every step is an idempotent pass over what the store says, and every
// write in it is conditional, so a pass may stop anywhere a crash could:
// the next pass finishes the job (an expired order's due restock, a leak)
// exactly once. When ctx has a deadline, the pass stops at the safe points
// (before each order it expires, before each stale hold it aborts, before
// the leak repair and before the report) once the deadline is within
// settleStopMargin, and returns ErrSettlementIncomplete; a store call that
// the deadline itself cuts counts as the same stop.
//
// onDemand is an admin's run (Settle): it also checks that the archive
// holds the latest version's files and writes them again if not (files
// lost, e.g. a local stack restarted with its tables kept), so "settle
// again" always brings a report back. Scheduled runs skip that read.
func (s *Service) settle(ctx context.Context, saleID, owner string, onDemand bool) (rep Report, err error) {
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
		defer cancel()
		if err := s.store.ReleaseLease(rctx, saleID, owner); err != nil {
			s.log.WarnContext(ctx, "lease not released; it expires by itself", "saleId", saleID, "err", err)
		}
	}()
	defer func() {
		if err != nil && !errors.Is(err, ErrSettlementIncomplete) && ctx.Err() != nil {
			err = fmt.Errorf("%w: %w", ErrSettlementIncomplete, err) // a call the deadline cut
		}
		if errors.Is(err, ErrSettlementIncomplete) {
			s.log.WarnContext(ctx, "settlement stopped at its deadline; the next run continues", "saleId", saleID, "err", err)
		}
	}()
	st, err := s.store.Sale(ctx, saleID)
	if err != nil {
		return Report{}, s.unavailable(err, "read sale %s", saleID)
	}
	now := s.now()
	stats := SettleStats{SaleID: saleID}
	if stats.UnitsExpired, err = s.expire(ctx, st.Sale, now); err != nil {
		return Report{}, err
	}
	if err := stopDue(ctx, "before reconciliation"); err != nil {
		return Report{}, err
	}
	if stats.LeaksRepaired, err = s.reconcile(ctx, st, now); err != nil {
		return Report{}, err
	}
	if err := stopDue(ctx, "before the report"); err != nil {
		return Report{}, err
	}
	report, err := s.publish(ctx, saleID, now, onDemand)
	if err != nil {
		return Report{}, err
	}
	s.forget(saleID)
	stats.UnitsSold, stats.Unbalanced = report.Units.Paid-report.previousPaid, !report.Balanced
	stats.Remaining = report.Units.Available
	if s.metrics != nil {
		s.metrics.Settled(ctx, stats)
	}
	if !report.Balanced {
		s.log.ErrorContext(ctx, "settlement report does not balance", "saleId", saleID, "units", report.Units)
	}
	return report.Report, nil
}

// expire moves reserved orders past their expiry to expired and restocks
// them, and finishes restocks an earlier crash left due. It returns the
// units it expired.
func (s *Service) expire(ctx context.Context, sale Sale, now time.Time) (int64, error) {
	orders, err := s.store.SaleOrders(ctx, sale)
	if err != nil {
		return 0, s.unavailable(err, "read orders of %s", sale.ID)
	}
	var expired int64
	for i, o := range orders {
		if err := stopDue(ctx, fmt.Sprintf("expiry, %d of %d orders checked", i, len(orders))); err != nil {
			return expired, err
		}
		ref := RefOf(sale, o.ID)
		if o.Status == OrderReserved && now.After(o.ExpiresAt) {
			released, err := s.store.Release(ctx, ref, "", OrderExpired, now)
			if errors.Is(err, ErrOrderNotReserved) {
				continue // paid or cancelled meanwhile
			}
			if err != nil {
				return 0, s.unavailable(err, "expire %s", o.ID)
			}
			o = released
			expired += o.Quantity
		}
		if o.RestockDue {
			if err := s.restock(ctx, sale, ref, o.Quantity); err != nil {
				return 0, s.unavailable(err, "restock %s", o.ID)
			}
		}
	}
	return expired, nil
}

// reconcile aborts the holds dead requests left pending, then returns to
// stock every unit no live order accounts for, and clears a sold-out mark
// that hides units. It returns the units it put back.
func (s *Service) reconcile(ctx context.Context, st SaleState, now time.Time) (int64, error) {
	saleID := st.ID
	first, err := s.audit(ctx, saleID, nil)
	if err != nil {
		return 0, s.unavailable(err, "audit %s", saleID)
	}
	// Holds this pass aborts are known dead: their request ended long ago,
	// so no compensation of theirs can still be returning units, and the
	// units they took count as leaked in the same pass.
	dead := map[string]bool{}
	for i, h := range first.StaleHolds {
		// A hold aborted by a pass that stops here is repaired by a later
		// pass once the grace has passed since its abort, as for a
		// compensation's abort: later, never twice.
		if err := stopDue(ctx, fmt.Sprintf("reconciliation, %d of %d stale holds aborted", i, len(first.StaleHolds))); err != nil {
			return 0, err
		}
		err := s.store.Abort(ctx, RefOf(st.Sale, h.ID), h.UserID, h.IdempotencyKey, h.Quantity, now)
		if errors.Is(err, ErrNotPending) {
			continue // the writer or a payment took it meanwhile: it is live
		}
		if err != nil {
			return 0, s.unavailable(err, "abort stale hold %s", h.ID)
		}
		dead[h.ID] = true
		adj := Adjustment{Kind: AdjustmentClaimReleased, Units: h.Quantity, At: FormatTime(now),
			Detail: fmt.Sprintf("order %s of user %s: request died before accepting; claim released", h.ID, h.UserID)}
		if err := s.store.AddAdjustment(ctx, saleID, adj); err != nil {
			return 0, s.unavailable(err, "record adjustment")
		}
	}
	audit, err := s.audit(ctx, saleID, dead)
	if err != nil {
		return 0, s.unavailable(err, "audit %s", saleID)
	}
	var repaired int64
	if err := stopDue(ctx, "before the leak repair"); err != nil {
		return 0, err
	}
	if audit.Leaked > 0 {
		adj := Adjustment{Kind: AdjustmentLeakRepaired, Units: audit.Leaked, At: FormatTime(now),
			Detail: fmt.Sprintf("%d units were taken from stock with no live order (a crash between steps); returned to stock", audit.Leaked)}
		if err := s.store.RepairLeak(ctx, saleID, s.pick(st.Shards), audit.Leaked, adj); err != nil {
			return 0, s.unavailable(err, "repair leak of %s", saleID)
		}
		repaired = audit.Leaked
		s.log.WarnContext(ctx, "leak repaired", "saleId", saleID, "units", audit.Leaked)
	}
	// A sold-out mark with units on the shards (a return whose second write,
	// the mark's clearing, failed) would hide them from buyers for good.
	if cur, err := s.store.Sale(ctx, saleID); err == nil && cur.SoldOut && audit.Available+repaired > 0 {
		if err := s.store.ClearSoldOut(ctx, saleID); err != nil {
			return 0, s.unavailable(err, "clear sold-out mark of %s", saleID)
		}
		s.log.WarnContext(ctx, "sold-out mark cleared: units were on sale", "saleId", saleID, "units", audit.Available+repaired)
	}
	return repaired, nil
}

// stopDue returns ErrSettlementIncomplete, saying where, once ctx's
// deadline is within settleStopMargin (or ctx is done); nil otherwise.
func stopDue(ctx context.Context, where string) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w (stopped at %s)", ErrSettlementIncomplete, where)
	}
	if d, ok := ctx.Deadline(); ok && time.Until(d) < settleStopMargin {
		return fmt.Errorf("%w (stopped at %s)", ErrSettlementIncomplete, where)
	}
	return nil
}

// published is a stored report and the paid units of the report before it.
type published struct {
	Report
	previousPaid int64
}

// publish builds the report and stores it. A report whose content
// changed since the last run (Fingerprint) is a new version: the archive
// gets its files, then the period index its day's line, and last the
// store its summary, which is what says a version is complete. A run that
// changed nothing rewrites only the summary's generatedAt, unless
// verifyFiles finds the archive without the version's files: then they
// are written again (the period index already has the version).
func (s *Service) publish(ctx context.Context, saleID string, now time.Time, verifyFiles bool) (published, error) {
	report, err := s.buildReport(ctx, saleID, now)
	if err != nil {
		return published{}, err
	}
	p := published{Report: report}
	stored := StoredReport{Report: report.Summary(), Fingerprint: report.Fingerprint(),
		OrderLines: len(report.Orders), RefundLines: len(report.Refunds), AdjustmentLines: len(report.Adjustments)}
	changed := true
	prev, err := s.store.Report(ctx, saleID)
	switch {
	case err == nil:
		p.previousPaid = prev.Units.Paid
		changed = prev.Fingerprint != stored.Fingerprint
	case !errors.Is(err, ErrNotSettled):
		return published{}, s.unavailable(err, "read the report of %s", saleID)
	}
	writeFiles := changed && s.archive != nil
	if !changed && verifyFiles && s.archive != nil {
		holds, err := s.archive.Holds(ctx, saleID, stored.Fingerprint)
		if err != nil {
			return published{}, s.unavailable(err, "look for the report files of %s", saleID)
		}
		writeFiles = !holds
	}
	stored.Name = prev.Name
	if changed {
		st, err := s.store.Sale(ctx, saleID)
		if err != nil {
			return published{}, s.unavailable(err, "read sale %s", saleID)
		}
		stored.Name = st.Name
	}
	if writeFiles {
		if err := s.archive.Publish(ctx, report); err != nil {
			return published{}, s.unavailable(err, "publish the report of %s", saleID)
		}
	}
	if changed {
		line := SettledSale{SaleID: saleID, Name: stored.Name, Day: now.UTC().Format(DayLayout), GeneratedAt: now,
			Currency: report.Currency, Units: report.Units, RevenueCents: report.RevenueCents,
			RefundsDueCents: report.RefundsDueCents, Balanced: report.Balanced}
		if err := s.store.RecordSettled(ctx, line); err != nil {
			return published{}, s.unavailable(err, "index the report of %s", saleID)
		}
	}
	if err := s.store.SaveReport(ctx, stored); err != nil {
		return published{}, s.unavailable(err, "save report of %s", saleID)
	}
	return p, nil
}

// LatestReport reads the summary of a sale's latest report: its figures
// without the order and refund lines (ReportFile has the whole).
// Errors: ErrSaleNotFound, ErrNotSettled, ErrUnavailable.
func (s *Service) LatestReport(ctx context.Context, saleID string) (StoredReport, error) {
	if _, err := s.LookupSale(ctx, saleID); err != nil {
		return StoredReport{}, err
	}
	r, err := s.store.Report(ctx, saleID)
	if err != nil {
		return StoredReport{}, s.unavailable(err, "read report of %s", saleID)
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
	var limboMax int64 // units that requests in flight or cut short may hold
	for _, o := range orders {
		switch o.Status {
		case OrderAborted:
			if now.Sub(o.AbortedAt) <= s.staleAfter {
				limboMax += o.Quantity // its compensation may still be returning units
			}
			continue
		case OrderPending:
			// A request in flight, or one that died: never answered 202, so
			// not an order (GET /orders and my-orders hide it too), and its
			// units may or may not have left the shard.
			limboMax += o.Quantity
			continue
		case OrderReserved:
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
		if o.RestockDue || (!o.RestockedAt.IsZero() && now.Sub(o.RestockedAt) <= s.staleAfter) {
			limboMax += o.Quantity // on its way back to a shard
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
	// Units neither on sale nor in an order are in limbo when requests in
	// flight or cut short can account for them; beyond that they are lost,
	// and the books do not balance until settlement repairs the leak.
	gap := r.Units.Loaded - r.Units.Available - r.Units.Reserved - r.Units.Paid
	r.Units.InLimbo = min(max(gap, 0), limboMax)
	if r.Units.InLimbo > 0 {
		r.Adjustments = append(r.Adjustments, Adjustment{Kind: AdjustmentInLimbo, Units: r.Units.InLimbo, At: FormatTime(now),
			Detail: fmt.Sprintf("%d units are held by purchases in flight or cut short, or by returns under way; "+
				"settlement returns whatever is still out once their %s grace has passed", r.Units.InLimbo, s.staleAfter)})
	}
	u := r.Units
	r.Balanced = u.Available+u.Reserved+u.Paid+u.InLimbo == u.Loaded && u.Restocked == u.Expired+u.Cancelled
	return r, nil
}
