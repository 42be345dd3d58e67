package templatetests

import (
	"encoding/json"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"

	"flashsale/shared/admission"
	"flashsale/shared/apispec"
	"flashsale/shared/awsclient"
)

// The admission step (design brief, "Admission (v2)"): its routes, the
// token route's throttle, the generated key set and who may read it.

// admissionKeyReaders are the only functions that may see the key set:
// admission signs challenges and tokens, reserve verifies tokens.
var admissionKeyReaders = []string{apispec.FunctionAdmission, apispec.FunctionReserve}

func TestAdmission_Routes(t *testing.T) {
	// Written out from the brief rather than read from apispec, so a change
	// to apispec that breaks the contract fails here too.
	tests := []struct {
		key      apispec.RouteKey
		function string
		apiKey   bool
	}{
		{"GET /sales/{saleId}/challenge", apispec.FunctionAdmission, true},
		{"POST /sales/{saleId}/purchase-tokens", apispec.FunctionAdmission, true},
		{"POST /admin/sales/{saleId}/allowlist", apispec.FunctionAdmin, false},
	}
	eachStack(t, func(t *testing.T, b *built) {
		got := routes(t, b)
		for _, tc := range tests {
			t.Run(string(tc.key), func(t *testing.T) {
				m, ok := got[tc.key]
				if !ok {
					t.Fatalf("no method for %s", tc.key)
				}
				if m.function != tc.function {
					t.Errorf("got function %s, want %s", m.function, tc.function)
				}
				if a := m.props["AuthorizationType"]; a != "COGNITO_USER_POOLS" {
					t.Errorf("got authorization %v, want COGNITO_USER_POOLS", a)
				}
				az, ok := b.res[ref(m.props["AuthorizerId"])].(map[string]any)
				if !ok || az["Type"] != "AWS::ApiGateway::Authorizer" || props(az)["Type"] != "COGNITO_USER_POOLS" {
					t.Errorf("got authorizer %v, want the stack's Cognito authorizer", m.props["AuthorizerId"])
				}
				if k, _ := m.props["ApiKeyRequired"].(bool); k != tc.apiKey {
					t.Errorf("got ApiKeyRequired %v, want %v", k, tc.apiKey)
				}
			})
		}
	})
}

// methodSetting returns the stage's MethodSettings entry for method on path,
// failing unless there is exactly one stage and at most one such entry.
func methodSetting(tb testing.TB, b *built, method, path string) (map[string]any, bool) {
	tb.Helper()
	stages := ofType(b, "AWS::ApiGateway::Stage")
	if len(stages) != 1 {
		tb.Fatalf("got %d stages, want 1", len(stages))
	}
	var found []map[string]any
	for _, st := range stages {
		for _, s := range props(st)["MethodSettings"].([]any) {
			ms := s.(map[string]any)
			if ms["HttpMethod"] == method && ms["ResourcePath"] == resourcePath(path) {
				found = append(found, ms)
			}
		}
	}
	if len(found) > 1 {
		tb.Fatalf("%s %s: got %d method settings, want at most 1", method, path, len(found))
	}
	if len(found) == 0 {
		return nil, false
	}
	return found[0], true
}

