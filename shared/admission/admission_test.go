package admission

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"flashsale/shared/local/testclock"
)

var (
	alice = Subject{UserID: "alice", SaleID: "spring-1"}
	t0    = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
)

func testKeys(t testing.TB, kid string) *Keys {
	t.Helper()
	k, err := NewKeys(NewKeySet(kid))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func solved(t testing.TB, k *Keys, sub Subject, max int64) (Challenge, int64) {
	t.Helper()
	c, err := k.NewChallenge(sub, max, t0.Add(5*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	n, err := Solve(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	return c, n
}

func TestChallenge_SolvedVerifies(t *testing.T) {
	k := testKeys(t, "k1")
	c, n := solved(t, k, alice, 1000)
	if c.Algorithm != "SHA-256" || len(c.Challenge) != 64 || len(c.Signature) != 64 || c.MaxNumber != 1000 {
		t.Fatalf("challenge %+v is not ALTCHA v1's shape", c)
	}
	if err := k.Verify(c, n, alice, t0); err != nil {
		t.Fatalf("Verify(solution) = %v", err)
	}
}

func TestChallenge_RefusesEveryForgery(t *testing.T) {
	k := testKeys(t, "k1")
	c, n := solved(t, k, alice, 1000)
	other := testKeys(t, "k1") // same kid, another secret
	tests := []struct {
		name   string
		keys   *Keys
		c      func(Challenge) Challenge
		number int64
		sub    Subject
		now    time.Time
	}{
		{name: "wrong number", number: n + 1},
		{name: "number above maxNumber", number: 1001},
		{name: "negative number", number: -1},
		{name: "another user", sub: Subject{UserID: "bob", SaleID: alice.SaleID}},
		{name: "another sale", sub: Subject{UserID: alice.UserID, SaleID: "spring-2"}},
		{name: "expired", now: t0.Add(5 * time.Minute)},
		{name: "signed with another secret", keys: other},
		{name: "tampered signature", c: func(c Challenge) Challenge { c.Signature = flip(c.Signature); return c }},
		{name: "tampered challenge", c: func(c Challenge) Challenge { c.Challenge = flip(c.Challenge); return c }},
		{name: "other algorithm", c: func(c Challenge) Challenge { c.Algorithm = "SHA-512"; return c }},
		{name: "salt names another user", c: func(c Challenge) Challenge {
			c.Salt = strings.Replace(c.Salt, "user=alice", "user=bob", 1)
			return c
		}, sub: Subject{UserID: "bob", SaleID: alice.SaleID}},
		{name: "salt without its closing delimiter", c: func(c Challenge) Challenge { c.Salt = strings.TrimSuffix(c.Salt, "&"); return c }},
		{name: "unknown key id", c: func(c Challenge) Challenge { c.Salt = strings.Replace(c.Salt, "kid=k1", "kid=k9", 1); return c }},
		{name: "empty", c: func(Challenge) Challenge { return Challenge{} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, cc, number, sub, now := k, c, n, alice, t0
			if tt.keys != nil {
				keys = tt.keys
			}
			if tt.c != nil {
				cc = tt.c(c)
			}
			if tt.number != 0 {
				number = tt.number
			}
			if tt.sub != (Subject{}) {
				sub = tt.sub
			}
			if !tt.now.IsZero() {
				now = tt.now
			}
			err := keys.Verify(cc, number, sub, now)
			if !errors.Is(err, ErrInvalidSolution) {
				t.Fatalf("Verify = %v, want an invalid solution", err)
			}
		})
	}
}

// TestChallenge_NoSplicing moves the number's leading digits into the salt:
// salt + decimal(n) is then the same string, so the hash still matches, and
// only the salt's closing delimiter tells the two readings apart. Were the
// delimiter gone, an attacker could choose how to split and so rewrite the
// last field (the expiry, say) at will.
func TestChallenge_NoSplicing(t *testing.T) {
	k := testKeys(t, "k1")
	for range 20 { // until n has at least two digits to move
		c, n := solved(t, k, alice, 1000)
		digits := strconv.FormatInt(n, 10)
		if len(digits) < 2 {
			continue
		}
		spliced := c
		spliced.Salt = c.Salt + digits[:1]
		rest, _ := strconv.ParseInt(digits[1:], 10, 64)
		if digits[1] == '0' {
			continue // a leading zero would change the string; try another n
		}
		if spliced.Salt+strconv.FormatInt(rest, 10) != c.Salt+digits {
			t.Fatal("the splice does not hash the same string; the test is wrong")
		}
		if err := k.Verify(spliced, rest, alice, t0); !errors.Is(err, ErrInvalidSolution) {
			t.Fatalf("a solution spliced into the salt verified: %v", err)
		}
		// The same splice on a salt without the closing '&' is what the
		// delimiter prevents: parseSalt must refuse such a salt outright.
		if _, ok := parseSalt(strings.TrimSuffix(c.Salt, "&") + digits[:1]); ok {
			t.Fatal("a salt that does not end in '&' parsed")
		}
		break
	}
	// The field values are escaped, so none can end the query early.
	weird := Subject{UserID: "eve&expires=9999999999&x=", SaleID: alice.SaleID}
	wc, err := k.NewChallenge(weird, 10, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	fields, ok := parseSalt(wc.Salt)
	if !ok || fields.Get("user") != weird.UserID || fields.Get("expires") != strconv.FormatInt(t0.Add(time.Minute).Unix(), 10) {
		t.Fatalf("salt %q parsed as %v, want the user id intact and the real expiry", wc.Salt, fields)
	}
}

func TestChallenge_RetiredKeyStillVerifies(t *testing.T) {
	old := NewKeySet("k1")
	k1, _ := NewKeys(old)
	c, n := solved(t, k1, alice, 100)
	tok := k1.NewToken(alice, t0.Add(time.Minute))

	next := NewKeySet("k2")
	next.Retired = map[string]string{"k1": old.Secret}
	k2, err := NewKeys(next)
	if err != nil {
		t.Fatal(err)
	}
	if err := k2.Verify(c, n, alice, t0); err != nil {
		t.Errorf("challenge signed by a retired key: %v", err)
	}
	if err := k2.VerifyToken(tok, alice, t0); err != nil {
		t.Errorf("token signed by a retired key: %v", err)
	}
	if !strings.HasPrefix(k2.NewToken(alice, t0), "v1.k2.") {
		t.Error("new tokens are not signed with the current key")
	}
}

func TestToken(t *testing.T) {
	k := testKeys(t, "k1")
	tok := k.NewToken(alice, t0.Add(5*time.Minute))
	if err := k.VerifyToken(tok, alice, t0); err != nil {
		t.Fatalf("VerifyToken(fresh) = %v", err)
	}
	unknownKid := strings.Replace(tok, "v1.k1.", "v1.k9.", 1)
	tests := []struct {
		name  string
		token string
		sub   Subject
		now   time.Time
		want  error
	}{
		{name: "expired", token: tok, sub: alice, now: t0.Add(5 * time.Minute), want: ErrTokenExpired},
		{name: "another user", token: tok, sub: Subject{UserID: "bob", SaleID: alice.SaleID}, now: t0, want: ErrTokenInvalid},
		{name: "another sale", token: tok, sub: Subject{UserID: "alice", SaleID: "spring-2"}, now: t0, want: ErrTokenInvalid},
		{name: "tampered expiry", token: strings.Replace(tok, strconv.FormatInt(t0.Add(5*time.Minute).Unix(), 10), "9999999999", 1), sub: alice, now: t0, want: ErrTokenInvalid},
		{name: "tampered mac", token: tok[:len(tok)-2] + flip(tok[len(tok)-2:]), sub: alice, now: t0, want: ErrTokenInvalid},
		{name: "unknown key id", token: unknownKid, sub: alice, now: t0, want: ErrTokenInvalid},
		{name: "other secret", token: testKeys(t, "k1").NewToken(alice, t0.Add(time.Minute)), sub: alice, now: t0, want: ErrTokenInvalid},
		{name: "garbage", token: "not-a-token", sub: alice, now: t0, want: ErrTokenInvalid},
		{name: "empty", token: "", sub: alice, now: t0, want: ErrTokenInvalid},
		{name: "too many parts", token: "v1.k1.1.a.b.c.d", sub: alice, now: t0, want: ErrTokenInvalid},
		{name: "a MAC longer than 32 bytes", token: tok + strings.Repeat("A", 40), sub: alice, now: t0, want: ErrTokenInvalid},
		{name: "a MAC shorter than 32 bytes", token: tok[:len(tok)-2], sub: alice, now: t0, want: ErrTokenInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := k.VerifyToken(tt.token, tt.sub, tt.now); !errors.Is(err, tt.want) {
				t.Fatalf("VerifyToken = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestParseKeys(t *testing.T) {
	for _, bad := range []string{
		`{}`,
		`{"kid":"k1","secret":"short"}`,
		`{"kid":"has.dot","secret":"0123456789abcdef0123456789abcdef"}`,
		`{"kid":"k1","secret":"0123456789abcdef0123456789abcdef","retired":{"k1":"0123456789abcdef0123456789abcdef"}}`,
		`not json`,
	} {
		if _, err := ParseKeys([]byte(bad)); err == nil {
			t.Errorf("ParseKeys(%s) accepted it", bad)
		}
	}
	k, err := ParseKeys([]byte(`{"kid":"k1","secret":"0123456789abcdef0123456789abcdef"}`))
	if err != nil || k.CurrentID() != "k1" {
		t.Fatalf("ParseKeys(good) = %v, %v", k, err)
	}
}

// TestGovernor_RaisesDifficultyUnderLoad drives the governor with an
// injected clock: under its rate the sale's difficulty stands; at four
// times the rate it quadruples; it never passes the ceiling; and it falls
// back once the rush is over.
func TestGovernor_RaisesDifficultyUnderLoad(t *testing.T) {
	clock := testclock.New(t0)
	g := NewGovernor(100, 400_000, clock.Now)
	issue := func(perSecond int, seconds int, base int64) int64 {
		var last int64
		step := time.Second / time.Duration(perSecond)
		for range perSecond * seconds {
			last = g.MaxNumber(base)
			clock.Advance(step)
		}
		return last
	}
	if got := issue(50, 3, 50_000); got != 50_000 {
		t.Fatalf("at half the rate: maxNumber %d, want the sale's 50000", got)
	}
	if got := issue(400, 3, 50_000); got < 180_000 || got > 220_000 {
		t.Fatalf("at 4x the rate: maxNumber %d, want about 200000", got)
	}
	if got := issue(2000, 2, 50_000); got != 400_000 {
		t.Fatalf("at 20x the rate: maxNumber %d, want the ceiling 400000", got)
	}
	clock.Advance(10 * time.Second)
	if got := g.MaxNumber(50_000); got != 50_000 {
		t.Fatalf("after the rush: maxNumber %d, want 50000 again", got)
	}
	if got := g.MaxNumber(0); got != 0 {
		t.Fatalf("a disabled challenge (0) became %d", got)
	}
}

func TestSolve_StopsOnContext(t *testing.T) {
	k := testKeys(t, "k1")
	c, err := k.NewChallenge(alice, 1<<40, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Solve(ctx, c); !errors.Is(err, context.Canceled) {
		t.Fatalf("Solve on a cancelled context = %v", err)
	}
}

func flip(hexOrB64 string) string {
	b := []byte(hexOrB64)
	if b[0] == 'a' {
		b[0] = 'b'
	} else {
		b[0] = 'a'
	}
	return string(b)
}

func BenchmarkVerifyChallenge(b *testing.B) {
	k := testKeys(b, "k1")
	c, n := solved(b, k, alice, 50_000)
	b.ReportAllocs()
	for b.Loop() {
		if err := k.Verify(c, n, alice, t0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyToken(b *testing.B) {
	k := testKeys(b, "k1")
	tok := k.NewToken(alice, t0.Add(time.Minute))
	b.ReportAllocs()
	for b.Loop() {
		if err := k.VerifyToken(tok, alice, t0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSolve solves a fresh challenge at the default difficulty per
// op, so ns/op is the mean solve time; make bench reports the median.
func BenchmarkSolve(b *testing.B) {
	k := testKeys(b, "k1")
	for b.Loop() {
		c, err := k.NewChallenge(alice, 50_000, t0.Add(time.Minute))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Solve(context.Background(), c); err != nil {
			b.Fatal(err)
		}
	}
}
