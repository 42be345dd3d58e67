// Package webhook signs and verifies payment provider webhooks:
// Payment-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + "." + body)>.
//
// Hand-written on the standard library's crypto/hmac: the scheme is a few
// lines, and no served library implements this provider-neutral format.
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Header is the signature header's name.
const Header = "Payment-Signature"

// Tolerance is how far a signature's timestamp may be from now.
const Tolerance = 300 * time.Second

var (
	// ErrMalformed means the header cannot be parsed (a 400).
	ErrMalformed = errors.New("malformed Payment-Signature header")
	// ErrMismatch means no signature matches the body (a 401).
	ErrMismatch = errors.New("signature does not match")
	// ErrStale means the timestamp is outside the tolerance (a 401).
	ErrStale = errors.New("signature timestamp outside the 5-minute tolerance")
)

func mac(secret []byte, t string, body []byte) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(t))
	h.Write([]byte("."))
	h.Write(body)
	return h.Sum(nil)
}

// Sign returns the header value for body signed at t.
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

// Verify checks a header against body at now, comparing in constant time.
// Several v1 values are allowed (the provider may be rotating secrets).
func Verify(secret []byte, header string, body []byte, now time.Time) error {
	var ts string
	var sigs [][]byte
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return ErrMalformed
		}
		switch k {
		case "t":
			ts = v
		case "v1":
			sig, err := hex.DecodeString(v)
			if err != nil || len(sig) != sha256.Size {
				return ErrMalformed
			}
			sigs = append(sigs, sig)
		}
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return ErrMalformed
	}
	want := mac(secret, ts, body)
	matched := false
	for _, sig := range sigs {
		if hmac.Equal(sig, want) {
			matched = true
		}
	}
	if !matched {
		return ErrMismatch
	}
	if d := now.Sub(time.Unix(unix, 0)); d > Tolerance || d < -Tolerance {
		return ErrStale
	}
	return nil
}
