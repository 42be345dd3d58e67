package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"flashsale/shared/flashsale"
)

// Times around the fixture orders' expiry (t0 + paymentWindow).
var (
	beforeExpiry = t0.Add(time.Minute)
	atExpiry     = t0.Add(paymentWindow)
	afterExpiry  = t0.Add(paymentWindow + time.Second)
	restockTime  = afterExpiry.Add(time.Minute)
	abortTime    = t0.Add(time.Second)
	persistTime  = t0.Add(2 * time.Second)
	payTime      = t0.Add(3 * time.Minute)
)

// state names where a fixture order is in its life.
type state string

const (
	pending   state = "pending"   // Reserve
	reserved  state = "reserved"  // Reserve, Accept
	persisted state = "persisted" // Reserve, Accept, Persist
	// paid was paid before the order writer got to it; paidPersisted after.
	paid          state = "paid"           // Reserve, Accept, PayOrder
	paidPersisted state = "paid persisted" // Reserve, Accept, Persist, PayOrder
	cancelled     state = "cancelled"      // Reserve, Accept, Release(cancel), restock due
	expired       state = "expired"        // Reserve, Accept, Release(expire), restock due
	restocked     state = "restocked"      // ... Release(cancel), MarkRestocked
	aborted       state = "aborted"        // Reserve, Abort: a tombstone
	missing       state = "missing"        // never written
)

// exists reports whether the order is stored; keyKept whether its
// idempotency record is; holds whether its units count in the user's claim
// (paying keeps them counted).
func (s state) exists() bool  { return s != missing }
func (s state) keyKept() bool { return s != missing && s != aborted }
func (s state) holds() bool {
	return s == pending || s == reserved || s == persisted || s == paid || s == paidPersisted
}

// orderIn writes an order of qty units for userID and brings it to st. The
// returned Reservation's Order is what the store should now hold.
func (e *env) orderIn(st state, userID string, qty int64) flashsale.Reservation {
	e.tb.Helper()
	if st == missing {
		return e.reservation(e.sale, userID, e.suite.id("k"), qty)
	}
	if st == pending || st == aborted {
		r := e.hold(userID, qty)
		if st == aborted {
			e.abort(&r, abortTime)
		}
		return r
	}
	r := e.reserved(userID, qty)
	if st == persisted || st == paidPersisted {
		e.persist(&r)
	}
	switch st {
	case paid, paidPersisted:
		e.pay(&r, payTime)
	case cancelled, restocked:
		e.release(&r, userID, flashsale.OrderCancelled, beforeExpiry)
	case expired:
		e.release(&r, "", flashsale.OrderExpired, afterExpiry)
	}
	if st == restocked {
		if err := e.st.MarkRestocked(e.ctx, refOf(r), restockTime); err != nil {
			e.tb.Fatalf("MarkRestocked(%s): got error %v, want nil", r.Order.ID, err)
		}
		r.Order.RestockDue, r.Order.RestockedAt = false, restockTime
	}
	return r
}

func (e *env) abort(r *flashsale.Reservation, now time.Time) {
	e.tb.Helper()
	if err := e.st.Abort(e.ctx, refOf(*r), r.Order.UserID, r.Key, r.Order.Quantity, now); err != nil {
		e.tb.Fatalf("Abort(%s): got error %v, want nil", r.Order.ID, err)
	}
	r.Order.Status, r.Order.AbortedAt = flashsale.OrderAborted, now
}

func (e *env) persist(r *flashsale.Reservation) {
	e.tb.Helper()
	if err := e.st.Persist(e.ctx, refOf(*r), persistTime); err != nil {
		e.tb.Fatalf("Persist(%s): got error %v, want nil", r.Order.ID, err)
	}
	r.Order.Status, r.Order.Persisted = flashsale.OrderReserved, true
}

// pay pays r's order in full at now with a new event and returns the payment.
func (e *env) pay(r *flashsale.Reservation, now time.Time) flashsale.Payment {
	e.tb.Helper()
	p := e.payment(*r)
	if err := e.st.PayOrder(e.ctx, refOf(*r), p, now); err != nil {
		e.tb.Fatalf("PayOrder(%s, %s): got error %v, want nil", r.Order.ID, p.EventID, err)
	}
	r.Order.Status, r.Order.PaidAt = flashsale.OrderPaid, now
	return p
}

