package catalog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"

	"flashsale/shared/flashsale"
	"flashsale/shared/handler"
)

// Diff names the fields in which two sales' definitions differ, as
// "priceCents: 2499 in the catalog, 1999 stored", in the order of the
// POST /admin/sales body (admission's fields as admission.groups and so
// on). Both are compared in their canonical form (handler.SaleDefinition),
// so a catalog row that gave expectedPeakRps or left admission out is
// compared by the shards and admission it defines.
func Diff(catalog, stored flashsale.Sale) []string {
	return diffObjects("", fields(handler.SaleDefinition(catalog)), fields(handler.SaleDefinition(stored)))
}

// field is one member of a JSON object, in order.
type field struct {
	name  string
	value json.RawMessage
}

func fields(v any) []field {
	b, _ := json.Marshal(v)
	return fieldsOf(b)
}

// fieldsOf lists the members of the JSON object b in their order.
func fieldsOf(b []byte) []field {
	dec := json.NewDecoder(bytes.NewReader(b))
	var out []field
	if _, err := dec.Token(); err != nil { // {
		return nil
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return out
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return out
		}
		out = append(out, field{name: tok.(string), value: raw})
	}
	return out
}

func diffObjects(prefix string, a, b []field) []string {
	var out []string
	names := make([]string, 0, len(a)+len(b))
	for _, f := range append(slices.Clone(a), b...) {
		if !slices.Contains(names, f.name) {
			names = append(names, f.name)
		}
	}
	get := func(fs []field, name string) json.RawMessage {
		for _, f := range fs {
			if f.name == name {
				return f.value
			}
		}
		return nil
	}
	for _, name := range names {
		va, vb := get(a, name), get(b, name)
		if bytes.Equal(va, vb) {
			continue
		}
		if len(va) > 0 && va[0] == '{' && len(vb) > 0 && vb[0] == '{' {
			out = append(out, diffObjects(prefix+name+".", fieldsOf(va), fieldsOf(vb))...)
			continue
		}
		out = append(out, fmt.Sprintf("%s%s: %s in the catalog, %s stored", prefix, name, show(va), show(vb)))
	}
	return out
}

func show(v json.RawMessage) string {
	if v == nil {
		return "none"
	}
	return string(v)
}
