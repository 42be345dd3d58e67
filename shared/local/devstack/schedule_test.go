package devstack

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"
)

func TestSettleEvery_RunsOnEachTickUntilCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	calls := make(chan struct{}, 10)
	done := make(chan struct{})
	go func() {
		settleEvery(ctx, 10*time.Millisecond, func(context.Context) error {
			calls <- struct{}{}
			return errors.New("a failed run must not stop the schedule")
		}, slog.New(slog.DiscardHandler))
		close(done)
	}()
	for i := range 3 {
		select {
		case <-calls:
		case <-time.After(5 * time.Second):
			t.Fatalf("settlement ran %d times in 5 s, want 3", i)
		}
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("settleEvery still running 5 s after cancel, want it to return")
	}
}
