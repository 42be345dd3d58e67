// Package fixtures checks the sample payloads in events/: each decodes into
// its aws-lambda-go event type with unknown fields disallowed, so a
// misspelled key fails here instead of vanishing, and round-trips, as
// aws-lambda-go checks its own testdata with JSONEq (zero values aside; see
// diffValue).
package fixtures

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"flashsale/shared/admission"
	"flashsale/shared/apispec"
	"flashsale/shared/flashsale"
)

// eventTypes maps each fixture to the event its function receives: an API
// Gateway proxy request for the API functions, an SQS batch for the order
// writer, a scheduled EventBridge event for settlement. A new fixture must be
// listed, or TestFixtures_Strict fails.
var eventTypes = map[string]func() any{
	"admin-allowlist.json":   apiRequest,
	"admin-create-sale.json": apiRequest,
	"admin-report.json":      apiRequest,
	"admin-restock.json":     apiRequest,
	"admin-settle.json":      apiRequest,
	"order-cancel.json":      apiRequest,
	"order-get.json":         apiRequest,
	"my-orders.json":         apiRequest,
	"challenge.json":         apiRequest,
	"purchase-token.json":    apiRequest,
	"reserve.json":           apiRequest,
	"sale-info.json":         apiRequest,
	"webhook.json":           apiRequest,
	"order-writer.json":      func() any { return new(events.SQSEvent) },
	"settlement.json":        func() any { return new(events.EventBridgeEvent) },
	"ip-ban-sync.json":       func() any { return new(events.EventBridgeEvent) },
	"account-created.json":   func() any { return new(events.CognitoEventUserPoolsPostConfirmation) },
	"admin-sale.json":        apiRequest,
	"reminder.json":          apiRequest,
	// The preparation schedules hand their targets a flashsale.Schedule.
	"warm-up.json":  func() any { return new(flashsale.Schedule) },
	"notifier.json": func() any { return new(flashsale.Schedule) },
}

func apiRequest() any { return new(events.APIGatewayProxyRequest) }

// sampleKeys signed the admission samples (challenge, solution, purchase
// token). They are for these files only and deployed nowhere; regenerate
// the samples with them if the token or challenge format changes.
var sampleKeys = admission.KeySet{KeyID: "k1", Secret: "events-sample-key-never-deployed-0123456789abcdef"}

