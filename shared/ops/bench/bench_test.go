package bench_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"flashsale/shared/local/testenv"
	"flashsale/shared/ops/bench"
)

func TestMedian(t *testing.T) {
	tests := []struct {
		name string
		in   []float64
		want float64
	}{
		{"odd", []float64{3, 1, 2}, 2},
		{"even", []float64{4, 1, 3, 2}, 2.5},
		{"one", []float64{7}, 7},
		{"empty", nil, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := bench.Median(tc.in); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// TestInitTime builds a tiny Lambda and checks that its init is measured
// (it sleeps 200 ms before starting) and that a binary that exits early is
// reported.
func TestInitTime(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	os.WriteFile(src, []byte(`package main

import (
	"context"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	if os.Getenv("EXIT_EARLY") != "" {
		os.Exit(3)
	}
	time.Sleep(200 * time.Millisecond)
	lambda.Start(func(context.Context) error { return nil })
}
`), 0o644)
	bin := filepath.Join(dir, "bootstrap")
	build := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", bin, src)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	d, err := bench.InitTime(context.Background(), bin, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d < 200*time.Millisecond || d > 10*time.Second {
		t.Errorf("init %v, want at least the 200 ms the binary sleeps", d)
	}
	if _, err := bench.InitTime(context.Background(), bin, []string{"EXIT_EARLY=1"}); err == nil {
		t.Error("a bootstrap that exits: got no error")
	}
}

func TestCeilings_OnDynamoDBLocal(t *testing.T) {
	env := testenv.Require(t)
	ctx := context.Background()
	up, err := bench.Ceiling(ctx, env.DynamoDB, env.Settings.SalesTable, 4, 300*time.Millisecond)
	if err != nil || up <= 0 {
		t.Errorf("update ceiling: got %v/s, %v; want a positive rate", up, err)
	}
	tx, err := bench.TransactCeiling(ctx, env.DynamoDB, env.Settings.SalesTable, 4, 300*time.Millisecond)
	if err != nil || tx <= 0 {
		t.Errorf("transaction ceiling: got %v/s, %v; want a positive rate", tx, err)
	}
	// A second probe must not trip over the first one's items.
	if _, err := bench.TransactCeiling(ctx, env.DynamoDB, env.Settings.SalesTable, 4, 100*time.Millisecond); err != nil {
		t.Errorf("second transaction probe: %v", err)
	}
}

func TestMeasureAdmission(t *testing.T) {
	a, err := bench.MeasureAdmission(context.Background(), 2000, 21)
	if err != nil {
		t.Fatal(err)
	}
	if a.VerifyChallenge.N == 0 || a.VerifyToken.N == 0 || a.VerifyToken.NsPerOp() <= 0 {
		t.Errorf("benchmarks ran %d and %d times (%d ns/op), want both to run", a.VerifyChallenge.N, a.VerifyToken.N, a.VerifyToken.NsPerOp())
	}
	if len(a.Solves) != 21 || a.SolveMedian() <= 0 || a.SolveMedian() > a.SolveP90() || a.SolveP90() > a.Solves[20] {
		t.Errorf("solves %v: median %v, p90 %v; want 21 sorted times", a.Solves, a.SolveMedian(), a.SolveP90())
	}
}
