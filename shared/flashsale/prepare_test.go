package flashsale_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"flashsale/shared/flashsale"
)

func TestSchedulesFor(t *testing.T) {
	s := flashsale.Sale{ID: "spring-1", StartsAt: testStart, EndsAt: testEnd}
	got := flashsale.SchedulesFor(s, 10*time.Minute)
	want := []flashsale.Schedule{
		{Name: "spring-1.warm-up", SaleID: "spring-1", Job: flashsale.JobWarmUp, At: testStart.Add(-10 * time.Minute)},
		{Name: "spring-1.remind", SaleID: "spring-1", Job: flashsale.JobRemind, At: testStart.Add(-10 * time.Minute)},
		{Name: "spring-1.last-call", SaleID: "spring-1", Job: flashsale.JobRemind, At: testStart.Add(-time.Minute)},
		{Name: "spring-1.cool-down", SaleID: "spring-1", Job: flashsale.JobCoolDown, At: testEnd},
	}
	if len(got) != len(want) {
		t.Fatalf("SchedulesFor = %+v; want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("schedule %d = %+v; want %+v", i, got[i], want[i])
		}
	}
	if short := flashsale.SchedulesFor(s, 30*time.Second); len(short) != 3 {
		t.Errorf("a 30 s lead leaves no room for a last call, got %+v", short)
	}
}

func TestScheduleName_LongIDs(t *testing.T) {
	a := strings.Repeat("a", 64)
	b := strings.Repeat("a", 63) + "b" // differs only past the cut
	// A whole ID that looks like another's shortened name must not get it.
	shortA := strings.TrimSuffix(flashsale.ScheduleName(a, "warm-up"), ".warm-up")
	lookalike := strings.ReplaceAll(shortA, ".", "-")
	seen := map[string]bool{}
	for _, id := range []string{a, b, lookalike} {
		for _, job := range []string{"warm-up", "remind", "last-call", "cool-down"} {
			n := flashsale.ScheduleName(id, job)
			if len(n) > flashsale.MaxScheduleName || !strings.HasSuffix(n, "."+job) {
				t.Errorf("ScheduleName(%s, %s) = %q (%d chars); want ≤ %d ending .%s", id, job, n, len(n), flashsale.MaxScheduleName, job)
			}
			if seen[n] {
				t.Errorf("ScheduleName(%s, %s) = %q collides", id, job, n)
			}
			seen[n] = true
		}
	}
}

// recordingScheduler records every Put; fail makes Put fail.
type recordingScheduler struct {
	mu   sync.Mutex
	puts [][]flashsale.Schedule
	fail bool
}

func (r *recordingScheduler) Put(_ context.Context, s []flashsale.Schedule) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail {
		return errors.New("scheduler down")
	}
	r.puts = append(r.puts, s)
	return nil
}

func (r *recordingScheduler) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.puts)
}

func TestCreateSale_SchedulesPreparation(t *testing.T) {
	sc := &recordingScheduler{}
	e := newEnv(t, flashsale.WithScheduler(sc), flashsale.WithLead(5*time.Minute))
	ctx := context.Background()
	n := flashsale.NewSale{ID: "prep", Name: "Prep", PriceCents: 100, Currency: "EUR", StartsAt: testStart, EndsAt: testEnd,
		Stock: 10, PerUserLimit: 1, PaymentWindowSeconds: 60}
	if _, err := e.svc.CreateSale(ctx, n); err != nil {
		t.Fatal(err)
	}
	if sc.count() != 1 || len(sc.puts[0]) != 4 || !sc.puts[0][0].At.Equal(testStart.Add(-5*time.Minute)) {
		t.Fatalf("puts after create = %+v; want one put of 4 schedules, the first at startsAt − 5 min", sc.puts)
	}

	// The same definition again (a re-import): still 409, and the
	// schedules, which were put, are not put again: deployed, those that
	// fired deleted themselves and would fire again.
	if _, err := e.svc.CreateSale(ctx, n); !errors.Is(err, flashsale.ErrSaleExists) {
		t.Fatalf("identical re-create: %v; want ErrSaleExists", err)
	}
	// A different definition: 409, and nothing of the existing sale moves.
	changed := n
	changed.StartsAt = testStart.Add(time.Minute)
	if _, err := e.svc.CreateSale(ctx, changed); !errors.Is(err, flashsale.ErrSaleExists) {
		t.Fatalf("changed re-create: %v; want ErrSaleExists", err)
	}
	if sc.count() != 1 {
		t.Fatalf("re-creates put schedules again (%d puts in all); want only the first", sc.count())
	}

	// A scheduler that fails: the sale is stored, the answer says so, and
	// the same request again heals it.
	sc.fail = true
	n.ID = "prep-2"
	if _, err := e.svc.CreateSale(ctx, n); !errors.Is(err, flashsale.ErrNotScheduled) {
		t.Fatalf("create with the scheduler down: %v; want ErrNotScheduled", err)
	}
	if _, err := e.svc.LookupSale(ctx, "prep-2"); err != nil {
		t.Fatalf("the sale should be stored though not scheduled: %v", err)
	}
	sc.fail = false
	for range 2 {
		if _, err := e.svc.CreateSale(ctx, n); !errors.Is(err, flashsale.ErrSaleExists) {
			t.Fatalf("retry: %v; want ErrSaleExists", err)
		}
	}
	if last := sc.puts[len(sc.puts)-1]; sc.count() != 2 || last[0].SaleID != "prep-2" {
		t.Fatalf("retries put %+v; want prep-2's schedules once", sc.puts)
	}
}

