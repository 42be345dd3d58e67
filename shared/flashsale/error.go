package flashsale

import "errors"

// Domain errors. Handlers map each to one HTTP status and code; their messages
// are safe to show to clients.
var (
	ErrSaleNotFound  = errors.New("sale not found")
	ErrSaleExists    = errors.New("a sale with this id already exists")
	ErrSaleNotOpen   = errors.New("the sale has not started yet")
	ErrSaleClosed    = errors.New("the sale has ended")
	ErrSoldOut       = errors.New("sold out")
	ErrLimitReached  = errors.New("this purchase would exceed the per-user limit")
	ErrOrderNotFound = errors.New("order not found")
	// ErrOrderNotReserved answers a cancel of an order that is no longer
	// reserved (paid, expired or already cancelled).
	ErrOrderNotReserved = errors.New("only a reserved order can be cancelled")
	// ErrKeyReused answers an Idempotency-Key replayed with another sale or
	// quantity.
	ErrKeyReused = errors.New("this Idempotency-Key was used with a different request")
	// ErrInProgress answers a replay while the first request with the key is
	// still running.
	ErrInProgress = errors.New("a request with this Idempotency-Key is still in progress")
	// ErrUnavailable means a dependency failed; the client may retry later
	// with the same Idempotency-Key.
	ErrUnavailable = errors.New("temporarily unavailable, retry later")
	ErrForbidden   = errors.New("not allowed")
	// ErrNotSettled answers a report request for a sale never settled.
	ErrNotSettled = errors.New("this sale has not been settled yet")
	// ErrLeaseHeld means another settlement run is working on the sale.
	ErrLeaseHeld = errors.New("another settlement run holds this sale")
	// ErrPaymentMismatch answers a payment whose amount or currency is not
	// the order's.
	ErrPaymentMismatch = errors.New("the payment's amount or currency does not match the order")
	// ErrBadSignature answers a webhook whose signature is wrong or stale.
	ErrBadSignature = errors.New("invalid or stale signature")
	// ErrDuplicateEvent means a payment event was recorded before.
	ErrDuplicateEvent = errors.New("payment event already recorded")

	// Store-level conditions the service turns into outcomes.
	ErrShardShort    = errors.New("shard has fewer units than asked")
	ErrEpochChanged  = errors.New("stock came back since the sold-out check")
	ErrKeyTaken      = errors.New("idempotency key already recorded")
	ErrNotPending    = errors.New("reservation is no longer pending")
	ErrAlreadyStored = errors.New("already stored")
)

// InputError is a 400: the client sent something malformed. Code is the
// snake_case error code, Field the offending field when there is one.
type InputError struct {
	Code    string
	Field   string
	Message string
}

func (e *InputError) Error() string { return e.Message }

// BadInput builds an InputError.
func BadInput(code, msg string) error { return &InputError{Code: code, Message: msg} }
