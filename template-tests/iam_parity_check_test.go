package templatetests

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"testing"

	"flashsale/shared/apispec"
	"flashsale/shared/awsclient"
	"flashsale/shared/schema"
)

// The checker behind TestIAMParity, on a fixed set of calls
// (testdata/iam_calls.jsonl, as the recorder writes them) against the
// synthesized dev stack: these tests run in every go test, where
// TestIAMParity needs the calls make test records.

// fixedCalls reads testdata/iam_calls.jsonl, plus extra.
func fixedCalls(tb testing.TB, extra ...awsclient.Call) []awsclient.Call {
	tb.Helper()
	return append(recordedCalls(tb, filepath.Join("testdata", "iam_calls.jsonl")), extra...)
}

// devStack is the synthesized dev stack.
func devStack(tb testing.TB) *built {
	tb.Helper()
	for _, b := range stacks {
		if b.stage == "dev" {
			return b
		}
	}
	tb.Fatal("no dev stack")
	return nil
}

// ofKind returns the problems of kind k.
func ofKind(ps []parityProblem, k problemKind) []parityProblem {
	var out []parityProblem
	for _, p := range ps {
		if p.kind == k {
			out = append(out, p)
		}
	}
	return out
}

// hasProblem reports whether ps holds a problem of kind k for fn's action
// on the resource with logical ID resource.
func hasProblem(ps []parityProblem, k problemKind, fn, action, resource string) bool {
	return slices.ContainsFunc(ps, func(p parityProblem) bool {
		return p.kind == k && p.function == fn && p.action == action && p.resource == resource
	})
}

// withoutGrant returns a copy of b whose template no longer lets fn's role
// take action on the resource with logical ID target: the action is
// dropped from every statement of the role's policies that names target.
// b itself is untouched. It fails if no statement granted it.
func withoutGrant(tb testing.TB, b *built, fn, action, target string) *built {
	tb.Helper()
	raw, err := json.Marshal(b.res)
	if err != nil {
		tb.Fatal(err)
	}
	var res map[string]any
	if err := json.Unmarshal(raw, &res); err != nil {
		tb.Fatal(err)
	}
	c := *b
	c.res = res
	role := ref(function(tb, &c, fn)["Role"])
	var docs []any
	for _, r := range ofType(&c, "AWS::IAM::Policy") {
		roles, _ := props(r)["Roles"].([]any)
		if slices.ContainsFunc(roles, func(v any) bool { return ref(v) == role }) {
			docs = append(docs, props(r)["PolicyDocument"])
		}
	}
	if r, ok := res[role].(map[string]any); ok {
		pols, _ := props(r)["Policies"].([]any)
		for _, p := range pols {
			docs = append(docs, p.(map[string]any)["PolicyDocument"])
		}
	}
	dropped := 0
	for _, d := range docs {
		list, _ := d.(map[string]any)["Statement"].([]any)
		for _, s := range list {
			st := s.(map[string]any)
			rs, ok := st["Resource"].([]any)
			if !ok {
				rs = []any{st["Resource"]}
			}
			if st["Effect"] != "Allow" || !slices.ContainsFunc(rs, func(r any) bool { return ref(r) == target }) {
				continue
			}
			actions := strs(st["Action"])
			if !slices.Contains(actions, action) {
				continue
			}
			var keep []any
			for _, a := range actions {
				if a != action {
					keep = append(keep, a)
				}
			}
			st["Action"] = keep
			dropped++
		}
	}
	if dropped == 0 {
		tb.Fatalf("%s's role grants no %s on %s to remove", fn, action, target)
	}
	return &c
}

