package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"flashsale/shared/flashsale"
	"flashsale/shared/local/devstack"
	"flashsale/shared/local/prepare"
	"flashsale/shared/local/testclock"
	"flashsale/shared/local/testenv"
)

// TestScheduleList_ShowsWhatIsScheduledAndWhatFired lists a sale's four
// schedules from a running stack, before and after its warm-up fired.
func TestScheduleList_ShowsWhatIsScheduledAndWhatFired(t *testing.T) {
	clock := testclock.New(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
	cfg := testenv.StackConfig(t)
	cfg.Now = clock.Now
	cfg.NoBackground = true // the test fires the schedules itself
	st := testenv.OpenStack(t, cfg)
	start := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	if _, err := st.App.Service.CreateSale(t.Context(), flashsale.NewSale{ID: "spring-1", Name: "Spring", PriceCents: 100,
		Currency: "USD", StartsAt: start, EndsAt: start.Add(time.Hour), Stock: 10, PerUserLimit: 1, PaymentWindowSeconds: 600}); err != nil {
		t.Fatal(err)
	}
	clock.Set(start.Add(-flashsale.DefaultLead))
	if _, err := st.Schedules.RunDue(t.Context()); err != nil {
		t.Fatal(err)
	}

	out, err := runCmd(t, newScheduleCmd(), "list", "--state", cfg.StateDir)
	if err != nil {
		t.Fatalf("schedule list: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	want := []struct{ at, job, name, status string }{
		{"2026-12-01T09:50:00Z", "remind", "spring-1.remind", "fired"},
		{"2026-12-01T09:50:00Z", "warm-up", "spring-1.warm-up", "fired"},
		{"2026-12-01T09:59:00Z", "remind", "spring-1.last-call", "pending"},
		{"2026-12-01T11:00:00Z", "cool-down", "spring-1.cool-down", "pending"},
	}
	if len(lines) != len(want) {
		t.Fatalf("schedule list printed %q, want exactly one line per schedule (%d)", out, len(want))
	}
	for i, w := range want {
		f := strings.Fields(lines[i])
		if len(f) < 6 || f[0] != w.at || f[1] != "spring-1" || f[2] != w.job || f[3] != w.name || f[4] != w.status {
			t.Errorf("line %d = %q, want %s spring-1 %s %s %s", i+1, lines[i], w.at, w.job, w.name, w.status)
		}
	}
	if !strings.Contains(lines[1], "fired at 2026-12-01T09:50:00Z  provisioned") {
		t.Errorf("warm-up line %q, want when it fired and what it provisioned", lines[1])
	}

	out, err = runCmd(t, newScheduleCmd(), "list", "--json", "--state", cfg.StateDir)
	var got prepare.Schedules
	if err != nil || json.Unmarshal([]byte(out), &got) != nil {
		t.Fatalf("schedule list --json = %q, %v; want the control port's JSON", out, err)
	}
	if len(got.Schedules) != 4 || !got.Now.Equal(clock.Now()) || got.Schedules[0].Name != "spring-1.remind" {
		t.Errorf("schedule list --json = %+v, want the clock and 4 schedules by time", got)
	}
}

func TestScheduleList_Errors(t *testing.T) {
	old := t.TempDir()
	// A stack.json of a live process (this one) without a control port.
	if err := devstack.WriteStackInfo(old, devstack.StackInfo{GatewayURL: "http://127.0.0.1:1", PID: os.Getpid()}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, state, wantErr string
	}{
		{"no stack", t.TempDir(), "no local stack: run `make dev`"},
		{"a stack without a control port", old, "no control port"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := runCmd(t, newScheduleCmd(), "list", "--state", tc.state)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("schedule list: %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestWriteSchedules_Empty(t *testing.T) {
	var b strings.Builder
	if err := writeSchedules(&b, prepare.Schedules{}); err != nil || !strings.HasPrefix(b.String(), "no schedules yet") {
		t.Errorf("writeSchedules of none = %q, %v; want a sentence saying there are none", b.String(), err)
	}
}
