package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"flashsale/shared/flashsale"
	"flashsale/shared/local/prepare"
	"flashsale/shared/local/testclock"
)

func TestOutboxCommand(t *testing.T) {
	state := t.TempDir()
	if _, err := runCmd(t, newOutboxCmd(), "--state", state); err == nil || !strings.Contains(err.Error(), "no reminder has been sent yet") {
		t.Fatalf("outbox before any reminder: %v, want an error saying none was sent yet", err)
	}
	sentAt := time.Date(2026, 12, 1, 9, 50, 0, 0, time.UTC)
	o := prepare.NewOutbox(filepath.Join(state, prepare.OutboxFile), testclock.New(sentAt).Now)
	for _, m := range []flashsale.ReminderMessage{{SaleID: "a", UserID: "alice"}, {SaleID: "b", UserID: "bob"}, {SaleID: "a", UserID: "carol"}} {
		if err := o.Notify(t.Context(), m); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		args []string
		want []string // lines, fields joined by one space
	}{
		{"all", nil, []string{"SENT AT SALE USER", "2026-12-01T09:50:00Z a alice", "2026-12-01T09:50:00Z b bob", "2026-12-01T09:50:00Z a carol", "3 reminder(s)"}},
		{"one sale", []string{"--sale", "a"}, []string{"SENT AT SALE USER", "2026-12-01T09:50:00Z a alice", "2026-12-01T09:50:00Z a carol", "2 reminder(s)"}},
		{"a sale with none", []string{"--sale", "zzz"}, []string{"no reminder sent for sale zzz yet (3 for other sales)"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runCmd(t, newOutboxCmd(), append([]string{"--state", state}, tc.args...)...)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
				got = append(got, strings.Join(strings.Fields(l), " "))
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("outbox %v printed\n%s\nwant\n%s", tc.args, strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}
