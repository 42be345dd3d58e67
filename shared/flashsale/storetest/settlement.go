package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"flashsale/shared/flashsale"
)

func (s *suite) testListSales(t *testing.T) {
	e := s.newEnv(t, 1)
	a := e.sale
	b := e.createSale(2, 3, 4)
	checkErr(t, "MarkSoldOut", e.st.MarkSoldOut(e.ctx, b.ID, 0), nil)
	c := e.createSale(1, 0)
	checkErr(t, "ReturnStock", e.st.ReturnStock(e.ctx, c.ID, 0, 2), nil)
	// Settlement records on the sales must not read as sales.
	checkErr(t, "AcquireLease", e.st.AcquireLease(e.ctx, a.ID, "settler", t0, t0.Add(time.Hour)), nil)
	checkErr(t, "AddAdjustment", e.st.AddAdjustment(e.ctx, a.ID, flashsale.Adjustment{Kind: flashsale.AdjustmentClaimReleased, Units: 1}), nil)
	checkErr(t, "SaveReport", e.st.SaveReport(e.ctx, stored(fullReport(a.ID))), nil)
	r := e.reserved(s.id("u"), 1)
	e.pay(&r, payTime)

	want := map[string]flashsale.SaleState{
		a.ID: {Sale: a, Loaded: 1},
		b.ID: {Sale: b, Loaded: 7, SoldOut: true},
		c.ID: {Sale: c, Loaded: 0, Epoch: 1},
	}
	got, err := e.st.ListSales(e.ctx)
	if err != nil {
		t.Fatalf("ListSales: got error %v, want nil", err)
	}
	// Other subtests' sales may share the store: check ours, and that
	// nothing is listed twice or is not a sale.
	seen := map[string]bool{}
	for _, st := range got {
		switch {
		case st.ID == "" || st.Shards < 1:
			t.Errorf("ListSales returned something that is not a sale: %+v", st)
		case seen[st.ID]:
			t.Errorf("ListSales returned %s twice", st.ID)
		}
		seen[st.ID] = true
		if w, ok := want[st.ID]; ok && !sameSale(st, w) {
			t.Errorf("ListSales sale %s:\n got  %+v\n want %+v", st.ID, st, w)
		}
	}
	for id := range want {
		if !seen[id] {
			t.Errorf("ListSales (%d sales) is missing %s", len(got), id)
		}
	}
}

// leaseStep is one call in a lease scenario; minutes count from t0.
type leaseStep struct {
	op        string // "acquire" or "release"
	owner     string
	now, till time.Duration
	wantErr   error
}

func acquire(owner string, now, till time.Duration, wantErr error) leaseStep {
	return leaseStep{op: "acquire", owner: owner, now: now, till: till, wantErr: wantErr}
}

func release(owner string) leaseStep { return leaseStep{op: "release", owner: owner} }

