// Package prepare runs the preparation phase on the local stack, where
// deployed it is EventBridge Scheduler, Lambda and SNS: the sales' schedules
// on the stack's own clock (Scheduler), the provisioned-concurrency changes
// the warm-up would make (Recorder), the reminders it would send (Outbox),
// and the control port that shows the first two (NewControl, Client).
package prepare

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"flashsale/shared/flashsale"
	"flashsale/shared/warmup"
)

// SchedulesFile is where the dev stack keeps its schedules, in the state
// folder, so a restarted `make dev` with a persisted --data folder still
// fires them.
const SchedulesFile = "schedules.json"

// Status is where a schedule stands.
type Status string

const (
	StatusPending Status = "pending"
	StatusRunning Status = "running"
	StatusFired   Status = "fired"
	// StatusFailed is retried on the next run, up to Config.MaxRetries.
	StatusFailed Status = "failed"
)

// DefaultMaxRetries is the deployed schedules' RetryPolicy
// (flashsale.ScheduleRetries). The targets are idempotent (the warm-up
// reconciles to a target, a remind run claims each subscriber), so
// retrying is safe; here the next tick is the retry, so the retries come a
// second apart rather than spread over an hour.
const DefaultMaxRetries = flashsale.ScheduleRetries

// Entry is one schedule and what became of it.
type Entry struct {
	flashsale.Schedule
	Status Status `json:"status"`
	// FiredAt is when the last attempt started, on the stack's clock.
	FiredAt *time.Time `json:"firedAt,omitempty"`
	// Attempts counts the runs, retries included.
	Attempts int `json:"attempts,omitempty"`
	// Result is what the target answered: a warmup.Target for warm-up and
	// cool-down, a flashsale.RemindStats for remind. A remind run that
	// failed halfway has both a result and an error.
	Result json.RawMessage `json:"result,omitempty"`
	Error  string          `json:"error,omitempty"`
	// GaveUp means it failed after MaxRetries retries and runs no more.
	GaveUp bool `json:"gaveUp,omitempty"`
}

// Outcome says in a few words what the last run did, e.g. "provisioned 12
// (a 6, b 6)" or "sent 3, 2 notified before".
func (e Entry) Outcome() string {
	var parts []string
	if len(e.Result) > 0 {
		switch e.Job {
		case flashsale.JobWarmUp, flashsale.JobCoolDown:
			var t warmup.Target
			if json.Unmarshal(e.Result, &t) == nil {
				s := fmt.Sprintf("provisioned %d", t.Total)
				var shares []string
				for _, st := range t.Sales {
					shares = append(shares, fmt.Sprintf("%s %d", st.SaleID, st.Concurrency))
				}
				if len(shares) > 0 {
					s += " (" + strings.Join(shares, ", ") + ")"
				}
				if t.Capped {
					s += ", capped"
				}
				parts = append(parts, s)
			}
		case flashsale.JobRemind:
			var st flashsale.RemindStats
			if json.Unmarshal(e.Result, &st) == nil {
				parts = append(parts, fmt.Sprintf("sent %d of %d, %d notified before, %d failed", st.Sent, st.Subscribers, st.Before, st.Failed))
			}
		}
	}
	if e.Error != "" {
		parts = append(parts, "error: "+e.Error)
	}
	if e.GaveUp {
		parts = append(parts, fmt.Sprintf("gave up after %d attempts", e.Attempts))
	}
	return strings.Join(parts, "; ")
}

// Targets are what fired schedules call: the app's WarmUp (for warm-up and
// cool-down) and Remind, as the deployed schedules invoke the warm-up and
// notifier functions.
type Targets struct {
	WarmUp func(context.Context, flashsale.Schedule) (warmup.Target, error)
	Remind func(context.Context, flashsale.Schedule) (flashsale.RemindStats, error)
}

// Config sets up a Scheduler.
type Config struct {
	// Now is the clock schedules are due by; nil means time.Now in UTC.
	Now func() time.Time
	// Path is the file the schedules persist in; "" keeps them in memory.
	Path string
	// MaxRetries bounds the retries of a failed schedule; 0 means
	// DefaultMaxRetries, below 0 none.
	MaxRetries int
	// Log receives a line per run; nil means slog.Default().
	Log *slog.Logger
}

// Scheduler is the local flashsale.Scheduler: it keeps schedules by name and
// fires those that are due on its clock when told (Tick, RunDue). It is safe
// for concurrent use.
type Scheduler struct {
	cfg Config

	mu      sync.Mutex
	entries map[string]*entry
	targets *Targets
	runs    sync.WaitGroup

	fileMu sync.Mutex // serialises writes of Path, taken before mu
	puts   atomic.Int64
}

// Puts counts the calls to Put, as CloudTrail would count a deployed
// stack's CreateSchedule calls: tests check that a re-import puts nothing.
func (s *Scheduler) Puts() int64 { return s.puts.Load() }

