package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"flashsale/shared/local/devauth"
	"flashsale/shared/ops/loadtest"
)

// TestLoadtestCommand_DeployedTarget runs the command as against a deployed
// API: a target, a tokens file and an API key, so no local state is read.
func TestLoadtestCommand_DeployedTarget(t *testing.T) {
	var mu sync.Mutex
	auths := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.Path == "/sales/spring-1" { // a sale without purchase tokens
			w.Write([]byte(`{"saleId":"spring-1","status":"open","admission":{"purchaseToken":false,"challenge":false}}`))
			return
		}
		if r.Header.Get("x-api-key") != "prod-key" || r.Header.Get("Purchase-Token") != "" {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		mu.Lock()
		auths[r.Header.Get("Authorization")]++
		n := len(auths)
		mu.Unlock()
		if n > 1 && r.Header.Get("Authorization") == "Bearer jwt-2" {
			w.WriteHeader(http.StatusGone)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()

	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens.txt")
	if err := os.WriteFile(tokens, []byte("jwt-1\n\njwt-2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, chart := filepath.Join(dir, "result.json"), filepath.Join(dir, "chart.html")
	cmd := newLoadtestCmd()
	var stdout, stderr bytes.Buffer
	cmd.SetOut(&stdout)
	cmd.SetErr(&stderr)
	cmd.SetArgs([]string{"--target", srv.URL, "--sale", "spring-1", "--tokens", tokens, "--api-key", "prod-key",
		"--mode", "closed", "--users", "2", "--requests", "20", "--out", out, "--chart", chart,
		"--state", filepath.Join(dir, "no-state-needed")})
	if err := cmd.Execute(); err != nil {
		t.Fatalf("loadtest: %v\nstderr: %s", err, stderr.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "no-state-needed")); err == nil {
		t.Error("the state folder was created, want it untouched when tokens and key are given")
	}
	if auths["Bearer jwt-1"] != 10 || auths["Bearer jwt-2"] != 10 {
		t.Errorf("requests by Authorization = %v, want 10 for each token in the file", auths)
	}
	if !strings.Contains(stdout.String(), "20 requests") || !strings.Contains(stdout.String(), "sold out (410)") {
		t.Errorf("summary lacks the request count or outcome rows:\n%s", stdout.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var res loadtest.Result
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatalf("result JSON: %v", err)
	}
	if res.Requests != 20 || res.Status.Accepted+res.Status.SoldOut != 20 || res.SaleID != "spring-1" {
		t.Errorf("result: %d requests, %+v, sale %q; want 20 accepted or sold out on spring-1", res.Requests, res.Status, res.SaleID)
	}
	if html, err := os.ReadFile(chart); err != nil || !strings.Contains(string(html), "<svg") {
		t.Errorf("chart: err %v, want an HTML file with SVG", err)
	}
}

func TestLoadtestCommand_Errors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"bad mode", []string{"--target", "http://127.0.0.1:1", "--mode", "burst"}, "--mode"},
		{"no stack and no target", []string{"--state", "/nonexistent/flashsale-state"}, "--target"},
		{"missing tokens file", []string{"--target", "http://127.0.0.1:1", "--tokens", "/nonexistent/tokens", "--api-key", "k"}, "tokens"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := newLoadtestCmd()
			cmd.SetOut(new(bytes.Buffer))
			cmd.SetErr(new(bytes.Buffer))
			cmd.SetArgs(tc.args)
			err := cmd.Execute()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("loadtest %v: err %v, want one mentioning %q", tc.args, err, tc.want)
			}
		})
	}
}

