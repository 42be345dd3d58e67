package flashsale

import (
	"context"
	"fmt"
)

// Audit is a sale's stock accounting at one moment, as settlement sees it.
type Audit struct {
	Loaded    int64
	Available int64
	// Held counts units not on sale: reserved and paid orders, holds still in
	// flight, and released orders whose units may not be back yet.
	Held int64
	// StaleHolds are pending holds older than the grace period: the request
	// that wrote them died before accepting or aborting.
	StaleHolds []Order
	// Orders is everything SaleOrders returned.
	Orders []Order
	// Leaked = Loaded - Available - Held: units taken from a shard that no
	// live order accounts for. Stale holds are not held, so the units a
	// crashed request took count here. Never more than the true leak; see
	// below.
	Leaked int64
}

// Audit reads a sale's loaded count, then its shards, then its orders, in
// that order, so that a concurrent purchase or return can only make Leaked
// smaller than the truth, never larger:
//   - a purchase writes its hold before taking stock, so a take that the
//     shard read saw is matched by a hold the order read sees; a hold
//     aborted within the grace period still counts, since its compensation
//     may not have returned the units yet;
//   - a return marks its order before adding to a shard, and an order
//     returned within the grace period still counts as held;
//   - an admin restock adds to a shard and to Loaded atomically.
//
// Repairing exactly Leaked units therefore never oversells.
func (s *Service) Audit(ctx context.Context, saleID string) (Audit, error) {
	return s.audit(ctx, saleID, nil)
}

// audit is Audit, told which aborted holds are known dead: settlement
// aborted them itself, long after their request ended, so no compensation
// of theirs can still be returning units.
func (s *Service) audit(ctx context.Context, saleID string, dead map[string]bool) (Audit, error) {
	st, err := s.store.Sale(ctx, saleID)
	if err != nil {
		return Audit{}, fmt.Errorf("audit %s: %w", saleID, err)
	}
	shards, err := s.store.Available(ctx, st.Sale)
	if err != nil {
		return Audit{}, fmt.Errorf("audit %s: %w", saleID, err)
	}
	orders, err := s.store.SaleOrders(ctx, st.Sale)
	if err != nil {
		return Audit{}, fmt.Errorf("audit %s: %w", saleID, err)
	}
	a := Audit{Loaded: st.Loaded, Orders: orders}
	for _, n := range shards {
		a.Available += n
	}
	now := s.now()
	for _, o := range orders {
		switch {
		case o.Status == OrderPending && now.Sub(o.CreatedAt) > s.staleAfter:
			a.StaleHolds = append(a.StaleHolds, o)
		case o.Status.Holds():
			a.Held += o.Quantity
		case o.Status == OrderAborted:
			if !dead[o.ID] && now.Sub(o.AbortedAt) <= s.staleAfter {
				a.Held += o.Quantity // its compensation may still be returning units
			}
		case o.RestockDue, now.Sub(o.RestockedAt) <= s.staleAfter:
			a.Held += o.Quantity // on its way back to a shard
		}
	}
	a.Leaked = a.Loaded - a.Available - a.Held
	return a, nil
}
