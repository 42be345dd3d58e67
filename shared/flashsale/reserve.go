package flashsale

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"
)

// IdempotencyTTL is how long an Idempotency-Key is remembered.
const IdempotencyTTL = 24 * time.Hour

// ReserveRequest is one POST /sales/{saleId}/orders.
type ReserveRequest struct {
	SaleID string
	UserID string
	// Key is the Idempotency-Key, whose format the caller has checked: the
	// contract answers a bad key before it reads the body, so the handler
	// checks it (400 invalid_idempotency_key) before it decodes Quantity.
	Key      string
	Quantity int64
}

// ReserveResult is an accepted purchase: the 202 body, and whether it is a
// replay of an earlier request with the same key.
type ReserveResult struct {
	Receipt  []byte
	Replayed bool
}

// OrderMessage is the order as it travels through the queue to the writer.
type OrderMessage struct {
	OrderID     string    `json:"orderId"`
	SaleID      string    `json:"saleId"`
	UserID      string    `json:"userId"`
	Bucket      int       `json:"bucket"`
	Quantity    int64     `json:"quantity"`
	AmountCents int64     `json:"amountCents"`
	Currency    string    `json:"currency"`
	CreatedAt   time.Time `json:"createdAt"`
	ExpiresAt   time.Time `json:"expiresAt"`
}

// Reserve takes units for a buyer. The writes, in order (see
// docs/design/reserve-path.md for what a crash after each leaves behind):
//
//  1. Store.Reserve: idempotency record + per-user claim + pending hold, atomically.
//  2. Store.TakeStock on one shard (probing others when it is short).
//  3. OrderQueue.Enqueue, deduplicated by order ID.
//  4. Store.Accept: the hold becomes a reserved order; only then the 202.
//
// A failure after 1 or 2 is compensated here; what compensation cannot undo
// is found by Audit and repaired by settlement.
//
// Errors: ErrSaleNotFound, *InputError, ErrSaleNotOpen, ErrSaleClosed,
// ErrSoldOut, ErrLimitReached, ErrKeyReused, ErrInProgress, ErrUnavailable.
func (s *Service) Reserve(ctx context.Context, req ReserveRequest) (ReserveResult, error) {
	// A request that finds its key held by a first request which then failed
	// runs again from the top: the key is free, and the answer is its own.
	for attempt := 0; ; attempt++ {
		res, err := s.reserve(ctx, req)
		if !errors.Is(err, errKeyFreed) {
			return res, err
		}
		if attempt == 2 {
			return ReserveResult{}, ErrInProgress
		}
	}
}

// errKeyFreed says the first request with the key failed and released it.
var errKeyFreed = errors.New("the first request with this key failed")

