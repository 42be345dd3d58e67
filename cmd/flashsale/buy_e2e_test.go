package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"flashsale/shared/flashsale"
	"flashsale/shared/local/devstack"
	"flashsale/shared/local/testenv"
)

// TestBuyCommand_EndToEnd runs `flashsale buy` against a local stack on the
// emulators: the seeded demo sale asks for a token and a solved challenge.
func TestBuyCommand_EndToEnd(t *testing.T) {
	cfg := testenv.StackConfig(t)
	cfg.Seed = devstack.SeedDemo
	testenv.OpenStack(t, cfg) // writes stack.json, which buy reads

	buy := func(args ...string) (string, string, error) {
		cmd := newBuyCmd()
		var out, errOut strings.Builder
		cmd.SetOut(&out)
		cmd.SetErr(&errOut)
		cmd.SetArgs(append([]string{"--state", cfg.StateDir}, args...))
		err := cmd.Execute()
		return out.String(), errOut.String(), err
	}
	out, steps, err := buy("--sale", devstack.DemoSaleID, "--user", "alice", "--quantity", "2")
	if err != nil {
		t.Fatalf("buy: %v\n%s", err, steps)
	}
	var rc flashsale.Receipt
	if err := json.Unmarshal([]byte(out), &rc); err != nil {
		t.Fatalf("buy printed %q, want the receipt as JSON: %v", out, err)
	}
	if rc.Status != "reserved" || rc.Quantity != 2 || rc.SaleID != devstack.DemoSaleID || rc.AmountCents != 2*1999 {
		t.Errorf("receipt %+v, want 2 reserved units of the demo sale for 39.98", rc)
	}
	t.Logf("steps:\n%s", steps)
	if !strings.Contains(steps, "purchase token: challenge solved") {
		t.Errorf("steps %q, want the challenge solved", steps)
	}
	// The per-user limit (2) is reached: the API's refusal is the error.
	if _, _, err := buy("--sale", devstack.DemoSaleID, "--user", "alice"); err == nil || !strings.Contains(err.Error(), "409 limit_reached") {
		t.Errorf("a third unit: err = %v, want 409 limit_reached", err)
	}

	// An allowlisted sale: import, then only listed users get a token.
	body := `{"saleId":"members","name":"Members","priceCents":500,"currency":"USD",
		"startsAt":"` + time.Now().UTC().Add(-time.Minute).Format(time.RFC3339) + `","endsAt":"` + time.Now().UTC().Add(time.Hour).Format(time.RFC3339) + `",
		"stock":10,"perUserLimit":1,"paymentWindowSeconds":600,"admission":{"purchaseToken":true,"challengeMaxNumber":500,"allowlist":true}}`
	api, err := openAPI(cfg.StateDir, "")
	if err != nil {
		t.Fatal(err)
	}
	if status, b, err := api.call(t.Context(), http.MethodPost, "/admin/sales", "admin", nil, []byte(body)); err != nil || status != http.StatusCreated {
		t.Fatalf("create the sale: %d %s %v", status, b, err)
	}
	file := filepath.Join(t.TempDir(), "users.csv")
	if err := os.WriteFile(file, []byte("userId\nbob\ncarol\nbob\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"2 of 2 ids added (0 already there); the allowlist holds 2", "0 of 2 ids added (2 already there); the allowlist holds 2"} {
		cmd := newAllowlistImportCmd()
		var imported strings.Builder
		cmd.SetOut(&imported)
		cmd.SetErr(io.Discard)
		cmd.SetArgs([]string{"--state", cfg.StateDir, "--sale", "members", "--file", file})
		if err := cmd.Execute(); err != nil || !strings.Contains(imported.String(), want) {
			t.Errorf("import %d: %q, %v; want %q", i+1, imported.String(), err, want)
		}
	}
	if _, _, err := buy("--sale", "members", "--user", "bob"); err != nil {
		t.Errorf("bob, on the list: %v", err)
	}
	if _, _, err := buy("--sale", "members", "--user", "dave"); err == nil || !strings.Contains(err.Error(), "403 not_eligible (allowlist)") {
		t.Errorf("dave, not on the list: err = %v, want 403 not_eligible (allowlist)", err)
	}
}