func (e *env) release(r *flashsale.Reservation, userID string, to flashsale.OrderStatus, now time.Time) {
	e.tb.Helper()
	if _, err := e.st.Release(e.ctx, refOf(*r), userID, to, now); err != nil {
		e.tb.Fatalf("Release(%s, %s): got error %v, want nil", r.Order.ID, to, err)
	}
	r.Order.Status, r.Order.RestockDue = to, true
}

// wantState checks that an order written by orderIn is still in st: the
// order, its key and its user's claim all unchanged.
func (e *env) wantState(r flashsale.Reservation, st state) {
	e.tb.Helper()
	if st.exists() {
		e.wantOrder(refOf(r), r.Order)
	} else {
		e.wantNoOrder(refOf(r))
	}
	if st.keyKept() {
		e.wantKey(r)
	} else {
		e.wantNoKey(r.Order.UserID, r.Key)
	}
	var held int64
	if st.holds() {
		held = r.Order.Quantity
	}
	e.wantClaim(e.sale, r.Order.UserID, held)
}

func (s *suite) testReserve(t *testing.T) {
	// attempt says who reserves with which key, and whose record should
	// block it.
	type attempt struct {
		user, key string
		taken     *flashsale.Reservation
	}
	tests := []struct {
		name    string
		setup   func(e *env, user string) attempt
		qty     int64
		wantErr error
	}{
		{
			name:  "first hold",
			setup: func(*env, string) attempt { return attempt{} },
			qty:   1,
		},
		{
			name:  "up to the limit",
			setup: func(e *env, user string) attempt { e.reserved(user, 1); return attempt{} },
			qty:   1,
		},
		{
			name:    "over the limit",
			setup:   func(e *env, user string) attempt { e.hold(user, 1); return attempt{} },
			qty:     2,
			wantErr: flashsale.ErrLimitReached,
		},
		{
			name:    "quantity above the limit",
			setup:   func(*env, string) attempt { return attempt{} },
			qty:     3,
			wantErr: flashsale.ErrLimitReached,
		},
		{
			name: "key taken",
			setup: func(e *env, user string) attempt {
				r := e.hold(user, 1)
				return attempt{key: r.Key, taken: &r}
			},
			qty:     1,
			wantErr: flashsale.ErrKeyTaken,
		},
		{
			name: "key taken wins over the limit",
			setup: func(e *env, user string) attempt {
				r := e.reserved(user, 2)
				return attempt{key: r.Key, taken: &r}
			},
			qty:     1,
			wantErr: flashsale.ErrKeyTaken,
		},
		{
			name: "same key, another user",
			setup: func(e *env, user string) attempt {
				r := e.hold(user, 2)
				return attempt{user: e.suite.id("u"), key: r.Key}
			},
			qty: 2,
		},
		{
			name: "a claim in another sale does not count",
			setup: func(e *env, user string) attempt {
				other := *e
				other.sale = e.createSale(1, 5)
				other.hold(user, 2)
				return attempt{}
			},
			qty: 2,
		},
		{
			name: "a cancel gives the allowance back",
			setup: func(e *env, user string) attempt {
				e.orderIn(cancelled, user, 2)
				return attempt{}
			},
			qty: 2,
		},
		{
			name: "an abort gives the allowance and the key back",
			setup: func(e *env, user string) attempt {
				r := e.orderIn(aborted, user, 2)
				return attempt{key: r.Key}
			},
			qty: 2,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := s.newEnv(t, 10, 10)
			user := s.id("u")
			a := tc.setup(e, user)
			if a.user == "" {
				a.user = user
			}
			if a.key == "" {
				a.key = s.id("k")
			}
			held := e.claim(e.sale, a.user)
			r := e.reservation(e.sale, a.user, a.key, tc.qty)

			err := e.st.Reserve(e.ctx, r)
			checkErr(t, "Reserve", err, tc.wantErr)
			if a.taken != nil {
				var taken *flashsale.KeyTakenError
				if !errors.As(err, &taken) {
					t.Fatalf("Reserve: got error %v, want a *KeyTakenError", err)
				}
				checkRecord(t, "KeyTakenError.Record", taken.Record, recordOf(*a.taken))
			}

			if err == nil {
				e.wantOrder(refOf(r), r.Order)
				e.wantKey(r)
				e.wantClaim(e.sale, a.user, held+tc.qty)
				return
			}
			// Nothing written.
			e.wantNoOrder(refOf(r))
			e.wantClaim(e.sale, a.user, held)
			if a.taken != nil {
				e.wantKey(*a.taken)
			} else {
				e.wantNoKey(a.user, a.key)
			}
		})
	}
}

