package memstore

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"time"

	"flashsale/shared/flashsale"
)

func refOf(o flashsale.Order, bucket int) flashsale.OrderRef {
	return flashsale.OrderRef{SaleID: o.SaleID, Bucket: bucket, OrderID: o.ID}
}

// order returns the stored order at ref; the caller holds s.mu.
func (s *Store) order(ref flashsale.OrderRef) (flashsale.Order, bool) {
	o, ok := s.orders[ref.SaleID][ref]
	return o, ok
}

// putOrder stores o at ref; the caller holds s.mu.
func (s *Store) putOrder(ref flashsale.OrderRef, o flashsale.Order) {
	m := s.orders[ref.SaleID]
	if m == nil {
		m = map[flashsale.OrderRef]flashsale.Order{}
		s.orders[ref.SaleID] = m
	}
	m[ref] = o
}

// copyRecord clones the receipt so no caller shares the stored bytes.
func copyRecord(r flashsale.IdempotencyRecord) flashsale.IdempotencyRecord {
	r.Receipt = bytes.Clone(r.Receipt)
	return r
}

// Reserve writes the idempotency record, the claim and the pending hold, or
// nothing. A taken key wins over a reached limit, as in the DynamoDB
// adapter, so a replay is recognised even when the user is at the limit.
func (s *Store) Reserve(_ context.Context, r flashsale.Reservation) error {
	o := r.Order
	s.mu.Lock()
	defer s.mu.Unlock()
	k := keyRef{o.UserID, r.Key}
	if rec, ok := s.keys[k]; ok {
		return &flashsale.KeyTakenError{Record: copyRecord(rec)}
	}
	c := claimRef{o.SaleID, o.UserID}
	if s.claims[c]+o.Quantity > r.Limit {
		return flashsale.ErrLimitReached
	}
	ref := refOf(o, r.Bucket)
	if _, ok := s.order(ref); ok {
		return fmt.Errorf("reserve %s: %w", o.ID, flashsale.ErrAlreadyStored)
	}
	s.keys[k] = flashsale.IdempotencyRecord{
		UserID: o.UserID, Key: r.Key, SaleID: o.SaleID, Quantity: o.Quantity,
		OrderID: o.ID, Receipt: bytes.Clone(r.Receipt),
	}
	s.claims[c] += o.Quantity
	s.claimOrder(c, o.ID, true)
	setMember(s.userOrders, c, o.ID, true)
	s.putOrder(ref, o)
	return nil
}

// claimOrder adds an order to, or takes it out of, a claim's order list.
func (s *Store) claimOrder(c claimRef, orderID string, add bool) {
	setMember(s.claimOrders, c, orderID, add)
}

// setMember adds orderID to, or takes it out of, one claim's set in sets.
func setMember(sets map[claimRef]map[string]bool, c claimRef, orderID string, add bool) {
	if sets[c] == nil {
		sets[c] = map[string]bool{}
	}
	if add {
		sets[c][orderID] = true
	} else {
		delete(sets[c], orderID)
	}
}

// ClaimOrders lists the orders a user's claim counts, sorted.
func (s *Store) ClaimOrders(_ context.Context, saleID, userID string) ([]string, error) {
	return s.sortedSet(s.claimOrders, claimRef{saleID, userID}), nil
}

// UserOrders lists every order a user's purchases in a sale created, sorted.
func (s *Store) UserOrders(_ context.Context, saleID, userID string) ([]string, error) {
	return s.sortedSet(s.userOrders, claimRef{saleID, userID}), nil
}

func (s *Store) sortedSet(sets map[claimRef]map[string]bool, c claimRef) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for id := range sets[c] {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Accept turns a pending hold into a reserved order.
func (s *Store) Accept(_ context.Context, ref flashsale.OrderRef) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.order(ref)
	if !ok || o.Status != flashsale.OrderPending {
		return flashsale.ErrNotPending
	}
	o.Status = flashsale.OrderReserved
	s.putOrder(ref, o)
	return nil
}

