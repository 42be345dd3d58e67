package devauth

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// newIssuer builds an issuer in a fresh state folder.
func newIssuer(tb testing.TB) *Issuer {
	tb.Helper()
	iss, err := LoadOrCreate(tb.TempDir())
	if err != nil {
		tb.Fatalf("LoadOrCreate: %v", err)
	}
	return iss
}

func mint(tb testing.TB, iss *Issuer, r TokenRequest) string {
	tb.Helper()
	tok, err := iss.Token(r)
	if err != nil {
		tb.Fatalf("Token(%+v): %v", r, err)
	}
	return tok
}

// signClaims signs arbitrary claims with the issuer's key, for tokens the
// issuer would never mint (wrong iss, aud, token_use).
func signClaims(tb testing.TB, iss *Issuer, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	tb.Helper()
	t := jwt.NewWithClaims(method, claims)
	t.Header["kid"] = iss.KeyID()
	s, err := t.SignedString(key)
	if err != nil {
		tb.Fatalf("sign: %v", err)
	}
	return s
}

func validClaims(now time.Time) jwt.MapClaims {
	return jwt.MapClaims{
		"iss": IssuerURL, "aud": ClientID, "sub": "u1", "token_use": "id",
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}
}

func TestVerify_ValidToken(t *testing.T) {
	iss := newIssuer(t)
	at := time.Date(2026, 6, 4, 17, 0, 0, 0, time.UTC)
	v := NewVerifier(VerifierConfig{Key: iss.PublicKey(), Now: func() time.Time { return at.Add(time.Minute) }})
	tok := mint(t, iss, TokenRequest{UserID: "user-7", Groups: []string{"admin", "finance"}, IssuedAt: at})

	for _, header := range []string{tok, "Bearer " + tok, "bearer  " + tok + " "} {
		claims, err := v.Verify(header)
		if err != nil {
			t.Fatalf("Verify(%.20q...): %v", header, err)
		}
		want := map[string]string{
			"sub":              "user-7",
			"cognito:username": "user-7",
			"cognito:groups":   "admin,finance",
			"token_use":        "id",
			"iss":              IssuerURL,
			"aud":              ClientID,
			"iat":              "Thu Jun 04 17:00:00 UTC 2026",
			"auth_time":        "Thu Jun 04 17:00:00 UTC 2026",
			"exp":              "Thu Jun 04 18:00:00 UTC 2026",
		}
		for k, w := range want {
			if got := claims[k]; got != w {
				t.Errorf("claims[%q] = %q, want %q", k, got, w)
			}
		}
		if claims["jti"] == "" {
			t.Errorf("claims[jti] is empty, want a token id")
		}
	}
}

func TestVerify_NoGroupsClaimWhenEmpty(t *testing.T) {
	iss := newIssuer(t)
	claims, err := iss.Verifier().Verify(mint(t, iss, TokenRequest{UserID: "buyer"}))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if g, ok := claims[ClaimGroups]; ok {
		t.Errorf("claims[cognito:groups] = %q, want absent", g)
	}
}

