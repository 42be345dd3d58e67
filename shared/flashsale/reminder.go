package flashsale

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// "Remind me": a buyer subscribes to a sale before it starts; the remind
// job notifies each subscriber once, lead before the opening (and a last
// call a minute before it for late subscribers), paced so the reminder does
// not become a thundering herd of its own. The purchase gate still opens at
// startsAt.

// Reminder is one buyer's subscription to one sale.
type Reminder struct {
	SaleID       string
	UserID       string
	SubscribedAt time.Time
	// ClaimedAt is when a remind run claimed it, SentAt when the send went
	// out; zero until then.
	ClaimedAt time.Time
	SentAt    time.Time
}

// ReminderClaimLease is how long a claim without a sent mark holds: past
// it, the run that claimed is presumed dead between its claim and its send,
// and the next run sends. A send takes at most notifyTimeout.
const ReminderClaimLease = time.Minute

// due reports whether a run at now should send to r.
func (r Reminder) due(now time.Time) bool {
	return r.SentAt.IsZero() && (r.ClaimedAt.IsZero() || r.ClaimedAt.Before(now.Add(-ReminderClaimLease)))
}

// ReminderMessage is what a Notifier delivers to one subscriber.
type ReminderMessage struct {
	SaleID   string    `json:"saleId"`
	UserID   string    `json:"userId"`
	SaleName string    `json:"saleName"`
	StartsAt time.Time `json:"startsAt"`
}

// Notifier delivers reminders: deployed, SNS; locally, an outbox file.
type Notifier interface {
	Notify(ctx context.Context, m ReminderMessage) error
}

var (
	// ErrSaleStarted answers a reminder for a sale that has started or
	// ended.
	ErrSaleStarted = errors.New("the sale has already started; there is nothing to remind you of")
	// ErrReminderClaimed means a remind run claimed the subscriber before,
	// or the subscription is gone.
	ErrReminderClaimed = errors.New("reminder already claimed or unsubscribed")
)

// Subscription is the answer to a subscribe.
type Subscription struct {
	// Created is false when the user had subscribed before.
	Created bool
	// RemindAt is when the next remind run goes, the one that will reach
	// this subscriber; zero when none is left (subscribed in the last
	// minute, after the last call).
	RemindAt time.Time
}

// Subscribe records the caller's wish to be reminded of a sale.
// Errors: ErrSaleNotFound, ErrSaleStarted, ErrUnavailable.
func (s *Service) Subscribe(ctx context.Context, saleID, userID string) (Subscription, error) {
	st, err := s.LookupSale(ctx, saleID)
	if err != nil {
		return Subscription{}, err
	}
	now := s.now()
	if !now.Before(st.StartsAt) {
		return Subscription{}, ErrSaleStarted
	}
	created, err := s.store.AddReminder(ctx, Reminder{SaleID: saleID, UserID: userID, SubscribedAt: now}, st.EndsAt)
	if err != nil {
		return Subscription{}, s.unavailable(err, "subscribe %s to %s", userID, saleID)
	}
	return Subscription{Created: created, RemindAt: s.nextRemind(st.Sale, now)}, nil
}

// nextRemind is the first remind run of a sale not yet due at now: a
// subscriber listed before it runs is reminded by it.
func (s *Service) nextRemind(sale Sale, now time.Time) time.Time {
	for _, sc := range SchedulesFor(sale, s.lead) {
		if sc.Job == JobRemind && now.Before(sc.At) {
			return sc.At
		}
	}
	return time.Time{}
}

// Unsubscribe deletes the caller's reminder; deleting one that does not
// exist is fine.
// Errors: ErrSaleNotFound, ErrUnavailable.
func (s *Service) Unsubscribe(ctx context.Context, saleID, userID string) error {
	if _, err := s.LookupSale(ctx, saleID); err != nil {
		return err
	}
	if err := s.store.DeleteReminder(ctx, saleID, userID); err != nil {
		return s.unavailable(err, "unsubscribe %s from %s", userID, saleID)
	}
	return nil
}

// ReminderPacing spreads a remind run's sends over time: the rate is the
// subscribers over Spread, at least MinRate and at most MaxRate a second.
type ReminderPacing struct {
	Spread           time.Duration
	MinRate, MaxRate float64
}

// DefaultReminderPacing spreads a run over two minutes, within the default
// lead, at 50 to 3,000 sends a second (SNS publishes thousands a second per
// account; the binding concern is buyers opening the app at once).
var DefaultReminderPacing = ReminderPacing{Spread: 2 * time.Minute, MinRate: 50, MaxRate: 3000}

// Rate is the sends per second for n subscribers.
func (p ReminderPacing) Rate(n int) float64 {
	r := float64(n) / p.Spread.Seconds()
	return math.Min(math.Max(r, p.MinRate), p.MaxRate)
}

// WithNotifier sets where reminders go and how fast.
func WithNotifier(n Notifier, p ReminderPacing) Option {
	return func(s *Service) { s.notifier, s.pacing = n, p }
}