func (s *suite) testReserveCopies(t *testing.T) {
	e := s.newEnv(t, 1)
	r := e.reservation(e.sale, s.id("u"), s.id("k"), 1)
	want := recordOf(r)
	want.Receipt = []byte(string(r.Receipt))
	if err := e.st.Reserve(e.ctx, r); err != nil {
		t.Fatalf("Reserve: got error %v, want nil", err)
	}
	r.Receipt[0] = 'X' // the caller reuses its buffer

	got, err := e.st.IdempotencyRecord(e.ctx, want.UserID, want.Key)
	if err != nil {
		t.Fatalf("IdempotencyRecord: got error %v, want nil", err)
	}
	checkRecord(t, "IdempotencyRecord after the caller changed its receipt", got, want)
	got.Receipt[0] = 'Y' // a reader scribbles on what it got

	again := e.reservation(e.sale, want.UserID, want.Key, 1)
	err = e.st.Reserve(e.ctx, again)
	var taken *flashsale.KeyTakenError
	if !errors.As(err, &taken) {
		t.Fatalf("Reserve with the same key: got error %v, want a *KeyTakenError", err)
	}
	checkRecord(t, "KeyTakenError.Record after a reader changed its copy", taken.Record, want)
	taken.Record.Receipt[0] = 'Z'

	got, err = e.st.IdempotencyRecord(e.ctx, want.UserID, want.Key)
	if err != nil {
		t.Fatalf("IdempotencyRecord: got error %v, want nil", err)
	}
	checkRecord(t, "IdempotencyRecord after readers changed their copies", got, want)
}

func (s *suite) testReserveConcurrentLimit(t *testing.T) {
	const buyers = 50
	e := s.newEnv(t, 100)
	user := s.id("u")
	rs := make([]flashsale.Reservation, buyers)
	for i := range rs {
		rs[i] = e.reservation(e.sale, user, s.id("k"), 1)
	}
	errs := race(buyers, func(i int) error { return e.st.Reserve(e.ctx, rs[i]) })
	ok, limited := tally(t, "Reserve", errs, flashsale.ErrLimitReached)
	if ok != int(e.sale.PerUserLimit) || limited != buyers-ok {
		t.Errorf("%d concurrent reserves of 1 by one user, limit %d: %d succeeded, %d limited; want %d and %d",
			buyers, e.sale.PerUserLimit, ok, limited, e.sale.PerUserLimit, buyers-int(e.sale.PerUserLimit))
	}
	e.wantClaim(e.sale, user, e.sale.PerUserLimit)
	for i, r := range rs {
		if errs[i] == nil {
			e.wantOrder(refOf(r), r.Order)
			e.wantKey(r)
		} else {
			e.wantNoOrder(refOf(r))
			e.wantNoKey(user, r.Key)
		}
	}
}

func (s *suite) testReserveConcurrentKey(t *testing.T) {
	const tries = 20
	e := s.newEnv(t, 100)
	user, key := s.id("u"), s.id("k")
	rs := make([]flashsale.Reservation, tries)
	for i := range rs {
		rs[i] = e.reservation(e.sale, user, key, 1)
	}
	errs := race(tries, func(i int) error { return e.st.Reserve(e.ctx, rs[i]) })
	ok, taken := tally(t, "Reserve", errs, flashsale.ErrKeyTaken)
	if ok != 1 || taken != tries-1 {
		t.Fatalf("%d concurrent reserves with one key: %d succeeded, %d found it taken; want 1 and %d", tries, ok, taken, tries-1)
	}
	winner := rs[0]
	for i, err := range errs {
		if err == nil {
			winner = rs[i]
		}
	}
	for i, err := range errs {
		var kt *flashsale.KeyTakenError
		if errors.As(err, &kt) && kt.Record.OrderID != winner.Order.ID {
			t.Errorf("loser #%d: KeyTakenError.Record.OrderID = %s, want the winner's %s", i, kt.Record.OrderID, winner.Order.ID)
		}
		if err != nil {
			e.wantNoOrder(refOf(rs[i]))
		}
	}
	e.wantKey(winner)
	e.wantClaim(e.sale, user, 1)
}

