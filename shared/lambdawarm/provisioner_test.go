package lambdawarm_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"flashsale/shared/lambdawarm"
)

const (
	function = "flashsale-reserve"
	alias    = "live"
	path     = "/2019-09-30/functions/" + function + "/provisioned-concurrency"
)

type call struct {
	Method, Path, Qualifier string
	// Executions is the PUT body's ProvisionedConcurrentExecutions.
	Executions int
}

// fakeLambda answers the provisioned-concurrency calls on loopback in
// Lambda's REST-JSON. configured is the alias's config (0: none); a
// DELETE without one is a 404 ResourceNotFoundException, as Lambda
// answers. fail, when set, answers every call with that status and type.
type fakeLambda struct {
	tb         testing.TB
	mu         sync.Mutex
	configured int
	calls      []call
	fail       struct {
		status int
		kind   string
	}
}

func (f *fakeLambda) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := call{Method: r.Method, Path: r.URL.Path, Qualifier: r.URL.Query().Get("Qualifier")}
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
		f.tb.Errorf("unsigned request %s %s", r.Method, r.URL)
	}
	if r.Method == http.MethodPut {
		var body map[string]int
		raw, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(raw, &body); err != nil || len(body) != 1 {
			f.tb.Errorf("PUT body %s (%v), want only ProvisionedConcurrentExecutions", raw, err)
		}
		c.Executions = body["ProvisionedConcurrentExecutions"]
	}
	f.calls = append(f.calls, c)
	answer := func(status int, kind string, v any) {
		w.Header().Set("Content-Type", "application/json")
		if kind != "" {
			w.Header().Set("X-Amzn-Errortype", kind)
		}
		w.WriteHeader(status)
		if v != nil {
			_ = json.NewEncoder(w).Encode(v)
		}
	}
	switch {
	case f.fail.status != 0:
		answer(f.fail.status, f.fail.kind, map[string]string{"Type": "User", "message": "injected"})
	case r.Method == http.MethodPut:
		f.configured = c.Executions
		answer(http.StatusAccepted, "", map[string]any{"RequestedProvisionedConcurrentExecutions": c.Executions, "Status": "IN_PROGRESS"})
	case r.Method == http.MethodDelete && f.configured == 0:
		answer(http.StatusNotFound, "ResourceNotFoundException", map[string]string{"Type": "User", "Message": "No Provisioned Concurrency Config found for this function"})
	case r.Method == http.MethodDelete:
		f.configured = 0
		w.WriteHeader(http.StatusNoContent)
	default:
		f.tb.Errorf("unexpected %s %s", r.Method, r.URL)
		answer(http.StatusBadRequest, "InvalidParameterValueException", nil)
	}
}

func newProvisioner(t *testing.T) (*lambdawarm.Provisioner, *fakeLambda) {
	t.Helper()
	f := &fakeLambda{tb: t}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	client := lambda.New(lambda.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		HTTPClient:   srv.Client(),
		Retryer:      aws.NopRetryer{},
	})
	p, err := lambdawarm.New(client, function, alias, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p, f
}

func TestSetProvisioned_PutsThenDeletes(t *testing.T) {
	p, f := newProvisioner(t)
	ctx := t.Context()
	for _, n := range []int{40, 15, 0} {
		if err := p.SetProvisioned(ctx, n, fmt.Sprintf("test %d", n)); err != nil {
			t.Fatalf("SetProvisioned(%d): %v", n, err)
		}
	}
	want := []call{
		{http.MethodPut, path, alias, 40},
		{http.MethodPut, path, alias, 15},
		{http.MethodDelete, path, alias, 0},
	}
	if len(f.calls) != len(want) {
		t.Fatalf("calls %+v, want %+v", f.calls, want)
	}
	for i := range want {
		if f.calls[i] != want[i] {
			t.Errorf("call %d: %+v, want %+v", i, f.calls[i], want[i])
		}
	}
	if f.configured != 0 {
		t.Errorf("config left at %d, want none", f.configured)
	}
}

// TestSetProvisioned_ZeroWithoutConfigIsFine: the cool-down of a stack
// with no baseline finds nothing to delete.
func TestSetProvisioned_ZeroWithoutConfigIsFine(t *testing.T) {
	p, f := newProvisioner(t)
	if err := p.SetProvisioned(t.Context(), 0, "cool-down"); err != nil {
		t.Fatalf("SetProvisioned(0) with no config: %v", err)
	}
	if len(f.calls) != 1 || f.calls[0].Method != http.MethodDelete {
		t.Errorf("calls %+v, want one DELETE", f.calls)
	}
}

func TestSetProvisioned_ErrorsSurface(t *testing.T) {
	for _, tc := range []struct {
		name   string
		n      int
		status int
		kind   string
		check  func(error) bool
	}{
		{"over reserved", 5000, http.StatusBadRequest, "InvalidParameterValueException", func(err error) bool {
			_, ok := errors.AsType[*types.InvalidParameterValueException](err)
			return ok
		}},
		{"throttled", 10, http.StatusTooManyRequests, "TooManyRequestsException", func(err error) bool {
			_, ok := errors.AsType[*types.TooManyRequestsException](err)
			return ok
		}},
		{"delete conflict", 0, http.StatusConflict, "ResourceConflictException", func(err error) bool {
			_, ok := errors.AsType[*types.ResourceConflictException](err)
			return ok
		}},
		{"delete service error", 0, http.StatusInternalServerError, "ServiceException", func(err error) bool {
			_, ok := errors.AsType[*types.ServiceException](err)
			return ok
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, f := newProvisioner(t)
			f.fail.status, f.fail.kind = tc.status, tc.kind
			err := p.SetProvisioned(t.Context(), tc.n, "warm-up of sale x")
			if err == nil || !tc.check(err) || !strings.Contains(err.Error(), "warm-up of sale x") {
				t.Fatalf("SetProvisioned(%d): %v, want Lambda's %s with the reason", tc.n, err, tc.kind)
			}
		})
	}
}

func TestSetProvisioned_NegativeSendsNothing(t *testing.T) {
	p, f := newProvisioner(t)
	if err := p.SetProvisioned(t.Context(), -1, "bug"); err == nil {
		t.Fatal("SetProvisioned(-1): nil error")
	}
	if len(f.calls) != 0 {
		t.Errorf("calls %+v, want none", f.calls)
	}
}

func TestNew_RequiresFunctionAndAlias(t *testing.T) {
	if _, err := lambdawarm.New(nil, function, "", nil); err == nil {
		t.Error("New without an alias: nil error")
	}
	if _, err := lambdawarm.New(nil, "", alias, nil); err == nil {
		t.Error("New without a function: nil error")
	}
}