// TestFixtures_AdmissionSamples checks that the admission samples are what
// the real flow produces for user-123 in sale spring-1: each names its
// apispec route, the purchase-token body is a solved challenge, and the
// reserve sample carries a token issued for that user and sale.
func TestFixtures_AdmissionSamples(t *testing.T) {
	keys, err := admission.NewKeys(sampleKeys)
	if err != nil {
		t.Fatal(err)
	}
	sub := admission.Subject{UserID: "user-123", SaleID: "spring-1"}
	load := func(name string, want apispec.RouteKey) events.APIGatewayProxyRequest {
		t.Helper()
		raw, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		var req events.APIGatewayProxyRequest
		if err := decodeStrict(raw, &req); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := apispec.KeyOf(req.HTTPMethod, req.Resource); got != want {
			t.Errorf("%s is for %s, want %s", name, got, want)
		}
		if _, ok := apispec.Lookup(want); !ok {
			t.Errorf("%s: route %s is not in apispec.Routes", name, want)
		}
		if req.PathParameters["saleId"] != sub.SaleID {
			t.Errorf("%s: saleId %q, want %q", name, req.PathParameters["saleId"], sub.SaleID)
		}
		return req
	}
	at := func(req events.APIGatewayProxyRequest) time.Time {
		return time.UnixMilli(req.RequestContext.RequestTimeEpoch)
	}

	load("challenge.json", apispec.RouteChallenge)

	tokenReq := load("purchase-token.json", apispec.RoutePurchaseToken)
	var body struct {
		Challenge admission.Challenge `json:"challenge"`
		Number    int64               `json:"number"`
	}
	dec := json.NewDecoder(strings.NewReader(tokenReq.Body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		t.Fatalf("purchase-token body: %v", err)
	}
	if err := keys.Verify(body.Challenge, body.Number, sub, at(tokenReq)); err != nil {
		t.Errorf("purchase-token body at its request time: %v, want a valid solution", err)
	}
	if err := keys.Verify(body.Challenge, body.Number+1, sub, at(tokenReq)); err == nil {
		t.Errorf("number+1 also verifies; the check cannot fail")
	}

	reserve := load("reserve.json", apispec.RouteReserve)
	token := reserve.Headers["Purchase-Token"]
	if got := reserve.MultiValueHeaders["Purchase-Token"]; !slices.Equal(got, []string{token}) {
		t.Errorf("multiValueHeaders Purchase-Token = %v, want [%s]", got, token)
	}
	// Bought right after the token was issued; it lives 5 minutes.
	if err := keys.VerifyToken(token, sub, at(tokenReq).Add(time.Second)); err != nil {
		t.Errorf("reserve Purchase-Token: %v, want valid for %+v", err, sub)
	}
	if err := keys.VerifyToken(token, sub, at(tokenReq).Add(5*time.Minute)); err == nil {
		t.Errorf("reserve Purchase-Token still valid 5 minutes after issue; want it expired")
	}

	allow := load("admin-allowlist.json", apispec.RouteAllowlist)
	var ids struct {
		UserIDs []string `json:"userIds"`
	}
	dec = json.NewDecoder(strings.NewReader(allow.Body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ids); err != nil || len(ids.UserIDs) == 0 {
		t.Errorf("allowlist body %q: %v, want {\"userIds\":[…]}", allow.Body, err)
	}
}

func TestFixtures_Strict(t *testing.T) {
	files, err := filepath.Glob("*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no fixtures in events/")
	}
	for name := range eventTypes {
		if !slices.Contains(files, name) {
			t.Errorf("%s is listed in eventTypes but missing from events/", name)
		}
	}
	for _, name := range files {
		t.Run(name, func(t *testing.T) {
			newEvent, ok := eventTypes[name]
			if !ok {
				t.Fatalf("no event type for %s: add it to eventTypes", name)
			}
			raw, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			ev := newEvent()
			if err := decodeStrict(raw, ev); err != nil {
				t.Fatalf("decode as %T: %v", ev, err)
			}
			out, err := json.Marshal(ev)
			if err != nil {
				t.Fatalf("encode %T: %v", ev, err)
			}
			if diff := jsonDiff(raw, out); diff != "" {
				t.Errorf("%T does not round-trip:\n%s", ev, diff)
			}
		})
	}
}

// TestFixtures_CheckCanFail runs the checks on broken payloads, so
// TestFixtures_Strict is known to be able to fail.
func TestFixtures_CheckCanFail(t *testing.T) {
	tests := []struct {
		name    string
		raw     string
		wantErr bool // from the strict decode; else from the round trip
	}{
		{"misspelled key", `{"resource":"/sales/{saleId}","httpMetod":"GET"}`, true},
		{"trailing data", `{"resource":"/sales/{saleId}"} {}`, true},
		{"wrong type", `{"requestContext":{"requestTimeEpoch":"1764583200000"}}`, true},
		// encoding/json matches keys case-insensitively, so only the round
		// trip notices this one.
		{"key in another case", `{"resource":"/sales/{saleId}","HTTPMethod":"GET"}`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var ev events.APIGatewayProxyRequest
			err := decodeStrict([]byte(tc.raw), &ev)
			if tc.wantErr {
				if err == nil {
					t.Errorf("decode %s: no error, want one", tc.raw)
				}
				return
			}
			if err != nil {
				t.Fatalf("decode %s: %v, want none", tc.raw, err)
			}
			out, err := json.Marshal(ev)
			if err != nil {
				t.Fatal(err)
			}
			if jsonDiff([]byte(tc.raw), out) == "" {
				t.Errorf("%s round-trips as %s with no difference reported", tc.raw, out)
			}
		})
	}

	for _, tc := range []struct{ want, got, diff string }{
		{`{"a":1,"b":[1,2]}`, `{"b":[1,2],"a":1}`, ""},
		{`{"a":1}`, `{"a":1,"b":null}`, ""},
		{`{"a":null,"c":false}`, `{"a":"","b":0}`, ""},
		{`{"a":1}`, `{"a":1,"b":2}`, "$.b: added on re-encoding (2)\n"},
		{`{"a":1,"b":"x"}`, `{"a":1}`, "$.b: in the fixture, lost on re-encoding\n"},
		{`{"a":[1,{"x":"y"}]}`, `{"a":[1,{"x":"z"}]}`, `$.a[1].x: fixture "y", re-encoded "z"` + "\n"},
	} {
		if got := jsonDiff([]byte(tc.want), []byte(tc.got)); got != tc.diff {
			t.Errorf("jsonDiff(%s, %s) = %q, want %q", tc.want, tc.got, got, tc.diff)
		}
	}
}