func (s *suite) testLease(t *testing.T) {
	const a, b = "settler-a", "settler-b"
	m := time.Minute
	tests := []struct {
		name  string
		steps []leaseStep
	}{
		{"free", []leaseStep{acquire(a, 0, 5*m, nil)}},
		{"held by another", []leaseStep{acquire(a, 0, 5*m, nil), acquire(b, m, 6*m, flashsale.ErrLeaseHeld)}},
		{"held until its last instant", []leaseStep{acquire(a, 0, 5*m, nil), acquire(b, 5*m-time.Second, 9*m, flashsale.ErrLeaseHeld)}},
		{"ends at until", []leaseStep{acquire(a, 0, 5*m, nil), acquire(b, 5*m, 9*m, nil), acquire(a, 6*m, 10*m, flashsale.ErrLeaseHeld)}},
		{"taken after it ended", []leaseStep{acquire(a, 0, 5*m, nil), acquire(b, 7*m, 9*m, nil)}},
		{"holder extends", []leaseStep{acquire(a, 0, 5*m, nil), acquire(a, m, 10*m, nil), acquire(b, 7*m, 12*m, flashsale.ErrLeaseHeld), acquire(b, 10*m, 12*m, nil)}},
		{"holder takes it again after it ended", []leaseStep{acquire(a, 0, 5*m, nil), acquire(a, 6*m, 11*m, nil), acquire(b, 8*m, 12*m, flashsale.ErrLeaseHeld)}},
		{"release frees it", []leaseStep{acquire(a, 0, 5*m, nil), release(a), acquire(b, m, 6*m, nil)}},
		{"release by another is a no-op", []leaseStep{acquire(a, 0, 5*m, nil), release(b), acquire(b, m, 6*m, flashsale.ErrLeaseHeld)}},
		{"release with no lease", []leaseStep{release(a), acquire(b, 0, 5*m, nil), release(a), acquire(a, m, 6*m, flashsale.ErrLeaseHeld)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := s.newEnv(t, 3)
			for i, st := range tc.steps {
				what := fmt.Sprintf("step %d: ReleaseLease(%s)", i, st.owner)
				var err error
				if st.op == "acquire" {
					what = fmt.Sprintf("step %d: AcquireLease(%s, now t0+%v, until t0+%v)", i, st.owner, st.now, st.till)
					err = e.st.AcquireLease(e.ctx, e.sale.ID, st.owner, t0.Add(st.now), t0.Add(st.till))
				} else {
					err = e.st.ReleaseLease(e.ctx, e.sale.ID, st.owner)
				}
				checkErr(t, what, err, st.wantErr)
			}
			// A lease is no part of the sale's state.
			if got, want := e.state(e.sale.ID), (flashsale.SaleState{Sale: e.sale, Loaded: 3}); !sameSale(got, want) {
				t.Errorf("Sale after lease calls:\n got  %+v\n want %+v", got, want)
			}
		})
	}
	t.Run("each sale has its own", func(t *testing.T) {
		e := s.newEnv(t, 3)
		other := e.createSale(1, 3)
		checkErr(t, "AcquireLease(sale 1, a)", e.st.AcquireLease(e.ctx, e.sale.ID, a, t0, t0.Add(5*m)), nil)
		checkErr(t, "AcquireLease(sale 2, b)", e.st.AcquireLease(e.ctx, other.ID, b, t0, t0.Add(5*m)), nil)
		checkErr(t, "ReleaseLease(sale 2, a)", e.st.ReleaseLease(e.ctx, other.ID, a), nil)
		checkErr(t, "AcquireLease(sale 2, a)", e.st.AcquireLease(e.ctx, other.ID, a, t0.Add(m), t0.Add(5*m)), flashsale.ErrLeaseHeld)
	})
	t.Run("unknown sale", func(t *testing.T) {
		e := s.newEnv(t, 3)
		ghost := s.id("nosuchsale")
		checkErr(t, "AcquireLease(unknown)", e.st.AcquireLease(e.ctx, ghost, a, t0, t0.Add(5*m)), flashsale.ErrSaleNotFound)
		checkErr(t, "ReleaseLease(unknown)", e.st.ReleaseLease(e.ctx, ghost, a), nil)
		if _, err := e.st.Sale(e.ctx, ghost); !errors.Is(err, flashsale.ErrSaleNotFound) {
			t.Errorf("Sale(unknown) after lease calls: got error %v, want ErrSaleNotFound", err)
		}
	})
}

func (s *suite) testLeaseConcurrent(t *testing.T) {
	const racers = 10
	e := s.newEnv(t, 3)
	owner := func(i int) string { return fmt.Sprintf("settler-%d", i) }
	errs := race(racers, func(i int) error {
		return e.st.AcquireLease(e.ctx, e.sale.ID, owner(i), t0, t0.Add(time.Minute))
	})
	ok, held := tally(t, "AcquireLease", errs, flashsale.ErrLeaseHeld)
	if ok != 1 || held != racers-1 {
		t.Fatalf("%d owners racing for one lease: %d won, %d found it held; want 1 and %d", racers, ok, held, racers-1)
	}
	w := slices.IndexFunc(errs, func(err error) bool { return err == nil })
	loser := owner((w + 1) % racers)
	checkErr(t, "AcquireLease by a loser", e.st.AcquireLease(e.ctx, e.sale.ID, loser, t0.Add(time.Second), t0.Add(time.Minute)), flashsale.ErrLeaseHeld)
	checkErr(t, "ReleaseLease by the winner", e.st.ReleaseLease(e.ctx, e.sale.ID, owner(w)), nil)
	checkErr(t, "AcquireLease by a loser after the release", e.st.AcquireLease(e.ctx, e.sale.ID, loser, t0.Add(time.Second), t0.Add(time.Minute)), nil)
}

