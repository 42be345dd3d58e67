package testclock_test

import (
	"sync"
	"testing"
	"time"

	"flashsale/shared/local/testclock"
)

func TestClock(t *testing.T) {
	start := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	c := testclock.New(start)
	if got := c.Now(); !got.Equal(start) {
		t.Fatalf("Now() = %v, want %v", got, start)
	}
	if got := c.Now(); !got.Equal(start) {
		t.Errorf("Now() moved by itself to %v, want %v", got, start)
	}
	c.Advance(90 * time.Second)
	if got, want := c.Now(), start.Add(90*time.Second); !got.Equal(want) {
		t.Errorf("after Advance(90s): Now() = %v, want %v", got, want)
	}
	earlier := start.Add(-time.Hour)
	c.Set(earlier)
	if got := c.Now(); !got.Equal(earlier) {
		t.Errorf("after Set: Now() = %v, want %v", got, earlier)
	}
}

// TestClock_Concurrent advances and reads from many goroutines; under -race
// it fails if the clock is not safe for concurrent use.
func TestClock_Concurrent(t *testing.T) {
	start := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	c := testclock.New(start)
	now := c.Now // as a func() time.Time, the way services take it
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				c.Advance(time.Millisecond)
				_ = now()
			}
		})
	}
	wg.Wait()
	if got, want := c.Now(), start.Add(800*time.Millisecond); !got.Equal(want) {
		t.Errorf("after 800 × Advance(1ms): Now() = %v, want %v", got, want)
	}
}

func TestWall(t *testing.T) {
	c := testclock.Wall()
	before := time.Now().UTC()
	got := c.Now()
	if got.Before(before) || got.Location() != time.UTC {
		t.Fatalf("Now() = %v, want the wall clock in UTC, at or after %v", got, before)
	}
	// It moves by itself: wait for the wall clock to tick past got.
	for !c.Now().After(got) {
		time.Sleep(time.Millisecond)
	}
	c.Advance(3 * time.Minute)
	if got, floor := c.Now(), time.Now().UTC().Add(3*time.Minute-time.Second); got.Before(floor) {
		t.Errorf("after Advance(3m): Now() = %v, want at least %v", got, floor)
	}
	past := time.Now().UTC().Add(-time.Hour)
	c.Set(past)
	if got := c.Now(); got.Before(past) || got.After(past.Add(time.Minute)) {
		t.Errorf("after Set(%v): Now() = %v, want it to go on from there", past, got)
	}
}
