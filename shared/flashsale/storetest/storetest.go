// Package storetest is the contract suite for flashsale.Store. Every adapter
// runs it from its own tests:
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(tb testing.TB) flashsale.Store { return memstore.New() })
//	}
//
// What passes on the in-memory store must pass on DynamoDB Local. Each
// subtest works on sales, users and keys of its own, named with a token
// unique to the Run, so adapters whose tables outlive a subtest (or a whole
// test binary) never see a collision.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"flashsale/shared/flashsale"
)

// Run runs the whole contract against the stores newStore returns. newStore
// is called once per subtest; it may return the same store every time.
func Run(t *testing.T, newStore func(tb testing.TB) flashsale.Store) {
	s := &suite{newStore: newStore, run: flashsale.NewUniqueID()[16:]}
	for _, tc := range []struct {
		name string
		test func(*testing.T)
	}{
		{"CreateSale", s.testCreateSale},
		{"Available", s.testAvailable},
		{"TakeStock", s.testTakeStock},
		{"TakeStock_Concurrent", s.testTakeStockConcurrent},
		{"ReturnStock", s.testReturnStock},
		{"MarkSoldOut", s.testMarkSoldOut},
		{"AddStock", s.testAddStock},
		{"Reserve", s.testReserve},
		{"Reserve_Copies", s.testReserveCopies},
		{"Reserve_ConcurrentLimit", s.testReserveConcurrentLimit},
		{"Reserve_ConcurrentKey", s.testReserveConcurrentKey},
		{"Accept", s.testAccept},
		{"Abort", s.testAbort},
		{"AbortAccept_Race", s.testAbortAcceptRace},
		{"Order", s.testOrder},
		{"Release", s.testRelease},
		{"Release_Concurrent", s.testReleaseConcurrent},
		{"MarkRestocked", s.testMarkRestocked},
		{"MarkRestocked_Race", s.testMarkRestockedRace},
		{"SaleOrders", s.testSaleOrders},
		{"Claim", s.testClaim},
		{"ClaimOrders", s.testClaimOrders},
		{"ClearSoldOut", s.testClearSoldOut},
		{"Persist", s.testPersist},
		{"Persist_Concurrent", s.testPersistConcurrent},
		{"PayOrder", s.testPayOrder},
		{"PayOrder_Replay", s.testPayOrderReplay},
		{"PayOrder_Concurrent", s.testPayOrderConcurrent},
		{"RecordPayment", s.testRecordPayment},
		{"RecordPayment_Concurrent", s.testRecordPaymentConcurrent},
		{"Ledger", s.testLedger},
		{"ListSales", s.testListSales},
		{"Lease", s.testLease},
		{"Lease_Concurrent", s.testLeaseConcurrent},
		{"RepairLeak", s.testRepairLeak},
		{"Adjustments", s.testAdjustments},
		{"Report", s.testReport},
		{"Report_Copies", s.testReportCopies},
		{"SettledIndex", s.testSettledIndex},
		{"Allowlist", s.testAllowlist},
		{"Bans", s.testBans},
		{"Reminders", s.testReminders},
		{"ClaimReminder_Concurrent", s.testClaimReminderConcurrent},
	} {
		t.Run(tc.name, tc.test)
	}
}

type suite struct {
	newStore func(tb testing.TB) flashsale.Store
	run      string // random, unique to this Run
	n        atomic.Int64
}

// id returns a name never handed out before, valid as a sale ID, user ID,
// key or order ID suffix.
func (s *suite) id(kind string) string {
	return fmt.Sprintf("%s-%s-%d", kind, s.run, s.n.Add(1))
}

// t0 is the suite's "now". Whole seconds, because adapters may keep times
// at millisecond precision.
var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

const paymentWindow = 10 * time.Minute

// env is one subtest's store and a sale in it.
type env struct {
	tb    testing.TB
	ctx   context.Context
	st    flashsale.Store
	sale  flashsale.Sale
	suite *suite
}

// newEnv creates a fresh store and a sale whose shard k holds shardStock[k],
// with a per-user limit of 2.
func (s *suite) newEnv(tb testing.TB, shardStock ...int64) *env {
	tb.Helper()
	e := &env{tb: tb, ctx: context.Background(), st: s.newStore(tb), suite: s}
	e.sale = e.createSale(len(shardStock), shardStock...)
	return e
}