// A sale time finer than the store keeps (milliseconds) still makes an
// identical re-create identical.
func TestCreateSale_SubMillisecondTimes(t *testing.T) {
	e := newEnv(t)
	n := flashsale.NewSale{ID: "fine", Name: "Fine", PriceCents: 1, Currency: "USD", StartsAt: testStart.Add(123456789),
		EndsAt: testEnd, Stock: 1, PerUserLimit: 1, PaymentWindowSeconds: 60}
	v, err := e.svc.CreateSale(context.Background(), n)
	if err != nil {
		t.Fatal(err)
	}
	if want := testStart.Add(123 * time.Millisecond); !v.StartsAt.Equal(want) {
		t.Errorf("startsAt stored as %s; want %s (milliseconds)", v.StartsAt, want)
	}
	built, err := n.Build()
	if err != nil || !built.SameDefinition(v.Sale) {
		t.Errorf("the same request does not rebuild the stored definition: %v", err)
	}
}

// TestPreload_FirstPurchaseMakesNoSaleRead is the data warm-up: a container
// started at the warm-up (T − 10 min) preloads the sale, and its first
// purchase at T reads no sale item. A container that did not preload reads
// it, so the count can fail.
func TestPreload_FirstPurchaseMakesNoSaleRead(t *testing.T) {
	e := newEnv(t)
	e.clock.Set(testStart.Add(-10 * time.Minute))
	e.createSale(t, "warm", 100, 2, 1)
	later := flashsale.NewSale{ID: "later", Name: "Later", PriceCents: 1, Currency: "USD", StartsAt: testStart.Add(2 * time.Hour),
		EndsAt: testEnd.Add(2 * time.Hour), Stock: 1, PerUserLimit: 1, PaymentWindowSeconds: 60}
	if _, err := e.svc.CreateSale(context.Background(), later); err != nil {
		t.Fatal(err)
	}

	warmed, cold := e.newService(), e.newService()
	n, err := warmed.Preload(context.Background(), 15*time.Minute)
	if err != nil || n != 1 {
		t.Fatalf("Preload = %d, %v; want 1 sale (the later one opens in 2 h)", n, err)
	}
	// The burst's first request, within the cache TTL of the opening.
	e.clock.Set(testStart.Add(500 * time.Millisecond))
	e.store.Calls()
	if _, err := warmed.Reserve(context.Background(), flashsale.ReserveRequest{SaleID: "warm", UserID: "u1", Key: "k1", Quantity: 1}); err != nil {
		t.Fatal(err)
	}
	if got := e.store.Calls()["Sale"]; got != 0 {
		t.Errorf("first purchase on a warmed container read the sale %d times; want 0", got)
	}
	if _, err := cold.Reserve(context.Background(), flashsale.ReserveRequest{SaleID: "warm", UserID: "u2", Key: "k1", Quantity: 1}); err != nil {
		t.Fatal(err)
	}
	if got := e.store.Calls()["Sale"]; got != 1 {
		t.Errorf("first purchase on a cold container read the sale %d times; want 1", got)
	}
}