func TestAdmission_TokenRouteThrottle(t *testing.T) {
	if apispec.TokenRoute != apispec.RoutePurchaseToken {
		t.Fatalf("apispec.TokenRoute = %s, want %s", apispec.TokenRoute, apispec.RoutePurchaseToken)
	}
	eachStack(t, func(t *testing.T, b *built) {
		want := apispec.Stages[b.stage].TokenIssue
		if want.RateLimit <= 0 || want.BurstLimit <= 0 || float64(want.BurstLimit) > want.RateLimit {
			t.Fatalf("apispec %s TokenIssue = %+v, want 0 < burst ≤ rate", b.stage, want)
		}
		ms, ok := methodSetting(t, b, "POST", "/sales/{saleId}/purchase-tokens")
		if !ok {
			t.Fatalf("no method setting for the token route; want its throttle %+v", want)
		}
		if got := num(t, ms["ThrottlingRateLimit"], "token ThrottlingRateLimit"); got != want.RateLimit {
			t.Errorf("token route rate = %v, want apispec.Stages[%q].TokenIssue.RateLimit = %v", got, b.stage, want.RateLimit)
		}
		if got := num(t, ms["ThrottlingBurstLimit"], "token ThrottlingBurstLimit"); got != float64(want.BurstLimit) {
			t.Errorf("token route burst = %v, want apispec.Stages[%q].TokenIssue.BurstLimit = %d", got, b.stage, want.BurstLimit)
		}
		// An override replaces the stage's settings for its method; it must
		// keep the logging and metrics.
		if ms["MetricsEnabled"] != true || ms["LoggingLevel"] != "ERROR" {
			t.Errorf("token route: got metrics %v, logging %v; want true, ERROR as the stage", ms["MetricsEnabled"], ms["LoggingLevel"])
		}
		// The purchase throttle is still there beside it: both method
		// throttles, not the last one written.
		purchase, ok := methodSetting(t, b, "POST", "/sales/{saleId}/orders")
		if !ok || purchase["ThrottlingRateLimit"] != b.limits.Purchase.RateLimit {
			t.Errorf("purchase route setting = %v, want rate %v", purchase, b.limits.Purchase.RateLimit)
		}
		// Challenges are only stage-throttled: a challenge costs no store
		// call, and the token route meters who gets in.
		if ms, ok := methodSetting(t, b, "GET", "/sales/{saleId}/challenge"); ok {
			t.Errorf("challenge route has a method setting %v, want the stage's", ms)
		}
	})
}

// admissionKeysID returns the logical ID of the generated admission key set:
// the one secret whose generated value goes under a key of a JSON template.
func admissionKeysID(tb testing.TB, b *built) string {
	tb.Helper()
	var ids []string
	for id, r := range ofType(b, "AWS::SecretsManager::Secret") {
		gen, _ := props(r)["GenerateSecretString"].(map[string]any)
		if gen["GenerateStringKey"] != nil {
			ids = append(ids, id)
		}
	}
	if len(ids) != 1 {
		tb.Fatalf("got %d secrets generated into a JSON template (%v), want 1: the admission keys", len(ids), ids)
	}
	return ids[0]
}

// webhookSecretID returns the logical ID of the other secret.
func webhookSecretID(tb testing.TB, b *built) string {
	tb.Helper()
	keys := admissionKeysID(tb, b)
	all := ofType(b, "AWS::SecretsManager::Secret")
	if len(all) != 2 {
		tb.Fatalf("got %d secrets, want 2 (webhook, admission keys)", len(all))
	}
	for id := range all {
		if id != keys {
			return id
		}
	}
	return ""
}

func TestAdmission_KeysSecretIsAGeneratedKeySet(t *testing.T) {
	eachStack(t, func(t *testing.T, b *built) {
		r := b.res[admissionKeysID(t, b)].(map[string]any)
		gen := props(r)["GenerateSecretString"].(map[string]any)
		if got := gen["SecretStringTemplate"]; got != `{"kid":"k1"}` {
			t.Errorf("SecretStringTemplate = %v, want {\"kid\":\"k1\"}", got)
		}
		if got := gen["GenerateStringKey"]; got != "secret" {
			t.Errorf("GenerateStringKey = %v, want secret", got)
		}
		if got := num(t, gen["PasswordLength"], "PasswordLength"); got != 64 {
			t.Errorf("PasswordLength = %v, want 64", got)
		}
		if gen["ExcludePunctuation"] != true {
			t.Errorf("ExcludePunctuation = %v, want true", gen["ExcludePunctuation"])
		}
		if gen["IncludeSpace"] == true {
			t.Errorf("IncludeSpace = true, want no spaces in the secret")
		}
		// What Secrets Manager stores: the template with the generated
		// value under the key. It must be a KeySet the app accepts.
		var v map[string]any
		if err := json.Unmarshal([]byte(gen["SecretStringTemplate"].(string)), &v); err != nil {
			t.Fatalf("template is not JSON: %v", err)
		}
		v[gen["GenerateStringKey"].(string)] = strings.Repeat("aZ9", 22)[:int(num(t, gen["PasswordLength"], "PasswordLength"))]
		stored, _ := json.Marshal(v)
		keys, err := admission.ParseKeys(stored)
		if err != nil {
			t.Fatalf("generated secret %s: %v, want a valid admission.KeySet", stored, err)
		}
		if keys.CurrentID() != "k1" {
			t.Errorf("current key id = %q, want k1", keys.CurrentID())
		}
		want := map[bool]string{true: "Retain", false: "Delete"}[b.stage == "prod"]
		if r["DeletionPolicy"] != want {
			t.Errorf("deletion policy = %v, want %s (as the webhook secret)", r["DeletionPolicy"], want)
		}
	})
}

