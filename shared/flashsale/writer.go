package flashsale

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

// ErrPoison marks a queue message that can never be processed; the queue's
// redrive policy moves it to the dead-letter queue.
var ErrPoison = errors.New("malformed order message")

// PersistOrder is the order writer's work for one message: the conditional
// write that makes the order durable. It is idempotent: a duplicate delivery,
// or a message for a purchase that was compensated or has already moved on,
// changes nothing and succeeds.
// Errors: ErrPoison for a message that cannot be decoded; anything else is
// transient and the message should be retried.
func (s *Service) PersistOrder(ctx context.Context, body []byte) error {
	// Lenient on unknown fields: reserve and the writer deploy one after
	// the other, and a field a newer reserve adds must not make its orders
	// poison for the minutes between. Poison is what no version can read.
	var m OrderMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return fmt.Errorf("%w: %v", ErrPoison, err)
	}
	if sale, err := ParseOrderID(m.OrderID); err != nil || sale != m.SaleID || m.Bucket < 0 || m.Quantity < 1 {
		return fmt.Errorf("%w: order %q of sale %q", ErrPoison, m.OrderID, m.SaleID)
	}
	ref := OrderRef{SaleID: m.SaleID, Bucket: m.Bucket, OrderID: m.OrderID}
	err := s.store.Persist(ctx, ref, s.now())
	switch {
	case err == nil, errors.Is(err, ErrAlreadyStored):
		return nil
	case errors.Is(err, ErrNotPending):
		// Compensated (aborted), or paid/cancelled before the writer got to
		// it: the order's fate is already recorded.
		s.log.InfoContext(ctx, "order message needs no write", "orderId", m.OrderID, "saleId", m.SaleID)
		return nil
	default:
		return fmt.Errorf("persist %s: %w", m.OrderID, err)
	}
}
