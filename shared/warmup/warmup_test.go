package warmup_test

import (
	"testing"
	"time"

	"flashsale/shared/flashsale"
	"flashsale/shared/warmup"
)

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func sale(id string, start, end time.Time, shards int) flashsale.SaleState {
	return flashsale.SaleState{Sale: flashsale.Sale{ID: id, StartsAt: start, EndsAt: end, Shards: shards, Stock: 1000}}
}

func TestTargetAt_OverlappingSalesAddUp(t *testing.T) {
	a := sale("a", t0, t0.Add(time.Hour), 2)
	b := sale("b", t0.Add(30*time.Minute), t0.Add(2*time.Hour), 5)
	pa, pb := warmup.ForSale(a.Sale), warmup.ForSale(b.Sale)
	if pa <= 0 || pb <= pa {
		t.Fatalf("ForSale: a %d, b %d; want 0 < a < b (b has more shards)", pa, pb)
	}
	c := warmup.Config{Lead: 10 * time.Minute, Baseline: 3}
	none := flashsale.Schedule{}
	for _, tc := range []struct {
		at   time.Time
		want int
	}{
		{t0.Add(-11 * time.Minute), 3},
		{t0.Add(-10 * time.Minute), 3 + pa},
		{t0.Add(25 * time.Minute), 3 + pa + pb},
		{t0.Add(time.Hour), 3 + pb},
		{t0.Add(2 * time.Hour), 3},
	} {
		if got := warmup.TargetAt([]flashsale.SaleState{a, b}, tc.at, c, none); got.Total != tc.want {
			t.Errorf("at %s: target %+v; want total %d", tc.at.Format(time.TimeOnly), got, tc.want)
		}
	}
	c.Ceiling = 3 + pa
	if got := warmup.TargetAt([]flashsale.SaleState{a, b}, t0.Add(25*time.Minute), c, none); got.Total != c.Ceiling || !got.Capped {
		t.Errorf("over the ceiling: %+v; want %d, capped", got, c.Ceiling)
	}
}

// A schedule fires to the second, a sale may start at .5 s, and the lead
// may have changed since: the warm-up still counts its sale, and the
// cool-down never does.
func TestTargetAt_FiredSaleCountsByItsJob(t *testing.T) {
	s := sale("s", t0.Add(500*time.Millisecond), t0.Add(time.Hour+500*time.Millisecond), 2)
	c := warmup.Config{Lead: 10 * time.Minute}
	p := warmup.ForSale(s.Sale)
	warm := flashsale.Schedule{Name: "s.warm-up", SaleID: "s", Job: flashsale.JobWarmUp}
	if got := warmup.TargetAt([]flashsale.SaleState{s}, t0.Add(-10*time.Minute), c, warm); got.Total != p {
		t.Errorf("warm-up at startsAt − lead rounded down: %d; want %d", got.Total, p)
	}
	c5 := warmup.Config{Lead: 5 * time.Minute} // the lead shrank after the sale was created
	if got := warmup.TargetAt([]flashsale.SaleState{s}, t0.Add(-10*time.Minute), c5, warm); got.Total != p {
		t.Errorf("warm-up under a shorter lead: %d; want %d", got.Total, p)
	}
	cool := flashsale.Schedule{Name: "s.cool-down", SaleID: "s", Job: flashsale.JobCoolDown}
	if got := warmup.TargetAt([]flashsale.SaleState{s}, t0.Add(time.Hour), c, cool); got.Total != 0 {
		t.Errorf("cool-down at endsAt rounded down: %d; want 0", got.Total)
	}
	if got := warmup.TargetAt([]flashsale.SaleState{s}, t0.Add(2*time.Hour), c, warm); got.Total != 0 {
		t.Errorf("a warm-up retried after the sale ended: %d; want 0", got.Total)
	}
}
