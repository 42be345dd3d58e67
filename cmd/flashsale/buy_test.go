package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"flashsale/shared/admission"
	"flashsale/shared/local/devauth"
)

// admissionAPI is a small stand-in for the gateway's admission routes: it
// checks the JWT with the state folder's key and the challenge and token
// with real admission keys.
func admissionAPI(t *testing.T, iss *devauth.Issuer) (*httptest.Server, *[]string) {
	t.Helper()
	keys, err := admission.NewKeys(admission.NewKeySet("t1"))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.Path)
		mu.Unlock()
		if r.URL.Path == "/sales/s1" {
			io.WriteString(w, `{"saleId":"s1","name":"Spring","status":"open","remaining":3,"admission":{"purchaseToken":true,"challenge":true}}`)
			return
		}
		claims, err := iss.Verifier().Verify(r.Header.Get("Authorization"))
		if err != nil || r.Header.Get("x-api-key") != iss.APIKey() {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"message":"Unauthorized"}`)
			return
		}
		sub := admission.Subject{UserID: claims["sub"], SaleID: "s1"}
		switch r.Method + " " + r.URL.Path {
		case "GET /sales/s1/challenge":
			c, _ := keys.NewChallenge(sub, 2000, time.Now().Add(time.Minute))
			json.NewEncoder(w).Encode(c)
		case "POST /sales/s1/purchase-tokens":
			var sol struct {
				Challenge admission.Challenge
				Number    int64
			}
			if json.NewDecoder(r.Body).Decode(&sol) != nil || keys.Verify(sol.Challenge, sol.Number, sub, time.Now()) != nil {
				w.WriteHeader(http.StatusBadRequest)
				io.WriteString(w, `{"error":{"code":"invalid_solution","message":"no"}}`)
				return
			}
			exp := time.Now().Add(5 * time.Minute)
			w.WriteHeader(http.StatusCreated)
			fmt.Fprintf(w, `{"purchaseToken":%q,"expiresAt":%q}`, keys.NewToken(sub, exp), exp.UTC().Format(time.RFC3339))
		case "POST /sales/s1/orders":
			if keys.VerifyToken(r.Header.Get("Purchase-Token"), sub, time.Now()) != nil {
				w.WriteHeader(http.StatusForbidden)
				io.WriteString(w, `{"error":{"code":"purchase_token_invalid","message":"no"}}`)
				return
			}
			w.WriteHeader(http.StatusAccepted)
			fmt.Fprintf(w, `{"orderId":"s1.X","saleId":"s1","status":"reserved","quantity":1,"amountCents":500,"currency":"USD","expiresAt":"2030-01-01T00:00:00Z"}`)
		default:
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"error":{"code":"sale_not_found","message":"no sale"}}`)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &seen
}

func TestBuyCommand_RunsTheAdmissionFlow(t *testing.T) {
	state := t.TempDir()
	iss, err := devauth.LoadOrCreate(state)
	if err != nil {
		t.Fatal(err)
	}
	srv, seen := admissionAPI(t, iss)
	tests := []struct {
		name, sale string
		wantOut    string
		wantErr    string
		wantSeen   []string
	}{
		{name: "whole flow", sale: "s1", wantOut: `"orderId": "s1.X"`,
			wantSeen: []string{"GET /sales/s1", "GET /sales/s1/challenge", "POST /sales/s1/purchase-tokens", "POST /sales/s1/orders"}},
		{name: "unknown sale", sale: "nope", wantErr: "read sale nope: the gateway answered 404 sale_not_found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			*seen = nil
			cmd := newBuyCmd()
			var out, errOut bytes.Buffer
			cmd.SetOut(&out)
			cmd.SetErr(&errOut)
			cmd.SetArgs([]string{"--state", state, "--target", srv.URL, "--sale", tc.sale, "--user", "alice"})
			err := cmd.Execute()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("buy: err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("buy: %v (stderr %s)", err, &errOut)
			}
			if !strings.Contains(out.String(), tc.wantOut) {
				t.Errorf("buy printed %q, want it to contain %q", out.String(), tc.wantOut)
			}
			if !strings.Contains(errOut.String(), "purchase token: challenge solved") {
				t.Errorf("buy's steps %q do not mention the solved challenge", errOut.String())
			}
			if strings.Join(*seen, ",") != strings.Join(tc.wantSeen, ",") {
				t.Errorf("requests %q, want %q", *seen, tc.wantSeen)
			}
		})
	}
}

func TestBuyCommand_NoStack(t *testing.T) {
	cmd := newBuyCmd()
	cmd.SetOut(io.Discard)
	cmd.SetArgs([]string{"--state", t.TempDir(), "--sale", "demo", "--user", "alice"})
	if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), "make dev") {
		t.Errorf("buy without a stack: err = %v, want one that says to run make dev", err)
	}
}

