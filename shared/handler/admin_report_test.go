package handler_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"flashsale/shared/apispec"
	"flashsale/shared/flashsale"
	"flashsale/shared/handler"
	"flashsale/shared/reportfmt"
)

// reportReq is GET /admin/sales/{saleId}/report for a finance reader.
func reportReq(t *testing.T, saleID, accept string) events.APIGatewayProxyRequest {
	t.Helper()
	return asUser(withHeader(withSale(loadEvent(t, "admin-report.json"), saleID), "Accept", accept), "reader", "finance")
}

// periodReq is GET /admin/reports?from=&to= for a finance reader; an
// empty from or to is left out.
func periodReq(t *testing.T, from, to, accept string) events.APIGatewayProxyRequest {
	t.Helper()
	req := reportReq(t, "unused", accept)
	route, _ := apispec.Lookup(apispec.RouteReports)
	req.Resource, req.RequestContext.ResourcePath, req.PathParameters = route.Path, route.Path, nil
	q := url.Values{}
	for k, v := range map[string]string{"from": from, "to": to} {
		if v != "" {
			q.Set(k, v)
		}
	}
	req.Path = route.Path + "?" + q.Encode()
	req.QueryStringParameters = map[string]string{}
	req.MultiValueQueryStringParameters = map[string][]string{}
	for k := range q {
		req.QueryStringParameters[k] = q.Get(k)
		req.MultiValueQueryStringParameters[k] = q[k]
	}
	return req
}

// bodyBytes decodes a response's body, base64 when it says so.
func bodyBytes(t *testing.T, resp events.APIGatewayProxyResponse) []byte {
	t.Helper()
	if !resp.IsBase64Encoded {
		return []byte(resp.Body)
	}
	b, err := base64.StdEncoding.DecodeString(resp.Body)
	if err != nil {
		t.Fatalf("body is not base64: %v", err)
	}
	return b
}

func TestAdminReport_EveryFormat(t *testing.T) {
	f := newFixture(t)
	f.createSale(t, "spring-1", 10, 2, 1)
	r := f.order(t, "spring-1", "u1", "k")
	if _, err := f.svc.Pay(t.Context(), flashsale.Payment{EventID: "e1", OrderID: r.OrderID, AmountCents: r.AmountCents,
		Currency: r.Currency, Status: flashsale.PaymentSucceeded}); err != nil {
		t.Fatal(err)
	}
	settled, err := f.svc.Settle(t.Context(), "spring-1")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		accept, format, disposition string
		base64                      bool
	}{
		{"text/html", flashsale.FormatHTML, "", false},
		{reportfmt.TypeXLSX, flashsale.FormatXLSX, `attachment; filename="spring-1-report.xlsx"`, true},
		{"text/csv", flashsale.FormatCSV, `attachment; filename="spring-1-report.csv"`, false},
		{"application/json", flashsale.FormatJSON, "", false},
		{reportfmt.TypeXLSX + ", text/html;q=0.9", flashsale.FormatXLSX, `attachment; filename="spring-1-report.xlsx"`, true},
	}
	for _, tc := range tests {
		t.Run(tc.accept, func(t *testing.T) {
			resp := call(t, f.admin.Serve, reportReq(t, "spring-1", tc.accept))
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status = %d, want 200 (%s)", resp.StatusCode, resp.Body)
			}
			if got, want := resp.Headers["Content-Type"], reportfmt.ContentType(tc.format); got != want {
				t.Errorf("Content-Type = %q, want %q", got, want)
			}
			if got := resp.Headers["Content-Disposition"]; got != tc.disposition {
				t.Errorf("Content-Disposition = %q, want %q", got, tc.disposition)
			}
			if resp.IsBase64Encoded != tc.base64 {
				t.Errorf("isBase64Encoded = %v, want %v", resp.IsBase64Encoded, tc.base64)
			}
			got := bodyBytes(t, resp)
			if tc.format == flashsale.FormatXLSX {
				// A workbook is a zip; its content is reportfmt's tests' to check.
				if !bytes.HasPrefix(got, []byte("PK\x03\x04")) {
					t.Errorf("xlsx body starts %q, want a zip", got[:min(8, len(got))])
				}
				return
			}
			var want bytes.Buffer
			if err := reportfmt.Write(&want, tc.format, settled); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want.Bytes()) {
				t.Errorf("body = %q, want the stored %s file %q", got, tc.format, want.Bytes())
			}
		})
	}
}