func (s *suite) testAccept(t *testing.T) {
	tests := []struct {
		from    state
		wantErr error
	}{
		{pending, nil},
		{reserved, flashsale.ErrNotPending},
		{persisted, flashsale.ErrNotPending},
		{paid, flashsale.ErrNotPending},
		{cancelled, flashsale.ErrNotPending},
		{expired, flashsale.ErrNotPending},
		{aborted, flashsale.ErrNotPending},
		{missing, flashsale.ErrNotPending},
	}
	for _, tc := range tests {
		t.Run(string(tc.from), func(t *testing.T) {
			e := s.newEnv(t, 10)
			r := e.orderIn(tc.from, s.id("u"), 2)
			checkErr(t, "Accept", e.st.Accept(e.ctx, refOf(r)), tc.wantErr)
			if tc.wantErr == nil {
				r.Order.Status = flashsale.OrderReserved
				e.wantState(r, reserved)
				return
			}
			e.wantState(r, tc.from)
		})
	}
}

func (s *suite) testAbort(t *testing.T) {
	tests := []struct {
		from    state
		wantErr error
	}{
		{pending, nil},
		{reserved, flashsale.ErrNotPending},
		{persisted, flashsale.ErrNotPending},
		{paid, flashsale.ErrNotPending},
		{cancelled, flashsale.ErrNotPending},
		{expired, flashsale.ErrNotPending},
		{aborted, flashsale.ErrNotPending}, // a second abort must not give the claim back twice
		{missing, flashsale.ErrNotPending},
	}
	now := t0.Add(time.Minute)
	for _, tc := range tests {
		t.Run(string(tc.from), func(t *testing.T) {
			e := s.newEnv(t, 10)
			user := s.id("u")
			other := e.hold(user, 1) // the claim must not go below this
			r := e.orderIn(tc.from, user, 1)

			err := e.st.Abort(e.ctx, refOf(r), user, r.Key, r.Order.Quantity, now)
			checkErr(t, "Abort", err, tc.wantErr)
			if tc.wantErr == nil {
				r.Order.Status, r.Order.AbortedAt = flashsale.OrderAborted, now
				tc.from = aborted
			}
			// Not wantState: the user also holds other, so the claim is one more.
			e.wantOrder(refOf(other), other.Order)
			e.wantKey(other)
			var held int64 = 1
			if tc.from.holds() {
				held++
			}
			if tc.from.exists() {
				e.wantOrder(refOf(r), r.Order)
			} else {
				e.wantNoOrder(refOf(r))
			}
			if tc.from.keyKept() {
				e.wantKey(r)
			} else {
				e.wantNoKey(user, r.Key)
			}
			e.wantClaim(e.sale, user, held)
		})
	}
	t.Run("the key can be used again", func(t *testing.T) {
		e := s.newEnv(t, 10)
		r := e.orderIn(aborted, s.id("u"), 2)
		again := e.reservation(e.sale, r.Order.UserID, r.Key, 2)
		checkErr(t, "Reserve with the aborted key", e.st.Reserve(e.ctx, again), nil)
		e.wantKey(again)
		e.wantClaim(e.sale, r.Order.UserID, 2)
		e.wantOrder(refOf(r), r.Order) // the tombstone stays
	})
}

