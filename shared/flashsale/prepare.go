package flashsale

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"
)

// The preparation phase (DESIGN.md, "The problem", 1). Creating a sale
// schedules its jobs, so warming up is never left to an operator:
//
//	startsAt − lead   warm-up: raise the reserve function's provisioned
//	                  concurrency; remind: notify the subscribers
//	startsAt − 1 min  remind again (last call), for those who subscribed
//	                  after the first run; each subscriber is notified once
//	endsAt            cool-down: provisioned concurrency back to baseline
//
// Deployed, the jobs are EventBridge Scheduler one-time schedules; locally
// the dev stack runs the same list on its own clock.

// Job is what a schedule does when it fires.
type Job string

const (
	JobWarmUp   Job = "warm-up"
	JobRemind   Job = "remind"
	JobCoolDown Job = "cool-down"
)

// DefaultLead is how long before a sale opens its warm-up and reminders run:
// long enough for provisioned concurrency to come up (AWS allocates it in
// a few minutes) and for a buyer to open the app.
const DefaultLead = 10 * time.Minute

// LastCall is how long before the opening the second reminder run goes.
const LastCall = time.Minute

// Schedule is one job of one sale at one time.
// Its JSON is the input a deployed schedule hands its target.
type Schedule struct {
	// Name is unique per sale and job, and the same every time the sale's
	// schedules are put: putting one again replaces it instead of adding a
	// second.
	Name   string    `json:"name"`
	SaleID string    `json:"saleId"`
	Job    Job       `json:"job"`
	At     time.Time `json:"at"`
}

// Scheduler keeps a sale's preparation jobs: deployed, EventBridge Scheduler;
// locally, the dev stack's clock.
type Scheduler interface {
	// Put creates or replaces each schedule by its name. A schedule whose
	// time has passed fires as soon as it can.
	Put(ctx context.Context, schedules []Schedule) error
}

// A fired schedule whose target fails is retried up to ScheduleRetries
// times within ScheduleRetryWindow. A warm-up delivered late still warms
// the rest of the sale, a cool-down late still stops paying, and a late
// remind run checks for itself what is left to send, so an hour is worth
// it. Deployed it is the schedules' RetryPolicy; locally the dev stack's.
const (
	ScheduleRetries     = 20
	ScheduleRetryWindow = time.Hour
)

// MaxScheduleName is EventBridge Scheduler's limit on a schedule name.
const MaxScheduleName = 64

// ScheduleName names a sale's job: "<saleId>.<job>", or, when that would
// exceed MaxScheduleName, "<start of saleId>.<hash of saleId>.<job>". Sale
// IDs hold no '.', so a shortened name (two dots) never equals a whole one
// (one dot), and the name still says which sale and job it is.
func ScheduleName(saleID, suffix string) string {
	name := saleID + "." + suffix
	if len(name) <= MaxScheduleName {
		return name
	}
	sum := sha256.Sum256([]byte(saleID))
	tag := hex.EncodeToString(sum[:4])
	keep := MaxScheduleName - len(tag) - 2 - len(suffix)
	return saleID[:keep] + "." + tag + "." + suffix
}

// SchedulesFor lists a sale's preparation schedules for a lead time, in
// the order they fire. The last call is left out when the lead leaves no
// room for it.
func SchedulesFor(s Sale, lead time.Duration) []Schedule {
	early := s.StartsAt.Add(-lead)
	out := []Schedule{
		{Name: ScheduleName(s.ID, string(JobWarmUp)), SaleID: s.ID, Job: JobWarmUp, At: early},
		{Name: ScheduleName(s.ID, string(JobRemind)), SaleID: s.ID, Job: JobRemind, At: early},
	}
	if lead > LastCall {
		out = append(out, Schedule{Name: ScheduleName(s.ID, "last-call"), SaleID: s.ID, Job: JobRemind, At: s.StartsAt.Add(-LastCall)})
	}
	return append(out, Schedule{Name: ScheduleName(s.ID, string(JobCoolDown)), SaleID: s.ID, Job: JobCoolDown, At: s.EndsAt})
}

// ErrNotScheduled means a sale was stored but its preparation jobs were
// not: the same request again schedules them (and answers sale_exists).
var ErrNotScheduled = errors.New("the sale was created but its warm-up and reminders could not be scheduled; send the same request again to schedule them")

// WithScheduler makes CreateSale schedule each new sale's preparation jobs.
func WithScheduler(sc Scheduler) Option { return func(s *Service) { s.scheduler = sc } }

// WithLead sets how long before a sale opens its warm-up and reminders run
// (default DefaultLead). Every function that schedules, reminds or answers
// a subscription must be given the same.
func WithLead(lead time.Duration) Option {
	return func(s *Service) {
		if lead > 0 {
			s.lead = lead
		}
	}
}

// schedule puts a sale's preparation schedules, if the service has a
// scheduler.
func (s *Service) schedule(ctx context.Context, sale Sale) error {
	if s.scheduler == nil {
		return nil
	}
	if err := s.scheduler.Put(ctx, SchedulesFor(sale, s.lead)); err != nil {
		s.log.Error("schedule preparation jobs", "sale", sale.ID, "err", err)
		return ErrNotScheduled
	}
	if err := s.store.MarkScheduled(ctx, sale.ID); err != nil {
		// The retry puts them again: a schedule that fired in between
		// fires again, which its target tolerates (each is idempotent).
		s.log.Error("record that a sale is scheduled", "sale", sale.ID, "err", err)
		return ErrNotScheduled
	}
	return nil
}

// SameDefinition reports whether two sales were defined alike: every field
// an admin gives, with times compared as instants.
func (s Sale) SameDefinition(o Sale) bool {
	a, b := s.Admission, o.Admission
	return s.ID == o.ID && s.Name == o.Name && s.PriceCents == o.PriceCents && s.Currency == o.Currency &&
		s.StartsAt.Equal(o.StartsAt) && s.EndsAt.Equal(o.EndsAt) && s.Stock == o.Stock &&
		s.PerUserLimit == o.PerUserLimit && s.PaymentWindow == o.PaymentWindow && s.Shards == o.Shards &&
		a.PurchaseToken == b.PurchaseToken && a.ChallengeMaxNumber == b.ChallengeMaxNumber &&
		slices.Equal(a.Groups, b.Groups) && a.MinAccountAgeDays == b.MinAccountAgeDays && a.Allowlist == b.Allowlist
}

// Preload reads every sale that opens within the next window, or is open
// now, into the container's cache, so the first purchase of the burst
// makes no sale read. A Lambda container calls it during init: provisioned
// containers start at the warm-up, minutes before the opening.
//
// A preloaded view counts as fresh until the sale opens (then for the usual
// TTL): before the opening no purchase can change its counters, and a
// restock only adds stock, which a stale "not sold out" view never hides.
func (s *Service) Preload(ctx context.Context, window time.Duration) (int, error) {
	sales, err := s.store.ListSales(ctx)
	if err != nil {
		return 0, fmt.Errorf("preload sales: %w", err)
	}
	now := s.now()
	n := 0
	for _, st := range sales {
		if !now.Before(st.EndsAt) || st.StartsAt.Sub(now) > window {
			continue
		}
		e := &saleEntry{ready: make(chan struct{}), loaded: true, state: st, fetchedAt: later(now, st.StartsAt)}
		close(e.ready)
		s.salesMu.Lock()
		s.sales[st.ID] = e
		s.salesMu.Unlock()
		n++
	}
	return n, nil
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
