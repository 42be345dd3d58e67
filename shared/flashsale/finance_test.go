package flashsale_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"flashsale/shared/flashsale"
)

// recordingArchive keeps what settlement published, in memory: these tests
// are about when settlement publishes, not about S3 (s3reports has those).
type recordingArchive struct {
	mu        sync.Mutex
	published []flashsale.Report
	fail      error
	lost      bool // the files are gone (Holds answers false)
}

func (a *recordingArchive) Publish(_ context.Context, r flashsale.Report) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.fail != nil {
		return a.fail
	}
	a.published = append(a.published, r)
	a.lost = false
	return nil
}

// Open serves the latest published report's JSON, whatever the format.
func (a *recordingArchive) Open(context.Context, string, string) (flashsale.ReportFile, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.published) == 0 || a.lost {
		return flashsale.ReportFile{}, flashsale.ErrNotSettled
	}
	b, err := json.Marshal(a.published[len(a.published)-1])
	if err != nil {
		return flashsale.ReportFile{}, err
	}
	return flashsale.ReportFile{Body: io.NopCloser(bytes.NewReader(b)), Size: int64(len(b)), ContentType: "application/json"}, nil
}

func (a *recordingArchive) Link(context.Context, string, string, time.Duration) (string, error) {
	return "", errors.New("not kept")
}

// Holds is true once something was published; lose empties the archive.
func (a *recordingArchive) Holds(_ context.Context, _, fingerprint string) (bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.published) > 0 && !a.lost && a.published[len(a.published)-1].Fingerprint() == fingerprint, nil
}

func (a *recordingArchive) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.published)
}

// pay pays a receipt in full.
func (e *env) pay(tb testing.TB, r flashsale.Receipt, eventID string) {
	tb.Helper()
	if _, err := e.svc.Pay(context.Background(), flashsale.Payment{EventID: eventID, OrderID: r.OrderID,
		AmountCents: r.AmountCents, Currency: r.Currency, Status: flashsale.PaymentSucceeded}); err != nil {
		tb.Fatalf("pay %s: %v", r.OrderID, err)
	}
}