func TestVerify_Rejects(t *testing.T) {
	iss := newIssuer(t)
	other := newIssuer(t)
	now := time.Now()
	good := mint(t, iss, TokenRequest{UserID: "u1"})

	// tampered: same header and signature, payload claims a different sub.
	parts := strings.Split(good, ".")
	var payload map[string]any
	raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
	if err := json.Unmarshal(raw, &payload); err != nil {
		t.Fatalf("decode payload: %v", err)
	}
	payload["sub"] = "admin-user"
	payload["cognito:groups"] = []string{"admin"}
	forged, _ := json.Marshal(payload)
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString(forged) + "." + parts[2]

	withClaim := func(k string, val any) jwt.MapClaims {
		c := validClaims(now)
		c[k] = val
		return c
	}
	noExp := validClaims(now)
	delete(noExp, "exp")

	tests := []struct {
		name  string
		token string
	}{
		{"empty", ""},
		{"bearer only", "Bearer "},
		{"garbage", "not.a.jwt"},
		{"expired", mint(t, iss, TokenRequest{UserID: "u1", TTL: -time.Minute})},
		{"other key", mint(t, other, TokenRequest{UserID: "u1"})},
		{"other key with our kid", signClaims(t, iss, jwt.SigningMethodRS256, other.key, validClaims(now))},
		{"tampered payload", tampered},
		{"alg none", signClaims(t, iss, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, validClaims(now))},
		{"alg HS256 keyed with public key", signClaims(t, iss, jwt.SigningMethodHS256, []byte(iss.KeyID()), validClaims(now))},
		{"wrong issuer", signClaims(t, iss, jwt.SigningMethodRS256, iss.key, withClaim("iss", "https://evil"))},
		{"wrong audience", signClaims(t, iss, jwt.SigningMethodRS256, iss.key, withClaim("aud", "other-client"))},
		{"access token", signClaims(t, iss, jwt.SigningMethodRS256, iss.key, withClaim("token_use", "access"))},
		{"no sub", signClaims(t, iss, jwt.SigningMethodRS256, iss.key, withClaim("sub", ""))},
		{"no exp", signClaims(t, iss, jwt.SigningMethodRS256, iss.key, noExp)},
	}
	v := iss.Verifier()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			claims, err := v.Verify(tc.token)
			if !errors.Is(err, ErrUnauthorized) {
				t.Fatalf("Verify = %v, %v; want ErrUnauthorized", claims, err)
			}
		})
	}
	if n := v.CacheLen(); n != 0 {
		t.Errorf("CacheLen after only rejections = %d, want 0", n)
	}
}

func TestVerify_CachedVerdictStillExpiresAtExp(t *testing.T) {
	iss := newIssuer(t)
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := start
	v := NewVerifier(VerifierConfig{Key: iss.PublicKey(), Now: func() time.Time { return now }})
	tok := mint(t, iss, TokenRequest{UserID: "u1", IssuedAt: start, TTL: 10 * time.Second})

	if _, err := v.Verify(tok); err != nil {
		t.Fatalf("first Verify: %v", err)
	}
	// Prove the second answer comes from the cache: with the key swapped, a
	// fresh verification would fail.
	v.key = newIssuer(t).PublicKey()
	now = start.Add(9 * time.Second)
	if _, err := v.Verify(tok); err != nil {
		t.Fatalf("Verify at exp-1s (cached): %v, want success", err)
	}
	v.key = iss.PublicKey()
	now = start.Add(10 * time.Second)
	if _, err := v.Verify(tok); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("Verify at exp: err = %v, want ErrUnauthorized", err)
	}
}

func TestVerify_CacheTTLAndBound(t *testing.T) {
	iss := newIssuer(t)
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := start
	v := NewVerifier(VerifierConfig{Key: iss.PublicKey(), CacheTTL: 5 * time.Second, CacheSize: 3, Now: func() time.Time { return now }})
	var toks []string
	for i := range 5 {
		toks = append(toks, mint(t, iss, TokenRequest{UserID: "u" + string(rune('a'+i)), IssuedAt: start}))
	}
	for _, tok := range toks {
		if _, err := v.Verify(tok); err != nil {
			t.Fatalf("Verify: %v", err)
		}
	}
	if n := v.CacheLen(); n != 3 {
		t.Errorf("CacheLen = %d, want 3 (the bound)", n)
	}
	// After CacheTTL a verdict is re-checked; with another key that fails,
	// although the token itself is valid for an hour.
	v.key = newIssuer(t).PublicKey()
	now = start.Add(5 * time.Second)
	for _, tok := range toks {
		if _, err := v.Verify(tok); !errors.Is(err, ErrUnauthorized) {
			t.Errorf("Verify after CacheTTL with another key: err = %v, want ErrUnauthorized", err)
		}
	}
}

