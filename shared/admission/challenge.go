package admission

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Algorithm is the only hash ALTCHA v1 challenges use here.
const Algorithm = "SHA-256"

// Challenge is ALTCHA's v1 wire format: find n in [0, MaxNumber] with
// hex(SHA-256(Salt + decimal(n))) == Challenge. Signature is the server's
// HMAC-SHA256 of Challenge, so a client cannot make up a challenge of its
// own; the salt binds user, sale and expiry, and since the salt is part of
// what was hashed, it cannot be changed either.
type Challenge struct {
	Algorithm string `json:"algorithm"`
	Challenge string `json:"challenge"`
	Salt      string `json:"salt"`
	MaxNumber int64  `json:"maxNumber"`
	Signature string `json:"signature"`
}

// Subject is who a challenge or token is for.
type Subject struct {
	UserID string
	SaleID string
}

// The salt's layout: random hex, then the bound fields as a query string
// with every value escaped, then a closing '&':
//
//	<32 hex>?expires=<unix>&kid=<kid>&sale=<sale>&user=<escaped user>&
//
// Escaping keeps one field from spilling into another, and the closing '&'
// keeps digits of the number from being read as part of the salt: salt +
// decimal(n) splits one way only, so no solution can be spliced into a
// salt with another expiry (ALTCHA's own salts got the same fix).
const saltEnd = "&"

// NewChallenge makes a challenge for sub with a secret number drawn
// uniformly from [0, maxNumber], good until expires.
func (k *Keys) NewChallenge(sub Subject, maxNumber int64, expires time.Time) (Challenge, error) {
	if maxNumber < 1 {
		return Challenge{}, fmt.Errorf("challenge: maxNumber %d, want >= 1", maxNumber)
	}
	n, err := rand.Int(rand.Reader, big.NewInt(maxNumber+1))
	if err != nil {
		return Challenge{}, fmt.Errorf("challenge: %w", err)
	}
	nonce := make([]byte, 16)
	_, _ = rand.Read(nonce)
	q := url.Values{
		"expires": {strconv.FormatInt(expires.Unix(), 10)},
		"kid":     {k.current},
		"sale":    {sub.SaleID},
		"user":    {sub.UserID},
	}
	salt := hex.EncodeToString(nonce) + "?" + q.Encode() + saltEnd
	sum := sha256.Sum256([]byte(salt + strconv.FormatInt(n.Int64(), 10)))
	challenge := hex.EncodeToString(sum[:])
	return Challenge{
		Algorithm: Algorithm, Challenge: challenge, Salt: salt, MaxNumber: maxNumber,
		Signature: hex.EncodeToString(sign(k.byID[k.current].challenge, challenge)),
	}, nil
}

func sign(key []byte, challenge string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(challenge))
	return m.Sum(nil)
}

// SolutionError says why a solution was refused; every reason is a 400
// invalid_solution on the wire.
type SolutionError struct{ Reason string }

func (e *SolutionError) Error() string { return "invalid solution: " + e.Reason }

// ErrInvalidSolution matches every *SolutionError.
var ErrInvalidSolution = errors.New("invalid solution")

func (e *SolutionError) Is(target error) bool { return target == ErrInvalidSolution }

// Verify checks a solution: the challenge as the client received it and the
// number it found. It is stateless: one SHA-256 and one HMAC.
// Errors: *SolutionError.
func (k *Keys) Verify(c Challenge, number int64, sub Subject, now time.Time) error {
	bad := func(format string, args ...any) error { return &SolutionError{Reason: fmt.Sprintf(format, args...)} }
	if c.Algorithm != Algorithm {
		return bad("algorithm must be %s", Algorithm)
	}
	if len(c.Challenge) != 2*sha256.Size || len(c.Signature) != 2*sha256.Size {
		return bad("challenge and signature must be 64 hex characters")
	}
	fields, ok := parseSalt(c.Salt)
	if !ok {
		return bad("salt is not one this server issued")
	}
	key, found := k.byID[fields.Get("kid")]
	if !found {
		return bad("challenge %s", errUnknownKey)
	}
	sig, err := hex.DecodeString(c.Signature)
	if err != nil || !hmac.Equal(sig, sign(key.challenge, c.Challenge)) {
		return bad("signature does not match the challenge")
	}
	// From here on the challenge is ours, and so is the salt it hashes.
	if fields.Get("user") != sub.UserID || fields.Get("sale") != sub.SaleID {
		return bad("challenge was issued for another user or sale")
	}
	expires, err := strconv.ParseInt(fields.Get("expires"), 10, 64)
	if err != nil || !now.Before(time.Unix(expires, 0)) {
		return bad("challenge expired; get a new one")
	}
	if number < 0 || number > c.MaxNumber {
		return bad("number must be between 0 and maxNumber")
	}
	sum := sha256.Sum256([]byte(c.Salt + strconv.FormatInt(number, 10)))
	want, _ := hex.DecodeString(c.Challenge)
	if !hmac.Equal(sum[:], want) {
		return bad("number does not solve the challenge")
	}
	return nil
}

// parseSalt reads the fields of a salt laid out as NewChallenge makes it.
func parseSalt(salt string) (url.Values, bool) {
	_, query, found := strings.Cut(salt, "?")
	if !found || !strings.HasSuffix(query, saltEnd) {
		return nil, false
	}
	fields, err := url.ParseQuery(strings.TrimSuffix(query, saltEnd))
	if err != nil {
		return nil, false
	}
	for _, f := range []string{"expires", "kid", "sale", "user"} {
		if len(fields[f]) != 1 {
			return nil, false
		}
	}
	return fields, true
}

// Solve finds the number that solves c, as a client does: it tries 0, 1, 2,
// … up to MaxNumber. It checks ctx every few thousand hashes.
// Errors: ctx's error, or one saying no number solves c.
func Solve(ctx context.Context, c Challenge) (int64, error) {
	if c.Algorithm != Algorithm {
		return 0, fmt.Errorf("solve: unsupported algorithm %q", c.Algorithm)
	}
	want, err := hex.DecodeString(c.Challenge)
	if err != nil || len(want) != sha256.Size {
		return 0, fmt.Errorf("solve: challenge is not a SHA-256 hex digest")
	}
	buf := []byte(c.Salt)
	saltLen := len(buf)
	for n := int64(0); n <= c.MaxNumber; n++ {
		if n%4096 == 0 && ctx.Err() != nil {
			return 0, ctx.Err()
		}
		buf = strconv.AppendInt(buf[:saltLen], n, 10)
		if sum := sha256.Sum256(buf); string(sum[:]) == string(want) {
			return n, nil
		}
	}
	return 0, fmt.Errorf("solve: no number up to %d solves the challenge", c.MaxNumber)
}