func TestPublish_OnlyWhenTheReportChanges(t *testing.T) {
	archive := &recordingArchive{}
	e := newEnv(t, flashsale.WithReportArchive(archive))
	ctx := context.Background()
	e.createSale(t, "s", 10, 2, 5)
	r := e.buy(t, "s", "a", "k1", 2)

	first, err := e.svc.Settle(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	if archive.count() != 1 || len(archive.published[0].Orders) != 1 {
		t.Fatalf("after the first settlement the archive has %d versions, want 1 with the whole report", archive.count())
	}
	stored, err := e.svc.LatestReport(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	if stored.Orders != nil || stored.OrderLines != 1 || stored.Name != "Test s" || stored.Fingerprint != first.Fingerprint() {
		t.Errorf("stored summary = %+v, want no order lines, OrderLines 1, the sale's name and the report's fingerprint", stored)
	}

	e.clock.Advance(time.Minute)
	if _, err := e.svc.Settle(ctx, "s"); err != nil {
		t.Fatal(err)
	}
	if got := archive.count(); got != 1 {
		t.Errorf("a settlement that changed nothing published again: %d versions, want 1", got)
	}
	again, err := e.svc.LatestReport(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	if again.GeneratedAt == stored.GeneratedAt {
		t.Errorf("the summary's generatedAt stayed %s after a later run", again.GeneratedAt)
	}

	e.pay(t, r, "evt-1")
	if _, err := e.svc.Settle(ctx, "s"); err != nil {
		t.Fatal(err)
	}
	if got := archive.count(); got != 2 {
		t.Fatalf("after a payment the archive has %d versions, want 2", got)
	}
	if p := archive.published[1]; p.Units.Paid != 2 || p.RevenueCents != 2*1999 {
		t.Errorf("the new version has %d paid units and %d cents, want 2 and %d", p.Units.Paid, p.RevenueCents, 2*1999)
	}
}

func TestPublish_AFailedArchiveWriteKeepsTheOldSummary(t *testing.T) {
	archive := &recordingArchive{}
	e := newEnv(t, flashsale.WithReportArchive(archive))
	ctx := context.Background()
	e.createSale(t, "s", 10, 1, 5)
	if _, err := e.svc.Settle(ctx, "s"); err != nil {
		t.Fatal(err)
	}
	before, _ := e.svc.LatestReport(ctx, "s")
	e.buy(t, "s", "a", "k1", 1)
	archive.fail = errors.New("s3 is down")
	_, err := e.svc.Settle(ctx, "s")
	if !errors.Is(err, flashsale.ErrUnavailable) {
		t.Fatalf("settle with the archive down: err = %v, want ErrUnavailable", err)
	}
	after, _ := e.svc.LatestReport(ctx, "s")
	if after.Fingerprint != before.Fingerprint {
		t.Errorf("the summary moved on to a version the archive does not have")
	}
	// Retrying once the archive is back publishes the version.
	archive.fail = nil
	if _, err := e.svc.Settle(ctx, "s"); err != nil {
		t.Fatal(err)
	}
	if got := archive.count(); got != 2 {
		t.Errorf("archive has %d versions after the retry, want 2", got)
	}
}

func TestPeriodReport_ThreeSalesTwoCurrencies(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	day := e.clock.Now().UTC().Format(flashsale.DayLayout)
	for _, s := range []struct {
		id, currency string
		price        int64
		paid         int
	}{{"usd-a", "USD", 1999, 2}, {"usd-b", "USD", 500, 3}, {"eur-a", "EUR", 1250, 1}} {
		if _, err := e.svc.CreateSale(ctx, flashsale.NewSale{
			ID: s.id, Name: "Sale " + s.id, PriceCents: s.price, Currency: s.currency, StartsAt: testStart, EndsAt: testEnd,
			Stock: 10, PerUserLimit: 1, PaymentWindowSeconds: 600, Shards: 1,
		}); err != nil {
			t.Fatal(err)
		}
		for i := range s.paid {
			user := s.id + "-buyer-" + string(rune('a'+i))
			e.pay(t, e.buy(t, s.id, user, "k", 1), "evt-"+user)
		}
		if _, err := e.svc.Settle(ctx, s.id); err != nil {
			t.Fatal(err)
		}
	}
	p, err := e.svc.PeriodReport(ctx, day, day)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Sales) != 3 {
		t.Fatalf("period has %d sales, want 3: %+v", len(p.Sales), p.Sales)
	}
	byID := map[string]flashsale.PeriodSale{}
	for _, s := range p.Sales {
		byID[s.SaleID] = s
	}
	if s := byID["usd-b"]; s.Units.Paid != 3 || s.RevenueCents != 1500 || s.Currency != "USD" || !s.Balanced || s.Name != "Sale usd-b" {
		t.Errorf("usd-b row = %+v, want 3 paid, 1500 USD cents, balanced", s)
	}
	want := []flashsale.CurrencyTotal{
		{Currency: "EUR", Sales: 1, UnitsPaid: 1, RevenueCents: 1250, Balanced: true},
		{Currency: "USD", Sales: 2, UnitsPaid: 5, RevenueCents: 2*1999 + 3*500, Balanced: true},
	}
	if !reflect.DeepEqual(p.Totals, want) {
		t.Errorf("totals = %+v, want %+v (one per currency, never mixed)", p.Totals, want)
	}
	// The day before has none of them.
	prev := e.clock.Now().UTC().AddDate(0, 0, -1).Format(flashsale.DayLayout)
	if p, err := e.svc.PeriodReport(ctx, prev, prev); err != nil || len(p.Sales) != 0 || len(p.Totals) != 0 {
		t.Errorf("the day before: %+v, %v; want an empty report", p, err)
	}
}

func TestPeriodReport_LatestVersionInThePeriodWins(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.createSale(t, "s", 10, 1, 5)
	r := e.buy(t, "s", "a", "k", 2)
	if _, err := e.svc.Settle(ctx, "s"); err != nil {
		t.Fatal(err)
	}
	first := e.clock.Now().UTC()
	// A day later the order has expired, and its payment arrives: a refund
	// due, so a new version.
	e.clock.Advance(24 * time.Hour)
	e.pay(t, r, "evt-late")
	if _, err := e.svc.Settle(ctx, "s"); err != nil {
		t.Fatal(err)
	}
	d1, d2 := first.Format(flashsale.DayLayout), first.AddDate(0, 0, 1).Format(flashsale.DayLayout)
	for _, tc := range []struct {
		from, to string
		refunds  int64
	}{{d1, d1, 0}, {d2, d2, 2 * 1999}, {d1, d2, 2 * 1999}} {
		p, err := e.svc.PeriodReport(ctx, tc.from, tc.to)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Sales) != 1 || p.Sales[0].RefundsDueCents != tc.refunds {
			t.Errorf("period %s..%s: %+v, want one row with %d cents of refunds due", tc.from, tc.to, p.Sales, tc.refunds)
		}
	}
}

func TestParsePeriod(t *testing.T) {
	tests := []struct {
		name, from, to string
		wantCode       string // "" for valid
		wantIn         string
	}{
		{"one day", "2026-12-01", "2026-12-01", "", ""},
		{"a leap year", "2028-01-01", "2028-12-31", "", ""},
		{"367 days", "2028-01-01", "2029-01-01", "invalid_range", "spans 367 days"},
		{"to before from", "2026-12-02", "2026-12-01", "invalid_range", "before"},
		{"not a date", "2026-12-1", "2026-12-02", "invalid_date", `from="2026-12-1"`},
		{"a time, not a day", "2026-12-01", "2026-12-02T00:00:00Z", "invalid_date", "to="},
		{"month 13", "2026-13-01", "2026-12-02", "invalid_date", "from="},
		{"missing from", "", "2026-12-02", "invalid_date", "from is required"},
		{"missing to", "2026-12-01", "", "invalid_date", "to is required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := flashsale.ParsePeriod(tc.from, tc.to)
			if tc.wantCode == "" {
				if err != nil {
					t.Fatalf("ParsePeriod(%q, %q) = %v, want nil", tc.from, tc.to, err)
				}
				return
			}
			var in *flashsale.InputError
			if !errors.As(err, &in) || in.Code != tc.wantCode || !strings.Contains(in.Message, tc.wantIn) {
				t.Errorf("ParsePeriod(%q, %q) = %v, want %s mentioning %q", tc.from, tc.to, err, tc.wantCode, tc.wantIn)
			}
		})
	}
}

