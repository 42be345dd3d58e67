package handler_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"flashsale/shared/apispec"
	"flashsale/shared/flashsale"
	"flashsale/shared/handler"
)

func TestReminders_Routes(t *testing.T) {
	f := newFixture(t)
	f.createSale(t, "spring-2", 10, 1, 1) // the sample names spring-2, a sale not yet open
	f.clock.Set(saleStart.Add(-time.Hour))
	post, del := f.reminders[apispec.RouteRemindMe], f.reminders[apispec.RouteRemindMeNot]
	req := loadEvent(t, "reminder.json")

	resp := call(t, post, req)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("first POST = %d %s; want 201", resp.StatusCode, resp.Body)
	}
	var body struct{ SaleID, RemindAt string }
	if err := json.Unmarshal([]byte(resp.Body), &body); err != nil {
		t.Fatal(err)
	}
	if want := flashsale.FormatTime(saleStart.Add(-flashsale.DefaultLead)); body.SaleID != "spring-2" || body.RemindAt != want {
		t.Errorf("POST body = %s; want saleId spring-2, remindAt %s", resp.Body, want)
	}
	if resp := call(t, post, req); resp.StatusCode != http.StatusOK {
		t.Fatalf("second POST = %d %s; want 200", resp.StatusCode, resp.Body)
	}
	delReq := req
	delReq.HTTPMethod, delReq.Body = http.MethodDelete, ""
	for range 2 {
		if resp := call(t, del, delReq); resp.StatusCode != http.StatusNoContent || resp.Body != "" {
			t.Fatalf("DELETE = %d %q; want 204 with no body", resp.StatusCode, resp.Body)
		}
	}
	wantError(t, call(t, post, withSale(req, "nope")), http.StatusNotFound, "sale_not_found")
	wantError(t, call(t, post, asUser(req, "")), http.StatusUnauthorized, "unauthorized")

	// Within the lead the last call reminds; after it no run is left and
	// remindAt is absent; from the opening on, 409.
	f.clock.Set(saleStart.Add(-5 * time.Minute))
	resp = call(t, post, asUser(req, "late"))
	if want := `{"saleId":"spring-2","remindAt":"` + flashsale.FormatTime(saleStart.Add(-time.Minute)) + `"}`; resp.StatusCode != http.StatusCreated || resp.Body != want {
		t.Errorf("POST within the lead = %d %s; want 201 %s", resp.StatusCode, resp.Body, want)
	}
	f.clock.Set(saleStart.Add(-30 * time.Second))
	if resp = call(t, post, asUser(req, "later")); resp.StatusCode != http.StatusCreated || resp.Body != `{"saleId":"spring-2"}` {
		t.Errorf("POST after the last call = %d %s; want 201 without remindAt", resp.StatusCode, resp.Body)
	}
	f.clock.Set(saleStart)
	wantError(t, call(t, post, req), http.StatusConflict, "sale_started")
	f.clock.Set(saleEnd.Add(time.Hour))
	wantError(t, call(t, post, req), http.StatusConflict, "sale_started")
}

func TestAdminSale_ShowsDefinition(t *testing.T) {
	f := newFixture(t)
	f.createSale(t, "spring-1", 10, 2, 1)
	get := f.admin[apispec.RouteAdminSale]
	req := asUser(loadEvent(t, "admin-sale.json"), "root", apispec.GroupAdmin)
	resp := call(t, get, req)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /admin/sales/spring-1 = %d %s", resp.StatusCode, resp.Body)
	}
	var got struct {
		SaleID     string          `json:"saleId"`
		Stock      int64           `json:"stock"`
		Definition json.RawMessage `json:"definition"`
	}
	if err := json.Unmarshal([]byte(resp.Body), &got); err != nil {
		t.Fatal(err)
	}
	n, err := handler.ParseNewSale(got.Definition)
	if err != nil {
		t.Fatalf("the definition is not a valid POST /admin/sales body: %v\n%s", err, got.Definition)
	}
	def, err := n.Build()
	if err != nil {
		t.Fatal(err)
	}
	st, err := f.svc.LookupSale(t.Context(), "spring-1")
	if err != nil {
		t.Fatal(err)
	}
	if !def.SameDefinition(st.Sale) || got.SaleID != "spring-1" || got.Stock != 10 {
		t.Errorf("GET answered %s; its definition does not rebuild the sale %+v", resp.Body, st.Sale)
	}
	wantError(t, call(t, get, withSale(req, "nope")), http.StatusNotFound, "sale_not_found")
	wantError(t, call(t, get, asUser(req, "buyer")), http.StatusForbidden, "forbidden")
}
