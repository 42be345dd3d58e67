package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"flashsale/shared/flashsale"
	"flashsale/shared/local/devauth"
	"flashsale/shared/reportfmt"
)

var testReport = flashsale.Report{
	SaleID: "spring", GeneratedAt: "2026-12-01T11:00:00Z", Balanced: true,
	Units:        flashsale.ReportUnits{Loaded: 10, Available: 7, Paid: 3},
	RevenueCents: 5997, Currency: "USD",
	Adjustments: []flashsale.Adjustment{}, Refunds: []flashsale.Refund{},
	Orders: []flashsale.ReportOrder{
		{OrderID: "spring.A", UserID: "alice, jr", Quantity: 1, AmountCents: 1999, Status: "paid", CreatedAt: "2026-12-01T10:00:00Z", PaidAt: "2026-12-01T10:01:00Z"},
		{OrderID: "spring.B", UserID: "bob", Quantity: 2, AmountCents: 3998, Status: "paid", CreatedAt: "2026-12-01T10:02:00Z", PaidAt: "2026-12-01T10:03:00Z"},
	},
}

var testPeriod = flashsale.PeriodReport{
	GeneratedAt: "2026-12-02T09:00:00Z",
	Sales: []flashsale.PeriodSale{
		{SaleID: "spring", Name: "Spring drop", SettledAt: "2026-12-01T11:00:00Z", Currency: "USD",
			Units: testReport.Units, RevenueCents: 5997, Balanced: true},
		{SaleID: "herbst", Name: "Herbst", SettledAt: "2026-12-01T12:00:00Z", Currency: "EUR",
			Units: flashsale.ReportUnits{Loaded: 5, Paid: 5}, RevenueCents: 4500, RefundsDueCents: 900, Balanced: true},
	},
	Totals: []flashsale.CurrencyTotal{
		{Currency: "EUR", Sales: 1, UnitsPaid: 5, RevenueCents: 4500, RefundsDueCents: 900, Balanced: true},
		{Currency: "USD", Sales: 1, UnitsPaid: 3, RevenueCents: 5997, Balanced: true},
	},
}

// fakeAdmin is a gateway stand-in over real HTTP: it checks each call's
// token and group with the state folder's verifier and records the calls.
type fakeAdmin struct {
	mu      sync.Mutex
	calls   []string
	settled bool
	// neverSettled answers the report with 404 not_settled until a settle.
	neverSettled bool
}

