package storetest

import (
	"cmp"
	"fmt"
	"slices"
	"testing"
	"time"

	"flashsale/shared/flashsale"
)

// payment is a new event that pays r's order in full.
func (e *env) payment(r flashsale.Reservation) flashsale.Payment {
	return flashsale.Payment{
		EventID: e.suite.id("evt"), OrderID: r.Order.ID, AmountCents: r.Order.AmountCents,
		Currency: r.Order.Currency, Status: flashsale.PaymentSucceeded,
	}
}

// paidEntry is the ledger entry PayOrder(p, now) leaves.
func paidEntry(r flashsale.Reservation, p flashsale.Payment, now time.Time) flashsale.LedgerEntry {
	return flashsale.LedgerEntry{
		EventID: p.EventID, SaleID: r.Order.SaleID, OrderID: r.Order.ID, Kind: flashsale.LedgerPaid,
		AmountCents: p.AmountCents, Currency: p.Currency, At: now,
	}
}

// refundEntry is a refund_due entry for p, as the webhook records it.
func refundEntry(saleID string, p flashsale.Payment, reason string) flashsale.LedgerEntry {
	return flashsale.LedgerEntry{
		EventID: p.EventID, SaleID: saleID, OrderID: p.OrderID, Kind: flashsale.LedgerRefundDue,
		AmountCents: p.AmountCents, Currency: p.Currency, Reason: reason, At: payTime,
	}
}

func (e *env) ledger(saleID string) []flashsale.LedgerEntry {
	e.tb.Helper()
	got, err := e.st.Ledger(e.ctx, saleID)
	if err != nil {
		e.tb.Fatalf("Ledger(%q): got error %v, want nil", saleID, err)
	}
	return got
}

// wantLedger checks a sale's ledger holds exactly want, in any order.
func (e *env) wantLedger(saleID string, want ...flashsale.LedgerEntry) {
	e.tb.Helper()
	got := sortedEntries(e.ledger(saleID))
	want = sortedEntries(want)
	if !slices.Equal(got, want) {
		e.tb.Errorf("Ledger(%q):\n got  %+v\n want %+v", saleID, got, want)
	}
}

// sortedEntries returns entries normalised like norm and sorted by event.
func sortedEntries(es []flashsale.LedgerEntry) []flashsale.LedgerEntry {
	out := make([]flashsale.LedgerEntry, len(es))
	for i, le := range es {
		le.At = le.At.UTC().Truncate(time.Millisecond)
		out[i] = le
	}
	slices.SortFunc(out, func(a, b flashsale.LedgerEntry) int { return cmp.Compare(a.EventID, b.EventID) })
	return out
}

// wantEventFree checks p's event was never recorded: recording it now works.
// It records the event under a sale of its own, so call it last.
func (e *env) wantEventFree(p flashsale.Payment) {
	e.tb.Helper()
	probe := refundEntry(e.suite.id("probe"), p, flashsale.ReasonUnknownOrder)
	if err := e.st.RecordPayment(e.ctx, p, probe); err != nil {
		e.tb.Errorf("RecordPayment(%s) of an event that should be unrecorded: got error %v, want nil", p.EventID, err)
	}
}

// wantEventTaken checks p's event was recorded: recording it again fails
// and leaves nothing behind.
func (e *env) wantEventTaken(p flashsale.Payment) {
	e.tb.Helper()
	probe := refundEntry(e.suite.id("probe"), p, flashsale.ReasonUnknownOrder)
	checkErr(e.tb, fmt.Sprintf("RecordPayment(%s) of a recorded event", p.EventID),
		e.st.RecordPayment(e.ctx, p, probe), flashsale.ErrDuplicateEvent)
	e.wantLedger(probe.SaleID)
}