// TestAdminReport_WorkbookNotAskedFirst: API Gateway decodes a base64
// answer only for an Accept that names the workbook type first, so a
// workbook that wins on q alone is sent by link (a sale's) or refused (a
// period's, which has no file).
func TestAdminReport_WorkbookNotAskedFirst(t *testing.T) {
	f := newFixture(t)
	f.createSale(t, "spring-1", 10, 2, 1)
	if _, err := f.svc.Settle(t.Context(), "spring-1"); err != nil {
		t.Fatal(err)
	}
	accept := "text/html;q=0.5, " + reportfmt.TypeXLSX
	resp := call(t, f.admin.Serve, reportReq(t, "spring-1", accept))
	if resp.StatusCode != http.StatusSeeOther || resp.Headers["Location"] == "" {
		t.Fatalf("status = %d (%s), want 303 to the workbook's link", resp.StatusCode, resp.Body)
	}
	got, err := http.Get(resp.Headers["Location"])
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(got.Body)
	got.Body.Close()
	if !bytes.HasPrefix(b, []byte("PK\x03\x04")) {
		t.Errorf("the link serves %q, want the workbook", b[:min(8, len(b))])
	}
	day := f.clock.Now().UTC().Format(flashsale.DayLayout)
	e := wantError(t, call(t, f.admin.Serve, periodReq(t, day, day, accept)), http.StatusNotAcceptable, "not_acceptable")
	if !strings.Contains(e.Message, "first") {
		t.Errorf("message %q does not say to name the workbook first", e.Message)
	}
}

func TestAdminReport_NotAcceptable(t *testing.T) {
	f := newFixture(t)
	f.createSale(t, "spring-1", 10, 2, 1)
	for _, accept := range []string{"application/xml", "text/plain;q=1, text/csv;q=0", "image/*", "application/pdf, nonsense"} {
		t.Run(accept, func(t *testing.T) {
			// Checked before the sale: even a never-settled sale is a 406.
			e := wantError(t, call(t, f.admin.Serve, reportReq(t, "spring-1", accept)), http.StatusNotAcceptable, "not_acceptable")
			if !strings.Contains(e.Message, reportfmt.TypeXLSX) {
				t.Errorf("message %q does not list the formats", e.Message)
			}
			wantError(t, call(t, f.admin.Serve, periodReq(t, "2026-12-01", "2026-12-01", accept)), http.StatusNotAcceptable, "not_acceptable")
		})
	}
	// Nothing was written: the sale is still unsettled.
	wantError(t, call(t, f.admin.Serve, reportReq(t, "spring-1", "")), http.StatusNotFound, "not_settled")
}