// createSale creates another sale with the given shard count and stock.
func (e *env) createSale(shards int, shardStock ...int64) flashsale.Sale {
	e.tb.Helper()
	var stock int64
	for _, n := range shardStock {
		stock += n
	}
	sale := flashsale.Sale{
		ID: e.suite.id("sale"), Name: "Contract sale", PriceCents: 1999, Currency: "USD",
		StartsAt: t0, EndsAt: t0.Add(time.Hour), Stock: stock, PerUserLimit: 2,
		PaymentWindow: paymentWindow, Shards: shards,
		Admission: flashsale.Admission{PurchaseToken: true, ChallengeMaxNumber: 1234,
			Groups: []string{"member", "vip"}, MinAccountAgeDays: 30, Allowlist: true},
	}
	if err := e.st.CreateSale(e.ctx, sale, shardStock); err != nil {
		e.tb.Fatalf("CreateSale(%s): got error %v, want nil", sale.ID, err)
	}
	return sale
}

func (e *env) state(saleID string) flashsale.SaleState {
	e.tb.Helper()
	st, err := e.st.Sale(e.ctx, saleID)
	if err != nil {
		e.tb.Fatalf("Sale(%s): got error %v, want nil", saleID, err)
	}
	return st
}

func (e *env) available(sale flashsale.Sale) []int64 {
	e.tb.Helper()
	got, err := e.st.Available(e.ctx, sale)
	if err != nil {
		e.tb.Fatalf("Available(%s): got error %v, want nil", sale.ID, err)
	}
	return got
}

func (e *env) wantAvailable(sale flashsale.Sale, want ...int64) {
	e.tb.Helper()
	if got := e.available(sale); !slices.Equal(got, want) {
		e.tb.Errorf("Available(%s) = %v, want %v", sale.ID, got, want)
	}
}

func (e *env) claim(sale flashsale.Sale, userID string) int64 {
	e.tb.Helper()
	got, err := e.st.Claim(e.ctx, sale.ID, userID)
	if err != nil {
		e.tb.Fatalf("Claim(%s, %s): got error %v, want nil", sale.ID, userID, err)
	}
	return got
}

func (e *env) wantClaim(sale flashsale.Sale, userID string, want int64) {
	e.tb.Helper()
	if got := e.claim(sale, userID); got != want {
		e.tb.Errorf("Claim(%s, %s) = %d, want %d", sale.ID, userID, got, want)
	}
}

// reservation builds a Reservation of a new pending hold of qty units.
func (e *env) reservation(sale flashsale.Sale, userID, key string, qty int64) flashsale.Reservation {
	id := flashsale.NewOrderID(sale.ID, e.suite.id("o"))
	return flashsale.Reservation{
		Order: flashsale.Order{
			ID: id, SaleID: sale.ID, UserID: userID, Quantity: qty,
			AmountCents: qty * sale.PriceCents, Currency: sale.Currency, Status: flashsale.OrderPending,
			CreatedAt: t0, ExpiresAt: t0.Add(sale.PaymentWindow), IdempotencyKey: key,
		},
		Bucket:       flashsale.BucketOf(id, sale.Shards),
		Key:          key,
		Receipt:      []byte(`{"orderId":"` + id + `"}`),
		Limit:        sale.PerUserLimit,
		KeyExpiresAt: t0.Add(flashsale.IdempotencyTTL),
	}
}

func refOf(r flashsale.Reservation) flashsale.OrderRef {
	return flashsale.OrderRef{SaleID: r.Order.SaleID, Bucket: r.Bucket, OrderID: r.Order.ID}
}

// hold writes a pending hold of qty units for a new key of userID.
func (e *env) hold(userID string, qty int64) flashsale.Reservation {
	e.tb.Helper()
	r := e.reservation(e.sale, userID, e.suite.id("k"), qty)
	if err := e.st.Reserve(e.ctx, r); err != nil {
		e.tb.Fatalf("Reserve(%s): got error %v, want nil", r.Order.ID, err)
	}
	return r
}

// reserved writes a hold and accepts it: a reserved order.
func (e *env) reserved(userID string, qty int64) flashsale.Reservation {
	e.tb.Helper()
	r := e.hold(userID, qty)
	if err := e.st.Accept(e.ctx, refOf(r)); err != nil {
		e.tb.Fatalf("Accept(%s): got error %v, want nil", r.Order.ID, err)
	}
	r.Order.Status = flashsale.OrderReserved
	return r
}