func (s *suite) testPersist(t *testing.T) {
	tests := []struct {
		from    state
		now     time.Time
		wantErr error
	}{
		{pending, persistTime, nil},
		{reserved, persistTime, nil},
		// Expiry is settlement's business: a late message still persists.
		{reserved, afterExpiry, nil},
		{persisted, persistTime, flashsale.ErrAlreadyStored},
		{paid, persistTime, flashsale.ErrNotPending},
		// Persisted is checked before the status.
		{paidPersisted, persistTime, flashsale.ErrAlreadyStored},
		{cancelled, persistTime, flashsale.ErrNotPending},
		{expired, afterExpiry, flashsale.ErrNotPending},
		{restocked, persistTime, flashsale.ErrNotPending},
		{aborted, persistTime, flashsale.ErrNotPending},
		{missing, persistTime, flashsale.ErrNotPending},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s at %s", tc.from, tc.now.Format(time.TimeOnly)), func(t *testing.T) {
			e := s.newEnv(t, 10)
			r := e.orderIn(tc.from, s.id("u"), 2)
			checkErr(t, "Persist", e.st.Persist(e.ctx, refOf(r), tc.now), tc.wantErr)
			if tc.wantErr == nil {
				r.Order.Status, r.Order.Persisted = flashsale.OrderReserved, true
				e.wantState(r, persisted)
				checkErr(t, "second Persist", e.st.Persist(e.ctx, refOf(r), tc.now), flashsale.ErrAlreadyStored)
				e.wantState(r, persisted)
				return
			}
			e.wantState(r, tc.from)
		})
	}
	t.Run("wrong bucket", func(t *testing.T) {
		e := s.newEnv(t, 1, 1)
		r := e.hold(s.id("u"), 1)
		ref := refOf(r)
		ref.Bucket = (ref.Bucket + 1) % e.sale.Shards
		checkErr(t, "Persist(wrong bucket)", e.st.Persist(e.ctx, ref, persistTime), flashsale.ErrNotPending)
		e.wantState(r, pending)
	})
}

func (s *suite) testPersistConcurrent(t *testing.T) {
	const racers = 10
	for _, from := range []state{pending, reserved} {
		t.Run(string(from), func(t *testing.T) {
			e := s.newEnv(t, 10)
			r := e.orderIn(from, s.id("u"), 1)
			errs := race(racers, func(int) error { return e.st.Persist(e.ctx, refOf(r), persistTime) })
			ok, stored := tally(t, "Persist", errs, flashsale.ErrAlreadyStored)
			if ok != 1 || stored != racers-1 {
				t.Errorf("%d concurrent Persist of one %s order: %d succeeded, %d already stored; want 1 and %d",
					racers, from, ok, stored, racers-1)
			}
			r.Order.Status, r.Order.Persisted = flashsale.OrderReserved, true
			e.wantState(r, persisted)
		})
	}
}

