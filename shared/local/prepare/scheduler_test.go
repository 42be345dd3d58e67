package prepare_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"flashsale/shared/flashsale"
	"flashsale/shared/local/prepare"
	"flashsale/shared/local/testclock"
	"flashsale/shared/warmup"
)

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

// calls counts the target calls per schedule name; fail makes the next
// calls of a name fail.
type calls struct {
	mu   sync.Mutex
	n    map[string]int
	fail map[string]int
}

func newCalls() *calls { return &calls{n: map[string]int{}, fail: map[string]int{}} }

func (c *calls) targets() prepare.Targets {
	hit := func(name string) error {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.n[name]++
		if c.fail[name] > 0 {
			c.fail[name]--
			return errors.New("target down")
		}
		return nil
	}
	return prepare.Targets{
		WarmUp: func(_ context.Context, sc flashsale.Schedule) (warmup.Target, error) {
			return warmup.Target{Total: 7, Sales: []warmup.SaleTarget{{SaleID: sc.SaleID, Concurrency: 7}}}, hit(sc.Name)
		},
		Remind: func(_ context.Context, sc flashsale.Schedule) (flashsale.RemindStats, error) {
			return flashsale.RemindStats{Subscribers: 2, Sent: 2}, hit(sc.Name)
		},
	}
}

func (c *calls) of(name string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[name]
}