func TestAdmission_KeysARNOnlyOnAdmissionAndReserve(t *testing.T) {
	eachStack(t, func(t *testing.T, b *built) {
		keys := admissionKeysID(t, b)
		for _, name := range apispec.FunctionNames() {
			vars, _ := function(t, b, name)["Environment"].(map[string]any)["Variables"].(map[string]any)
			v, has := vars[awsclient.EnvAdmissionKeysARN]
			want := slices.Contains(admissionKeyReaders, name)
			if has != want {
				t.Errorf("%s: has %s = %v, want %v", name, awsclient.EnvAdmissionKeysARN, has, want)
			}
			if has && ref(v) != keys {
				t.Errorf("%s: %s = %v, want a Ref to the admission keys secret %s", name, awsclient.EnvAdmissionKeysARN, v, keys)
			}
			// The value is fetched at run time, never put in the environment.
			if _, ok := vars[awsclient.EnvAdmissionKeys]; ok {
				t.Errorf("%s: has %s; the deployed functions read the secret by ARN", name, awsclient.EnvAdmissionKeys)
			}
		}
	})
}

func TestAdmission_KeysReadableOnlyByAdmissionAndReserve(t *testing.T) {
	eachStack(t, func(t *testing.T, b *built) {
		keys := admissionKeysID(t, b)
		wantRoles := map[string]string{} // role logical ID → function
		for _, name := range admissionKeyReaders {
			wantRoles[ref(function(t, b, name)["Role"])] = name
		}
		gotRoles := map[string]bool{}
		for _, s := range statements(b) {
			if s.effect != "Allow" || !slices.Contains(s.resourceIDs, keys) {
				continue
			}
			for _, a := range s.actions {
				if a == "secretsmanager:GetSecretValue" {
					gotRoles[s.role] = true
				}
			}
			if _, ok := wantRoles[s.role]; !ok {
				t.Errorf("role %s may %v on the admission keys; only %v's roles may read them", s.role, s.actions, admissionKeyReaders)
			}
		}
		var got, want []string
		for r := range gotRoles {
			got = append(got, r)
		}
		for r := range wantRoles {
			want = append(want, r)
		}
		sort.Strings(got)
		sort.Strings(want)
		if !slices.Equal(got, want) {
			t.Errorf("roles allowed GetSecretValue on the admission keys = %v, want %v (%v)", got, want, admissionKeyReaders)
		}
		for _, name := range admissionKeyReaders {
			if got := allowed(t, b, name, keys); !slices.Equal(got, []string{"secretsmanager:GetSecretValue"}) {
				t.Errorf("%s on the admission keys: got %v, want only secretsmanager:GetSecretValue", name, got)
			}
		}
		// Nothing reaches it through a resource policy either.
		for _, p := range ofType(b, "AWS::SecretsManager::ResourcePolicy") {
			if slices.Contains(refsIn(props(p)["SecretId"]), keys) {
				t.Errorf("the admission keys have a resource policy %v, want none", props(p)["ResourcePolicy"])
			}
		}
	})
}

