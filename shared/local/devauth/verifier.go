package devauth

import (
	"crypto/rsa"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// ErrUnauthorized is what every rejected token wraps; the gateway turns it
// into 401 {"message":"Unauthorized"}.
var ErrUnauthorized = errors.New("unauthorized")

// Verdict cache defaults. API Gateway caches an authorizer's verdict per token
// for 300 s unless told otherwise.
const (
	DefaultCacheTTL  = 300 * time.Second
	DefaultCacheSize = 100_000
)

// VerifierConfig configures a Verifier; zero values pick the defaults.
type VerifierConfig struct {
	// Key verifies signatures; required.
	Key *rsa.PublicKey
	// CacheTTL bounds how long a valid verdict is reused (never past exp).
	// Negative disables the cache.
	CacheTTL time.Duration
	// CacheSize bounds the number of cached verdicts.
	CacheSize int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Verifier checks ID tokens the way a Cognito user-pool authorizer does:
// RS256 only, the pool's key (by kid), issuer, audience (the app client),
// expiry (no leeway: issuer and verifier share this machine's clock) and
// token_use "id". It is safe for concurrent use.
type Verifier struct {
	key      *rsa.PublicKey
	kid      string
	ttl      time.Duration
	size     int
	now      func() time.Time
	parser   *jwt.Parser
	mu       sync.RWMutex
	verdicts map[string]verdict
}

type verdict struct {
	claims map[string]string
	until  time.Time
}

// NewVerifier returns a Verifier for tokens signed by cfg.Key.
func NewVerifier(cfg VerifierConfig) *Verifier {
	v := &Verifier{
		key:      cfg.Key,
		kid:      keyID(cfg.Key),
		ttl:      cfg.CacheTTL,
		size:     cfg.CacheSize,
		now:      cfg.Now,
		verdicts: make(map[string]verdict),
	}
	if v.ttl == 0 {
		v.ttl = DefaultCacheTTL
	}
	if v.size <= 0 {
		v.size = DefaultCacheSize
	}
	if v.now == nil {
		v.now = time.Now
	}
	v.parser = jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodRS256.Alg()}),
		jwt.WithIssuer(IssuerURL),
		jwt.WithAudience(ClientID),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(v.now),
	)
	return v
}

// Verify checks the value of an Authorization header (a bare JWT or
// "Bearer <jwt>") and returns the token's claims flattened the way API Gateway
// hands them to a Lambda proxy integration in requestContext.authorizer.claims:
//   - strings stay as they are;
//   - cognito:groups (a JSON array) becomes one comma-separated string,
//     "admin,finance", as a REST API's Cognito authorizer delivers it;
//   - exp, iat and auth_time become dates like "Tue Jun 04 17:59:39 UTC 2019",
//     as API Gateway renders them; other numbers become decimal strings.
//
// The returned map may be shared with later calls for the same token (it comes
// from the verdict cache): callers must not modify it. Every failure wraps
// ErrUnauthorized.
func (v *Verifier) Verify(authorization string) (map[string]string, error) {
	raw := strings.TrimSpace(authorization)
	if len(raw) > 7 && strings.EqualFold(raw[:7], "bearer ") {
		raw = strings.TrimSpace(raw[7:])
	}
	if raw == "" {
		return nil, fmt.Errorf("%w: no token", ErrUnauthorized)
	}
	now := v.now()
	if claims, ok := v.cached(raw, now); ok {
		return claims, nil
	}
	mc := jwt.MapClaims{}
	if _, err := v.parser.ParseWithClaims(raw, mc, v.keyFunc); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnauthorized, err)
	}
	if use, _ := mc[ClaimTokenUse].(string); use != "id" {
		return nil, fmt.Errorf("%w: token_use %q, want id", ErrUnauthorized, use)
	}
	if sub, _ := mc[ClaimSubject].(string); sub == "" {
		return nil, fmt.Errorf("%w: no sub", ErrUnauthorized)
	}
	exp, err := mc.GetExpirationTime()
	if err != nil || exp == nil {
		return nil, fmt.Errorf("%w: bad exp", ErrUnauthorized)
	}
	claims := flatten(mc)
	v.remember(raw, claims, now, exp.Time)
	return claims, nil
}

func (v *Verifier) keyFunc(t *jwt.Token) (any, error) {
	if kid, _ := t.Header["kid"].(string); kid != v.kid {
		return nil, fmt.Errorf("unknown kid %q", kid)
	}
	return v.key, nil
}

func (v *Verifier) cached(raw string, now time.Time) (map[string]string, bool) {
	if v.ttl < 0 {
		return nil, false
	}
	v.mu.RLock()
	e, ok := v.verdicts[raw]
	v.mu.RUnlock()
	if !ok || !now.Before(e.until) {
		return nil, false
	}
	return e.claims, true
}

// remember caches a valid verdict until min(now+ttl, exp). When the cache is
// full it first drops expired verdicts, then arbitrary ones (Go's map order is
// random, so that is random eviction: good enough for a dev authorizer, and
// simpler than an LRU).
func (v *Verifier) remember(raw string, claims map[string]string, now, exp time.Time) {
	if v.ttl < 0 {
		return
	}
	until := now.Add(v.ttl)
	if exp.Before(until) {
		until = exp
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.verdicts) >= v.size {
		for k, e := range v.verdicts {
			if !now.Before(e.until) {
				delete(v.verdicts, k)
			}
		}
		for k := range v.verdicts {
			if len(v.verdicts) < v.size {
				break
			}
			delete(v.verdicts, k)
		}
	}
	v.verdicts[raw] = verdict{claims: claims, until: until}
}

// CacheLen reports how many verdicts are cached (for tests and metrics).
func (v *Verifier) CacheLen() int {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return len(v.verdicts)
}

// dateClaims are rendered as dates by API Gateway.
var dateClaims = map[string]bool{"exp": true, "iat": true, "auth_time": true, "nbf": true}

// apigwDate is Java's Date.toString layout, which API Gateway uses for dates.
const apigwDate = "Mon Jan 02 15:04:05 MST 2006"

func flatten(mc jwt.MapClaims) map[string]string {
	out := make(map[string]string, len(mc))
	for k, val := range mc {
		switch x := val.(type) {
		case string:
			out[k] = x
		case float64:
			if dateClaims[k] {
				out[k] = time.Unix(int64(x), 0).UTC().Format(apigwDate)
			} else {
				out[k] = strconv.FormatFloat(x, 'f', -1, 64)
			}
		case bool:
			out[k] = strconv.FormatBool(x)
		case []any:
			parts := make([]string, 0, len(x))
			for _, p := range x {
				parts = append(parts, fmt.Sprint(p))
			}
			out[k] = strings.Join(parts, ",")
		case nil:
			// JSON null: API Gateway drops it.
		default:
			out[k] = fmt.Sprint(x)
		}
	}
	return out
}

// Groups splits a flattened cognito:groups value. It accepts the REST API form
// ("admin,finance") and the HTTP API form ("[admin finance]").
func Groups(claim string) []string {
	claim = strings.TrimSpace(claim)
	if strings.HasPrefix(claim, "[") && strings.HasSuffix(claim, "]") {
		return strings.Fields(claim[1 : len(claim)-1])
	}
	var out []string
	for _, g := range strings.Split(claim, ",") {
		if g = strings.TrimSpace(g); g != "" {
			out = append(out, g)
		}
	}
	return out
}