// TestLoadtestCommand_NoAnswerIsNamed: requests that time out or cannot
// connect are named as such, apart from the HTTP answers, never as a bare
// status 0 or in Go's map syntax.
func TestLoadtestCommand_NoAnswerIsNamed(t *testing.T) {
	release := make(chan struct{})
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) > 2 { // the first two are answered, the rest time out
			select {
			case <-r.Context().Done():
			case <-release:
			}
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	defer close(release)
	tokens := filepath.Join(t.TempDir(), "tokens.txt")
	if err := os.WriteFile(tokens, []byte("jwt-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := newLoadtestCmd()
	var stdout, stderr bytes.Buffer
	cmd.SetOut(&stdout)
	cmd.SetErr(&stderr)
	cmd.SetArgs([]string{"--target", srv.URL, "--sale", "s1", "--tokens", tokens, "--api-key", "k", "--no-admission",
		"--mode", "closed", "--users", "1", "--requests", "5", "--timeout", "100ms"})
	if err := cmd.Execute(); err != nil {
		t.Fatalf("loadtest: %v\nstderr: %s", err, stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{"answers by HTTP status: 202: 2\n", "no answer (client timeout after 100ms): 3\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	for _, bad := range []string{"map[", "<nil>", "%!", "connection error"} {
		if strings.Contains(out, bad) {
			t.Errorf("summary contains %q:\n%s", bad, out)
		}
	}
}

func TestPlanCommand(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    []string
		wantErr bool
	}{
		{"worked example", []string{"--peak-rps", "20000", "--stock", "50000"},
			[]string{"= 25 shards", "reserved = ceil(2 × busy) = 2000", "84 groups", "Where the hard limits bind:"}, false},
		{"json", []string{"--peak-rps", "5000", "--stock", "100000", "--json"}, []string{`"count": 7`}, false},
		{"price date", []string{"--price-date"}, []string{"as of", "verify before relying"}, false},
		{"missing stock", []string{"--peak-rps", "5000"}, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := newPlanCmd()
			var out bytes.Buffer
			cmd.SetOut(&out)
			cmd.SetErr(&out)
			cmd.SetArgs(tc.args)
			err := cmd.Execute()
			if tc.wantErr {
				if err == nil {
					t.Errorf("plan %v = nil error, want one", tc.args)
				}
				return
			}
			if err != nil {
				t.Fatalf("plan %v: %v", tc.args, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("plan %v output lacks %q", tc.args, w)
				}
			}
		})
	}
}

// TestLoadtestCommand_FullFlow: on a sale with purchase tokens, each buyer
// solves one challenge and gets one token, then every attempt orders with it.
func TestLoadtestCommand_FullFlow(t *testing.T) {
	state := t.TempDir()
	iss, err := devauth.LoadOrCreate(state)
	if err != nil {
		t.Fatal(err)
	}
	srv, seen := admissionAPI(t, iss)
	var jwts []string
	for _, u := range []string{"ann", "ben", "cat"} {
		tok, err := iss.Token(devauth.TokenRequest{UserID: u})
		if err != nil {
			t.Fatal(err)
		}
		jwts = append(jwts, tok)
	}
	tokens := filepath.Join(t.TempDir(), "tokens.txt")
	if err := os.WriteFile(tokens, []byte(strings.Join(jwts, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(extra ...string) string {
		cmd := newLoadtestCmd()
		var stdout, stderr bytes.Buffer
		cmd.SetOut(&stdout)
		cmd.SetErr(&stderr)
		cmd.SetArgs(append([]string{"--target", srv.URL, "--sale", "s1", "--tokens", tokens, "--api-key", iss.APIKey(),
			"--mode", "closed", "--users", "3", "--requests", "12"}, extra...))
		if err := cmd.Execute(); err != nil {
			t.Fatalf("loadtest: %v\nstderr: %s", err, stderr.String())
		}
		return stdout.String()
	}
	out := run()
	count := map[string]int{}
	for _, r := range *seen {
		count[r]++
	}
	want := map[string]int{"GET /sales/s1": 1, "GET /sales/s1/challenge": 3, "POST /sales/s1/purchase-tokens": 3, "POST /sales/s1/orders": 12}
	for route, n := range want {
		if count[route] != n {
			t.Errorf("%s: %d requests, want %d (all: %v)", route, count[route], n, count)
		}
	}
	if !regexp.MustCompile(`accepted \(202\)\s+12\s`).MatchString(out) {
		t.Errorf("summary, want 12 accepted:\n%s", out)
	}
	// A scripted client skips the step and is refused.
	*seen = nil
	if out := run("--no-admission"); !strings.Contains(out, "answers by HTTP status: 403: 12\n") {
		t.Errorf("--no-admission summary, want 12 refused:\n%s", out)
	}
	if len(*seen) != 12 {
		t.Errorf("--no-admission sent %d requests, want only the 12 orders", len(*seen))
	}
}