func TestLoadOrCreate_ReusesState(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	// Several processes may race to create the state; all must agree.
	const n = 4
	got := make([]*Issuer, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { got[i], errs[i] = LoadOrCreate(dir) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("LoadOrCreate #%d: %v", i, errs[i])
		}
	}
	again, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatalf("LoadOrCreate again: %v", err)
	}
	for i, g := range got {
		if g.KeyID() != again.KeyID() || g.APIKey() != again.APIKey() || g.WebhookSecret() != again.WebhookSecret() {
			t.Errorf("issuer #%d = (%s, %s), want the stored (%s, %s)", i, g.KeyID(), g.APIKey(), again.KeyID(), again.APIKey())
		}
	}
	if len(again.APIKey()) != 40 {
		t.Errorf("len(APIKey) = %d, want 40", len(again.APIKey()))
	}
	if len(again.WebhookSecret()) != 64 {
		t.Errorf("len(WebhookSecret) = %d, want 64", len(again.WebhookSecret()))
	}
	if string(again.AdmissionKeys()) != string(got[0].AdmissionKeys()) {
		t.Error("admission keys differ between two loads of one state folder")
	}
	for _, f := range []string{KeyFile, APIKeyFile, WebhookSecretFile, AdmissionKeysFile} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatalf("stat %s: %v", f, err)
		}
		if mode := fi.Mode().Perm(); mode != 0o600 {
			t.Errorf("%s mode = %o, want 600", f, mode)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 4 {
		t.Errorf("state dir holds %d files, want 4 (no temporary leftovers)", len(entries))
	}
	// A token from one issuer verifies with another loaded from the same folder.
	tok := mint(t, got[0], TokenRequest{UserID: "u1"})
	if _, err := again.Verifier().Verify(tok); err != nil {
		t.Errorf("Verify with reloaded key: %v", err)
	}
}

func TestDefaultStateDir(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "go.mod"), []byte("module flashsale\n\ngo 1.26\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	deep := filepath.Join(root, "cmd", "x")
	other := t.TempDir()
	if err := os.WriteFile(filepath.Join(other, "go.mod"), []byte("module example.com/other\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		wd      string
		env     string
		want    string
		wantErr bool
	}{
		{name: "from subfolder", wd: deep, want: filepath.Join(root, ".flashsale")},
		{name: "env overrides", wd: deep, env: "/tmp/somewhere", want: "/tmp/somewhere"},
		{name: "other module", wd: other, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Chdir(tc.wd)
			t.Setenv(StateEnv, tc.env)
			got, err := DefaultStateDir()
			if tc.wantErr {
				if err == nil {
					t.Fatalf("DefaultStateDir = %q, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("DefaultStateDir: %v", err)
			}
			if got != tc.want {
				t.Errorf("DefaultStateDir = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestGroups(t *testing.T) {
	tests := []struct {
		name  string
		claim string
		want  []string
	}{
		{"rest api form", "admin,finance", []string{"admin", "finance"}},
		{"http api form", "[admin finance]", []string{"admin", "finance"}},
		{"single", "admin", []string{"admin"}},
		{"empty", "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Groups(tc.claim); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Groups(%q) = %q, want %q", tc.claim, got, tc.want)
			}
		})
	}
}

func BenchmarkVerify_Cached(b *testing.B) {
	iss := newIssuer(b)
	v := iss.Verifier()
	tok := "Bearer " + mint(b, iss, TokenRequest{UserID: "u1"})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := v.Verify(tok); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkVerify_Uncached(b *testing.B) {
	iss := newIssuer(b)
	v := NewVerifier(VerifierConfig{Key: iss.PublicKey(), CacheTTL: -1})
	tok := mint(b, iss, TokenRequest{UserID: "u1"})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(tok); err != nil {
			b.Fatal(err)
		}
	}
}
