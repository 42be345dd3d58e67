package devauth

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"flashsale/shared/admission"
)

// The dev user pool. A real pool's issuer is
// https://cognito-idp.<region>.amazonaws.com/<poolId>; the local one only has
// to be constant so tokens and verifier agree.
const (
	IssuerURL = "https://cognito-idp.local/flashsale-dev"
	ClientID  = "flashsale-local-client"
)

// Claim names a Cognito ID token carries and handlers read.
const (
	ClaimSubject  = "sub"
	ClaimUsername = "cognito:username"
	ClaimGroups   = "cognito:groups"
	ClaimTokenUse = "token_use"
	// ClaimCreatedAt is the account's creation time, Unix seconds as a
	// string: a custom user-pool attribute the app client may read.
	ClaimCreatedAt = "custom:created_at"
)

// DefaultAccountAge is how old a minted token says its account is unless
// asked otherwise: old enough for any sale's minimum account age.
const DefaultAccountAge = 400 * 24 * time.Hour

// DefaultTTL is how long a token lives unless asked otherwise (Cognito's ID
// token default is also one hour).
const DefaultTTL = time.Hour

// Issuer mints dev ID tokens with the state folder's signing key and holds
// the other dev secrets. It is safe for concurrent use.
type Issuer struct {
	key           *rsa.PrivateKey
	kid           string
	apiKey        string
	webhookSecret string
	admissionKeys []byte
}

// LoadOrCreate opens the state folder (creating it, mode 0700) and loads the
// signing key, API key and webhook secret, generating each on first use.
func LoadOrCreate(stateDir string) (*Issuer, error) {
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, fmt.Errorf("state dir %s: %w", stateDir, err)
	}
	pemKey, err := loadOrCreate(filepath.Join(stateDir, KeyFile), newKeyPEM)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	key, err := jwt.ParseRSAPrivateKeyFromPEM(pemKey)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", filepath.Join(stateDir, KeyFile), err)
	}
	apiKey, err := loadOrCreateSecret(filepath.Join(stateDir, APIKeyFile), newAPIKey)
	if err != nil {
		return nil, fmt.Errorf("api key: %w", err)
	}
	secret, err := loadOrCreateSecret(filepath.Join(stateDir, WebhookSecretFile), newWebhookSecret)
	if err != nil {
		return nil, fmt.Errorf("webhook secret: %w", err)
	}
	admissionKeys, err := loadOrCreate(filepath.Join(stateDir, AdmissionKeysFile), newAdmissionKeys)
	if err != nil {
		return nil, fmt.Errorf("admission keys: %w", err)
	}
	if _, err := admission.ParseKeys(admissionKeys); err != nil {
		return nil, fmt.Errorf("%s: %w (delete it to generate a new one)", filepath.Join(stateDir, AdmissionKeysFile), err)
	}
	return &Issuer{key: key, kid: keyID(&key.PublicKey), apiKey: apiKey, webhookSecret: secret, admissionKeys: admissionKeys}, nil
}

func newKeyPEM() ([]byte, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("generate RSA key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("marshal RSA key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// keyID names a public key by its SHA-256 fingerprint, as a JWKS kid would.
func keyID(pub *rsa.PublicKey) string {
	der, _ := x509.MarshalPKIXPublicKey(pub) // cannot fail for an RSA key
	sum := sha256.Sum256(der)
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

func newAdmissionKeys() ([]byte, error) {
	return json.MarshalIndent(admission.NewKeySet("local1"), "", "  ")
}

// AdmissionKeys returns the admission key set's JSON (admission.KeySet),
// which signs challenges and purchase tokens.
func (i *Issuer) AdmissionKeys() []byte { return i.admissionKeys }

// APIKey returns the dev usage plan's API key (the x-api-key header).
func (i *Issuer) APIKey() string { return i.apiKey }

// WebhookSecret returns the secret that signs payment webhooks.
func (i *Issuer) WebhookSecret() string { return i.webhookSecret }

// KeyID returns the kid header of the tokens this issuer mints.
func (i *Issuer) KeyID() string { return i.kid }

// PublicKey returns the key that verifies this issuer's tokens.
func (i *Issuer) PublicKey() *rsa.PublicKey { return &i.key.PublicKey }

// Verifier returns a verifier for this issuer's tokens with the default
// verdict cache.
func (i *Issuer) Verifier() *Verifier {
	return NewVerifier(VerifierConfig{Key: i.PublicKey()})
}

// TokenRequest describes one ID token.
type TokenRequest struct {
	// UserID becomes sub; it is required.
	UserID string
	// Username becomes cognito:username; empty means UserID.
	Username string
	// Groups become cognito:groups, omitted when empty (as Cognito does).
	Groups []string
	// TTL is the lifetime; zero means DefaultTTL. A negative TTL mints an
	// already expired token, which tests need.
	TTL time.Duration
	// IssuedAt is iat and auth_time; zero means now.
	IssuedAt time.Time
	// CreatedAt is the account's creation time (custom:created_at); zero
	// means DefaultAccountAge before IssuedAt.
	CreatedAt time.Time
}

// Token mints a signed Cognito-style ID token.
func (i *Issuer) Token(r TokenRequest) (string, error) {
	if r.UserID == "" {
		return "", errors.New("mint token: empty user id")
	}
	if r.Username == "" {
		r.Username = r.UserID
	}
	if r.TTL == 0 {
		r.TTL = DefaultTTL
	}
	if r.IssuedAt.IsZero() {
		r.IssuedAt = time.Now()
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = r.IssuedAt.Add(-DefaultAccountAge)
	}
	iat := r.IssuedAt.Unix()
	claims := jwt.MapClaims{
		"iss":         IssuerURL,
		"aud":         ClientID, // a single string in Cognito ID tokens
		ClaimSubject:  r.UserID,
		ClaimUsername: r.Username,
		ClaimTokenUse: "id",
		"auth_time":   iat,
		"iat":         iat,
		"exp":         r.IssuedAt.Add(r.TTL).Unix(),
		"jti":         rand.Text(),
		// Cognito hands custom attributes to the app as strings.
		ClaimCreatedAt: strconv.FormatInt(r.CreatedAt.Unix(), 10),
	}
	if len(r.Groups) > 0 {
		claims[ClaimGroups] = r.Groups
	}
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	t.Header["kid"] = i.kid
	s, err := t.SignedString(i.key)
	if err != nil {
		return "", fmt.Errorf("sign token for %s: %w", r.UserID, err)
	}
	return s, nil
}
