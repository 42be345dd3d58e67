package handler_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"flashsale/shared/apispec"
	"flashsale/shared/flashsale"
)

// createSaleRequest is the sample admin request with the body replaced by
// the sample body changed by change (a nil value deletes a key).
func createSaleRequest(tb testing.TB, change map[string]any) events.APIGatewayProxyRequest {
	tb.Helper()
	req := loadEvent(tb, "admin-create-sale.json")
	var body map[string]any
	if err := json.Unmarshal([]byte(req.Body), &body); err != nil {
		tb.Fatal(err)
	}
	for k, v := range change {
		if v == nil {
			delete(body, k)
		} else {
			body[k] = v
		}
	}
	b, err := json.Marshal(body)
	if err != nil {
		tb.Fatal(err)
	}
	req.Body = string(b)
	return req
}

func TestAdminCreateSale(t *testing.T) {
	f := newFixture(t)
	f.clock.Set(saleStart.Add(-time.Hour))
	resp := call(t, f.admin.Serve, loadEvent(t, "admin-create-sale.json"))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("status = %d, want 201 (%s)", resp.StatusCode, resp.Body)
	}
	want := map[string]any{
		"saleId": "spring-1", "name": "Spring drop", "priceCents": 1999.0, "currency": "USD",
		"startsAt": "2026-12-01T10:00:00Z", "endsAt": "2026-12-01T11:00:00Z", "status": "scheduled",
		"remaining": 1000.0, "stock": 1000.0, "perUserLimit": 1.0, "paymentWindowSeconds": 600.0, "shards": 8.0,
		"admission": map[string]any{"purchaseToken": true, "challenge": true},
	}
	if got := decodeBody(t, resp); !reflect.DeepEqual(got, want) {
		t.Errorf("body = %v, want exactly %v", got, want)
	}
	avail, err := f.mem.Available(t.Context(), flashsale.Sale{ID: "spring-1", Shards: 8})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(avail, []int64{125, 125, 125, 125, 125, 125, 125, 125}) {
		t.Errorf("preloaded shards = %v, want 8 x 125", avail)
	}

	// The same sale again is a conflict.
	wantError(t, call(t, f.admin.Serve, loadEvent(t, "admin-create-sale.json")), http.StatusConflict, "sale_exists")
}

func TestAdminCreateSale_ExpectedPeakRPS(t *testing.T) {
	f := newFixture(t)
	resp := call(t, f.admin.Serve, createSaleRequest(t, map[string]any{"shards": nil, "expectedPeakRps": 3000}))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("status = %d, want 201 (%s)", resp.StatusCode, resp.Body)
	}
	if got := decodeBody(t, resp)["shards"]; got != 4.0 {
		t.Errorf("shards for 3000 rps = %v, want 4", got)
	}
}

func TestAdminCreateSale_BadInput(t *testing.T) {
	tests := []struct {
		name      string
		change    map[string]any
		wantCode  string
		wantField string
	}{
		{"bad saleId", map[string]any{"saleId": "spring 1"}, "invalid_saleId", "saleId"},
		{"missing saleId", map[string]any{"saleId": nil}, "invalid_saleId", "saleId"},
		{"saleId a number", map[string]any{"saleId": 7}, "invalid_saleId", "saleId"},
		{"empty name", map[string]any{"name": ""}, "invalid_name", "name"},
		{"negative price", map[string]any{"priceCents": -1}, "invalid_priceCents", "priceCents"},
		{"price in dollars", map[string]any{"priceCents": 19.99}, "invalid_priceCents", "priceCents"},
		{"price a string", map[string]any{"priceCents": "1999"}, "invalid_priceCents", "priceCents"},
		{"lower-case currency", map[string]any{"currency": "usd"}, "invalid_currency", "currency"},
		{"startsAt not RFC 3339", map[string]any{"startsAt": "tomorrow"}, "invalid_startsAt", "startsAt"},
		{"missing startsAt", map[string]any{"startsAt": nil}, "invalid_startsAt", "startsAt"},
		{"startsAt a number", map[string]any{"startsAt": 1764583200}, "invalid_startsAt", "startsAt"},
		{"endsAt before startsAt", map[string]any{"endsAt": "2026-12-01T09:00:00Z"}, "invalid_endsAt", "endsAt"},
		{"endsAt equal to startsAt", map[string]any{"endsAt": "2026-12-01T10:00:00Z"}, "invalid_endsAt", "endsAt"},
		{"zero stock", map[string]any{"stock": 0}, "invalid_stock", "stock"},
		{"stock ten", map[string]any{"stock": "ten"}, "invalid_stock", "stock"},
		{"stock above max", map[string]any{"stock": 10_000_001}, "invalid_stock", "stock"},
		{"zero perUserLimit", map[string]any{"perUserLimit": 0}, "invalid_perUserLimit", "perUserLimit"},
		{"perUserLimit true", map[string]any{"perUserLimit": true}, "invalid_perUserLimit", "perUserLimit"},
		{"zero payment window", map[string]any{"paymentWindowSeconds": 0}, "invalid_paymentWindowSeconds", "paymentWindowSeconds"},
		{"payment window above a day", map[string]any{"paymentWindowSeconds": 86401}, "invalid_paymentWindowSeconds", "paymentWindowSeconds"},
		{"1001 shards", map[string]any{"shards": 1001}, "invalid_shards", "shards"},
		{"shards as text", map[string]any{"shards": "8"}, "invalid_shards", "shards"},
		{"shards and expectedPeakRps", map[string]any{"expectedPeakRps": 3000}, "invalid_shards", "shards"},
		{"negative expectedPeakRps", map[string]any{"shards": nil, "expectedPeakRps": -5}, "invalid_expectedPeakRps", "expectedPeakRps"},
		{"unknown field", map[string]any{"colour": "red"}, "unknown_field", "colour"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			resp := call(t, f.admin.Serve, createSaleRequest(t, tc.change))
			e := wantError(t, resp, http.StatusBadRequest, tc.wantCode)
			if e.Field != tc.wantField {
				t.Errorf("field = %q, want %q", e.Field, tc.wantField)
			}
			if _, err := f.mem.Sale(t.Context(), "spring-1"); err == nil {
				t.Errorf("a rejected request created the sale")
			}
		})
	}
}