func (s *suite) testPayOrder(t *testing.T) {
	tests := []struct {
		name string
		from state
		now  time.Time
		edit func(p *flashsale.Payment) // spoils the matching payment
		// seen says who recorded the event before: "" nobody, "pay" a
		// PayOrder of another order, "record" a RecordPayment.
		seen    string
		wantErr error
	}{
		{name: "reserved", from: reserved, now: beforeExpiry},
		{name: "pending", from: pending, now: beforeExpiry},
		{name: "persisted", from: persisted, now: beforeExpiry},
		{name: "at expiry", from: reserved, now: atExpiry},
		{name: "after expiry", from: reserved, now: afterExpiry, wantErr: flashsale.ErrOrderNotReserved},
		{name: "pending after expiry", from: pending, now: afterExpiry, wantErr: flashsale.ErrOrderNotReserved},
		{name: "amount short", from: reserved, now: beforeExpiry, edit: func(p *flashsale.Payment) { p.AmountCents-- }, wantErr: flashsale.ErrOrderNotReserved},
		{name: "amount over", from: reserved, now: beforeExpiry, edit: func(p *flashsale.Payment) { p.AmountCents++ }, wantErr: flashsale.ErrOrderNotReserved},
		{name: "other currency", from: reserved, now: beforeExpiry, edit: func(p *flashsale.Payment) { p.Currency = "EUR" }, wantErr: flashsale.ErrOrderNotReserved},
		{name: "already paid", from: paid, now: beforeExpiry, wantErr: flashsale.ErrOrderNotReserved},
		{name: "already paid and persisted", from: paidPersisted, now: beforeExpiry, wantErr: flashsale.ErrOrderNotReserved},
		{name: "cancelled", from: cancelled, now: beforeExpiry, wantErr: flashsale.ErrOrderNotReserved},
		{name: "expired", from: expired, now: beforeExpiry, wantErr: flashsale.ErrOrderNotReserved},
		{name: "restocked", from: restocked, now: beforeExpiry, wantErr: flashsale.ErrOrderNotReserved},
		{name: "aborted", from: aborted, now: beforeExpiry, wantErr: flashsale.ErrOrderNotReserved},
		{name: "missing", from: missing, now: beforeExpiry, wantErr: flashsale.ErrOrderNotReserved},
		{name: "event paid another order", from: reserved, now: beforeExpiry, seen: "pay", wantErr: flashsale.ErrDuplicateEvent},
		{name: "event recorded without paying", from: reserved, now: beforeExpiry, seen: "record", wantErr: flashsale.ErrDuplicateEvent},
		{name: "a seen event wins over an unpayable order", from: expired, now: afterExpiry, seen: "record", wantErr: flashsale.ErrDuplicateEvent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := s.newEnv(t, 10)
			r := e.orderIn(tc.from, s.id("u"), 2)
			p := e.payment(r)
			if tc.edit != nil {
				tc.edit(&p)
			}
			switch tc.seen {
			case "pay":
				other := e.reserved(s.id("u"), 1)
				q := e.payment(other)
				q.EventID = p.EventID
				if err := e.st.PayOrder(e.ctx, refOf(other), q, beforeExpiry); err != nil {
					t.Fatalf("PayOrder(%s) of another order: got error %v, want nil", other.Order.ID, err)
				}
			case "record":
				if err := e.st.RecordPayment(e.ctx, p, refundEntry(e.sale.ID, p, flashsale.ReasonAlreadyPaid)); err != nil {
					t.Fatalf("RecordPayment(%s): got error %v, want nil", p.EventID, err)
				}
			}
			before := e.ledger(e.sale.ID)

			err := e.st.PayOrder(e.ctx, refOf(r), p, tc.now)
			checkErr(t, fmt.Sprintf("PayOrder(%s at %s)", tc.from, tc.now.Format(time.TimeOnly)), err, tc.wantErr)
			if tc.wantErr == nil {
				r.Order.Status, r.Order.PaidAt = flashsale.OrderPaid, tc.now
				e.wantState(r, paid)
				e.wantLedger(e.sale.ID, append(before, paidEntry(r, p, tc.now))...)
				e.wantEventTaken(p)
				return
			}
			e.wantState(r, tc.from)
			e.wantLedger(e.sale.ID, before...)
			if tc.seen == "" {
				e.wantEventFree(p)
			}
		})
	}
}

// testPayOrderReplay is the provider resending the event that paid.
func (s *suite) testPayOrderReplay(t *testing.T) {
	e := s.newEnv(t, 10)
	r := e.reserved(s.id("u"), 2)
	p := e.pay(&r, payTime)
	for _, now := range []time.Time{payTime, beforeExpiry, afterExpiry} {
		err := e.st.PayOrder(e.ctx, refOf(r), p, now)
		checkErr(t, fmt.Sprintf("PayOrder replay at %s", now.Format(time.TimeOnly)), err, flashsale.ErrDuplicateEvent)
	}
	e.wantState(r, paid)
	e.wantLedger(e.sale.ID, paidEntry(r, p, payTime))
}