func (f *fakeAdmin) serve(tb testing.TB, iss *devauth.Issuer) *httptest.Server {
	tb.Helper()
	v := iss.Verifier()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, err := v.Verify(r.Header.Get("Authorization"))
		if err != nil {
			http.Error(w, `{"message":"Unauthorized"}`, http.StatusUnauthorized)
			return
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		f.calls = append(f.calls, r.Method+" "+r.URL.RequestURI()+" "+claims["cognito:groups"])
		w.Header().Set("Content-Type", "application/json")
		switch r.Method + " " + r.URL.Path {
		case "POST /admin/sales/spring/settle":
			f.settled = true
			_ = json.NewEncoder(w).Encode(testReport)
		case "GET /admin/sales/spring/report":
			if f.neverSettled && !f.settled {
				w.WriteHeader(http.StatusNotFound)
				_, _ = w.Write([]byte(`{"error":{"code":"not_settled","message":"this sale has not been settled yet"}}`))
				return
			}
			// The real negotiation and renderers: the CLI must pass what
			// the gateway makes through unchanged.
			format, ok := reportfmt.Negotiate(r.Header.Get("Accept"))
			if !ok {
				http.Error(w, `{"error":{"code":"not_acceptable","message":"no such format"}}`, http.StatusNotAcceptable)
				return
			}
			w.Header().Set("Content-Type", reportfmt.ContentType(format))
			_ = reportfmt.Write(w, format, testReport)
		case "GET /admin/reports":
			format, _ := reportfmt.Negotiate(r.Header.Get("Accept"))
			p := testPeriod
			p.From, p.To = r.URL.Query().Get("from"), r.URL.Query().Get("to")
			w.Header().Set("Content-Type", reportfmt.ContentType(format))
			_ = reportfmt.WritePeriod(w, format, p)
		default:
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"error":{"code":"sale_not_found","message":"no such sale"}}`))
		}
	}))
	tb.Cleanup(srv.Close)
	return srv
}

// runCmd runs one subcommand with args and returns what it printed.
func runCmd(tb testing.TB, cmd *cobra.Command, args ...string) (string, error) {
	tb.Helper()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

func TestReportCommand_Formats(t *testing.T) {
	state := t.TempDir()
	iss, err := devauth.LoadOrCreate(state)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeAdmin{}
	srv := f.serve(t, iss)
	tests := []struct {
		name  string
		args  []string
		check func(t *testing.T, out string)
	}{
		{name: "table is the default", check: func(t *testing.T, out string) {
			for _, want := range []string{"Sale", "spring", "59.97 USD", "spring.A", "TOTAL"} {
				if !strings.Contains(out, want) {
					t.Errorf("table lacks %q; got:\n%s", want, out)
				}
			}
		}},
		{name: "csv", args: []string{"--format", "csv"}, check: func(t *testing.T, out string) {
			rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
			if err != nil {
				t.Fatalf("csv does not parse: %v\n%s", err, out)
			}
			if len(rows) != 4 || rows[1][1] != "alice, jr" {
				t.Fatalf("csv rows = %q, want header, 2 orders (user %q) and TOTAL", rows, "alice, jr")
			}
			if got, want := rows[3], []string{"TOTAL", "", "3", "5997", "paid", "", "", "USD"}; !reflect.DeepEqual(got, want) {
				t.Errorf("TOTAL row = %q, want %q", got, want)
			}
		}},
		{name: "csv summary", args: []string{"--format", "csv", "--summary"}, check: func(t *testing.T, out string) {
			rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
			if err != nil {
				t.Fatalf("summary csv does not parse: %v\n%s", err, out)
			}
			if want := reportfmt.SummaryCSVHeader; len(rows) == 0 || !reflect.DeepEqual(rows[0], want) {
				t.Fatalf("summary csv = %q, want the header %q first", rows, want)
			}
			for _, want := range [][]string{
				{"units", "paid", "3", "", ""},
				{"money", "revenueCents", "5997", "paid orders", "USD"},
				{"money", "refundsDueCents", "0", "sum of the refund rows", "USD"},
			} {
				if !slices.ContainsFunc(rows, func(r []string) bool { return reflect.DeepEqual(r, want) }) {
					t.Errorf("summary csv lacks the row %q:\n%s", want, out)
				}
			}
			if strings.Contains(out, "orderId") {
				t.Errorf("summary csv holds the orders too, want the summary instead of them:\n%s", out)
			}
		}},
		{name: "json", args: []string{"--format", "json"}, check: func(t *testing.T, out string) {
			var got flashsale.Report
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("json does not parse: %v\n%s", err, out)
			}
			if !reflect.DeepEqual(got, testReport) {
				t.Errorf("json report = %+v, want %+v", got, testReport)
			}
			if !strings.Contains(out, "\n  \"saleId\"") {
				t.Errorf("json is not indented:\n%s", out)
			}
		}},
		{name: "html", args: []string{"--format", "html"}, check: func(t *testing.T, out string) {
			var want bytes.Buffer
			if err := reportfmt.WriteHTML(&want, testReport); err != nil {
				t.Fatal(err)
			}
			if out != want.String() {
				t.Errorf("html = %q, want the gateway's page as it came (%d bytes)", out, want.Len())
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runCmd(t, newReportCmd(), append([]string{"--sale", "spring", "--state", state, "--target", srv.URL}, tc.args...)...)
			if err != nil {
				t.Fatalf("report: %v", err)
			}
			tc.check(t, out)
		})
	}
	for _, c := range f.calls {
		if c != "GET /admin/sales/spring/report finance" {
			t.Errorf("gateway call %q, want only GET /admin/sales/spring/report with a finance token", c)
		}
	}
}

func TestReportCommand_SettleFirstAndOut(t *testing.T) {
	state := t.TempDir()
	iss, err := devauth.LoadOrCreate(state)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeAdmin{neverSettled: true}
	srv := f.serve(t, iss)

	_, err = runCmd(t, newReportCmd(), "--sale", "spring", "--state", state, "--target", srv.URL)
	if err == nil || !strings.Contains(err.Error(), "sale spring was never settled; run with --settle") {
		t.Fatalf("report of an unsettled sale: err = %v, want the never-settled hint", err)
	}

	outFile := filepath.Join(t.TempDir(), "spring.csv")
	if err := os.WriteFile(outFile, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runCmd(t, newReportCmd(), "--sale", "spring", "--state", state, "--target", srv.URL, "--settle", "--format", "csv", "--out", outFile)
	if err != nil {
		t.Fatalf("report --settle --out: %v", err)
	}
	if out != "" {
		t.Errorf("stdout = %q, want nothing with --out", out)
	}
	b, err := os.ReadFile(outFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(b), "orderId,userId,") || !strings.Contains(string(b), "TOTAL,,3,5997,paid,,,USD\r\n") {
		t.Errorf("%s = %q, want the CSV report", outFile, b)
	}
	if entries, _ := os.ReadDir(filepath.Dir(outFile)); len(entries) != 1 {
		t.Errorf("folder of --out holds %d entries, want 1 (no temp file left)", len(entries))
	}
	wantCalls := []string{
		"GET /admin/sales/spring/report finance",
		"POST /admin/sales/spring/settle admin",
		"GET /admin/sales/spring/report finance",
	}
	if !reflect.DeepEqual(f.calls, wantCalls) {
		t.Errorf("gateway calls = %q, want %q", f.calls, wantCalls)
	}
}

func TestReportCommand_Errors(t *testing.T) {
	state := t.TempDir()
	iss, err := devauth.LoadOrCreate(state)
	if err != nil {
		t.Fatal(err)
	}
	srv := (&fakeAdmin{}).serve(t, iss)
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{name: "no stack running", args: []string{"--sale", "spring", "--state", state}, wantErr: "no local stack: run `make dev`"},
		{name: "unknown sale", args: []string{"--sale", "autumn", "--state", state, "--target", srv.URL}, wantErr: "no sale autumn"},
		{name: "bad format", args: []string{"--sale", "spring", "--state", state, "--target", srv.URL, "--format", "xml"}, wantErr: `--format "xml"`},
		{name: "bad sale id", args: []string{"--sale", "a/b", "--state", state, "--target", srv.URL}, wantErr: `--sale "a/b"`},
		{name: "tokens from another state", args: []string{"--sale", "spring", "--state", t.TempDir(), "--target", srv.URL}, wantErr: "refused the token (401 Unauthorized)"},
		{name: "no --sale", args: []string{"--state", state}, wantErr: "give --sale for a sale's report, or --from"},
		{name: "sale and period", args: []string{"--sale", "spring", "--from", "2026-12-01", "--state", state}, wantErr: "either --sale or --from/--to"},
		{name: "to without from", args: []string{"--to", "2026-12-01", "--state", state}, wantErr: "--to needs --from"},
		{name: "to before from", args: []string{"--from", "2026-12-02", "--to", "2026-12-01", "--state", state}, wantErr: "is before from"},
		{name: "period too long", args: []string{"--from", "2025-01-01", "--to", "2026-12-01", "--state", state}, wantErr: "at most 366"},
		{name: "malformed day", args: []string{"--from", "2026-13-01", "--state", state}, wantErr: "is not a date"},
		{name: "settle a period", args: []string{"--from", "2026-12-01", "--settle", "--state", state}, wantErr: "use it with --sale"},
		{name: "summary of a table", args: []string{"--sale", "spring", "--summary", "--state", state}, wantErr: "--summary is a CSV of the sale's totals: use it with --format csv, not table"},
		{name: "summary as json", args: []string{"--sale", "spring", "--summary", "--format", "json", "--state", state}, wantErr: "use it with --format csv, not json"},
		{name: "summary of a period", args: []string{"--from", "2026-12-01", "--summary", "--format", "csv", "--state", state}, wantErr: "--summary summarises one sale: use it with --sale"},
		{name: "xlsx to stdout", args: []string{"--sale", "spring", "--format", "xlsx", "--state", state}, wantErr: "give --out FILE"},
		{name: "out folder missing", args: []string{"--sale", "spring", "--state", state, "--target", srv.URL, "--out", filepath.Join(state, "nope", "r.csv")}, wantErr: "write "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := runCmd(t, newReportCmd(), tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("report %v: err = %v, want one containing %q", tc.args, err, tc.wantErr)
			}
		})
	}
}

func TestReportCommand_Period(t *testing.T) {
	state := t.TempDir()
	iss, err := devauth.LoadOrCreate(state)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeAdmin{}
	srv := f.serve(t, iss)
	out, err := runCmd(t, newReportCmd(), "--from", "2026-12-01", "--to", "2026-12-31", "--state", state, "--target", srv.URL)
	if err != nil {
		t.Fatalf("report --from --to: %v", err)
	}
	for _, want := range []string{"2026-12-01 to 2026-12-31", "spring", "59.97 USD", "herbst", "45.00 EUR", "9.00 EUR"} {
		if !strings.Contains(out, want) {
			t.Errorf("period table lacks %q; got:\n%s", want, out)
		}
	}
	today := time.Now().UTC()
	yesterday := today.AddDate(0, 0, -1).Format(flashsale.DayLayout)
	out, err = runCmd(t, newReportCmd(), "--from", yesterday, "--format", "csv", "--state", state, "--target", srv.URL)
	if err != nil {
		t.Fatalf("report --from --format csv: %v", err)
	}
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatalf("csv does not parse: %v\n%s", err, out)
	}
	if len(rows) != 5 || rows[3][0] != "TOTAL" || rows[3][8] != "EUR" || rows[4][8] != "USD" {
		t.Errorf("period csv = %q, want header, 2 sales and a TOTAL row per currency", rows)
	}
	// --to defaults to today: the day the command ran, which may be the
	// day after the test's today if the run crossed midnight UTC.
	after := time.Now().UTC().Format(flashsale.DayLayout)
	want := []string{"GET /admin/reports?from=2026-12-01&to=2026-12-31 finance"}
	if len(f.calls) != 2 || f.calls[0] != want[0] ||
		(f.calls[1] != "GET /admin/reports?from="+yesterday+"&to="+today.Format(flashsale.DayLayout)+" finance" &&
			f.calls[1] != "GET /admin/reports?from="+yesterday+"&to="+after+" finance") {
		t.Errorf("gateway calls = %q, want %q and a second with to=today", f.calls, want)
	}
}

func TestReportCommand_XLSXToFile(t *testing.T) {
	state := t.TempDir()
	iss, err := devauth.LoadOrCreate(state)
	if err != nil {
		t.Fatal(err)
	}
	srv := (&fakeAdmin{}).serve(t, iss)
	out := filepath.Join(t.TempDir(), "spring.xlsx")
	if _, err := runCmd(t, newReportCmd(), "--sale", "spring", "--format", "xlsx", "--out", out, "--state", state, "--target", srv.URL); err != nil {
		t.Fatalf("report --format xlsx --out: %v", err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("PK\x03\x04")) || len(b) < 1000 {
		t.Errorf("%s holds %d bytes starting %q, want the gateway's workbook", out, len(b), b[:min(8, len(b))])
	}
}