func TestAdminCreateSale_BadBody(t *testing.T) {
	tests := []struct {
		name       string
		edit       func(events.APIGatewayProxyRequest) events.APIGatewayProxyRequest
		wantStatus int
		wantCode   string
	}{
		{"not JSON", func(r events.APIGatewayProxyRequest) events.APIGatewayProxyRequest {
			r.Body = "saleId=spring-1"
			return r
		},
			http.StatusBadRequest, "invalid_json"},
		{"two objects", func(r events.APIGatewayProxyRequest) events.APIGatewayProxyRequest { r.Body += "{}"; return r },
			http.StatusBadRequest, "invalid_json"},
		{"an array", func(r events.APIGatewayProxyRequest) events.APIGatewayProxyRequest { r.Body = "[]"; return r },
			http.StatusBadRequest, "invalid_json"},
		{"text/plain", func(r events.APIGatewayProxyRequest) events.APIGatewayProxyRequest {
			return withHeader(r, "Content-Type", "text/plain")
		}, http.StatusBadRequest, "invalid_content_type"},
		{"over 10 KB", func(r events.APIGatewayProxyRequest) events.APIGatewayProxyRequest {
			r.Body = `{"name":"` + strings.Repeat("x", 10*1024) + `"}`
			return r
		}, http.StatusRequestEntityTooLarge, "body_too_large"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			wantError(t, call(t, f.admin.Serve, tc.edit(loadEvent(t, "admin-create-sale.json"))), tc.wantStatus, tc.wantCode)
		})
	}
}

// TestAdmin_Auth runs every admin route as callers who may not use it.
func TestAdmin_Auth(t *testing.T) {
	f := newFixture(t)
	f.createSale(t, "spring-1", 10, 1, 1)
	tests := []struct {
		name       string
		event      string
		user       string
		groups     []string
		wantStatus int
		wantCode   string
	}{
		{"create without claims", "admin-create-sale.json", "", nil, http.StatusUnauthorized, "unauthorized"},
		{"create as a buyer", "admin-create-sale.json", "buyer-1", nil, http.StatusForbidden, "forbidden"},
		{"create as finance", "admin-create-sale.json", "fin-1", []string{"finance"}, http.StatusForbidden, "forbidden"},
		{"restock without claims", "admin-restock.json", "", nil, http.StatusUnauthorized, "unauthorized"},
		{"restock as a buyer", "admin-restock.json", "buyer-1", nil, http.StatusForbidden, "forbidden"},
		{"settle as a buyer", "admin-settle.json", "buyer-1", nil, http.StatusForbidden, "forbidden"},
		{"settle as finance", "admin-settle.json", "fin-1", []string{"finance"}, http.StatusForbidden, "forbidden"},
		{"report without claims", "admin-report.json", "", nil, http.StatusUnauthorized, "unauthorized"},
		{"report as a buyer", "admin-report.json", "buyer-1", []string{"buyers"}, http.StatusForbidden, "forbidden"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := asUser(loadEvent(t, tc.event), tc.user, tc.groups...)
			wantError(t, call(t, f.admin.Serve, req), tc.wantStatus, tc.wantCode)
		})
	}
	if st, _ := f.mem.Sale(t.Context(), "spring-1"); st.Loaded != 10 {
		t.Errorf("loaded after refused restocks = %d, want 10", st.Loaded)
	}
}

