package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"flashsale/shared/awsclient"
	"flashsale/shared/local/devauth"
	"flashsale/shared/local/devstack"
)

// badOutput is what must never reach a reader: a nil formatted with %v
// ("<nil>"), a verb that did not match its argument ("%!d(string=…)",
// "%!w(<nil>)") and Go's map syntax ("map[0:490 202:10]").
var badOutput = []string{"<nil>", "%!", "map["}

// gatewayFault is one way a gateway (or an emulator behind the stack) can
// answer badly.
type gatewayFault struct {
	name    string
	handler http.HandlerFunc // nil: nothing listens at the URL
}

var gatewayFaults = []gatewayFault{
	{"handler error", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"error":{"code":"unavailable","message":"try again shortly"}}`))
	}},
	{"gateway message", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte(`{"message":"Missing Authentication Token"}`))
	}},
	{"empty 500", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusInternalServerError) }},
	{"200 that is not JSON", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("<html>oops</html>")) }},
	{"nothing listens", nil},
}

// faultyStack writes a state folder whose stack.json points the gateway,
// the control port, DynamoDB and SQS at url, with dev keys, so every
// command that talks to the local stack meets the fault.
func faultyStack(tb testing.TB, url string) string {
	tb.Helper()
	state := tb.TempDir()
	if _, err := devauth.LoadOrCreate(state); err != nil {
		tb.Fatal(err)
	}
	info := devstack.StackInfo{GatewayURL: url, ControlURL: url, DLQURL: url + "/000000000000/dlq",
		Settings: awsclient.Settings{DynamoDBEndpoint: url, SQSEndpoint: url, SalesTable: "sales", OrdersTable: "orders",
			OrdersQueueURL: url + "/000000000000/orders.fifo", MaxAttempts: 1, AttemptTimeout: 2 * time.Second}}
	if err := devstack.WriteStackInfo(state, info); err != nil {
		tb.Fatal(err)
	}
	return state
}

// deadURL is an address where nothing listens any more.
func deadURL(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	url := "http://" + l.Addr().String()
	l.Close()
	return url
}

// TestCLIErrorPaths_NoStrayNil runs the commands' failure cases (bad
// flags, no stack, and a stack whose gateway and emulators answer badly)
// and checks that nothing printed and no error reads "<nil>", "%!" or "map[".
func TestCLIErrorPaths_NoStrayNil(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	nullCatalog := write("null.json", "null")
	stringCatalog := write("string.json", `"sales"`)
	catalog := write("catalog.json", `[{"saleId":"s1","name":"S1","priceCents":100,"currency":"USD",
		"startsAt":"2030-01-01T10:00:00Z","endsAt":"2030-01-01T11:00:00Z","stock":10,"perUserLimit":1,"paymentWindowSeconds":600}]`)
	users := write("users.txt", "alice\nbob\n")
	tokens := write("tokens.txt", "jwt-1\n")
	event := write("event.json", "{")
	noStack := filepath.Join(dir, "no-stack")

	type cliCase struct {
		name string
		cmd  func() *cobra.Command
		args []string
	}
	// Cases that need no stack; a bad flag for every command is added below.
	offline := []cliCase{
		{"pay not an order id", newPayCmd, []string{"--order", "nodot", "--state", noStack}},
		{"pay no stack", newPayCmd, []string{"--order", "demo.X", "--state", noStack}},
		{"report no stack", newReportCmd, []string{"--sale", "demo", "--state", noStack}},
		{"report summary as json", newReportCmd, []string{"--sale", "demo", "--summary", "--format", "json"}},
		{"report bad format", newReportCmd, []string{"--sale", "demo", "--format", "xml"}},
		{"loadtest bad mode", newLoadtestCmd, []string{"--target", "http://127.0.0.1:1", "--mode", "burst"}},
		{"loadtest no stack", newLoadtestCmd, []string{"--state", noStack}},
		{"loadtest zero tokens", newLoadtestCmd, []string{"--target", "http://127.0.0.1:1", "--api-key", "k", "--token-count", "0", "--state", noStack}},
		{"buy no stack", newBuyCmd, []string{"--sale", "demo", "--user", "u", "--state", noStack}},
		{"sales import null catalog", newSalesImportCmd, []string{"--file", nullCatalog, "--dry-run"}},
		{"sales import string catalog", newSalesImportCmd, []string{"--file", stringCatalog, "--dry-run"}},
		{"sales import no stack", newSalesImportCmd, []string{"--file", catalog, "--state", noStack}},
		{"allowlist no stack", newAllowlistImportCmd, []string{"--sale", "demo", "--file", users, "--state", noStack}},
		{"schedule no stack", newScheduleCmd, []string{"list", "--state", noStack}},
		{"ban no stack", newBanCmd, []string{"ip", "list", "--state", noStack}},
		{"ban stage without api", newBanCmd, []string{"ip", "list", "--stage", "dev", "--api", "", "--token", ""}},
		{"dlq no stack", newDLQCmd, []string{"list", "--state", noStack}},
		{"token bad ttl", newTokenCmd, []string{"--user", "u", "--ttl", "-1s", "--state", dir}},
		{"token bad created", newTokenCmd, []string{"--user", "u", "--created", "yesterday", "--state", dir}},
		{"invoke unknown function", newInvokeCmd, []string{"--function", "nope", "--event", event}},
		{"invoke broken event", newInvokeCmd, []string{"--function", "reserve", "--event", event, "--state", noStack}},
		{"plan no stock", newPlanCmd, []string{"--peak-rps", "100"}},
		{"outbox no state", newOutboxCmd, []string{"--state", noStack}},
	}
	for _, mk := range []func() *cobra.Command{newPayCmd, newReportCmd, newLoadtestCmd, newBuyCmd, newSolveCmd, newTokenCmd,
		newAPIKeyCmd, newSalesImportCmd, newAllowlistImportCmd, newScheduleCmd, newBanCmd, newDLQCmd, newInvokeCmd, newPlanCmd, newOutboxCmd} {
		offline = append(offline, cliCase{"bad flag for " + mk().Name(), mk, []string{"--no-such-flag"}})
	}
	for _, tc := range offline {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runCLI(t, tc.cmd(), tc.args...)
			checkClean(t, tc.args, out, err)
		})
	}

	// The same commands against a stack that answers badly.
	for _, f := range gatewayFaults {
		t.Run(f.name, func(t *testing.T) {
			url := deadURL(t)
			if f.handler != nil {
				srv := httptest.NewServer(f.handler)
				t.Cleanup(srv.Close)
				url = srv.URL
			}
			state := faultyStack(t, url)
			online := []cliCase{
				{"pay", newPayCmd, []string{"--order", "demo.X"}},
				{"pay with amount", newPayCmd, []string{"--order", "demo.X", "--amount", "5", "--currency", "USD"}},
				{"report", newReportCmd, []string{"--sale", "demo"}},
				{"report csv", newReportCmd, []string{"--sale", "demo", "--format", "csv"}},
				{"report csv summary", newReportCmd, []string{"--sale", "demo", "--format", "csv", "--summary"}},
				{"report settle", newReportCmd, []string{"--sale", "demo", "--settle"}},
				{"report period", newReportCmd, []string{"--from", "2026-12-01", "--to", "2026-12-02"}},
				{"loadtest", newLoadtestCmd, []string{"--sale", "demo", "--mode", "closed", "--users", "1", "--requests", "3", "--timeout", "2s", "--token-count", "2"}},
				{"loadtest no admission", newLoadtestCmd, []string{"--sale", "demo", "--mode", "closed", "--users", "1", "--requests", "3",
					"--timeout", "2s", "--tokens", tokens, "--api-key", "k", "--no-admission"}},
				{"buy", newBuyCmd, []string{"--sale", "demo", "--user", "u"}},
				{"sales import", newSalesImportCmd, []string{"--file", catalog, "--concurrency", "1"}},
				{"allowlist import", newAllowlistImportCmd, []string{"--sale", "demo", "--file", users}},
				{"schedule list", newScheduleCmd, []string{"list"}},
				{"ban ip list", newBanCmd, []string{"ip", "list"}},
				{"ban user add", newBanCmd, []string{"user", "add", "--user", "mallory"}},
				{"ban ip list on a stage", newBanCmd, []string{"ip", "list", "--stage", "dev", "--api", url, "--token", "t"}},
				{"dlq list", newDLQCmd, []string{"list"}},
			}
			for _, tc := range online {
				t.Run(tc.name, func(t *testing.T) {
					args := append([]string{"--state", state}, tc.args...)
					if tc.name == "ban ip list on a stage" {
						args = tc.args
					}
					out, err := runCLI(t, tc.cmd(), args...)
					checkClean(t, args, out, err)
				})
			}
		})
	}
}

// runCLI runs cmd with args, bounded in time, and returns all it printed.
func runCLI(tb testing.TB, cmd *cobra.Command, args ...string) (string, error) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// As main's root command: the error is returned, not printed with usage.
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	var out strings.Builder
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetIn(strings.NewReader("not a challenge"))
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	return out.String(), err
}

// checkClean fails when the output or the error holds any of badOutput.
func checkClean(tb testing.TB, args []string, out string, err error) {
	tb.Helper()
	text := out
	if err != nil {
		text += "\nerror: " + err.Error()
	}
	tb.Logf("%v:\n%s", args, text) // go test -v shows what each case said
	for _, bad := range badOutput {
		if strings.Contains(text, bad) {
			tb.Errorf("%v printed %q:\n%s", args, bad, text)
		}
	}
}

// TestSoakVerdict names only what failed: a settlement that worked has no
// error, which the verdict used to print as "final settlement error <nil>".
func TestSoakVerdict(t *testing.T) {
	tests := []struct {
		name                 string
		rss, goroutines, bal bool
		settleErr            error
		want                 string
	}{
		{"all well", false, false, true, nil, ""},
		{"rss grows", true, false, true, nil, "soak failed: RSS keeps growing"},
		{"goroutines grow, books off", false, true, false, nil, "soak failed: goroutines keep growing; the books do not balance after the final settlement"},
		{"settlement failed", false, false, false, errors.New("store down"), "soak failed: the final settlement failed: store down"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := soakVerdict(tc.rss, tc.goroutines, tc.bal, tc.settleErr)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Errorf("soakVerdict = %q, want %q", got, tc.want)
			}
		})
	}
}
