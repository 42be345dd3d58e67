package flashsale

import (
	"context"
	"errors"
	"fmt"
)

// SaleView is a sale as GET /sales/{id} shows it.
type SaleView struct {
	SaleState
	Status SaleStatus
	// Remaining is approximate: the sum of the shards, cached about a second.
	Remaining int64
}

// GetSale answers GET /sales/{id}.
// Errors: ErrSaleNotFound, ErrUnavailable.
func (s *Service) GetSale(ctx context.Context, saleID string) (SaleView, error) {
	if !ValidID(saleID) {
		return SaleView{}, ErrSaleNotFound
	}
	st, e, err := s.sale(ctx, saleID)
	if err != nil {
		return SaleView{}, s.unavailable(err, "read sale %s", saleID)
	}
	now := s.now()
	e.mu.Lock()
	remaining, fresh := e.remaining, !e.remainingAt.IsZero() && now.Sub(e.remainingAt) < s.cacheTTL
	e.mu.Unlock()
	if !fresh {
		shards, err := s.store.Available(ctx, st.Sale)
		if err != nil {
			return SaleView{}, s.unavailable(err, "read shards of %s", saleID)
		}
		remaining = 0
		for _, n := range shards {
			remaining += n
		}
		e.mu.Lock()
		e.remaining, e.remainingAt = remaining, now
		e.mu.Unlock()
	}
	return SaleView{SaleState: st, Status: st.StatusAt(now, e.soldOut() || remaining == 0), Remaining: remaining}, nil
}

// CreateSale validates and stores a new sale with its stock split over shards.
// Errors: *InputError, ErrSaleExists, ErrUnavailable.
func (s *Service) CreateSale(ctx context.Context, n NewSale) (SaleView, error) {
	sale, err := n.Build()
	if err != nil {
		return SaleView{}, err
	}
	err = s.store.CreateSale(ctx, sale, SplitStock(sale.Stock, sale.Shards))
	if errors.Is(err, ErrSaleExists) {
		// The same definition again puts its schedules if they never were
		// (the create answered ErrNotScheduled): that heals it, and the
		// answer is still ErrSaleExists. Schedules that were put are left
		// alone: deployed, those that fired deleted themselves, and
		// putting them again would fire them again.
		old, rerr := s.store.Sale(ctx, sale.ID)
		if rerr != nil {
			return SaleView{}, s.unavailable(rerr, "read existing sale %s", sale.ID)
		}
		if old.SameDefinition(sale) && !old.Scheduled {
			if err := s.schedule(ctx, sale); err != nil {
				return SaleView{}, err
			}
		}
		return SaleView{}, ErrSaleExists
	}
	if err != nil {
		return SaleView{}, s.unavailable(err, "create sale %s", sale.ID)
	}
	s.forget(sale.ID)
	if err := s.schedule(ctx, sale); err != nil {
		return SaleView{}, err
	}
	return s.GetSale(ctx, sale.ID)
}

// AdminSale answers GET /admin/sales/{id}: the sale as its creation
// answered it, counters fresh.
// Errors: ErrSaleNotFound, ErrUnavailable.
func (s *Service) AdminSale(ctx context.Context, saleID string) (SaleView, error) {
	if !ValidID(saleID) {
		return SaleView{}, ErrSaleNotFound
	}
	s.forget(saleID)
	return s.GetSale(ctx, saleID)
}

// Restock adds units to a sale (an admin action) and counts them as loaded.
// Errors: *InputError, ErrSaleNotFound, ErrUnavailable.
func (s *Service) Restock(ctx context.Context, saleID string, qty int64) (SaleView, error) {
	if qty < 1 || qty > MaxStock {
		return SaleView{}, &InputError{Code: "invalid_quantity", Field: "quantity",
			Message: fmt.Sprintf("quantity must be an integer between 1 and %d", MaxStock)}
	}
	st, _, err := s.sale(ctx, saleID)
	if err != nil {
		return SaleView{}, s.unavailable(err, "read sale %s", saleID)
	}
	if err := s.store.AddStock(ctx, saleID, s.pick(st.Shards), qty); err != nil {
		return SaleView{}, s.unavailable(err, "restock %s", saleID)
	}
	s.forget(saleID)
	return s.GetSale(ctx, saleID)
}

// GetOrder answers GET /orders/{id} for its owner; anyone else gets
// ErrOrderNotFound. The status reads as expired once the order is past due.
// Errors: ErrOrderNotFound, ErrUnavailable.
func (s *Service) GetOrder(ctx context.Context, userID, orderID string) (Order, error) {
	_, ref, err := s.locate(ctx, orderID)
	if err != nil {
		return Order{}, err
	}
	o, err := s.store.Order(ctx, ref)
	if err != nil {
		return Order{}, s.unavailable(err, "read order %s", orderID)
	}
	if o.UserID != userID || o.Status == OrderPending || o.Status == OrderAborted {
		return Order{}, ErrOrderNotFound
	}
	o.Status = o.StatusAt(s.now())
	return o, nil
}

