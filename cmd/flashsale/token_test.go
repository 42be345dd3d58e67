package main

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
	"time"

	"flashsale/shared/local/devauth"
)

func TestTokenCommand(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantSubs   []string
		wantGroups string
		// wantCreated is custom:created_at; "" means 400 days before iat.
		wantCreated string
		wantErr     bool
	}{
		{name: "one user", args: []string{"--user", "alice"}, wantSubs: []string{"alice"}},
		{name: "groups", args: []string{"--user", "boss", "--group", "admin", "--group", "finance"}, wantSubs: []string{"boss"}, wantGroups: "admin,finance"},
		{name: "many users", args: []string{"--users", "3", "--prefix", "buyer"}, wantSubs: []string{"buyer1", "buyer2", "buyer3"}},
		{name: "neither flag", args: nil, wantErr: true},
		{name: "both flags", args: []string{"--user", "a", "--users", "2"}, wantErr: true},
		{name: "bad ttl", args: []string{"--user", "a", "--ttl", "-1m"}, wantErr: true},
		{name: "created", args: []string{"--user", "newbie", "--created", "2026-11-20T00:00:00Z"}, wantSubs: []string{"newbie"}, wantCreated: "1795132800"},
		{name: "created with an offset", args: []string{"--user", "n", "--created", "2026-11-20T02:00:00+02:00"}, wantSubs: []string{"n"}, wantCreated: "1795132800"},
		{name: "bad created", args: []string{"--user", "a", "--created", "yesterday"}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			state := t.TempDir()
			cmd := newTokenCmd()
			var out bytes.Buffer
			cmd.SetOut(&out)
			cmd.SetErr(&out)
			cmd.SetArgs(append(tc.args, "--state", state))
			err := cmd.Execute()
			if tc.wantErr {
				if err == nil {
					t.Fatalf("token %v = nil error, output %q; want an error", tc.args, out.String())
				}
				return
			}
			if err != nil {
				t.Fatalf("token %v: %v", tc.args, err)
			}
			iss, err := devauth.LoadOrCreate(state)
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Fields(out.String())
			if len(lines) != len(tc.wantSubs) {
				t.Fatalf("printed %d tokens, want %d", len(lines), len(tc.wantSubs))
			}
			v := iss.Verifier()
			for i, tok := range lines {
				claims, err := v.Verify(tok)
				if err != nil {
					t.Fatalf("token %d does not verify: %v", i, err)
				}
				if claims["sub"] != tc.wantSubs[i] || claims["cognito:groups"] != tc.wantGroups {
					t.Errorf("token %d: sub %q groups %q, want %q %q", i, claims["sub"], claims["cognito:groups"], tc.wantSubs[i], tc.wantGroups)
				}
				got := claims[devauth.ClaimCreatedAt]
				if tc.wantCreated != "" && got != tc.wantCreated {
					t.Errorf("token %d: %s = %q, want %q", i, devauth.ClaimCreatedAt, got, tc.wantCreated)
				}
				if tc.wantCreated == "" {
					secs, _ := strconv.ParseInt(got, 10, 64)
					if age := time.Since(time.Unix(secs, 0)); age < devauth.DefaultAccountAge || age > devauth.DefaultAccountAge+time.Minute {
						t.Errorf("token %d: %s = %q, an account %v old; want %v", i, devauth.ClaimCreatedAt, got, age, devauth.DefaultAccountAge)
					}
				}
			}
		})
	}
}