func TestAdmin_GroupsClaimFormats(t *testing.T) {
	for _, groups := range []any{"admin", "finance,admin", "[finance admin]", []any{"finance", "admin"}} {
		f := newFixture(t)
		req := loadEvent(t, "admin-create-sale.json")
		req.RequestContext.Authorizer = map[string]any{"claims": map[string]any{"sub": "a1", "cognito:groups": groups}}
		if resp := call(t, f.admin.Serve, req); resp.StatusCode != http.StatusCreated {
			t.Errorf("cognito:groups %#v: status = %d, want 201 (%s)", groups, resp.StatusCode, resp.Body)
		}
	}
}

func TestAdminRestock(t *testing.T) {
	tests := []struct {
		name       string
		saleID     string
		body       string
		wantStatus int
		wantCode   string
	}{
		{"sample", "spring-1", `{"quantity":50}`, http.StatusOK, ""},
		{"zero", "spring-1", `{"quantity":0}`, http.StatusBadRequest, "invalid_quantity"},
		{"negative", "spring-1", `{"quantity":-3}`, http.StatusBadRequest, "invalid_quantity"},
		{"text", "spring-1", `{"quantity":"ten"}`, http.StatusBadRequest, "invalid_quantity"},
		{"fraction", "spring-1", `{"quantity":1.5}`, http.StatusBadRequest, "invalid_quantity"},
		{"exponent", "spring-1", `{"quantity":1e3}`, http.StatusBadRequest, "invalid_quantity"},
		{"missing", "spring-1", `{}`, http.StatusBadRequest, "invalid_quantity"},
		{"above max stock", "spring-1", `{"quantity":10000001}`, http.StatusBadRequest, "invalid_quantity"},
		{"unknown field", "spring-1", `{"quantity":1,"note":"x"}`, http.StatusBadRequest, "unknown_field"},
		{"unknown sale", "autumn-9", `{"quantity":50}`, http.StatusNotFound, "sale_not_found"},
		{"unknown sale beats a bad body", "autumn-9", `{"quantity":"ten"}`, http.StatusNotFound, "sale_not_found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.createSale(t, "spring-1", 100, 4, 1)
			req := withSale(loadEvent(t, "admin-restock.json"), tc.saleID)
			req.Body = tc.body
			resp := call(t, f.admin.Serve, req)
			st, err := f.mem.Sale(t.Context(), "spring-1")
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantCode != "" {
				wantError(t, resp, tc.wantStatus, tc.wantCode)
				if st.Loaded != 100 {
					t.Errorf("loaded after a refused restock = %d, want 100", st.Loaded)
				}
				return
			}
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status = %d, want %d (%s)", resp.StatusCode, tc.wantStatus, resp.Body)
			}
			got := decodeBody(t, resp)
			want := map[string]any{
				"saleId": "spring-1", "name": "Test spring-1", "priceCents": 1999.0, "currency": "USD",
				"startsAt": "2026-12-01T10:00:00Z", "endsAt": "2026-12-01T11:00:00Z", "status": "open",
				"remaining": 150.0, "stock": 150.0, "perUserLimit": 1.0, "paymentWindowSeconds": 600.0, "shards": 4.0,
				"admission": map[string]any{"purchaseToken": true, "challenge": true},
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("body = %v, want exactly %v", got, want)
			}
			if st.Loaded != 150 {
				t.Errorf("stored loaded = %d, want 150", st.Loaded)
			}
		})
	}
}

func TestAdminSettle(t *testing.T) {
	f := newFixture(t)
	f.createSale(t, "spring-1", 10, 2, 1)
	f.order(t, "spring-1", "u1", "k")
	resp := call(t, f.admin.Serve, loadEvent(t, "admin-settle.json"))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d, want 200 (%s)", resp.StatusCode, resp.Body)
	}
	var r flashsale.Report
	dec := json.NewDecoder(strings.NewReader(resp.Body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("body is not a report: %v (%s)", err, resp.Body)
	}
	wantUnits := flashsale.ReportUnits{Loaded: 10, Available: 9, Reserved: 1}
	if r.SaleID != "spring-1" || !r.Balanced || r.Units != wantUnits || len(r.Orders) != 1 || r.Currency != "USD" {
		t.Errorf("report = %+v, want spring-1 balanced with units %+v and 1 order", r, wantUnits)
	}
	// Every key of the contract's shape is present, lists included.
	got := decodeBody(t, resp)
	for _, k := range []string{"saleId", "generatedAt", "balanced", "units", "revenueCents", "refundsDueCents", "currency", "adjustments", "refunds", "orders"} {
		if _, ok := got[k]; !ok {
			t.Errorf("report has no %q, want the contract's shape", k)
		}
	}
	if got["adjustments"] == nil || got["refunds"] == nil {
		t.Errorf("adjustments = %v, refunds = %v; want [] rather than null", got["adjustments"], got["refunds"])
	}

	wantError(t, call(t, f.admin.Serve, withSale(loadEvent(t, "admin-settle.json"), "autumn-9")), http.StatusNotFound, "sale_not_found")
}

