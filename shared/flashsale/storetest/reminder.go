package storetest

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"flashsale/shared/flashsale"
)

func (s *suite) testReminders(t *testing.T) {
	e := s.newEnv(t, 1)
	other := e.createSale(1, 1)
	users := make([]string, 40) // over every bucket
	for i := range users {
		users[i] = fmt.Sprintf("user-%02d", i)
		created, err := e.st.AddReminder(e.ctx, flashsale.Reminder{SaleID: e.sale.ID, UserID: users[i], SubscribedAt: t0}, e.sale.EndsAt)
		if err != nil || !created {
			t.Fatalf("AddReminder(%s) = %v, %v; want true, nil", users[i], created, err)
		}
	}
	if created, err := e.st.AddReminder(e.ctx, flashsale.Reminder{SaleID: e.sale.ID, UserID: users[0], SubscribedAt: t0}, e.sale.EndsAt); err != nil || created {
		t.Fatalf("second AddReminder = %v, %v; want false, nil", created, err)
	}
	if err := e.st.ClaimReminder(e.ctx, e.sale.ID, users[1], t0); err != nil {
		t.Fatalf("ClaimReminder: %v", err)
	}
	if err := e.st.ClaimReminder(e.ctx, e.sale.ID, users[1], t0); !errors.Is(err, flashsale.ErrReminderClaimed) {
		t.Fatalf("second ClaimReminder: %v; want ErrReminderClaimed", err)
	}
	// Subscribing again keeps the claim: nobody is reminded twice by
	// tapping the button again.
	if _, err := e.st.AddReminder(e.ctx, flashsale.Reminder{SaleID: e.sale.ID, UserID: users[1], SubscribedAt: t0}, e.sale.EndsAt); err != nil {
		t.Fatal(err)
	}
	if err := e.st.DeleteReminder(e.ctx, e.sale.ID, users[2]); err != nil {
		t.Fatal(err)
	}
	if err := e.st.DeleteReminder(e.ctx, e.sale.ID, "never-subscribed"); err != nil {
		t.Fatalf("deleting a missing reminder: %v; want nil", err)
	}
	if err := e.st.ClaimReminder(e.ctx, e.sale.ID, users[2], t0); !errors.Is(err, flashsale.ErrReminderClaimed) {
		t.Fatalf("claiming an unsubscribed user: %v; want ErrReminderClaimed", err)
	}
	got, err := e.st.Reminders(e.ctx, e.sale.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(users)-1 {
		t.Fatalf("Reminders: %d subscribers; want %d", len(got), len(users)-1)
	}
	for i, r := range got {
		if i > 0 && got[i-1].UserID >= r.UserID {
			t.Fatalf("Reminders not sorted by user: %s before %s", got[i-1].UserID, r.UserID)
		}
		if r.SaleID != e.sale.ID || !r.SubscribedAt.Equal(t0) {
			t.Errorf("reminder %+v: want sale %s, subscribed at %s", r, e.sale.ID, t0)
		}
		if claimed := !r.NotifiedAt.IsZero(); claimed != (r.UserID == users[1]) || (claimed && !r.NotifiedAt.Equal(t0)) {
			t.Errorf("reminder of %s: notified at %v", r.UserID, r.NotifiedAt)
		}
	}
	if err := e.st.UnclaimReminder(e.ctx, e.sale.ID, users[1]); err != nil {
		t.Fatal(err)
	}
	if err := e.st.ClaimReminder(e.ctx, e.sale.ID, users[1], t0); err != nil {
		t.Fatalf("claim after unclaim: %v", err)
	}
	if r, err := e.st.Reminders(e.ctx, other.ID); err != nil || len(r) != 0 {
		t.Fatalf("another sale's reminders: %v, %v; want none", r, err)
	}
}

// testClaimReminderConcurrent: two remind runs racing for the same
// subscribers claim each exactly once between them.
func (s *suite) testClaimReminderConcurrent(t *testing.T) {
	e := s.newEnv(t, 1)
	const n = 30
	for i := range n {
		if _, err := e.st.AddReminder(e.ctx, flashsale.Reminder{SaleID: e.sale.ID, UserID: fmt.Sprintf("u%d", i), SubscribedAt: t0}, e.sale.EndsAt); err != nil {
			t.Fatal(err)
		}
	}
	var won atomic.Int64
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for i := range n {
				err := e.st.ClaimReminder(e.ctx, e.sale.ID, fmt.Sprintf("u%d", i), t0)
				switch {
				case err == nil:
					won.Add(1)
				case !errors.Is(err, flashsale.ErrReminderClaimed):
					t.Errorf("ClaimReminder: %v", err)
				}
			}
		})
	}
	wg.Wait()
	if won.Load() != n {
		t.Fatalf("%d claims won by two racing runs; want exactly %d", won.Load(), n)
	}
}
