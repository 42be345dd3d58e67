package templatetests

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"flashsale/infra"
	"flashsale/shared/apispec"
)

// find returns the resources of type typ whose properties are like props
// (assertions.Match_ObjectLike, which nests), by logical ID.
func find(tb testing.TB, b *built, typ string, props map[string]any) map[string]map[string]any {
	tb.Helper()
	found := b.tpl.FindResources(jsii.String(typ), map[string]any{"Properties": assertions.Match_ObjectLike(&props)})
	out := map[string]map[string]any{}
	for id, r := range *found {
		out[id] = *r
	}
	return out
}

// mustFind fails unless at least one resource of type typ is like props.
func mustFind(tb testing.TB, b *built, typ string, props map[string]any) map[string]map[string]any {
	tb.Helper()
	got := find(tb, b, typ, props)
	if len(got) == 0 {
		tb.Fatalf("no %s with properties like the pattern; %s", typ, closest(b, typ, props))
	}
	return got
}

// ofType returns every resource of type typ, by logical ID.
func ofType(b *built, typ string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for id, r := range b.res {
		m, _ := r.(map[string]any)
		if m["Type"] == typ {
			out[id] = m
		}
	}
	return out
}

// props is a resource's Properties.
func props(r map[string]any) map[string]any {
	p, _ := r["Properties"].(map[string]any)
	return p
}

// ref returns the logical ID behind {"Ref": id} or {"Fn::GetAtt": [id, …]},
// or "".
func ref(v any) string {
	m, ok := v.(map[string]any)
	if !ok {
		return ""
	}
	if id, ok := m["Ref"].(string); ok {
		return id
	}
	if ga, ok := m["Fn::GetAtt"].([]any); ok && len(ga) > 0 {
		id, _ := ga[0].(string)
		return id
	}
	return ""
}

// refsIn returns every logical ID referred to anywhere inside v (e.g. the
// parts of an Fn::Join).
func refsIn(v any) []string {
	var out []string
	switch x := v.(type) {
	case map[string]any:
		if id := ref(x); id != "" {
			return []string{id}
		}
		for _, e := range x {
			out = append(out, refsIn(e)...)
		}
	case []any:
		for _, e := range x {
			out = append(out, refsIn(e)...)
		}
	}
	return out
}

// functions maps each Lambda function's apispec name (its infra.FunctionTag)
// to its logical ID.
func functions(tb testing.TB, b *built) map[string]string {
	tb.Helper()
	out := map[string]string{}
	for id, r := range ofType(b, "AWS::Lambda::Function") {
		name := tag(props(r), infra.FunctionTag)
		if name == "" {
			tb.Fatalf("function %s has no %s tag", id, infra.FunctionTag)
		}
		out[name] = id
	}
	return out
}

// function returns the properties of the function with apispec name name.
func function(tb testing.TB, b *built, name string) map[string]any {
	tb.Helper()
	id, ok := functions(tb, b)[name]
	if !ok {
		tb.Fatalf("no function tagged %s=%s", infra.FunctionTag, name)
	}
	return props(b.res[id].(map[string]any))
}

// tag returns the value of tag key in a resource's Tags list.
func tag(p map[string]any, key string) string {
	tags, _ := p["Tags"].([]any)
	for _, t := range tags {
		m, _ := t.(map[string]any)
		if m["Key"] == key {
			s, _ := m["Value"].(string)
			return s
		}
	}
	return ""
}

// strs turns a string or a list of strings (IAM's Action and Resource) into a
// list; other values come back JSON-encoded so they can be compared.
func strs(v any) []string {
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			out = append(out, strs(e)...)
		}
		return out
	}
	b, _ := json.Marshal(v)
	return []string{string(b)}
}

// num reads a JSON number.
func num(tb testing.TB, v any, what string) float64 {
	tb.Helper()
	f, ok := v.(float64)
	if !ok {
		tb.Fatalf("%s: got %v (%T), want a number", what, v, v)
	}
	return f
}

// statement is one IAM policy statement with the role it is attached to.
type statement struct {
	role      string // logical ID of the role
	effect    string
	actions   []string
	resources []string
	// resourceIDs are the logical IDs the resources refer to.
	resourceIDs []string
	// condition is the Condition block, nil if none.
	condition any
}