// RemindStats is what one remind run did.
type RemindStats struct {
	Subscribers int `json:"subscribers"`
	Sent        int `json:"sent"`
	// Before counts subscribers another run had sent to, or is sending to.
	Before int `json:"alreadyNotified"`
	Failed int `json:"failed"`
}

// notifyTimeout bounds one send.
const notifyTimeout = 10 * time.Second

// SendReminders notifies every subscriber of a sale whom no run has
// notified yet. Each send is preceded by a conditional write that claims
// the subscriber and followed by one that marks them sent, so two runs at
// once never notify anyone twice. A send that fails gives its claim back;
// a claim whose run died before it sent lapses after ReminderClaimLease;
// either way the next run (a retry, the last call) sends. The window left
// is a crash between a send and its mark: that subscriber may be reminded
// twice (docs/design/preparation.md).
// Errors: ErrSaleNotFound, ErrUnavailable; an error when any send failed.
func (s *Service) SendReminders(ctx context.Context, saleID string) (RemindStats, error) {
	if s.notifier == nil {
		return RemindStats{}, errors.New("send reminders: no notifier configured")
	}
	st, err := s.store.Sale(ctx, saleID)
	if err != nil {
		return RemindStats{}, s.unavailable(err, "read sale %s", saleID)
	}
	if !s.now().Before(st.EndsAt) {
		// A late run (a retried or clamped schedule) has nothing left to
		// remind of. One after the opening still goes: the sale is live.
		s.log.InfoContext(ctx, "sale ended; no reminders sent", "sale", saleID)
		return RemindStats{}, nil
	}
	subs, err := s.store.Reminders(ctx, saleID)
	if err != nil {
		return RemindStats{}, s.unavailable(err, "list reminders of %s", saleID)
	}
	stats := RemindStats{Subscribers: len(subs)}
	var todo []Reminder
	now := s.now()
	for _, r := range subs {
		if r.due(now) {
			todo = append(todo, r)
		} else {
			stats.Before++
		}
	}
	perSecond := s.pacing.Rate(len(todo))
	limit := rate.NewLimiter(rate.Limit(perSecond), 1)
	// Enough workers to keep the pace with sends of up to 50 ms each.
	workers := min(max(int(math.Ceil(perSecond*0.05)), 1), 64, max(len(todo), 1))
	jobs := make(chan Reminder)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for r := range jobs {
				sent, before, err := s.remindOne(ctx, st.Sale, r)
				mu.Lock()
				switch {
				case err != nil:
					stats.Failed++
				case before:
					stats.Before++
				case sent:
					stats.Sent++
				}
				mu.Unlock()
			}
		})
	}
	var waitErr error
	for _, r := range todo {
		if waitErr = limit.Wait(ctx); waitErr != nil {
			break
		}
		jobs <- r
	}
	close(jobs)
	wg.Wait()
	s.log.InfoContext(ctx, "reminders sent", "sale", saleID, "subscribers", stats.Subscribers, "sent", stats.Sent,
		"alreadyNotified", stats.Before, "failed", stats.Failed, "perSecond", perSecond)
	if waitErr != nil {
		return stats, fmt.Errorf("send reminders of %s: %w", saleID, waitErr)
	}
	if stats.Failed > 0 {
		return stats, fmt.Errorf("send reminders of %s: %d of %d sends failed; run it again for them", saleID, stats.Failed, len(todo))
	}
	return stats, nil
}

// remindOne claims one subscriber, notifies them and marks them sent;
// before is true when another run had claimed them.
func (s *Service) remindOne(ctx context.Context, sale Sale, r Reminder) (sent, before bool, err error) {
	now := s.now()
	err = s.store.ClaimReminder(ctx, sale.ID, r.UserID, now, now.Add(-ReminderClaimLease))
	if errors.Is(err, ErrReminderClaimed) {
		return false, true, nil
	}
	if err != nil {
		s.log.ErrorContext(ctx, "claim reminder", "sale", sale.ID, "user", r.UserID, "err", err)
		return false, false, err
	}
	sendCtx, cancel := context.WithTimeout(ctx, notifyTimeout)
	defer cancel()
	err = s.notifier.Notify(sendCtx, ReminderMessage{SaleID: sale.ID, UserID: r.UserID, SaleName: sale.Name, StartsAt: sale.StartsAt})
	if err == nil {
		if merr := s.store.MarkReminderSent(context.WithoutCancel(ctx), sale.ID, r.UserID, s.now()); merr != nil {
			// Sent all the same; the claim lapses and a later run may
			// send again: the one duplicate window.
			s.log.ErrorContext(ctx, "mark reminder sent", "sale", sale.ID, "user", r.UserID, "err", merr)
		}
		return true, false, nil
	}
	s.log.ErrorContext(ctx, "notify", "sale", sale.ID, "user", r.UserID, "err", err)
	// Give the claim back so the next run tries again. Only a send that
	// timed out after the notifier accepted it goes out twice this way.
	if uerr := s.store.UnclaimReminder(context.WithoutCancel(ctx), sale.ID, r.UserID); uerr != nil {
		s.log.ErrorContext(ctx, "unclaim reminder", "sale", sale.ID, "user", r.UserID, "err", uerr)
	}
	return false, false, err
}
