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

func TestDevIPRateRule(t *testing.T) {
	dev, err := apispec.LimitsFor("dev")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		waf     string
		set     bool // given on the command line
		limits  apispec.Limits
		wantOff bool
		wantErr bool
	}{
		{waf: "on", limits: dev},
		{waf: "on", set: true, limits: dev},
		{waf: "off", set: true, limits: dev, wantOff: true},
		{waf: "off", set: true, limits: apispec.Limits{}, wantOff: true},
		{waf: "on", limits: apispec.Limits{}},                           // plain --limits off
		{waf: "on", set: true, limits: apispec.Limits{}, wantErr: true}, // --limits off means none at all
		{waf: "maybe", set: true, limits: dev, wantErr: true},
	}
	for _, tc := range tests {
		off, err := devIPRateRule(tc.waf, tc.set, tc.limits)
		if off != tc.wantOff || (err != nil) != tc.wantErr {
			t.Errorf("devIPRateRule(%q, set %v, WAFRateLimit %d) = %v, %v; want %v, error %v", tc.waf, tc.set, tc.limits.WAFRateLimit, off, err, tc.wantOff, tc.wantErr)
		}
	}
}

func TestPrintQuickstart_WarnsWhenLimitsOff(t *testing.T) {
	tests := []struct {
		name           string
		limitsOff      bool
		ipRule         int
		wantLimitsWarn bool
		wantWAFWarn    bool
		wantRuleNote   bool
	}{
		{name: "all on", ipRule: 2000, wantRuleNote: true},
		{name: "--waf off", wantWAFWarn: true},
		{name: "--limits off", limitsOff: true, wantLimitsWarn: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			printQuickstart(&b, "http://127.0.0.1:3000", "key", "/state", "", tc.limitsOff, tc.ipRule)
			out := b.String()
			for _, c := range []struct {
				text string
				want bool
			}{
				{"WARNING: --limits off", tc.wantLimitsWarn},
				{"WARNING: --waf off", tc.wantWAFWarn},
				{"more than 2000 requests in the last 5 minutes", tc.wantRuleNote},
				{"curl -s http://127.0.0.1:3000/sales/demo", true},
			} {
				if got := strings.Contains(out, c.text); got != c.want {
					t.Errorf("%q printed %v, want %v:\n%s", c.text, got, c.want, out)
				}
			}
		})
	}
}
