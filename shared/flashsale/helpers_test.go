package flashsale_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"flashsale/shared/flashsale"
	"flashsale/shared/local/testclock"
	"flashsale/shared/memqueue"
	"flashsale/shared/memstore"
)

// countingStore counts every Store call by method. It lists each method
// instead of embedding the interface, so a new Store method fails to compile
// here rather than slipping past the count.
type countingStore struct {
	next  flashsale.Store
	mu    sync.Mutex
	calls map[string]int
}

var _ flashsale.Store = (*countingStore)(nil)

func newCountingStore(next flashsale.Store) *countingStore {
	return &countingStore{next: next, calls: map[string]int{}}
}

func (c *countingStore) count(method string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls[method]++
}

// count0 reads the calls to one method so far, without resetting.
func (c *countingStore) count0(method string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[method]
}

// Calls returns the calls so far by method, and resets the count.
func (c *countingStore) Calls() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.calls
	c.calls = map[string]int{}
	return out
}

func (c *countingStore) CreateSale(ctx context.Context, s flashsale.Sale, shardStock []int64) error {
	c.count("CreateSale")
	return c.next.CreateSale(ctx, s, shardStock)
}

func (c *countingStore) Sale(ctx context.Context, saleID string) (flashsale.SaleState, error) {
	c.count("Sale")
	return c.next.Sale(ctx, saleID)
}

func (c *countingStore) Available(ctx context.Context, s flashsale.Sale) ([]int64, error) {
	c.count("Available")
	return c.next.Available(ctx, s)
}

func (c *countingStore) TakeStock(ctx context.Context, saleID string, shard int, qty int64) error {
	c.count("TakeStock")
	return c.next.TakeStock(ctx, saleID, shard, qty)
}

func (c *countingStore) ReturnStock(ctx context.Context, saleID string, shard int, qty int64) error {
	c.count("ReturnStock")
	return c.next.ReturnStock(ctx, saleID, shard, qty)
}

func (c *countingStore) MarkSoldOut(ctx context.Context, saleID string, epoch int64) error {
	c.count("MarkSoldOut")
	return c.next.MarkSoldOut(ctx, saleID, epoch)
}

func (c *countingStore) AddStock(ctx context.Context, saleID string, shard int, qty int64) error {
	c.count("AddStock")
	return c.next.AddStock(ctx, saleID, shard, qty)
}

func (c *countingStore) Reserve(ctx context.Context, r flashsale.Reservation) error {
	c.count("Reserve")
	return c.next.Reserve(ctx, r)
}

func (c *countingStore) Accept(ctx context.Context, ref flashsale.OrderRef) error {
	c.count("Accept")
	return c.next.Accept(ctx, ref)
}

func (c *countingStore) Abort(ctx context.Context, ref flashsale.OrderRef, userID, key string, qty int64, now time.Time) error {
	c.count("Abort")
	return c.next.Abort(ctx, ref, userID, key, qty, now)
}

func (c *countingStore) IdempotencyRecord(ctx context.Context, userID, key string) (flashsale.IdempotencyRecord, error) {
	c.count("IdempotencyRecord")
	return c.next.IdempotencyRecord(ctx, userID, key)
}

func (c *countingStore) Order(ctx context.Context, ref flashsale.OrderRef) (flashsale.Order, error) {
	c.count("Order")
	return c.next.Order(ctx, ref)
}

func (c *countingStore) Release(ctx context.Context, ref flashsale.OrderRef, userID string, to flashsale.OrderStatus, now time.Time) (flashsale.Order, error) {
	c.count("Release")
	return c.next.Release(ctx, ref, userID, to, now)
}

func (c *countingStore) MarkRestocked(ctx context.Context, ref flashsale.OrderRef, now time.Time) error {
	c.count("MarkRestocked")
	return c.next.MarkRestocked(ctx, ref, now)
}

func (c *countingStore) SaleOrders(ctx context.Context, s flashsale.Sale) ([]flashsale.Order, error) {
	c.count("SaleOrders")
	return c.next.SaleOrders(ctx, s)
}

func (c *countingStore) Claim(ctx context.Context, saleID, userID string) (int64, error) {
	c.count("Claim")
	return c.next.Claim(ctx, saleID, userID)
}

func (c *countingStore) ClaimOrders(ctx context.Context, saleID, userID string) ([]string, error) {
	c.count("ClaimOrders")
	return c.next.ClaimOrders(ctx, saleID, userID)
}

