package reportfmt_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"flashsale/shared/local/browser"
	"flashsale/shared/reportfmt"
)

// A4 with the pages' 12 mm margins leaves 186 mm, 702.99 CSS px, to print on.
const printableWidth = 702

// TestWriteHTML_Browser renders reports in Chromium, as finance would open
// and print them: every figure on the page equals the report's JSON, the
// page fetches nothing but itself, logs no error, fits A4's printable
// width and prints to PDF.
func TestWriteHTML_Browser(t *testing.T) {
	report, small, p := generated(300, 45*time.Minute, "EUR"), sample(), period()
	tests := []struct {
		name     string
		json     any // what the API answers for the same report
		render   func(*bytes.Buffer) error
		wantKeys []string // figures the page must show, besides every line's
	}{
		{"report", report, func(b *bytes.Buffer) error { return reportfmt.WriteHTML(b, report) }, []string{
			"saleId", "generatedAt", "currency", "balanced", "revenueCents", "refundsDueCents",
			"units.loaded", "units.restocked", "units.available", "units.reserved", "units.paid",
			"units.expired", "units.cancelled", "units.inLimbo",
		}},
		{"sample", small, func(b *bytes.Buffer) error { return reportfmt.WriteHTML(b, small) }, []string{"revenueCents", "units.paid"}},
		{"period", p, func(b *bytes.Buffer) error { return reportfmt.WritePeriodHTML(b, p) }, []string{"from", "to", "generatedAt"}},
	}
	tab := browser.New(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var page bytes.Buffer
			if err := tc.render(&page); err != nil {
				t.Fatalf("render: %v", err)
			}
			doc := toJSON(t, tc.json)
			checkPage(t, tab, page.Bytes(), doc, append(slices.Clone(tc.wantKeys), lineKeys(doc)...))
		})
	}
}

// checkPage serves a page, loads it in print layout and checks it.
func checkPage(t *testing.T, tab *browser.Tab, page []byte, jsonDoc map[string]any, wantKeys []string) {
	t.Helper()
	var mu sync.Mutex
	var served []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		served = append(served, r.URL.Path)
		mu.Unlock()
		if r.URL.Path != "/report.html" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", reportfmt.ContentType("html"))
		w.Write(page)
	}))
	defer srv.Close()
	url := srv.URL + "/report.html"
	before, errsBefore := len(tab.Requests()), len(tab.Errors())

	// Lay the page out as it prints: print media, the printable width of A4.
	printMedia := chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: "print"})
		return err
	})
	if err := tab.Do(printMedia, chromedp.EmulateViewport(printableWidth, 1000), chromedp.Navigate(url)); err != nil {
		t.Fatalf("load %s: %v", url, err)
	}

	// Every figure equals the JSON, and every expected one is there.
	figures, err := browser.Run(tab, chromedp.Evaluate[[][2]string](
		`[...document.querySelectorAll("[data-figure]")].map(e => [e.dataset.figure, e.textContent.trim()])`))
	if err != nil {
		t.Fatalf("read the figures: %v", err)
	}
	shown := map[string]bool{}
	for _, f := range figures {
		key, text := f[0], f[1]
		shown[key] = true
		want, err := expectedText(jsonDoc, key)
		if err != nil {
			t.Errorf("data-figure %q: %v", key, err)
			continue
		}
		if text != want {
			t.Errorf("data-figure %q shows %q, want %q", key, text, want)
		}
	}
	for _, k := range wantKeys {
		if !shown[k] {
			t.Errorf("the page has no data-figure %q", k)
		}
	}
	t.Logf("%d figures checked against the JSON", len(figures))

	// Nothing but the page itself was requested, by the browser or of the server.
	requests := tab.Requests()[before:]
	if !slices.Contains(requests, url) {
		t.Errorf("the browser's requests %q lack the page's own: requests are not being recorded", requests)
	}
	for _, u := range requests {
		if u != url && !strings.HasPrefix(u, "data:") {
			t.Errorf("the page requested %s; it must load nothing", u)
		}
	}
	mu.Lock()
	if !slices.Equal(served, []string{"/report.html"}) {
		t.Errorf("the server was asked for %q, want only /report.html", served)
	}
	mu.Unlock()

	for _, e := range tab.Errors()[errsBefore:] {
		t.Errorf("the page logged: %s", e)
	}

	// Nothing is wider than A4's printable width.
	width, err := browser.Run(tab, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
	if err != nil {
		t.Fatalf("scrollWidth: %v", err)
	}
	if width > printableWidth {
		wide, _ := browser.Run(tab, chromedp.Evaluate[[]string](fmt.Sprintf(
			`[...document.querySelectorAll("body *")].filter(e => e.getBoundingClientRect().right > %d).slice(0, 5).map(e => e.outerHTML.slice(0, 120))`, printableWidth)))
		t.Errorf("document scrollWidth = %d px, want at most %d (A4 less margins); too wide: %q", width, printableWidth, wide)
	}

	pdf, err := browser.Run(tab, chromedp.PrintToPDF(chromedp.PDFPaper(chromedp.PaperA4), chromedp.PDFPreferCSSPageSize()))
	if err != nil {
		t.Fatalf("print to PDF on A4: %v", err)
	}
	if !bytes.HasPrefix(pdf, []byte("%PDF-")) || len(pdf) < 1000 {
		t.Errorf("PrintToPDF gave %d bytes starting %q, want a PDF", len(pdf), pdf[:min(len(pdf), 8)])
	}

	png, err := browser.Run(tab, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) || len(png) < 1000 {
		t.Fatalf("screenshot is %d bytes starting %q, want a PNG", len(png), png[:min(len(png), 8)])
	}
	shot := filepath.Join(t.TempDir(), "page.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s (%d bytes), PDF %d bytes", shot, len(png), len(pdf))
}