// MyOrders lists a buyer's orders in a sale, oldest first, each as GetOrder
// shows it. It is how a buyer whose 202 was lost finds the order: a retry
// after the sell-out is answered from memory and cannot tell. Holds still
// in flight and aborted ones are not orders and are left out.
// Errors: ErrSaleNotFound, ErrUnavailable.
func (s *Service) MyOrders(ctx context.Context, saleID, userID string) ([]Order, error) {
	st, err := s.LookupSale(ctx, saleID)
	if err != nil {
		return nil, err
	}
	ids, err := s.store.UserOrders(ctx, saleID, userID)
	if err != nil {
		return nil, s.unavailable(err, "list orders of %s in %s", userID, saleID)
	}
	now := s.now()
	orders := make([]Order, 0, len(ids))
	for _, id := range ids {
		o, err := s.store.Order(ctx, RefOf(st.Sale, id))
		if errors.Is(err, ErrOrderNotFound) {
			continue
		}
		if err != nil {
			return nil, s.unavailable(err, "read order %s", id)
		}
		if o.UserID != userID || o.Status == OrderPending || o.Status == OrderAborted {
			continue
		}
		o.Status = o.StatusAt(now)
		orders = append(orders, o)
	}
	return orders, nil
}

// CancelOrder cancels a reserved order of its owner and puts the units back
// on sale.
// Errors: ErrOrderNotFound, ErrOrderNotReserved, ErrUnavailable.
func (s *Service) CancelOrder(ctx context.Context, userID, orderID string) (Order, error) {
	sale, ref, err := s.locate(ctx, orderID)
	if err != nil {
		return Order{}, err
	}
	o, err := s.store.Release(ctx, ref, userID, OrderCancelled, s.now())
	if err != nil {
		return Order{}, s.unavailable(err, "cancel %s", orderID)
	}
	if err := s.restock(ctx, sale, ref, o.Quantity); err != nil {
		// The cancel stands; the units come back with settlement's repair.
		s.log.ErrorContext(ctx, "restock after cancel failed", "orderId", orderID, "err", err)
	}
	return o, nil
}

// restock returns a released order's units exactly once: the conditional
// MarkRestocked picks the one caller that may add them to a shard. A crash
// between the two leaves a leak that Audit finds, never a double return.
func (s *Service) restock(ctx context.Context, sale Sale, ref OrderRef, qty int64) error {
	if err := s.store.MarkRestocked(ctx, ref, s.now()); err != nil {
		if errors.Is(err, ErrNotPending) {
			return nil
		}
		return fmt.Errorf("mark %s restocked: %w", ref.OrderID, err)
	}
	if err := s.store.ReturnStock(ctx, ref.SaleID, sale.ShardOf(ref), qty); err != nil {
		return fmt.Errorf("return %d units of %s: %w", qty, ref.OrderID, err)
	}
	return nil
}

// expireOverdue expires a user's orders of a sale that are past their
// expiry and returns their units, as settlement would; it reports how many
// it expired. Only the per-user-limit answer calls it, so a buyer whose
// unpaid order lapsed can buy again at once.
func (s *Service) expireOverdue(ctx context.Context, sale Sale, userID string) (int, error) {
	ids, err := s.store.ClaimOrders(ctx, sale.ID, userID)
	if err != nil {
		return 0, err
	}
	now, n := s.now(), 0
	for _, id := range ids {
		ref := RefOf(sale, id)
		o, err := s.store.Order(ctx, ref)
		if err != nil || o.Status != OrderReserved || !now.After(o.ExpiresAt) {
			continue
		}
		released, err := s.store.Release(ctx, ref, "", OrderExpired, now)
		if err != nil {
			continue // paid, cancelled or expired by someone else meanwhile
		}
		n++
		if err := s.restock(ctx, sale, ref, released.Quantity); err != nil {
			s.log.ErrorContext(ctx, "restock after expiry failed; settlement will repair", "orderId", id, "err", err)
		}
	}
	return n, nil
}

// locate finds where an order lives from its ID.
func (s *Service) locate(ctx context.Context, orderID string) (Sale, OrderRef, error) {
	saleID, err := ParseOrderID(orderID)
	if err != nil {
		return Sale{}, OrderRef{}, ErrOrderNotFound
	}
	st, _, err := s.sale(ctx, saleID)
	if errors.Is(err, ErrSaleNotFound) {
		return Sale{}, OrderRef{}, ErrOrderNotFound
	}
	if err != nil {
		return Sale{}, OrderRef{}, s.unavailable(err, "read sale %s", saleID)
	}
	return st.Sale, RefOf(st.Sale, orderID), nil
}

// LookupSale returns the cached view of a sale, without touching stock.
// Errors: ErrSaleNotFound, ErrUnavailable.
func (s *Service) LookupSale(ctx context.Context, saleID string) (SaleState, error) {
	if !ValidID(saleID) {
		return SaleState{}, ErrSaleNotFound
	}
	st, _, err := s.sale(ctx, saleID)
	if err != nil {
		return SaleState{}, s.unavailable(err, "read sale %s", saleID)
	}
	return st, nil
}