// TestCheckIAMParity_AllowedCallsPass: calls each role allows yield no
// "not allowed" and no bad call, and the grants they use are not reported
// unused. Grants the fixed set does not exercise are (it is not the whole
// run), so only those used are checked.
func TestCheckIAMParity_AllowedCallsPass(t *testing.T) {
	b := devStack(t)
	calls := fixedCalls(t)
	ps := checkIAMParity(t, b, calls)
	for _, p := range ofKind(ps, problemBadCall) {
		t.Errorf("got %v, want no bad call", p)
	}
	for _, p := range ofKind(ps, problemNotAllowed) {
		t.Errorf("got %v, want every fixed call allowed", p)
	}
	resolve := localResources(t, b)
	for _, c := range calls {
		id, _ := resolve(c.Resource)
		if hasProblem(ps, problemUnused, c.Function, c.Action, id) {
			t.Errorf("%s's %s on %s reported unused, though a call used it", c.Function, c.Action, id)
		}
	}
}

// TestCheckIAMParity_UnusedGrant: a grant no call uses, outside the
// allowlist, is reported: the fixed set makes no admin call, and admin's
// UpdateItem on the Sales table is no allowlisted grant.
func TestCheckIAMParity_UnusedGrant(t *testing.T) {
	b := devStack(t)
	sales := tableID(t, b, schema.Sales)
	ps := checkIAMParity(t, b, fixedCalls(t))
	if !hasProblem(ps, problemUnused, apispec.FunctionAdmin, "dynamodb:UpdateItem", sales) {
		t.Errorf("got %v, want admin's dynamodb:UpdateItem on %s unused", ofKind(ps, problemUnused), sales)
	}
}

// TestCheckIAMParity_CallTheRoleDoesNotAllow: a call outside the role's
// grants is "not allowed", by name, whether the action or the table is the
// one not granted.
func TestCheckIAMParity_CallTheRoleDoesNotAllow(t *testing.T) {
	b := devStack(t)
	orders, sales := tableID(t, b, schema.Orders), tableID(t, b, schema.Sales)
	tests := []struct {
		name string
		call awsclient.Call
		want string // the logical ID named
	}{
		{"action not granted", awsclient.Call{
			Function: apispec.FunctionOrderWriter, Action: "dynamodb:DeleteItem",
			Resource: "t1a2b3c4d-Orders", Operation: "DynamoDB.DeleteItem",
		}, orders},
		{"table not granted", awsclient.Call{
			Function: apispec.FunctionOrderWriter, Action: "dynamodb:UpdateItem",
			Resource: "t1a2b3c4d-Sales", Operation: "DynamoDB.UpdateItem",
		}, sales},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ps := checkIAMParity(t, b, fixedCalls(t, tc.call))
			got := ofKind(ps, problemNotAllowed)
			want := parityProblem{kind: problemNotAllowed, function: tc.call.Function, action: tc.call.Action, resource: tc.want, operation: tc.call.Operation}
			if !slices.Equal(got, []parityProblem{want}) {
				t.Errorf("got %v, want [%v]", got, want)
			}
		})
	}
}

// TestCheckIAMParity_RemovedGrant: drop the order writer's UpdateItem on the
// Orders table from the template, and the call that needs it is "not
// allowed". The same call passes on the template as synthesized.
func TestCheckIAMParity_RemovedGrant(t *testing.T) {
	b := devStack(t)
	orders := tableID(t, b, schema.Orders)
	const fn, action = apispec.FunctionOrderWriter, "dynamodb:UpdateItem"
	if !slices.Contains(allowed(t, b, fn, orders), action) {
		t.Fatalf("the synthesized %s role has no %s on %s to remove", fn, action, orders)
	}
	cut := withoutGrant(t, b, fn, action, orders)
	if got := allowed(t, cut, fn, orders); slices.Contains(got, action) {
		t.Fatalf("after removing it, %s still allows %v on %s", fn, got, orders)
	}
	ps := checkIAMParity(t, cut, fixedCalls(t))
	want := parityProblem{kind: problemNotAllowed, function: fn, action: action, resource: orders, operation: "DynamoDB.UpdateItem"}
	if got := ofKind(ps, problemNotAllowed); !slices.Equal(got, []parityProblem{want}) {
		t.Errorf("got %v, want [%v]", got, want)
	}
	if ps := checkIAMParity(t, b, fixedCalls(t)); len(ofKind(ps, problemNotAllowed)) != 0 {
		t.Errorf("the synthesized stack changed: %v", ofKind(ps, problemNotAllowed))
	}
}
