package prepare

import (
	"context"
	"slices"
	"sync"
	"time"
)

// Change is one provisioned-concurrency change the warm-up made.
type Change struct {
	At   time.Time `json:"at"`
	From int       `json:"from"`
	To   int       `json:"to"`
	// Why is the schedule that fired, e.g. "spring-1.warm-up".
	Why string `json:"why"`
}

// Provisioned is the reserve function's provisioned concurrency as the
// local stack would have set it.
type Provisioned struct {
	Baseline int      `json:"baseline"`
	Current  int      `json:"current"`
	Changes  []Change `json:"changes"`
	// Calls counts every SetProvisioned, those that changed nothing too.
	Calls int `json:"calls"`
}

// Recorder is the local warmup.Provisioner: there is no Lambda alias to
// provision, so it records what the warm-up would set. It is safe for
// concurrent use.
type Recorder struct {
	now func() time.Time
	mu  sync.Mutex
	p   Provisioned
}

// NewRecorder starts at baseline (0 locally, as the dev stage provisions
// nothing outside a sale) on the clock now (nil: time.Now in UTC).
func NewRecorder(baseline int, now func() time.Time) *Recorder {
	if now == nil {
		now = func() time.Time { return time.Now().UTC() }
	}
	return &Recorder{now: now, p: Provisioned{Baseline: baseline, Current: baseline, Changes: []Change{}}}
}

// SetProvisioned records a change to n. Setting the value it already has
// is counted but not listed: deployed it changes nothing either.
func (r *Recorder) SetProvisioned(_ context.Context, n int, why string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.p.Calls++
	if n == r.p.Current {
		return nil
	}
	r.p.Changes = append(r.p.Changes, Change{At: r.now(), From: r.p.Current, To: n, Why: why})
	r.p.Current = n
	return nil
}

// Provisioned returns the current value and every change so far.
func (r *Recorder) Provisioned() Provisioned {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.p
	p.Changes = slices.Clone(r.p.Changes)
	return p
}