// statements returns every identity-policy statement in the template:
// AWS::IAM::Policy documents and roles' inline policies.
func statements(b *built) []statement {
	var out []statement
	add := func(roles []string, doc any) {
		d, _ := doc.(map[string]any)
		list, _ := d["Statement"].([]any)
		for _, s := range list {
			m, _ := s.(map[string]any)
			st := statement{effect: fmt.Sprint(m["Effect"]), actions: strs(m["Action"]), condition: m["Condition"]}
			rs, _ := m["Resource"].([]any)
			if rs == nil {
				rs = []any{m["Resource"]}
			}
			for _, r := range rs {
				st.resources = append(st.resources, strs(r)...)
				if id := ref(r); id != "" {
					st.resourceIDs = append(st.resourceIDs, id)
				}
			}
			for _, role := range roles {
				st.role = role
				out = append(out, st)
			}
		}
	}
	for _, r := range ofType(b, "AWS::IAM::Policy") {
		var roles []string
		for _, role := range props(r)["Roles"].([]any) {
			roles = append(roles, ref(role))
		}
		add(roles, props(r)["PolicyDocument"])
	}
	for id, r := range ofType(b, "AWS::IAM::Role") {
		pols, _ := props(r)["Policies"].([]any)
		for _, p := range pols {
			add([]string{id}, p.(map[string]any)["PolicyDocument"])
		}
	}
	return out
}

// allowed returns the actions a function's role may take on the resource
// with logical ID target.
func allowed(tb testing.TB, b *built, fn, target string) []string {
	tb.Helper()
	role := ref(function(tb, b, fn)["Role"])
	set := map[string]bool{}
	for _, s := range statements(b) {
		if s.role != role || s.effect != "Allow" {
			continue
		}
		for _, id := range s.resourceIDs {
			if id == target {
				for _, a := range s.actions {
					set[a] = true
				}
			}
		}
	}
	var out []string
	for a := range set {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

// route is one API Gateway method, resolved to its path and function.
type route struct {
	props    map[string]any
	function string // apispec name
}

// routes resolves every AWS::ApiGateway::Method to its route key by walking
// its resources up to the API root, and its Lambda integration to the
// function's apispec name (through an alias if there is one).
func routes(tb testing.TB, b *built) map[apispec.RouteKey]route {
	tb.Helper()
	path := func(resID string) string {
		var parts []string
		for resID != "" {
			r, ok := b.res[resID].(map[string]any)
			if !ok || r["Type"] != "AWS::ApiGateway::Resource" {
				break // the root resource is an attribute of the RestApi
			}
			parts = append([]string{fmt.Sprint(props(r)["PathPart"])}, parts...)
			resID = ref(props(r)["ParentId"])
		}
		return "/" + strings.Join(parts, "/")
	}
	fnNames := map[string]string{}
	for name, id := range functions(tb, b) {
		fnNames[id] = name
	}
	out := map[apispec.RouteKey]route{}
	for id, r := range ofType(b, "AWS::ApiGateway::Method") {
		p := props(r)
		method := fmt.Sprint(p["HttpMethod"])
		if method == "OPTIONS" {
			continue
		}
		key := apispec.KeyOf(method, path(ref(p["ResourceId"])))
		var target string
		integ, _ := p["Integration"].(map[string]any)
		uri, _ := integ["Uri"].(map[string]any)
		join, _ := uri["Fn::Join"].([]any)
		if len(join) == 2 {
			for _, part := range join[1].([]any) {
				if t := ref(part); t != "" && b.res[t] != nil {
					target = t
				}
			}
		}
		if tr, _ := b.res[target].(map[string]any); tr["Type"] == "AWS::Lambda::Alias" {
			target = ref(props(tr)["FunctionName"])
		}
		name, ok := fnNames[target]
		if !ok {
			tb.Fatalf("method %s (%s): integration does not resolve to a function", key, id)
		}
		out[key] = route{props: p, function: name}
	}
	return out
}

// like matches an object that has at least these keys; literal objects nested
// in Match_ArrayWith would otherwise have to match exactly.
func like(m map[string]any) assertions.Matcher { return assertions.Match_ObjectLike(&m) }

// closest asks the assertions library why nothing matched: HasResourceProperties
// panics with the closest candidate and the mismatching keys.
func closest(b *built, typ string, props map[string]any) (msg string) {
	defer func() {
		if r := recover(); r != nil {
			msg = fmt.Sprint(r)
		}
	}()
	b.tpl.HasResourceProperties(jsii.String(typ), assertions.Match_ObjectLike(&props))
	return "(no mismatch reported)"
}