func (s *Service) reserve(ctx context.Context, req ReserveRequest) (ReserveResult, error) {
	st, e, err := s.sale(ctx, req.SaleID)
	if err != nil {
		return ReserveResult{}, s.unavailable(err, "read sale %s", req.SaleID)
	}
	if req.Quantity < 1 || req.Quantity > st.PerUserLimit ||
		(st.PriceCents > 0 && req.Quantity > math.MaxInt64/st.PriceCents) {
		return ReserveResult{}, &InputError{Code: "invalid_quantity", Field: "quantity",
			Message: fmt.Sprintf("quantity must be an integer between 1 and %d", st.PerUserLimit)}
	}

	now := s.now().Truncate(time.Second) // the API shows whole seconds
	switch st.StatusAt(now, e.soldOut()) {
	case StatusSoldOut:
		// Answered from memory: the flood after a sell-out costs no store or
		// queue call. The price is that a replay landing here cannot be told
		// from a new request; docs/design/reserve-path.md explains.
		return ReserveResult{}, ErrSoldOut
	case StatusScheduled, StatusClosed:
		// Rare traffic: honour a replay first, as the contract orders.
		rec, err := s.store.IdempotencyRecord(ctx, req.UserID, req.Key)
		if err == nil {
			return s.replay(ctx, st.Sale, req, rec)
		}
		if !errors.Is(err, ErrOrderNotFound) {
			return ReserveResult{}, s.unavailable(err, "read key")
		}
		if now.Before(st.StartsAt) {
			return ReserveResult{}, ErrSaleNotOpen
		}
		return ReserveResult{}, ErrSaleClosed
	}

	orderID := NewOrderID(st.ID, s.newID())
	ref := RefOf(st.Sale, orderID)
	order := Order{
		ID: orderID, SaleID: st.ID, UserID: req.UserID, Quantity: req.Quantity,
		AmountCents: st.PriceCents * req.Quantity, Currency: st.Currency,
		Status: OrderPending, CreatedAt: now, ExpiresAt: now.Add(st.PaymentWindow),
		IdempotencyKey: req.Key,
	}
	receipt, err := json.Marshal(Receipt{
		OrderID: orderID, SaleID: st.ID, Status: string(OrderReserved), Quantity: req.Quantity,
		AmountCents: order.AmountCents, Currency: st.Currency, ExpiresAt: FormatTime(order.ExpiresAt),
	})
	if err != nil {
		return ReserveResult{}, fmt.Errorf("encode receipt: %w", err)
	}

	// Write 1: key, claim and hold.
	err = s.store.Reserve(ctx, Reservation{
		Order: order, Bucket: ref.Bucket, Key: req.Key, Receipt: receipt,
		Limit: st.PerUserLimit, KeyExpiresAt: now.Add(IdempotencyTTL),
	})
	var taken *KeyTakenError
	switch {
	case errors.As(err, &taken):
		return s.replay(ctx, st.Sale, req, taken.Record)
	case errors.Is(err, ErrLimitReached):
		// Orders past their expiry read as expired everywhere and give the
		// allowance back, even before settlement gets to them.
		if n, xerr := s.expireOverdue(ctx, st.Sale, req.UserID); xerr == nil && n > 0 {
			return ReserveResult{}, errKeyFreed // try again, now with the allowance back
		}
		return ReserveResult{}, ErrLimitReached
	case errors.Is(err, ErrOrderNotFound):
		// The key's first request aborted between our write and our read.
		return ReserveResult{}, errKeyFreed
	case err != nil:
		return ReserveResult{}, s.unavailable(err, "reserve %s", orderID)
	}
	// Compensation must run even if the client went away or the deadline
	// passed: it uses a context of its own.
	undoCtx, cancelUndo := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancelUndo()
	undoReservation := func(why string) error {
		err := s.store.Abort(undoCtx, ref, req.UserID, req.Key, req.Quantity, s.now())
		if err != nil && !errors.Is(err, ErrNotPending) {
			s.log.ErrorContext(ctx, "compensation failed; settlement will abort the stale hold",
				"why", why, "saleId", st.ID, "orderId", orderID, "err", err)
		}
		return err
	}

	// Write 2: the stock.
	shard, err := s.takeStock(ctx, st, e, req.Quantity)
	if err != nil {
		undoReservation("no stock")
		if errors.Is(err, ErrSoldOut) {
			return ReserveResult{}, ErrSoldOut
		}
		return ReserveResult{}, s.unavailable(err, "take stock for %s", orderID)
	}

	// Write 3: the queue.
	msg, err := json.Marshal(OrderMessage{
		OrderID: orderID, SaleID: st.ID, UserID: req.UserID, Bucket: ref.Bucket,
		Quantity: req.Quantity, AmountCents: order.AmountCents, Currency: order.Currency,
		CreatedAt: order.CreatedAt, ExpiresAt: order.ExpiresAt,
	})
	if err != nil {
		return ReserveResult{}, fmt.Errorf("encode order message: %w", err)
	}
	if err := s.queue.Enqueue(ctx, orderID, req.UserID, msg); err != nil {
		// The message may have gone through. Abort is conditional on the hold
		// still being pending, so if the writer already took the order, the
		// order stands and so does its stock.
		switch aerr := undoReservation("enqueue failed"); {
		case aerr == nil:
			if rerr := s.store.ReturnStock(undoCtx, st.ID, shard, req.Quantity); rerr != nil {
				s.log.ErrorContext(ctx, "stock not returned; settlement will repair the leak",
					"saleId", st.ID, "orderId", orderID, "units", req.Quantity, "err", rerr)
			}
		case errors.Is(aerr, ErrNotPending):
			return s.settled(ctx, ref, receipt, err)
		}
		return ReserveResult{}, s.unavailable(err, "enqueue %s", orderID)
	}

	// Write 4: accept. Only an accepted order is answered 202.
	if err := s.store.Accept(ctx, ref); err != nil {
		return s.settled(ctx, ref, receipt, err)
	}
	return ReserveResult{Receipt: receipt}, nil
}

