package apispec

import (
	"testing"
	"time"

	"flashsale/shared/schema"
)

func TestFunctions_EachRouteFunctionDeclaredOnce(t *testing.T) {
	seen := map[string]int{}
	for _, f := range Functions {
		seen[f.Name]++
		if f.MemoryMB < 128 || f.MemoryMB > 10240 {
			t.Errorf("%s: memory %d MB, want 128..10240 (Lambda's range)", f.Name, f.MemoryMB)
		}
		if f.Timeout < time.Second || f.Timeout > 15*time.Minute || f.Timeout%time.Second != 0 {
			t.Errorf("%s: timeout %s, want whole seconds in 1s..15m (Lambda's range)", f.Name, f.Timeout)
		}
	}
	for name, n := range seen {
		if n != 1 {
			t.Errorf("function %s declared %d times, want once", name, n)
		}
	}
	for _, r := range Routes {
		f, err := FunctionNamed(r.Function)
		if err != nil {
			t.Errorf("%s %s: %v", r.Method, r.Path, err)
			continue
		}
		// API Gateway stops waiting at 29 s whatever the function's timeout.
		if f.Timeout > IntegrationTimeout {
			t.Errorf("%s serves %s %s with timeout %s, more than the integration's %s", f.Name, r.Method, r.Path, f.Timeout, IntegrationTimeout)
		}
	}
}

func TestFunctions_OrderWriterFitsTheQueueVisibility(t *testing.T) {
	f, err := FunctionNamed(FunctionOrderWriter)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := schema.OrdersQueue.VisibilityTimeout, 6*f.Timeout; got < want {
		t.Errorf("orders queue visibility %s, want at least 6 × the writer's timeout = %s", got, want)
	}
}

func TestSettlementEvery_WholeMinutes(t *testing.T) {
	// EventBridge's rate() takes whole minutes, at least one.
	if SettlementEvery < time.Minute || SettlementEvery%time.Minute != 0 {
		t.Errorf("SettlementEvery = %s, want a whole number of minutes", SettlementEvery)
	}
}

func TestFunctionNamed_Unknown(t *testing.T) {
	if f, err := FunctionNamed("nope"); err == nil {
		t.Errorf("FunctionNamed(nope) = %+v, nil; want an error", f)
	}
}

func TestFunctions_DeclaresEveryFunction(t *testing.T) {
	for _, name := range []string{FunctionSaleInfo, FunctionReserve, FunctionOrders, FunctionAdmin, FunctionAdmission, FunctionIPBanSync, FunctionAccountCreated, FunctionOrderWriter, FunctionSettlement, FunctionWarmUp, FunctionNotifier} {
		if _, err := FunctionNamed(name); err != nil {
			t.Error(err)
		}
	}
	if got, want := len(Functions), 11; got != want {
		t.Errorf("%d functions declared, want %d", got, want)
	}
}