type entry struct {
	Entry
	// gen changes when Put redefines the schedule, so a late result of
	// the old definition is dropped.
	gen int
	// done is closed when the attempt in flight ends; nil when none runs.
	done chan struct{}
}

// New returns a Scheduler with the schedules persisted at c.Path, if any.
// A schedule the last process left running counts as failed: the next run
// retries it.
func New(c Config) (*Scheduler, error) {
	if c.Now == nil {
		c.Now = func() time.Time { return time.Now().UTC() }
	}
	if c.MaxRetries == 0 {
		c.MaxRetries = DefaultMaxRetries
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	s := &Scheduler{cfg: c, entries: map[string]*entry{}}
	if c.Path == "" {
		return s, nil
	}
	b, err := os.ReadFile(c.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read schedules: %w", err)
	}
	var saved []Entry
	if err := json.Unmarshal(b, &saved); err != nil {
		return nil, fmt.Errorf("read schedules from %s (delete it to start afresh): %w", c.Path, err)
	}
	for _, e := range saved {
		if e.Status == StatusRunning {
			e.Status, e.Error = StatusFailed, "interrupted: the stack stopped during this run"
		}
		s.entries[e.Name] = &entry{Entry: e}
	}
	return s, nil
}

// Bind sets the targets; until then nothing fires.
func (s *Scheduler) Bind(t Targets) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.targets = &t
}

// Put creates or replaces each schedule by name. Putting a schedule again
// with the same sale, job and time keeps what became of it: deployed, a
// completed schedule is deleted and would fire again, but its target is
// idempotent, so keeping the record loses nothing but a repeat. A changed
// definition starts over as pending.
// Errors: an empty name; the schedules could not be persisted (they are
// kept in memory and fire all the same).
func (s *Scheduler) Put(_ context.Context, schedules []flashsale.Schedule) error {
	s.puts.Add(1)
	for _, sc := range schedules {
		if sc.Name == "" {
			return fmt.Errorf("put schedule of sale %s: empty name", sc.SaleID)
		}
	}
	s.mu.Lock()
	changed := false
	for _, sc := range schedules {
		old := s.entries[sc.Name]
		if old != nil && old.SaleID == sc.SaleID && old.Job == sc.Job && old.At.Equal(sc.At) {
			continue
		}
		gen := 0
		if old != nil {
			gen = old.gen + 1
		}
		sc.At = sc.At.UTC()
		s.entries[sc.Name] = &entry{Entry: Entry{Schedule: sc, Status: StatusPending}, gen: gen}
		changed = true
	}
	s.mu.Unlock()
	if !changed {
		return nil
	}
	return s.persist()
}

// Entries lists every schedule by time, then name.
func (s *Scheduler) Entries() []Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.snapshot()
}