func (s *suite) testAbortAcceptRace(t *testing.T) {
	const rounds, racers = 10, 8
	tests := []struct {
		name string
		ops  []string // racer i runs ops[i%len(ops)]
	}{
		{name: "abort vs accept", ops: []string{"abort", "accept"}},
		{name: "abort vs abort", ops: []string{"abort"}},
		{name: "accept vs accept", ops: []string{"accept"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := s.newEnv(t, 10)
			for range rounds {
				user := s.id("u")
				r := e.hold(user, 2)
				ref := refOf(r)
				errs := race(racers, func(i int) error {
					if tc.ops[i%len(tc.ops)] == "abort" {
						return e.st.Abort(e.ctx, ref, user, r.Key, 2, abortTime)
					}
					return e.st.Accept(e.ctx, ref)
				})
				ok, _ := tally(t, "Abort/Accept", errs, flashsale.ErrNotPending)
				if ok != 1 {
					t.Fatalf("%d racers on one hold: %d won, want exactly 1 (errors %v)", racers, ok, errs)
				}
				for i, err := range errs {
					if err != nil {
						continue
					}
					if tc.ops[i%len(tc.ops)] == "abort" {
						r.Order.Status, r.Order.AbortedAt = flashsale.OrderAborted, abortTime
						e.wantState(r, aborted)
					} else {
						r.Order.Status = flashsale.OrderReserved
						e.wantState(r, reserved)
					}
				}
			}
		})
	}
}

func (s *suite) testOrder(t *testing.T) {
	e := s.newEnv(t, 1, 1, 1, 1)
	r := e.hold(s.id("u"), 1)
	ref := refOf(r)
	e.wantOrder(ref, r.Order)

	wrongBucket := ref
	wrongBucket.Bucket = (ref.Bucket + 1) % e.sale.Shards
	otherSale := ref
	otherSale.SaleID = e.createSale(4, 1).ID
	for _, tc := range []struct {
		name string
		ref  flashsale.OrderRef
	}{
		{name: "unknown order", ref: refOf(e.reservation(e.sale, "nobody", "k", 1))},
		{name: "wrong bucket", ref: wrongBucket},
		{name: "wrong sale", ref: otherSale},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.st.Order(e.ctx, tc.ref)
			checkErr(t, fmt.Sprintf("Order(%+v)", tc.ref), err, flashsale.ErrOrderNotFound)
		})
	}
	t.Run("unknown key", func(t *testing.T) {
		_, err := e.st.IdempotencyRecord(e.ctx, r.Order.UserID, s.id("k"))
		checkErr(t, "IdempotencyRecord(unknown)", err, flashsale.ErrOrderNotFound)
	})
}

