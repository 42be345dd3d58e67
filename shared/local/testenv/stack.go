package testenv

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"flashsale/shared/local/devauth"
	"flashsale/shared/local/devstack"
	"flashsale/shared/local/gateway"
)

// StackConfig returns a devstack.Config for a whole local stack on the test
// emulators: their endpoints, a fresh name prefix, a state folder of the
// test's own, and warnings logged to the test's output. The gateway listens
// on a free port unless the caller sets Addr. It skips or fails the test as
// Require does when the emulators do not answer.
func StackConfig(tb testing.TB) devstack.Config {
	tb.Helper()
	requireReachable(tb)
	dyn, sq := Endpoints()
	return devstack.Config{
		StateDir:         tb.TempDir(),
		DynamoDBEndpoint: dyn,
		SQSEndpoint:      sq,
		Prefix:           Prefix(),
		Logger:           slog.New(slog.NewTextHandler(tb.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
}

// OpenStack opens the stack cfg describes (normally from StackConfig) and,
// when the test ends, closes it and deletes its tables and queues.
func OpenStack(tb testing.TB, cfg devstack.Config) *devstack.Stack {
	tb.Helper()
	ctx, cancel := context.WithTimeout(tb.Context(), 2*time.Minute)
	defer cancel()
	st, err := devstack.Open(ctx, cfg)
	if err != nil {
		tb.Fatalf("open the local stack: %v", err)
	}
	tb.Cleanup(func() {
		if err := st.Close(); err != nil {
			tb.Errorf("close the local stack: %v", err)
		}
		// Closed, so every exchange has been checked.
		if err := st.Gateway.OpenAPICheck().Err(); err != nil {
			tb.Errorf("exchanges that break docs/openapi.yaml:\n%v", err)
		}
		// Not tb.Context(): it is already cancelled when cleanups run.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := devstack.DeleteResources(ctx, st.DynamoDB, st.SQS, st.Resources); err != nil {
			tb.Errorf("delete test resources: %v", err)
		}
	})
	return st
}

// CheckOpenAPI fails the test, when it ends, on each exchange that broke
// docs/openapi.yaml in gw's OpenAPI check (which runs when
// FLASHSALE_OPENAPI_STRICT=1, as `make test` sets). Call it before
// registering the cleanup that stops gw's server: cleanups run last
// first, so the check then sees every exchange.
func CheckOpenAPI(tb testing.TB, gw *gateway.Gateway) {
	tb.Helper()
	tb.Cleanup(func() {
		if err := gw.OpenAPICheck().Err(); err != nil {
			tb.Errorf("exchanges that break docs/openapi.yaml:\n%v", err)
		}
	})
}

// Order places one one-unit purchase through a stack's gateway as user,
// with Idempotency-Key key, and returns the answer's status and body. For
// sales without purchase tokens.
func Order(tb testing.TB, st *devstack.Stack, sale, user, key string) (int, string) {
	tb.Helper()
	token, err := st.Issuer.Token(devauth.TokenRequest{UserID: user})
	if err != nil {
		tb.Fatal(err)
	}
	req, err := http.NewRequestWithContext(tb.Context(), http.MethodPost, st.URL+"/sales/"+sale+"/orders", strings.NewReader(`{"quantity":1}`))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("X-Api-Key", st.Issuer.APIKey())
	req.Header.Set("Idempotency-Key", key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return resp.StatusCode, string(body)
}