func TestAdminReports_Period(t *testing.T) {
	f := newFixture(t)
	day := f.clock.Now().UTC().Format(flashsale.DayLayout)
	for _, s := range []struct {
		id, currency string
		price        int64
	}{{"usd-1", "USD", 1000}, {"usd-2", "USD", 250}, {"eur-1", "EUR", 700}} {
		if _, err := f.svc.CreateSale(t.Context(), flashsale.NewSale{ID: s.id, Name: "Sale " + s.id, PriceCents: s.price,
			Currency: s.currency, StartsAt: saleStart, EndsAt: saleEnd, Stock: 10, PerUserLimit: 1, PaymentWindowSeconds: 600, Shards: 1}); err != nil {
			t.Fatal(err)
		}
		for _, u := range []string{"a", "b"} {
			r := f.order(t, s.id, u, "k-"+s.id)
			if _, err := f.svc.Pay(t.Context(), flashsale.Payment{EventID: s.id + u, OrderID: r.OrderID, AmountCents: r.AmountCents,
				Currency: r.Currency, Status: flashsale.PaymentSucceeded}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := f.svc.Settle(t.Context(), s.id); err != nil {
			t.Fatal(err)
		}
	}
	resp := call(t, f.admin.Serve, periodReq(t, day, day, "application/json"))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d, want 200 (%s)", resp.StatusCode, resp.Body)
	}
	var p flashsale.PeriodReport
	if err := json.Unmarshal([]byte(resp.Body), &p); err != nil {
		t.Fatal(err)
	}
	if len(p.Sales) != 3 || p.From != day || p.To != day {
		t.Fatalf("period = %+v, want 3 sales from %s to %s", p, day, day)
	}
	want := map[string]int64{"USD": 2*1000 + 2*250, "EUR": 2 * 700}
	if len(p.Totals) != 2 {
		t.Fatalf("totals = %+v, want one per currency", p.Totals)
	}
	for _, tot := range p.Totals {
		if tot.RevenueCents != want[tot.Currency] || tot.UnitsPaid != map[string]int64{"USD": 4, "EUR": 2}[tot.Currency] {
			t.Errorf("total %+v, want revenue %d", tot, want[tot.Currency])
		}
	}

	resp = call(t, f.admin.Serve, periodReq(t, day, day, "text/csv"))
	rows, err := csv.NewReader(strings.NewReader(resp.Body)).ReadAll()
	if err != nil || len(rows) != 1+3+2 {
		t.Fatalf("csv = %q (%v), want a header, 3 sales and 2 TOTAL rows", resp.Body, err)
	}
	if got := resp.Headers["Content-Disposition"]; got != `attachment; filename="sales-`+day+`-to-`+day+`.csv"` {
		t.Errorf("Content-Disposition = %q", got)
	}

	for _, tc := range []struct{ name, from, to, code string }{
		{"to before from", "2026-12-02", "2026-12-01", "invalid_range"},
		{"over 366 days", "2026-01-01", "2027-01-02", "invalid_range"},
		{"malformed", "2026-12-01", "01/12/2026", "invalid_date"},
		{"missing to", "2026-12-01", "", "invalid_date"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, call(t, f.admin.Serve, periodReq(t, tc.from, tc.to, "")), http.StatusBadRequest, tc.code)
		})
	}
	t.Run("buyers may not read it", func(t *testing.T) {
		req := asUser(periodReq(t, day, day, ""), "buyer")
		wantError(t, call(t, f.admin.Serve, req), http.StatusForbidden, "forbidden")
	})
}

// TestAdminReport_HundredThousandOrders settles a sale of 100,000 orders:
// the scheduled settlement publishes the report to the S3 server, and the
// routes, whose answers it far outgrows, send 303s to presigned links that
// bring back every order line.
func TestAdminReport_HundredThousandOrders(t *testing.T) {
	const orders = 100_000
	f := newFixture(t)
	f.createSale(t, "big", orders, 100, 1)
	ctx := context.Background()
	start := time.Now()
	seedOrders(t, f, "big", orders)
	t.Logf("%d orders seeded in %s", orders, time.Since(start).Round(time.Millisecond))

	// The schedule's run (no deadline here, as a slow machine may need).
	start = time.Now()
	if err := f.settle(ctx, events.EventBridgeEvent{ID: "big-run"}); err != nil {
		t.Fatal(err)
	}
	t.Logf("settled and stored in %s", time.Since(start).Round(time.Millisecond))

	resp := call(t, f.admin.Serve, reportReq(t, "big", "application/json"))
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("report route: %d, want 303 for a file this big", resp.StatusCode)
	}
	report := followJSON(t, resp)
	if len(report.Orders) != orders || report.Units.Paid != orders/2 || report.RevenueCents != orders/2*1999 || !report.Balanced {
		t.Fatalf("report: %d orders, %d paid, %d cents, balanced %v; want %d, %d, %d, true",
			len(report.Orders), report.Units.Paid, report.RevenueCents, report.Balanced, orders, orders/2, orders/2*1999)
	}
	csvBody := follow(t, call(t, f.admin.Serve, reportReq(t, "big", "text/csv")))
	rows, err := csv.NewReader(bytes.NewReader(csvBody)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if last := rows[len(rows)-1]; len(rows) != orders+2 || last[0] != "TOTAL" || last[3] != fmt.Sprint(orders/2*1999) {
		t.Errorf("csv has %d rows ending %q, want %d ending in the TOTAL of %d cents", len(rows), last, orders+2, orders/2*1999)
	}
	// On-demand settlement answers its report the same way. Nothing
	// changed, so it publishes nothing; a pass cut by the route's budget on
	// a slow machine is a 503 to retry, as a client would.
	settle := asUser(withSale(loadEvent(t, "admin-settle.json"), "big"), "ops", "admin")
	resp = call(t, f.admin.Serve, settle)
	for i := 0; i < 5 && resp.StatusCode == http.StatusServiceUnavailable; i++ {
		resp = call(t, f.admin.Serve, settle)
	}
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("settle: %d, want 303 for a report this big", resp.StatusCode)
	}
	if again := followJSON(t, resp); len(again.Orders) != orders || again.Units != report.Units {
		t.Errorf("settle's report: %d orders, units %+v; want %d and %+v", len(again.Orders), again.Units, orders, report.Units)
	}
	// The summary in the store stays small however big the sale.
	stored, err := f.svc.LatestReport(ctx, "big")
	if err != nil {
		t.Fatal(err)
	}
	if stored.Orders != nil || stored.OrderLines != orders {
		t.Errorf("stored summary holds %d order lines (OrderLines %d), want none and %d", len(stored.Orders), stored.OrderLines, orders)
	}
}

