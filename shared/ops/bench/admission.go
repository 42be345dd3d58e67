package bench

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"flashsale/shared/admission"
)

// AdmissionCost is what the admission step costs, measured in-process.
type AdmissionCost struct {
	// VerifyChallenge and VerifyToken are testing.Benchmark results of
	// admission.Keys.Verify (a solved challenge: one SHA-256, one HMAC) and
	// admission.Keys.VerifyToken (reserve's check: one HMAC).
	VerifyChallenge, VerifyToken testing.BenchmarkResult
	// MaxNumber is the difficulty the solves ran at.
	MaxNumber int64
	// Solves are the times of fresh challenges solved one after another, as
	// a client does (admission.Solve), sorted.
	Solves []time.Duration
}

// SolveMedian is the median solve time.
func (a AdmissionCost) SolveMedian() time.Duration { return a.solveQuantile(0.5) }

// SolveP90 is the 90th percentile solve time.
func (a AdmissionCost) SolveP90() time.Duration { return a.solveQuantile(0.9) }

func (a AdmissionCost) solveQuantile(q float64) time.Duration {
	if len(a.Solves) == 0 {
		return 0
	}
	return a.Solves[int(q*float64(len(a.Solves)-1))]
}

// MeasureAdmission benchmarks challenge and token verification with
// testing.Benchmark, and times solves fresh challenges at maxNumber. The
// secret number is uniform in [0, maxNumber], so a solve's time is too:
// the median is about half the worst case.
func MeasureAdmission(ctx context.Context, maxNumber int64, solves int) (AdmissionCost, error) {
	keys, err := admission.NewKeys(admission.NewKeySet("bench"))
	if err != nil {
		return AdmissionCost{}, err
	}
	sub := admission.Subject{UserID: "bench-user", SaleID: "bench-sale"}
	expires := time.Now().Add(time.Hour)
	c, err := keys.NewChallenge(sub, maxNumber, expires)
	if err != nil {
		return AdmissionCost{}, err
	}
	n, err := admission.Solve(ctx, c)
	if err != nil {
		return AdmissionCost{}, err
	}
	token := keys.NewToken(sub, expires)
	now := time.Now()
	var failed error
	out := AdmissionCost{MaxNumber: maxNumber}
	out.VerifyChallenge = testing.Benchmark(func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := keys.Verify(c, n, sub, now); err != nil {
				failed = err
			}
		}
	})
	out.VerifyToken = testing.Benchmark(func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := keys.VerifyToken(token, sub, now); err != nil {
				failed = err
			}
		}
	})
	if failed != nil {
		return AdmissionCost{}, fmt.Errorf("verification failed during the benchmark: %w", failed)
	}
	for range solves {
		c, err := keys.NewChallenge(sub, maxNumber, expires)
		if err != nil {
			return AdmissionCost{}, err
		}
		start := time.Now()
		if _, err := admission.Solve(ctx, c); err != nil {
			return AdmissionCost{}, err
		}
		out.Solves = append(out.Solves, time.Since(start))
	}
	sort.Slice(out.Solves, func(i, j int) bool { return out.Solves[i] < out.Solves[j] })
	return out, nil
}