func (c *countingStore) ClearSoldOut(ctx context.Context, saleID string) error {
	c.count("ClearSoldOut")
	return c.next.ClearSoldOut(ctx, saleID)
}

func (c *countingStore) Persist(ctx context.Context, ref flashsale.OrderRef, now time.Time) error {
	c.count("Persist")
	return c.next.Persist(ctx, ref, now)
}

func (c *countingStore) PayOrder(ctx context.Context, ref flashsale.OrderRef, p flashsale.Payment, now time.Time) error {
	c.count("PayOrder")
	return c.next.PayOrder(ctx, ref, p, now)
}

func (c *countingStore) RecordPayment(ctx context.Context, p flashsale.Payment, e flashsale.LedgerEntry) error {
	c.count("RecordPayment")
	return c.next.RecordPayment(ctx, p, e)
}

func (c *countingStore) Ledger(ctx context.Context, saleID string) ([]flashsale.LedgerEntry, error) {
	c.count("Ledger")
	return c.next.Ledger(ctx, saleID)
}

func (c *countingStore) ListSales(ctx context.Context) ([]flashsale.SaleState, error) {
	c.count("ListSales")
	return c.next.ListSales(ctx)
}

func (c *countingStore) AcquireLease(ctx context.Context, saleID, owner string, now, until time.Time) error {
	c.count("AcquireLease")
	return c.next.AcquireLease(ctx, saleID, owner, now, until)
}

func (c *countingStore) ReleaseLease(ctx context.Context, saleID, owner string) error {
	c.count("ReleaseLease")
	return c.next.ReleaseLease(ctx, saleID, owner)
}

func (c *countingStore) RepairLeak(ctx context.Context, saleID string, shard int, units int64, adj flashsale.Adjustment) error {
	c.count("RepairLeak")
	return c.next.RepairLeak(ctx, saleID, shard, units, adj)
}

func (c *countingStore) AddAdjustment(ctx context.Context, saleID string, adj flashsale.Adjustment) error {
	c.count("AddAdjustment")
	return c.next.AddAdjustment(ctx, saleID, adj)
}

func (c *countingStore) Adjustments(ctx context.Context, saleID string) ([]flashsale.Adjustment, error) {
	c.count("Adjustments")
	return c.next.Adjustments(ctx, saleID)
}

func (c *countingStore) SaveReport(ctx context.Context, r flashsale.StoredReport) error {
	c.count("SaveReport")
	return c.next.SaveReport(ctx, r)
}

func (c *countingStore) Report(ctx context.Context, saleID string) (flashsale.StoredReport, error) {
	c.count("Report")
	return c.next.Report(ctx, saleID)
}

func (c *countingStore) RecordSettled(ctx context.Context, l flashsale.SettledSale) error {
	c.count("RecordSettled")
	return c.next.RecordSettled(ctx, l)
}

func (c *countingStore) SettledBetween(ctx context.Context, first, last time.Time) ([]flashsale.SettledSale, error) {
	c.count("SettledBetween")
	return c.next.SettledBetween(ctx, first, last)
}

// countingQueue counts Enqueue calls.
type countingQueue struct {
	next flashsale.OrderQueue
	mu   sync.Mutex
	n    int
}

func (q *countingQueue) Enqueue(ctx context.Context, orderID, userID string, body []byte) error {
	q.mu.Lock()
	q.n++
	q.mu.Unlock()
	return q.next.Enqueue(ctx, orderID, userID, body)
}

// Calls returns the Enqueue calls so far and resets the count.
func (q *countingQueue) Calls() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := q.n
	q.n = 0
	return n
}

// env is a Service over memstore with counted calls and a test clock set
// half an hour into a sale window.
type env struct {
	mem   *memstore.Store
	store *countingStore
	queue *countingQueue
	clock *testclock.Clock
	svc   *flashsale.Service
}

func newEnv(tb testing.TB, opts ...flashsale.Option) *env {
	tb.Helper()
	e := &env{
		mem:   memstore.New(),
		clock: testclock.New(testStart.Add(30 * time.Minute)),
	}
	e.store = newCountingStore(e.mem)
	e.queue = &countingQueue{next: memqueue.New()}
	e.svc = e.newService(opts...)
	return e
}

// newService is another process (Lambda container) on the same store.
func (e *env) newService(opts ...flashsale.Option) *flashsale.Service {
	base := []flashsale.Option{
		flashsale.WithClock(e.clock.Now),
		flashsale.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
		flashsale.WithShardPicker(func(int) int { return 0 }),
	}
	return flashsale.NewService(e.store, e.queue, append(base, opts...)...)
}

