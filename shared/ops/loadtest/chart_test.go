package loadtest

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestWriteChart(t *testing.T) {
	r := Result{Mode: Open, Target: "http://127.0.0.1:3000", SaleID: "a<b>", Rate: 100,
		StartedAt: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC), Requests: 3}
	summarize(&r, []sample{
		{start: 0, latency: time.Millisecond, status: 202},
		{start: time.Second, latency: 2 * time.Millisecond, status: 410},
		{start: 2 * time.Second, latency: 3 * time.Millisecond, status: 429},
	}, 3*time.Second, nil)
	var buf bytes.Buffer
	if err := WriteChart(&buf, r); err != nil {
		t.Fatalf("WriteChart: %v", err)
	}
	html := buf.String()
	if got := strings.Count(html, "<svg"); got != 2 {
		t.Errorf("%d <svg> elements, want 2 (throughput and latency)", got)
	}
	if got := strings.Count(html, "<polyline"); got != 5 {
		t.Errorf("%d lines, want 5 (requests, accepted, rejected, p50, p99)", got)
	}
	// Self-contained: nothing is fetched when the page opens.
	for _, bad := range []string{"<script", "src=", "href=", "url(", "@import", "<link"} {
		if strings.Contains(html, bad) {
			t.Errorf("chart contains %q, want no external resources", bad)
		}
	}
	if strings.Contains(html, "a<b>") || !strings.Contains(html, "a&lt;b&gt;") {
		t.Error("sale ID a<b> is not HTML-escaped")
	}
	// Three one-second buckets give three points per line.
	if !strings.Contains(html, `points="60.0,`) {
		t.Error("no polyline starts at the plot's left edge (x=60)")
	}
}

func TestNiceCeil(t *testing.T) {
	tests := []struct {
		name    string
		in, out float64
	}{
		{"zero", 0, 1},
		{"one", 1, 1},
		{"just over one", 1.1, 2},
		{"three", 3, 5},
		{"seven", 7, 10},
		{"187", 187, 200},
		{"201", 201, 500},
		{"0.3", 0.3, 0.5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := niceCeil(tc.in); got != tc.out {
				t.Errorf("niceCeil(%v) = %v, want %v", tc.in, got, tc.out)
			}
		})
	}
}