func newScheduler(tb testing.TB, clock *testclock.Clock, path string, retries int) *prepare.Scheduler {
	tb.Helper()
	s, err := prepare.New(prepare.Config{Now: clock.Now, Path: path, MaxRetries: retries, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func saleSchedules(id string, start time.Time) []flashsale.Schedule {
	return flashsale.SchedulesFor(flashsale.Sale{ID: id, StartsAt: start, EndsAt: start.Add(time.Hour)}, flashsale.DefaultLead)
}

func runDue(tb testing.TB, s *prepare.Scheduler) []prepare.Entry {
	tb.Helper()
	got, err := s.RunDue(tb.Context())
	if err != nil {
		tb.Fatalf("RunDue: %v", err)
	}
	return got
}

func names(es []prepare.Entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Name)
	}
	return out
}

func TestScheduler_FiresEachDueScheduleOnce(t *testing.T) {
	clock := testclock.New(t0.Add(-time.Hour))
	s := newScheduler(t, clock, "", 0)
	c := newCalls()
	s.Bind(c.targets())
	if err := s.Put(t.Context(), saleSchedules("a", t0)); err != nil {
		t.Fatal(err)
	}
	if got := runDue(t, s); len(got) != 0 {
		t.Fatalf("RunDue an hour early fired %v, want nothing", names(got))
	}
	clock.Set(t0.Add(-flashsale.DefaultLead))
	got := runDue(t, s)
	if want := []string{"a.remind", "a.warm-up"}; len(got) != 2 || got[0].Name != want[0] || got[1].Name != want[1] {
		t.Fatalf("RunDue at T-lead fired %v, want %v", names(got), want)
	}
	for _, e := range got {
		if e.Status != prepare.StatusFired || e.FiredAt == nil || !e.FiredAt.Equal(clock.Now()) || e.Attempts != 1 || len(e.Result) == 0 {
			t.Errorf("%s = %+v, want fired at %v after 1 attempt with a result", e.Name, e, clock.Now())
		}
	}
	if out := got[1].Outcome(); out != "provisioned 7 (a 7)" {
		t.Errorf("warm-up outcome %q, want %q", out, "provisioned 7 (a 7)")
	}
	if got := runDue(t, s); len(got) != 0 {
		t.Errorf("RunDue again fired %v, want nothing", names(got))
	}
	clock.Set(t0.Add(2 * time.Hour))
	if got := runDue(t, s); len(got) != 2 {
		t.Errorf("RunDue after the end fired %v, want the last call and the cool-down", names(got))
	}
	for _, n := range []string{"a.warm-up", "a.remind", "a.last-call", "a.cool-down"} {
		if c.of(n) != 1 {
			t.Errorf("%s ran %d times, want 1", n, c.of(n))
		}
	}
}

// TestScheduler_ConcurrentRunsFireOnce races RunDue and Tick, as a test's
// RunDue races the dev stack's background tick: every schedule runs once,
// and every RunDue returns only once the due ones have finished.
func TestScheduler_ConcurrentRunsFireOnce(t *testing.T) {
	clock := testclock.New(t0)
	s := newScheduler(t, clock, "", 0)
	c := newCalls()
	s.Bind(c.targets())
	for _, id := range []string{"a", "b", "c", "d"} {
		if err := s.Put(t.Context(), saleSchedules(id, t0.Add(-2*time.Hour))); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	var unfinished atomic.Int32
	for i := range 16 {
		wg.Go(func() {
			if i%2 == 0 {
				s.Tick(t.Context())
				return
			}
			if _, err := s.RunDue(t.Context()); err != nil {
				t.Error(err)
			}
			for _, e := range s.Entries() {
				if e.Status != prepare.StatusFired {
					unfinished.Add(1)
				}
			}
		})
	}
	wg.Wait()
	s.Wait()
	if n := unfinished.Load(); n > 0 {
		t.Errorf("RunDue returned with %d schedules not fired, want all fired", n)
	}
	for _, e := range s.Entries() {
		if c.of(e.Name) != 1 || e.Attempts != 1 {
			t.Errorf("%s ran %d times (attempts %d), want once", e.Name, c.of(e.Name), e.Attempts)
		}
	}
}

func TestScheduler_FailedRetriesUntilItGivesUp(t *testing.T) {
	clock := testclock.New(t0)
	s := newScheduler(t, clock, "", 2)
	c := newCalls()
	c.fail["a.warm-up"] = 1
	c.fail["b.warm-up"] = 10
	s.Bind(c.targets())
	for _, id := range []string{"a", "b"} {
		if err := s.Put(t.Context(), saleSchedules(id, t0)[:1]); err != nil {
			t.Fatal(err)
		}
	}
	first := runDue(t, s)
	for _, e := range first {
		if e.Status != prepare.StatusFailed || e.Error == "" || e.GaveUp {
			t.Errorf("first run: %s = %+v, want failed, to be retried", e.Name, e)
		}
	}
	runDue(t, s) // a's retry succeeds; b's first retry fails
	runDue(t, s) // b's second and last retry fails
	if got := runDue(t, s); len(got) != 0 {
		t.Errorf("after giving up, RunDue fired %v, want nothing", names(got))
	}
	byName := map[string]prepare.Entry{}
	for _, e := range s.Entries() {
		byName[e.Name] = e
	}
	if a := byName["a.warm-up"]; a.Status != prepare.StatusFired || a.Attempts != 2 || a.Error != "" {
		t.Errorf("a = %+v, want fired on its second attempt, error cleared", a)
	}
	if b := byName["b.warm-up"]; b.Status != prepare.StatusFailed || !b.GaveUp || b.Attempts != 3 || c.of("b.warm-up") != 3 {
		t.Errorf("b = %+v after %d calls, want failed and given up after 1 + 2 retries", b, c.of("b.warm-up"))
	}
}

func TestScheduler_PutReplacesByName(t *testing.T) {
	clock := testclock.New(t0)
	s := newScheduler(t, clock, "", 0)
	c := newCalls()
	s.Bind(c.targets())
	put := func(start time.Time) {
		t.Helper()
		if err := s.Put(t.Context(), saleSchedules("a", start)); err != nil {
			t.Fatal(err)
		}
	}
	put(t0)
	runDue(t, s)
	put(t0) // the same definition again: its record stays
	if len(s.Entries()) != 4 {
		t.Fatalf("%d schedules after putting the same four twice, want 4", len(s.Entries()))
	}
	if got := runDue(t, s); len(got) != 0 {
		t.Errorf("an identical Put made %v fire again, want nothing", names(got))
	}
	put(t0.Add(time.Minute)) // moved: pending again, and due at once (the last call too, at T-1min = now)
	if got := runDue(t, s); len(got) != 3 || c.of("a.warm-up") != 2 || c.of("a.cool-down") != 0 {
		t.Errorf("after moving the sale, RunDue fired %v (warm-up ran %d times), want warm-up, remind and last call again", names(got), c.of("a.warm-up"))
	}
}

func TestScheduler_PersistsAcrossRestarts(t *testing.T) {
	clock := testclock.New(t0)
	path := filepath.Join(t.TempDir(), prepare.SchedulesFile)
	s := newScheduler(t, clock, path, 0)
	c := newCalls()
	s.Bind(c.targets())
	if err := s.Put(t.Context(), saleSchedules("a", t0)); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(t.Context(), saleSchedules("gone", t0.Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	runDue(t, s)

	again := newScheduler(t, clock, path, 0)
	if got, want := again.Entries(), s.Entries(); len(got) != 8 || !sameEntries(got, want) {
		t.Fatalf("after a restart: %+v, want %+v", got, want)
	}
	again.Bind(c.targets())
	if got := runDue(t, again); len(got) != 0 {
		t.Errorf("after a restart, RunDue fired %v again, want nothing", names(got))
	}
	n, err := again.DropSales(t.Context(), func(_ context.Context, id string) (bool, error) { return id != "gone", nil })
	if err != nil || n != 4 || len(again.Entries()) != 4 {
		t.Errorf("DropSales = %d, %v, leaving %d; want the 4 of the gone sale dropped", n, err, len(again.Entries()))
	}
	if third := newScheduler(t, clock, path, 0); len(third.Entries()) != 4 {
		t.Errorf("the drop was not persisted: %d schedules after another restart, want 4", len(third.Entries()))
	}
}

func TestScheduler_RunInterruptedByACrashIsRetried(t *testing.T) {
	path := filepath.Join(t.TempDir(), prepare.SchedulesFile)
	crashed := []prepare.Entry{{Schedule: saleSchedules("a", t0)[0], Status: prepare.StatusRunning, Attempts: 1}}
	b, _ := json.Marshal(crashed)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	s := newScheduler(t, testclock.New(t0), path, 0)
	c := newCalls()
	s.Bind(c.targets())
	got := runDue(t, s)
	if len(got) != 1 || got[0].Status != prepare.StatusFired || got[0].Attempts != 2 {
		t.Errorf("RunDue = %+v, want the interrupted warm-up fired on attempt 2", got)
	}
}

func TestScheduler_UnboundRunDueFails(t *testing.T) {
	s := newScheduler(t, testclock.New(t0), "", 0)
	if _, err := s.RunDue(t.Context()); err == nil {
		t.Error("RunDue without targets: nil error, want one")
	}
}

func sameEntries(a, b []prepare.Entry) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}
