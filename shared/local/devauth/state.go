// Package devauth stands in for Cognito on the local stack: it mints RS256 ID
// tokens that look like a user pool's and verifies them the way API Gateway's
// Cognito authorizer does. It also keeps the other dev secrets (the usage-plan
// API key, the payment webhook secret and the admission keys) in the local
// stack's state folder, so
// every flashsale command that runs against the local stack agrees on them.
package devauth

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/mod/modfile"
)

// StateEnv names the environment variable that overrides the state folder.
const StateEnv = "FLASHSALE_STATE"

// File names inside the state folder.
const (
	KeyFile           = "jwt-key.pem"
	APIKeyFile        = "api-key"
	WebhookSecretFile = "webhook-secret"
	AdmissionKeysFile = "admission-keys.json"
)

// modulePath identifies the repository root: the folder whose go.mod declares it.
const modulePath = "flashsale"

// DefaultStateDir returns the local stack's state folder: $FLASHSALE_STATE if
// set, otherwise .flashsale in the repository root, found by walking up from
// the working directory to the go.mod that declares module flashsale.
func DefaultStateDir() (string, error) {
	if dir := os.Getenv(StateEnv); dir != "" {
		return dir, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("state dir: %w", err)
	}
	root, err := FindRoot(wd)
	if err != nil {
		return "", fmt.Errorf("state dir (set %s to choose one): %w", StateEnv, err)
	}
	return filepath.Join(root, ".flashsale"), nil
}

// FindRoot walks up from dir to the first folder whose go.mod declares module
// flashsale.
func FindRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("find repository root: %w", err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		if data, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && modfile.ModulePath(data) == modulePath {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.mod declaring module %s above %s: run from inside the flashsale repository", modulePath, dir)
		}
	}
}

// loadOrCreate returns the contents of path, creating it with generate's output
// (mode 0600) if it does not exist yet. Several processes may start at once
// (`flashsale dev` and `flashsale token`), so the file is written to a temporary
// name and hard-linked into place: the first link wins, and a loser reads the
// winner's file instead of overwriting it.
func loadOrCreate(path string, generate func() ([]byte, error)) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err == nil {
		return data, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	data, err = generate()
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	// CreateTemp already uses 0600; the link keeps that mode.
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return loadExisting(path)
		}
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	return data, nil
}

func loadExisting(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return data, nil
}

// loadOrCreateSecret is loadOrCreate for one-line text secrets; surrounding
// whitespace (a newline added by an editor) is ignored.
func loadOrCreateSecret(path string, generate func() string) (string, error) {
	data, err := loadOrCreate(path, func() ([]byte, error) { return []byte(generate() + "\n"), nil })
	if err != nil {
		return "", err
	}
	s := string(bytes.TrimSpace(data))
	if s == "" {
		return "", fmt.Errorf("%s is empty: delete it to generate a new one", path)
	}
	return s, nil
}

// newAPIKey looks like an API Gateway key: 40 characters of [A-Z2-7].
func newAPIKey() string { return (rand.Text() + rand.Text())[:40] }

// newWebhookSecret is 256 random bits in hex.
func newWebhookSecret() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand panics instead)
	return hex.EncodeToString(b)
}