func (e *env) adjustments(saleID string) []flashsale.Adjustment {
	e.tb.Helper()
	got, err := e.st.Adjustments(e.ctx, saleID)
	if err != nil {
		e.tb.Fatalf("Adjustments(%s): got error %v, want nil", saleID, err)
	}
	return got
}

// wantAdjustments checks a sale's adjustments are want, in that order.
func (e *env) wantAdjustments(saleID string, want ...flashsale.Adjustment) {
	e.tb.Helper()
	if got := e.adjustments(saleID); !slices.Equal(got, want) {
		e.tb.Errorf("Adjustments(%s):\n got  %+v\n want %+v", saleID, got, want)
	}
}

// adjustment is a distinct adjustment; i tells them apart.
func adjustment(kind string, i int) flashsale.Adjustment {
	return flashsale.Adjustment{
		Kind: kind, Units: int64(i + 1), Detail: fmt.Sprintf("adjustment #%d", i),
		At: t0.Add(time.Duration(i) * time.Minute).Format(time.RFC3339),
	}
}

func (s *suite) testRepairLeak(t *testing.T) {
	t.Run("returns units and records", func(t *testing.T) {
		e := s.newEnv(t, 3, 0)
		checkErr(t, "MarkSoldOut", e.st.MarkSoldOut(e.ctx, e.sale.ID, 0), nil)
		adj := adjustment(flashsale.AdjustmentLeakRepaired, 1)
		checkErr(t, "RepairLeak", e.st.RepairLeak(e.ctx, e.sale.ID, 1, 2, adj), nil)
		e.wantAvailable(e.sale, 3, 2)
		want := flashsale.SaleState{Sale: e.sale, Loaded: 3, Epoch: 1} // loaded is unchanged: the units were the sale's
		if got := e.state(e.sale.ID); !sameSale(got, want) {
			t.Errorf("Sale after RepairLeak:\n got  %+v\n want %+v", got, want)
		}
		e.wantAdjustments(e.sale.ID, adj)
		checkErr(t, "MarkSoldOut with the epoch from before the repair", e.st.MarkSoldOut(e.ctx, e.sale.ID, 0), flashsale.ErrEpochChanged)
	})
	t.Run("missing shard is created", func(t *testing.T) {
		e := s.newEnv(t, 3)
		sale := e.createSale(2, 3)
		checkErr(t, "RepairLeak", e.st.RepairLeak(e.ctx, sale.ID, 1, 2, adjustment(flashsale.AdjustmentLeakRepaired, 0)), nil)
		e.wantAvailable(sale, 3, 2)
		checkErr(t, "TakeStock from the repaired units", e.st.TakeStock(e.ctx, sale.ID, 1, 2), nil)
	})
	t.Run("each repair bumps the epoch", func(t *testing.T) {
		e := s.newEnv(t, 0)
		var want []flashsale.Adjustment
		for i := range 3 {
			adj := adjustment(flashsale.AdjustmentLeakRepaired, i)
			checkErr(t, "RepairLeak", e.st.RepairLeak(e.ctx, e.sale.ID, 0, 1, adj), nil)
			want = append(want, adj)
		}
		if st := e.state(e.sale.ID); st.Epoch != 3 {
			t.Errorf("Epoch after 3 repairs = %d, want 3", st.Epoch)
		}
		e.wantAvailable(e.sale, 3)
		e.wantAdjustments(e.sale.ID, want...)
	})
	t.Run("unknown sale changes nothing", func(t *testing.T) {
		e := s.newEnv(t, 1)
		ghost := flashsale.Sale{ID: s.id("nosuchsale"), Shards: 1}
		err := e.st.RepairLeak(e.ctx, ghost.ID, 0, 2, adjustment(flashsale.AdjustmentLeakRepaired, 0))
		checkErr(t, "RepairLeak(unknown)", err, flashsale.ErrSaleNotFound)
		e.wantAvailable(ghost, 0)
		e.wantAdjustments(ghost.ID)
		if _, err := e.st.Sale(e.ctx, ghost.ID); !errors.Is(err, flashsale.ErrSaleNotFound) {
			t.Errorf("Sale(unknown) after RepairLeak: got error %v, want ErrSaleNotFound", err)
		}
	})
}