func TestPublish_OnDemandSettlementRewritesLostFiles(t *testing.T) {
	archive := &recordingArchive{}
	e := newEnv(t, flashsale.WithReportArchive(archive))
	ctx := context.Background()
	e.createSale(t, "s", 10, 1, 5)
	e.buy(t, "s", "a", "k1", 1)
	if _, err := e.svc.Settle(ctx, "s"); err != nil {
		t.Fatal(err)
	}
	// The files are gone (a local stack restarted with its tables kept).
	archive.mu.Lock()
	archive.lost = true
	archive.mu.Unlock()
	if err := e.svc.SettleAll(ctx); err != nil {
		t.Fatal(err)
	}
	if got := archive.count(); got != 1 {
		t.Errorf("a scheduled run wrote files (%d versions); it must not read the archive", got)
	}
	if _, err := e.svc.Settle(ctx, "s"); err != nil {
		t.Fatal(err)
	}
	if got := archive.count(); got != 2 {
		t.Errorf("on-demand settlement left the files missing: %d versions, want 2", got)
	}
	// Nothing changed, so the period index did not gain a version.
	day := e.clock.Now().UTC().Format(flashsale.DayLayout)
	if n := e.store.Calls()["RecordSettled"]; n != 1 {
		t.Errorf("RecordSettled called %d times, want 1 (only the first version)", n)
	}
	if p, err := e.svc.PeriodReport(ctx, day, day); err != nil || len(p.Sales) != 1 {
		t.Errorf("period: %+v, %v", p, err)
	}
}