func (s *suite) testPayOrderConcurrent(t *testing.T) {
	const racers = 10
	// payAt gives racer i its own time, so the order tells who won.
	payAt := func(i int) time.Time { return payTime.Add(time.Duration(i) * time.Second) }

	t.Run("distinct events, one order", func(t *testing.T) {
		e := s.newEnv(t, 10)
		r := e.reserved(s.id("u"), 1)
		ps := make([]flashsale.Payment, racers)
		for i := range ps {
			ps[i] = e.payment(r)
		}
		errs := race(racers, func(i int) error { return e.st.PayOrder(e.ctx, refOf(r), ps[i], payAt(i)) })
		ok, refused := tally(t, "PayOrder", errs, flashsale.ErrOrderNotReserved)
		if ok != 1 || refused != racers-1 {
			t.Fatalf("%d concurrent payments of one order: %d paid, %d refused; want 1 and %d", racers, ok, refused, racers-1)
		}
		w := slices.IndexFunc(errs, func(err error) bool { return err == nil })
		r.Order.Status, r.Order.PaidAt = flashsale.OrderPaid, payAt(w)
		e.wantState(r, paid)
		e.wantLedger(e.sale.ID, paidEntry(r, ps[w], payAt(w)))
		for i, p := range ps {
			if i != w {
				e.wantEventFree(p)
			}
		}
	})

	t.Run("same event, one order", func(t *testing.T) {
		e := s.newEnv(t, 10)
		r := e.reserved(s.id("u"), 1)
		p := e.payment(r)
		errs := race(racers, func(i int) error { return e.st.PayOrder(e.ctx, refOf(r), p, payAt(i)) })
		ok, dup := tally(t, "PayOrder", errs, flashsale.ErrDuplicateEvent)
		if ok != 1 || dup != racers-1 {
			t.Fatalf("%d concurrent deliveries of one event: %d paid, %d duplicates; want 1 and %d", racers, ok, dup, racers-1)
		}
		w := slices.IndexFunc(errs, func(err error) bool { return err == nil })
		r.Order.Status, r.Order.PaidAt = flashsale.OrderPaid, payAt(w)
		e.wantState(r, paid)
		e.wantLedger(e.sale.ID, paidEntry(r, p, payAt(w)))
	})

	t.Run("same event, many orders", func(t *testing.T) {
		e := s.newEnv(t, 10)
		rs := make([]flashsale.Reservation, racers)
		for i := range rs {
			rs[i] = e.reserved(s.id("u"), 1)
		}
		evt := s.id("evt")
		errs := race(racers, func(i int) error {
			p := e.payment(rs[i])
			p.EventID = evt
			return e.st.PayOrder(e.ctx, refOf(rs[i]), p, payTime)
		})
		ok, dup := tally(t, "PayOrder", errs, flashsale.ErrDuplicateEvent)
		if ok != 1 || dup != racers-1 {
			t.Fatalf("one event naming %d orders, concurrently: %d paid, %d duplicates; want 1 and %d", racers, ok, dup, racers-1)
		}
		for i, r := range rs {
			if errs[i] == nil {
				r.Order.Status, r.Order.PaidAt = flashsale.OrderPaid, payTime
				p := e.payment(r)
				p.EventID = evt
				e.wantLedger(e.sale.ID, paidEntry(r, p, payTime))
			}
			e.wantOrder(refOf(r), r.Order)
		}
	})
}

func (s *suite) testRecordPayment(t *testing.T) {
	t.Run("new event", func(t *testing.T) {
		e := s.newEnv(t, 10)
		r := e.orderIn(expired, s.id("u"), 1)
		p := e.payment(r)
		le := refundEntry(e.sale.ID, p, flashsale.ReasonExpired)
		checkErr(t, "RecordPayment", e.st.RecordPayment(e.ctx, p, le), nil)
		e.wantLedger(e.sale.ID, le)
		e.wantState(r, expired) // recording pays nothing
		e.wantEventTaken(p)
	})
	t.Run("unknown sale", func(t *testing.T) {
		e := s.newEnv(t, 10)
		p := flashsale.Payment{EventID: s.id("evt"), OrderID: "garbage", AmountCents: 500, Currency: "USD", Status: flashsale.PaymentSucceeded}
		le := refundEntry("", p, flashsale.ReasonUnknownOrder)
		checkErr(t, "RecordPayment(sale \"\")", e.st.RecordPayment(e.ctx, p, le), nil)
		// Ledger("") is shared with every other run: look for ours only.
		ours := slices.DeleteFunc(sortedEntries(e.ledger("")), func(x flashsale.LedgerEntry) bool { return x.EventID != p.EventID })
		if want := sortedEntries([]flashsale.LedgerEntry{le}); !slices.Equal(ours, want) {
			t.Errorf("Ledger(\"\") entries of event %s:\n got  %+v\n want %+v", p.EventID, ours, want)
		}
		e.wantLedger(e.sale.ID)
		e.wantEventTaken(p)
	})
	t.Run("event recorded before", func(t *testing.T) {
		e := s.newEnv(t, 10)
		r := e.orderIn(cancelled, s.id("u"), 1)
		p := e.payment(r)
		first := refundEntry(e.sale.ID, p, flashsale.ReasonCancelled)
		checkErr(t, "RecordPayment", e.st.RecordPayment(e.ctx, p, first), nil)
		again := first
		again.Kind, again.Reason, again.At = flashsale.LedgerIgnored, "", payTime.Add(time.Hour)
		checkErr(t, "second RecordPayment", e.st.RecordPayment(e.ctx, p, again), flashsale.ErrDuplicateEvent)
		e.wantLedger(e.sale.ID, first)
	})
	t.Run("event that paid", func(t *testing.T) {
		e := s.newEnv(t, 10)
		r := e.reserved(s.id("u"), 1)
		p := e.pay(&r, payTime)
		le := refundEntry(e.sale.ID, p, flashsale.ReasonAlreadyPaid)
		checkErr(t, "RecordPayment of the paying event", e.st.RecordPayment(e.ctx, p, le), flashsale.ErrDuplicateEvent)
		e.wantLedger(e.sale.ID, paidEntry(r, p, payTime))
		e.wantState(r, paid)
	})
}

