package prepare_test

import (
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"flashsale/shared/flashsale"
	"flashsale/shared/local/prepare"
	"flashsale/shared/local/testclock"
)

func TestOutbox_ConcurrentSendsMakeWholeLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), prepare.OutboxFile)
	if _, err := prepare.ReadOutbox(path); !errors.Is(err, prepare.ErrNoOutbox) {
		t.Fatalf("ReadOutbox before any send: %v, want ErrNoOutbox", err)
	}
	o := prepare.NewOutbox(path, testclock.New(t0).Now)
	const n = 200
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			m := flashsale.ReminderMessage{SaleID: "a", UserID: fmt.Sprintf("u%03d", i), SaleName: "A", StartsAt: t0}
			if err := o.Notify(t.Context(), m); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	sent, err := prepare.ReadOutbox(path)
	if err != nil {
		t.Fatal(err)
	}
	users := map[string]bool{}
	for _, s := range sent {
		users[s.UserID] = true
		if !s.SentAt.Equal(t0) || s.SaleID != "a" || !s.StartsAt.Equal(t0) {
			t.Errorf("line %+v, want sale a sent at %v", s, t0)
		}
	}
	if len(sent) != n || len(users) != n {
		t.Errorf("%d lines for %d users, want %d of each", len(sent), len(users), n)
	}
}

func TestReadOutbox_NamesABadLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), prepare.OutboxFile)
	if err := os.WriteFile(path, []byte(`{"sentAt":"2026-12-01T10:00:00Z","saleId":"a","userId":"u"}`+"\n{torn\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sent, err := prepare.ReadOutbox(path)
	if err == nil || len(sent) != 1 || !contains(err.Error(), "line 2") {
		t.Errorf("ReadOutbox = %d lines, %v; want the first line and an error naming line 2", len(sent), err)
	}
}

func TestRecorder_RecordsChanges(t *testing.T) {
	clock := testclock.New(t0)
	r := prepare.NewRecorder(0, clock.Now)
	steps := []struct {
		n   int
		why string
	}{{6, "a.warm-up"}, {6, "a.remind-ish repeat"}, {12, "b.warm-up"}, {6, "a.cool-down"}, {0, "b.cool-down"}}
	for _, s := range steps {
		clock.Advance(time.Minute)
		if err := r.SetProvisioned(t.Context(), s.n, s.why); err != nil {
			t.Fatal(err)
		}
	}
	p := r.Provisioned()
	want := []prepare.Change{
		{At: t0.Add(1 * time.Minute), From: 0, To: 6, Why: "a.warm-up"},
		{At: t0.Add(3 * time.Minute), From: 6, To: 12, Why: "b.warm-up"},
		{At: t0.Add(4 * time.Minute), From: 12, To: 6, Why: "a.cool-down"},
		{At: t0.Add(5 * time.Minute), From: 6, To: 0, Why: "b.cool-down"},
	}
	if p.Current != 0 || p.Calls != 5 || fmt.Sprint(p.Changes) != fmt.Sprint(want) {
		t.Errorf("Provisioned() = %+v, want current 0 after 5 calls and changes %+v", p, want)
	}
}

func TestControl_ServesSchedulesAndProvisioned(t *testing.T) {
	clock := testclock.New(t0)
	s := newScheduler(t, clock, "", 0)
	s.Bind(newCalls().targets())
	if err := s.Put(t.Context(), saleSchedules("a", t0.Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	r := prepare.NewRecorder(0, clock.Now)
	_ = r.SetProvisioned(t.Context(), 3, "a.warm-up")
	srv := httptest.NewServer(prepare.NewControl(s, r, clock.Now))
	defer srv.Close()
	c := &prepare.Client{URL: srv.URL}
	got, err := c.Schedules(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !got.Now.Equal(t0) || len(got.Schedules) != 4 || got.Schedules[0].Status != prepare.StatusPending || got.Schedules[3].Job != flashsale.JobCoolDown {
		t.Errorf("GET /schedules = %+v, want the clock and 4 pending schedules by time", got)
	}
	p, err := c.Provisioned(t.Context())
	if err != nil || p.Current != 3 || len(p.Changes) != 1 {
		t.Errorf("GET /provisioned = %+v, %v; want 3 after one change", p, err)
	}
	if _, err := (&prepare.Client{URL: srv.URL + "/nowhere"}).Schedules(t.Context()); err == nil {
		t.Error("GET of an unknown path: nil error, want the 404")
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