func (s *suite) testAdjustments(t *testing.T) {
	t.Run("none", func(t *testing.T) {
		e := s.newEnv(t, 1)
		e.wantAdjustments(e.sale.ID)
	})
	t.Run("oldest first", func(t *testing.T) {
		e := s.newEnv(t, 5)
		other := e.createSale(1, 5)
		// Another sale's adjustments, before and after, must not show up.
		addOther := func(i int) {
			checkErr(t, "AddAdjustment(other sale)", e.st.AddAdjustment(e.ctx, other.ID, adjustment(flashsale.AdjustmentClaimReleased, i)), nil)
		}
		addOther(100)
		// A quick burst: adapters that order by a clock must still keep
		// adjustments made within one tick in order.
		var want []flashsale.Adjustment
		for i := range 30 {
			adj := adjustment(flashsale.AdjustmentClaimReleased, i)
			var err error
			if i%3 == 1 {
				adj.Kind = flashsale.AdjustmentLeakRepaired
				err = e.st.RepairLeak(e.ctx, e.sale.ID, 0, adj.Units, adj)
			} else {
				err = e.st.AddAdjustment(e.ctx, e.sale.ID, adj)
			}
			checkErr(t, fmt.Sprintf("adjustment #%d", i), err, nil)
			want = append(want, adj)
		}
		addOther(101)
		e.wantAdjustments(e.sale.ID, want...)
	})
	t.Run("every field round-trips", func(t *testing.T) {
		e := s.newEnv(t, 1)
		want := []flashsale.Adjustment{
			{Kind: flashsale.AdjustmentClaimReleased, Units: 2, Detail: "order x.y: claim of a dead request", At: "2026-12-01T10:05:00Z"},
			{Kind: flashsale.AdjustmentClaimReleased, Units: 0, Detail: "", At: ""},
		}
		for _, adj := range want {
			checkErr(t, "AddAdjustment", e.st.AddAdjustment(e.ctx, e.sale.ID, adj), nil)
		}
		e.wantAdjustments(e.sale.ID, want...)
	})
	t.Run("adding moves no stock", func(t *testing.T) {
		e := s.newEnv(t, 4)
		checkErr(t, "MarkSoldOut", e.st.MarkSoldOut(e.ctx, e.sale.ID, 0), nil)
		checkErr(t, "AddAdjustment", e.st.AddAdjustment(e.ctx, e.sale.ID, adjustment(flashsale.AdjustmentClaimReleased, 0)), nil)
		e.wantAvailable(e.sale, 4)
		want := flashsale.SaleState{Sale: e.sale, Loaded: 4, SoldOut: true}
		if got := e.state(e.sale.ID); !sameSale(got, want) {
			t.Errorf("Sale after AddAdjustment:\n got  %+v\n want %+v", got, want)
		}
	})
}

// fullReport is a report with every field set.
func fullReport(saleID string) flashsale.Report {
	return flashsale.Report{
		SaleID: saleID, GeneratedAt: "2026-12-01T11:30:00Z", Balanced: true,
		Units: flashsale.ReportUnits{
			Loaded: 100, Restocked: 5, Available: 60, Reserved: 10, Paid: 30, Expired: 3, Cancelled: 2,
		},
		RevenueCents: 59970, RefundsDueCents: 1999, Currency: "USD",
		Adjustments: []flashsale.Adjustment{
			adjustment(flashsale.AdjustmentLeakRepaired, 0),
			{Kind: flashsale.AdjustmentClaimReleased, Units: 1, Detail: "dead request"},
		},
		Refunds: []flashsale.Refund{
			{EventID: "evt-1", OrderID: saleID + ".o1", AmountCents: 1999, Reason: flashsale.ReasonExpired},
			{EventID: "evt-2", OrderID: "", AmountCents: 0, Reason: flashsale.ReasonUnknownOrder},
		},
		Orders: []flashsale.ReportOrder{
			{OrderID: saleID + ".o2", UserID: "u1", Quantity: 2, AmountCents: 3998, Status: "paid",
				CreatedAt: "2026-12-01T10:00:00.123Z", PaidAt: "2026-12-01T10:03:00Z"},
			{OrderID: saleID + ".o3", UserID: "u2", Quantity: 1, AmountCents: 1999, Status: "expired",
				CreatedAt: "2026-12-01T10:01:00Z"},
		},
	}
}