// settled decides the answer when the hold left "pending" under us: if the
// order writer took it, the order stands and is accepted.
func (s *Service) settled(ctx context.Context, ref OrderRef, receipt []byte, cause error) (ReserveResult, error) {
	o, err := s.store.Order(ctx, ref)
	if err == nil && o.Status != OrderPending && o.Status != OrderAborted {
		return ReserveResult{Receipt: receipt}, nil
	}
	return ReserveResult{}, s.unavailable(cause, "accept %s", ref.OrderID)
}

// takeStock takes qty units from one shard, starting at a random one and
// probing the rest. When every shard is empty it marks the sale sold out.
func (s *Service) takeStock(ctx context.Context, st SaleState, e *saleEntry, qty int64) (int, error) {
	n := st.Shards
	start := s.pick(n)
	allEmpty := true
	for i := range n {
		k := (start + i) % n
		if avail, short := e.knownShort(k, qty, st.Epoch); short {
			allEmpty = allEmpty && avail == 0
			continue
		}
		err := s.store.TakeStock(ctx, st.ID, k, qty)
		if err == nil {
			return k, nil
		}
		var short *ShortError
		if !errors.As(err, &short) {
			return -1, fmt.Errorf("shard %d: %w", k, err)
		}
		e.noteShort(k, short.Available, st.Epoch)
		allEmpty = allEmpty && short.Available == 0
	}
	if allEmpty {
		e.noteSoldOut(st.Epoch)
		if err := s.store.MarkSoldOut(ctx, st.ID, st.Epoch); err != nil && !errors.Is(err, ErrEpochChanged) {
			s.log.WarnContext(ctx, "sold-out mark not stored", "saleId", st.ID, "err", err)
		}
	}
	return -1, ErrSoldOut
}

// replay answers a request whose key already has a record: the same body if
// it asks for the same thing, once the first request has finished.
func (s *Service) replay(ctx context.Context, sale Sale, req ReserveRequest, rec IdempotencyRecord) (ReserveResult, error) {
	if rec.SaleID != req.SaleID || rec.Quantity != req.Quantity {
		return ReserveResult{}, ErrKeyReused
	}
	ref := RefOf(sale, rec.OrderID)
	deadline := time.Now().Add(s.replayWait)
	for {
		o, err := s.store.Order(ctx, ref)
		switch {
		case err == nil && o.Status == OrderAborted:
			return ReserveResult{}, errKeyFreed
		case err == nil && o.Status != OrderPending:
			return ReserveResult{Receipt: rec.Receipt, Replayed: true}, nil
		case err != nil && !errors.Is(err, ErrOrderNotFound):
			return ReserveResult{}, s.unavailable(err, "read order %s", rec.OrderID)
		}
		// Pending, or the first request is aborting: it will either accept
		// or delete the key, so wait a little, then ask the client to retry.
		if time.Now().After(deadline) {
			return ReserveResult{}, ErrInProgress
		}
		select {
		case <-ctx.Done():
			return ReserveResult{}, ErrInProgress
		case <-time.After(s.replayPoll):
		}
	}
}

// unavailable passes domain errors through and turns anything else into
// ErrUnavailable, logged with its cause.
func (s *Service) unavailable(err error, format string, args ...any) error {
	if isDomain(err) {
		return err
	}
	cause := fmt.Errorf(format+": %w", append(args, err)...)
	s.log.Error("store or queue call failed", "err", cause)
	return fmt.Errorf("%w (%v)", ErrUnavailable, cause)
}

func isDomain(err error) bool {
	var in *InputError
	for _, d := range []error{ErrSaleNotFound, ErrSaleExists, ErrSaleNotOpen, ErrSaleClosed, ErrSoldOut,
		ErrLimitReached, ErrOrderNotFound, ErrOrderNotReserved, ErrKeyReused, ErrInProgress, ErrUnavailable, ErrForbidden,
		ErrNotSettled, ErrLeaseHeld, ErrPaymentMismatch, ErrBadSignature, ErrBanNotFound, ErrUserBanned,
		ErrNotEligible, ErrPurchaseTokenRequired, ErrPurchaseTokenInvalid, ErrPurchaseTokenExpired, ErrChallengeDisabled} {
		if errors.Is(err, d) {
			return true
		}
	}
	return errors.As(err, &in)
}

// FormatTime renders a time as the API does: RFC 3339 in UTC, seconds.
func FormatTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }
