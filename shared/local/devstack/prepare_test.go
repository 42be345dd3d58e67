package devstack_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"flashsale/shared/apispec"
	"flashsale/shared/app"
	"flashsale/shared/awsclient"
	"flashsale/shared/dynamostore"
	"flashsale/shared/flashsale"
	"flashsale/shared/local/devstack"
	"flashsale/shared/local/prepare"
	"flashsale/shared/local/testclock"
	"flashsale/shared/local/testenv"
	"flashsale/shared/sqsqueue"
	"flashsale/shared/warmup"
)

// prepStack is a local stack on a test clock, with the calls the
// preparation tests make.
type prepStack struct {
	*devstack.Stack
	clock   *testclock.Clock
	control *prepare.Client
}

// openPrepStack opens a stack whose service and schedules run on a clock
// the test moves; the background tick runs too, on the same clock, so the
// tests also prove that RunDue and the tick never fire a schedule twice.
func openPrepStack(t *testing.T) *prepStack {
	t.Helper()
	clock := testclock.New(time.Now().UTC().Truncate(time.Second))
	cfg := testenv.StackConfig(t)
	cfg.Now = clock.Now
	st := testenv.OpenStack(t, cfg)
	info, err := devstack.ReadStackInfo(cfg.StateDir)
	if err != nil || info.ControlURL == "" || info.ControlURL != st.ControlURL {
		t.Fatalf("stack.json = %+v, %v; want controlUrl %s", info, err, st.ControlURL)
	}
	return &prepStack{Stack: st, clock: clock, control: &prepare.Client{URL: info.ControlURL}}
}

// createSale creates a sale through the gateway as an admin.
func (p *prepStack) createSale(t *testing.T, id string, start, end time.Time, shards int) flashsale.Sale {
	t.Helper()
	body := fmt.Sprintf(`{"saleId":%q,"name":"Sale %s","priceCents":500,"currency":"USD","startsAt":%q,"endsAt":%q,
		"stock":100,"perUserLimit":1,"paymentWindowSeconds":600,"shards":%d,"admission":{"purchaseToken":false}}`,
		id, id, flashsale.FormatTime(start), flashsale.FormatTime(end), shards)
	if status, answer := call(t, "POST", p.URL+"/admin/sales", body, "Authorization", token(t, p.Issuer, "ops", apispec.GroupAdmin)); status != http.StatusCreated {
		t.Fatalf("create sale %s = %d %s, want 201", id, status, answer)
	}
	return flashsale.Sale{ID: id, StartsAt: start, EndsAt: end, Shards: shards, Stock: 100}
}

// runAt moves the clock to at and fires what is due.
func (p *prepStack) runAt(t *testing.T, at time.Time) []prepare.Entry {
	t.Helper()
	p.clock.Set(at)
	got, err := p.Schedules.RunDue(t.Context())
	if err != nil {
		t.Fatalf("RunDue at %v: %v", at, err)
	}
	return got
}

func (p *prepStack) provisioned(t *testing.T) prepare.Provisioned {
	t.Helper()
	got, err := p.control.Provisioned(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func (p *prepStack) schedules(t *testing.T) map[string]prepare.Entry {
	t.Helper()
	got, err := p.control.Schedules(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !got.Now.Equal(p.clock.Now()) {
		t.Errorf("GET /schedules says now is %v, want the stack's clock %v", got.Now, p.clock.Now())
	}
	out := map[string]prepare.Entry{}
	for _, e := range got.Schedules {
		out[e.Name] = e
	}
	return out
}

// TestPreparation_WarmUpAddsUpOverlappingSales creates two overlapping
// sales and walks the clock through their windows: provisioned concurrency
// follows plan(A), plan(A)+plan(B), plan(B), then 0, and the control port
// shows each change. The purchase gate still opens at startsAt.
func TestPreparation_WarmUpAddsUpOverlappingSales(t *testing.T) {
	p := openPrepStack(t)
	lead := flashsale.DefaultLead
	now := p.clock.Now()
	startA, endA := now.Add(time.Hour), now.Add(2*time.Hour)
	startB, endB := now.Add(90*time.Minute), now.Add(3*time.Hour)
	a := p.createSale(t, "prep-a", startA, endA, 2)
	b := p.createSale(t, "prep-b", startB, endB, 8)
	planA, planB := warmup.ForSale(a), warmup.ForSale(b)
	if planA <= 0 || planB <= 0 || planA == planB {
		t.Fatalf("plan(A) = %d, plan(B) = %d; want two different positive figures for the test to mean anything", planA, planB)
	}

	listed := p.schedules(t)
	for _, s := range []flashsale.Sale{a, b} {
		for _, want := range flashsale.SchedulesFor(s, lead) {
			got, ok := listed[want.Name]
			if !ok || got.SaleID != s.ID || got.Job != want.Job || !got.At.Equal(want.At) || got.Status != prepare.StatusPending {
				t.Errorf("schedule %s = %+v (listed %v), want %+v pending", want.Name, got, ok, want)
			}
		}
	}
	if len(listed) != 8 {
		t.Errorf("%d schedules listed, want 8 (4 per sale)", len(listed))
	}

	buyer := token(t, p.Issuer, "early-bird")
	order := func(key string) (int, string) {
		return call(t, "POST", p.URL+"/sales/prep-a/orders", `{"quantity":1}`,
			"Authorization", buyer, "x-api-key", p.Issuer.APIKey(), "Idempotency-Key", key)
	}
	steps := []struct {
		name string
		at   time.Time
		want int
		why  string
	}{
		{"A warms up", startA.Add(-lead), planA, "prep-a.warm-up"},
		{"B warms up while A runs", startB.Add(-lead), planA + planB, "prep-b.warm-up"},
		{"A cools down, B stays warm", endA, planB, "prep-a.cool-down"},
		{"B cools down", endB, 0, "prep-b.cool-down"},
	}
	for i, s := range steps {
		fired := p.runAt(t, s.at)
		for _, e := range fired {
			if e.Status != prepare.StatusFired {
				t.Errorf("%s: %s = %s (%s), want fired", s.name, e.Name, e.Status, e.Error)
			}
		}
		got := p.provisioned(t)
		if got.Current != s.want || len(got.Changes) != i+1 {
			t.Fatalf("%s: provisioned %d after %d changes, want %d after %d", s.name, got.Current, len(got.Changes), s.want, i+1)
		}
		if c := got.Changes[i]; c.To != s.want || c.Why != s.why || !c.At.Equal(s.at) {
			t.Errorf("%s: change %+v, want to %d by %s at %v", s.name, c, s.want, s.why, s.at)
		}
		if i == 0 {
			// Between T-lead and T: warm, but the gate is shut.
			if status, body := order("before-start"); status != http.StatusForbidden || apiCode(body) != "sale_not_open" {
				t.Errorf("a purchase after the warm-up, before startsAt = %d %s, want 403 sale_not_open", status, body)
			}
			p.clock.Set(startA)
			if status, body := order("at-start"); status != http.StatusAccepted {
				t.Errorf("a purchase at startsAt = %d %s, want 202", status, body)
			}
		}
	}
	changes := p.provisioned(t).Changes
	for i := 1; i < len(changes); i++ {
		if changes[i].From != changes[i-1].To {
			t.Errorf("change %d goes from %d, want from %d where change %d left it", i, changes[i].From, changes[i-1].To, i-1)
		}
	}
	for name, e := range p.schedules(t) {
		if e.Status != prepare.StatusFired || e.Attempts != 1 || e.FiredAt == nil || e.FiredAt.Before(e.At) {
			t.Errorf("after both sales ended, %s is %s after %d attempts (fired at %v, due %v): %s; want fired once, at or after its time",
				name, e.Status, e.Attempts, e.FiredAt, e.At, e.Outcome())
		}
	}
}

// TestPreparation_RemindersExactlyOnce subscribes buyers through the
// gateway, then runs the remind job at T-lead, again at the last call and
// once more by hand: the outbox holds exactly one line per subscriber.
func TestPreparation_RemindersExactlyOnce(t *testing.T) {
	p := openPrepStack(t)
	lead := flashsale.DefaultLead
	start := p.clock.Now().Add(time.Hour)
	p.createSale(t, "remind-me", start, start.Add(time.Hour), 1)
	remind := func(method, sale, user string) (int, string) {
		return call(t, method, p.URL+"/sales/"+sale+"/reminders", "",
			"Authorization", token(t, p.Issuer, user), "x-api-key", p.Issuer.APIKey())
	}
	const n = 8
	var users []string
	for i := range n {
		u := fmt.Sprintf("fan-%d", i)
		users = append(users, u)
		if status, body := remind("POST", "remind-me", u); status != http.StatusCreated {
			t.Fatalf("subscribe %s = %d %s, want 201", u, status, body)
		}
		if status, body := remind("POST", "remind-me", u); status != http.StatusOK {
			t.Errorf("subscribe %s again = %d %s, want 200", u, status, body)
		}
	}
	if status, body := remind("DELETE", "remind-me", users[0]); status != http.StatusNoContent {
		t.Errorf("unsubscribe %s = %d %s, want 204", users[0], status, body)
	}
	users = users[1:]
	if status, body := remind("POST", "no-such-sale", "fan-x"); status != http.StatusNotFound {
		t.Errorf("subscribe to an unknown sale = %d %s, want 404", status, body)
	}

	p.runAt(t, start.Add(-lead))
	checkOutbox(t, p.Outbox.Path(), "remind-me", users)

	// A subscriber after the first run gets the last call, and only them.
	if status, body := remind("POST", "remind-me", "late-fan"); status != http.StatusCreated {
		t.Fatalf("subscribe late-fan = %d %s, want 201", status, body)
	}
	users = append(users, "late-fan")
	fired := p.runAt(t, start.Add(-flashsale.LastCall))
	if len(fired) != 1 || fired[0].Name != flashsale.ScheduleName("remind-me", "last-call") || fired[0].Status != prepare.StatusFired {
		t.Fatalf("RunDue at the last call fired %+v, want the last call", fired)
	}
	checkOutbox(t, p.Outbox.Path(), "remind-me", users)

	// The notifier run twice more, by hand: nobody hears twice.
	stats, err := p.App.Remind(t.Context(), flashsale.Schedule{Name: "by-hand", SaleID: "remind-me", Job: flashsale.JobRemind})
	if err != nil || stats.Sent != 0 || stats.Before != len(users) {
		t.Errorf("a third remind run = %+v, %v; want nothing sent, %d notified before", stats, err, len(users))
	}
	checkOutbox(t, p.Outbox.Path(), "remind-me", users)

	p.clock.Set(start)
	if status, body := remind("POST", "remind-me", "too-late"); status != http.StatusConflict || apiCode(body) != "sale_started" {
		t.Errorf("subscribe at startsAt = %d %s, want 409 sale_started", status, body)
	}
}

// TestPreparation_RemindersSurviveAFailingNotifier crashes a remind run
// halfway (a notifier that fails after k sends), then fails the scheduled
// run outright (the outbox cannot be written), and lets the next tick retry:
// every subscriber hears exactly once in total.
func TestPreparation_RemindersSurviveAFailingNotifier(t *testing.T) {
	p := openPrepStack(t)
	start := p.clock.Now().Add(time.Hour)
	p.createSale(t, "flaky", start, start.Add(time.Hour), 1)
	var users []string
	for i := range 9 {
		u := fmt.Sprintf("sub-%d", i)
		users = append(users, u)
		if status, body := call(t, "POST", p.URL+"/sales/flaky/reminders", "",
			"Authorization", token(t, p.Issuer, u), "x-api-key", p.Issuer.APIKey()); status != http.StatusCreated {
			t.Fatalf("subscribe %s = %d %s, want 201", u, status, body)
		}
	}

	// Another notifier process on the same tables, whose sends fail after
	// the third, as a notifier Lambda that loses SNS halfway.
	const k = 3
	flaky := &failAfter{next: p.Outbox, after: k}
	other := app.Build(
		dynamostore.New(awsclient.DynamoDB(p.AWS, p.Settings), p.Settings.SalesTable, p.Settings.OrdersTable),
		sqsqueue.New(awsclient.SQS(p.AWS, p.Settings), p.Settings.OrdersQueueURL, p.Settings.FIFOGroups),
		app.Options{Notifier: flaky, Service: []flashsale.Option{flashsale.WithClock(p.clock.Now)}})
	stats, err := other.Remind(t.Context(), flashsale.Schedule{Name: "flaky.remind", SaleID: "flaky", Job: flashsale.JobRemind})
	if err == nil || stats.Sent != k || stats.Failed != len(users)-k {
		t.Fatalf("the failing run = %+v, %v; want %d sent, %d failed and an error", stats, err, k, len(users)-k)
	}
	sent, err := prepare.ReadOutbox(p.Outbox.Path())
	if err != nil || len(sent) != k {
		t.Fatalf("outbox after the failing run: %d lines, %v; want %d", len(sent), err, k)
	}

	// The scheduled run fails outright: the outbox is a folder for now.
	saved := p.Outbox.Path() + ".saved"
	if err := os.Rename(p.Outbox.Path(), saved); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(p.Outbox.Path(), 0o700); err != nil {
		t.Fatal(err)
	}
	p.runAt(t, start.Add(-flashsale.DefaultLead))
	name := flashsale.ScheduleName("flaky", string(flashsale.JobRemind))
	if e := p.schedules(t)[name]; e.Status != prepare.StatusFailed || e.Error == "" || e.GaveUp {
		t.Fatalf("%s after a run whose sends all failed is %s (gave up: %v): %s; want failed, to be retried", name, e.Status, e.GaveUp, e.Outcome())
	}

	// Mended: the next run retries it.
	if err := os.Remove(p.Outbox.Path()); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(saved, p.Outbox.Path()); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Schedules.RunDue(t.Context()); err != nil {
		t.Fatal(err)
	}
	e := p.schedules(t)[name]
	var last flashsale.RemindStats
	if e.Status != prepare.StatusFired || e.Attempts < 2 || json.Unmarshal(e.Result, &last) != nil || last.Before+last.Sent != len(users) {
		t.Errorf("%s after the retry is %s after %d attempts: %s; want fired on a later attempt, all %d covered",
			name, e.Status, e.Attempts, e.Outcome(), len(users))
	}
	checkOutbox(t, p.Outbox.Path(), "flaky", users)

	// And once more, as a duplicate invocation would.
	if _, err := p.App.Remind(t.Context(), flashsale.Schedule{Name: name, SaleID: "flaky", Job: flashsale.JobRemind}); err != nil {
		t.Fatal(err)
	}
	checkOutbox(t, p.Outbox.Path(), "flaky", users)
}

// failAfter passes the first `after` sends to next and fails the rest.
type failAfter struct {
	next  flashsale.Notifier
	after int64
	n     atomic.Int64
}

func (f *failAfter) Notify(ctx context.Context, m flashsale.ReminderMessage) error {
	if f.n.Add(1) > f.after {
		return errors.New("notifier lost its connection")
	}
	return f.next.Notify(ctx, m)
}

// checkOutbox wants exactly one line per user for the sale.
func checkOutbox(tb testing.TB, path, saleID string, users []string) {
	tb.Helper()
	sent, err := prepare.ReadOutbox(path)
	if err != nil {
		tb.Fatal(err)
	}
	count := map[string]int{}
	for _, s := range sent {
		if s.SaleID == saleID {
			count[s.UserID]++
		}
	}
	for _, u := range users {
		if count[u] != 1 {
			tb.Errorf("%s got %d reminders of %s, want exactly 1", u, count[u], saleID)
		}
		delete(count, u)
	}
	for u, c := range count {
		tb.Errorf("%s got %d reminders of %s, want none: not a subscriber", u, c, saleID)
	}
	if tb.Failed() {
		got := make([]string, 0, len(sent))
		for _, s := range sent {
			got = append(got, s.UserID)
		}
		slices.Sort(got)
		tb.Logf("outbox %s: %v", filepath.Base(path), got)
	}
}

func apiCode(body string) string {
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal([]byte(body), &e)
	return e.Error.Code
}