// createSale creates an open sale (testStart to testEnd) with price 1999 USD.
func (e *env) createSale(tb testing.TB, id string, stock int64, shards int, limit int64) flashsale.SaleView {
	tb.Helper()
	v, err := e.svc.CreateSale(context.Background(), flashsale.NewSale{
		ID: id, Name: "Test " + id, PriceCents: 1999, Currency: "USD",
		StartsAt: testStart, EndsAt: testEnd, Stock: stock, PerUserLimit: limit,
		PaymentWindowSeconds: 600, Shards: shards,
	})
	if err != nil {
		tb.Fatalf("create sale %s: %v", id, err)
	}
	return v
}

// buy reserves qty units for user with key and fails the test on an error.
func (e *env) buy(tb testing.TB, saleID, user, key string, qty int64) flashsale.Receipt {
	tb.Helper()
	res, err := e.svc.Reserve(context.Background(), flashsale.ReserveRequest{SaleID: saleID, UserID: user, Key: key, Quantity: qty})
	if err != nil {
		tb.Fatalf("reserve %d of %s for %s: %v", qty, saleID, user, err)
	}
	var r flashsale.Receipt
	if err := json.Unmarshal(res.Receipt, &r); err != nil {
		tb.Fatalf("decode receipt %s: %v", res.Receipt, err)
	}
	return r
}

func (c *countingStore) UserOrders(ctx context.Context, saleID, userID string) ([]string, error) {
	c.count("UserOrders")
	return c.next.UserOrders(ctx, saleID, userID)
}

func (c *countingStore) AddToAllowlist(ctx context.Context, saleID string, userIDs []string) (int64, int64, error) {
	c.count("AddToAllowlist")
	return c.next.AddToAllowlist(ctx, saleID, userIDs)
}

func (c *countingStore) Allowlisted(ctx context.Context, saleID, userID string) (bool, error) {
	c.count("Allowlisted")
	return c.next.Allowlisted(ctx, saleID, userID)
}

func (c *countingStore) PutIPBan(ctx context.Context, b flashsale.IPBan) error {
	c.count("PutIPBan")
	return c.next.PutIPBan(ctx, b)
}

func (c *countingStore) IPBans(ctx context.Context) ([]flashsale.IPBan, error) {
	c.count("IPBans")
	return c.next.IPBans(ctx)
}

func (c *countingStore) DeleteIPBan(ctx context.Context, banID string, now time.Time) error {
	c.count("DeleteIPBan")
	return c.next.DeleteIPBan(ctx, banID, now)
}

func (c *countingStore) PutUserBan(ctx context.Context, b flashsale.UserBan) error {
	c.count("PutUserBan")
	return c.next.PutUserBan(ctx, b)
}

func (c *countingStore) UserBans(ctx context.Context) ([]flashsale.UserBan, error) {
	c.count("UserBans")
	return c.next.UserBans(ctx)
}

func (c *countingStore) DeleteUserBan(ctx context.Context, userID string, now time.Time) error {
	c.count("DeleteUserBan")
	return c.next.DeleteUserBan(ctx, userID, now)
}

func (c *countingStore) AddReminder(ctx context.Context, r flashsale.Reminder, expires time.Time) (bool, error) {
	c.count("AddReminder")
	return c.next.AddReminder(ctx, r, expires)
}

func (c *countingStore) DeleteReminder(ctx context.Context, saleID, userID string) error {
	c.count("DeleteReminder")
	return c.next.DeleteReminder(ctx, saleID, userID)
}

func (c *countingStore) Reminders(ctx context.Context, saleID string) ([]flashsale.Reminder, error) {
	c.count("Reminders")
	return c.next.Reminders(ctx, saleID)
}

func (c *countingStore) ClaimReminder(ctx context.Context, saleID, userID string, now, staleBefore time.Time) error {
	c.count("ClaimReminder")
	return c.next.ClaimReminder(ctx, saleID, userID, now, staleBefore)
}

func (c *countingStore) MarkReminderSent(ctx context.Context, saleID, userID string, now time.Time) error {
	c.count("MarkReminderSent")
	return c.next.MarkReminderSent(ctx, saleID, userID, now)
}

func (c *countingStore) UnclaimReminder(ctx context.Context, saleID, userID string) error {
	c.count("UnclaimReminder")
	return c.next.UnclaimReminder(ctx, saleID, userID)
}

func (c *countingStore) MarkScheduled(ctx context.Context, saleID string) error {
	c.count("MarkScheduled")
	return c.next.MarkScheduled(ctx, saleID)
}
