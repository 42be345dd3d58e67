package storetest

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"flashsale/shared/flashsale"
)

func (s *suite) testReminders(t *testing.T) {
	e := s.newEnv(t, 1)
	other := e.createSale(1, 1)
	sub := func(user string) bool {
		t.Helper()
		created, err := e.st.AddReminder(e.ctx, flashsale.Reminder{SaleID: e.sale.ID, UserID: user, SubscribedAt: t0}, e.sale.EndsAt)
		if err != nil {
			t.Fatalf("AddReminder(%s): %v", user, err)
		}
		return created
	}
	claim := func(user string, now time.Time) error {
		return e.st.ClaimReminder(e.ctx, e.sale.ID, user, now, now.Add(-time.Minute))
	}
	users := make([]string, 40) // over every bucket
	for i := range users {
		users[i] = fmt.Sprintf("user-%02d", i)
		if !sub(users[i]) {
			t.Fatalf("first AddReminder(%s) = false; want true", users[i])
		}
	}
	if sub(users[0]) {
		t.Fatal("second AddReminder = true; want false (subscribed already)")
	}

	// A claim holds until it is a minute old, then lapses (its run died).
	if err := claim(users[1], t0); err != nil {
		t.Fatalf("ClaimReminder: %v", err)
	}
	if err := claim(users[1], t0.Add(59*time.Second)); !errors.Is(err, flashsale.ErrReminderClaimed) {
		t.Fatalf("claim within the lease: %v; want ErrReminderClaimed", err)
	}
	if err := claim(users[1], t0.Add(61*time.Second)); err != nil {
		t.Fatalf("claim after the lease: %v; want nil", err)
	}
	// Once sent, nobody claims it again, however late.
	if err := e.st.MarkReminderSent(e.ctx, e.sale.ID, users[1], t0.Add(62*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := claim(users[1], t0.Add(time.Hour)); !errors.Is(err, flashsale.ErrReminderClaimed) {
		t.Fatalf("claim of a subscriber sent to: %v; want ErrReminderClaimed", err)
	}
	if err := e.st.UnclaimReminder(e.ctx, e.sale.ID, users[1]); err != nil {
		t.Fatal(err)
	}
	if err := claim(users[1], t0.Add(time.Hour)); !errors.Is(err, flashsale.ErrReminderClaimed) {
		t.Fatalf("unclaim took back a send: %v; want ErrReminderClaimed", err)
	}

	// Unsubscribing: gone from the list, not claimable; subscribing again
	// is a new subscription (201) that keeps the sent mark.
	for _, u := range []string{users[1], users[2]} {
		if err := e.st.DeleteReminder(e.ctx, e.sale.ID, u); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.st.DeleteReminder(e.ctx, e.sale.ID, "never-subscribed"); err != nil {
		t.Fatalf("deleting a missing reminder: %v; want nil", err)
	}
	if err := claim(users[2], t0); !errors.Is(err, flashsale.ErrReminderClaimed) {
		t.Fatalf("claiming an unsubscribed user: %v; want ErrReminderClaimed", err)
	}
	got, err := e.st.Reminders(e.ctx, e.sale.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(users)-2 {
		t.Fatalf("Reminders: %d subscribers; want %d (two unsubscribed)", len(got), len(users)-2)
	}
	if !sub(users[1]) {
		t.Fatal("subscribing again after unsubscribing = false; want true")
	}
	if err := claim(users[1], t0.Add(2*time.Hour)); !errors.Is(err, flashsale.ErrReminderClaimed) {
		t.Fatalf("a resubscribed user already sent to was claimable: %v", err)
	}

	// Unclaim after a failed send lets the next run claim at once.
	if err := claim(users[3], t0); err != nil {
		t.Fatal(err)
	}
	if err := e.st.UnclaimReminder(e.ctx, e.sale.ID, users[3]); err != nil {
		t.Fatal(err)
	}
	if err := claim(users[3], t0.Add(time.Second)); err != nil {
		t.Fatalf("claim after unclaim: %v", err)
	}

	got, err = e.st.Reminders(e.ctx, e.sale.ID)
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
		switch r.UserID {
		case users[1]:
			if !r.SentAt.Equal(t0.Add(62 * time.Second)) {
				t.Errorf("%s: sent at %v; want %v", r.UserID, r.SentAt, t0.Add(62*time.Second))
			}
		case users[3]:
			if !r.ClaimedAt.Equal(t0.Add(time.Second)) || !r.SentAt.IsZero() {
				t.Errorf("%s: claimed %v, sent %v; want claimed at t0+1s, not sent", r.UserID, r.ClaimedAt, r.SentAt)
			}
		default:
			if !r.ClaimedAt.IsZero() || !r.SentAt.IsZero() {
				t.Errorf("%s: claimed %v, sent %v; want neither", r.UserID, r.ClaimedAt, r.SentAt)
			}
		}
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
				err := e.st.ClaimReminder(e.ctx, e.sale.ID, fmt.Sprintf("u%d", i), t0, t0.Add(-time.Minute))
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
