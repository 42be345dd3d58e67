package memstore

import (
	"context"
	"slices"
	"time"

	"flashsale/shared/flashsale"
)

// PayOrder records the event and pays the order, or does nothing: a known
// event answers ErrDuplicateEvent before the order is looked at; an order
// that is gone, not pending or reserved, past its expiry at now, or priced
// otherwise answers ErrOrderNotReserved and leaves the event unrecorded.
func (s *Store) PayOrder(_ context.Context, ref flashsale.OrderRef, p flashsale.Payment, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.events[p.EventID] {
		return flashsale.ErrDuplicateEvent
	}
	o, ok := s.order(ref)
	if !ok || (o.Status != flashsale.OrderPending && o.Status != flashsale.OrderReserved) ||
		now.After(o.ExpiresAt) || p.AmountCents != o.AmountCents || p.Currency != o.Currency {
		return flashsale.ErrOrderNotReserved
	}
	o.Status, o.PaidAt = flashsale.OrderPaid, now
	s.putOrder(ref, o)
	s.events[p.EventID] = true
	s.ledger[ref.SaleID] = append(s.ledger[ref.SaleID], flashsale.LedgerEntry{
		EventID: p.EventID, SaleID: ref.SaleID, OrderID: ref.OrderID, Kind: flashsale.LedgerPaid,
		AmountCents: p.AmountCents, Currency: p.Currency, At: now,
	})
	return nil
}

// RecordPayment records the event and stores e under e.SaleID ("" when the
// sale is unknown), or answers ErrDuplicateEvent and does nothing.
func (s *Store) RecordPayment(_ context.Context, p flashsale.Payment, e flashsale.LedgerEntry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.events[p.EventID] {
		return flashsale.ErrDuplicateEvent
	}
	s.events[p.EventID] = true
	s.ledger[e.SaleID] = append(s.ledger[e.SaleID], e)
	return nil
}

// Ledger returns a copy of a sale's ledger entries, in the order they were
// written; empty for a sale with none.
func (s *Store) Ledger(_ context.Context, saleID string) ([]flashsale.LedgerEntry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.ledger[saleID]), nil
}
