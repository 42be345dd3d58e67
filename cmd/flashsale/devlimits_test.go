package main

import (
	"strings"
	"testing"

	"flashsale/shared/apispec"
)

func TestDevLimits(t *testing.T) {
	dev, err := apispec.LimitsFor("dev")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		flag    string
		want    apispec.Limits
		wantErr bool
	}{
		{flag: "on", want: dev},
		{flag: "off", want: apispec.Limits{}},
		{flag: "maybe", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.flag, func(t *testing.T) {
			got, err := devLimits(tc.flag)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("devLimits(%q) = %+v, %v; want %+v, error %v", tc.flag, got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestPrintQuickstart_WarnsWhenLimitsOff(t *testing.T) {
	for _, off := range []bool{false, true} {
		var b strings.Builder
		printQuickstart(&b, "http://127.0.0.1:3000", "key", "/state", "", off)
		if got := strings.Contains(b.String(), "WARNING: --limits off"); got != off {
			t.Errorf("limits off %v: warning printed %v, want %v:\n%s", off, got, off, &b)
		}
		if !strings.Contains(b.String(), "curl -s http://127.0.0.1:3000/sales/demo") {
			t.Errorf("quickstart lacks the first curl:\n%s", &b)
		}
	}
}