// toJSON is v as its JSON decodes: what a client of the API sees.
func toJSON(tb testing.TB, v any) map[string]any {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	var doc map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		tb.Fatal(err)
	}
	return doc
}

// lineKeys are the figures of every refund, adjustment, sale and total line.
func lineKeys(doc map[string]any) []string {
	fields := map[string][]string{
		"refunds":     {"eventId", "orderId", "amountCents", "reason"},
		"adjustments": {"kind", "units", "detail"},
		"sales":       {"saleId", "name", "settledAt", "units.loaded", "units.paid", "revenueCents", "refundsDueCents", "balanced"},
		"totals":      {"currency", "sales", "unitsPaid", "revenueCents", "refundsDueCents", "balanced"},
	}
	var keys []string
	for list, fs := range fields {
		lines, _ := doc[list].([]any)
		for i := range lines {
			for _, f := range fs {
				keys = append(keys, fmt.Sprintf("%s.%d.%s", list, i, f))
			}
		}
	}
	return keys
}

// expectedText is how a page must show the JSON value at a dotted path:
// minor units (…Cents) with Money and the nearest currency up the path,
// booleans as yes/no, numbers and strings as they are.
func expectedText(doc map[string]any, path string) (string, error) {
	v, err := lookup(doc, path)
	if err != nil {
		return "", err
	}
	switch v := v.(type) {
	case nil:
		return "", nil
	case bool:
		return yesNo(v), nil
	case string:
		return v, nil
	case json.Number:
		n, err := v.Int64()
		if err != nil {
			return "", fmt.Errorf("%s = %s is not an integer", path, v)
		}
		if strings.HasSuffix(path, "Cents") {
			parts := strings.Split(path, ".")
			for i := len(parts) - 1; i >= 0; i-- {
				if c, err := lookup(doc, strings.Join(append(slices.Clone(parts[:i]), "currency"), ".")); err == nil {
					return reportfmt.Money(n, c.(string)), nil
				}
			}
			return "", fmt.Errorf("%s: no currency up the path", path)
		}
		return strconv.FormatInt(n, 10), nil
	}
	return "", fmt.Errorf("%s is a %T, not a figure", path, v)
}

func lookup(doc map[string]any, path string) (any, error) {
	var cur any = doc
	for _, p := range strings.Split(path, ".") {
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[p]
			if !ok && p == "at" {
				return nil, nil // omitempty: an adjustment with no time
			}
			if !ok {
				return nil, fmt.Errorf("no %q in the JSON", path)
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(p)
			if err != nil || i < 0 || i >= len(c) {
				return nil, fmt.Errorf("no %q in the JSON", path)
			}
			cur = c[i]
		default:
			return nil, fmt.Errorf("no %q in the JSON", path)
		}
	}
	if f, ok := cur.(float64); ok && f == math.Trunc(f) {
		return json.Number(strconv.FormatInt(int64(f), 10)), nil
	}
	return cur, nil
}