// decodeStrict decodes exactly one JSON value with no unknown fields.
func decodeStrict(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errTrailing
	}
	return nil
}

var errTrailing = errors.New("trailing data after the event")

// jsonDiff compares two JSON documents semantically, as testify's JSONEq
// does (key order and spacing do not matter), and describes the difference;
// "" means equal. Hand-written because testify is no dependency of ours.
func jsonDiff(want, got []byte) string {
	var w, g any
	if err := json.Unmarshal(want, &w); err != nil {
		return "want is not JSON: " + err.Error()
	}
	if err := json.Unmarshal(got, &g); err != nil {
		return "got is not JSON: " + err.Error()
	}
	if reflect.DeepEqual(w, g) {
		return ""
	}
	var b strings.Builder
	diffValue(&b, "$", w, g)
	return b.String()
}

// diffValue writes one line per path where want and got differ. A key one
// side lacks, or holds null, is equal to the other side's zero value (false,
// 0, "" or null): the event types drop some zero fields (omitempty) and write
// others that API Gateway and SQS leave out or send as null, and neither
// loses information. Any other value must match exactly, so a key spelled in
// another case (which encoding/json decodes without complaint) still fails:
// its value is lost under the fixture's spelling.
func diffValue(b *strings.Builder, path string, want, got any) {
	if isZero(want) && isZero(got) {
		return
	}
	if wl, ok := want.([]any); ok {
		if gl, ok := got.([]any); ok && len(wl) == len(gl) {
			for i := range wl {
				diffValue(b, path+"["+strconv.Itoa(i)+"]", wl[i], gl[i])
			}
			return
		}
	}
	wm, wok := want.(map[string]any)
	gm, gok := got.(map[string]any)
	if wok && gok {
		keys := map[string]bool{}
		for k := range wm {
			keys[k] = true
		}
		for k := range gm {
			keys[k] = true
		}
		for _, k := range slices.Sorted(maps.Keys(keys)) {
			wv, win := wm[k]
			gv, gin := gm[k]
			switch {
			case !gin && !isZero(wv):
				b.WriteString(path + "." + k + ": in the fixture, lost on re-encoding\n")
			case !win && !isZero(gv):
				b.WriteString(path + "." + k + ": added on re-encoding (" + compact(gv) + ")\n")
			case !gin || !win:
			default:
				diffValue(b, path+"."+k, wv, gv)
			}
		}
		return
	}
	if !reflect.DeepEqual(want, got) {
		b.WriteString(path + ": fixture " + compact(want) + ", re-encoded " + compact(got) + "\n")
	}
}

// isZero reports whether a decoded JSON value is null, false, 0 or "".
func isZero(v any) bool { return v == nil || v == false || v == "" || v == float64(0) }

func compact(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