// stored wraps a report as the domain saves it, every field set.
func stored(r flashsale.Report) flashsale.StoredReport {
	return flashsale.StoredReport{Report: r, Name: "Drop " + r.SaleID, Fingerprint: "fp-" + r.SaleID + "-" + r.GeneratedAt,
		OrderLines: len(r.Orders) + 1000, RefundLines: len(r.Refunds) + 7}
}

func (e *env) wantReport(saleID string, wantReport flashsale.Report) {
	e.tb.Helper()
	want := stored(wantReport)
	got, err := e.st.Report(e.ctx, saleID)
	if err != nil {
		e.tb.Fatalf("Report(%s): got error %v, want nil", saleID, err)
	}
	if !reflect.DeepEqual(got, want) {
		gj, _ := json.Marshal(got)
		wj, _ := json.Marshal(want)
		e.tb.Errorf("Report(%s):\n got  %+v\n want %+v\n got JSON  %s\n want JSON %s", saleID, got, want, gj, wj)
	}
}

func (s *suite) testReport(t *testing.T) {
	t.Run("never settled", func(t *testing.T) {
		e := s.newEnv(t, 1)
		_, err := e.st.Report(e.ctx, e.sale.ID)
		checkErr(t, "Report", err, flashsale.ErrNotSettled)
		_, err = e.st.Report(e.ctx, s.id("nosuchsale"))
		checkErr(t, "Report(unknown sale)", err, flashsale.ErrNotSettled)
	})
	tests := []struct {
		name string
		edit func(r *flashsale.Report)
	}{
		{name: "every field", edit: func(*flashsale.Report) {}},
		{name: "empty lists", edit: func(r *flashsale.Report) {
			r.Adjustments, r.Refunds, r.Orders = []flashsale.Adjustment{}, []flashsale.Refund{}, []flashsale.ReportOrder{}
		}},
		{name: "nil lists", edit: func(r *flashsale.Report) { r.Adjustments, r.Refunds, r.Orders = nil, nil, nil }},
		{name: "zero values", edit: func(r *flashsale.Report) {
			*r = flashsale.Report{SaleID: r.SaleID, Adjustments: []flashsale.Adjustment{{}}, Refunds: []flashsale.Refund{{}}, Orders: []flashsale.ReportOrder{{}}}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := s.newEnv(t, 1)
			r := fullReport(e.sale.ID)
			tc.edit(&r)
			checkErr(t, "SaveReport", e.st.SaveReport(e.ctx, stored(r)), nil)
			e.wantReport(e.sale.ID, r)
		})
	}
	t.Run("the latest overwrites", func(t *testing.T) {
		e := s.newEnv(t, 1)
		first := fullReport(e.sale.ID)
		checkErr(t, "SaveReport(first)", e.st.SaveReport(e.ctx, stored(first)), nil)
		// Shorter lists and zeroed fields: nothing of the first may linger.
		latest := flashsale.Report{
			SaleID: e.sale.ID, GeneratedAt: "2026-12-01T12:00:00Z", Currency: "USD",
			Units:       flashsale.ReportUnits{Loaded: 100, Available: 100},
			Adjustments: []flashsale.Adjustment{}, Refunds: []flashsale.Refund{},
			Orders: first.Orders[1:],
		}
		checkErr(t, "SaveReport(latest)", e.st.SaveReport(e.ctx, stored(latest)), nil)
		e.wantReport(e.sale.ID, latest)
	})
	t.Run("each sale has its own", func(t *testing.T) {
		e := s.newEnv(t, 1)
		other := e.createSale(1, 1)
		r := fullReport(e.sale.ID)
		checkErr(t, "SaveReport", e.st.SaveReport(e.ctx, stored(r)), nil)
		_, err := e.st.Report(e.ctx, other.ID)
		checkErr(t, "Report(another sale)", err, flashsale.ErrNotSettled)
		o := fullReport(other.ID)
		o.RevenueCents = 1
		checkErr(t, "SaveReport(another sale)", e.st.SaveReport(e.ctx, stored(o)), nil)
		e.wantReport(e.sale.ID, r)
		e.wantReport(other.ID, o)
	})
}