func TestFingerprint_LeavesTheReportAlone(t *testing.T) {
	r := flashsale.Report{SaleID: "s", GeneratedAt: "2026-12-01T10:00:00Z",
		Adjustments: []flashsale.Adjustment{{Kind: flashsale.AdjustmentInLimbo, Units: 2, At: "2026-12-01T10:00:00Z"}}}
	a := r.Fingerprint()
	if r.Adjustments[0].At == "" || r.GeneratedAt == "" {
		t.Fatalf("Fingerprint changed its report: %+v", r)
	}
	later := r
	later.GeneratedAt = "2026-12-01T10:05:00Z"
	later.Adjustments = []flashsale.Adjustment{{Kind: flashsale.AdjustmentInLimbo, Units: 2, At: "2026-12-01T10:05:00Z"}}
	if later.Fingerprint() != a {
		t.Errorf("a later run with the same content has another fingerprint")
	}
	later.Adjustments[0].Units = 3
	if later.Fingerprint() == a {
		t.Errorf("other units in limbo, same fingerprint")
	}
}

// TestReportFile_PublishesAReportStoredBeforeTheArchive: an item written
// before reports went to S3 holds the whole report and no fingerprint; the
// first read publishes it, so old sales keep their reports.
func TestReportFile_PublishesAReportStoredBeforeTheArchive(t *testing.T) {
	archive := &recordingArchive{}
	e := newEnv(t, flashsale.WithReportArchive(archive))
	ctx := context.Background()
	e.createSale(t, "old", 10, 1, 5)
	old := flashsale.Report{SaleID: "old", GeneratedAt: "2026-11-01T10:00:00Z", Currency: "USD", Balanced: true,
		Units:   flashsale.ReportUnits{Loaded: 10, Available: 9, Paid: 1},
		Orders:  []flashsale.ReportOrder{{OrderID: "old.a", UserID: "u", Quantity: 1, AmountCents: 1999, Status: "paid"}},
		Refunds: []flashsale.Refund{}, Adjustments: []flashsale.Adjustment{}, RevenueCents: 1999}
	if err := e.mem.SaveReport(ctx, flashsale.StoredReport{Report: old}); err != nil {
		t.Fatal(err)
	}
	f, err := e.svc.ReportFile(ctx, "old", flashsale.FormatJSON)
	if err != nil {
		t.Fatalf("ReportFile of a report stored before the archive: %v", err)
	}
	defer f.Body.Close()
	var got flashsale.Report
	if err := json.NewDecoder(f.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if got.GeneratedAt != old.GeneratedAt || len(got.Orders) != 1 || archive.count() != 1 {
		t.Errorf("served %+v after %d publishes, want the stored report, published once", got, archive.count())
	}
	// A summary (new style, with a fingerprint) whose files are missing is
	// not settled: there is nothing whole to publish from.
	e.createSale(t, "new", 10, 1, 5)
	if err := e.mem.SaveReport(ctx, flashsale.StoredReport{Report: flashsale.Report{SaleID: "new"}, Fingerprint: "abc"}); err != nil {
		t.Fatal(err)
	}
	archive.mu.Lock()
	archive.lost = true
	archive.mu.Unlock()
	if _, err := e.svc.ReportFile(ctx, "new", flashsale.FormatJSON); !errors.Is(err, flashsale.ErrNotSettled) {
		t.Errorf("ReportFile with lost files = %v, want ErrNotSettled", err)
	}
}
