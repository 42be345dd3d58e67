package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"flashsale/shared/flashsale"
)

// testClaimOrders: the claim lists exactly the orders it counts, through
// reserve, accept, abort, release and payment; UserOrders lists every order
// the user's purchases created, whatever became of it, but not aborted holds.
func (s *suite) testClaimOrders(t *testing.T) {
	e := s.newEnv(t, 10)
	user := s.id("user")
	wantUser := func(ids ...string) {
		t.Helper()
		got, err := e.st.UserOrders(e.ctx, e.sale.ID, user)
		if err != nil {
			t.Fatalf("UserOrders: %v", err)
		}
		slices.Sort(ids)
		if len(got) != len(ids) || (len(ids) > 0 && !slices.Equal(got, ids)) {
			t.Errorf("UserOrders = %v, want %v", got, ids)
		}
	}
	want := func(ids ...string) {
		t.Helper()
		got, err := e.st.ClaimOrders(e.ctx, e.sale.ID, user)
		if err != nil {
			t.Fatalf("ClaimOrders: %v", err)
		}
		slices.Sort(ids)
		if len(got) != len(ids) || (len(ids) > 0 && !slices.Equal(got, ids)) {
			t.Errorf("ClaimOrders = %v, want %v", got, ids)
		}
	}
	want()
	reserve := func(key string) flashsale.Reservation {
		r := e.reservation(e.sale, user, key, 1)
		if err := e.st.Reserve(e.ctx, r); err != nil {
			t.Fatalf("Reserve: %v", err)
		}
		return r
	}
	wantUser()
	a, b := reserve(s.id("k")), reserve(s.id("k"))
	want(a.Order.ID, b.Order.ID)
	wantUser(a.Order.ID, b.Order.ID)

	refA := flashsale.OrderRef{SaleID: e.sale.ID, Bucket: a.Bucket, OrderID: a.Order.ID}
	refB := flashsale.OrderRef{SaleID: e.sale.ID, Bucket: b.Bucket, OrderID: b.Order.ID}
	if err := e.st.Abort(e.ctx, refA, user, a.Key, 1, t0); err != nil {
		t.Fatalf("Abort: %v", err)
	}
	want(b.Order.ID)
	wantUser(b.Order.ID) // an aborted hold was never an order
	if err := e.st.Accept(e.ctx, refB); err != nil {
		t.Fatalf("Accept: %v", err)
	}
	want(b.Order.ID)
	if _, err := e.st.Release(e.ctx, refB, "", flashsale.OrderExpired, b.Order.ExpiresAt.Add(time.Second)); err != nil {
		t.Fatalf("Release: %v", err)
	}
	want()
	wantUser(b.Order.ID) // an expired order is still the user's

	// A paid order keeps its place in the claim.
	c := reserve(s.id("k"))
	refC := flashsale.OrderRef{SaleID: e.sale.ID, Bucket: c.Bucket, OrderID: c.Order.ID}
	pay := flashsale.Payment{EventID: s.id("evt"), OrderID: c.Order.ID, AmountCents: c.Order.AmountCents, Currency: c.Order.Currency, Status: "succeeded"}
	if err := e.st.PayOrder(e.ctx, refC, pay, t0); err != nil {
		t.Fatalf("PayOrder: %v", err)
	}
	want(c.Order.ID)
	wantUser(b.Order.ID, c.Order.ID)
	// Another user's claim, and another sale's, are separate.
	if got, _ := e.st.ClaimOrders(e.ctx, e.sale.ID, s.id("nobody")); len(got) != 0 {
		t.Errorf("ClaimOrders of a user with no orders = %v, want none", got)
	}
	if got, _ := e.st.UserOrders(e.ctx, e.sale.ID, s.id("nobody")); len(got) != 0 {
		t.Errorf("UserOrders of a user with no orders = %v, want none", got)
	}
}

// testClearSoldOut: the mark goes and the epoch moves; an unknown sale is an
// error.
func (s *suite) testClearSoldOut(t *testing.T) {
	e := s.newEnv(t, 0)
	before := e.state(e.sale.ID)
	if err := e.st.MarkSoldOut(e.ctx, e.sale.ID, before.Epoch); err != nil {
		t.Fatal(err)
	}
	if err := e.st.ClearSoldOut(e.ctx, e.sale.ID); err != nil {
		t.Fatalf("ClearSoldOut: %v", err)
	}
	after := e.state(e.sale.ID)
	if after.SoldOut || after.Epoch != before.Epoch+1 {
		t.Errorf("after ClearSoldOut: soldOut=%v epoch=%d, want false and %d", after.SoldOut, after.Epoch, before.Epoch+1)
	}
	if err := e.st.ClearSoldOut(e.ctx, s.id("nosale")); !errors.Is(err, flashsale.ErrSaleNotFound) {
		t.Errorf("ClearSoldOut of an unknown sale: got %v, want ErrSaleNotFound", err)
	}
}
