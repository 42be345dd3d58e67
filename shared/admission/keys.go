// Package admission is the crypto of the sale's admission step: ALTCHA v1
// proof-of-work challenges, the purchase tokens a solved challenge buys, the
// server keys that sign both, and the governor that raises the challenge's
// difficulty under load. Everything here is stateless and makes no network
// call: reserve verifies a token with one HMAC, so the sold-out flood stays
// at zero store calls.
//
// Hand-written rather than a library: ALTCHA's Go library (altcha-lib-go)
// is not among the served modules, and v1 is two hash calls; golang-jwt
// would make a purchase token a JWT, twice the bytes and a JSON decode per
// purchase on the burst path for no claim we need.
package admission

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"regexp"
	"sort"
	"sync"
)

// KeySet is the server's signing keys, as JSON: the stack's Secrets Manager
// secret deployed, a file in the state folder locally.
//
//	{"kid":"k2","secret":"…","retired":{"k1":"…"}}
//
// kid/secret signs everything new; a retired key only verifies, so tokens
// and challenges signed before a rotation stay good until they expire.
// docs/deploy.md describes a rotation.
type KeySet struct {
	KeyID   string            `json:"kid"`
	Secret  string            `json:"secret"`
	Retired map[string]string `json:"retired,omitempty"`
}

// MinSecretLen is the shortest secret accepted: 32 characters.
const MinSecretLen = 32

// NewKeySet returns a key set with one fresh 256-bit key named kid.
func NewKeySet(kid string) KeySet {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on Linux
	return KeySet{KeyID: kid, Secret: hex.EncodeToString(b)}
}

// Keys signs and verifies challenges and purchase tokens. It is safe for
// concurrent use.
type Keys struct {
	current string
	byID    map[string]*key
}

// key is one secret, split into a sub-key per use, so a challenge signature
// can never pass for a token MAC.
type key struct {
	challenge []byte
	token     sync.Pool // hash.Hash: hmac.New allocates, and reserve verifies per request
}

// ParseKeys reads a KeySet's JSON.
func ParseKeys(data []byte) (*Keys, error) {
	var ks KeySet
	if err := json.Unmarshal(data, &ks); err != nil {
		return nil, fmt.Errorf("admission keys: %w", err)
	}
	return NewKeys(ks)
}

// NewKeys checks a KeySet and derives its sub-keys.
func NewKeys(ks KeySet) (*Keys, error) {
	k := &Keys{current: ks.KeyID, byID: map[string]*key{}}
	add := func(kid, secret string) error {
		if !validKeyID(kid) {
			return fmt.Errorf("admission keys: key id %q must be 1-16 characters of [A-Za-z0-9_-]", kid)
		}
		if len(secret) < MinSecretLen {
			return fmt.Errorf("admission keys: secret of key %q is shorter than %d characters", kid, MinSecretLen)
		}
		if _, dup := k.byID[kid]; dup {
			return fmt.Errorf("admission keys: key id %q appears twice", kid)
		}
		tokenKey := derive(secret, "flashsale purchase-token v1")
		k.byID[kid] = &key{
			challenge: derive(secret, "flashsale challenge v1"),
			token:     sync.Pool{New: func() any { return hmac.New(sha256.New, tokenKey) }},
		}
		return nil
	}
	if err := add(ks.KeyID, ks.Secret); err != nil {
		return nil, err
	}
	retired := make([]string, 0, len(ks.Retired))
	for kid := range ks.Retired {
		retired = append(retired, kid)
	}
	sort.Strings(retired) // deterministic error messages
	for _, kid := range retired {
		if err := add(kid, ks.Retired[kid]); err != nil {
			return nil, err
		}
	}
	return k, nil
}

// CurrentID is the id of the key that signs.
func (k *Keys) CurrentID() string { return k.current }

func derive(secret, purpose string) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(purpose))
	return m.Sum(nil)
}

// tokenMAC computes the token MAC of msg with key kid into dst.
func (k *key) tokenMAC(dst []byte, msg string) []byte {
	h := k.token.Get().(hash.Hash)
	h.Reset()
	h.Write([]byte(msg))
	dst = h.Sum(dst)
	k.token.Put(h)
	return dst
}

// keyIDPattern: a key id appears in salts and tokens, so it holds none of
// their delimiters. Keys are parsed once per container, so a regexp is
// cheap enough here.
var keyIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,16}$`)

func validKeyID(s string) bool { return keyIDPattern.MatchString(s) }

var errUnknownKey = errors.New("signed with an unknown key id")
