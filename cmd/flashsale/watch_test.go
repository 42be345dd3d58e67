package main

import (
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"flashsale/shared/flashsale"
	"flashsale/shared/local/devstack"
	"flashsale/shared/local/testenv"
)

// TestWatch_Once prints one frame of a running stack: the sale asked for,
// its remaining stock, the 202 and 410 its buyers got, and the queue.
func TestWatch_Once(t *testing.T) {
	cfg := testenv.StackConfig(t)
	st := testenv.OpenStack(t, cfg)
	now := time.Now().UTC()
	if _, err := st.App.Service.CreateSale(t.Context(), flashsale.NewSale{ID: "w-1", Name: "Watched", PriceCents: 100,
		Currency: "USD", StartsAt: now.Add(-time.Minute), EndsAt: now.Add(time.Hour), Stock: 1, PerUserLimit: 1,
		PaymentWindowSeconds: 600, Admission: &flashsale.Admission{}}); err != nil {
		t.Fatal(err)
	}
	for i, want := range []int{http.StatusAccepted, http.StatusGone, http.StatusGone} {
		if got, _ := testenv.Order(t, st, "w-1", string(rune('a'+i)), "watch-1"); got != want {
			t.Fatalf("buyer %d got %d, want %d", i, got, want)
		}
	}

	out, err := runCmd(t, newWatchCmd(), "--once", "--sale", "w-1", "--state", cfg.StateDir)
	if err != nil {
		t.Fatalf("watch --once: %v\n%s", err, out)
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^\S+Z  window [0-9.]+ s  orders queue \d+ visible \+ \d+ in flight$`),
		// GET /sales/{id} caches the remaining stock about a second, and
		// watch shows what it reports: 0, or 1 just after the sale.
		regexp.MustCompile(`(?m)^sale w-1 +sold_out +remaining [01]$`),
		regexp.MustCompile(`(?m)^  total +accepted 1 +410 2 +429 0 +other 4xx 0 +5xx 0`),
		regexp.MustCompile(`(?m)^  POST /sales/\{saleId\}/orders +410 [0-9.]+/s \(2\)`),
	} {
		if !want.MatchString(out) {
			t.Errorf("watch --once printed:\n%s\nwant a line matching %s", out, want)
		}
	}
	if strings.Contains(out, "\x1b[") {
		t.Errorf("watch into a pipe printed terminal escapes: %q", out)
	}
	if strings.Contains(out, "sale demo") || strings.Count(out, "\nsale ") != 1 {
		t.Errorf("watch --sale w-1 printed other sales:\n%s", out)
	}

	out, err = runCmd(t, newWatchCmd(), "--count", "2", "--every", "10ms", "--state", cfg.StateDir)
	if err != nil || strings.Count(out, "orders queue") != 2 {
		t.Errorf("watch --count 2 = %v\n%s\nwant two frames", err, out)
	}

	// A sale the stack does not know is an error, not an empty watch.
	out, err = runCmd(t, newWatchCmd(), "--once", "--sale", "no-such-sale", "--state", cfg.StateDir)
	if err == nil || !strings.Contains(err.Error(), "no sale no-such-sale on this stack") {
		t.Errorf("watch --sale no-such-sale = %v\n%s\nwant an error naming it", err, out)
	}
}

func TestWatch_Errors(t *testing.T) {
	noControl := t.TempDir()
	if err := devstack.WriteStackInfo(noControl, devstack.StackInfo{GatewayURL: "http://127.0.0.1:1", PID: os.Getpid()}); err != nil {
		t.Fatal(err)
	}
	// A control port that was given up: nothing listens there any more.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gone := t.TempDir()
	if err := devstack.WriteStackInfo(gone, devstack.StackInfo{GatewayURL: "http://127.0.0.1:1", ControlURL: "http://" + ln.Addr().String(),
		PID: os.Getpid()}); err != nil {
		t.Fatal(err)
	}
	ln.Close()
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"no stack", []string{"--once", "--state", t.TempDir()}, "no local stack: run `make dev`"},
		{"a stack without a control port", []string{"--once", "--state", noControl}, "no control port"},
		{"a stack that stopped answering", []string{"--once", "--state", gone}, "does not answer (has `make dev` stopped?)"},
		{"a bad count", []string{"--count", "-1", "--state", gone}, "--count must be ≥ 0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runCmd(t, newWatchCmd(), tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("watch %v = %v (%q), want an error with %q", tc.args, err, out, tc.wantErr)
			}
		})
	}
}