// seedOrders writes n one-unit orders through the store port, every other
// one paid, and takes their units from the shards: what n purchases and
// n/2 payments leave, at a fraction of the service path's cost (the race
// detector makes 150,000 service calls take minutes; the purchase path has
// tests of its own).
func seedOrders(t *testing.T, f *fixture, saleID string, n int) {
	t.Helper()
	ctx := context.Background()
	st, err := f.mem.Sale(ctx, saleID)
	if err != nil {
		t.Fatal(err)
	}
	now := f.clock.Now()
	for i := range n {
		id := flashsale.NewOrderID(saleID, fmt.Sprintf("o%06d", i))
		user := fmt.Sprintf("buyer-%06d", i)
		ref := flashsale.RefOf(st.Sale, id)
		o := flashsale.Order{ID: id, SaleID: saleID, UserID: user, Quantity: 1, AmountCents: st.PriceCents, Currency: st.Currency,
			Status: flashsale.OrderPending, CreatedAt: now.Add(time.Duration(i) * time.Millisecond), ExpiresAt: now.Add(st.PaymentWindow),
			IdempotencyKey: "k"}
		if err := f.mem.Reserve(ctx, flashsale.Reservation{Order: o, Bucket: ref.Bucket, Key: "k", Receipt: []byte("{}"),
			Limit: st.PerUserLimit, KeyExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if err := f.mem.Accept(ctx, ref); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			p := flashsale.Payment{EventID: "e-" + id, OrderID: id, AmountCents: o.AmountCents, Currency: o.Currency, Status: flashsale.PaymentSucceeded}
			if err := f.mem.PayOrder(ctx, ref, p, now.Add(time.Second)); err != nil {
				t.Fatal(err)
			}
		}
	}
	per := int64(n / st.Shards)
	for k := range st.Shards {
		if err := f.mem.TakeStock(ctx, saleID, k, per); err != nil {
			t.Fatal(err)
		}
	}
}

// follow returns a report answer's bytes: the body of a 200, or what the
// presigned link of a 303 downloads (with no credentials of ours).
func follow(t *testing.T, resp events.APIGatewayProxyResponse) []byte {
	t.Helper()
	switch resp.StatusCode {
	case http.StatusOK:
		return bodyBytes(t, resp)
	case http.StatusSeeOther:
	default:
		t.Fatalf("status = %d, want 200 or 303 (%.300s)", resp.StatusCode, resp.Body)
	}
	loc := resp.Headers["Location"]
	var body struct {
		Location string `json:"location"`
	}
	if err := json.Unmarshal([]byte(resp.Body), &body); err != nil || body.Location != loc || loc == "" {
		t.Fatalf("303 body %q (%v), want {\"location\": the Location header %q}", resp.Body, err, loc)
	}
	got, err := http.Get(loc)
	if err != nil {
		t.Fatal(err)
	}
	defer got.Body.Close()
	b, err := io.ReadAll(got.Body)
	if err != nil || got.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v %.300s", loc, got.StatusCode, err, b)
	}
	if len(b) <= handler.InlineReportLimit {
		t.Errorf("a %d-byte file was sent by link; the limit for the body is %d", len(b), handler.InlineReportLimit)
	}
	return b
}

func followJSON(t *testing.T, resp events.APIGatewayProxyResponse) flashsale.Report {
	t.Helper()
	var r flashsale.Report
	if err := json.Unmarshal(follow(t, resp), &r); err != nil {
		t.Fatalf("decode report: %v", err)
	}
	return r
}
