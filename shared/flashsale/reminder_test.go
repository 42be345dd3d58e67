package flashsale_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"flashsale/shared/flashsale"
)

// outbox records every reminder sent; failAfter > 0 makes every send after
// that many fail.
type outbox struct {
	mu        sync.Mutex
	sent      map[string]int // by user
	n         int
	failAfter int
}

func (o *outbox) Notify(_ context.Context, m flashsale.ReminderMessage) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.failAfter > 0 && o.n >= o.failAfter {
		return errors.New("push service down")
	}
	o.n++
	o.sent[m.UserID]++
	return nil
}

// fastPacing keeps tests quick: everything in a few milliseconds.
var fastPacing = flashsale.ReminderPacing{Spread: time.Millisecond, MinRate: 10000, MaxRate: 100000}

func TestSubscribe(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.clock.Set(testStart.Add(-time.Hour))
	e.createSale(t, "soon", 10, 1, 1)
	if sub, err := e.svc.Subscribe(ctx, "soon", "u1"); err != nil || !sub.Created || !sub.RemindAt.Equal(testStart.Add(-flashsale.DefaultLead)) {
		t.Fatalf("first Subscribe = %+v, %v; want created (201), reminded at startsAt − lead", sub, err)
	}
	if sub, err := e.svc.Subscribe(ctx, "soon", "u1"); err != nil || sub.Created {
		t.Fatalf("second Subscribe = %+v, %v; want not created (200)", sub, err)
	}
	// After the first run, the last call reaches a new subscriber; after
	// the last call, no run is left.
	for _, tc := range []struct {
		at, want time.Time
	}{
		{testStart.Add(-5 * time.Minute), testStart.Add(-flashsale.LastCall)},
		{testStart.Add(-30 * time.Second), time.Time{}},
	} {
		e.clock.Set(tc.at)
		if sub, err := e.svc.Subscribe(ctx, "soon", "late"); err != nil || !sub.RemindAt.Equal(tc.want) {
			t.Errorf("Subscribe at %s = %+v, %v; want remindAt %v", tc.at.Format(time.TimeOnly), sub, err, tc.want)
		}
	}
	e.clock.Set(testStart.Add(-time.Hour))
	if _, err := e.svc.Subscribe(ctx, "nope", "u1"); !errors.Is(err, flashsale.ErrSaleNotFound) {
		t.Fatalf("unknown sale: %v; want ErrSaleNotFound", err)
	}
	if err := e.svc.Unsubscribe(ctx, "soon", "u1"); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Unsubscribe(ctx, "soon", "u1"); err != nil {
		t.Fatalf("unsubscribing twice: %v; want nil (204 again)", err)
	}
	for _, at := range []time.Time{testStart, testEnd.Add(time.Minute)} {
		e.clock.Set(at)
		if _, err := e.svc.Subscribe(ctx, "soon", "u2"); !errors.Is(err, flashsale.ErrSaleStarted) {
			t.Errorf("Subscribe at %s: %v; want ErrSaleStarted", at, err)
		}
	}
}

// TestSendReminders_ExactlyOnce: two runs, and a run that fails halfway
// followed by another, notify every subscriber exactly once in all.
func TestSendReminders_ExactlyOnce(t *testing.T) {
	box := &outbox{sent: map[string]int{}, failAfter: 7}
	e := newEnv(t, flashsale.WithNotifier(box, fastPacing))
	ctx := context.Background()
	e.clock.Set(testStart.Add(-time.Hour))
	e.createSale(t, "soon", 10, 1, 1)
	const n = 25
	for i := range n {
		if _, err := e.svc.Subscribe(ctx, "soon", fmt.Sprintf("u%02d", i)); err != nil {
			t.Fatal(err)
		}
	}
	e.clock.Set(testStart.Add(-10 * time.Minute))
	stats, err := e.svc.SendReminders(ctx, "soon")
	if err == nil || stats.Sent != 7 || stats.Failed != n-7 {
		t.Fatalf("run with a notifier failing after 7: %+v, %v; want 7 sent, %d failed and an error", stats, err, n-7)
	}
	box.failAfter = 0
	stats, err = e.svc.SendReminders(ctx, "soon")
	if err != nil || stats.Sent != n-7 || stats.Before != 7 {
		t.Fatalf("rerun: %+v, %v; want %d sent and 7 notified before", stats, err, n-7)
	}
	// Two runs at once (a retried schedule racing the last call).
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			if st, err := e.svc.SendReminders(ctx, "soon"); err != nil || st.Sent != 0 {
				t.Errorf("later run: %+v, %v; want nothing sent", st, err)
			}
		})
	}
	wg.Wait()
	if len(box.sent) != n {
		t.Fatalf("%d subscribers notified; want %d", len(box.sent), n)
	}
	for u, c := range box.sent {
		if c != 1 {
			t.Errorf("%s notified %d times; want once", u, c)
		}
	}
}

