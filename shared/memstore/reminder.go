package memstore

import (
	"context"
	"maps"
	"slices"
	"strings"
	"time"

	"flashsale/shared/flashsale"
)

// AddReminder subscribes a user; an existing subscription stays as it is.
func (s *Store) AddReminder(_ context.Context, r flashsale.Reminder, _ time.Time) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	subs := s.reminders[r.SaleID]
	if subs == nil {
		subs = map[string]flashsale.Reminder{}
		s.reminders[r.SaleID] = subs
	}
	if _, ok := subs[r.UserID]; ok {
		return false, nil
	}
	r.NotifiedAt = time.Time{}
	subs[r.UserID] = r
	return true, nil
}

// DeleteReminder unsubscribes a user.
func (s *Store) DeleteReminder(_ context.Context, saleID, userID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.reminders[saleID], userID)
	return nil
}

// Reminders lists a sale's subscribers, by user ID.
func (s *Store) Reminders(_ context.Context, saleID string) ([]flashsale.Reminder, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.SortedFunc(maps.Values(s.reminders[saleID]), func(a, b flashsale.Reminder) int {
		return strings.Compare(a.UserID, b.UserID)
	}), nil
}

// ClaimReminder marks a subscriber notified if no one has.
func (s *Store) ClaimReminder(_ context.Context, saleID, userID string, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.reminders[saleID][userID]
	if !ok || !r.NotifiedAt.IsZero() {
		return flashsale.ErrReminderClaimed
	}
	r.NotifiedAt = now
	s.reminders[saleID][userID] = r
	return nil
}

// UnclaimReminder gives a claim back.
func (s *Store) UnclaimReminder(_ context.Context, saleID, userID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.reminders[saleID][userID]; ok {
		r.NotifiedAt = time.Time{}
		s.reminders[saleID][userID] = r
	}
	return nil
}
