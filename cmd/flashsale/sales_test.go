package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"flashsale/shared/apispec"
	"flashsale/shared/dynamostore"
	"flashsale/shared/flashsale"
	"flashsale/shared/handler"
	"flashsale/shared/local/testclock"
	"flashsale/shared/local/testenv"
	"flashsale/shared/ops/catalog"
)

// fakeSalesAdmin is a deployed admin API in miniature: POST /admin/sales and
// GET /admin/sales/{id}, with scripted answers for some sale ids.
type fakeSalesAdmin struct {
	t     *testing.T
	mu    sync.Mutex
	sales map[string]flashsale.Sale
	// script lists, per sale id, statuses to answer a POST with before
	// handling it for real.
	script map[string][]int
	calls  int
}

func newFakeSalesAdmin(t *testing.T) (*fakeSalesAdmin, *httptest.Server) {
	f := &fakeSalesAdmin{t: t, sales: map[string]flashsale.Sale{}, script: map[string][]int{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

// callCount reads calls under the lock: a request the import gave up on
// may still be in the server's hands when the import returns.
func (f *fakeSalesAdmin) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func (f *fakeSalesAdmin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	answer := func(status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	apiErr := func(status int, code string) {
		answer(status, map[string]any{"error": map[string]string{"code": code, "message": code}})
	}
	if r.Header.Get("Authorization") != "Bearer admin-token" {
		answer(http.StatusUnauthorized, map[string]string{"message": "Unauthorized"})
		return
	}
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/admin/sales":
		b, _ := io.ReadAll(r.Body)
		n, err := handler.ParseNewSale(b)
		if err != nil {
			apiErr(http.StatusBadRequest, "invalid_json")
			return
		}
		if s := f.script[n.ID]; len(s) > 0 {
			f.script[n.ID] = s[1:]
			switch s[0] {
			case http.StatusServiceUnavailable:
				f.sales[n.ID], _ = n.Build() // stored, not scheduled
				apiErr(s[0], "not_scheduled")
			case http.StatusTooManyRequests:
				answer(s[0], map[string]string{"message": "Too Many Requests"})
			default:
				apiErr(s[0], "boom")
			}
			return
		}
		sale, err := n.Build()
		if err != nil {
			apiErr(http.StatusBadRequest, "invalid_sale")
			return
		}
		if _, ok := f.sales[n.ID]; ok {
			apiErr(http.StatusConflict, "sale_exists")
			return
		}
		f.sales[n.ID] = sale
		answer(http.StatusCreated, map[string]string{"saleId": n.ID})
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/admin/sales/"):
		s, ok := f.sales[strings.TrimPrefix(r.URL.Path, "/admin/sales/")]
		if !ok {
			apiErr(http.StatusNotFound, "sale_not_found")
			return
		}
		answer(http.StatusOK, map[string]any{"saleId": s.ID, "definition": handler.SaleDefinition(s)})
	default:
		apiErr(http.StatusNotFound, "no_route")
	}
}

// catalogCSV writes a CSV catalog of the given sale ids (priceCents 100
// unless price names another) and returns its path.
func catalogCSV(tb testing.TB, dir, name string, ids []string, price map[string]int64) string {
	tb.Helper()
	var b strings.Builder
	b.WriteString("saleId,name,priceCents,currency,startsAt,endsAt,stock,perUserLimit,paymentWindowSeconds,shards,admission\n")
	for i, id := range ids {
		p := price[id]
		if p == 0 {
			p = 100
		}
		start := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Hour)
		fmt.Fprintf(&b, "%s,Sale %s,%d,USD,%s,%s,%d,1,600,%d,%s\n", id, id, p,
			flashsale.FormatTime(start), flashsale.FormatTime(start.Add(time.Hour)), 10+i%90, 1+i%4,
			map[bool]string{true: `"{""purchaseToken"":false}"`}[i%3 == 0])
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		tb.Fatal(err)
	}
	return path
}

func TestSalesImport_AgainstADeployedAPI(t *testing.T) {
	f, srv := newFakeSalesAdmin(t)
	dir := t.TempDir()
	// Already there: same-1 as the catalog has it, diff-2 with another price.
	pre, err := catalog.Read(catalogCSV(t, dir, "pre.csv", []string{"same-1", "diff-2"}, map[string]int64{"diff-2": 250}))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range pre.Rows {
		f.sales[r.Sale.ID] = r.Sale
	}
	f.script["sched-3"] = []int{http.StatusServiceUnavailable}
	f.script["busy-4"] = []int{http.StatusTooManyRequests, http.StatusTooManyRequests, http.StatusTooManyRequests}
	f.script["bad-5"] = []int{http.StatusInternalServerError}
	file := catalogCSV(t, dir, "catalog.csv", []string{"same-1", "diff-2", "sched-3", "busy-4", "bad-5", "new-6"}, nil)

	var out, errOut bytes.Buffer
	err = runSalesImport(context.Background(), salesImportOptions{
		stage: "dev", api: srv.URL, token: "admin-token", file: file, concurrency: 1,
		backoff: backoff{first: time.Millisecond, max: 4 * time.Millisecond, giveUp: 5 * time.Second},
	}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "1 conflicting and 1 failed of 6 sales") {
		t.Errorf("got error %v, want 1 conflicting and 1 failed", err)
	}
	got := out.String()
	for _, want := range []string{
		"line 2  same-1   skipped (exists, same fields)\n",
		"line 3  diff-2   conflicting: exists with other fields, left unchanged: priceCents: 100 in the catalog, 250 stored\n",
		"line 4  sched-3  created (the first POST answered 503 not_scheduled",
		"line 5  busy-4   created\n",
		"line 6  bad-5    failed: POST /admin/sales: the API answered 500 boom: boom\n",
		"line 7  new-6    created\n",
		"created 3, skipped 1, conflicting 1, failed 1 (6 sales in " + file,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q; got\n%s", want, got)
		}
	}
	if p := f.sales["diff-2"].PriceCents; p != 250 {
		t.Errorf("diff-2 was overwritten: price %d, want 250", p)
	}
	if !strings.Contains(errOut.String(), "429 Too Many Requests") {
		t.Errorf("stderr does not explain the 429s:\n%s", errOut.String())
	}
}

func TestSalesImport_RefusedTokenStopsTheImport(t *testing.T) {
	f, srv := newFakeSalesAdmin(t)
	ids := make([]string, 50)
	for i := range ids {
		ids[i] = fmt.Sprintf("s-%02d", i)
	}
	file := catalogCSV(t, t.TempDir(), "catalog.csv", ids, nil)
	var out bytes.Buffer
	err := runSalesImport(context.Background(), salesImportOptions{
		stage: "prod", api: srv.URL, token: "not-an-admin", file: file, concurrency: 2,
	}, &out, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "0 conflicting and 50 failed") {
		t.Errorf("got error %v, want all 50 failed", err)
	}
	if n := f.callCount(); n > 4 {
		t.Errorf("the API got %d calls after refusing the token, want the import stopped", n)
	}
	if !strings.Contains(out.String(), "failed: not sent: the API refused the admin token or this address (401)") {
		t.Errorf("output does not say why the rest was not sent:\n%s", out.String())
	}
}

func TestSalesImport_BadCatalogSendsNothing(t *testing.T) {
	f, srv := newFakeSalesAdmin(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "bad.json")
	body := `[{"saleId":"a","name":"A","priceCents":1,"currency":"usd","startsAt":"2027-01-01T00:00:00Z","endsAt":"2027-01-01T01:00:00Z","stock":1,"perUserLimit":1,"paymentWindowSeconds":60},
 {"saleId":"b","name":"B","priceCents":1,"currency":"USD","startsAt":"2027-01-01T00:00:00Z","endsAt":"2027-01-01T01:00:00Z","stock":1,"perUserLimit":1,"paymentWindowSeconds":60}]`
	if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	err := runSalesImport(context.Background(), salesImportOptions{stage: "dev", api: srv.URL, token: "admin-token", file: file, concurrency: 8}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "row 1: currency must be an ISO 4217 code such as USD (sale a)\nnothing was sent") {
		t.Errorf("got %v, want row 1's currency and nothing sent", err)
	}
	if n := f.callCount(); n != 0 {
		t.Errorf("the API got %d calls, want none", n)
	}
}

func TestSalesImport_DryRunNeedsNoStack(t *testing.T) {
	var out bytes.Buffer
	err := runSalesImport(context.Background(), salesImportOptions{
		state: t.TempDir(), file: "../../docs/examples/catalog.json", dryRun: true, concurrency: 8,
	}, &out, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if got := out.String(); !strings.Contains(got, "row 1  ") || !strings.Contains(got, "would create: ") ||
		!strings.Contains(got, "dry run: ../../docs/examples/catalog.json holds 3 valid sales (json); nothing was sent") {
		t.Errorf("got\n%s", got)
	}
}

func TestSalesImport_Flags(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    salesImportOptions
		want string
	}{
		{"concurrency", salesImportOptions{file: "x.csv", concurrency: 0}, "--concurrency 0: want 1 to 64"},
		{"api without stage", salesImportOptions{file: "../../docs/examples/catalog.csv", api: "http://x", concurrency: 1}, "--api and --token need --stage"},
		{"unknown stage", salesImportOptions{file: "../../docs/examples/catalog.csv", stage: "qa", concurrency: 1}, `unknown stage "qa"`},
		{"stage without token", salesImportOptions{file: "../../docs/examples/catalog.csv", stage: "dev", api: "http://x", concurrency: 1}, "needs the API's URL"},
		{"extension", salesImportOptions{file: "sales.xlsx", concurrency: 1}, "must end in .json or .csv, not .xlsx"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(envAPIURL, "")
			t.Setenv(envAdminToken, "")
			err := runSalesImport(context.Background(), tc.o, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
}

// TestSalesImport_LocalStack imports 500 sales into a real local stack,
// imports them again (the JSON twin of the CSV: all skipped), then a
// catalog with one changed row (conflicting, not overwritten).
func TestSalesImport_LocalStack(t *testing.T) {
	if testing.Short() {
		t.Skip("a local stack and 1,500 admin calls")
	}
	cfg := testenv.StackConfig(t)
	// The dev stage's throttles, as `make dev` runs; the per-IP rule off,
	// since three imports of 500 from one address send 2,500 requests
	// (its 429s are TestSalesImport_AgainstADeployedAPI's).
	cfg.Limits, _ = apispec.LimitsFor("dev")
	cfg.NoIPRateRule = true
	cfg.NoBackground = true
	// The stack's clock a day before the catalog's first sale, whatever
	// today's date: the sales read as scheduled.
	cfg.Now = testclock.New(time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC)).Now
	st := testenv.OpenStack(t, cfg)
	dir := t.TempDir()
	ids := make([]string, 500)
	for i := range ids {
		ids[i] = fmt.Sprintf("cat-%03d", i)
	}
	file := catalogCSV(t, dir, "catalog.csv", ids, nil)
	run := func(file string) (string, time.Duration, error) {
		var out bytes.Buffer
		start := time.Now()
		err := runSalesImport(t.Context(), salesImportOptions{state: cfg.StateDir, file: file, concurrency: DefaultImportConcurrency}, &out, io.Discard)
		return out.String(), time.Since(start), err
	}

	out, took, err := run(file)
	if err != nil {
		t.Fatalf("first import: %v\n%s", err, tail(out))
	}
	t.Logf("import of 500 new sales: %.2f s", took.Seconds())
	if !strings.Contains(out, "created 500, skipped 0, conflicting 0, failed 0") {
		t.Errorf("first import: got\n%s", tail(out))
	}
	for _, i := range []int{0, 137, 499} {
		var s struct {
			SaleID     string
			Name       string
			PriceCents int64
			Remaining  int64
			Status     string
		}
		getJSON(t, st.URL+"/sales/"+ids[i], &s)
		if s.SaleID != ids[i] || s.Name != "Sale "+ids[i] || s.PriceCents != 100 || s.Remaining != int64(10+i%90) || s.Status != "scheduled" {
			t.Errorf("GET /sales/%s: got %+v", ids[i], s)
		}
	}
	sales, err := dynamostore.New(st.DynamoDB, st.Settings.SalesTable, st.Settings.OrdersTable).ListSales(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(sales) != 500 {
		t.Errorf("the store holds %d sales, want 500", len(sales))
	}
	// Each sale's four preparation schedules, put once per sale.
	if n, puts := len(st.Schedules.Entries()), st.Schedules.Puts(); n != 4*500 || puts != 500 {
		t.Errorf("%d schedules from %d puts after the import; want 2,000 from 500", n, puts)
	}

	// The same catalog as JSON: every sale is skipped, and the exit is clean.
	out, took, err = run(jsonTwin(t, file))
	if err != nil {
		t.Fatalf("second import: %v\n%s", err, tail(out))
	}
	t.Logf("import of 500 existing sales: %.2f s", took.Seconds())
	if !strings.Contains(out, "created 0, skipped 500, conflicting 0, failed 0") {
		t.Errorf("second import: got\n%s", tail(out))
	}
	// Deployed, schedules that fired deleted themselves: putting them
	// again would fire them again, so a re-import puts none.
	if puts := st.Schedules.Puts(); puts != 500 {
		t.Errorf("the re-import put schedules %d times; want none", puts-500)
	}

	// One changed row: reported, not written.
	changed := catalogCSV(t, dir, "changed.csv", ids, map[string]int64{"cat-250": 4999})
	out, _, err = run(changed)
	if err == nil || !strings.Contains(err.Error(), "1 conflicting and 0 failed") {
		t.Errorf("changed import: got error %v, want 1 conflicting", err)
	}
	if !strings.Contains(out, "line 252  cat-250  conflicting: exists with other fields, left unchanged: priceCents: 4999 in the catalog, 100 stored") ||
		!strings.Contains(out, "created 0, skipped 499, conflicting 1, failed 0") {
		t.Errorf("changed import: got\n%s", tail(out))
	}
	var s struct{ PriceCents int64 }
	getJSON(t, st.URL+"/sales/cat-250", &s)
	if s.PriceCents != 100 {
		t.Errorf("cat-250 costs %d after the conflicting import, want 100 (unchanged)", s.PriceCents)
	}
}

// jsonTwin writes the JSON catalog of the CSV one at path, row for row.
func jsonTwin(tb testing.TB, path string) string {
	tb.Helper()
	c, err := catalog.Read(path)
	if err != nil {
		tb.Fatal(err)
	}
	bodies := make([]json.RawMessage, len(c.Rows))
	for i, r := range c.Rows {
		bodies[i] = r.Body
	}
	b, err := json.MarshalIndent(bodies, "", " ")
	if err != nil {
		tb.Fatal(err)
	}
	out := strings.TrimSuffix(path, ".csv") + ".json"
	if err := os.WriteFile(out, b, 0o644); err != nil {
		tb.Fatal(err)
	}
	return out
}

func getJSON(tb testing.TB, url string, v any) {
	tb.Helper()
	resp, err := http.Get(url)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		tb.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		tb.Fatal(err)
	}
}

// tail is the end of a long output, for failure messages.
func tail(s string) string {
	if len(s) > 2000 {
		return "…" + s[len(s)-2000:]
	}
	return s
}