// TestSendReminders_Paced: a run of n sends at rate r takes about n/r.
func TestSendReminders_Paced(t *testing.T) {
	box := &outbox{sent: map[string]int{}}
	pace := flashsale.ReminderPacing{Spread: time.Hour, MinRate: 100, MaxRate: 100}
	e := newEnv(t, flashsale.WithNotifier(box, pace))
	ctx := context.Background()
	e.clock.Set(testStart.Add(-time.Hour))
	e.createSale(t, "soon", 10, 1, 1)
	for i := range 31 {
		if _, err := e.svc.Subscribe(ctx, "soon", fmt.Sprintf("u%02d", i)); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	if _, err := e.svc.SendReminders(ctx, "soon"); err != nil {
		t.Fatal(err)
	}
	// 31 sends at 100/s with a burst of 1: at least 300 ms; a lower bound
	// only, since a slow machine may take longer.
	if took := time.Since(start); took < 290*time.Millisecond {
		t.Errorf("31 sends at 100/s took %s; want at least 300 ms", took)
	}
}

func TestReminderPacing_Rate(t *testing.T) {
	p := flashsale.DefaultReminderPacing
	for _, tc := range []struct {
		n    int
		want float64
	}{{0, 50}, {100, 50}, {60_000, 500}, {1_000_000, 3000}} {
		if got := p.Rate(tc.n); got != tc.want {
			t.Errorf("Rate(%d) = %v; want %v", tc.n, got, tc.want)
		}
	}
}

func TestSendReminders_AfterTheEndSendsNothing(t *testing.T) {
	box := &outbox{sent: map[string]int{}}
	e := newEnv(t, flashsale.WithNotifier(box, fastPacing))
	ctx := context.Background()
	e.clock.Set(testStart.Add(-time.Hour))
	e.createSale(t, "soon", 10, 1, 1)
	if _, err := e.svc.Subscribe(ctx, "soon", "u1"); err != nil {
		t.Fatal(err)
	}
	e.clock.Set(testEnd)
	if st, err := e.svc.SendReminders(ctx, "soon"); err != nil || st.Sent != 0 || len(box.sent) != 0 {
		t.Fatalf("run after the end: %+v, %v, outbox %v; want nothing sent", st, err, box.sent)
	}
	e.clock.Set(testStart.Add(time.Minute)) // a late run while the sale is live still reminds
	if st, err := e.svc.SendReminders(ctx, "soon"); err != nil || st.Sent != 1 {
		t.Fatalf("run after the opening: %+v, %v; want 1 sent", st, err)
	}
}

// TestSendReminders_CrashBetweenClaimAndSend: a run that died after its
// claims and before its sends leaves claims without a sent mark. The next
// run within a minute leaves them to their (presumed live) run; the one
// after the lease sends them, each once.
func TestSendReminders_CrashBetweenClaimAndSend(t *testing.T) {
	box := &outbox{sent: map[string]int{}}
	e := newEnv(t, flashsale.WithNotifier(box, fastPacing))
	ctx := context.Background()
	e.clock.Set(testStart.Add(-time.Hour))
	e.createSale(t, "soon", 10, 1, 1)
	for i := range 10 {
		if _, err := e.svc.Subscribe(ctx, "soon", fmt.Sprintf("u%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	e.clock.Set(testStart.Add(-10 * time.Minute))
	crashedAt := e.clock.Now()
	for i := range 3 { // the dead run's claims
		if err := e.mem.ClaimReminder(ctx, "soon", fmt.Sprintf("u%d", i), crashedAt, crashedAt.Add(-flashsale.ReminderClaimLease)); err != nil {
			t.Fatal(err)
		}
	}
	e.clock.Advance(30 * time.Second)
	if st, err := e.svc.SendReminders(ctx, "soon"); err != nil || st.Sent != 7 || st.Before != 3 {
		t.Fatalf("run within the lease: %+v, %v; want 7 sent, 3 left to the claiming run", st, err)
	}
	e.clock.Advance(time.Minute)
	if st, err := e.svc.SendReminders(ctx, "soon"); err != nil || st.Sent != 3 || st.Before != 7 {
		t.Fatalf("run after the lease: %+v, %v; want the 3 stale claims sent", st, err)
	}
	for i := range 10 {
		if n := box.sent[fmt.Sprintf("u%d", i)]; n != 1 {
			t.Errorf("u%d reminded %d times; want once", i, n)
		}
	}
}

// TestSendReminders_ResubscribeIsNotRemindedTwice: unsubscribing after the
// reminder and subscribing again does not earn a second one.
func TestSendReminders_ResubscribeIsNotRemindedTwice(t *testing.T) {
	box := &outbox{sent: map[string]int{}}
	e := newEnv(t, flashsale.WithNotifier(box, fastPacing))
	ctx := context.Background()
	e.clock.Set(testStart.Add(-time.Hour))
	e.createSale(t, "soon", 10, 1, 1)
	if _, err := e.svc.Subscribe(ctx, "soon", "u1"); err != nil {
		t.Fatal(err)
	}
	e.clock.Set(testStart.Add(-10 * time.Minute))
	if _, err := e.svc.SendReminders(ctx, "soon"); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Unsubscribe(ctx, "soon", "u1"); err != nil {
		t.Fatal(err)
	}
	if sub, err := e.svc.Subscribe(ctx, "soon", "u1"); err != nil || !sub.Created {
		t.Fatalf("subscribe again = %+v, %v; want created (201)", sub, err)
	}
	e.clock.Set(testStart.Add(-time.Minute))
	if st, err := e.svc.SendReminders(ctx, "soon"); err != nil || st.Sent != 0 {
		t.Fatalf("last call: %+v, %v; want nothing sent", st, err)
	}
	if box.sent["u1"] != 1 {
		t.Fatalf("u1 reminded %d times; want once", box.sent["u1"])
	}
}