func TestAdminReport(t *testing.T) {
	f := newFixture(t)
	f.createSale(t, "spring-1", 10, 2, 1)
	f.order(t, "spring-1", "u1", "k")

	// Before any settlement.
	wantError(t, call(t, f.admin.Serve, loadEvent(t, "admin-report.json")), http.StatusNotFound, "not_settled")
	wantError(t, call(t, f.admin.Serve, withSale(loadEvent(t, "admin-report.json"), "autumn-9")), http.StatusNotFound, "sale_not_found")

	settled, err := f.svc.Settle(t.Context(), "spring-1")
	if err != nil {
		t.Fatal(err)
	}
	wantJSON, err := json.Marshal(settled)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		accept  string
		groups  []string
		wantCSV bool
	}{
		{"csv", "text/csv", []string{"finance"}, true},
		{"json", "application/json", []string{"finance"}, false},
		{"csv ranked below json", "text/csv;q=0.5, application/json", []string{"finance"}, false},
		{"json ranked below csv", "application/json;q=0.2, text/csv", []string{"finance"}, true},
		{"tie: csv listed first", "text/csv, application/json", []string{"finance"}, true},
		{"tie: json listed first", "application/json, text/csv", []string{"finance"}, false},
		{"missing Accept", "", []string{"finance"}, false},
		{"anything", "*/*", []string{"finance"}, false},
		{"admin may read it", "text/csv", []string{"admin"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := asUser(withHeader(loadEvent(t, "admin-report.json"), "Accept", tc.accept), "reader", tc.groups...)
			resp := call(t, f.admin.Serve, req)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status = %d, want 200 (%s)", resp.StatusCode, resp.Body)
			}
			if !tc.wantCSV {
				// The archive's file is reportfmt's JSON: the same, plus a newline.
				if strings.TrimSuffix(resp.Body, "\n") != string(wantJSON) {
					t.Errorf("body = %s, want the stored report %s", resp.Body, wantJSON)
				}
				if ct := resp.Headers["Content-Type"]; ct != "application/json" {
					t.Errorf("Content-Type = %q, want application/json", ct)
				}
				return
			}
			if ct := resp.Headers["Content-Type"]; ct != "text/csv; charset=utf-8" {
				t.Errorf("Content-Type = %q, want text/csv; charset=utf-8", ct)
			}
			if cd := resp.Headers["Content-Disposition"]; cd != `attachment; filename="spring-1-report.csv"` {
				t.Errorf("Content-Disposition = %q, want an attachment named spring-1-report.csv", cd)
			}
			rows, err := csv.NewReader(bytes.NewReader([]byte(resp.Body))).ReadAll()
			if err != nil {
				t.Fatalf("body is not CSV: %v", err)
			}
			wantRows := [][]string{
				{"orderId", "userId", "quantity", "amountCents", "status", "createdAt", "paidAt", "currency"},
				{settled.Orders[0].OrderID, "u1", "1", "1999", "reserved", settled.Orders[0].CreatedAt, "", "USD"},
				{"TOTAL", "", "0", "0", "paid", "", "", "USD"},
			}
			if !reflect.DeepEqual(rows, wantRows) {
				t.Errorf("csv rows = %q, want %q", rows, wantRows)
			}
		})
	}
}

// TestAdmin_UnknownRoute checks the dispatch table answers unknown routes
// with the handler error shape.
func TestAdmin_UnknownRoute(t *testing.T) {
	f := newFixture(t)
	req := loadEvent(t, "admin-create-sale.json")
	req.HTTPMethod = "DELETE"
	wantError(t, call(t, f.admin.Serve, req), http.StatusNotFound, "not_found")
	if got := slices.Sorted(maps.Keys(f.admin)); !reflect.DeepEqual(got, []apispec.RouteKey{
		apispec.RouteReports, apispec.RouteAdminSale, apispec.RouteReport, apispec.RouteCreateSale, apispec.RouteAllowlist, apispec.RouteRestock, apispec.RouteSettle,
	}) {
		t.Errorf("admin routes = %v", got)
	}
}
