package admission

import (
	"crypto/hmac"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Token errors; reserve answers each with its own 403 code.
var (
	ErrTokenInvalid = errors.New("purchase token is not valid for this user and sale")
	ErrTokenExpired = errors.New("purchase token expired; get a new one")
)

// The token layout, every part free of '.':
//
//	v1.<kid>.<expires unix>.<sale>.<base64url(user)>.<base64url(mac)>
//
// The MAC is HMAC-SHA256 with the key's token sub-key over everything
// before the last '.'. Sale ids are [A-Za-z0-9_-] and the user id is
// base64url, so the parts cannot run into one another. Clients treat the
// whole as opaque.
const tokenVersion = "v1"

// NewToken issues a purchase token for sub, good until expires.
func (k *Keys) NewToken(sub Subject, expires time.Time) string {
	msg := tokenVersion + "." + k.current + "." + strconv.FormatInt(expires.Unix(), 10) + "." +
		sub.SaleID + "." + base64.RawURLEncoding.EncodeToString([]byte(sub.UserID))
	mac := k.byID[k.current].tokenMAC(nil, msg)
	return msg + "." + base64.RawURLEncoding.EncodeToString(mac)
}

// VerifyToken checks a purchase token for sub at now: one HMAC and a
// constant-time compare, no allocation beyond the base64 decode.
// Errors: ErrTokenInvalid (malformed, tampered, unknown key id, another
// user or sale), ErrTokenExpired.
func (k *Keys) VerifyToken(token string, sub Subject, now time.Time) error {
	cut := strings.LastIndexByte(token, '.')
	if cut < 0 || len(token) > 512 {
		return ErrTokenInvalid
	}
	msg, macB64 := token[:cut], token[cut+1:]
	var parts [5]string
	rest := msg
	for i := range 4 {
		var ok bool
		if parts[i], rest, ok = strings.Cut(rest, "."); !ok {
			return ErrTokenInvalid
		}
	}
	parts[4] = rest
	if parts[0] != tokenVersion {
		return ErrTokenInvalid
	}
	key, ok := k.byID[parts[1]]
	if !ok {
		return ErrTokenInvalid
	}
	// 43 characters are exactly 32 bytes: checked before decoding, which
	// would write past the buffer for a longer one.
	if len(macB64) != 43 {
		return ErrTokenInvalid
	}
	var macBuf, wantBuf [32]byte
	n, err := base64.RawURLEncoding.Decode(macBuf[:], []byte(macB64))
	if err != nil || n != len(macBuf) {
		return ErrTokenInvalid
	}
	if !hmac.Equal(macBuf[:], key.tokenMAC(wantBuf[:0], msg)) {
		return ErrTokenInvalid
	}
	// Signed by us: the fields are what we wrote.
	if parts[3] != sub.SaleID || parts[4] != base64.RawURLEncoding.EncodeToString([]byte(sub.UserID)) {
		return ErrTokenInvalid
	}
	expires, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil {
		return ErrTokenInvalid
	}
	if !now.Before(time.Unix(expires, 0)) {
		return ErrTokenExpired
	}
	return nil
}