func (s *Scheduler) snapshot() []Entry {
	out := make([]Entry, 0, len(s.entries))
	for _, e := range s.entries {
		out = append(out, e.Entry)
	}
	slices.SortFunc(out, func(a, b Entry) int {
		if c := a.At.Compare(b.At); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out
}

// Tick starts every due schedule and returns without waiting for them: a
// long remind run must not hold back another sale's warm-up. Due means
// pending at or after its time, or failed with retries left.
func (s *Scheduler) Tick(ctx context.Context) { s.fireDue(ctx) }

// RunDue fires every due schedule and waits until they, and any due one
// already in flight, have finished; it returns them as they ended.
// Errors: no targets bound; ctx ended while waiting. A schedule that
// failed is not an error here: its Entry says so.
func (s *Scheduler) RunDue(ctx context.Context) ([]Entry, error) {
	names, waits, err := s.fireDue(ctx)
	if err != nil {
		return nil, err
	}
	for _, w := range waits {
		select {
		case <-w:
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for schedules: %w", ctx.Err())
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Entry, 0, len(names))
	for _, n := range names {
		if e := s.entries[n]; e != nil {
			out = append(out, e.Entry)
		}
	}
	return out, nil
}

// Wait blocks until every run in flight has ended (Close of the stack, after
// cancelling the context Tick ran on).
func (s *Scheduler) Wait() { s.runs.Wait() }

// fireDue starts the due schedules and returns the names of those and of
// the due ones in flight, with a channel for each that closes when it ends.
func (s *Scheduler) fireDue(ctx context.Context) (names []string, waits []chan struct{}, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.targets == nil {
		return nil, nil, errors.New("run schedules: no targets bound")
	}
	now := s.cfg.Now()
	for _, e := range s.entries {
		if e.At.After(now) {
			continue
		}
		switch {
		case e.done != nil:
		case e.Status == StatusPending, e.Status == StatusFailed && !e.GaveUp:
			s.launch(ctx, e, now)
		default:
			continue
		}
		names, waits = append(names, e.Name), append(waits, e.done)
	}
	slices.Sort(names)
	return names, waits, nil
}

// launch runs one attempt of e in the background; s.mu is held.
func (s *Scheduler) launch(ctx context.Context, e *entry, now time.Time) {
	done := make(chan struct{})
	e.done, e.Status, e.FiredAt = done, StatusRunning, &now
	e.Attempts++
	sc, gen, t := e.Schedule, e.gen, *s.targets
	s.runs.Go(func() {
		defer close(done) // after finish, so a waiter sees the result
		result, err := run(ctx, t, sc)
		s.finish(sc.Name, gen, result, err)
	})
}

// Invoke runs a schedule's target at once, outside the list, as `aws lambda
// invoke` would run the warm-up or notifier function with that input
// (`flashsale invoke`). The targets are idempotent, so it may overlap a
// scheduled run.
func (s *Scheduler) Invoke(ctx context.Context, sc flashsale.Schedule) (any, error) {
	s.mu.Lock()
	t := s.targets
	s.mu.Unlock()
	if t == nil {
		return nil, errors.New("no targets bound yet")
	}
	return run(ctx, *t, sc)
}

func run(ctx context.Context, t Targets, sc flashsale.Schedule) (any, error) {
	switch sc.Job {
	case flashsale.JobWarmUp, flashsale.JobCoolDown:
		if t.WarmUp == nil {
			return nil, errors.New("no warm-up target")
		}
		return t.WarmUp(ctx, sc)
	case flashsale.JobRemind:
		if t.Remind == nil {
			return nil, errors.New("no remind target")
		}
		return t.Remind(ctx, sc)
	default:
		return nil, fmt.Errorf("unknown job %q", sc.Job)
	}
}

// finish records an attempt's outcome and persists it.
func (s *Scheduler) finish(name string, gen int, result any, err error) {
	s.mu.Lock()
	e := s.entries[name]
	if e == nil || e.gen != gen {
		s.mu.Unlock()
		s.cfg.Log.Info("schedule redefined while it ran; its result is dropped", "schedule", name)
		return
	}
	e.done = nil
	e.Result, e.Error = nil, ""
	if result != nil {
		if b, merr := json.Marshal(result); merr == nil {
			e.Result = b
		}
	}
	if err != nil {
		e.Status, e.Error = StatusFailed, err.Error()
		e.GaveUp = s.cfg.MaxRetries < 0 || e.Attempts > s.cfg.MaxRetries
	} else {
		e.Status = StatusFired
	}
	done := e.Entry
	s.mu.Unlock()

	if err != nil {
		s.cfg.Log.Error("schedule failed", "schedule", name, "sale", done.SaleID, "job", done.Job,
			"attempt", done.Attempts, "retry", !done.GaveUp, "err", err)
	} else {
		s.cfg.Log.Info("schedule fired", "schedule", name, "sale", done.SaleID, "job", done.Job, "outcome", done.Outcome())
	}
	if perr := s.persist(); perr != nil {
		s.cfg.Log.Error("persist schedules", "err", perr)
	}
}

// DropSales deletes the schedules of sales that exist no more, e.g. after a
// restart on an in-memory DynamoDB Local whose sales went with it; they
// would only fail. It returns how many it dropped.
func (s *Scheduler) DropSales(ctx context.Context, exists func(ctx context.Context, saleID string) (bool, error)) (int, error) {
	s.mu.Lock()
	sales := map[string]bool{}
	for _, e := range s.entries {
		sales[e.SaleID] = true
	}
	s.mu.Unlock()
	var gone []string
	for id := range sales {
		ok, err := exists(ctx, id)
		if err != nil {
			return 0, fmt.Errorf("check sale %s of a persisted schedule: %w", id, err)
		}
		if !ok {
			gone = append(gone, id)
		}
	}
	if len(gone) == 0 {
		return 0, nil
	}
	s.mu.Lock()
	n := 0
	for name, e := range s.entries {
		if slices.Contains(gone, e.SaleID) && e.done == nil {
			delete(s.entries, name)
			n++
		}
	}
	s.mu.Unlock()
	return n, s.persist()
}

// persist writes every schedule to Path through a temporary file and a
// rename, so a crash never leaves half a list.
func (s *Scheduler) persist() error {
	if s.cfg.Path == "" {
		return nil
	}
	s.fileMu.Lock()
	defer s.fileMu.Unlock()
	// The snapshot under fileMu: a later snapshot is never overwritten by
	// an earlier one.
	s.mu.Lock()
	all := s.snapshot()
	s.mu.Unlock()
	b, err := json.MarshalIndent(all, "", "  ")
	if err != nil {
		return fmt.Errorf("encode schedules: %w", err)
	}
	tmp := s.cfg.Path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("persist schedules: %w", err)
	}
	if err := os.Rename(tmp, s.cfg.Path); err != nil {
		return fmt.Errorf("persist schedules: %w", err)
	}
	return nil
}
