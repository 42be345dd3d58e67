package flashsale

import (
	"context"
	"errors"
	"fmt"
	"regexp"
)

// PaymentResult is what a payment event did.
type PaymentResult struct {
	// Kind is a Ledger* kind: paid, refund_due, payment_mismatch or ignored.
	Kind string
	// Duplicate is true when the event was recorded before; nothing changed.
	Duplicate bool
}

var eventIDPattern = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,128}$`)

// Pay applies one payment provider event, idempotently by event ID:
//   - a succeeded payment of a reserved, unexpired order with the right
//     amount and currency pays it;
//   - a payment for an unknown, expired or cancelled order, or a second
//     payment of a paid order, is recorded as a refund due, never dropped;
//   - a wrong amount or currency is recorded for review and answered
//     ErrPaymentMismatch;
//   - other statuses are recorded and change nothing.
//
// Errors: *InputError, ErrPaymentMismatch, ErrUnavailable.
func (s *Service) Pay(ctx context.Context, p Payment) (PaymentResult, error) {
	switch {
	case !eventIDPattern.MatchString(p.EventID):
		return PaymentResult{}, &InputError{Code: "invalid_eventId", Field: "eventId", Message: "eventId must be 1-128 characters of [A-Za-z0-9_.:-]"}
	case p.OrderID == "" || len(p.OrderID) > 200:
		return PaymentResult{}, &InputError{Code: "invalid_orderId", Field: "orderId", Message: "orderId is required"}
	case p.AmountCents < 0:
		return PaymentResult{}, &InputError{Code: "invalid_amountCents", Field: "amountCents", Message: "amountCents must be >= 0"}
	case !currencyPattern.MatchString(p.Currency):
		return PaymentResult{}, &InputError{Code: "invalid_currency", Field: "currency", Message: "currency must be an ISO 4217 code"}
	case p.Status == "" || len(p.Status) > 64:
		return PaymentResult{}, &InputError{Code: "invalid_status", Field: "status", Message: "status is required"}
	}
	now := s.now()
	entry := LedgerEntry{EventID: p.EventID, OrderID: p.OrderID, AmountCents: p.AmountCents, Currency: p.Currency, At: now}
	entry.SaleID, _ = ParseOrderID(p.OrderID)

	record := func(kind, reason string) (PaymentResult, error) {
		entry.Kind, entry.Reason = kind, reason
		err := s.store.RecordPayment(ctx, p, entry)
		if errors.Is(err, ErrDuplicateEvent) {
			return PaymentResult{Kind: kind, Duplicate: true}, nil
		}
		if err != nil {
			return PaymentResult{}, s.unavailable(err, "record payment %s", p.EventID)
		}
		s.log.InfoContext(ctx, "payment recorded", "eventId", p.EventID, "orderId", p.OrderID, "kind", kind, "reason", reason)
		if kind == LedgerMismatch {
			return PaymentResult{Kind: kind}, ErrPaymentMismatch
		}
		return PaymentResult{Kind: kind}, nil
	}

	if p.Status != PaymentSucceeded {
		return record(LedgerIgnored, "status "+p.Status)
	}
	_, ref, err := s.locate(ctx, p.OrderID)
	if errors.Is(err, ErrOrderNotFound) {
		return record(LedgerRefundDue, ReasonUnknownOrder)
	}
	if err != nil {
		return PaymentResult{}, err
	}
	for attempt := 0; attempt < 3; attempt++ {
		o, err := s.store.Order(ctx, ref)
		if errors.Is(err, ErrOrderNotFound) {
			return record(LedgerRefundDue, ReasonUnknownOrder)
		}
		if err != nil {
			return PaymentResult{}, s.unavailable(err, "read order %s", p.OrderID)
		}
		switch status := o.StatusAt(now); {
		case o.Status == OrderAborted:
			return record(LedgerRefundDue, ReasonUnknownOrder)
		case status == OrderPaid:
			return record(LedgerRefundDue, ReasonAlreadyPaid)
		case status == OrderExpired:
			return record(LedgerRefundDue, ReasonExpired)
		case status == OrderCancelled:
			return record(LedgerRefundDue, ReasonCancelled)
		case p.AmountCents != o.AmountCents || p.Currency != o.Currency:
			return record(LedgerMismatch, fmt.Sprintf("order is %d %s", o.AmountCents, o.Currency))
		}
		err = s.store.PayOrder(ctx, ref, p, now)
		switch {
		case err == nil:
			s.log.InfoContext(ctx, "order paid", "eventId", p.EventID, "orderId", p.OrderID, "saleId", ref.SaleID)
			return PaymentResult{Kind: LedgerPaid}, nil
		case errors.Is(err, ErrDuplicateEvent):
			return PaymentResult{Kind: LedgerPaid, Duplicate: true}, nil
		case errors.Is(err, ErrOrderNotReserved):
			continue // it moved on (cancelled, expired, paid) meanwhile: decide again
		default:
			return PaymentResult{}, s.unavailable(err, "pay %s", p.OrderID)
		}
	}
	return PaymentResult{}, fmt.Errorf("%w: order %s kept changing", ErrUnavailable, p.OrderID)
}