func TestSolveCommand(t *testing.T) {
	keys, err := admission.NewKeys(admission.NewKeySet("t1"))
	if err != nil {
		t.Fatal(err)
	}
	sub := admission.Subject{UserID: "u&1=?", SaleID: "s1"} // the salt escapes these
	c, err := keys.NewChallenge(sub, 5000, time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(c)
	cmd := newSolveCmd()
	var out bytes.Buffer
	cmd.SetIn(bytes.NewReader(raw))
	cmd.SetOut(&out)
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	var n int64
	if _, err := fmt.Sscan(out.String(), &n); err != nil {
		t.Fatalf("solve printed %q, want a number", out.String())
	}
	if err := keys.Verify(c, n, sub, time.Now()); err != nil {
		t.Errorf("solve printed %d, which does not verify: %v", n, err)
	}
	for _, bad := range []string{`{}`, `not json`, `{"algorithm":"SHA-256","challenge":"zz","salt":"s","maxNumber":5,"signature":"x","extra":1}`} {
		cmd := newSolveCmd()
		cmd.SetIn(strings.NewReader(bad))
		cmd.SetOut(io.Discard)
		if err := cmd.Execute(); err == nil {
			t.Errorf("solve %s: nil error, want one", bad)
		}
	}
}

// allowlistAPI keeps an allowlist as the contract says: it answers added
// and total, counting an id once however often it comes.
func allowlistAPI(t *testing.T, iss *devauth.Issuer) (*httptest.Server, func() (calls int, list map[string]bool)) {
	t.Helper()
	var mu sync.Mutex
	list := map[string]bool{}
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		claims, err := iss.Verifier().Verify(r.Header.Get("Authorization"))
		if err != nil || claims["cognito:groups"] != "admin" || r.URL.Path != "/admin/sales/s1/allowlist" {
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, `{"error":{"code":"forbidden","message":"admin only"}}`)
			return
		}
		var body struct{ UserIDs []string }
		if json.NewDecoder(r.Body).Decode(&body) != nil || len(body.UserIDs) == 0 || len(body.UserIDs) > 1000 {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error":{"code":"invalid_body","message":"1 to 1,000 ids"}}`)
			return
		}
		added := 0
		for _, id := range body.UserIDs {
			if !list[id] {
				list[id] = true
				added++
			}
		}
		fmt.Fprintf(w, `{"added":%d,"total":%d}`, added, len(list))
	}))
	t.Cleanup(srv.Close)
	return srv, func() (int, map[string]bool) { mu.Lock(); defer mu.Unlock(); return calls, list }
}

func TestAllowlistImport(t *testing.T) {
	state := t.TempDir()
	iss, err := devauth.LoadOrCreate(state)
	if err != nil {
		t.Fatal(err)
	}
	srv, got := allowlistAPI(t, iss)
	dir := t.TempDir()
	var csvFile strings.Builder
	csvFile.WriteString("userId,name\n")
	for i := range 2500 {
		fmt.Fprintf(&csvFile, "user-%d,Name %d\n", i, i)
	}
	csvFile.WriteString("\nuser-7,again\n")
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	users := write("users.csv", csvFile.String())
	run := func(file string) (string, string, error) {
		cmd := newAllowlistImportCmd()
		var out, errOut bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&errOut)
		cmd.SetArgs([]string{"--state", state, "--target", srv.URL, "--sale", "s1", "--file", file})
		err := cmd.Execute()
		return out.String(), errOut.String(), err
	}

	out, progress, err := run(users)
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	calls, list := got()
	if calls != 3 || len(list) != 2500 {
		t.Errorf("%d requests, %d ids on the list; want 3 chunks and 2,500", calls, len(list))
	}
	if want := "sale s1: 2500 of 2500 ids added (0 already there); the allowlist holds 2500\n"; out != want {
		t.Errorf("import printed %q, want %q", out, want)
	}
	// Not a terminal: plain lines, the last one complete.
	if !strings.Contains(progress, "1 repeated ids") || !strings.HasSuffix(progress, "sent 2500 of 2500 ids\n") {
		t.Errorf("progress %q, want the repeat noted and plain progress lines", progress)
	}

	// Again: harmless.
	if out, _, err = run(users); err != nil {
		t.Fatal(err)
	}
	if want := "sale s1: 0 of 2500 ids added (2500 already there); the allowlist holds 2500\n"; out != want {
		t.Errorf("second import printed %q, want %q", out, want)
	}

	// Bad ids: every one reported with its line, nothing sent.
	before, _ := got()
	bad := write("bad.txt", "alice\nbob smith\n\n"+strings.Repeat("x", 65)+"\ncarol\n")
	_, _, err = run(bad)
	if err == nil || !strings.Contains(err.Error(), "line 2:") || !strings.Contains(err.Error(), "line 4:") || strings.Contains(err.Error(), "line 5") {
		t.Errorf("import of bad ids: err = %v, want lines 2 and 4 named", err)
	}
	if after, _ := got(); after != before {
		t.Errorf("%d requests sent for a file with bad ids, want 0", after-before)
	}

	// A plain list, one id a line, without a header.
	if out, _, err = run(write("plain.txt", "dora\nerik\n")); err != nil || !strings.Contains(out, "2 of 2 ids added") {
		t.Errorf("plain list: %q, %v; want 2 added", out, err)
	}
}