// order reads an order that must exist.
func (e *env) order(ref flashsale.OrderRef) flashsale.Order {
	e.tb.Helper()
	o, err := e.st.Order(e.ctx, ref)
	if err != nil {
		e.tb.Fatalf("Order(%s): got error %v, want nil", ref.OrderID, err)
	}
	return o
}

func (e *env) wantOrder(ref flashsale.OrderRef, want flashsale.Order) {
	e.tb.Helper()
	if got := e.order(ref); norm(got) != norm(want) {
		e.tb.Errorf("Order(%s):\n got  %+v\n want %+v", ref.OrderID, got, want)
	}
}

func (e *env) wantNoOrder(ref flashsale.OrderRef) {
	e.tb.Helper()
	if o, err := e.st.Order(e.ctx, ref); !errors.Is(err, flashsale.ErrOrderNotFound) {
		e.tb.Errorf("Order(%s): got %+v, %v; want ErrOrderNotFound", ref.OrderID, o, err)
	}
}

func (e *env) wantNoKey(userID, key string) {
	e.tb.Helper()
	if rec, err := e.st.IdempotencyRecord(e.ctx, userID, key); !errors.Is(err, flashsale.ErrOrderNotFound) {
		e.tb.Errorf("IdempotencyRecord(%s, %s): got %+v, %v; want ErrOrderNotFound", userID, key, rec, err)
	}
}

// recordOf is the idempotency record a Reservation should leave.
func recordOf(r flashsale.Reservation) flashsale.IdempotencyRecord {
	return flashsale.IdempotencyRecord{
		UserID: r.Order.UserID, Key: r.Key, SaleID: r.Order.SaleID, Quantity: r.Order.Quantity,
		OrderID: r.Order.ID, Receipt: r.Receipt,
	}
}

func (e *env) wantKey(r flashsale.Reservation) {
	e.tb.Helper()
	got, err := e.st.IdempotencyRecord(e.ctx, r.Order.UserID, r.Key)
	if err != nil {
		e.tb.Fatalf("IdempotencyRecord(%s, %s): got error %v, want nil", r.Order.UserID, r.Key, err)
	}
	checkRecord(e.tb, "IdempotencyRecord", got, recordOf(r))
}

func checkRecord(tb testing.TB, what string, got, want flashsale.IdempotencyRecord) {
	tb.Helper()
	if got.UserID != want.UserID || got.Key != want.Key || got.SaleID != want.SaleID ||
		got.Quantity != want.Quantity || got.OrderID != want.OrderID || string(got.Receipt) != string(want.Receipt) {
		tb.Errorf("%s:\n got  %+v (receipt %q)\n want %+v (receipt %q)", what, got, got.Receipt, want, want.Receipt)
	}
}

// norm makes orders comparable with ==: UTC, millisecond precision (what
// DynamoDB keeps), no monotonic reading.
func norm(o flashsale.Order) flashsale.Order {
	for _, t := range []*time.Time{&o.CreatedAt, &o.ExpiresAt, &o.PaidAt, &o.RestockedAt, &o.AbortedAt} {
		if t.IsZero() {
			*t = time.Time{}
		} else {
			*t = t.UTC().Truncate(time.Millisecond)
		}
	}
	return o
}

// checkErr fails unless err is want (nil, or errors.Is want).
func checkErr(tb testing.TB, what string, err, want error) {
	tb.Helper()
	switch {
	case want == nil && err != nil:
		tb.Errorf("%s: got error %v, want nil", what, err)
	case want != nil && !errors.Is(err, want):
		tb.Errorf("%s: got error %v, want %v", what, err, want)
	}
}

// race runs f(i) for i in [0, n) from n goroutines released together and
// returns their errors by index.
func race(n int, f func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = f(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// tally counts nil errors and errors matching want; any other error fails.
func tally(tb testing.TB, what string, errs []error, want error) (ok, lost int) {
	tb.Helper()
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, want):
			lost++
		default:
			tb.Errorf("%s #%d: got error %v, want nil or %v", what, i, err, want)
		}
	}
	return ok, lost
}