func (s *suite) testRelease(t *testing.T) {
	const (
		owner = "owner"
		other = "other"
		none  = ""
	)
	tests := []struct {
		name    string
		from    state
		by      string
		to      flashsale.OrderStatus
		now     time.Time
		wantErr error
	}{
		{"cancel reserved", reserved, owner, flashsale.OrderCancelled, beforeExpiry, nil},
		{"cancel at expiry", reserved, owner, flashsale.OrderCancelled, atExpiry, nil},
		{"cancel persisted", persisted, owner, flashsale.OrderCancelled, beforeExpiry, nil},
		{"cancel paid", paid, owner, flashsale.OrderCancelled, beforeExpiry, flashsale.ErrOrderNotReserved},
		{"cancel paid persisted", paidPersisted, owner, flashsale.OrderCancelled, beforeExpiry, flashsale.ErrOrderNotReserved},
		{"cancel paid by another user", paid, other, flashsale.OrderCancelled, beforeExpiry, flashsale.ErrOrderNotFound},
		{"cancel after expiry", reserved, owner, flashsale.OrderCancelled, afterExpiry, flashsale.ErrOrderNotReserved},
		{"cancel by another user", reserved, other, flashsale.OrderCancelled, beforeExpiry, flashsale.ErrOrderNotFound},
		{"cancel by nobody", reserved, none, flashsale.OrderCancelled, beforeExpiry, flashsale.ErrOrderNotFound},
		{"cancel pending", pending, owner, flashsale.OrderCancelled, beforeExpiry, flashsale.ErrOrderNotFound},
		{"cancel cancelled", cancelled, owner, flashsale.OrderCancelled, beforeExpiry, flashsale.ErrOrderNotReserved},
		{"cancel expired", expired, owner, flashsale.OrderCancelled, beforeExpiry, flashsale.ErrOrderNotReserved},
		{"cancel restocked", restocked, owner, flashsale.OrderCancelled, beforeExpiry, flashsale.ErrOrderNotReserved},
		{"cancel aborted", aborted, owner, flashsale.OrderCancelled, beforeExpiry, flashsale.ErrOrderNotFound},
		{"cancel missing", missing, owner, flashsale.OrderCancelled, beforeExpiry, flashsale.ErrOrderNotFound},
		{"expire after expiry", reserved, none, flashsale.OrderExpired, afterExpiry, nil},
		{"expire ignores the user", reserved, other, flashsale.OrderExpired, afterExpiry, nil},
		{"expire persisted", persisted, none, flashsale.OrderExpired, afterExpiry, nil},
		{"expire paid", paid, none, flashsale.OrderExpired, afterExpiry, flashsale.ErrOrderNotReserved},
		{"expire paid persisted", paidPersisted, none, flashsale.OrderExpired, afterExpiry, flashsale.ErrOrderNotReserved},
		{"expire at expiry", reserved, none, flashsale.OrderExpired, atExpiry, flashsale.ErrOrderNotReserved},
		{"expire before expiry", reserved, none, flashsale.OrderExpired, beforeExpiry, flashsale.ErrOrderNotReserved},
		{"expire pending", pending, none, flashsale.OrderExpired, afterExpiry, flashsale.ErrOrderNotReserved},
		{"expire expired", expired, none, flashsale.OrderExpired, afterExpiry, flashsale.ErrOrderNotReserved},
		{"expire cancelled", cancelled, none, flashsale.OrderExpired, afterExpiry, flashsale.ErrOrderNotReserved},
		{"expire aborted", aborted, none, flashsale.OrderExpired, afterExpiry, flashsale.ErrOrderNotReserved},
		{"expire missing", missing, none, flashsale.OrderExpired, afterExpiry, flashsale.ErrOrderNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := s.newEnv(t, 10)
			user := s.id("u")
			r := e.orderIn(tc.from, user, 2)
			by := tc.by
			switch by {
			case owner:
				by = user
			case other:
				by = s.id("u")
			}

			got, err := e.st.Release(e.ctx, refOf(r), by, tc.to, tc.now)
			checkErr(t, fmt.Sprintf("Release(%s, %s at %s)", tc.from, tc.to, tc.now.Format(time.TimeOnly)), err, tc.wantErr)
			if tc.wantErr != nil {
				e.wantState(r, tc.from)
				return
			}
			want := r.Order
			want.Status, want.RestockDue = tc.to, true
			if norm(got) != norm(want) {
				t.Errorf("Release returned\n got  %+v\n want %+v", got, want)
			}
			r.Order = want
			e.wantState(r, state(tc.to))
		})
	}
}

func (s *suite) testReleaseConcurrent(t *testing.T) {
	const racers = 10
	tests := []struct {
		to  flashsale.OrderStatus
		now time.Time
	}{
		{flashsale.OrderCancelled, beforeExpiry},
		{flashsale.OrderExpired, afterExpiry},
	}
	for _, tc := range tests {
		t.Run(string(tc.to), func(t *testing.T) {
			e := s.newEnv(t, 10)
			user := s.id("u")
			e.hold(user, 1) // a second holding, so an over-release would show
			r := e.reserved(user, 1)
			errs := race(racers, func(int) error {
				_, err := e.st.Release(e.ctx, refOf(r), user, tc.to, tc.now)
				return err
			})
			ok, _ := tally(t, "Release", errs, flashsale.ErrOrderNotReserved)
			if ok != 1 {
				t.Errorf("%d concurrent releases of one order: %d won, want exactly 1", racers, ok)
			}
			e.wantClaim(e.sale, user, 1)
			r.Order.Status, r.Order.RestockDue = tc.to, true
			e.wantOrder(refOf(r), r.Order)
		})
	}
}

