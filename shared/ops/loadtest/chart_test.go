package loadtest

import (
	"bytes"
	"regexp"
	"strconv"
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
	if got := strings.Count(html, "<polyline"); got != 7 {
		t.Errorf("%d lines, want 7 (requests, accepted, other answers, timeouts, errors, p50, p99)", got)
	}
	if !strings.Contains(html, "202: 1, 410: 1, 429: 1") {
		t.Error("chart lacks the status codes")
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

// TestWriteChart_NoAnswersArePlotted: a run where nearly every request timed
// out or could not connect draws those as lines above zero, and says so.
func TestWriteChart_NoAnswersArePlotted(t *testing.T) {
	r := Result{Mode: Open, Target: "http://127.0.0.1:3000", SaleID: "s1", TimeoutSeconds: 10}
	var samples []sample
	for i := range 50 {
		s := sample{start: time.Duration(i) * 40 * time.Millisecond, latency: 10 * time.Second, timeout: i%5 != 0}
		if i == 0 {
			s = sample{latency: time.Millisecond, status: 202}
		}
		samples = append(samples, s)
	}
	summarize(&r, samples, 12*time.Second, map[string]int64{"dial tcp: connection refused": 9})
	var buf bytes.Buffer
	if err := WriteChart(&buf, r); err != nil {
		t.Fatalf("WriteChart: %v", err)
	}
	html := buf.String()
	for _, name := range []string{"no answer: timeout", "no answer: conn. error"} {
		m := regexp.MustCompile(`points="([^"]*)"><title>` + name + `</title>`).FindStringSubmatch(html)
		if m == nil {
			t.Errorf("no line named %q", name)
			continue
		}
		// The plot's floor is y = chartH - padB; a line above it has a smaller y.
		above := false
		for _, pt := range strings.Fields(m[1]) {
			y, err := strconv.ParseFloat(pt[strings.Index(pt, ",")+1:], 64)
			if err != nil {
				t.Fatalf("point %q: %v", pt, err)
			}
			above = above || y < chartH-padB
		}
		if !above {
			t.Errorf("line %q stays at zero (%s), want it to show the failures", name, m[1])
		}
	}
	if want := "No answer: 40 client timeouts (after 10 s), 9 connection errors"; !strings.Contains(html, want) {
		t.Errorf("chart lacks %q", want)
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