// testReportCopies checks no caller shares the stored report's lists.
func (s *suite) testReportCopies(t *testing.T) {
	e := s.newEnv(t, 1)
	r := fullReport(e.sale.ID)
	checkErr(t, "SaveReport", e.st.SaveReport(e.ctx, stored(r)), nil)
	r.Orders[0].Status, r.Refunds[0].AmountCents, r.Adjustments[0].Units = "scribbled", -1, -1
	want := fullReport(e.sale.ID)
	e.wantReport(e.sale.ID, want)

	got, err := e.st.Report(e.ctx, e.sale.ID)
	if err != nil {
		t.Fatalf("Report: got error %v, want nil", err)
	}
	got.Orders[0].Status, got.Refunds[0].AmountCents, got.Adjustments[0].Units = "scribbled", -1, -1
	e.wantReport(e.sale.ID, want)
}

// testSettledIndex checks the period index: one line per sale and day, the
// day's latest wins, and a range reads exactly its days.
func (s *suite) testSettledIndex(t *testing.T) {
	e := s.newEnv(t, 1)
	a, b := e.sale.ID, e.createSale(1, 1).ID
	// Days far from other subtests' (which share the store), one per run.
	base := time.Date(2031, time.Month(1+len(a)%12), 1, 0, 0, 0, 0, time.UTC)
	day := func(n int) time.Time { return base.AddDate(0, 0, n) }
	line := func(saleID string, d time.Time, at time.Duration, paid int64) flashsale.SettledSale {
		return flashsale.SettledSale{SaleID: saleID, Name: "Drop " + saleID, Day: d.Format(flashsale.DayLayout),
			GeneratedAt: d.Add(at), Currency: "EUR", Units: flashsale.ReportUnits{Loaded: 10, Paid: paid, Available: 10 - paid},
			RevenueCents: paid * 100, RefundsDueCents: 50, Balanced: true}
	}
	for _, l := range []flashsale.SettledSale{
		line(a, day(0), time.Hour, 1),
		line(a, day(0), 2*time.Hour, 2), // the day's latest: replaces the line above
		line(b, day(0), 3*time.Hour, 5),
		line(a, day(2), time.Hour, 3),
		line(b, day(40), time.Hour, 6),
	} {
		checkErr(t, "RecordSettled", e.st.RecordSettled(e.ctx, l), nil)
	}
	read := func(first, last time.Time) map[string]flashsale.SettledSale {
		t.Helper()
		got, err := e.st.SettledBetween(e.ctx, first, last)
		if err != nil {
			t.Fatalf("SettledBetween: got error %v, want nil", err)
		}
		out := map[string]flashsale.SettledSale{}
		for _, l := range got {
			if l.SaleID != a && l.SaleID != b {
				continue // another subtest's
			}
			k := l.SaleID + "@" + l.Day
			if _, dup := out[k]; dup {
				t.Errorf("SettledBetween returned %s twice", k)
			}
			l.GeneratedAt = l.GeneratedAt.UTC()
			out[k] = l
		}
		return out
	}
	want := map[string]flashsale.SettledSale{
		a + "@" + day(0).Format(flashsale.DayLayout): line(a, day(0), 2*time.Hour, 2),
		b + "@" + day(0).Format(flashsale.DayLayout): line(b, day(0), 3*time.Hour, 5),
		a + "@" + day(2).Format(flashsale.DayLayout): line(a, day(2), time.Hour, 3),
	}
	if got := read(day(0), day(2)); !reflect.DeepEqual(got, want) {
		t.Errorf("SettledBetween(day 0, day 2):\n got  %+v\n want %+v", got, want)
	}
	if got := read(day(1), day(1)); len(got) != 0 {
		t.Errorf("SettledBetween(day 1, day 1) = %+v, want nothing", got)
	}
	if got := read(day(2), day(40)); len(got) != 2 {
		t.Errorf("SettledBetween(day 2, day 40) = %d lines (%+v), want 2", len(got), got)
	}
}
