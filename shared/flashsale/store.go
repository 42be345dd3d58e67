package flashsale

import (
	"context"
	"time"
)

// IdempotencyRecord is what a user's Idempotency-Key remembers: the order it
// created and the exact 202 body, replayed byte for byte. It expires 24 h
// after creation.
type IdempotencyRecord struct {
	UserID   string
	Key      string
	SaleID   string
	Quantity int64
	OrderID  string
	Receipt  []byte
}

// Reservation is the first write of a purchase: the idempotency record, the
// user's claim against the per-user limit and the order as a pending hold,
// written atomically before any stock is taken.
type Reservation struct {
	Order  Order // Status OrderPending
	Bucket int
	Key    string
	// Receipt is the 202 body, fixed before any write so every replay matches.
	Receipt []byte
	// Limit is the sale's per-user limit; the claim may not exceed it.
	Limit int64
	// KeyExpiresAt is when the idempotency record may be deleted.
	KeyExpiresAt time.Time
}

// Store is the persistence port. Every method is one conditional write or one
// consistent read unless it says otherwise; none retries on a failed condition.
type Store interface {
	// CreateSale stores a new sale and preloads its stock shards.
	// Errors: ErrSaleExists.
	CreateSale(ctx context.Context, s Sale, shardStock []int64) error
	// Sale reads a sale and its counters (strongly consistent).
	// Errors: ErrSaleNotFound.
	Sale(ctx context.Context, saleID string) (SaleState, error)
	// Available reads every shard's units; a missing shard counts as 0.
	Available(ctx context.Context, s Sale) ([]int64, error)
	// TakeStock takes qty units from one shard if it holds at least qty.
	// Errors: a *ShortError (errors.Is ErrShardShort) saying what is left.
	TakeStock(ctx context.Context, saleID string, shard int, qty int64) error
	// ReturnStock puts qty units back into one shard, then clears the sale's
	// sold-out mark and bumps its epoch.
	ReturnStock(ctx context.Context, saleID string, shard int, qty int64) error
	// MarkSoldOut sets the sold-out mark if the sale's epoch is still epoch.
	// Errors: ErrEpochChanged.
	MarkSoldOut(ctx context.Context, saleID string, epoch int64) error
	// AddStock is an admin restock: one shard and the sale's loaded count grow
	// by qty together, atomically, and the sold-out mark is cleared.
	// Errors: ErrSaleNotFound.
	AddStock(ctx context.Context, saleID string, shard int, qty int64) error

	// Reserve writes a Reservation atomically.
	// Errors: a *KeyTakenError (errors.Is ErrKeyTaken) carrying the existing
	// record when the user already used the key; ErrLimitReached when the
	// claim would exceed the limit.
	Reserve(ctx context.Context, r Reservation) error
	// Accept turns a pending hold into a reserved order.
	// Errors: ErrNotPending when it is not pending (or gone).
	Accept(ctx context.Context, ref OrderRef) error
	// Abort undoes a pending Reservation: it marks the hold aborted (at now),
	// deletes the idempotency record so the key can be used again, and gives
	// the claim back, atomically.
	// Errors: ErrNotPending when the hold is not pending (or gone).
	Abort(ctx context.Context, ref OrderRef, userID, key string, qty int64, now time.Time) error
	// IdempotencyRecord reads a user's key.
	// Errors: ErrOrderNotFound when there is none.
	IdempotencyRecord(ctx context.Context, userID, key string) (IdempotencyRecord, error)
	// Order reads one order (strongly consistent).
	// Errors: ErrOrderNotFound.
	Order(ctx context.Context, ref OrderRef) (Order, error)
	// Release moves a reserved order to status (expired or cancelled), marks
	// its units due for restock and gives the user's claim back, atomically.
	// For a cancel, userID must own it and it must not have expired at now;
	// for an expiry, it must have expired at now.
	// Errors: ErrOrderNotFound (also for someone else's order),
	// ErrOrderNotReserved.
	Release(ctx context.Context, ref OrderRef, userID string, to OrderStatus, now time.Time) (Order, error)
	// MarkRestocked clears an order's restock-due mark and records when; the
	// caller returns the units right after. Exactly one caller wins.
	// Errors: ErrNotPending when no restock is due.
	MarkRestocked(ctx context.Context, ref OrderRef, now time.Time) error
	// SaleOrders reads every order and hold of a sale, strongly consistent.
	SaleOrders(ctx context.Context, s Sale) ([]Order, error)
	// Claim reads how many units a user holds in a sale.
	Claim(ctx context.Context, saleID, userID string) (int64, error)
	// ClaimOrders lists the orders a user's claim counts: Reserve adds an
	// order, Abort and Release take it out (paid orders stay).
	ClaimOrders(ctx context.Context, saleID, userID string) ([]string, error)
	// UserOrders lists, sorted, every order a user's purchases in a sale
	// created (Reserve adds it; only Abort takes it out again, since an
	// aborted hold was never an order), whatever its status now.
	UserOrders(ctx context.Context, saleID, userID string) ([]string, error)
	// MarkScheduled records that a sale's preparation schedules were put.
	// Errors: ErrSaleNotFound.
	MarkScheduled(ctx context.Context, saleID string) error
	// ClearSoldOut clears the sale's sold-out mark and bumps its epoch.
	// Errors: ErrSaleNotFound.
	ClearSoldOut(ctx context.Context, saleID string) error

	// Persist is the order writer's idempotent write: a pending or reserved
	// order that was not persisted before becomes reserved and persisted.
	// Errors: ErrAlreadyStored when it was persisted before; ErrNotPending
	// when it is gone, aborted, or already paid, expired or cancelled.
	Persist(ctx context.Context, ref OrderRef, now time.Time) error
	// PayOrder records a payment event and pays the order it names, in one
	// step: only a pending or reserved order that has not expired at now and
	// whose amount and currency match.
	// Errors: ErrDuplicateEvent when the event was recorded before;
	// ErrOrderNotReserved when the order cannot take this payment.
	PayOrder(ctx context.Context, ref OrderRef, p Payment, now time.Time) error
	// RecordPayment records a payment event that paid nothing, with its
	// ledger entry, in one step.
	// Errors: ErrDuplicateEvent when the event was recorded before.
	RecordPayment(ctx context.Context, p Payment, e LedgerEntry) error
	// Ledger lists a sale's ledger entries.
	Ledger(ctx context.Context, saleID string) ([]LedgerEntry, error)

	// ListSales lists every sale.
	ListSales(ctx context.Context) ([]SaleState, error)
	// AcquireLease gives owner the sale's settlement lease until until, if
	// nobody else holds an unexpired one at now.
	// Errors: ErrLeaseHeld.
	AcquireLease(ctx context.Context, saleID, owner string, now, until time.Time) error
	// ReleaseLease ends owner's lease; releasing someone else's is a no-op.
	ReleaseLease(ctx context.Context, saleID, owner string) error
	// RepairLeak returns units a crash leaked to one shard and records the
	// adjustment, atomically, and clears the sold-out mark.
	RepairLeak(ctx context.Context, saleID string, shard int, units int64, adj Adjustment) error
	// AddAdjustment records an adjustment that moved no stock.
	AddAdjustment(ctx context.Context, saleID string, adj Adjustment) error
	// Adjustments lists a sale's adjustments, oldest first.
	Adjustments(ctx context.Context, saleID string) ([]Adjustment, error)
	// AddToAllowlist puts users (sorted, no duplicates) on a sale's
	// allowlist and answers how many were not on it before and how many it
	// now holds. Adding users already on it changes nothing.
	// Errors: ErrSaleNotFound.
	AddToAllowlist(ctx context.Context, saleID string, userIDs []string) (added, total int64, err error)
	// Allowlisted reports whether a user is on a sale's allowlist.
	Allowlisted(ctx context.Context, saleID, userID string) (bool, error)

	// PutIPBan stores an IP ban, replacing the ban with the same ID.
	PutIPBan(ctx context.Context, b IPBan) error
	// IPBans lists the stored IP bans, expired ones included until the
	// store deletes them (DynamoDB's TTL is lazy).
	IPBans(ctx context.Context) ([]IPBan, error)
	// DeleteIPBan deletes an IP ban in force at now.
	// Errors: ErrBanNotFound (also for one that expired).
	DeleteIPBan(ctx context.Context, banID string, now time.Time) error
	// PutUserBan stores a user ban, replacing the user's earlier one.
	PutUserBan(ctx context.Context, b UserBan) error
	// UserBans lists the stored user bans, expired ones included.
	UserBans(ctx context.Context) ([]UserBan, error)
	// DeleteUserBan deletes a user's ban in force at now.
	// Errors: ErrBanNotFound (also for one that expired).
	DeleteUserBan(ctx context.Context, userID string, now time.Time) error

	// AddReminder subscribes a user to a sale's reminder; created is false
	// when they were subscribed already (nothing changes then). A user who
	// unsubscribed and subscribes again is created anew but keeps their
	// claim and sent mark: nobody is reminded twice. The store may forget
	// it after expires.
	AddReminder(ctx context.Context, r Reminder, expires time.Time) (created bool, err error)
	// DeleteReminder unsubscribes a user, remembering whether they were
	// reminded; a missing subscription is fine.
	DeleteReminder(ctx context.Context, saleID, userID string) error
	// Reminders lists a sale's subscribers (not those who unsubscribed),
	// sorted by user.
	Reminders(ctx context.Context, saleID string) ([]Reminder, error)
	// ClaimReminder claims a subscriber for a send at now: one not sent
	// to, and not claimed, or claimed before staleBefore (by a run that
	// died before it sent).
	// Errors: ErrReminderClaimed otherwise, or when unsubscribed.
	ClaimReminder(ctx context.Context, saleID, userID string, now, staleBefore time.Time) error
	// MarkReminderSent records that the claimed send went out.
	MarkReminderSent(ctx context.Context, saleID, userID string, now time.Time) error
	// UnclaimReminder gives a claim back after a failed send; a subscriber
	// already sent to keeps their mark.
	UnclaimReminder(ctx context.Context, saleID, userID string) error

	// SaveReport stores the summary of a sale's latest settlement report
	// (StoredReport: no order or refund lines, which the archive keeps).
	SaveReport(ctx context.Context, r StoredReport) error
	// Report reads the latest stored summary.
	// Errors: ErrNotSettled.
	Report(ctx context.Context, saleID string) (StoredReport, error)
	// RecordSettled adds a published report version to the period index:
	// one line per sale and UTC day, the day's latest version winning.
	RecordSettled(ctx context.Context, s SettledSale) error
	// SettledBetween reads the period index from the first to the last
	// day (UTC dates, both included).
	SettledBetween(ctx context.Context, first, last time.Time) ([]SettledSale, error)
}

// ShortError reports how many units a shard had when a take failed.
type ShortError struct{ Available int64 }

func (e *ShortError) Error() string { return ErrShardShort.Error() }
func (e *ShortError) Unwrap() error { return ErrShardShort }

// KeyTakenError carries the record that already holds an idempotency key.
type KeyTakenError struct{ Record IdempotencyRecord }

func (e *KeyTakenError) Error() string { return ErrKeyTaken.Error() }
func (e *KeyTakenError) Unwrap() error { return ErrKeyTaken }

// OrderQueue buffers accepted orders for the order writer.
type OrderQueue interface {
	// Enqueue sends one order message, deduplicated by order ID, in the
	// user's message group. An error means it may or may not have been sent.
	Enqueue(ctx context.Context, orderID, userID string, body []byte) error
}
