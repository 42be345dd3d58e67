package apispec

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestRouteKeys checks that the Route* constants and Routes name the same
// routes, each once. The constants are read from this package's source with
// go/parser, because Go cannot list a package's constants at run time and a
// hand-kept list here would be one more copy to drift.
func TestRouteKeys(t *testing.T) {
	consts := routeKeyConsts(t)
	if len(consts) == 0 {
		t.Fatal("found no RouteKey constants; has the declaration changed shape?")
	}
	seen := map[RouteKey]bool{}
	for _, r := range Routes {
		k := r.Key()
		if seen[k] {
			t.Errorf("route %s is in Routes twice", k)
		}
		seen[k] = true
		if _, ok := consts[k]; !ok {
			t.Errorf("route %s has no RouteKey constant", k)
		}
	}
	for k, name := range consts {
		if !seen[k] {
			t.Errorf("%s = %q is not a route in Routes", name, k)
		}
		if r, ok := Lookup(k); !ok || r.Key() != k {
			t.Errorf("Lookup(%s) = %v, %v; want the route", name, r, ok)
		}
	}
	if _, ok := Lookup("GET /nowhere"); ok {
		t.Error("Lookup found a route that is not in Routes")
	}
}

// routeKeyConsts returns the value and name of every constant declared with
// type RouteKey in the package's non-test files.
func routeKeyConsts(tb testing.TB) map[RouteKey]string {
	tb.Helper()
	fset := token.NewFileSet()
	out := map[RouteKey]string{}
	entries, err := os.ReadDir(".")
	if err != nil {
		tb.Fatal(err)
	}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			tb.Fatal(err)
		}
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "RouteKey" {
					continue
				}
				for i, n := range vs.Names {
					lit, ok := vs.Values[i].(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						tb.Fatalf("%s: %s is not a string literal", fset.Position(n.Pos()), n.Name)
					}
					v, err := strconv.Unquote(lit.Value)
					if err != nil {
						tb.Fatal(err)
					}
					out[RouteKey(v)] = n.Name
				}
			}
		}
	}
	return out
}

// TestFunctionNames checks FunctionNames against the folders under
// functions/ (one main per function, which make build turns into a
// bootstrap) and that every route names one of them.
func TestFunctionNames(t *testing.T) {
	entries, err := os.ReadDir("../../functions")
	if err != nil {
		t.Fatal(err)
	}
	var folders []string
	for _, e := range entries {
		if e.IsDir() {
			folders = append(folders, e.Name())
		}
	}
	names := FunctionNames()
	if got, want := slices.Sorted(slices.Values(names)), folders; !slices.Equal(got, want) {
		t.Errorf("FunctionNames() = %v, want the folders under functions/: %v", got, want)
	}
	for _, r := range Routes {
		if !slices.Contains(names, r.Function) {
			t.Errorf("route %s: function %q is not in FunctionNames()", r.Key(), r.Function)
		}
	}
	names[0] = "changed"
	if FunctionNames()[0] == "changed" {
		t.Error("FunctionNames() shares its slice with the caller")
	}
}

// TestBodyTooLargeMessage keeps the 413 message true to the limit.
func TestBodyTooLargeMessage(t *testing.T) {
	if want := fmt.Sprintf("request body exceeds %d KB", MaxBodyBytes/1024); BodyTooLargeMessage != want || MaxBodyBytes%1024 != 0 {
		t.Errorf("BodyTooLargeMessage = %q with MaxBodyBytes %d, want %q", BodyTooLargeMessage, MaxBodyBytes, want)
	}
}