// Abort marks a pending hold aborted at now, deletes its idempotency record
// and gives the claim back. The hold stays as a tombstone for the audit. As
// in the DynamoDB adapter, a key that now names another order fails the
// abort too.
func (s *Store) Abort(_ context.Context, ref flashsale.OrderRef, userID, key string, qty int64, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.order(ref)
	if !ok || o.Status != flashsale.OrderPending {
		return flashsale.ErrNotPending
	}
	k := keyRef{userID, key}
	if rec, ok := s.keys[k]; ok && rec.OrderID != ref.OrderID {
		return flashsale.ErrNotPending
	}
	o.Status, o.AbortedAt = flashsale.OrderAborted, now
	s.putOrder(ref, o)
	delete(s.keys, k)
	s.claims[claimRef{ref.SaleID, userID}] -= qty
	s.claimOrder(claimRef{ref.SaleID, userID}, ref.OrderID, false)
	setMember(s.userOrders, claimRef{ref.SaleID, userID}, ref.OrderID, false)
	return nil
}

// IdempotencyRecord reads a user's key.
func (s *Store) IdempotencyRecord(_ context.Context, userID, key string) (flashsale.IdempotencyRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.keys[keyRef{userID, key}]
	if !ok {
		return flashsale.IdempotencyRecord{}, flashsale.ErrOrderNotFound
	}
	return copyRecord(rec), nil
}

// Order reads one order or hold.
func (s *Store) Order(_ context.Context, ref flashsale.OrderRef) (flashsale.Order, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.order(ref)
	if !ok {
		return flashsale.Order{}, flashsale.ErrOrderNotFound
	}
	return o, nil
}

// Release moves a reserved order to expired or cancelled, marks it due for
// restock and gives the claim back.
func (s *Store) Release(_ context.Context, ref flashsale.OrderRef, userID string, to flashsale.OrderStatus, now time.Time) (flashsale.Order, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.order(ref)
	if !ok {
		return flashsale.Order{}, flashsale.ErrOrderNotFound
	}
	cancel := to == flashsale.OrderCancelled
	// A buyer must not learn that someone else's order, or a hold that never
	// became an order, exists.
	if cancel && (o.UserID != userID || o.Status == flashsale.OrderPending || o.Status == flashsale.OrderAborted) {
		return flashsale.Order{}, flashsale.ErrOrderNotFound
	}
	// A cancel needs an order still payable at now, an expiry one past due.
	if o.Status != flashsale.OrderReserved || now.After(o.ExpiresAt) == cancel {
		return flashsale.Order{}, flashsale.ErrOrderNotReserved
	}
	o.Status, o.RestockDue = to, true
	s.putOrder(ref, o)
	s.claims[claimRef{o.SaleID, o.UserID}] -= o.Quantity
	s.claimOrder(claimRef{o.SaleID, o.UserID}, o.ID, false)
	return o, nil
}

// MarkRestocked clears an order's restock-due mark and records when.
func (s *Store) MarkRestocked(_ context.Context, ref flashsale.OrderRef, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.order(ref)
	if !ok || !o.RestockDue {
		return flashsale.ErrNotPending
	}
	o.RestockDue, o.RestockedAt = false, now
	s.putOrder(ref, o)
	return nil
}

// SaleOrders returns every order and hold of a sale, aborted ones included,
// in no particular order.
func (s *Store) SaleOrders(_ context.Context, sale flashsale.Sale) ([]flashsale.Order, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]flashsale.Order, 0, len(s.orders[sale.ID]))
	for _, o := range s.orders[sale.ID] {
		out = append(out, o)
	}
	return out, nil
}

// Claim reads how many units a user holds in a sale; 0 when none.
func (s *Store) Claim(_ context.Context, saleID, userID string) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.claims[claimRef{saleID, userID}], nil
}

// Persist makes a pending or reserved order that was never persisted
// reserved and persisted. A persisted order answers ErrAlreadyStored
// whatever its status now, so a redelivered message is recognised even after
// the order was paid or released.
func (s *Store) Persist(_ context.Context, ref flashsale.OrderRef, _ time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.order(ref)
	switch {
	case ok && o.Persisted:
		return flashsale.ErrAlreadyStored
	case !ok || (o.Status != flashsale.OrderPending && o.Status != flashsale.OrderReserved):
		return flashsale.ErrNotPending
	}
	o.Status, o.Persisted = flashsale.OrderReserved, true
	s.putOrder(ref, o)
	return nil
}