func TestAdmission_OnTheDashboardAndAlarmed(t *testing.T) {
	eachStack(t, func(t *testing.T, b *built) {
		fn := functions(t, b)[apispec.FunctionAdmission]
		for id, d := range ofType(b, "AWS::CloudWatch::Dashboard") {
			if !slices.Contains(refsIn(props(d)["DashboardBody"]), fn) {
				t.Errorf("dashboard %s does not show the admission function", id)
			}
		}
		mustFind(t, b, "AWS::CloudWatch::Alarm", map[string]any{
			"Namespace": "AWS/Lambda", "MetricName": "Errors", "Threshold": 0,
			"Dimensions":   []any{map[string]any{"Name": "FunctionName", "Value": map[string]any{"Ref": fn}}},
			"AlarmActions": assertions.Match_AnyValue(),
		})
	})
}

// TestAdmission_AccountAgeClaim: the claim a sale's minAccountAgeDays reads
// exists deployed. The user pool has the custom attribute; the
// post-confirmation trigger (account-created) writes it and may do nothing
// else; the app client reads it but cannot write it, so no buyer sets their
// own age.
func TestAdmission_AccountAgeClaim(t *testing.T) {
	eachStack(t, func(t *testing.T, b *built) {
		trigger := functions(t, b)[apispec.FunctionAccountCreated]
		pools := ofType(b, "AWS::Cognito::UserPool")
		if len(pools) != 1 {
			t.Fatalf("%d user pools, want 1", len(pools))
		}
		for _, p := range pools {
			pp := props(p)
			found := false
			for _, a := range pp["Schema"].([]any) {
				m := a.(map[string]any)
				if m["Name"] == "created_at" {
					found = true
					if m["AttributeDataType"] != "String" || m["Mutable"] != true {
						t.Errorf("created_at attribute %v, want a mutable String (the trigger writes it after sign-up)", m)
					}
				}
			}
			if !found {
				t.Errorf("user pool schema %v has no created_at attribute", pp["Schema"])
			}
			lc, _ := pp["LambdaConfig"].(map[string]any)
			if !slices.Contains(refsIn(lc["PostConfirmation"]), trigger) {
				t.Errorf("PostConfirmation trigger %v, want the %s function", lc["PostConfirmation"], apispec.FunctionAccountCreated)
			}
		}
		for id, c := range ofType(b, "AWS::Cognito::UserPoolClient") {
			read, write := strs(props(c)["ReadAttributes"]), strs(props(c)["WriteAttributes"])
			if !slices.Contains(read, "custom:created_at") {
				t.Errorf("client %s reads %v, want custom:created_at (it becomes the ID token's claim)", id, read)
			}
			if len(write) == 0 || slices.Contains(write, "custom:created_at") {
				t.Errorf("client %s writes %v, want an explicit list without custom:created_at", id, write)
			}
		}
		role := ref(function(t, b, apispec.FunctionAccountCreated)["Role"])
		for _, s := range statements(b) {
			if s.role != role || s.effect != "Allow" {
				continue
			}
			for _, a := range s.actions {
				if strings.HasPrefix(a, "logs:") || a == "xray:PutTraceSegments" || a == "xray:PutTelemetryRecords" {
					continue // every function's own log group and tracing
				}
				if a != "cognito-idp:AdminUpdateUserAttributes" {
					t.Errorf("the trigger may %s, want only cognito-idp:AdminUpdateUserAttributes", a)
				}
			}
		}
		mustFind(t, b, "AWS::Lambda::Permission", map[string]any{
			"Principal": "cognito-idp.amazonaws.com", "Action": "lambda:InvokeFunction",
			"FunctionName": map[string]any{"Fn::GetAtt": []any{trigger, "Arn"}},
		})
	})
}
