package main

import (
	"encoding/json"
	"strings"
	"testing"

	"flashsale/shared/flashsale"
	"flashsale/shared/local/devstack"
	"flashsale/shared/local/testenv"
)

// TestPayCommand_SecondPayEndToEnd pays one order twice on a local stack on
// the emulators: the second answer is a refund due, and the command says it
// is one because the order was already paid.
func TestPayCommand_SecondPayEndToEnd(t *testing.T) {
	cfg := testenv.StackConfig(t)
	cfg.Seed = devstack.SeedDemo
	testenv.OpenStack(t, cfg)

	buy := newBuyCmd()
	var receipt, steps strings.Builder
	buy.SetOut(&receipt)
	buy.SetErr(&steps)
	buy.SetArgs([]string{"--state", cfg.StateDir, "--sale", devstack.DemoSaleID, "--user", "payer"})
	if err := buy.Execute(); err != nil {
		t.Fatalf("buy: %v\n%s", err, steps.String())
	}
	var rc flashsale.Receipt
	if err := json.Unmarshal([]byte(receipt.String()), &rc); err != nil {
		t.Fatalf("buy printed %q: %v", receipt.String(), err)
	}
	pay := func() string {
		t.Helper()
		cmd := newPayCmd()
		var out strings.Builder
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SetArgs([]string{"--state", cfg.StateDir, "--order", rc.OrderID})
		if err := cmd.Execute(); err != nil {
			t.Fatalf("pay %s: %v\n%s", rc.OrderID, err, out.String())
		}
		return out.String()
	}
	if out := pay(); !strings.Contains(out, `"result":"paid"`) || !strings.Contains(out, "paid: order "+rc.OrderID+" is paid (19.99 USD)") {
		t.Errorf("first pay printed\n%s\nwant paid, in words too", out)
	}
	out := pay()
	want := "refund due (already_paid): the order was already paid by an earlier payment, so this second charge of 19.99 USD must be refunded"
	if !strings.Contains(out, `"result":"refund_due"`) || !strings.Contains(out, want) {
		t.Errorf("second pay printed\n%s\nwant refund_due and %q", out, want)
	}
}