func (s *suite) testMarkRestocked(t *testing.T) {
	tests := []struct {
		from    state
		wantErr error
	}{
		{cancelled, nil},
		{expired, nil},
		{restocked, flashsale.ErrNotPending},
		{reserved, flashsale.ErrNotPending},
		{paid, flashsale.ErrNotPending},
		{pending, flashsale.ErrNotPending},
		{aborted, flashsale.ErrNotPending},
		{missing, flashsale.ErrNotPending},
	}
	now := restockTime.Add(time.Hour)
	for _, tc := range tests {
		t.Run(string(tc.from), func(t *testing.T) {
			e := s.newEnv(t, 10)
			r := e.orderIn(tc.from, s.id("u"), 2)
			checkErr(t, "MarkRestocked", e.st.MarkRestocked(e.ctx, refOf(r), now), tc.wantErr)
			if tc.wantErr == nil {
				r.Order.RestockDue, r.Order.RestockedAt = false, now
			}
			e.wantState(r, tc.from)
		})
	}
}

func (s *suite) testMarkRestockedRace(t *testing.T) {
	const racers = 20
	e := s.newEnv(t, 10)
	r := e.orderIn(cancelled, s.id("u"), 1)
	errs := race(racers, func(i int) error {
		return e.st.MarkRestocked(e.ctx, refOf(r), restockTime.Add(time.Duration(i)*time.Second))
	})
	ok, _ := tally(t, "MarkRestocked", errs, flashsale.ErrNotPending)
	if ok != 1 {
		t.Fatalf("%d concurrent MarkRestocked: %d won, want exactly 1", racers, ok)
	}
	for i, err := range errs {
		if err == nil {
			r.Order.RestockDue, r.Order.RestockedAt = false, restockTime.Add(time.Duration(i)*time.Second)
		}
	}
	e.wantState(r, restocked)
}

func (s *suite) testSaleOrders(t *testing.T) {
	e := s.newEnv(t, 5, 5, 5, 5)
	want := map[string]flashsale.Order{}
	for _, st := range []state{pending, reserved, persisted, paid, paidPersisted, cancelled, expired, restocked, aborted, pending, reserved} {
		for range 2 {
			r := e.orderIn(st, s.id("u"), 1)
			if st.exists() {
				want[r.Order.ID] = r.Order
			}
		}
	}
	other := *e
	other.sale = e.createSale(2, 5, 5)
	other.reserved(s.id("u"), 1) // another sale's order must not show up

	got, err := e.st.SaleOrders(e.ctx, e.sale)
	if err != nil {
		t.Fatalf("SaleOrders: got error %v, want nil", err)
	}
	if len(got) != len(want) {
		t.Errorf("SaleOrders returned %d orders, want %d", len(got), len(want))
	}
	seen := map[string]bool{}
	for _, o := range got {
		w, ok := want[o.ID]
		switch {
		case !ok:
			t.Errorf("SaleOrders returned unexpected order %+v", o)
		case seen[o.ID]:
			t.Errorf("SaleOrders returned %s twice", o.ID)
		case norm(o) != norm(w):
			t.Errorf("SaleOrders order %s:\n got  %+v\n want %+v", o.ID, o, w)
		}
		seen[o.ID] = true
	}

	t.Run("no orders", func(t *testing.T) {
		empty := e.createSale(3, 1, 1, 1)
		got, err := e.st.SaleOrders(e.ctx, empty)
		if err != nil || len(got) != 0 {
			t.Errorf("SaleOrders(no orders) = %v, %v; want none, nil", got, err)
		}
	})
}

func (s *suite) testClaim(t *testing.T) {
	e := s.newEnv(t, 10)
	user := s.id("u")
	e.wantClaim(e.sale, user, 0)
	e.wantClaim(flashsale.Sale{ID: s.id("nosuchsale")}, user, 0)

	a := e.hold(user, 1)
	e.wantClaim(e.sale, user, 1)
	b := e.reserved(user, 1)
	e.wantClaim(e.sale, user, 2)
	e.release(&b, user, flashsale.OrderCancelled, beforeExpiry)
	e.wantClaim(e.sale, user, 1)
	e.abort(&a, abortTime)
	e.wantClaim(e.sale, user, 0)

	other := e.createSale(1, 3)
	e.wantClaim(other, user, 0)
}
