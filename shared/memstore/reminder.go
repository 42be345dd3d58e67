package memstore

import (
	"context"
	"slices"
	"strings"
	"time"

	"flashsale/shared/flashsale"
)

// reminder is a subscription as stored: unsubscribing keeps it, with its
// claim and sent mark, so subscribing again does not remind anyone twice.
type reminder struct {
	flashsale.Reminder
	unsubscribed bool
}

// AddReminder subscribes a user, or subscribes them again.
func (s *Store) AddReminder(_ context.Context, r flashsale.Reminder, _ time.Time) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	subs := s.reminders[r.SaleID]
	if subs == nil {
		subs = map[string]*reminder{}
		s.reminders[r.SaleID] = subs
	}
	if old, ok := subs[r.UserID]; ok {
		again := old.unsubscribed
		old.unsubscribed = false
		return again, nil
	}
	r.ClaimedAt, r.SentAt = time.Time{}, time.Time{}
	subs[r.UserID] = &reminder{Reminder: r}
	return true, nil
}

// DeleteReminder unsubscribes a user.
func (s *Store) DeleteReminder(_ context.Context, saleID, userID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.reminders[saleID][userID]; ok {
		r.unsubscribed = true
	}
	return nil
}

// Reminders lists a sale's subscribers, by user ID.
func (s *Store) Reminders(_ context.Context, saleID string) ([]flashsale.Reminder, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []flashsale.Reminder
	for _, r := range s.reminders[saleID] {
		if !r.unsubscribed {
			out = append(out, r.Reminder)
		}
	}
	slices.SortFunc(out, func(a, b flashsale.Reminder) int { return strings.Compare(a.UserID, b.UserID) })
	return out, nil
}

// ClaimReminder claims a subscriber not sent to, unclaimed or claimed
// before staleBefore.
func (s *Store) ClaimReminder(_ context.Context, saleID, userID string, now, staleBefore time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.reminders[saleID][userID]
	if !ok || r.unsubscribed || !r.SentAt.IsZero() || (!r.ClaimedAt.IsZero() && !r.ClaimedAt.Before(staleBefore)) {
		return flashsale.ErrReminderClaimed
	}
	r.ClaimedAt = now
	return nil
}

// MarkReminderSent records the send.
func (s *Store) MarkReminderSent(_ context.Context, saleID, userID string, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.reminders[saleID][userID]; ok {
		r.SentAt = now
	}
	return nil
}

// UnclaimReminder gives a claim back unless the send was recorded.
func (s *Store) UnclaimReminder(_ context.Context, saleID, userID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.reminders[saleID][userID]; ok && r.SentAt.IsZero() {
		r.ClaimedAt = time.Time{}
	}
	return nil
}
