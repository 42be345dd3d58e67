package reportfmt_test

import (
	"bytes"
	"html"
	"regexp"
	"strings"
	"testing"
	"time"

	"flashsale/shared/flashsale"
	"flashsale/shared/reportfmt"
)

func TestWriteHTML(t *testing.T) {
	unbalanced := sample()
	unbalanced.Balanced = false
	unbalanced.Units.Available = 990 // 6 units unexplained
	unbalanced.Units.Restocked = 4
	hostile := sample()
	hostile.Orders[0].UserID = `<script>alert(1)</script>`
	hostile.Adjustments[0].Detail = `</td><img src="http://evil.example/x.png">`

	tests := []struct {
		name   string
		report flashsale.Report
		want   []string
		absent []string
	}{
		{
			name:   "balanced arithmetic",
			report: sample(),
			want: []string{
				"Loaded 1000 = available 996 + reserved 2 + paid 2 + in limbo 0 = 1000",
				"Restocked 1 = expired 1 + cancelled 0 = 1",
				"Orders per minute (UTC)", "Accepted (3)", "Paid (1)", "Expired (1)",
				`data-figure="revenueCents">39.98 USD<`, `data-figure="refunds.0.amountCents">19.99 USD<`,
				"@page { size: A4;",
			},
			absent: []string{"Unexplained", "≠"},
		},
		{
			name:   "unbalanced says so",
			report: unbalanced,
			want: []string{
				"Loaded 1000 ≠ available 990 + reserved 2 + paid 2 + in limbo 0 = 994",
				"Restocked 4 ≠ expired 1 + cancelled 0 = 1",
				"− Unexplained", `class="no">no<`,
			},
		},
		{
			name:   "report text is escaped",
			report: hostile,
			want:   []string{"&lt;/td&gt;&lt;img src=&#34;http://evil.example/x.png&#34;&gt;"},
			absent: []string{"<script", "<img", "evil.example/x.png\""},
		},
		{
			name:   "no orders",
			report: flashsale.Report{SaleID: "empty", Currency: "USD"},
			want:   []string{"no orders", "No refunds.", "No adjustments."},
			absent: []string{"<polyline"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := reportfmt.WriteHTML(&buf, tc.report); err != nil {
				t.Fatalf("WriteHTML: %v", err)
			}
			page := buf.String()
			text := html.UnescapeString(page)
			for _, s := range tc.want {
				if !strings.Contains(page, s) && !strings.Contains(text, s) {
					t.Errorf("page has no %q", s)
				}
			}
			for _, s := range tc.absent {
				if strings.Contains(page, s) {
					t.Errorf("page has %q, want none", s)
				}
			}
			selfContained(t, page)
		})
	}
}

// selfContained checks the page names nothing to fetch: no script, no
// stylesheet, no tag with a URL but data:.
func selfContained(tb testing.TB, page string) {
	tb.Helper()
	for _, re := range []*regexp.Regexp{
		regexp.MustCompile(`<script`), regexp.MustCompile(`@import|url\(`),
		regexp.MustCompile(`<[a-z]+[^>]*\s(src|href)="(https?:|//|/|\.)`),
	} {
		if m := re.FindString(page); m != "" {
			tb.Errorf("page has %q: it must load nothing", m)
		}
	}
}

// TestWriteHTML_WideBuckets: a sale over hours is drawn in wider buckets,
// the title says so, and the chart stays at most MaxBuckets points.
func TestWriteHTML_WideBuckets(t *testing.T) {
	tests := []struct {
		name      string
		span      time.Duration
		wantTitle string
	}{
		{"two and a half hours", 150 * time.Minute, "Orders per 2 minutes (UTC): the sale spans 2 h "},
		{"six hours", 6 * time.Hour, "Orders per 5 minutes (UTC): the sale spans 6 h "},
		{"three days", 72 * time.Hour, "Orders per hour (UTC): the sale spans 3 days "},
	}
	points := regexp.MustCompile(`<polyline[^>]* points="([^"]*)"`)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			start := time.Now()
			if err := reportfmt.WriteHTML(&buf, generated(5_000, tc.span, "USD")); err != nil {
				t.Fatalf("WriteHTML: %v", err)
			}
			t.Logf("5,000 orders: %d bytes in %v", buf.Len(), time.Since(start).Round(time.Millisecond))
			if !strings.Contains(buf.String(), tc.wantTitle) {
				t.Errorf("page has no title %q; titles: %q", tc.wantTitle, regexp.MustCompile(`<h2>[^<]*`).FindAllString(buf.String(), -1))
			}
			lines := points.FindAllStringSubmatch(buf.String(), -1)
			if len(lines) != 3 {
				t.Fatalf("chart has %d series, want 3", len(lines))
			}
			for _, l := range lines {
				if n := len(strings.Fields(l[1])); n > reportfmt.MaxBuckets || n < reportfmt.MaxBuckets/3 {
					t.Errorf("a series has %d points, want at most %d and not a handful", n, reportfmt.MaxBuckets)
				}
			}
		})
	}
}

// TestWriteHTML_100kOrders logs how long a large sale's page takes.
func TestWriteHTML_100kOrders(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("a measurement: meaningless under -race")
	}
	r := generated(100_000, 6*time.Hour, "USD")
	start := time.Now()
	var buf bytes.Buffer
	if err := reportfmt.WriteHTML(&buf, r); err != nil {
		t.Fatalf("WriteHTML: %v", err)
	}
	t.Logf("100,000 orders (%d refunds): html %d bytes in %v", len(r.Refunds), buf.Len(), time.Since(start).Round(time.Millisecond))
}

func TestWritePeriodHTML(t *testing.T) {
	var buf bytes.Buffer
	if err := reportfmt.WritePeriodHTML(&buf, period()); err != nil {
		t.Fatalf("WritePeriodHTML: %v", err)
	}
	page := buf.String()
	for _, s := range []string{
		"Spring &lt;drop&gt; &amp; more",
		`data-figure="totals.0.revenueCents">1234567.89 EUR<`,
		`data-figure="totals.1.revenueCents">219.89 USD<`,
		`data-figure="sales.1.revenueCents">1234567.89 EUR<`,
	} {
		if !strings.Contains(page, s) {
			t.Errorf("page has no %q", s)
		}
	}
	selfContained(t, page)
}

func BenchmarkWriteHTML_100kOrders(b *testing.B) {
	r := generated(100_000, 6*time.Hour, "USD")
	for b.Loop() {
		var buf bytes.Buffer
		if err := reportfmt.WriteHTML(&buf, r); err != nil {
			b.Fatal(err)
		}
	}
}