func (s *suite) testRecordPaymentConcurrent(t *testing.T) {
	const racers = 10
	e := s.newEnv(t, 10)
	r := e.orderIn(expired, s.id("u"), 1)
	p := e.payment(r)
	entries := make([]flashsale.LedgerEntry, racers)
	for i := range entries {
		entries[i] = refundEntry(e.sale.ID, p, flashsale.ReasonExpired)
		entries[i].At = payTime.Add(time.Duration(i) * time.Second) // tells who won
	}
	errs := race(racers, func(i int) error { return e.st.RecordPayment(e.ctx, p, entries[i]) })
	ok, dup := tally(t, "RecordPayment", errs, flashsale.ErrDuplicateEvent)
	if ok != 1 || dup != racers-1 {
		t.Fatalf("%d concurrent records of one event: %d recorded, %d duplicates; want 1 and %d", racers, ok, dup, racers-1)
	}
	e.wantLedger(e.sale.ID, entries[slices.IndexFunc(errs, func(err error) bool { return err == nil })])
}

func (s *suite) testLedger(t *testing.T) {
	e := s.newEnv(t, 10)
	var want []flashsale.LedgerEntry
	a := e.reserved(s.id("u"), 1)
	want = append(want, paidEntry(a, e.pay(&a, payTime), payTime))
	b := e.reserved(s.id("u"), 2)
	want = append(want, paidEntry(b, e.pay(&b, beforeExpiry), beforeExpiry))
	for _, tc := range []struct {
		kind, reason string
		edit         func(*flashsale.Payment)
	}{
		{flashsale.LedgerRefundDue, flashsale.ReasonAlreadyPaid, nil},
		{flashsale.LedgerMismatch, "", func(p *flashsale.Payment) { p.AmountCents = 1 }},
		{flashsale.LedgerIgnored, "", func(p *flashsale.Payment) { p.Status = "failed" }},
	} {
		p := e.payment(a)
		if tc.edit != nil {
			tc.edit(&p)
		}
		le := refundEntry(e.sale.ID, p, tc.reason)
		le.Kind = tc.kind
		if err := e.st.RecordPayment(e.ctx, p, le); err != nil {
			t.Fatalf("RecordPayment(%s): got error %v, want nil", tc.kind, err)
		}
		want = append(want, le)
	}
	other := *e
	other.sale = e.createSale(1, 5)
	o := other.reserved(s.id("u"), 1)
	otherEntry := paidEntry(o, other.pay(&o, payTime), payTime)

	e.wantLedger(e.sale.ID, want...)
	e.wantLedger(other.sale.ID, otherEntry)

	t.Run("no entries", func(t *testing.T) {
		e.wantLedger(e.createSale(1, 1).ID)
		e.wantLedger(s.id("nosuchsale"))
	})
}
